// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// IA3 on a dense base against an independent double-precision evaluation of PEFT's formulas:
// output side y = l (.) (x * W^T + bias), input side y = (x (.) l) * W^T + bias, with the
// factor 1 + s (l - 1) at a multiplier s.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "approx.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/int8_linear.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/variants/ia3.hpp"
#include "random.hpp"
#include "stored_weights.hpp"

using lorakit::DenseLinear;
using lorakit::IA3;
using lorakit::IA3Input;
using lorakit::Index;
using lorakit::LoRALinear;
using lorakit::RowMatrix;
using lorakit::Selection;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

static_assert(LoRALinear<DenseLinear<float>, IA3>::kMergeable);
static_assert(LoRALinear<DenseLinear<float>, IA3Input>::kMergeable);
static_assert(!LoRALinear<DenseLinear<const float>, IA3>::kMergeable);
static_assert(LoRALinear<DenseLinear<float>, IA3Input>::kScalesInput);
static_assert(!LoRALinear<DenseLinear<float>, IA3>::kScalesInput);
static_assert(!LoRALinear<DenseLinear<float>, IA3>::kHasRank);

// An IA3 vector of n entries around 1 (PEFT initialises l to ones), some below 0.5 and above
// 2 so that 1 + s (l - 1) rounds, one exactly 0.
RowMatrix random_l(Index n, std::uint64_t seed) {
  RowMatrix l = random_matrix(1, n, seed);
  for (Index j = 0; j < n; ++j) l(0, j) = 1.0f + 1.5f * l(0, j);
  if (n > 2) l(0, 2) = 0.0f;
  return l;
}

std::vector<float> random_bias(Index out, std::uint64_t seed) {
  const RowMatrix b = random_matrix(1, out, seed);
  return std::vector<float>(b.data(), b.data() + out);
}

DoubleMatrix weight_out_in(const RowMatrix& w, WeightLayout layout) {
  const DoubleMatrix d = w.cast<double>();
  return layout == WeightLayout::out_in ? d : DoubleMatrix(d.transpose());
}

double factor(const RowMatrix& l, Index j, double s) {
  return 1.0 + s * (static_cast<double>(l(0, j)) - 1.0);
}

// y = x * W^T + bias in double, with magnitudes; `input` (1, in) scales x first.
Reference base_reference(const RowMatrix& x, const DoubleMatrix& w, const std::vector<float>& bias,
                         const RowMatrix* input = nullptr, double s_in = 1.0) {
  DoubleMatrix xd = x.cast<double>();
  if (input != nullptr) {
    for (Index k = 0; k < xd.cols(); ++k) xd.col(k) *= factor(*input, k, s_in);
  }
  Reference ref;
  ref.value = xd * w.transpose();
  ref.magnitude = xd.cwiseAbs() * w.cwiseAbs().transpose();
  for (Index o = 0; o < w.rows(); ++o) {
    const double b = bias.empty() ? 0.0 : static_cast<double>(bias[static_cast<std::size_t>(o)]);
    ref.value.col(o).array() += b;
    ref.magnitude.col(o).array() += std::abs(b);
  }
  // The sum over in, the bias, and the rounded scaled input (two roundings of the factor).
  ref.terms = x.cols() + 4;
  return ref;
}

// The output side: every output column o scaled by its factor (one more rounding each).
void scale_outputs(Reference& ref, const RowMatrix& l, double s) {
  for (Index o = 0; o < ref.value.cols(); ++o) {
    const double f = factor(l, o, s);
    ref.value.col(o) *= f;
    ref.magnitude.col(o) *= std::abs(f) + 4.0 * std::abs(s) * 0x1p-24;
  }
  ref.terms += 3;
}

