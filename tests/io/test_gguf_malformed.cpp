// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Malformed GGUF files, each built from one valid adapter by changing one field: every one must
// give a lorakit::Error naming the file and the key or tensor, never a crash or a big allocation.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/io/gguf_adapter.hpp"

using lorakit::Errc;
using lorakit::Error;
namespace io = lorakit::io;

namespace {

using Bytes = std::vector<std::byte>;

template <class T>
void put(Bytes& b, T v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
void put_string(Bytes& b, std::string_view s) {
  put<std::uint64_t>(b, s.size());
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  b.insert(b.end(), p, p + s.size());
}

// One key/value pair, raw: key, type id, payload.
Bytes pair(std::string_view key, std::uint32_t type, const Bytes& payload) {
  Bytes b;
  put_string(b, key);
  put<std::uint32_t>(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}
Bytes string_value(std::string_view s) {
  Bytes b;
  put_string(b, s);
  return b;
}
template <class T>
Bytes scalar(T v) {
  Bytes b;
  put(b, v);
  return b;
}

struct TensorInfo {
  std::string name;
  std::vector<std::uint64_t> ne;
  std::uint32_t type = 0;  // F32
  std::uint64_t offset = 0;
};

// A GGUF file assembled field by field, so that a case can change any one of them.
struct Raw {
  std::uint32_t version = 3;
  std::optional<std::uint64_t> n_tensors;  // default: tensors.size()
  std::optional<std::uint64_t> n_kv;       // default: kv.size()
  std::vector<Bytes> kv;
  std::vector<TensorInfo> tensors;
  std::uint32_t alignment = 32;
  Bytes data;

  [[nodiscard]] Bytes bytes() const {
    Bytes b{std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}};
    put<std::uint32_t>(b, version);
    put<std::uint64_t>(b, n_tensors.value_or(tensors.size()));
    put<std::uint64_t>(b, n_kv.value_or(kv.size()));
    for (const Bytes& p : kv) b.insert(b.end(), p.begin(), p.end());
    for (const TensorInfo& t : tensors) {
      put_string(b, t.name);
      put<std::uint32_t>(b, static_cast<std::uint32_t>(t.ne.size()));
      for (std::uint64_t n : t.ne) put<std::uint64_t>(b, n);
      put<std::uint32_t>(b, t.type);
      put<std::uint64_t>(b, t.offset);
    }
    b.resize(b.size() + (alignment - b.size() % alignment) % alignment, std::byte{0});
    b.insert(b.end(), data.begin(), data.end());
    return b;
  }
};

// A valid adapter: blk.0.attn_v lora_a F32 ne [8, 2] and lora_b F32 ne [2, 4], alpha 4.
Raw valid() {
  Raw r;
  r.kv = {pair("general.architecture", 8, string_value("llama")),
          pair("general.type", 8, string_value("adapter")),
          pair("adapter.type", 8, string_value("lora")),
          pair("adapter.lora.alpha", 6, scalar(4.0f))};
  r.tensors = {{"blk.0.attn_v.weight.lora_a", {8, 2}, 0, 0},
               {"blk.0.attn_v.weight.lora_b", {2, 4}, 0, 64}};
  std::vector<float> values(24, 0.5f);
  r.data.resize(96);
  std::memcpy(r.data.data(), values.data(), 96);
  return r;
}

std::shared_ptr<const lorakit::Adapter> load(const Bytes& bytes,
                                             const io::LoadOptions& options = {},
                                             const io::GgufLoadOptions& gguf = {}) {
  return io::load_gguf(io::FileBytes::from_buffer(bytes, "case.gguf"), options, gguf);
}

struct Expect {
  Errc code;
  std::string key;     // e.context().key, when not empty
  std::string tensor;  // e.context().tensor, when not empty
  std::string text;    // a part of e.what()
};

void expect_error(const std::string& name, const Bytes& bytes, const Expect& want,
                  const io::LoadOptions& options = {}, const io::GgufLoadOptions& gguf = {}) {
  INFO("case: " << name << " (" << bytes.size() << " bytes)");
  try {
    (void)load(bytes, options, gguf);
    FAIL_CHECK("no error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == want.code);
    CHECK(e.context().file == "case.gguf");
    if (!want.key.empty()) CHECK(e.context().key == want.key);
    if (!want.tensor.empty()) CHECK(e.context().tensor == want.tensor);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(want.text));
  }
}

constexpr std::uint64_t kHuge = std::uint64_t{1} << 63;
const std::string kA = "blk.0.attn_v.weight.lora_a";
const std::string kB = "blk.0.attn_v.weight.lora_b";

}  // namespace

TEST_CASE("GGUF malformed: the valid file loads, and every truncation of it is an error",
          "[io][gguf][malformed]") {
  const Bytes good = valid().bytes();
  const auto adapter = load(good);
  REQUIRE(adapter->find("model.layers.0.self_attn.v_proj") != nullptr);
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n << " of " << good.size() << " bytes");
    try {
      (void)load(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
      FAIL_CHECK("no error");
    } catch (const Error& e) {
      CHECK((e.code() == Errc::bad_format));
      CHECK(e.context().file == "case.gguf");
    }
  }
}

