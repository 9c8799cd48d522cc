// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Every kernel against the scalar oracle over odd shapes, tails, unaligned and strided views.
// Built twice: for the baseline ISA and for -march=native (see tests/CMakeLists.txt).
#include <catch2/catch.hpp>
#include <cmath>

#include "approx.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"
#include "random.hpp"
#include "stored_weights.hpp"

using lorakit::Index;
using lorakit::RowMatrix;
using lorakit::kernels::ScalarKernel;
using lorakit::kernels::SimdKernel;
using namespace lorakit::test;

namespace {

constexpr Index kLanes = SimdKernel<>::kLanes;

RowMatrix abs_of(lorakit::ConstMatrixView m) { return m.cwiseAbs(); }

}  // namespace

TEMPLATE_TEST_CASE("Kernels: project and expand match the scalar oracle on every tail", "[kernels]",
                   SimdKernel<>) {
  using K = TestType;
  const Index n = GENERATE(0, 1, 2, 3, 4, 5, 8, 17, 64);
  const Index in = GENERATE(1, kLanes - 1, kLanes + 1, 4096);
  // 1500: a partial column block of the streamed expand (1024 columns per block).
  const Index out = GENERATE(1, kLanes - 1, kLanes + 1, 1500, 4096);
  const Index r = GENERATE(1, 2, 7, 8, 16, 33, 64, 130);
  if (in == 4096 && out >= 1500 && n > 17) return;  // covered by the n <= 17 cases; keeps it quick
  CAPTURE(K::name, n, in, out, r);

  // Strided and unaligned: every view starts one float into its buffer, rows are padded.
  StridedBuffer x(n, in, 3, 1);
  x.fill(random_matrix(n, in, 1));
  StridedBuffer a(in, r, 1, 1);
  a.fill(random_matrix(in, r, 2));
  StridedBuffer b(r, out, 2, 1);
  b.fill(random_matrix(r, out, 3));
  const RowMatrix y0 = random_matrix(n, out, 4);
  const float s = -0.75f;

  StridedBuffer t(n, r, 2, 1);
  StridedBuffer y(n, out, 5, 1);
  y.fill(y0);
  K::project(x.cview(), a.cview(), t.view());
  K::expand(t.cview(), b.cview(), s, y.view());
  CHECK(t.padding_untouched());
  CHECK(y.padding_untouched());

  // The oracle, and the magnitude bound run through the oracle on absolute values.
  RowMatrix t_ref(n, r);
  ScalarKernel::project(x.cview(), a.cview(), lorakit::make_view(t_ref));
  RowMatrix y_ref = y0;
  ScalarKernel::expand(lorakit::make_cview(t_ref), b.cview(), s, lorakit::make_view(y_ref));
  RowMatrix t_mag(n, r);
  const RowMatrix ax = abs_of(x.cview());
  const RowMatrix aa = abs_of(a.cview());
  const RowMatrix ab = abs_of(b.cview());
  ScalarKernel::project(lorakit::make_cview(ax), lorakit::make_cview(aa),
                        lorakit::make_view(t_mag));
  RowMatrix y_mag = y0.cwiseAbs();
  ScalarKernel::expand(lorakit::make_cview(t_mag), lorakit::make_cview(ab), std::abs(s),
                       lorakit::make_view(y_mag));

  Reference tr;
  tr.value = t_ref.cast<double>();
  tr.magnitude = t_mag.cast<double>();
  tr.terms = in;
  check_close(tr, t.cview(), "project");
  Reference yr;
  yr.value = y_ref.cast<double>();
  yr.magnitude = y_mag.cast<double>();
  yr.terms = in + r + 1;
  check_close(yr, y.cview(), "project + expand");
}