template <class Kernel>
void check_output_side(WeightLayout layout, bool with_bias, const char* kernel) {
  const Index in = 37;
  const Index out = 23;
  const RowMatrix w =
      layout == WeightLayout::out_in ? random_matrix(out, in, 11) : random_matrix(in, out, 11);
  const std::vector<float> bias = with_bias ? random_bias(out, 12) : std::vector<float>{};
  const DenseLinear<const float> base(lorakit::make_view(w), layout, bias);
  LoRALinear<DenseLinear<const float>, IA3, Kernel> layer(base, {.module = "blk.0.attn_k"});
  const auto l = std::make_shared<const RowMatrix>(random_l(out, 13));
  for (float s : {1.0f, 0.6f, -1.25f}) {
    layer.attach("ia3", IA3::bind({lorakit::make_view(*l)}), {}, s, l);
    for (Index n : {Index{1}, Index{7}, Index{33}}) {
      CAPTURE(kernel, layout == WeightLayout::out_in, with_bias, s, n);
      const RowMatrix x = random_matrix(n, in, 30 + static_cast<std::uint64_t>(n));
      RowMatrix y(n, out);
      lorakit::Workspace ws(layer.workspace_floats(n));
      layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
      Reference ref = base_reference(x, weight_out_in(w, layout), bias);
      scale_outputs(ref, *l, s);
      check_close(ref, lorakit::make_view(y), "IA3 output side");
      if (s == 1.0f) {
        // At scale 1 the factor is l itself, exactly: y is the base output times l.
        RowMatrix y_base(n, out);
        base.forward(lorakit::make_view(x), lorakit::make_view(y_base));
        for (Index i = 0; i < n; ++i) {
          for (Index o = 0; o < out; ++o) y_base(i, o) *= (*l)(0, o);
        }
        check_identical(lorakit::make_view(y_base), lorakit::make_view(y), "IA3 at scale 1");
      }
    }
  }
}

template <class Kernel>
void check_input_side(WeightLayout layout, bool with_bias, const char* kernel) {
  const Index in = 41;
  const Index out = 19;
  const RowMatrix w =
      layout == WeightLayout::out_in ? random_matrix(out, in, 21) : random_matrix(in, out, 21);
  const std::vector<float> bias = with_bias ? random_bias(out, 22) : std::vector<float>{};
  const DenseLinear<const float> base(lorakit::make_view(w), layout, bias);
  LoRALinear<DenseLinear<const float>, IA3Input, Kernel> layer(base, {.module = "blk.0.ffn_down"});
  const auto l = std::make_shared<const RowMatrix>(random_l(in, 23));
  for (float s : {1.0f, 0.3f}) {
    layer.attach("ia3", IA3Input::bind({lorakit::make_view(*l)}), {}, s, l);
    for (Index n : {Index{1}, Index{6}, Index{29}}) {
      CAPTURE(kernel, layout == WeightLayout::out_in, with_bias, s, n);
      const RowMatrix x = random_matrix(n, in, 40 + static_cast<std::uint64_t>(n));
      RowMatrix y(n, out);
      lorakit::Workspace ws(layer.workspace_floats(n));
      layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
      const Reference ref = base_reference(x, weight_out_in(w, layout), bias, l.get(), s);
      check_close(ref, lorakit::make_view(y), "IA3 input side");

      // A workspace of two rows (blocks) and none at all (the layer's one-row buffer): the
      // same bits, since the dense base computes each row alone.
      for (Index floats : {2 * in, Index{0}}) {
        CAPTURE(floats);
        RowMatrix y_other(n, out);
        lorakit::Workspace small(floats);
        layer.forward(lorakit::make_view(x), lorakit::make_view(y_other), small);
        check_identical(lorakit::make_view(y), lorakit::make_view(y_other), "workspace size");
      }
    }
  }
}

}  // namespace

TEST_CASE("IA3: the output side equals l (.) (x W^T + bias) in double, both layouts",
          "[variants][ia3]") {
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    for (bool with_bias : {false, true}) {
      check_output_side<lorakit::kernels::ScalarKernel>(layout, with_bias, "scalar");
      check_output_side<lorakit::DefaultKernel>(layout, with_bias, "default");
    }
  }
}

TEST_CASE("IA3: the input side equals (x (.) l) W^T + bias in double, any workspace",
          "[variants][ia3]") {
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    for (bool with_bias : {false, true}) {
      check_input_side<lorakit::kernels::ScalarKernel>(layout, with_bias, "scalar");
      check_input_side<lorakit::DefaultKernel>(layout, with_bias, "default");
    }
  }
}

