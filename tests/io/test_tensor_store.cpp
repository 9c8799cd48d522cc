// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// TensorStore: every transpose, reorder and conversion path against an element-by-element
// definition, on shapes that are not multiples of the 4 x 4 and 32 x 32 tiles, from unaligned
// bytes; one buffer per load when reserved; non-finite counts from the exponent bits.
#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "lorakit/detail/tensor_store.hpp"
#include "random.hpp"

namespace {

using lorakit::AdapterTensor;
using lorakit::BFloat16;
using lorakit::DType;
using lorakit::Float16;
using lorakit::Index;
using lorakit::detail::TensorStore;

// `count` elements of `dtype` with random bits of finite values, stored at `offset` bytes into
// the returned buffer (offset 1 makes every element unaligned).
std::vector<std::byte> random_elements(DType dtype, std::size_t count, std::size_t offset,
                                       std::uint64_t seed) {
  lorakit::test::Random rng(seed);
  const auto size = static_cast<std::size_t>(lorakit::size_of(dtype));
  std::vector<std::byte> out(offset + count * size);
  for (std::size_t i = 0; i < count; ++i) {
    const float v = rng.uniform();
    std::byte* at = out.data() + offset + i * size;
    if (dtype == DType::f32) {
      std::memcpy(at, &v, 4);
    } else if (dtype == DType::f64) {
      const double d = static_cast<double>(v) / 3.0;
      std::memcpy(at, &d, 8);
    } else {
      const std::uint16_t b =
          dtype == DType::f16 ? Float16::from_float(v).bits : BFloat16::from_float(v).bits;
      std::memcpy(at, &b, 2);
    }
  }
  return out;
}

// Element i of `bytes` (stored as `dtype`) as float.
float element(DType dtype, const std::byte* bytes, std::size_t i) {
  float v = 0.0f;
  lorakit::io::decode_floats(dtype, bytes + i * static_cast<std::size_t>(lorakit::size_of(dtype)),
                             1, &v);
  return v;
}

// Checks every element of `t` against src:(rows, cols) transposed (or not) with the result's
// columns taken in `order`: t[r, c] = S[r, order[c]] where S is src or its transpose.
void check_arranged(const AdapterTensor& t, DType src_dtype, const std::byte* src, Index rows,
                    Index cols, bool transpose, const std::vector<Index>& order) {
  const Index out_rows = transpose ? cols : rows;
  const Index out_cols = transpose ? rows : cols;
  REQUIRE(t.rows() == out_rows);
  REQUIRE(t.cols() == out_cols);
  for (Index r = 0; r < out_rows; ++r) {
    for (Index c = 0; c < out_cols; ++c) {
      const Index from_c = order.empty() ? c : order[static_cast<std::size_t>(c)];
      const Index src_index = transpose ? from_c * cols + r : r * cols + from_c;
      const float expected = element(src_dtype, src, static_cast<std::size_t>(src_index));
      const float actual =
          element(t.dtype, t.bytes.data(), static_cast<std::size_t>(r * out_cols + c));
      if (std::bit_cast<std::uint32_t>(expected) != std::bit_cast<std::uint32_t>(actual)) {
        FAIL_CHECK("shape (" << out_rows << ", " << out_cols << ") at [" << r << ", " << c
                             << "]: expected " << expected << ", got " << actual);
        return;
      }
    }
  }
}

// A fixed, non-trivial permutation of 0..n-1.
std::vector<Index> shuffled(Index n) {
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  lorakit::test::Random rng(static_cast<std::uint64_t>(n) * 7 + 1);
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng.next() % i]);
  }
  return order;
}

}  // namespace

