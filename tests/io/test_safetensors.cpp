// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// safetensors: round trips, every malformed header the reader must refuse, real files.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "files.hpp"
#include "lorakit/io/safetensors.hpp"
#include "malformed_safetensors.hpp"

using lorakit::DType;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Shape;
using lorakit::io::FileBytes;
using lorakit::io::SafetensorsFile;
using namespace lorakit::test;

namespace {

SafetensorsFile parse(std::vector<std::byte> bytes, const lorakit::io::ReadLimits& limits = {}) {
  return SafetensorsFile::parse(FileBytes::from_buffer(std::move(bytes), "test.safetensors"),
                                limits);
}

std::vector<std::byte> as_bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * sizeof(float));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace

TEST_CASE("safetensors: written tensors read back with their names, dtypes, shapes and bytes",
          "[io][safetensors]") {
  const std::vector<std::byte> f32 = as_bytes(values(15, 1));
  const std::vector<std::byte> f16(8, std::byte{0x3c});
  const std::vector<std::byte> i64(8, std::byte{7});
  std::vector<lorakit::io::TensorToWrite> in = {
      {"z.lora_B.weight", DType::f32, Shape{3, 5}, f32},
      {"a.half", DType::f16, Shape{2, 2}, f16},
      {"m.count", DType::i64, Shape{1}, i64},
      {"e.empty", DType::f32, Shape{0, 3}, {}},
  };
  const auto bytes =
      lorakit::io::serialize_safetensors(in, std::map<std::string, std::string>{{"format", "pt"}});
  CHECK(bytes == lorakit::io::serialize_safetensors(
                     in, std::map<std::string, std::string>{{"format", "pt"}}));  // deterministic
  std::uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  CHECK(header % 8 == 0);

  const SafetensorsFile file = parse(bytes);
  REQUIRE(file.tensors().size() == 4);
  CHECK(file.tensors()[0].name == "a.half");  // sorted by name
  CHECK(file.tensors()[3].name == "z.lora_B.weight");
  const auto* t = file.find("z.lora_B.weight");
  REQUIRE(t != nullptr);
  CHECK(t->dtype == DType::f32);
  CHECK(t->shape == Shape{3, 5});
  REQUIRE(t->bytes.size() == f32.size());
  CHECK(std::memcmp(t->bytes.data(), f32.data(), f32.size()) == 0);
  CHECK(file.find("e.empty")->bytes.empty());
  CHECK(file.find("m.count")->dtype == DType::i64);
  CHECK(file.find("nope") == nullptr);
  REQUIRE(file.metadata().has_value());
  CHECK(file.metadata()->at("format") == "pt");
  // Data is laid out in key order with no gaps.
  CHECK(file.find("a.half")->begin == 0);
  CHECK(file.find("e.empty")->begin == 8);
  CHECK(file.find("m.count")->begin == 8);
  CHECK(file.find("z.lora_B.weight")->begin == 16);
}

TEST_CASE("safetensors: a header whose length is not a multiple of 8 and null metadata load",
          "[io][safetensors]") {
  const std::string header =
      R"({"__metadata__":null,"b":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
      R"("a":{"dtype":"BF16","shape":[1,3],"data_offsets":[8,14]}})";
  REQUIRE(header.size() % 8 != 0);
  const SafetensorsFile file = parse(raw_safetensors(header, 14));
  CHECK_FALSE(file.metadata().has_value());
  REQUIRE(file.tensors().size() == 2);
  CHECK(file.find("a")->dtype == DType::bf16);
  CHECK(file.find("a")->bytes.size() == 6);
  CHECK(file.find("b")->bytes[0] == std::byte{0});
  CHECK(file.find("a")->bytes[0] == std::byte{8});
  CHECK(file.data_offset() == 8 + header.size());
}

