// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: load_adapter on files written from the input, the way a host meets them on
// disk. The first byte picks the layout: a single file (GGUF or anything else), a PEFT folder
// or an mlx-lm folder (the rest split as in fuzz_input.hpp).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_input.hpp"
#include "lorakit/io/load.hpp"

namespace {

const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("lorakit-fuzz-" + std::to_string(static_cast<long>(::getpid())));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write(const std::filesystem::path& path, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  if (size == 0) return 0;
  const std::filesystem::path& dir = work_dir();
  std::error_code ec;
  for (const char* name :
       {"adapter", "adapter_config.json", "adapter_model.safetensors", "adapters.safetensors"}) {
    std::filesystem::remove(dir / name, ec);
  }
  std::filesystem::path target;
  switch (data[0] % 3) {
    case 0:
      target = dir / "adapter";
      write(target, data + 1, size - 1);
      break;
    default: {
      const fuzz::TwoFiles files = fuzz::split(data + 1, size - 1);
      write(dir / "adapter_config.json", files.config.data(), files.config.size());
      const char* tensors = data[0] % 3 == 1 ? "adapter_model.safetensors" : "adapters.safetensors";
      write(dir / tensors, files.tensors.data(), files.tensors.size());
      target = dir;
    }
  }
  try {
    fuzz::check(*io::load_adapter(target));
  } catch (const Error&) {
  }
  return 0;
}
