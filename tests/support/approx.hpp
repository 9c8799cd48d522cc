// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Float comparisons against a reference with per-element tolerances; failures print the worst
// element with its shape, index, expected, actual and tolerance.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include "lorakit/core/types.hpp"
#include "reference.hpp"

namespace lorakit::test {

/// Checks |actual - ref.value| <= ref.tolerance elementwise; reports the worst element.
inline void check_close(const Reference& ref, ConstMatrixView actual, const std::string& what) {
  REQUIRE(actual.rows() == ref.value.rows());
  REQUIRE(actual.cols() == ref.value.cols());
  double worst_ratio = 0.0;
  Index wi = -1;
  Index wj = -1;
  bool finite = true;
  for (Index i = 0; i < actual.rows(); ++i) {
    for (Index j = 0; j < actual.cols(); ++j) {
      const double got = static_cast<double>(actual(i, j));
      if (!std::isfinite(got)) {
        finite = false;
        wi = i;
        wj = j;
        worst_ratio = HUGE_VAL;
        break;
      }
      const double ratio = std::abs(got - ref.value(i, j)) / ref.tolerance(i, j);
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        wi = i;
        wj = j;
      }
    }
    if (!finite) break;
  }
  std::ostringstream msg;
  msg.precision(9);
  msg << what << ": shape [" << actual.rows() << ", " << actual.cols() << "]";
  if (wi >= 0) {
    msg << ", worst at [" << wi << ", " << wj << "]: expected " << ref.value(wi, wj) << ", actual "
        << actual(wi, wj) << ", tolerance " << ref.tolerance(wi, wj)
        << " (error / tolerance = " << worst_ratio << ")";
  }
  INFO(msg.str());
  CHECK(worst_ratio <= 1.0);
}

/// Checks two float views for bit-identical contents (for results that must not change at all).
inline void check_identical(ConstMatrixView expected, ConstMatrixView actual,
                            const std::string& what) {
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  Index mismatches = 0;
  Index fi = -1;
  Index fj = -1;
  for (Index i = 0; i < actual.rows(); ++i) {
    for (Index j = 0; j < actual.cols(); ++j) {
      const float e = expected(i, j);
      const float a = actual(i, j);
      if (std::memcmp(&e, &a, sizeof(float)) != 0) {
        if (mismatches++ == 0) {
          fi = i;
          fj = j;
        }
      }
    }
  }
  std::ostringstream msg;
  msg.precision(9);
  msg << what << ": shape [" << actual.rows() << ", " << actual.cols() << "], " << mismatches
      << " elements differ";
  if (fi >= 0) {
    msg << "; first at [" << fi << ", " << fj << "]: expected " << expected(fi, fj) << ", actual "
        << actual(fi, fj);
  }
  INFO(msg.str());
  CHECK(mismatches == 0);
}

inline void check_close(const Reference& ref, const MatrixView& actual, const std::string& what) {
  check_close(ref, lorakit::make_cview(actual), what);
}
inline void check_identical(const MatrixView& expected, const MatrixView& actual,
                            const std::string& what) {
  check_identical(lorakit::make_cview(expected), lorakit::make_cview(actual), what);
}

}  // namespace lorakit::test
