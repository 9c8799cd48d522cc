// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Tests of the f16 / bf16 <-> f32 conversions: exact widening, round-to-nearest-even narrowing.
#include <bit>
#include <catch2/catch.hpp>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "lorakit/core/dtype.hpp"

using lorakit::BFloat16;
using lorakit::Float16;

namespace {

// Round |f| to a float format with `mantissa_bits` fraction bits, minimum normal exponent
// `min_exp` and largest finite value `max_finite`, ties to even, computed in double (exact
// here: every float is a double, and scaling by a power of two is exact).
double round_reference(float f, int mantissa_bits, int min_exp, double max_finite) {
  const double a = std::abs(static_cast<double>(f));
  if (a == 0.0) return std::copysign(0.0, static_cast<double>(f));
  int e = std::ilogb(a);
  if (e < min_exp) e = min_exp;
  const double ulp = std::ldexp(1.0, e - mantissa_bits);
  const double rounded = std::nearbyint(a / ulp) * ulp;  // FE_TONEAREST: ties to even
  // Overflow: anything at or beyond max_finite + ulp/2 (ties go to the even infinity side).
  const double result = rounded > max_finite ? HUGE_VAL : rounded;
  return std::copysign(result, static_cast<double>(f));
}

bool same_bits(float a, float b) {
  return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

struct Sweep {
  long checked = 0;
  long failures = 0;
  std::string first_failure;
};

// Calls convert(f) -> {got, expected} for every step-th non-negative finite float bit pattern
// and its negation, and counts results whose bits differ.
template <class Convert>
Sweep sweep_floats(std::uint32_t step, Convert convert) {
  Sweep s;
  for (std::uint64_t u = 0; u <= 0x7f800000u; u += step) {
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      const float f = std::bit_cast<float>(static_cast<std::uint32_t>(u) | sign);
      const auto [got, want] = convert(f);
      ++s.checked;
      if (!same_bits(got, want) && s.failures++ == 0) {
        std::ostringstream msg;
        msg.precision(9);
        msg << "input " << f << " (bits " << std::bit_cast<std::uint32_t>(f) << "): got " << got
            << ", expected " << want;
        s.first_failure = msg.str();
      }
    }
  }
  return s;
}

}  // namespace

TEST_CASE("Float16: every half value widens to float exactly and narrows back bit for bit",
          "[core][dtype]") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  int checked = 0;
  for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const Float16 h = Float16::from_bits(static_cast<std::uint16_t>(bits));
    const float f = h.to_float();
    const std::uint32_t e = (bits >> 10) & 0x1fu;
    const std::uint32_t m = bits & 0x3ffu;
    if (e == 31 && m != 0) {
      INFO("bits " << bits);
      CHECK(std::isnan(f));
      CHECK(std::isnan(Float16::from_float(f).to_float()));
      continue;
    }
    // Value check against the definition: (-1)^s * 2^(e-15) * (1 + m/1024), or subnormal.
    const double expect =
        (e == 0    ? std::ldexp(static_cast<double>(m), -24)
         : e == 31 ? HUGE_VAL
                   : std::ldexp(1.0 + static_cast<double>(m) / 1024.0, static_cast<int>(e) - 15)) *
        ((bits & 0x8000u) != 0 ? -1.0 : 1.0);
    INFO("bits " << bits << " value " << f << " expected " << expect);
    CHECK(static_cast<double>(f) == expect);
    CHECK(std::signbit(f) == ((bits & 0x8000u) != 0));
    CHECK(Float16::from_float(f).bits == bits);
    ++checked;
  }
  CHECK(checked == 65536 - 2 * 1023);
}

TEST_CASE("Float16: narrowing from float rounds to nearest, ties to even, overflows to infinity",
          "[core][dtype]") {
  // A sweep over float bit patterns (every 997th, plus the sign), compared with a reference
  // rounding computed in double.
  const Sweep sweep = sweep_floats(997, [](float f) {
    return std::pair{Float16::from_float(f).to_float(),
                     static_cast<float>(round_reference(f, 10, -14, 65504.0))};
  });
  INFO(sweep.first_failure);
  CHECK(sweep.failures == 0);
  CHECK(sweep.checked > 4000000);
  // Hand-picked boundaries.
  CHECK(Float16::from_float(65504.0f).to_float() == 65504.0f);
  CHECK(Float16::from_float(65519.996f).to_float() == 65504.0f);
  CHECK(std::isinf(Float16::from_float(65520.0f).to_float()));
  CHECK(Float16::from_float(1.0f + 0x1p-11f).to_float() == 1.0f);  // tie, to even (down)
  CHECK(Float16::from_float(1.0f + 3 * 0x1p-11f).to_float() == 1.0f + 0x1p-9f);  // tie, up
  CHECK(Float16::from_float(0x1p-25f).to_float() == 0.0f);  // half the smallest subnormal: even
  CHECK(Float16::from_float(0x1.000002p-25f).to_float() == 0x1p-24f);
  CHECK(Float16::from_float(3 * 0x1p-25f).to_float() == 2 * 0x1p-24f);  // tie, to even (up)
  CHECK(Float16::from_float(-std::numeric_limits<float>::infinity()).bits == 0xfc00u);
  CHECK(std::isnan(Float16::from_float(std::numeric_limits<float>::quiet_NaN()).to_float()));
  CHECK(std::isnan(Float16::from_float(std::bit_cast<float>(0x7f800001u)).to_float()));
}

TEST_CASE("BFloat16: every bfloat16 value widens exactly and narrows back bit for bit",
          "[core][dtype]") {
  for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const BFloat16 b = BFloat16::from_bits(static_cast<std::uint16_t>(bits));
    const float f = b.to_float();
    CHECK(std::bit_cast<std::uint32_t>(f) == bits << 16);
    if (std::isnan(f)) {
      CHECK(std::isnan(BFloat16::from_float(f).to_float()));
    } else {
      CHECK(BFloat16::from_float(f).bits == bits);
    }
  }
}

TEST_CASE("BFloat16: narrowing from float rounds to nearest, ties to even", "[core][dtype]") {
  const double max_bf16 = std::ldexp(255.0 / 128.0, 127);
  const Sweep sweep = sweep_floats(991, [max_bf16](float f) {
    return std::pair{BFloat16::from_float(f).to_float(),
                     static_cast<float>(round_reference(f, 7, -126, max_bf16))};
  });
  INFO(sweep.first_failure);
  CHECK(sweep.failures == 0);
  CHECK(sweep.checked > 4000000);
  CHECK(BFloat16::from_float(1.0f + 0x1p-8f).to_float() == 1.0f);                // tie: even
  CHECK(BFloat16::from_float(1.0f + 3 * 0x1p-8f).to_float() == 1.0f + 0x1p-6f);  // tie: up
  CHECK(std::isinf(BFloat16::from_float(std::numeric_limits<float>::max()).to_float()));
  CHECK(std::isnan(BFloat16::from_float(std::bit_cast<float>(0x7f800001u)).to_float()));
}

TEST_CASE("DType: sizes and safetensors names", "[core][dtype]") {
  using lorakit::DType;
  CHECK(lorakit::size_of(DType::f32) == 4);
  CHECK(lorakit::size_of(DType::bf16) == 2);
  CHECK(lorakit::size_of(DType::f16) == 2);
  CHECK(lorakit::size_of(DType::i64) == 8);
  CHECK(lorakit::size_of(DType::boolean) == 1);
  CHECK(lorakit::to_string(DType::bf16) == "BF16");
  CHECK(lorakit::to_string(DType::f32) == "F32");
}
