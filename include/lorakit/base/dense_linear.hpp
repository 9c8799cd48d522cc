// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DenseLinear: a non-owning view of host weights W (and optional bias) as a LinearBase.
#pragma once

#include <span>
#include <string>
#include <type_traits>

#include "lorakit/config.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/detail/dot.hpp"
#include "lorakit/error.hpp"

namespace lorakit {

/// y = x * W^T + b over weights the host owns. T is `const float` for a read-only view and
/// `float` for writable weights; only the writable form is a MergeableBase. W is W:(out,in)
/// (PyTorch Linear), or W:(in,out) with WeightLayout::in_out (GPT-2 Conv1D); its rows may be
/// strided. The host keeps W and the bias alive while the DenseLinear is used.
template <class T = const float>
class DenseLinear {
  static_assert(std::is_same_v<std::remove_const_t<T>, float>, "DenseLinear views float weights");

 public:
  using WeightView = std::conditional_t<std::is_const_v<T>, ConstMatrixView, MatrixView>;

  /// A view of contiguous weights: out*in floats in the given layout, and out bias values (or
  /// nullptr for no bias).
  /// @throws lorakit::Error (Errc::bad_config) for negative sizes or a null W with a size.
  DenseLinear(T* weight, Index in_features, Index out_features,
              WeightLayout layout = WeightLayout::out_in, const float* bias = nullptr)
      : DenseLinear(checked_view(weight, in_features, out_features, layout), layout,
                    std::span<const float>(
                        bias, bias == nullptr ? 0 : static_cast<std::size_t>(out_features))) {}

  /// A view of (possibly strided) weights. The layout says which of w's dimensions is `in`.
  /// @throws lorakit::Error (Errc::shape_mismatch) when the bias is neither empty nor out long.
  DenseLinear(WeightView w, WeightLayout layout, std::span<const float> bias = {})
      : w_(w), layout_(layout), bias_(bias) {
    const Index out = out_features();
    if (!bias_.empty() && static_cast<Index>(bias_.size()) != out) {
      throw Error(Errc::shape_mismatch,
                  ErrorContext{.slot = "bias",
                               .expected = Shape{out},
                               .actual = Shape{static_cast<Index>(bias_.size())}},
                  "DenseLinear bias length must equal out_features");
    }
  }

  [[nodiscard]] Index in_features() const noexcept {
    return layout_ == WeightLayout::out_in ? w_.cols() : w_.rows();
  }
  [[nodiscard]] Index out_features() const noexcept {
    return layout_ == WeightLayout::out_in ? w_.rows() : w_.cols();
  }
  [[nodiscard]] WeightLayout layout() const noexcept { return layout_; }
  [[nodiscard]] std::span<const float> bias() const noexcept { return bias_; }

  /// The weights as stored, read-only.
  [[nodiscard]] ConstMatrixView weight_view() const noexcept {
    return make_view(static_cast<const float*>(w_.data()), w_.rows(), w_.cols(), w_.outerStride());
  }

  /// The weights as stored, writable (the MergeableBase requirement).
  [[nodiscard]] MatrixView weight() noexcept requires(!std::is_const_v<T>) { return w_; }

  /// y:(n,out) = x:(n,in) * W^T + b. Float arithmetic in a fixed order (deterministic).
  /// @pre x.cols() == in_features(), y.cols() == out_features(), y.rows() == x.rows()
  void forward(ConstMatrixView x, MatrixView y) const noexcept {
    const Index in = in_features();
    const Index out = out_features();
    LORAKIT_ASSERT(x.cols() == in && y.cols() == out && y.rows() == x.rows());
    for (Index i = 0; i < x.rows(); ++i) {
      const float* xi = x.data() + i * x.outerStride();
      float* yi = y.data() + i * y.outerStride();
      if (layout_ == WeightLayout::out_in) {
        for (Index o = 0; o < out; ++o) {
          const float b = bias_.empty() ? 0.0f : bias_[static_cast<std::size_t>(o)];
          yi[o] = b + detail::dot(xi, w_.data() + o * w_.outerStride(), in);
        }
      } else {
        for (Index o = 0; o < out; ++o) {
          yi[o] = bias_.empty() ? 0.0f : bias_[static_cast<std::size_t>(o)];
        }
        for (Index k = 0; k < in; ++k)
          detail::axpy(xi[k], w_.data() + k * w_.outerStride(), yi, out);
      }
    }
  }

 private:
  static WeightView checked_view(T* weight, Index in, Index out, WeightLayout layout) {
    if (in < 0 || out < 0 || (weight == nullptr && in * out != 0)) {
      throw Error(Errc::bad_config, ErrorContext{.actual = Shape{out, in}},
                  "DenseLinear needs non-negative sizes and non-null weights");
    }
    const Index rows = layout == WeightLayout::out_in ? out : in;
    const Index cols = layout == WeightLayout::out_in ? in : out;
    return WeightView(weight, rows, cols, Eigen::OuterStride<>(cols));
  }

  WeightView w_;
  WeightLayout layout_;
  std::span<const float> bias_;
};

DenseLinear(float*, Index, Index)->DenseLinear<float>;
DenseLinear(float*, Index, Index, WeightLayout)->DenseLinear<float>;
DenseLinear(float*, Index, Index, WeightLayout, const float*)->DenseLinear<float>;
DenseLinear(const float*, Index, Index)->DenseLinear<const float>;
DenseLinear(const float*, Index, Index, WeightLayout)->DenseLinear<const float>;
DenseLinear(const float*, Index, Index, WeightLayout, const float*)->DenseLinear<const float>;
DenseLinear(MatrixView, WeightLayout)->DenseLinear<float>;
DenseLinear(MatrixView, WeightLayout, std::span<const float>)->DenseLinear<float>;
DenseLinear(ConstMatrixView, WeightLayout)->DenseLinear<const float>;
DenseLinear(ConstMatrixView, WeightLayout, std::span<const float>)->DenseLinear<const float>;

}  // namespace lorakit
