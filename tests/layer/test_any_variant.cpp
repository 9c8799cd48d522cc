// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A layer whose adapters each choose their variant at run time (AnyVariant = OneOf<LoRA, DoRA,
// IA3, IA3Input>): the bits of each variant's own layer, adapters of every variant composed in
// attachment order, per-call and per-row selections, merge, refusals, and hot swap between
// variants while other threads run forward.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "approx.hpp"
#include "concurrent_readers.hpp"
#include "lora_fixture.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/function_linear.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/variants/all.hpp"
#include "random.hpp"

using lorakit::AnyVariant;
using lorakit::DenseLinear;
using lorakit::DoRA;
using lorakit::IA3;
using lorakit::IA3Input;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::LoRALinear;
using lorakit::RowMatrix;
using lorakit::Selection;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

using AnyLayer = LoRALinear<DenseLinear<const float>, AnyVariant>;
static_assert(AnyLayer::kScalesInput);
static_assert(!AnyLayer::kMergeable);
static_assert(LoRALinear<DenseLinear<float>, AnyVariant>::kMergeable);
static_assert(LoRALinear<DenseLinear<float>, AnyVariant>::kMergeNeedsBackup);

constexpr Index kIn = 37;
constexpr Index kOut = 23;

// The tensors of one adapter of each variant, owned; the shared_ptr is the owner.
struct Tensors {
  RowMatrix a = random_matrix(kIn, 5, 101, 0.5f);
  RowMatrix b = random_matrix(5, kOut, 102, 0.5f);
  RowMatrix m = [] {
    RowMatrix v = random_matrix(1, kOut, 103);
    v.array() += 2.0f;
    return v;
  }();
  RowMatrix l_out = [] {
    RowMatrix v = random_matrix(1, kOut, 104);
    v.array() = 1.0f + 1.5f * v.array();
    return v;
  }();
  RowMatrix l_in = [] {
    RowMatrix v = random_matrix(1, kIn, 105);
    v.array() = 1.0f + 1.5f * v.array();
    return v;
  }();
  LoRA::Params lora_params{5, 10.0f};

  [[nodiscard]] LoRA::Weights lora() const {
    return {lorakit::make_view(a), lorakit::make_view(b)};
  }
  [[nodiscard]] DoRA::Weights dora() const {
    return DoRA::bind({lorakit::make_view(a), lorakit::make_view(b), lorakit::make_view(m)});
  }
  [[nodiscard]] IA3::Weights ia3() const { return IA3::bind({lorakit::make_view(l_out)}); }
  [[nodiscard]] IA3Input::Weights ia3_input() const {
    return IA3Input::bind({lorakit::make_view(l_in)});
  }
};

// Attaches the adapter of variant V from t under `name` to an AnyVariant layer.
template <class V, class Layer>
void attach_any(Layer& layer, const std::shared_ptr<const Tensors>& t, const std::string& name,
                float scale, lorakit::AdapterId id = lorakit::kNoAdapter) {
  typename V::Weights w;
  typename V::Params p{};
  if constexpr (std::is_same_v<V, LoRA>) {
    w = t->lora();
    p = t->lora_params;
  } else if constexpr (std::is_same_v<V, DoRA>) {
    w = t->dora();
    p = t->lora_params;
  } else if constexpr (std::is_same_v<V, IA3>) {
    w = t->ia3();
  } else {
    w = t->ia3_input();
  }
  layer.attach(name, AnyVariant::make<V>(w), AnyVariant::params<V>(p),
               {.scale = scale, .owner = t, .id = id});
}

// The same adapter on a layer of variant V alone.
template <class V>
RowMatrix single_variant_output(const DenseLinear<const float>& base,
                                const std::shared_ptr<const Tensors>& t, float scale,
                                const RowMatrix& x) {
  LoRALinear<DenseLinear<const float>, V> layer(base);
  if constexpr (std::is_same_v<V, LoRA>) {
    layer.attach("a", t->lora(), t->lora_params, scale, t);
  } else if constexpr (std::is_same_v<V, DoRA>) {
    layer.attach("a", t->dora(), t->lora_params, scale, t);
  } else if constexpr (std::is_same_v<V, IA3>) {
    layer.attach("a", t->ia3(), {}, scale, t);
  } else {
    layer.attach("a", t->ia3_input(), {}, scale, t);
  }
  RowMatrix y(x.rows(), kOut);
  lorakit::Workspace ws(layer.workspace_floats(x.rows()));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  return y;
}

template <class V>
void check_alone(const DenseLinear<const float>& base, const std::shared_ptr<const Tensors>& t,
                 const RowMatrix& x, const char* what) {
  AnyLayer layer(base);
  attach_any<V>(layer, t, "a", 0.75f);
  CHECK(AnyVariant::variant_name(layer.attachments().front().weights) == V::name);
  RowMatrix y(x.rows(), kOut);
  lorakit::Workspace ws(layer.workspace_floats(x.rows()));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  const RowMatrix expected = single_variant_output<V>(base, t, 0.75f, x);
  check_identical(lorakit::make_cview(expected), lorakit::make_cview(y), what);
}

}  // namespace