TEST_CASE("IA3: l = 1, scale 0 and the switch give the base bit for bit", "[variants][ia3]") {
  const Index in = 17;
  const Index out = 13;
  const RowMatrix w = random_matrix(out, in, 31);
  const std::vector<float> bias = random_bias(out, 32);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in, bias);
  const RowMatrix x = random_matrix(5, in, 33);
  RowMatrix y_base(5, out);
  base.forward(lorakit::make_view(x), lorakit::make_view(y_base));

  const auto ones_out = std::make_shared<const RowMatrix>(RowMatrix::Ones(1, out));
  const auto ones_in = std::make_shared<const RowMatrix>(RowMatrix::Ones(1, in));
  const auto l_out = std::make_shared<const RowMatrix>(random_l(out, 34));
  const auto l_in = std::make_shared<const RowMatrix>(random_l(in, 35));
  LoRALinear<DenseLinear<const float>, IA3> out_layer(base);
  LoRALinear<DenseLinear<const float>, IA3Input> in_layer(base);
  lorakit::Workspace ws(in_layer.workspace_floats(5));
  auto run = [&](const auto& layer, const char* what) {
    RowMatrix y(5, out);
    layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    check_identical(lorakit::make_view(y_base), lorakit::make_view(y), what);
  };

  out_layer.attach("ones", IA3::bind({lorakit::make_view(*ones_out)}), {}, 0.7f, ones_out);
  in_layer.attach("ones", IA3Input::bind({lorakit::make_view(*ones_in)}), {}, 0.7f, ones_in);
  run(out_layer, "output side, l = 1");
  run(in_layer, "input side, l = 1");

  out_layer.attach("ones", IA3::bind({lorakit::make_view(*l_out)}), {}, 0.0f, l_out);
  in_layer.attach("ones", IA3Input::bind({lorakit::make_view(*l_in)}), {}, 0.0f, l_in);
  run(out_layer, "output side, scale 0");
  run(in_layer, "input side, scale 0");

  out_layer.set_scale("ones", 1.0f);
  in_layer.set_scale("ones", 1.0f);
  out_layer.set_enabled(false);
  in_layer.set_enabled(false);
  run(out_layer, "output side, switched off");
  run(in_layer, "input side, switched off");
}

TEST_CASE("IA3: two adapters multiply, and explicit and per-row selections pick theirs",
          "[variants][ia3]") {
  const Index in = 23;
  const Index out = 11;
  const RowMatrix w = random_matrix(out, in, 41);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in);
  const auto l1 = std::make_shared<const RowMatrix>(random_l(in, 42));
  const auto l2 = std::make_shared<const RowMatrix>(random_l(in, 43));
  LoRALinear<DenseLinear<const float>, IA3Input> layer(base);
  layer.attach("one", IA3Input::bind({lorakit::make_view(*l1)}), {},
               {.scale = 1.0f, .owner = l1, .id = 1});
  layer.attach("two", IA3Input::bind({lorakit::make_view(*l2)}), {},
               {.scale = 0.5f, .owner = l2, .id = 2});
  const Index n = 6;
  const RowMatrix x = random_matrix(n, in, 44);
  lorakit::Workspace ws(layer.workspace_floats(n));

  // Both: x scaled by l1, then by 1 + 0.5 (l2 - 1).
  RowMatrix y(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  RowMatrix x12 = x;
  for (Index k = 0; k < in; ++k) {
    x12.col(k) *= static_cast<float>(factor(*l1, k, 1.0) * factor(*l2, k, 0.5));
  }
  Reference ref = base_reference(x12, w.cast<double>(), {});
  ref.terms += 4;
  check_close(ref, lorakit::make_view(y), "two input-side adapters");

  // An explicit selection of "two" at scale 2 only.
  const Selection::Entry only_two[] = {{.id = 2, .scale = 2.0f}};
  const Selection two = Selection::of(only_two);
  RowMatrix y_two(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_two), ws, two);
  check_close(base_reference(x, w.cast<double>(), {}, l2.get(), 2.0), lorakit::make_view(y_two),
              "explicit selection");

  // Per row: rows alternate between the base, "one" alone and the explicit selection; each row
  // equals the same row run alone with its selection.
  const Selection one = [] {
    const Selection::Entry e[] = {{.id = 1, .scale = 1.0f}};
    return Selection::of(e);
  }();
  const std::vector<Selection> rows = {Selection::base(), one, one, two, Selection::base(), two};
  RowMatrix y_rows(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_rows), ws,
                std::span<const Selection>(rows));
  for (Index i = 0; i < n; ++i) {
    CAPTURE(i);
    const RowMatrix xi = x.row(i);
    RowMatrix yi(1, out);
    layer.forward(lorakit::make_view(xi), lorakit::make_view(yi), ws,
                  rows[static_cast<std::size_t>(i)]);
    check_identical(lorakit::make_cview(yi), lorakit::row_range(lorakit::make_cview(y_rows), i, 1),
                    "per-row selection");
  }

  // Per-row ids: the adapter with that id at its own scale, or the base.
  const std::vector<lorakit::AdapterId> ids = {lorakit::kNoAdapter, 1, 2, 2, 7, 1};
  RowMatrix y_ids(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_ids), ws,
                std::span<const lorakit::AdapterId>(ids));
  for (Index i = 0; i < n; ++i) {
    CAPTURE(i);
    const lorakit::AdapterId id = ids[static_cast<std::size_t>(i)];
    const RowMatrix xi = x.row(i);
    RowMatrix yi(1, out);
    const Selection::Entry e[] = {{.id = id, .scale = id == 2 ? 0.5f : 1.0f}};
    const Selection s = id == 1 || id == 2 ? Selection::of(e) : Selection::base();
    layer.forward(lorakit::make_view(xi), lorakit::make_view(yi), ws, s);
    check_identical(lorakit::make_cview(yi), lorakit::row_range(lorakit::make_cview(y_ids), i, 1),
                    "per-row ids");
  }
}

