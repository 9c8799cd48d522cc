// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Slot: a tensor a variant needs, with symbolic dimensions resolved against a layer.
#pragma once

#include <string_view>

#include "lorakit/core/shape.hpp"

namespace lorakit {

/// A symbolic dimension of a slot: fixed 1, the layer's in or out features, or the rank.
enum class Dim : unsigned char { one, in, out, rank };

/// One tensor of a variant's schema, e.g. {"lora_A", Dim::in, Dim::rank} for A:(in,r).
/// I/O and attach validate every variant's tensors through its slots, with the same messages.
struct Slot {
  std::string_view name;
  Dim rows;
  Dim cols;
};

/// The concrete size of a symbolic dimension.
[[nodiscard]] constexpr Index resolve(Dim d, Index in, Index out, Index rank) noexcept {
  switch (d) {
    case Dim::in: return in;
    case Dim::out: return out;
    case Dim::rank: return rank;
    case Dim::one: return 1;
  }
  return 0;
}

/// The shape slot s must have on a layer with the given in/out features and rank.
[[nodiscard]] inline Shape slot_shape(const Slot& s, Index in, Index out, Index rank) {
  return Shape{resolve(s.rows, in, out, rank), resolve(s.cols, in, out, rank)};
}

}  // namespace lorakit
