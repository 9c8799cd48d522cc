// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Deterministic test data: the same values on every platform and standard library.
#pragma once

#include <cstdint>
#include <vector>

#include "lorakit/core/types.hpp"

namespace lorakit::test {

/// splitmix64: a tiny generator whose sequence is fixed by its seed.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1), a multiple of 2^-23.
  float uniform() noexcept {
    return static_cast<float>(static_cast<std::int64_t>(next() >> 40) - (1 << 23)) * 0x1p-23f;
  }

 private:
  std::uint64_t state_;
};

/// A rows x cols matrix of uniform values in [-scale, scale).
inline RowMatrix random_matrix(Index rows, Index cols, std::uint64_t seed, float scale = 1.0f) {
  Random rng(seed);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) m(i, j) = scale * rng.uniform();
  }
  return m;
}

/// Storage for a rows x cols view whose rows are `pad` floats longer than cols and whose first
/// element sits `offset` floats into the buffer (so the view is strided and, for odd offsets,
/// not aligned). Elements outside the view hold a sentinel that the code under test must not
/// change.
struct StridedBuffer {
  static constexpr float kSentinel = -12345.0f;
  std::vector<float> storage;
  Index rows, cols, stride, offset;

  StridedBuffer(Index r, Index c, Index pad, Index off)
      : storage(static_cast<std::size_t>(off + r * (c + pad) + 1), kSentinel),
        rows(r),
        cols(c),
        stride(c + pad),
        offset(off) {}

  MatrixView view() { return make_view(storage.data() + offset, rows, cols, stride); }
  ConstMatrixView cview() const {
    return make_view(static_cast<const float*>(storage.data()) + offset, rows, cols, stride);
  }
  void fill(const RowMatrix& m) { view() = m; }
  /// True when every element outside the view still holds the sentinel.
  bool padding_untouched() const {
    for (Index k = 0; k < static_cast<Index>(storage.size()); ++k) {
      const Index rel = k - offset;
      const bool inside = rel >= 0 && rel < rows * stride && rel % stride < cols;
      if (!inside && storage[static_cast<std::size_t>(k)] != kSentinel) return false;
    }
    return true;
  }
};

}  // namespace lorakit::test