TEST_CASE("IA3: 16-bit vectors give the result of their widened values", "[variants][ia3]") {
  const Index in = 15;
  const Index out = 9;
  const RowMatrix w = random_matrix(out, in, 51);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in);
  RowMatrix l = random_l(out, 52);
  const StoredWeights<lorakit::BFloat16> l16(l, 0);
  for (Index o = 0; o < out; ++o) l(0, o) = l16.view()(0, o);
  LoRALinear<DenseLinear<const float>, IA3> layer(base);
  layer.attach("half", IA3::Weights{l16.view()}, {});
  const RowMatrix x = random_matrix(4, in, 53);
  RowMatrix y(4, out);
  lorakit::Workspace ws(layer.workspace_floats(4));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  Reference ref = base_reference(x, w.cast<double>(), {});
  scale_outputs(ref, l, 1.0);
  check_close(ref, lorakit::make_view(y), "IA3 on a bf16 vector");
}

TEST_CASE("IA3: merge scales W's rows or columns, unmerge restores W bit for bit",
          "[variants][ia3][merge]") {
  const Index in = 27;
  const Index out = 14;
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    CAPTURE(layout == WeightLayout::out_in);
    RowMatrix w =
        layout == WeightLayout::out_in ? random_matrix(out, in, 61) : random_matrix(in, out, 61);
    const RowMatrix w0 = w;
    const RowMatrix x = random_matrix(5, in, 62);
    const auto l_out = std::make_shared<const RowMatrix>(random_l(out, 63));
    const auto l_in = std::make_shared<const RowMatrix>(random_l(in, 64));
    const std::vector<float> bias = random_bias(out, 65);

    {
      // The output side, on a base without a bias.
      const DenseLinear<float> base(lorakit::make_view(w), layout);
      LoRALinear<DenseLinear<float>, IA3> layer(base);
      layer.attach("a", IA3::bind({lorakit::make_view(*l_out)}), {}, 0.8f, l_out);
      RowMatrix y_live(5, out);
      lorakit::Workspace ws(layer.workspace_floats(5));
      layer.forward(lorakit::make_view(x), lorakit::make_view(y_live), ws);
      layer.merge("a");
      RowMatrix y_merged(5, out);
      layer.forward(lorakit::make_view(x), lorakit::make_view(y_merged), ws);
      Reference ref = base_reference(x, weight_out_in(w0, layout), {});
      scale_outputs(ref, *l_out, 0.8);
      check_close(ref, lorakit::make_view(y_merged), "output side merged");
      layer.unmerge("a");
      check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "W after unmerge");
      RowMatrix y_back(5, out);
      layer.forward(lorakit::make_view(x), lorakit::make_view(y_back), ws);
      check_identical(lorakit::make_view(y_live), lorakit::make_view(y_back), "after unmerge");
    }
    {
      // The output side scales the bias, which lorakit cannot rewrite: refused, W unchanged.
      const DenseLinear<float> base(lorakit::make_view(w), layout, bias);
      LoRALinear<DenseLinear<float>, IA3> layer(base,
                                                {.module = "model.layers.3.self_attn.v_proj"});
      layer.attach("a", IA3::bind({lorakit::make_view(*l_out)}), {}, 1.0f, l_out);
      try {
        layer.merge("a");
        FAIL("merge accepted a base with a bias");
      } catch (const lorakit::Error& e) {
        CHECK(e.code() == lorakit::Errc::unsupported);
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("model.layers.3.self_attn.v_proj") != std::string::npos);
      }
      check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "W after refused merge");
      CHECK_FALSE(layer.attachments().front().merged);
    }
    {
      // The input side leaves the bias alone: merge is fine with one.
      const DenseLinear<float> base(lorakit::make_view(w), layout, bias);
      LoRALinear<DenseLinear<float>, IA3Input> layer(base);
      layer.attach("a", IA3Input::bind({lorakit::make_view(*l_in)}), {}, 1.0f, l_in);
      layer.merge("a");
      RowMatrix y_merged(5, out);
      lorakit::Workspace ws(layer.workspace_floats(5));
      layer.forward(lorakit::make_view(x), lorakit::make_view(y_merged), ws);
      Reference ref = base_reference(x, weight_out_in(w0, layout), bias, l_in.get(), 1.0);
      check_close(ref, lorakit::make_view(y_merged), "input side merged");
      layer.unmerge("a");
      check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "W after unmerge");
    }
  }
}

