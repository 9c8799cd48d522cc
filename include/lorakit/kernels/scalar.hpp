// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// ScalarKernel: the low-rank products as plain loops with double accumulation (the oracle).
#pragma once

#include <string_view>

#include "lorakit/config.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit::kernels {

/// The reference kernel: obviously correct, unoptimised on purpose. Every other kernel is
/// tested against it, and it is the DefaultKernel under LORAKIT_FORCE_SCALAR.
struct ScalarKernel {
  static constexpr std::string_view name = "scalar";

  /// x:(n,in) * a:(in,r) -> t:(n,r). Each t[i,j] is a double sum rounded once to float.
  static void project(ConstMatrixView x, ConstMatrixView a, MatrixView t) noexcept {
    project(x, weight_view(a), t);
  }

  /// y:(n,out) += s * t:(n,r) * b:(r,out). Each y[i,o] is updated in double, rounded once.
  static void expand(ConstMatrixView t, ConstMatrixView b, float s, MatrixView y) noexcept {
    expand(t, weight_view(b), s, y);
  }

  /// project() with A stored as T (float, Float16, BFloat16), each element widened exactly.
  template <class T>
  static void project(ConstMatrixView x, WeightView<T> a, MatrixView t) noexcept {
    LORAKIT_ASSERT(x.cols() == a.rows && t.rows() == x.rows() && t.cols() == a.cols);
    for (Index i = 0; i < x.rows(); ++i) {
      for (Index j = 0; j < a.cols; ++j) {
        double acc = 0.0;
        for (Index k = 0; k < x.cols(); ++k) {
          acc += static_cast<double>(x(i, k)) * static_cast<double>(a(k, j));
        }
        t(i, j) = static_cast<float>(acc);
      }
    }
  }

  /// expand() with B stored as T (float, Float16, BFloat16), each element widened exactly.
  template <class T>
  static void expand(ConstMatrixView t, WeightView<T> b, float s, MatrixView y) noexcept {
    LORAKIT_ASSERT(t.cols() == b.rows && y.rows() == t.rows() && y.cols() == b.cols);
    for (Index i = 0; i < t.rows(); ++i) {
      for (Index o = 0; o < b.cols; ++o) {
        double acc = 0.0;
        for (Index j = 0; j < t.cols(); ++j) {
          acc += static_cast<double>(t(i, j)) * static_cast<double>(b(j, o));
        }
        y(i, o) = static_cast<float>(static_cast<double>(y(i, o)) + static_cast<double>(s) * acc);
      }
    }
  }
};

}  // namespace lorakit::kernels
