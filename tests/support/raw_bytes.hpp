// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Hand-made safetensors bytes, for malformed files (no test framework needed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace lorakit::test {

/// Raw safetensors bytes: an explicit header length (default: the text's length), the header
/// text, then `data_bytes` bytes of data (0, 1, 2, ...). For hand-made malformed files.
inline std::vector<std::byte> raw_safetensors(const std::string& header, std::size_t data_bytes,
                                              std::optional<std::uint64_t> length = {}) {
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  const std::uint64_t n = length.value_or(header.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < data_bytes; ++i) {
    out[8 + header.size() + i] = static_cast<std::byte>(i & 0xff);
  }
  return out;
}

}  // namespace lorakit::test
