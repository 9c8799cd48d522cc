// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// TensorStore: builds an Adapter's tensors from file bytes (zero-copy, converted, transposed,
// rows reordered) into one uninitialised buffer per load.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lorakit/core/dtype.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::detail {

/// dst:(cols, rows) = convert(transpose of src:(rows, cols)), reading elements of type T and
/// writing U, in 32 x 32 blocks so that both sides stay in cache, the inner loop writing `dst`
/// contiguously. With a non-empty `order` (rows entries), destination column i is source row
/// order[i]. Bytes may be unaligned (each element copied through memcpy).
template <class T, class U, class Convert>
void transpose_convert(const std::byte* src, Index rows, Index cols, std::byte* dst,
                       std::span<const Index> order, Convert convert) noexcept {
  constexpr Index kBlock = 32;
  const auto at = [&](Index i) { return order.empty() ? i : order[static_cast<std::size_t>(i)]; };
  for (Index i0 = 0; i0 < rows; i0 += kBlock) {
    const Index i1 = std::min(rows, i0 + kBlock);
    const std::byte* row[kBlock];
    for (Index i = i0; i < i1; ++i) {
      row[i - i0] = src + static_cast<std::size_t>(at(i) * cols) * sizeof(T);
    }
    for (Index j0 = 0; j0 < cols; j0 += kBlock) {
      const Index j1 = std::min(cols, j0 + kBlock);
      for (Index j = j0; j < j1; ++j) {
        std::byte* d = dst + static_cast<std::size_t>(j * rows + i0) * sizeof(U);
        const auto offset = static_cast<std::size_t>(j) * sizeof(T);
        for (Index i = 0; i < i1 - i0; ++i) {
          T v;
          std::memcpy(&v, row[i] + offset, sizeof(T));
          const U w = convert(v);
          std::memcpy(d + static_cast<std::size_t>(i) * sizeof(U), &w, sizeof(U));
        }
      }
    }
  }
}

#if defined(__SSE2__)
/// transpose_convert's copy of 4-byte elements in 4 x 4 tiles of SSE registers.
inline void transpose_4byte_sse(const std::byte* src, Index rows, Index cols, std::byte* dst,
                                std::span<const Index> order) noexcept {
  constexpr Index kBlock = 32;
  const auto at = [&](Index i) { return order.empty() ? i : order[static_cast<std::size_t>(i)]; };
  const auto out = [&](Index j, Index i) {
    return reinterpret_cast<float*>(dst + static_cast<std::size_t>(j * rows + i) * 4);
  };
  for (Index i0 = 0; i0 < rows; i0 += kBlock) {
    const Index i1 = std::min(rows, i0 + kBlock);
    const float* row[kBlock];
    for (Index i = i0; i < i1; ++i) {
      row[i - i0] =
          reinterpret_cast<const float*>(src + static_cast<std::size_t>(at(i) * cols) * 4);
    }
    for (Index j0 = 0; j0 < cols; j0 += kBlock) {
      const Index j1 = std::min(cols, j0 + kBlock);
      Index j = j0;
      for (; j + 4 <= j1; j += 4) {
        Index i = i0;
        for (; i + 4 <= i1; i += 4) {
          const float* const* r = row + (i - i0);
          __m128 r0 = _mm_loadu_ps(r[0] + j);
          __m128 r1 = _mm_loadu_ps(r[1] + j);
          __m128 r2 = _mm_loadu_ps(r[2] + j);
          __m128 r3 = _mm_loadu_ps(r[3] + j);
          _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
          _mm_storeu_ps(out(j, i), r0);
          _mm_storeu_ps(out(j + 1, i), r1);
          _mm_storeu_ps(out(j + 2, i), r2);
          _mm_storeu_ps(out(j + 3, i), r3);
        }
        for (; i < i1; ++i) {
          for (Index q = 0; q < 4; ++q) std::memcpy(out(j + q, i), row[i - i0] + j + q, 4);
        }
      }
      for (; j < j1; ++j) {
        for (Index i = i0; i < i1; ++i) std::memcpy(out(j, i), row[i - i0] + j, 4);
      }
    }
  }
}
#endif

/// dst:(cols, rows) = transpose of src:(rows, cols) for elements of type T (see above).
template <class T>
void transpose_blocked(const std::byte* src, Index rows, Index cols, std::byte* dst,
                       std::span<const Index> order = {}) noexcept {
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    transpose_4byte_sse(src, rows, cols, dst, order);
    return;
  }
#endif
  transpose_convert<T, T>(src, rows, cols, dst, order, [](T v) { return v; });
}

/// The transpose above for elements of `size` bytes (1, 2, 4 or 8).
inline void transpose_blocked(const std::byte* src, Index rows, Index cols, std::size_t size,
                              std::byte* dst, std::span<const Index> order = {}) noexcept {
  switch (size) {
    case 1: return transpose_blocked<std::uint8_t>(src, rows, cols, dst, order);
    case 2: return transpose_blocked<std::uint16_t>(src, rows, cols, dst, order);
    case 4: return transpose_blocked<std::uint32_t>(src, rows, cols, dst, order);
    default: return transpose_blocked<std::uint64_t>(src, rows, cols, dst, order);
  }
}

