// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: load_mlx on an adapter_config.json and an adapters.safetensors built from
// the input (see fuzz_input.hpp).
#include <cstddef>
#include <cstdint>

#include "fuzz_input.hpp"
#include "lorakit/io/mlx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  fuzz::TwoFiles files = fuzz::split(data, size);
  auto tensors = io::FileBytes::from_buffer(std::move(files.tensors), "fuzz/adapters.safetensors");
  // Kept as stored or converted to f32, by the input's length: both paths, one load a run.
  try {
    const auto adapter = io::load_mlx(files.config, tensors, "fuzz",
                                      io::LoadOptions{.convert_to_f32 = size % 2 == 0});
    fuzz::check(*adapter);
  } catch (const Error&) {
  }
  return 0;
}
