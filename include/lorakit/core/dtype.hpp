// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Element types of stored tensors, and exact conversions between f16 / bf16 and f32.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace lorakit {

/// Element type of a stored tensor (the safetensors / GGUF set lorakit recognises).
enum class DType : std::uint8_t {
  f32,
  f16,
  bf16,
  f64,
  i8,
  u8,
  i16,
  u16,
  i32,
  u32,
  i64,
  u64,
  boolean,
  f8_e5m2,
  f8_e4m3
};

/// Bytes per element.
[[nodiscard]] constexpr int size_of(DType t) noexcept {
  switch (t) {
    case DType::f64:
    case DType::i64:
    case DType::u64: return 8;
    case DType::f32:
    case DType::i32:
    case DType::u32: return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16:
    case DType::u16: return 2;
    case DType::i8:
    case DType::u8:
    case DType::boolean:
    case DType::f8_e5m2:
    case DType::f8_e4m3: return 1;
  }
  return 0;
}

/// The safetensors spelling of a dtype ("F32", "BF16", ...).
[[nodiscard]] constexpr std::string_view to_string(DType t) noexcept {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::f64: return "F64";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::i16: return "I16";
    case DType::u16: return "U16";
    case DType::i32: return "I32";
    case DType::u32: return "U32";
    case DType::i64: return "I64";
    case DType::u64: return "U64";
    case DType::boolean: return "BOOL";
    case DType::f8_e5m2: return "F8_E5M2";
    case DType::f8_e4m3: return "F8_E4M3";
  }
  return "?";
}

/// IEEE 754 binary16, stored as its bits. Converts to float exactly; from float with
/// round-to-nearest-even (overflow gives infinity, NaN stays a quiet NaN).
struct Float16 {
  std::uint16_t bits = 0;

  [[nodiscard]] static constexpr Float16 from_bits(std::uint16_t b) noexcept { return {b}; }

  [[nodiscard]] static constexpr Float16 from_float(float f) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {  // NaN: keep the top payload bits, force the quiet bit
      return {static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};
    }
    if (a >= 0x47800000u) return {static_cast<std::uint16_t>(sign | 0x7c00u)};  // >= 2^16: inf
    const std::uint32_t e = a >> 23;
    if (a < 0x38800000u) {  // below 2^-14: f16 subnormal or zero, in units of 2^-24
      const std::uint32_t m = e == 0 ? (a & 0x7fffffu) : ((a & 0x7fffffu) | 0x800000u);
      const std::uint32_t shift = e == 0 ? 126u : 126u - e;  // value = m * 2^(e-150)
      if (shift > 24) return {sign};
      std::uint32_t q = m >> shift;
      const std::uint32_t rem = m & ((1u << shift) - 1u);
      const std::uint32_t half = 1u << (shift - 1u);
      if (rem > half || (rem == half && (q & 1u) != 0)) ++q;
      return {static_cast<std::uint16_t>(sign | q)};
    }
    std::uint32_t q = ((e - 112u) << 10) | ((a & 0x7fffffu) >> 13);
    const std::uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) != 0)) ++q;  // a carry may reach inf
    return {static_cast<std::uint16_t>(sign | q)};
  }

  /// Exact. Branch-free, so that loops over many values vectorise: normal numbers, infinities
  /// and NaNs move the exponent and mantissa into place and rebias (by 112, or to 255 for
  /// exponent 31); zeros and subnormals are m x 2^-24, computed from the integer m (a normal
  /// float, so flush-to-zero modes do not touch it).
  [[nodiscard]] constexpr float to_float() const noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t em = bits & 0x7fffu;
    const std::uint32_t rebias = (112u << 23) << static_cast<std::uint32_t>(em >= 0x7c00u);
    const std::uint32_t normal = (em << 13) + rebias;
    const std::uint32_t small = std::bit_cast<std::uint32_t>(static_cast<float>(em) * 0x1p-24f);
    const std::uint32_t is_small = 0u - static_cast<std::uint32_t>(em < 0x400u);
    return std::bit_cast<float>(sign | (small & is_small) | (normal & ~is_small));
  }
  friend constexpr bool operator==(Float16, Float16) = default;
};

/// bfloat16 (the top half of a float), stored as its bits. Converts to float exactly; from
/// float with round-to-nearest-even (NaN stays a quiet NaN).
struct BFloat16 {
  std::uint16_t bits = 0;

  [[nodiscard]] static constexpr BFloat16 from_bits(std::uint16_t b) noexcept { return {b}; }

  [[nodiscard]] static constexpr BFloat16 from_float(float f) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x40u)};
    const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
    return {static_cast<std::uint16_t>(rounded >> 16)};
  }

  [[nodiscard]] constexpr float to_float() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }
  friend constexpr bool operator==(BFloat16, BFloat16) = default;
};

/// The float value of a stored element (exact for every type here).
[[nodiscard]] constexpr float to_float(float v) noexcept { return v; }
[[nodiscard]] constexpr float to_float(Float16 v) noexcept { return v.to_float(); }
[[nodiscard]] constexpr float to_float(BFloat16 v) noexcept { return v.to_float(); }

/// True for the element types adapter weights may be stored in inside the kernels.
template <class T>
inline constexpr bool is_storage_type =
    std::is_same_v<T, float> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

}  // namespace lorakit
