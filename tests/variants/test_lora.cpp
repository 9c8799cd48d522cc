// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The LoRA variant: scaling rules, and apply() against the reference for any workspace size.
#include <catch2/catch.hpp>
#include <cmath>

#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/variants/lora.hpp"

using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using lorakit::Scaling;
using namespace lorakit::test;

TEST_CASE("LoRA: scale is alpha/r, alpha/sqrt(r) for rsLoRA, and alpha itself when direct",
          "[variants][lora]") {
  CHECK(LoRA::scale({.rank = 8, .alpha = 16.0f}) == 2.0f);
  CHECK(LoRA::scale({.rank = 4, .alpha = 1.0f}) == 0.25f);
  CHECK(LoRA::scale({.rank = 16, .alpha = 16.0f, .scaling = Scaling::alpha_over_sqrt_rank}) ==
        4.0f);
  CHECK(LoRA::scale({.rank = 8, .alpha = 16.0f, .scaling = Scaling::alpha_over_sqrt_rank}) ==
        Approx(16.0 / std::sqrt(8.0)).epsilon(1e-6));
  CHECK(LoRA::scale({.rank = 8, .alpha = 10.0f, .scaling = Scaling::direct}) == 10.0f);
  CHECK(LoRA::scale({.rank = 0, .alpha = 16.0f}) == 0.0f);
}

TEST_CASE("LoRA: apply adds s*(x*A)*B, bit for bit the same for any workspace size",
          "[variants][lora]") {
  const Index n = GENERATE(1, 9, 40);
  const Index r = GENERATE(1, 5, 32);
  const Index in = 23;
  const Index out = 29;
  CAPTURE(n, r);
  const LoRAFixture f(in, out, r, 2.0f, 7);
  const RowMatrix x = random_matrix(n, in, 8);
  const RowMatrix y0 = random_matrix(n, out, 9);
  const float s = 0.5f;

  RowMatrix y_big = y0;
  lorakit::Workspace big(n * r);
  LoRA::apply(f.weights(), s, lorakit::make_view(x), lorakit::make_view(y_big), big,
              lorakit::kernels::ScalarKernel{});

  const RowMatrix zero_w = RowMatrix::Zero(out, in);
  Reference ref =
      dense_reference(lorakit::make_view(x), lorakit::make_view(zero_w), true, {},
                      {RefAdapter{lorakit::make_view(f.a), lorakit::make_view(f.b), s}});
  ref.value += y0.cast<double>();
  ref.magnitude += y0.cast<double>().cwiseAbs();
  check_close(ref, lorakit::make_view(y_big), "LoRA::apply");

  for (Index floats : {r, 2 * r + 1, 3 * r}) {
    CAPTURE(floats);
    RowMatrix y = y0;
    lorakit::Workspace small(floats);
    LoRA::apply(f.weights(), s, lorakit::make_view(x), lorakit::make_view(y), small,
                lorakit::kernels::ScalarKernel{});
    check_identical(lorakit::make_view(y_big), lorakit::make_view(y), "blocked apply");
  }
}
