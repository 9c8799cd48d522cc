// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DenseLinear in both weight layouts, with and without bias, over strided views.
#include <catch2/catch.hpp>
#include <vector>

#include "approx.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "random.hpp"
#include "reference.hpp"

using lorakit::DenseLinear;
using lorakit::Errc;
using lorakit::Index;
using lorakit::RowMatrix;
using lorakit::WeightLayout;
using namespace lorakit::test;

TEST_CASE("DenseLinear: y = x*W^T + b in the [out,in] and the Conv1D [in,out] layout",
          "[base][dense]") {
  const Index n = GENERATE(0, 1, 5);
  const Index in = GENERATE(1, 19, 70);
  const Index out = GENERATE(1, 13, 37);
  const bool with_bias = GENERATE(false, true);
  CAPTURE(n, in, out, with_bias);

  const RowMatrix w = random_matrix(out, in, 10);  // [out, in]
  const RowMatrix w_t = w.transpose();             // the same weights as [in, out]
  const RowMatrix bias = random_matrix(1, out, 11);
  const std::span<const float> b =
      with_bias ? std::span<const float>(bias.data(), static_cast<std::size_t>(out))
                : std::span<const float>();
  StridedBuffer x(n, in, 2, 1);
  x.fill(random_matrix(n, in, 12));
  const Reference ref = dense_reference(x.cview(), lorakit::make_view(w), true, b, {});

  SECTION("[out, in], contiguous") {
    const DenseLinear base(w.data(), in, out, WeightLayout::out_in,
                           with_bias ? bias.data() : nullptr);
    CHECK(base.in_features() == in);
    CHECK(base.out_features() == out);
    StridedBuffer y(n, out, 3, 1);
    base.forward(x.cview(), y.view());
    check_close(ref, y.cview(), "DenseLinear [out,in]");
    CHECK(y.padding_untouched());
  }
  SECTION("[in, out] (Conv1D), strided weights") {
    StridedBuffer wt(in, out, 4, 1);
    wt.fill(w_t);
    const DenseLinear base(wt.cview(), WeightLayout::in_out, b);
    CHECK(base.in_features() == in);
    CHECK(base.out_features() == out);
    StridedBuffer y(n, out, 3, 1);
    base.forward(x.cview(), y.view());
    check_close(ref, y.cview(), "DenseLinear [in,out]");
    CHECK(y.padding_untouched());
  }
}

TEST_CASE("DenseLinear: a bias of the wrong length is a shape_mismatch naming both lengths",
          "[base][dense]") {
  const RowMatrix w = random_matrix(4, 3, 1);
  const std::vector<float> bias(5, 0.0f);
  CHECK_THROWS_MATCHES(
      DenseLinear(lorakit::make_view(w), WeightLayout::out_in, std::span<const float>(bias)),
      lorakit::Error, Catch::Matchers::Predicate<lorakit::Error>([](const lorakit::Error& e) {
        const std::string what = e.what();
        return e.code() == Errc::shape_mismatch &&
               what.find("expected [4], got [5]") != std::string::npos;
      }));
}

TEST_CASE("DenseLinear: writable weights are visible through weight() for merging",
          "[base][dense]") {
  RowMatrix w = random_matrix(3, 2, 2);
  DenseLinear base(w.data(), 2, 3);
  STATIC_REQUIRE(std::is_same_v<decltype(base), DenseLinear<float>>);
  base.weight()(1, 0) = 42.0f;
  CHECK(w(1, 0) == 42.0f);
  CHECK(base.layout() == WeightLayout::out_in);
  CHECK_THROWS_AS(DenseLinear(static_cast<float*>(nullptr), 2, 3), lorakit::Error);
}