TEST_CASE("GGUF malformed: versions, byte order and counts", "[io][gguf][malformed]") {
  Raw r = valid();
  r.version = 1;
  expect_error("version 1", r.bytes(), {Errc::unsupported, "", "", "GGUF version 1"});
  r.version = 4;
  expect_error("version 4", r.bytes(), {Errc::unsupported, "", "", "GGUF version 4"});
  r.version = 0x03000000;
  expect_error("big-endian", r.bytes(), {Errc::unsupported, "", "", "big-endian"});

  // CVE-2024-23605's pattern: a count whose allocation overflows; here it is refused first.
  r = valid();
  r.n_kv = kHuge;
  expect_error("kv count 2^63", r.bytes(), {Errc::limit_exceeded, "", "", "key/value pairs"});
  r = valid();
  r.n_kv = std::uint64_t{1} << 61;
  expect_error("kv count 2^61", r.bytes(), {Errc::limit_exceeded, "", "", "key/value pairs"});
  r = valid();
  r.n_tensors = kHuge;
  expect_error("tensor count 2^63", r.bytes(), {Errc::limit_exceeded, "", "", "tensors"});
  r = valid();
  r.n_tensors = 100'000;  // under the limit, more than the file can hold
  expect_error("tensor count past the file", r.bytes(), {Errc::bad_format, "", "", "can hold"});
  r = valid();
  r.tensors.clear();
  r.data.clear();
  r.alignment = 1;  // the file ends right after the fourth pair
  r.n_kv = 5;
  expect_error("kv count past the pairs", r.bytes(), {Errc::bad_format, "", "", "needs"});
  r = valid();
  io::ReadLimits few;
  few.max_tensors = 1;
  io::LoadOptions options;
  options.limits = few;
  expect_error("configured tensor limit", r.bytes(),
               {Errc::limit_exceeded, "", "", "above the limit of 1"}, options);
}

