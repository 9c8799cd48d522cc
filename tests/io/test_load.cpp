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

TEST_CASE("loaders: an empty path is named as such, before anything is opened", "[io][load]") {
  // Without the check, load_peft("") would read ./adapter_config.json.
  const auto check = [](const char* what, auto&& call) {
    INFO(what);
    try {
      call();
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.code() == Errc::io);
      CHECK_THAT(e.what(), Catch::Matchers::StartsWith("[lorakit.io] <empty path>: no "));
    }
  };
  check("load_adapter", [] { (void)load_adapter(""); });
  check("detect_format", [] { (void)detect_format(""); });
  check("load_peft", [] { (void)lorakit::io::load_peft(""); });
  check("load_mlx", [] { (void)lorakit::io::load_mlx(""); });
  check("load_gguf", [] { (void)lorakit::io::load_gguf(std::filesystem::path()); });
  check("FileBytes::map", [] { (void)lorakit::io::FileBytes::map(""); });
  check("FileBytes::read", [] { (void)lorakit::io::FileBytes::read(""); });
}

TEST_CASE("loaders: a directory of GGUF files is called one, and the message says what to pass",
          "[io][load]") {
  TempDir tmp;
  for (const char* name : {"b.gguf", "a.gguf", "c.gguf", "d.gguf"}) {
    write_text(tmp / name, "GGUF");
  }
  try {
    (void)load_adapter(tmp.path());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_format);
    CHECK_THAT(e.what(),
               Catch::Matchers::Contains("a directory of GGUF files (it holds a.gguf, b.gguf, "
                                         "c.gguf and 1 more), not an adapter directory: pass the "
                                         "path of the .gguf file to load"));
  }
  try {
    (void)lorakit::io::load_gguf(tmp.path());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::io);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("a directory, not a GGUF file (it holds "));
    CHECK_THAT(e.what(), Catch::Matchers::Contains(tmp.path().string()));
  }
  try {
    (void)lorakit::io::FileBytes::map(tmp.path());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::EndsWith("a directory, not a file"));
  }
}
