// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The canonical layout: Index, row-major RowMatrix, strided views of host memory, dtypes.
//
// Layout rule (every file, kernel and test uses it):
//   activations x:(n,in), y:(n,out)  row-major, row stride may exceed the width
//   base weight W:(out,in)           row-major (PyTorch); W:(in,out) for GPT-2 Conv1D, as a tag
//   LoRA        A:(in,r), B:(r,out)  row-major; the update is y += s * (x*A) * B
#pragma once

#include <Eigen/Core>
#include <type_traits>

#include "lorakit/config.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/shape.hpp"

namespace lorakit {

static_assert(std::is_same_v<Index, Eigen::Index>, "lorakit::Index must equal Eigen::Index");

/// An owning row-major float matrix.
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A read-only view of row-major floats with a row stride (outer stride) >= cols: a sub-block of
/// a host buffer maps without a copy.
using ConstMatrixView = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

/// A writable view of row-major floats with a row stride >= cols.
using MatrixView = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

/// How a base stores W: [out, in] (PyTorch Linear) or [in, out] (GPT-2 Conv1D).
enum class WeightLayout : unsigned char { out_in, in_out };

/// A view of rows x cols floats at data, consecutive rows `stride` floats apart.
/// @pre stride >= cols
[[nodiscard]] inline MatrixView make_view(float* data, Index rows, Index cols,
                                          Index stride) noexcept {
  LORAKIT_ASSERT(rows >= 0 && cols >= 0 && stride >= cols);
  return MatrixView(data, rows, cols, Eigen::OuterStride<>(stride));
}
[[nodiscard]] inline MatrixView make_view(float* data, Index rows, Index cols) noexcept {
  return make_view(data, rows, cols, cols);
}
[[nodiscard]] inline ConstMatrixView make_view(const float* data, Index rows, Index cols,
                                               Index stride) noexcept {
  LORAKIT_ASSERT(rows >= 0 && cols >= 0 && stride >= cols);
  return ConstMatrixView(data, rows, cols, Eigen::OuterStride<>(stride));
}
[[nodiscard]] inline ConstMatrixView make_view(const float* data, Index rows, Index cols) noexcept {
  return make_view(data, rows, cols, cols);
}

/// A view of a whole owning matrix.
[[nodiscard]] inline MatrixView make_view(RowMatrix& m) noexcept {
  return make_view(m.data(), m.rows(), m.cols());
}
[[nodiscard]] inline ConstMatrixView make_view(const RowMatrix& m) noexcept {
  return make_view(m.data(), m.rows(), m.cols());
}

/// A read-only view, whatever the constness of the source (a writable view, or a matrix the
/// caller may still change): forward() takes x as a ConstMatrixView.
[[nodiscard]] inline ConstMatrixView make_cview(const MatrixView& v) noexcept {
  return make_view(static_cast<const float*>(v.data()), v.rows(), v.cols(), v.outerStride());
}
[[nodiscard]] inline ConstMatrixView make_cview(const RowMatrix& m) noexcept {
  return make_view(m.data(), m.rows(), m.cols());
}

/// The view of rows [first, first + count) of v.
[[nodiscard]] inline ConstMatrixView row_range(const ConstMatrixView& v, Index first,
                                               Index count) noexcept {
  LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= v.rows());
  return make_view(v.data() + first * v.outerStride(), count, v.cols(), v.outerStride());
}
[[nodiscard]] inline MatrixView row_range(MatrixView v, Index first, Index count) noexcept {
  LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= v.rows());
  return make_view(v.data() + first * v.outerStride(), count, v.cols(), v.outerStride());
}

/// A read-only row-major view of adapter weights stored as T (float, Float16 or BFloat16):
/// rows x cols elements, consecutive rows `stride` elements apart. The kernels widen the
/// elements to f32 in registers.
template <class T>
struct WeightView {
  static_assert(is_storage_type<T>, "adapter weights are stored as float, Float16 or BFloat16");
  const T* data = nullptr;
  Index rows = 0;
  Index cols = 0;
  Index stride = 0;

  [[nodiscard]] float operator()(Index i, Index j) const noexcept {
    return to_float(data[i * stride + j]);
  }
};

/// The WeightView of float weights.
[[nodiscard]] inline WeightView<float> weight_view(const ConstMatrixView& m) noexcept {
  return WeightView<float>{m.data(), m.rows(), m.cols(), m.outerStride()};
}

/// A WeightView of rows x cols elements at data.
template <class T>
[[nodiscard]] WeightView<T> weight_view(const T* data, Index rows, Index cols,
                                        Index stride) noexcept {
  LORAKIT_ASSERT(rows >= 0 && cols >= 0 && stride >= cols);
  return WeightView<T>{data, rows, cols, stride};
}

}  // namespace lorakit
