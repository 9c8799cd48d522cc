// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Decoding stored float tensors (F32, F16, BF16, F64; little-endian; ggml's Q8_0 blocks) to
// f32, and encoding back.
#pragma once

#include <algorithm>
#include <cmath>
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

/// ggml's Q8_0: blocks of 32 values, each an f16 scale d then 32 int8 q; value = d x q.
inline constexpr std::size_t kQ8_0Block = 32;
inline constexpr std::size_t kQ8_0Bytes = 34;

/// Decodes `count` values (a multiple of 32) of Q8_0 blocks at `src` into `dst`. Exact: an f16
/// scale times an int8 needs at most 19 significant bits.
/// @pre count % 32 == 0; src holds count / 32 * 34 bytes
inline void decode_q8_0(const std::byte* src, std::size_t count, float* dst) noexcept {
  for (std::size_t b = 0; b < count / kQ8_0Block; ++b) {
    const std::byte* block = src + b * kQ8_0Bytes;
    std::uint16_t bits;
    std::memcpy(&bits, block, 2);
    const float d = Float16::from_bits(bits).to_float();
    for (std::size_t i = 0; i < kQ8_0Block; ++i) {
      dst[b * kQ8_0Block + i] = d * static_cast<float>(static_cast<std::int8_t>(block[2 + i]));
    }
  }
}

/// Encodes `count` floats (a multiple of 32) as Q8_0 blocks into `dst`, as ggml's reference
/// quantiser does: d = max |x| / 127, q = x x (1 / d) rounded half away from zero, d stored as
/// f16 (round to nearest even); a block of zeros has d = 0.
/// @pre count % 32 == 0; dst holds count / 32 * 34 bytes
inline void encode_q8_0(const float* src, std::size_t count, std::byte* dst) noexcept {
  for (std::size_t b = 0; b < count / kQ8_0Block; ++b) {
    const float* x = src + b * kQ8_0Block;
    float amax = 0.0f;
    for (std::size_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d == 0.0f ? 0.0f : 1.0f / d;
    std::byte* block = dst + b * kQ8_0Bytes;
    const std::uint16_t bits = Float16::from_float(d).bits;
    std::memcpy(block, &bits, 2);
    for (std::size_t i = 0; i < kQ8_0Block; ++i) {
      const float v = x[i] * id;
      const float a = std::fabs(v);
      const float floored = std::floor(a);
      const float r = floored + std::floor(2.0f * (a - floored));
      block[2 + i] = static_cast<std::byte>(static_cast<std::int8_t>(v < 0.0f ? -r : r));
    }
  }
}

/// Counts NaN and infinite values of Q8_0 blocks (a scale that is not finite).
inline std::size_t count_non_finite_q8_0(std::span<const std::byte> bytes) noexcept {
  std::size_t bad = 0;
  for (std::size_t at = 0; at + kQ8_0Bytes <= bytes.size(); at += kQ8_0Bytes) {
    std::uint16_t bits;
    std::memcpy(&bits, bytes.data() + at, 2);
    if (!std::isfinite(Float16::from_bits(bits).to_float())) bad += kQ8_0Block;
  }
  return bad;
}

}  // namespace lorakit::io
