// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRALinear against the dense reference; the toggle; user scales.
#include <catch2/catch.hpp>
#include <vector>

#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DenseLinear;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

using Layer = lorakit::LoRALinear<DenseLinear<const float>, LoRA>;

// Base weights and bias of one layer.
struct BaseFixture {
  RowMatrix w;     // [out, in]
  RowMatrix bias;  // [1, out]
  BaseFixture(Index in, Index out)
      : w(random_matrix(out, in, 100)), bias(random_matrix(1, out, 101)) {}
  [[nodiscard]] DenseLinear<const float> base() const {
    return DenseLinear<const float>(w.data(), w.cols(), w.rows(), WeightLayout::out_in,
                                    bias.data());
  }
  [[nodiscard]] std::span<const float> bias_span() const {
    return {bias.data(), static_cast<std::size_t>(bias.cols())};
  }
};

}  // namespace

TEST_CASE("LoRALinear: forward equals x*W^T + b + s*(x*A)*B on odd shapes and strided views",
          "[layer][lora_linear]") {
  const Index n = GENERATE(0, 1, 7, 64);
  const auto [in, out] = GENERATE(std::pair<Index, Index>{13, 37}, std::pair<Index, Index>{70, 19},
                                  std::pair<Index, Index>{33, 33});
  const Index r = GENERATE(1, 8, 64);
  CAPTURE(n, in, out, r);

  const BaseFixture bf(in, out);
  const auto lora = make_lora(in, out, r, 16.0f, 200);
  Layer layer(bf.base());
  const float user_scale = 0.5f;
  layer.attach("a", lora->weights(), lora->params, user_scale, lora);

  StridedBuffer x(n, in, 5, 1);  // rows padded, first element unaligned
  x.fill(random_matrix(n, in, 300));
  StridedBuffer y(n, out, 7, 3);
  lorakit::Workspace ws(layer.workspace_floats(n));
  layer.forward(x.cview(), y.view(), ws);

  const double s = static_cast<double>(user_scale) * 16.0 / static_cast<double>(r);
  const Reference ref =
      dense_reference(x.cview(), lorakit::make_view(bf.w), true, bf.bias_span(),
                      {RefAdapter{lorakit::make_view(lora->a), lorakit::make_view(lora->b), s}});
  check_close(ref, y.cview(), "LoRALinear::forward");
  CHECK(y.padding_untouched());
  CHECK(x.padding_untouched());
}

TEST_CASE("LoRALinear: two attached adapters add their deltas, each with its own scale",
          "[layer][lora_linear]") {
  const Index n = 9;
  const Index in = 21;
  const Index out = 18;
  const BaseFixture bf(in, out);
  const auto code = make_lora(in, out, 4, 8.0f, 1);
  const auto style = make_lora(in, out, 6, 3.0f, 2);
  Layer layer(bf.base());
  layer.attach("code", code->weights(), code->params, 0.8f, code);
  layer.attach("style", style->weights(), style->params, 0.5f, style);
  REQUIRE(layer.attachments().size() == 2);

  const RowMatrix x = random_matrix(n, in, 3);
  RowMatrix y(n, out);
  lorakit::Workspace ws(layer.workspace_floats(n));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  const Reference ref = dense_reference(
      lorakit::make_view(x), lorakit::make_view(bf.w), true, bf.bias_span(),
      {RefAdapter{lorakit::make_view(code->a), lorakit::make_view(code->b), 0.8 * 8.0 / 4.0},
       RefAdapter{lorakit::make_view(style->a), lorakit::make_view(style->b), 0.5 * 3.0 / 6.0}});
  check_close(ref, lorakit::make_view(y), "two adapters");
}

TEST_CASE("LoRALinear: toggled off, forward is the base output bit for bit",
          "[layer][lora_linear][toggle]") {
  const Index n = 7;
  const Index in = 19;
  const Index out = 23;
  const BaseFixture bf(in, out);
  const auto lora = make_lora(in, out, 8, 16.0f, 5);
  Layer layer(bf.base());
  layer.attach("a", lora->weights(), lora->params, 1.0f, lora);
  const RowMatrix x = random_matrix(n, in, 6);
  lorakit::Workspace ws(layer.workspace_floats(n));

  RowMatrix base_only(n, out);
  bf.base().forward(lorakit::make_view(x), lorakit::make_view(base_only));

  CHECK(layer.enabled());
  layer.set_enabled(false);
  CHECK_FALSE(layer.enabled());
  RowMatrix off(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(off), ws);
  check_identical(lorakit::make_view(base_only), lorakit::make_view(off), "toggle off vs base");

  // And the adapter really changes the output when on (the check above could not pass by luck).
  layer.set_enabled(true);
  RowMatrix on(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(on), ws);
  CHECK((on - base_only).cwiseAbs().maxCoeff() > 1e-3f);
}