TEST_CASE("AnyVariant: each variant alone gives the bits of a layer of that variant",
          "[layer][any_variant]") {
  const RowMatrix w = random_matrix(kOut, kIn, 1);
  const RowMatrix bias_row = random_matrix(1, kOut, 2);
  const std::vector<float> bias(bias_row.data(), bias_row.data() + kOut);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in, bias);
  const auto t = std::make_shared<const Tensors>();
  for (Index n : {Index{1}, Index{6}, Index{19}}) {
    CAPTURE(n);
    const RowMatrix x = random_matrix(n, kIn, 3 + static_cast<std::uint64_t>(n));
    check_alone<LoRA>(base, t, x, "LoRA");
    check_alone<DoRA>(base, t, x, "DoRA");
    check_alone<IA3>(base, t, x, "IA3");
    check_alone<IA3Input>(base, t, x, "IA3Input");
  }
}

TEST_CASE("AnyVariant: adapters of every variant compose in attachment order",
          "[layer][any_variant]") {
  const RowMatrix w = random_matrix(kOut, kIn, 11);
  const RowMatrix bias_row = random_matrix(1, kOut, 12);
  const std::vector<float> bias(bias_row.data(), bias_row.data() + kOut);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in, bias);
  const auto t = std::make_shared<const Tensors>();
  AnyLayer layer(base);
  attach_any<LoRA>(layer, t, "lora", 0.5f, 1);
  attach_any<IA3Input>(layer, t, "ia3_in", 0.9f, 2);
  attach_any<DoRA>(layer, t, "dora", 0.25f, 3);
  attach_any<IA3>(layer, t, "ia3", 1.0f, 4);
  const Index n = 7;
  const RowMatrix x = random_matrix(n, kIn, 13);
  lorakit::Workspace ws(layer.workspace_floats(n));
  RowMatrix y(n, kOut);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);

  // The same steps by hand: the base on x scaled by the input-side factors (an IA3Input layer
  // does exactly that), then LoRA, DoRA and IA3 on the running output, each through its own
  // variant's code.
  LoRALinear<DenseLinear<const float>, IA3Input> input_side(base);
  input_side.attach("ia3_in", t->ia3_input(), {}, 0.9f, t);
  RowMatrix expected(n, kOut);
  input_side.forward(lorakit::make_view(x), lorakit::make_view(expected), ws);
  LoRA::apply(t->lora(), 0.5f * 10.0f / 5.0f, lorakit::make_view(x), lorakit::make_view(expected),
              ws, lorakit::DefaultKernel{});
  const auto dora = DoRA::prepare(t->dora(), 0.25f * 10.0f / 5.0f, base, "", "dora");
  DoRA::apply(dora.weights, 0.25f * 10.0f / 5.0f, lorakit::make_view(x),
              lorakit::make_view(expected), ws, lorakit::DefaultKernel{});
  IA3::apply(t->ia3(), 1.0f, lorakit::make_view(x), lorakit::make_view(expected), ws,
             lorakit::DefaultKernel{});
  check_identical(lorakit::make_cview(expected), lorakit::make_cview(y), "four variants");

  // An explicit selection of LoRA alone, and per-row selections, against rows run alone.
  const Selection::Entry lora_only[] = {{.id = 1, .scale = 0.5f}};
  const Selection::Entry in_and_out[] = {{.id = 2, .scale = 0.9f}, {.id = 4, .scale = 1.0f}};
  const Selection a = Selection::of(lora_only);
  const Selection b = Selection::of(in_and_out);
  RowMatrix y_lora(n, kOut);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_lora), ws, a);
  const RowMatrix lora_alone = single_variant_output<LoRA>(base, t, 0.5f, x);
  check_identical(lorakit::make_cview(lora_alone), lorakit::make_cview(y_lora), "LoRA selected");

  const std::vector<Selection> rows = {a, b, b, Selection::base(), Selection::current(), a, b};
  RowMatrix y_rows(n, kOut);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_rows), ws,
                std::span<const Selection>(rows));
  for (Index i = 0; i < n; ++i) {
    CAPTURE(i);
    const RowMatrix xi = x.row(i);
    RowMatrix yi(1, kOut);
    layer.forward(lorakit::make_view(xi), lorakit::make_view(yi), ws,
                  rows[static_cast<std::size_t>(i)]);
    check_identical(lorakit::make_cview(yi), lorakit::row_range(lorakit::make_cview(y_rows), i, 1),
                    "per-row selection");
  }

  // A short workspace: the same bits.
  RowMatrix y_short(n, kOut);
  lorakit::Workspace none;
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_short), none);
  check_identical(lorakit::make_cview(y), lorakit::make_cview(y_short), "short workspace");
}

