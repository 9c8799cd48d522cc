// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A generated LoRA adapter for one layer: owned A/B matrices and the views the layer needs.
#pragma once

#include <cstdint>
#include <memory>

#include "lorakit/variants/lora.hpp"
#include "random.hpp"

namespace lorakit::test {

/// Owns A:(in,r) and B:(r,out) with deterministic values; hand `owner()` to attach().
struct LoRAFixture {
  RowMatrix a;
  RowMatrix b;
  LoRA::Params params;

  LoRAFixture(Index in, Index out, Index r, float alpha, std::uint64_t seed)
      : a(random_matrix(in, r, seed)), b(random_matrix(r, out, seed + 1)), params{r, alpha} {}

  [[nodiscard]] LoRA::Weights weights() const { return {make_view(a), make_view(b)}; }
};

/// A shared, immutable fixture: the shared_ptr doubles as the attachment's owner.
inline std::shared_ptr<const LoRAFixture> make_lora(Index in, Index out, Index r, float alpha,
                                                    std::uint64_t seed) {
  return std::make_shared<const LoRAFixture>(in, out, r, alpha, seed);
}

}  // namespace lorakit::test