/// dst[r, o] = src[r, order[o]] for (rows, cols) tensors of `size`-byte elements.
inline void gather_columns(const std::byte* src, Index rows, Index cols, std::size_t size,
                           std::span<const Index> order, std::byte* dst) noexcept {
  for (Index r = 0; r < rows; ++r) {
    const std::byte* s = src + static_cast<std::size_t>(r * cols) * size;
    std::byte* d = dst + static_cast<std::size_t>(r * cols) * size;
    for (Index o = 0; o < cols; ++o) {
      std::memcpy(d + static_cast<std::size_t>(o) * size,
                  s + static_cast<std::size_t>(order[static_cast<std::size_t>(o)]) * size, size);
    }
  }
}

/// Uninitialised bytes from the global operator new, 64-byte aligned. Large blocks are aligned
/// to 2 MiB and, on Linux, advised for transparent huge pages: one load writes every byte once,
/// and 2 MiB pages fault 512 times less often than 4 KiB ones.
class RawBuffer {
 public:
  explicit RawBuffer(std::size_t bytes)
      : size_(std::max<std::size_t>(bytes, 1)),
        align_(size_ >= kHugeFrom ? kHuge : kLine),
        data_(static_cast<std::byte*>(::operator new (size_, std::align_val_t{align_}))) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align_ == kHuge) ::madvise(data_, size_ / kHuge * kHuge, MADV_HUGEPAGE);  // a hint only
#endif
  }
  RawBuffer(const RawBuffer&) = delete;
  RawBuffer& operator=(const RawBuffer&) = delete;
  ~RawBuffer() { ::operator delete (data_, std::align_val_t{align_}); }

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  static constexpr std::size_t kLine = 64;
  static constexpr std::size_t kHuge = std::size_t{2} << 20;
  static constexpr std::size_t kHugeFrom = std::size_t{4} << 20;
  std::size_t size_;
  std::size_t align_;
  std::byte* data_;
};

/// Owns the buffers of converted tensors and records what keeps mapped bytes alive. A loader
/// that knows its total first calls reserve() once (footprint() per tensor), so a whole adapter
/// lives in one allocation; without it (or past it) each tensor gets its own.
class TensorStore {
 public:
  /// Keeps `owner` alive with the adapter (a mapped file whose bytes tensors view).
  void keep(std::shared_ptr<const void> owner) { storage_.push_back(std::move(owner)); }

  /// The bytes make() with these arguments takes from the store: 0 for a tensor used in place.
  [[nodiscard]] static std::size_t footprint(DType dtype, Index rows, Index cols,
                                             std::span<const std::byte> bytes, bool transpose,
                                             bool to_f32, bool copy = false,
                                             bool reorder = false) noexcept {
    const Plan p = plan(dtype, bytes, transpose, to_f32, copy || reorder);
    return p.in_place ? 0 : padded(static_cast<std::size_t>(rows * cols) * p.size);
  }
  /// The bytes make_decoded() takes.
  [[nodiscard]] static std::size_t footprint_f32(Index rows, Index cols) noexcept {
    return padded(static_cast<std::size_t>(rows * cols) * sizeof(float));
  }

  /// Reserves one uninitialised buffer of `bytes` for the tensors made next.
  void reserve(std::size_t bytes) {
    if (bytes == 0) return;
    auto buffer = std::make_shared<RawBuffer>(bytes);
    next_ = buffer->data();
    left_ = bytes;
    storage_.push_back(std::move(buffer));
  }

  /// A 2-D tensor from `bytes` stored as `dtype` with shape (rows, cols), optionally transposed
  /// to (cols, rows), optionally converted to F32, its result's columns optionally taken in
  /// `order` (result column o is column order[o]). Without a transpose, conversion or order,
  /// an F32 tensor whose bytes are 4-byte aligned is used in place (zero copy) unless `copy`
  /// asks for an owned copy (bytes that will not outlive the call).
  /// @pre io::is_float_dtype(dtype); bytes holds rows * cols elements; order is empty or a
  ///      permutation of the result's columns
  AdapterTensor make(DType dtype, Index rows, Index cols, std::span<const std::byte> bytes,
                     bool transpose, bool to_f32, bool copy = false,
                     std::span<const Index> order = {}) {
    const Plan p = plan(dtype, bytes, transpose, to_f32, copy || !order.empty());
    if (p.in_place) return AdapterTensor{dtype, Shape{rows, cols}, bytes};
    const auto count = static_cast<std::size_t>(rows * cols);
    if (p.out != dtype) {
      return make_decoded(
          rows, cols, [&](float* dst) { io::decode_floats(dtype, bytes.data(), count, dst); },
          transpose, order);
    }
    std::span<std::byte> buffer = allocate(count * p.size);
    arrange(bytes.data(), rows, cols, p.size, transpose, order, buffer.data());
    return AdapterTensor{dtype, transpose ? Shape{cols, rows} : Shape{rows, cols}, buffer};
  }

