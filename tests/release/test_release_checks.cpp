// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Promises that must hold in a release build: compiled with NDEBUG (LORAKIT_ASSERT compiled
// out) and -O2, so a check that only an assertion made is seen missing here.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "reference.hpp"

#ifndef NDEBUG
#error "tests/release must be compiled with NDEBUG"
#endif

using lorakit::AdapterModule;
using lorakit::AdapterTensor;
using lorakit::DType;
using lorakit::Errc;
using lorakit::Shape;

TEST_CASE("release: a float view of a 16-bit tensor is refused, and typed views read it",
          "[release]") {
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
    // The weights carry their stored type: they read as 1.0, never as reinterpreted floats.
    const lorakit::LoRA::Weights w = lorakit::Adapter::weights(m);
    CHECK(w.a.dtype() == dtype);
    CHECK(w.b.dtype() == dtype);
    CHECK(w.a(3, 1) ==
          (dtype == DType::f16 ? 1.0f : lorakit::BFloat16::from_bits(0x3c00).to_float()));
    // A dtype the kernels cannot read is refused in every build.
    AdapterModule q = m;
    q.a.dtype = DType::i16;
    CHECK_THROWS_AS(lorakit::Adapter::weights(q), lorakit::Error);
  }
  const std::vector<float> floats(8, 1.0f);
  const AdapterTensor f{DType::f32, Shape{4, 2}, std::as_bytes(std::span<const float>(floats))};
  CHECK(f.view()(3, 1) == 1.0f);
}

TEST_CASE("release: forward with a workspace too short (or none) is correct, not an overflow",
          "[release]") {
  using Layer = lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA>;
  using namespace lorakit::test;
  using lorakit::RowMatrix;
  const lorakit::Index in = 24;
  const lorakit::Index out = 17;
  const lorakit::Index n = 70;  // more rows than one stack block holds at r = 8
  // r = 600 needs more than the 512-float stack buffer: the rank goes in chunks.
  const lorakit::Index r = GENERATE(lorakit::Index{8}, lorakit::Index{600});
  const lorakit::Index floats = GENERATE(lorakit::Index{0}, lorakit::Index{3});
  CAPTURE(r, floats);
  const RowMatrix w = random_matrix(out, in, 1);
  const auto lora = make_lora(in, out, r, 16.0f, 2);
  Layer layer(lorakit::DenseLinear<const float>(w.data(), in, out),
              Layer::Options{.max_rank = 1024});
  layer.attach("a", lora->weights(), lora->params, 0.5f, lora);
  const RowMatrix x = random_matrix(n, in, 3);
  RowMatrix y(n, out);
  lorakit::Workspace ws(floats);  // 0: never sized; 3: sized for a smaller layer
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);
  const double s = 0.5 * 16.0 / static_cast<double>(r);
  const Reference ref =
      dense_reference(lorakit::make_cview(x), lorakit::make_cview(w), true, {},
                      {RefAdapter{lorakit::make_view(lora->a), lorakit::make_view(lora->b), s}});
  check_close(ref, lorakit::make_cview(y), "forward, short workspace");
}
