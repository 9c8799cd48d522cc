// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// load_adapter: the format is recognised from the contents.
#include <catch2/catch.hpp>
#include <string>

#include "files.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::AdapterFormat;
using lorakit::Errc;
using lorakit::Error;
using lorakit::io::detect_format;
using lorakit::io::load_adapter;
using namespace lorakit::test;

TEST_CASE("load_adapter: PEFT, mlx-lm and GGUF are told apart by their contents",
          "[io][load][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto f = fixtures_dir();
  CHECK(detect_format(f / "peft/smollm2-135m-qv") == AdapterFormat::peft);
  CHECK(detect_format(f / "mlx/mlx-qwen25-05b") == AdapterFormat::mlx);
  CHECK(detect_format(f / "peft/smollm2-135m-qv/adapter_model.safetensors") == AdapterFormat::peft);
  CHECK(detect_format(f / "gguf/smollm2-135m-qv/smollm2-135m-qv-f32.gguf") == AdapterFormat::gguf);
  CHECK(load_adapter(f / "peft/smollm2-135m-qv")->info().format == AdapterFormat::peft);
  CHECK(load_adapter(f / "mlx/mlx-qwen25-05b")->info().format == AdapterFormat::mlx);
  const auto gguf = load_adapter(f / "gguf/smollm2-135m-qv/smollm2-135m-qv-f32.gguf");
  CHECK(gguf->info().format == AdapterFormat::gguf);
  CHECK(gguf->name() == "smollm2-135m-qv-f32");
  CHECK(gguf->modules().size() == 60);
}

TEST_CASE("load_adapter: a folder that is no adapter, or no folder at all, is refused",
          "[io][load]") {
  TempDir tmp;
  write_text(tmp / "notes.txt", "hello");
  try {
    (void)load_adapter(tmp.path());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_format);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(tmp.path().string()));
  }
  CHECK_THROWS_MATCHES(
      load_adapter(tmp / "absent"), Error,
      Catch::Matchers::Predicate<Error>([](const Error& e) { return e.code() == Errc::io; }));
}
