// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Decoding stored float tensors (F32, F16, BF16, F64; little-endian) to f32, and encoding back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/error.hpp"

namespace lorakit::io {

/// True for the dtypes an adapter's weights may be stored in.
[[nodiscard]] constexpr bool is_float_dtype(DType t) noexcept {
  return t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::f64;
}

/// Converts `count` elements of `dtype` at `src` to f32 in `dst` (exact for F32, F16, BF16;
/// F64 rounds to nearest). Bytes may be unaligned.
/// @pre src holds count * size_of(dtype) bytes, dst holds count floats, is_float_dtype(dtype)
inline void decode_floats(DType dtype, const std::byte* src, std::size_t count,
                          float* dst) noexcept {
  switch (dtype) {
    case DType::f32:
      if (count != 0) std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::f16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = Float16::from_bits(b).to_float();
      }
      return;
    case DType::bf16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        dst[i] = BFloat16::from_bits(b).to_float();
      }
      return;
    case DType::f64:
      for (std::size_t i = 0; i < count; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        dst[i] = static_cast<float>(d);
      }
      return;
    default: return;
  }
}

/// Encodes `count` floats as `dtype` (F32, F16 or BF16, round-to-nearest-even) into dst.
/// @pre dst holds count * size_of(dtype) bytes
inline void encode_floats(DType dtype, const float* src, std::size_t count,
                          std::byte* dst) noexcept {
  switch (dtype) {
    case DType::f32:
      if (count != 0) std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::f16:
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t b = Float16::from_float(src[i]).bits;
        std::memcpy(dst + 2 * i, &b, 2);
      }
      return;
    case DType::bf16:
      for (std::size_t i = 0; i < count; ++i) {
        const std::uint16_t b = BFloat16::from_float(src[i]).bits;
        std::memcpy(dst + 2 * i, &b, 2);
      }
      return;
    default: return;
  }
}

}  // namespace lorakit::io