TEST_CASE(
    "TensorStore: transposes, reorders and converts exactly on ragged shapes and "
    "unaligned bytes",
    "[io][tensor_store]") {
  const DType dtype = GENERATE(DType::f32, DType::f16, DType::bf16, DType::f64);
  const bool to_f32 = GENERATE(false, true);
  const bool transpose = GENERATE(false, true);
  const bool reorder = GENERATE(false, true);
  const std::size_t offset = GENERATE(std::size_t{0}, std::size_t{1});
  const auto [rows, cols] = GENERATE(table<Index, Index>(
      {{1, 1}, {3, 5}, {4, 4}, {16, 37}, {37, 16}, {33, 70}, {70, 33}, {64, 128}}));
  INFO("dtype " << lorakit::to_string(dtype) << " to_f32 " << to_f32 << " transpose " << transpose
                << " reorder " << reorder << " offset " << offset << " shape (" << rows << ", "
                << cols << ")");
  const auto count = static_cast<std::size_t>(rows * cols);
  const std::vector<std::byte> bytes = random_elements(dtype, count, offset, 42 + count);
  const std::span<const std::byte> src(bytes.data() + offset, bytes.size() - offset);
  const std::vector<Index> order =
      reorder ? shuffled(transpose ? rows : cols) : std::vector<Index>{};

  TensorStore store;
  const std::size_t need =
      TensorStore::footprint(dtype, rows, cols, src, transpose, to_f32, false, reorder);
  store.reserve(need);
  const AdapterTensor t = store.make(dtype, rows, cols, src, transpose, to_f32, false, order);
  const bool converts = dtype == DType::f64 || (to_f32 && dtype != DType::f32);
  CHECK(t.dtype == (converts ? DType::f32 : dtype));
  check_arranged(t, dtype, src.data(), rows, cols, transpose, order);

  const bool in_place = need == 0;
  CHECK(in_place == (t.bytes.data() == src.data()));
  if (in_place) {
    // Only an untouched tensor is viewed: F32 only where its bytes are aligned.
    CHECK_FALSE(transpose);
    CHECK_FALSE(reorder);
    CHECK_FALSE(converts);
    CHECK((dtype != DType::f32 || offset == 0));
  }
  // The reserved buffer holds the tensor: release() hands over exactly one owned buffer.
  CHECK(store.release().size() == (in_place ? 0u : 1u));
}

TEST_CASE("TensorStore: a reserved buffer holds every tensor of a load, 64-byte aligned",
          "[io][tensor_store]") {
  const std::vector<std::byte> a = random_elements(DType::f16, 16 * 300, 0, 1);
  const std::vector<std::byte> b = random_elements(DType::f32, 300 * 16, 0, 2);
  TensorStore store;
  store.reserve(TensorStore::footprint(DType::f16, 16, 300, a, true, true) +
                TensorStore::footprint(DType::f32, 300, 16, b, true, true) +
                TensorStore::footprint_f32(3, 5));
  const AdapterTensor ta = store.make(DType::f16, 16, 300, a, true, true);
  const AdapterTensor tb = store.make(DType::f32, 300, 16, b, true, true);
  const float values[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const AdapterTensor tc = store.make_decoded(
      3, 5, [&](float* dst) { std::copy(values, values + 15, dst); }, true);
  for (const AdapterTensor* t : {&ta, &tb, &tc}) {
    CHECK(reinterpret_cast<std::uintptr_t>(t->bytes.data()) % 64 == 0);
  }
  check_arranged(ta, DType::f16, a.data(), 16, 300, true, {});
  check_arranged(tb, DType::f32, b.data(), 300, 16, true, {});
  check_arranged(tc, DType::f32, reinterpret_cast<const std::byte*>(values), 3, 5, true, {});
  CHECK(store.release().size() == 1u);
}

TEST_CASE("TensorStore: past its reservation each tensor gets a buffer of its own",
          "[io][tensor_store]") {
  const std::vector<std::byte> a = random_elements(DType::f32, 7 * 9, 0, 3);
  TensorStore store;
  store.reserve(64);  // room for one 7 x 9 f32 tensor? no: 252 bytes
  const AdapterTensor t1 = store.make(DType::f32, 7, 9, a, true, true);
  const AdapterTensor t2 = store.make(DType::f32, 7, 9, a, true, true);
  check_arranged(t1, DType::f32, a.data(), 7, 9, true, {});
  check_arranged(t2, DType::f32, a.data(), 7, 9, true, {});
  CHECK(store.release().size() == 3u);
}

TEST_CASE("count_non_finite: NaN and infinity in every float dtype, found from the exponent",
          "[io][tensor_store]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float values[] = {0.0f, -0.0f, 1.0f, inf, -inf, nan, 65504.0f, 1e-40f, -3.5f};
  constexpr std::size_t kBad = 3;
  for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::f64}) {
    INFO("dtype " << lorakit::to_string(dtype));
    const auto size = static_cast<std::size_t>(lorakit::size_of(dtype));
    std::vector<std::byte> bytes(1 + std::size(values) * size);
    for (std::size_t i = 0; i < std::size(values); ++i) {
      std::byte* at = bytes.data() + 1 + i * size;  // unaligned
      if (dtype == DType::f64) {
        const double d = values[i];
        std::memcpy(at, &d, 8);
      } else if (dtype == DType::f32) {
        std::memcpy(at, &values[i], 4);
      } else {
        lorakit::io::encode_floats(dtype, &values[i], 1, at);
      }
    }
    const std::span<const std::byte> span(bytes.data() + 1, bytes.size() - 1);
    CHECK(lorakit::detail::count_non_finite(dtype, span) == kBad);
    CHECK(lorakit::detail::count_non_finite(dtype, span.first(3 * size)) == 0u);
  }
}