TEST_CASE("LoRALinear: on, off, on gives the same bits as never toggling",
          "[layer][lora_linear][toggle]") {
  const Index n = 5;
  const Index in = 17;
  const Index out = 11;
  const BaseFixture bf(in, out);
  const auto lora = make_lora(in, out, 3, 6.0f, 9);
  Layer steady(bf.base());
  Layer toggled(bf.base());
  steady.attach("a", lora->weights(), lora->params, 1.0f, lora);
  toggled.attach("a", lora->weights(), lora->params, 1.0f, lora);
  const RowMatrix x = random_matrix(n, in, 10);
  lorakit::Workspace ws(steady.workspace_floats(n));

  RowMatrix expected(n, out);
  steady.forward(lorakit::make_view(x), lorakit::make_view(expected), ws);
  RowMatrix y(n, out);
  for (bool on : {true, false, true}) {  // a drafter: draft with LoRA, verify without, draft again
    toggled.set_enabled(on);
    toggled.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  }
  check_identical(lorakit::make_view(expected), lorakit::make_view(y), "on/off/on");
}

TEST_CASE("LoRALinear: a user scale of 0 leaves the base output unchanged",
          "[layer][lora_linear]") {
  const Index n = 4;
  const Index in = 15;
  const Index out = 9;
  const BaseFixture bf(in, out);
  const auto lora = make_lora(in, out, 2, 4.0f, 11);
  Layer layer(bf.base());
  layer.attach("a", lora->weights(), lora->params, 0.0f, lora);
  const RowMatrix x = random_matrix(n, in, 12);
  lorakit::Workspace ws(layer.workspace_floats(n));
  RowMatrix base_only(n, out);
  bf.base().forward(lorakit::make_view(x), lorakit::make_view(base_only));
  RowMatrix y(n, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  check_identical(lorakit::make_view(base_only), lorakit::make_view(y), "scale 0 vs base");

  layer.set_scale("a", 1.0f);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  CHECK((y - base_only).cwiseAbs().maxCoeff() > 1e-3f);
}

TEST_CASE("LoRALinear: rsLoRA scaling uses alpha/sqrt(r) times the user scale",
          "[layer][lora_linear]") {
  const Index n = 3;
  const Index in = 12;
  const Index out = 10;
  const Index r = 16;
  const BaseFixture bf(in, out);
  LoRAFixture fixture(in, out, r, 8.0f, 13);
  fixture.params.scaling = lorakit::Scaling::alpha_over_sqrt_rank;
  const auto lora = std::make_shared<const LoRAFixture>(std::move(fixture));
  Layer layer(bf.base());
  layer.attach("rs", lora->weights(), lora->params, 1.5f, lora);
  REQUIRE(layer.attachments().front().multiplier == 1.5f * 8.0f / 4.0f);
  const RowMatrix x = random_matrix(n, in, 14);
  RowMatrix y(n, out);
  lorakit::Workspace ws(layer.workspace_floats(n));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  const Reference ref =
      dense_reference(lorakit::make_view(x), lorakit::make_view(bf.w), true, bf.bias_span(),
                      {RefAdapter{lorakit::make_view(lora->a), lorakit::make_view(lora->b), 3.0}});
  check_close(ref, lorakit::make_view(y), "rsLoRA");
}

TEST_CASE("LoRALinear: any host callable can be the base", "[layer][lora_linear]") {
  const Index n = 6;
  const Index in = 10;
  const Index out = 10;
  const BaseFixture bf(in, out);
  auto host_op = [base = bf.base()](lorakit::ConstMatrixView x, lorakit::MatrixView y) {
    base.forward(x, y);
  };
  const auto lora = make_lora(in, out, 4, 4.0f, 15);
  lorakit::LoRALinear<lorakit::FunctionLinear<decltype(host_op)>, LoRA> layer(
      lorakit::FunctionLinear(host_op, in, out));
  layer.attach("a", lora->weights(), lora->params, 1.0f, lora);
  const RowMatrix x = random_matrix(n, in, 16);
  RowMatrix y(n, out);
  lorakit::Workspace ws(layer.workspace_floats(n));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  const Reference ref =
      dense_reference(lorakit::make_view(x), lorakit::make_view(bf.w), true, bf.bias_span(),
                      {RefAdapter{lorakit::make_view(lora->a), lorakit::make_view(lora->b), 1.0}});
  check_close(ref, lorakit::make_view(y), "FunctionLinear base");
}