TEST_CASE("GGUF malformed: strings, arrays and nesting", "[io][gguf][malformed]") {
  Raw r = valid();
  Bytes key;
  put<std::uint64_t>(key, std::numeric_limits<std::uint64_t>::max());  // CVE-2024-23605
  r.kv.insert(r.kv.begin(), key);
  expect_error("key length 2^64 - 1", r.bytes(), {Errc::limit_exceeded, "", "", "string of"});
  r = valid();
  Bytes long_key;
  put<std::uint64_t>(long_key, 5000);
  r.kv.push_back(long_key);
  expect_error("key length past the end", r.bytes(), {Errc::bad_format, "", "", "needs 5000"});
  r = valid();
  r.kv.push_back(pair("x.s", 8, scalar<std::uint64_t>(1'000'000)));
  expect_error("string value past the end", r.bytes(), {Errc::bad_format, "x.s", "", "needs"});

  Bytes u8s;
  put<std::uint32_t>(u8s, 0);
  put<std::uint64_t>(u8s, std::uint64_t{1} << 40);
  r = valid();
  r.kv.push_back(pair("x.a", 9, u8s));
  expect_error("u8 array of 2^40", r.bytes(), {Errc::limit_exceeded, "x.a", "", "array of"});
  Bytes u64s;
  put<std::uint32_t>(u64s, 10);
  put<std::uint64_t>(u64s, std::uint64_t{1} << 26);  // 2^29 bytes the file does not have
  r = valid();
  r.kv.push_back(pair("x.a", 9, u64s));
  expect_error("u64 array past the end", r.bytes(), {Errc::bad_format, "x.a", "", "needs"});
  Bytes strs;
  put<std::uint32_t>(strs, 8);
  put<std::uint64_t>(strs, 10'000'000);
  r = valid();
  r.kv.push_back(pair("x.a", 9, strs));
  expect_error("string array past the end", r.bytes(), {Errc::bad_format, "x.a", "", "needs"});

  // Arrays of arrays: 17 levels, and a million levels of array headers.
  for (const std::size_t depth : {std::size_t{17}, std::size_t{1'000'000}}) {
    Bytes nested;
    for (std::size_t i = 0; i < depth; ++i) {
      put<std::uint32_t>(nested, 9);
      put<std::uint64_t>(nested, 1);
    }
    put<std::uint32_t>(nested, 4);
    put<std::uint64_t>(nested, 0);
    r = valid();
    r.kv.push_back(pair("x.deep", 9, nested));
    expect_error("nested " + std::to_string(depth), r.bytes(),
                 {Errc::limit_exceeded, "x.deep", "", "nested deeper than 16"});
  }

  r = valid();
  r.kv.push_back(pair("x.t", 13, {}));
  expect_error("value type 13", r.bytes(), {Errc::bad_format, "x.t", "", "not a GGUF type"});
  r = valid();
  r.kv.push_back(pair("x.t", 0xFFFFFFFFu, {}));
  expect_error("value type 2^32 - 1", r.bytes(), {Errc::bad_format, "x.t", "", "not a GGUF type"});
  Bytes bad_elements;
  put<std::uint32_t>(bad_elements, 13);
  put<std::uint64_t>(bad_elements, 1);
  r = valid();
  r.kv.push_back(pair("x.t", 9, bad_elements));
  expect_error("array element type 13", r.bytes(),
               {Errc::bad_format, "x.t", "", "not a GGUF type"});
  r = valid();
  r.kv.push_back(pair("general.type", 8, string_value("adapter")));
  expect_error("duplicate key", r.bytes(), {Errc::bad_format, "general.type", "", "twice"});
}

TEST_CASE("GGUF malformed: tensor infos, alignment and offsets", "[io][gguf][malformed]") {
  Raw r = valid();
  r.tensors[0].ne = {};
  expect_error("n_dims 0", r.bytes(), {Errc::bad_format, "", kA, "0 dimensions"});
  r = valid();
  r.tensors[0].ne = {8, 2, 1, 1, 1};
  expect_error("n_dims 5", r.bytes(), {Errc::bad_format, "", kA, "5 dimensions"});
  // CVE-2024-21802's pattern: dimensions whose product overflows the size computation.
  r = valid();
  r.tensors[0].ne = {std::uint64_t{1} << 32, std::uint64_t{1} << 32, 4};
  expect_error("ne product wraps", r.bytes(), {Errc::bad_format, "", kA, "overflows"});
  r = valid();
  r.tensors[0].ne = {std::uint64_t{1} << 62, 4};
  expect_error("ne above max_dim", r.bytes(), {Errc::limit_exceeded, "", kA, "exceeds"});
  r = valid();
  r.tensors[0].ne = {std::uint64_t{1} << 39, std::uint64_t{1} << 39};  // 2^78 values
  expect_error("ne product above 2^63", r.bytes(), {Errc::bad_format, "", kA, "overflows"});
  r = valid();
  r.tensors[0].ne = {std::uint64_t{1} << 36, std::uint64_t{1} << 26};  // 2^62 F32: 2^64 bytes
  expect_error("byte count above 2^64", r.bytes(), {Errc::bad_format, "", kA, "past the end"});
  r = valid();
  r.tensors[0].type = 8;  // Q8_0, ne[0] = 8 is not a multiple of 32
  expect_error("Q8_0 ne[0] = 8", r.bytes(), {Errc::bad_format, "", kA, "block of 32"});
  for (const std::uint32_t type : {4u, 31u, 1000u}) {
    r = valid();
    r.tensors[1].type = type;
    expect_error("ggml type " + std::to_string(type), r.bytes(),
                 {Errc::bad_format, "", kB, "not a known type"});
  }
  r = valid();
  r.tensors[1].offset = 48;
  expect_error("unaligned offset", r.bytes(), {Errc::bad_format, "", kB, "not a multiple"});
  r = valid();
  r.tensors[1].offset = 32;
  expect_error("overlapping tensors", r.bytes(), {Errc::bad_format, "", kB, "overlaps"});
  r = valid();
  r.tensors[1].offset = 96;
  expect_error("tensor past the data", r.bytes(), {Errc::bad_format, "", kB, "past the end"});
  // CVE-2025-53630's pattern: an offset near 2^64, so that offset + size wraps.
  r = valid();
  r.tensors[1].offset = std::numeric_limits<std::uint64_t>::max() - 31;
  expect_error("offset + size wraps", r.bytes(), {Errc::bad_format, "", kB, "past the end"});
  r = valid();
  r.tensors[1].name = kA;
  expect_error("duplicate tensor name", r.bytes(), {Errc::bad_format, "", kA, "twice"});

  for (const std::uint32_t a : {0u, 3u}) {
    r = valid();
    r.kv.push_back(pair("general.alignment", 4, scalar(a)));
    expect_error("alignment " + std::to_string(a), r.bytes(),
                 {Errc::bad_format, "general.alignment", "", "power of two"});
  }
  r = valid();
  r.kv.push_back(pair("general.alignment", 4, scalar(std::uint32_t{1} << 31)));
  expect_error("alignment 2^31", r.bytes(),
               {Errc::bad_format, "general.alignment", "", "past the end"});
  r = valid();
  r.kv.push_back(pair("general.alignment", 10, scalar(std::uint64_t{32})));
  expect_error("alignment as UINT64", r.bytes(),
               {Errc::bad_format, "general.alignment", "", "holds UINT64"});
  r = valid();
  r.kv.push_back(pair("general.alignment", 8, string_value("32")));
  expect_error("alignment as STRING", r.bytes(),
               {Errc::bad_format, "general.alignment", "", "holds STRING"});
}

