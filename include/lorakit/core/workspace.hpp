// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Workspace: caller-owned scratch for the hot path; reserve() allocates, scratch() never does.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

#include "lorakit/config.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit {

/// Scratch memory a caller owns and passes to forward(). Size it once (the layer says how many
/// floats it needs: LoRALinear::workspace_floats), then reuse it for every call. One Workspace
/// per thread: forward() writes into it.
class Workspace {
 public:
  /// Alignment of the buffer in bytes (a cache line; enough for every SIMD width).
  static constexpr std::size_t kAlignment = 64;

  Workspace() = default;
  /// A workspace holding at least `floats` floats.
  explicit Workspace(Index floats) { reserve(floats); }

  /// Grows the buffer to hold at least `floats` floats (never shrinks). Allocates; call it
  /// outside the hot path. Previous scratch views are invalidated when it grows.
  void reserve(Index floats) {
    if (floats <= capacity_) return;
    buffer_.reset(static_cast<float*>(::operator new (
        static_cast<std::size_t>(floats) * sizeof(float), std::align_val_t{kAlignment})));
    capacity_ = floats;
  }

  /// Number of floats available.
  [[nodiscard]] Index capacity() const noexcept { return capacity_; }

  /// A rows x cols view at the start of the buffer. Never allocates.
  /// @pre rows * cols <= capacity()
  [[nodiscard]] MatrixView scratch(Index rows, Index cols) noexcept {
    LORAKIT_ASSERT(rows >= 0 && cols >= 0 && rows * cols <= capacity_);
    return make_view(buffer_.get(), rows, cols);
  }

 private:
  struct AlignedDelete {
    void operator()(float* p) const noexcept {
      ::operator delete (p, std::align_val_t{kAlignment});
    }
  };
  std::unique_ptr<float, AlignedDelete> buffer_;
  Index capacity_ = 0;
};

}  // namespace lorakit