  /// An F32 tensor whose (rows, cols) values `decode(float* dst)` writes, transposed and
  /// reordered as make() does. Decodes straight into the tensor when there is nothing to
  /// rearrange, else through a scratch buffer the store reuses.
  template <class Decode>
  AdapterTensor make_decoded(Index rows, Index cols, Decode&& decode, bool transpose,
                             std::span<const Index> order = {}) {
    const auto count = static_cast<std::size_t>(rows * cols);
    std::span<std::byte> buffer = allocate(count * sizeof(float));
    if (!transpose && order.empty()) {
      decode(reinterpret_cast<float*>(buffer.data()));
    } else {
      if (scratch_.size() < count) scratch_.resize(count);
      decode(scratch_.data());
      arrange(reinterpret_cast<const std::byte*>(scratch_.data()), rows, cols, sizeof(float),
              transpose, order, buffer.data());
    }
    return AdapterTensor{DType::f32, transpose ? Shape{cols, rows} : Shape{rows, cols}, buffer};
  }

  /// A fresh F32 tensor holding `values` (rows x cols).
  AdapterTensor make_f32(const float* values, Index rows, Index cols) {
    const auto count = static_cast<std::size_t>(rows * cols);
    std::span<std::byte> buffer = allocate(count * sizeof(float));
    if (count != 0) std::memcpy(buffer.data(), values, count * sizeof(float));
    return AdapterTensor{DType::f32, Shape{rows, cols}, buffer};
  }

  /// Hands the buffers and owners over (to an Adapter).
  std::vector<std::shared_ptr<const void>> release() {
    next_ = nullptr;
    left_ = 0;
    scratch_ = {};
    return std::move(storage_);
  }

 private:
  struct Plan {
    bool in_place;
    DType out;
    std::size_t size;  // bytes per element of `out`
  };

  static Plan plan(DType dtype, std::span<const std::byte> bytes, bool transpose, bool to_f32,
                   bool copy) noexcept {
    const bool convert = dtype != DType::f32 && (to_f32 || dtype == DType::f64);
    const DType out = convert ? DType::f32 : dtype;
    const bool aligned = reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0;
    const bool in_place = !transpose && !convert && !copy && (dtype != DType::f32 || aligned);
    return Plan{in_place, out, static_cast<std::size_t>(size_of(out))};
  }

  static constexpr std::size_t kAlign = 64;
  static constexpr std::size_t padded(std::size_t bytes) noexcept {
    return (bytes + kAlign - 1) / kAlign * kAlign;
  }

  // (rows, cols) at src into dst: transposed and/or with the result's columns in `order`.
  static void arrange(const std::byte* src, Index rows, Index cols, std::size_t size,
                      bool transpose, std::span<const Index> order, std::byte* dst) noexcept {
    const auto count = static_cast<std::size_t>(rows * cols);
    if (transpose) {
      transpose_blocked(src, rows, cols, size, dst, order);
    } else if (!order.empty()) {
      gather_columns(src, rows, cols, size, order, dst);
    } else if (count != 0) {
      std::memcpy(dst, src, count * size);
    }
  }

  std::span<std::byte> allocate(std::size_t bytes) {
    const std::size_t need = padded(bytes);
    if (need != 0 && need <= left_) {
      std::span<std::byte> span(next_, bytes);
      next_ += need;
      left_ -= need;
      return span;
    }
    auto buffer = std::make_shared<RawBuffer>(bytes);
    std::span<std::byte> span(buffer->data(), bytes);
    storage_.push_back(std::move(buffer));
    return span;
  }

  std::vector<std::shared_ptr<const void>> storage_;
  std::byte* next_ = nullptr;
  std::size_t left_ = 0;
  std::vector<float> scratch_;
};

/// Counts NaN and infinite values of a float tensor (any float dtype): the elements whose
/// exponent bits are all ones.
inline std::size_t count_non_finite(DType dtype, std::span<const std::byte> bytes) noexcept {
  const auto size = static_cast<std::size_t>(size_of(dtype));
  const std::size_t count = bytes.size() / size;
  const std::byte* p = bytes.data();
  std::size_t bad = 0;
  const auto count_bits = [&]<class U>(U mask) {
    for (std::size_t i = 0; i < count; ++i) {
      U v;
      std::memcpy(&v, p + i * sizeof(U), sizeof(U));
      bad += (v & mask) == mask ? 1u : 0u;
    }
  };
  switch (dtype) {
    case DType::f32: count_bits(std::uint32_t{0x7f800000u}); break;
    case DType::f16: count_bits(std::uint16_t{0x7c00u}); break;
    case DType::bf16: count_bits(std::uint16_t{0x7f80u}); break;
    case DType::f64: count_bits(std::uint64_t{0x7ff0000000000000ull}); break;
    default: break;
  }
  return bad;
}

}  // namespace lorakit::detail
