// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// FunctionLinear wraps a host callable as a LinearBase.
#include <catch2/catch.hpp>

#include "lorakit/base/function_linear.hpp"
#include "random.hpp"

using lorakit::ConstMatrixView;
using lorakit::Index;
using lorakit::MatrixView;

TEST_CASE("FunctionLinear: forward calls the host callable with the caller's views",
          "[base][function]") {
  int calls = 0;
  // A host op: y = 2 * x[:, :out] (in >= out), standing in for an int8 GEMM or a BLAS call.
  auto op = [&calls](ConstMatrixView x, MatrixView y) {
    ++calls;
    y = 2.0f * x.leftCols(y.cols());
  };
  const lorakit::FunctionLinear base(op, 5, 3);
  CHECK(base.in_features() == 5);
  CHECK(base.out_features() == 3);
  const lorakit::RowMatrix x = lorakit::test::random_matrix(4, 5, 3);
  lorakit::RowMatrix y(4, 3);
  base.forward(lorakit::make_view(x), lorakit::make_view(y));
  CHECK(calls == 1);
  for (Index i = 0; i < 4; ++i) {
    for (Index j = 0; j < 3; ++j) CHECK(y(i, j) == 2.0f * x(i, j));
  }
  CHECK_THROWS_AS(lorakit::FunctionLinear(op, -1, 3), lorakit::Error);
}
