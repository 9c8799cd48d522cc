// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: the safetensors reader on arbitrary bytes. Every view it returns must lie
// inside the file; every failure must be a lorakit::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_input.hpp"
#include "lorakit/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  const auto* first = reinterpret_cast<const std::byte*>(data);
  auto bytes = io::FileBytes::from_buffer(std::vector<std::byte>(first, first + size), "fuzz");
  const std::byte* begin = bytes->bytes().data();
  const std::byte* end = begin + bytes->bytes().size();
  try {
    // Small limits as well as the defaults: the limit checks must hold at any setting.
    const io::ReadLimits limits =
        size % 2 == 0
            ? io::ReadLimits{}
            : io::ReadLimits{
                  .max_header_bytes = 4096, .max_tensors = 16, .max_rank = 3, .max_dim = 1 << 20};
    const io::SafetensorsFile file = io::SafetensorsFile::parse(bytes, limits);
    for (const io::TensorEntry& t : file.tensors()) {
      fuzz::require(t.bytes.empty() ||
                    (t.bytes.data() >= begin && t.bytes.data() + t.bytes.size() <= end));
      fuzz::require(t.end >= t.begin && t.end - t.begin == t.bytes.size());
      fuzz::require(t.shape.rank() <= limits.max_rank);
      fuzz::require(static_cast<std::uint64_t>(t.elements()) *
                        static_cast<std::uint64_t>(size_of(t.dtype)) ==
                    t.bytes.size());
      fuzz::require(file.find(t.name) == &t);
      unsigned sum = 0;
      for (std::byte b : t.bytes) sum += static_cast<unsigned>(b);
      volatile unsigned sink = sum;
      (void)sink;
    }
  } catch (const Error&) {
  }
  return 0;
}
