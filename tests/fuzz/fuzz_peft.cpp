// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: load_peft on an adapter_config.json and an adapter_model.safetensors built
// from the input (see fuzz_input.hpp), kept as stored (f16/bf16) or converted to f32.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.hpp"
#include "lorakit/io/peft.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  fuzz::TwoFiles files = fuzz::split(data, size);
  auto tensors =
      io::FileBytes::from_buffer(std::move(files.tensors), "fuzz/adapter_model.safetensors");
  // Kept as stored or converted to f32, by the input's length: both paths, one load a run.
  try {
    const auto adapter = io::load_peft(files.config, tensors, "fuzz",
                                       io::LoadOptions{.convert_to_f32 = size % 2 == 0});
    fuzz::check(*adapter);
  } catch (const Error&) {
  }
  return 0;
}
