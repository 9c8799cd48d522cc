// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Promises that must hold in a release build: compiled with NDEBUG (LORAKIT_ASSERT compiled
// out) and -O2, so a check that only an assertion made is seen missing here.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "lorakit/runtime/adapter.hpp"

#ifndef NDEBUG
#error "tests/release must be compiled with NDEBUG"
#endif

using lorakit::AdapterModule;
using lorakit::AdapterTensor;
using lorakit::DType;
using lorakit::Errc;
using lorakit::Shape;

TEST_CASE("release: a float view of a 16-bit tensor is refused, not garbage", "[release]") {
  const std::vector<std::uint16_t> halves(4 * 2, 0x3c00);  // 1.0 in F16
  for (DType dtype : {DType::f16, DType::bf16}) {
    INFO(lorakit::to_string(dtype));
    const AdapterTensor t{dtype, Shape{4, 2},
                          std::as_bytes(std::span<const std::uint16_t>(halves))};
    try {
      (void)t.view();
      FAIL("view() of a " << lorakit::to_string(dtype) << " tensor returned");
    } catch (const lorakit::Error& e) {
      CHECK(e.code() == Errc::unsupported_dtype);
    }
    AdapterModule m;
    m.a = t;
    m.b = AdapterTensor{dtype, Shape{2, 4}, t.bytes};
    m.rank = 2;
    CHECK_THROWS_AS(lorakit::Adapter::weights(m), lorakit::Error);
  }
  const std::vector<float> floats(8, 1.0f);
  const AdapterTensor f{DType::f32, Shape{4, 2}, std::as_bytes(std::span<const float>(floats))};
  CHECK(f.view()(3, 1) == 1.0f);
}