TEST_CASE("AnyVariant: merge and unmerge per adapter, refusals name the layer",
          "[layer][any_variant][merge]") {
  RowMatrix w = random_matrix(kOut, kIn, 21);
  const RowMatrix w0 = w;
  const auto t = std::make_shared<const Tensors>();
  const DenseLinear<float> base(lorakit::make_view(w), WeightLayout::out_in);
  LoRALinear<DenseLinear<float>, AnyVariant> layer(base, {.module = "model.layers.1.mlp.up_proj"});
  // LoRA adds on the unscaled input and IA3Input scales W's input columns: merged IA3Input
  // first, they give the function computed unmerged (a delta merged before would be part of W,
  // whose columns the IA3Input merge then scales, as the base's input scaling does).
  attach_any<LoRA>(layer, t, "lora", 1.0f);
  attach_any<IA3Input>(layer, t, "ia3_in", 0.5f);
  const RowMatrix x = random_matrix(4, kIn, 22);
  lorakit::Workspace ws(layer.workspace_floats(4));
  RowMatrix y(4, kOut);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);

  layer.merge("ia3_in");
  layer.merge("lora");
  RowMatrix y_merged(4, kOut);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_merged), ws);
  // Merged: the same function up to the roundings of W's elements (a few per element, each
  // at most 2^-24 of terms bounded by |x| |W| summed over in = 37) and of the two paths.
  const double bound = 8.0 * static_cast<double>(kIn) * 0x1p-24 *
                       (x.cwiseAbs() * lorakit::RowMatrix(w0.cwiseAbs()).transpose()).maxCoeff() *
                       (1.0 + t->l_in.cwiseAbs().maxCoeff()) * 4.0;
  INFO("max |merged - unmerged| = " << (y_merged - y).cwiseAbs().maxCoeff() << ", bound " << bound);
  CHECK((y_merged - y).cwiseAbs().maxCoeff() <= bound);
  REQUIRE_THROWS_AS(layer.unmerge("ia3_in"), lorakit::Error);  // merged before lora
  layer.unmerge("lora");
  layer.unmerge("ia3_in");
  check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "W after unmerge");

  // DoRA on a base that cannot give its weights: refused at attach, naming the layer.
  auto callable = [&w0](lorakit::ConstMatrixView in, lorakit::MatrixView out) noexcept {
    out = in * lorakit::make_cview(w0).transpose();
  };
  LoRALinear<lorakit::FunctionLinear<decltype(callable)>, AnyVariant> opaque(
      lorakit::FunctionLinear(callable, kIn, kOut), {.module = "model.layers.2.mlp.up_proj"});
  attach_any<LoRA>(opaque, t, "lora", 1.0f);
  try {
    attach_any<DoRA>(opaque, t, "dora", 1.0f);
    FAIL("DoRA attached to a base without weights");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::incompatible_base);
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("model.layers.2.mlp.up_proj") != std::string::npos);
    CHECK(what.find("dora") != std::string::npos);
  }
  CHECK(opaque.attachments().size() == 1);

  // Weights and params of different variants: refused.
  try {
    opaque.attach("mixed", AnyVariant::make<LoRA>(t->lora()), AnyVariant::params<IA3>({}));
    FAIL("mismatched weights and params attached");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::bad_config);
  }
}

TEST_CASE("AnyVariant: forward on two threads while a writer swaps one adapter's variant",
          "[layer][any_variant][concurrency]") {
  const RowMatrix w = random_matrix(kOut, kIn, 31);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in);
  const auto t = std::make_shared<const Tensors>();
  const Index n = 3;
  const RowMatrix x = random_matrix(n, kIn, 32);

  std::vector<RowMatrix> valid;
  {
    RowMatrix y(n, kOut);
    base.forward(lorakit::make_view(x), lorakit::make_view(y));
    valid.push_back(y);
  }
  valid.push_back(single_variant_output<LoRA>(base, t, 1.0f, x));
  valid.push_back(single_variant_output<DoRA>(base, t, 1.0f, x));
  valid.push_back(single_variant_output<IA3>(base, t, 1.0f, x));
  valid.push_back(single_variant_output<IA3Input>(base, t, 1.0f, x));

  AnyLayer layer(base);
  const ReaderCounts seen = race_readers(
      valid, layer.workspace_floats(n),
      [&](lorakit::Workspace& ws, RowMatrix& y) {
        layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
      },
      [&] {
        for (int i = 0; i < 200; ++i) {
          attach_any<LoRA>(layer, t, "a", 1.0f);
          attach_any<DoRA>(layer, t, "a", 1.0f);
          attach_any<IA3Input>(layer, t, "a", 1.0f);
          attach_any<IA3>(layer, t, "a", 1.0f);
          layer.detach("a");
        }
      });
  INFO("forward calls: " << seen.calls
                         << ", outputs matching no single-variant result: " << seen.bad);
  CHECK(seen.bad == 0);
  CHECK(seen.calls > 0);
}
