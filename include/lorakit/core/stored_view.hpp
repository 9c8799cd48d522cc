// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// StoredView: a read-only matrix of adapter weights in the type it is stored in (f32, f16, bf16).
#pragma once

#include <cstddef>

#include "lorakit/config.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit {

/// Row-major rows x cols elements, `stride` apart, stored as float, Float16 or BFloat16. The
/// kernels read each type as it is (widened in registers), so 16-bit adapters need no f32 copy.
/// Built from a float view implicitly, or from a WeightView<T>; cannot be built for any other
/// element type, so a view never reinterprets bytes as the wrong type.
class StoredView {
 public:
  StoredView() = default;
  StoredView(ConstMatrixView m) noexcept  // NOLINT(google-explicit-constructor): a float view
      : dtype_(DType::f32),
        data_(m.data()),
        rows_(m.rows()),
        cols_(m.cols()),
        stride_(m.outerStride()) {}
  StoredView(MatrixView m) noexcept  // NOLINT(google-explicit-constructor)
      : StoredView(make_cview(m)) {}
  template <class T>
  StoredView(WeightView<T> w) noexcept  // NOLINT(google-explicit-constructor)
      : dtype_(dtype_of<T>()), data_(w.data), rows_(w.rows), cols_(w.cols), stride_(w.stride) {}

  [[nodiscard]] DType dtype() const noexcept { return dtype_; }
  [[nodiscard]] Index rows() const noexcept { return rows_; }
  [[nodiscard]] Index cols() const noexcept { return cols_; }
  [[nodiscard]] Index stride() const noexcept { return stride_; }
  [[nodiscard]] const void* data() const noexcept { return data_; }
  /// Bytes of one element (4 or 2).
  [[nodiscard]] std::size_t element_bytes() const noexcept {
    return dtype_ == DType::f32 ? 4u : 2u;
  }

  /// Calls f(WeightView<T>) with T the stored type.
  template <class F>
  decltype(auto) visit(F&& f) const {
    switch (dtype_) {
      case DType::f16: return f(typed<Float16>());
      case DType::bf16: return f(typed<BFloat16>());
      default: return f(typed<float>());
    }
  }

  /// Columns [first, first + count) of every row.
  [[nodiscard]] StoredView columns(Index first, Index count) const noexcept {
    LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= cols_);
    StoredView v = *this;
    v.data_ =
        static_cast<const std::byte*>(data_) + static_cast<std::size_t>(first) * element_bytes();
    v.cols_ = count;
    return v;
  }

  /// Rows [first, first + count).
  [[nodiscard]] StoredView row_range(Index first, Index count) const noexcept {
    LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= rows_);
    StoredView v = *this;
    v.data_ = static_cast<const std::byte*>(data_) +
              static_cast<std::size_t>(first * stride_) * element_bytes();
    v.rows_ = count;
    return v;
  }

  /// Element (i, j) widened to float (exact).
  [[nodiscard]] float operator()(Index i, Index j) const noexcept {
    return visit([&](auto w) { return w(i, j); });
  }

 private:
  template <class T>
  static constexpr DType dtype_of() noexcept {
    if constexpr (std::is_same_v<T, Float16>) {
      return DType::f16;
    } else if constexpr (std::is_same_v<T, BFloat16>) {
      return DType::bf16;
    } else {
      static_assert(std::is_same_v<T, float>);
      return DType::f32;
    }
  }

  template <class T>
  [[nodiscard]] WeightView<T> typed() const noexcept {
    return WeightView<T>{static_cast<const T*>(data_), rows_, cols_, stride_};
  }

  DType dtype_ = DType::f32;
  const void* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index stride_ = 0;
};

}  // namespace lorakit