TEMPLATE_TEST_CASE("Kernels: row ranges compute exactly the rows they are given", "[kernels]",
                   SimdKernel<>) {
  using K = TestType;
  const Index n = 11;
  const Index in = 37;
  const Index out = 29;
  const Index r = 5;
  const RowMatrix x = random_matrix(n, in, 1);
  const RowMatrix a = random_matrix(in, r, 2);
  const RowMatrix b = random_matrix(r, out, 3);
  RowMatrix t_all(n, r);
  RowMatrix y_all = RowMatrix::Zero(n, out);
  K::project(lorakit::make_cview(x), lorakit::make_cview(a), lorakit::make_view(t_all));
  K::expand(lorakit::make_cview(t_all), lorakit::make_cview(b), 2.0f, lorakit::make_view(y_all));

  RowMatrix t = RowMatrix::Constant(n, r, 99.0f);
  RowMatrix y = RowMatrix::Zero(n, out);
  for (Index first : {0, 3, 8}) {  // three "threads": rows [0,3), [3,8), [8,11)
    const Index count = first == 0 ? 3 : (first == 3 ? 5 : 3);
    K::project_rows(lorakit::make_cview(x), lorakit::make_cview(a), lorakit::make_view(t), first,
                    count);
    K::expand_rows(lorakit::make_cview(t), lorakit::make_cview(b), 2.0f, lorakit::make_view(y),
                   first, count);
  }
  check_identical(lorakit::make_view(t_all), lorakit::make_view(t), "t by row ranges");
  check_identical(lorakit::make_view(y_all), lorakit::make_view(y), "y by row ranges");
}

TEMPLATE_TEST_CASE("Kernels: f16 and bf16 adapter storage matches the oracle on the same values",
                   "[kernels][storage]", float, lorakit::Float16, lorakit::BFloat16) {
  using T = TestType;
  using K = SimdKernel<>;
  const Index n = GENERATE(1, 3, 4, 5, 17);
  const Index in = GENERATE(1, kLanes - 1, kLanes + 1, 300);
  const Index out = GENERATE(1, kLanes - 1, kLanes + 1, 300);
  const Index r = GENERATE(1, 7, 16, 33);
  CAPTURE(K::name, sizeof(T), n, in, out, r);

  StridedBuffer x(n, in, 2, 1);
  x.fill(random_matrix(n, in, 11));
  const StoredWeights<T> a(random_matrix(in, r, 12), 1);
  const StoredWeights<T> b(random_matrix(r, out, 13), 3);
  const RowMatrix y0 = random_matrix(n, out, 14);
  StridedBuffer t(n, r, 1, 1);
  StridedBuffer y(n, out, 2, 1);
  y.fill(y0);
  K::project(x.cview(), a.view(), t.view());
  K::expand(t.cview(), b.view(), 1.5f, y.view());
  CHECK(t.padding_untouched());
  CHECK(y.padding_untouched());

  RowMatrix t_ref(n, r);
  ScalarKernel::project(x.cview(), a.view(), lorakit::make_view(t_ref));
  RowMatrix y_ref = y0;
  ScalarKernel::expand(lorakit::make_cview(t_ref), b.view(), 1.5f, lorakit::make_view(y_ref));
  // Magnitudes through the oracle on absolute values (widened weights are exact).
  RowMatrix a_abs(in, r);
  RowMatrix b_abs(r, out);
  for (Index i = 0; i < in; ++i) {
    for (Index j = 0; j < r; ++j) a_abs(i, j) = std::abs(a.view()(i, j));
  }
  for (Index i = 0; i < r; ++i) {
    for (Index j = 0; j < out; ++j) b_abs(i, j) = std::abs(b.view()(i, j));
  }
  const RowMatrix x_abs = abs_of(x.cview());
  RowMatrix t_mag(n, r);
  ScalarKernel::project(lorakit::make_cview(x_abs), lorakit::make_cview(a_abs),
                        lorakit::make_view(t_mag));
  RowMatrix y_mag = y0.cwiseAbs();
  ScalarKernel::expand(lorakit::make_cview(t_mag), lorakit::make_cview(b_abs), 1.5f,
                       lorakit::make_view(y_mag));
  Reference yr;
  yr.value = y_ref.cast<double>();
  yr.magnitude = y_mag.cast<double>();
  yr.terms = in + r + 1;
  check_close(yr, y.cview(), "project + expand, stored weights");
}
