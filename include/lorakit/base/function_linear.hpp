// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// FunctionLinear<F>: any host callable f(x, y) used as a LinearBase.
#pragma once

#include <concepts>
#include <utility>

#include "lorakit/core/types.hpp"
#include "lorakit/error.hpp"

namespace lorakit {

/// Wraps a host engine's own linear op (int8 GEMM, a BLAS call, a graph node, ...) as a
/// LinearBase. f(x, y) must overwrite y:(n,out) with the op applied to x:(n,in). forward() is
/// noexcept: an exception escaping f terminates the program, so f must not throw. A
/// FunctionLinear is not a MergeableBase: lorakit cannot see the callable's weights.
template <class F>
requires std::invocable<const F&, ConstMatrixView, MatrixView>
class FunctionLinear {
 public:
  /// @throws lorakit::Error (Errc::bad_config) for negative sizes.
  FunctionLinear(F f, Index in_features, Index out_features)
      : f_(std::move(f)), in_(in_features), out_(out_features) {
    if (in_ < 0 || out_ < 0) {
      throw Error(Errc::bad_config, ErrorContext{.actual = Shape{out_, in_}},
                  "FunctionLinear needs non-negative sizes");
    }
  }

  [[nodiscard]] Index in_features() const noexcept { return in_; }
  [[nodiscard]] Index out_features() const noexcept { return out_; }

  /// y:(n,out) = f(x:(n,in)).
  void forward(ConstMatrixView x, MatrixView y) const noexcept {
    LORAKIT_ASSERT(x.cols() == in_ && y.cols() == out_ && y.rows() == x.rows());
    f_(x, y);
  }

  [[nodiscard]] const F& function() const noexcept { return f_; }

 private:
  F f_;
  Index in_;
  Index out_;
};

}  // namespace lorakit