TEST_CASE("safetensors: every malformed file is refused with a clear error", "[io][safetensors]") {
  const std::vector<MalformedCase> cases = malformed_safetensors();
  int per_tensor = 0;
  for (const MalformedCase& c : cases) {
    INFO(c.what);
    try {
      (void)parse(c.bytes);
      FAIL_CHECK("no error for: " << c.what);
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.code() == c.code);
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(c.fragment));
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("test.safetensors"));
      if (!e.context().tensor.empty()) {  // a per-tensor problem names its tensor
        CHECK_THAT(std::string(e.what()),
                   Catch::Matchers::Contains("tensor '" + e.context().tensor + "'"));
      }
      per_tensor += e.context().tensor.empty() ? 0 : 1;
    }
  }
  CHECK(per_tensor >= 14);  // every case after the header-level ones names a tensor
}

TEST_CASE("safetensors: every bad tensor of a file is listed in one error", "[io][safetensors]") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"Q4","shape":[2],"data_offsets":[8,16]},)"
                             R"("c":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
  try {
    (void)parse(raw_safetensors(header, 24));
    FAIL("no error");
  } catch (const Error& e) {
    REQUIRE(e.problems().size() == 2);
    CHECK(e.problems()[0].context.tensor == "a");
    CHECK(e.problems()[1].context.tensor == "b");
  }
}

TEST_CASE("safetensors: resource limits are checked before anything is allocated",
          "[io][safetensors]") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  lorakit::io::ReadLimits tensors;
  tensors.max_tensors = 1;
  CHECK_THROWS_MATCHES(parse(raw_safetensors(header, 16), tensors), Error,
                       Catch::Matchers::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::limit_exceeded; }));
  lorakit::io::ReadLimits dim;
  dim.max_dim = 1;
  CHECK_THROWS_MATCHES(parse(raw_safetensors(header, 16), dim), Error,
                       Catch::Matchers::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::limit_exceeded; }));
  lorakit::io::ReadLimits rank;
  rank.max_rank = 0;
  CHECK_THROWS_MATCHES(parse(raw_safetensors(header, 16), rank), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.code() == Errc::limit_exceeded &&
                                std::string(e.what()).find("1 dimensions, above the limit 0") !=
                                    std::string::npos;
                       }));
  lorakit::io::ReadLimits small_header;
  small_header.max_header_bytes = 16;
  CHECK_THROWS_MATCHES(parse(raw_safetensors(header, 16), small_header), Error,
                       Catch::Matchers::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::limit_exceeded; }));
  CHECK(parse(raw_safetensors(header, 16)).tensors().size() == 2);
}

TEST_CASE("safetensors: a million-deep nested header is refused without a stack overflow",
          "[io][safetensors]") {
  // 1M levels: a recursive parser or destructor would need far more than an 8 MiB stack.
  const std::size_t depth = 1'000'000;
  const std::string header = "{\"t\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  CHECK_THROWS_MATCHES(parse(raw_safetensors(header, 0)), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return e.code() == Errc::bad_format &&
                                std::string(e.what()).find("tensor 't': entry is not an object") !=
                                    std::string::npos;
                       }));
}

TEST_CASE("safetensors: a missing file is an io error naming it", "[io][safetensors]") {
  TempDir dir;
  try {
    (void)SafetensorsFile::open(dir / "absent.safetensors");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::io);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("absent.safetensors"));
  }
}

TEST_CASE("safetensors: files written by PEFT and mlx-lm open and validate",
          "[io][safetensors][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(fixtures_dir())) {
    if (entry.path().extension() != ".safetensors") continue;
    INFO(entry.path().string());
    const SafetensorsFile file = SafetensorsFile::open(entry.path());
    CHECK(!file.tensors().empty());
    CHECK(file.storage()->is_mapped());
    for (const auto& t : file.tensors()) {
      CHECK(t.bytes.data() >= file.storage()->bytes().data());
      CHECK(t.bytes.data() + t.bytes.size() <=
            file.storage()->bytes().data() + file.storage()->bytes().size());
    }
    ++files;
  }
  CHECK(files >= 14);
  const SafetensorsFile mlx =
      SafetensorsFile::open(fixtures_dir() / "mlx/mlx-qwen25-05b/adapters.safetensors");
  CHECK_FALSE(mlx.metadata().has_value());  // "__metadata__": null
  CHECK(mlx.data_offset() == 8 + 1684);     // a header length that is not a multiple of 8
}
