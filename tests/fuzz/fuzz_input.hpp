// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// What the fuzz targets share: how an input splits into an adapter's two files, and the checks
// every successful load must pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::fuzz {

/// An input for the two-file formats: 4 bytes of config length L (little-endian, clamped to
/// what is there), L bytes of adapter_config.json, the rest the safetensors file.
struct TwoFiles {
  std::string_view config;
  std::vector<std::byte> tensors;
};

inline TwoFiles split(const std::uint8_t* data, std::size_t size) {
  std::uint32_t length = 0;
  for (std::size_t i = 0; i < 4 && i < size; ++i) {
    length |= static_cast<std::uint32_t>(data[i]) << (8 * i);
  }
  const std::size_t head = size < 4 ? size : 4;
  const std::size_t config = std::min<std::size_t>(length, size - head);
  TwoFiles f;
  f.config = std::string_view(reinterpret_cast<const char*>(data + head), config);
  const auto* rest = reinterpret_cast<const std::byte*>(data + head + config);
  f.tensors.assign(rest, rest + (size - head - config));
  return f;
}

/// The inverse of split(), for the seed corpus.
inline std::vector<std::uint8_t> join(std::string_view config, std::span<const std::byte> tensors) {
  std::vector<std::uint8_t> out(4 + config.size() + tensors.size());
  const auto n = static_cast<std::uint32_t>(config.size());
  for (int i = 0; i < 4; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 4, config.data(), config.size());
  if (!tensors.empty()) std::memcpy(out.data() + 4 + config.size(), tensors.data(), tensors.size());
  return out;
}

/// Stops the run (a crash libFuzzer reports) when an invariant of the library fails.
inline void require(bool ok) {
  if (!ok) std::abort();
}

/// Reads every byte of a tensor (ASan reports any byte outside live memory) and checks that its
/// byte count matches its dtype and shape.
inline void touch(const AdapterTensor& t) {
  require(static_cast<std::uint64_t>(t.elements()) * static_cast<std::uint64_t>(size_of(t.dtype)) ==
          t.bytes.size());
  unsigned sum = 0;
  for (std::byte b : t.bytes) sum += static_cast<unsigned>(b);
  volatile unsigned sink = sum;
  (void)sink;
}

/// The invariants of a loaded adapter: A:(in,r) and B:(r,out) agree on r, every tensor's bytes
/// are readable and match its shape.
inline void check(const Adapter& adapter) {
  for (const auto& [name, m] : adapter.modules()) {
    require(!name.empty());
    require(m.rank >= 1);
    require(m.a.shape.rank() == 2 && m.b.shape.rank() == 2);
    require(m.a.cols() == m.rank && m.b.rows() == m.rank);
    touch(m.a);
    touch(m.b);
    if (m.magnitude) {
      require(m.magnitude->elements() == m.b.cols());
      touch(*m.magnitude);
    }
  }
  for (const auto& [name, t] : adapter.saved()) touch(t);
  (void)adapter.content_hash();
}

}  // namespace lorakit::fuzz
