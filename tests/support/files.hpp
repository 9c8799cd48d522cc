// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Test files: temporary directories, raw safetensors bytes, PEFT / mlx-lm directories written
// from values, and the shared fixtures folder.
#pragma once

#include <unistd.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/safetensors.hpp"
#include "raw_bytes.hpp"

namespace lorakit::test {

/// A fresh directory under the system temp directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("lorakit-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

/// A tensor to put in a generated file: values are given as floats and stored as `dtype`.
struct TensorValues {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::vector<float> values;
};

/// Writes tensors (encoded to their dtypes) as a safetensors file.
inline void write_tensors(const std::filesystem::path& path, const std::vector<TensorValues>& ts) {
  std::vector<std::vector<std::byte>> buffers;
  buffers.reserve(ts.size());
  std::vector<io::TensorToWrite> out;
  for (const TensorValues& t : ts) {
    buffers.emplace_back(t.values.size() * static_cast<std::size_t>(size_of(t.dtype)));
    io::encode_floats(t.dtype, t.values.data(), t.values.size(), buffers.back().data());
    out.push_back({t.name, t.dtype, t.shape, buffers.back()});
  }
  io::write_safetensors(path, std::move(out));
}

/// n deterministic values in [-1, 1).
inline std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 747796405u + 2891336453u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) * 0x1p-23f - 1.0f;
  }
  return v;
}

/// The shared fixtures folder written by real tools, or an empty path when it is absent.
inline std::filesystem::path fixtures_dir() {
  const std::filesystem::path p = LORAKIT_FIXTURES_DIR;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path();
}

}  // namespace lorakit::test

/// Skips the current test (with a message) when the shared fixtures are absent.
#define LORAKIT_REQUIRE_FIXTURES()                                       \
  do {                                                                   \
    if (lorakit::test::fixtures_dir().empty()) {                         \
      WARN("skipped: shared fixtures not found at " LORAKIT_FIXTURES_DIR \
           " (configure with -DLORAKIT_FIXTURES_DIR=...)");              \
      return;                                                            \
    }                                                                    \
  } while (false)