TEST_CASE("IA3: both sides on an Int8Linear base, which cannot merge", "[variants][ia3][int8]") {
  const Index in = 33;
  const Index out = 18;
  const RowMatrix w = random_matrix(out, in, 71);
  const lorakit::Int8Weights q = lorakit::Int8Linear::quantize(lorakit::make_cview(w));
  const RowMatrix bias_row = random_matrix(1, out, 72);
  const std::vector<float> bias(bias_row.data(), bias_row.data() + out);
  const lorakit::Int8Linear base(q, bias);
  static_assert(!LoRALinear<lorakit::Int8Linear, IA3>::kMergeable);
  static_assert(!LoRALinear<lorakit::Int8Linear, IA3Input>::kMergeable);
  const RowMatrix l_out = random_l(out, 73);
  const RowMatrix l_in = random_l(in, 74);
  const RowMatrix x = random_matrix(5, in, 75);

  // The int8 base's own output, scaled by l: exactly what the output side computes at scale 1.
  RowMatrix expected(5, out);
  base.forward(lorakit::make_cview(x), lorakit::make_view(expected));
  for (Index o = 0; o < out; ++o) expected.col(o) *= l_out(0, o);
  LoRALinear<lorakit::Int8Linear, IA3> out_layer(base);
  out_layer.attach("ia3", IA3::bind({lorakit::make_view(l_out)}), {});
  RowMatrix y(5, out);
  lorakit::Workspace ws(out_layer.workspace_floats(5));
  out_layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);
  check_identical(lorakit::make_cview(expected), lorakit::make_cview(y), "IA3 on Int8Linear");

  // The input side: the int8 base on x (.) l.
  RowMatrix xl = x;
  for (Index k = 0; k < in; ++k) xl.col(k) *= l_in(0, k);
  base.forward(lorakit::make_cview(xl), lorakit::make_view(expected));
  LoRALinear<lorakit::Int8Linear, IA3Input> in_layer(base);
  in_layer.attach("ia3", IA3Input::bind({lorakit::make_view(l_in)}), {});
  lorakit::Workspace ws_in(in_layer.workspace_floats(5));
  in_layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws_in);
  check_identical(lorakit::make_cview(expected), lorakit::make_cview(y), "IA3Input on Int8Linear");
}
