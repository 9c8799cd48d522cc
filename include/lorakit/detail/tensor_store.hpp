// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// TensorStore: builds an Adapter's tensors from file bytes (zero-copy, converted, transposed).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::detail {

/// dst:(cols, rows) = transpose of src:(rows, cols) for elements of type T, in 32 x 32 blocks
/// so that both sides stay in cache. Bytes may be unaligned (copied through memcpy of one T).
template <class T>
void transpose_blocked(const std::byte* src, Index rows, Index cols, std::byte* dst) noexcept {
  constexpr Index kBlock = 32;
  for (Index i0 = 0; i0 < rows; i0 += kBlock) {
    const Index i1 = std::min(rows, i0 + kBlock);
    for (Index j0 = 0; j0 < cols; j0 += kBlock) {
      const Index j1 = std::min(cols, j0 + kBlock);
      for (Index i = i0; i < i1; ++i) {
        for (Index j = j0; j < j1; ++j) {
          std::memcpy(dst + static_cast<std::size_t>(j * rows + i) * sizeof(T),
                      src + static_cast<std::size_t>(i * cols + j) * sizeof(T), sizeof(T));
        }
      }
    }
  }
}

/// The transpose above for elements of `size` bytes (1, 2, 4 or 8).
inline void transpose_blocked(const std::byte* src, Index rows, Index cols, std::size_t size,
                              std::byte* dst) noexcept {
  switch (size) {
    case 1: return transpose_blocked<std::uint8_t>(src, rows, cols, dst);
    case 2: return transpose_blocked<std::uint16_t>(src, rows, cols, dst);
    case 4: return transpose_blocked<std::uint32_t>(src, rows, cols, dst);
    default: return transpose_blocked<std::uint64_t>(src, rows, cols, dst);
  }
}

/// Owns the buffers of converted tensors and records what keeps mapped bytes alive.
class TensorStore {
 public:
  /// Keeps `owner` alive with the adapter (a mapped file whose bytes tensors view).
  void keep(std::shared_ptr<const void> owner) { storage_.push_back(std::move(owner)); }

  /// A 2-D tensor from `bytes` stored as `dtype` with shape (rows, cols), optionally transposed
  /// to (cols, rows), optionally converted to F32. Without a transpose or conversion, an F32
  /// tensor whose bytes are 4-byte aligned is used in place (zero copy) unless `copy` asks
  /// for an owned copy (bytes that will not outlive the call).
  /// @pre io::is_float_dtype(dtype); bytes holds rows * cols elements
  AdapterTensor make(DType dtype, Index rows, Index cols, std::span<const std::byte> bytes,
                     bool transpose, bool to_f32, bool copy = false) {
    const Index out_rows = transpose ? cols : rows;
    const Index out_cols = transpose ? rows : cols;
    const bool convert = dtype != DType::f32 && (to_f32 || dtype == DType::f64);
    const DType out_dtype = convert ? DType::f32 : dtype;
    const bool aligned = reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0;
    if (!transpose && !convert && !copy && (dtype != DType::f32 || aligned)) {
      return AdapterTensor{dtype, Shape{out_rows, out_cols}, bytes};
    }
    const auto count = static_cast<std::size_t>(rows * cols);
    std::span<const std::byte> source = bytes;
    std::vector<float> decoded;
    if (convert) {
      decoded.resize(count);
      io::decode_floats(dtype, bytes.data(), count, decoded.data());
      source = std::as_bytes(std::span<const float>(decoded));
    }
    const auto size = static_cast<std::size_t>(size_of(out_dtype));
    std::span<std::byte> buffer = allocate(count * size);
    if (transpose) {
      transpose_blocked(source.data(), rows, cols, size, buffer.data());
    } else if (count != 0) {
      std::memcpy(buffer.data(), source.data(), count * size);
    }
    return AdapterTensor{out_dtype, Shape{out_rows, out_cols}, buffer};
  }

  /// A fresh F32 tensor holding `values` (rows x cols).
  AdapterTensor make_f32(const float* values, Index rows, Index cols) {
    const auto count = static_cast<std::size_t>(rows * cols);
    std::span<std::byte> buffer = allocate(count * sizeof(float));
    if (count != 0) std::memcpy(buffer.data(), values, count * sizeof(float));
    return AdapterTensor{DType::f32, Shape{rows, cols}, buffer};
  }

  /// Hands the buffers and owners over (to an Adapter).
  std::vector<std::shared_ptr<const void>> release() { return std::move(storage_); }

 private:
  std::span<std::byte> allocate(std::size_t bytes) {
    auto buffer = std::make_shared<std::vector<std::byte>>(std::max<std::size_t>(bytes, 1));
    std::span<std::byte> span(buffer->data(), bytes);
    storage_.push_back(std::move(buffer));
    return span;
  }

  std::vector<std::shared_ptr<const void>> storage_;
};

/// Counts NaN and infinite values of a float tensor (any float dtype).
inline std::size_t count_non_finite(DType dtype, std::span<const std::byte> bytes) {
  const auto size = static_cast<std::size_t>(size_of(dtype));
  const std::size_t count = bytes.size() / size;
  std::size_t bad = 0;
  float chunk[256];
  for (std::size_t i = 0; i < count; i += 256) {
    const std::size_t m = std::min<std::size_t>(256, count - i);
    io::decode_floats(dtype, bytes.data() + i * size, m, chunk);
    for (std::size_t k = 0; k < m; ++k) bad += std::isfinite(chunk[k]) ? 0u : 1u;
  }
  return bad;
}

}  // namespace lorakit::detail
