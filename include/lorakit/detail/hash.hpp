// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Hasher: a fast, deterministic, non-cryptographic 64-bit hash of byte streams.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace lorakit::detail {

/// Streaming 64-bit hash: four independent multiply-rotate lanes over 32-byte blocks, so it runs
/// at memory speed on large tensors. The same bytes in the same order give the same value on
/// every platform (words are read little-endian). Not cryptographic: it keys caches, it does not
/// defend against an adversary choosing collisions.
class Hasher {
 public:
  Hasher& bytes(std::span<const std::byte> data) noexcept {
    const std::byte* p = data.data();
    std::size_t n = data.size();
    length_ += n;
    if (fill_ != 0) {  // top up a partial block first
      const std::size_t take = n < kBlock - fill_ ? n : kBlock - fill_;
      std::memcpy(pending_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ < kBlock) return *this;
      block(pending_);
      fill_ = 0;
    }
    for (; n >= kBlock; n -= kBlock, p += kBlock) block(p);
    std::memcpy(pending_, p, n);
    fill_ = n;
    return *this;
  }

  Hasher& text(std::string_view s) noexcept {
    u64(s.size());
    return bytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
  }

  Hasher& u64(std::uint64_t v) noexcept {
    std::byte b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::byte>(v >> (8 * i));
    return bytes(b);
  }

  Hasher& f32(float v) noexcept { return u64(std::bit_cast<std::uint32_t>(v)); }

  [[nodiscard]] std::uint64_t digest() const noexcept {
    std::uint64_t h = length_ * kMul1;
    for (std::uint64_t v : lane_) h = mix(h ^ mix(v));
    for (std::size_t i = 0; i < fill_; ++i) {
      h = mix(h ^ (static_cast<std::uint64_t>(pending_[i]) + (std::uint64_t{i} << 8)));
    }
    return mix(h);
  }

 private:
  static constexpr std::size_t kBlock = 32;
  static constexpr std::uint64_t kMul1 = 0x9fb21c651e98df25ull;
  static constexpr std::uint64_t kMul2 = 0xc2b2ae3d27d4eb4full;

  static std::uint64_t mix(std::uint64_t h) noexcept {
    h ^= h >> 31;
    h *= kMul1;
    h ^= h >> 29;
    h *= kMul2;
    h ^= h >> 32;
    return h;
  }

  static std::uint64_t load(const std::byte* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
  }

  void block(const std::byte* p) noexcept {
    for (int l = 0; l < 4; ++l) {
      lane_[l] = std::rotl((lane_[l] ^ load(p + 8 * l)) * kMul2, 29) * kMul1;
    }
  }

  std::uint64_t lane_[4] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull,
                            0x082efa98ec4e6c89ull};
  std::uint64_t length_ = 0;
  std::byte pending_[kBlock] = {};
  std::size_t fill_ = 0;
};

}  // namespace lorakit::detail