TEST_CASE("GGUF malformed: adapters that are not, and adapter tensors that do not pair",
          "[io][gguf][malformed]") {
  // adapter.lora.alpha of another type (llama.cpp aborts the process on this one).
  Raw r = valid();
  r.kv[3] = pair("adapter.lora.alpha", 8, string_value("16"));
  expect_error("alpha as STRING", r.bytes(),
               {Errc::bad_format, "adapter.lora.alpha", "", "holds STRING, expected FLOAT32"});
  r.kv[3] = pair("adapter.lora.alpha", 4, scalar(std::uint32_t{16}));
  expect_error("alpha as UINT32", r.bytes(),
               {Errc::bad_format, "adapter.lora.alpha", "", "holds UINT32"});
  r.kv[3] = pair("adapter.lora.alpha", 6, scalar(std::numeric_limits<float>::quiet_NaN()));
  expect_error("alpha NaN", r.bytes(), {Errc::bad_format, "adapter.lora.alpha", "", "finite"});
  r = valid();
  r.kv[1] = pair("general.type", 8, string_value("model"));
  expect_error("a model file", r.bytes(),
               {Errc::bad_format, "general.type", "", "this is a model file, not an adapter"});
  r = valid();
  r.kv.erase(r.kv.begin() + 1);
  expect_error("no general.type", r.bytes(), {Errc::bad_format, "general.type", "", "missing"});
  r = valid();
  r.kv[2] = pair("adapter.type", 8, string_value("ia3"));
  expect_error("adapter.type ia3", r.bytes(), {Errc::unsupported, "adapter.type", "", "'ia3'"});
  r = valid();
  r.tensors.pop_back();
  r.data.resize(64);
  expect_error("lora_a alone", r.bytes(), {Errc::missing_tensor, "", kA, "no lora_b partner"});
  r = valid();
  r.tensors[1].ne = {3, 4};
  r.data.resize(64 + 64);
  expect_error("ranks disagree", r.bytes(), {Errc::shape_mismatch, "", kB, "rank of lora_b"});
  r = valid();
  r.tensors[0].type = 12;  // Q4_K: 256 values per 144-byte block
  r.tensors[0].ne = {256, 2};
  r.tensors[1].offset = 288;
  r.data.resize(288 + 32);
  expect_error("Q4_K lora_a", r.bytes(), {Errc::unsupported_dtype, "", kA, "Q4_K"});
  r = valid();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(r.data.data() + 64, &nan, 4);
  expect_error("NaN in lora_b", r.bytes(), {Errc::non_finite, "", kB, "1 of 8"});
  r = valid();
  r.tensors[1].name = "blk.0.attn_v.weight.lora_c";
  expect_error("another suffix", r.bytes(),
               {Errc::unexpected_tensor, "", "blk.0.attn_v.weight.lora_c", "not a GGUF LoRA"});
}
