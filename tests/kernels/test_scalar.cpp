// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The scalar oracle against the double-precision reference on odd, strided shapes.
#include <catch2/catch.hpp>

#include "approx.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "random.hpp"
#include "reference.hpp"

using lorakit::Index;
using lorakit::kernels::ScalarKernel;
using namespace lorakit::test;

TEST_CASE("ScalarKernel: project and expand match the dense reference on strided views",
          "[kernels][scalar]") {
  const Index n = GENERATE(0, 1, 3, 17);
  const Index in = GENERATE(1, 15, 33);
  const Index out = GENERATE(1, 17, 40);
  const Index r = GENERATE(1, 7, 16);
  const float s = 0.75f;
  CAPTURE(n, in, out, r);

  StridedBuffer x(n, in, 3, 1);
  x.fill(random_matrix(n, in, 1));
  StridedBuffer a(in, r, 2, 1);
  a.fill(random_matrix(in, r, 2));
  StridedBuffer b(r, out, 5, 3);
  b.fill(random_matrix(r, out, 3));
  StridedBuffer t(n, r, 1, 1);
  StridedBuffer y(n, out, 4, 1);
  const lorakit::RowMatrix y0 = random_matrix(n, out, 4);
  y.fill(y0);

  ScalarKernel::project(x.cview(), a.cview(), t.view());
  ScalarKernel::expand(t.cview(), b.cview(), s, y.view());

  // Reference: y0 + s * (x*A)*B (a dense reference with W = 0, plus y0).
  const lorakit::RowMatrix zero_w = lorakit::RowMatrix::Zero(out, in);
  Reference full = dense_reference(x.cview(), lorakit::make_view(zero_w), true, {},
                                   {RefAdapter{a.cview(), b.cview(), s}});
  full.value += y0.cast<double>();
  full.magnitude += y0.cast<double>().cwiseAbs();
  check_close(full, y.cview(), "y = y0 + s*(x*A)*B");
  CHECK(x.padding_untouched());
  CHECK(t.padding_untouched());
  CHECK(y.padding_untouched());
}
