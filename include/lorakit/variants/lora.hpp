// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRA: the low-rank update y += s * (x*A) * B, with plain, rsLoRA or direct scaling.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string_view>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"

namespace lorakit {

/// How a LoRA adapter's alpha becomes its multiplier.
enum class Scaling : unsigned char {
  alpha_over_rank,       ///< alpha / r (the LoRA paper, PEFT's default)
  alpha_over_sqrt_rank,  ///< alpha / sqrt(r) (rsLoRA, PEFT's use_rslora)
  direct,                ///< alpha is the multiplier itself (mlx-lm's lora_parameters.scale)
};

/// Low-rank adaptation: delta(x) = (x:(n,in) * A:(in,r)) * B:(r,out).
struct LoRA {
  static constexpr std::string_view name = "lora";

  struct Params {
    Index rank = 0;
    float alpha = 0.0f;
    Scaling scaling = Scaling::alpha_over_rank;
  };

  /// Views of the adapter's tensors in lorakit's layout, each in the type it is stored in
  /// (f32, f16 or bf16: the kernels widen 16-bit weights in registers); their owner keeps them
  /// alive.
  struct Weights {
    StoredView a;  ///< A:(in,r)
    StoredView b;  ///< B:(r,out)
  };

  static constexpr std::array<Slot, 2> slots{
      {{"lora_A", Dim::in, Dim::rank}, {"lora_B", Dim::rank, Dim::out}}};

  [[nodiscard]] static StoredView slot(const Weights& w, std::size_t i) noexcept {
    LORAKIT_ASSERT(i < slots.size());
    return i == 0 ? w.a : w.b;
  }

  [[nodiscard]] static Weights bind(const std::array<ConstMatrixView, 2>& tensors) noexcept {
    return Weights{tensors[0], tensors[1]};
  }

  /// The multiplier the params imply: alpha/r, alpha/sqrt(r), or alpha itself.
  [[nodiscard]] static float scale(const Params& p) noexcept {
    switch (p.scaling) {
      case Scaling::alpha_over_rank:
        return p.rank > 0 ? p.alpha / static_cast<float>(p.rank) : 0.0f;
      case Scaling::alpha_over_sqrt_rank:
        return p.rank > 0 ? p.alpha / std::sqrt(static_cast<float>(p.rank)) : 0.0f;
      case Scaling::direct: return p.alpha;
    }
    return 0.0f;
  }

  /// Floats of the stack buffer apply() falls back to when the workspace is short.
  static constexpr Index kStackFloats = 512;

  /// y:(n,out) += s * (x:(n,in) * A:(in,r)) * B:(r,out), in blocks of rows so that t:(rows,r)
  /// fits the workspace (any workspace of at least r floats works; more means longer blocks).
  /// A workspace shorter than r floats (unsized, or sized for a smaller layer) is not used: a
  /// kStackFloats buffer on the stack takes its place, with the rank in chunks when r exceeds
  /// it. Correct in every build, only slower. @pre shapes agree (checked at attach)
  template <class Kernel>
  static void apply(const Weights& w, float s, ConstMatrixView x, MatrixView y, Workspace& ws,
                    Kernel /*kernel*/) noexcept {
    w.a.visit([&](auto a) noexcept {
      w.b.visit([&](auto b) noexcept { apply_typed<Kernel>(a, b, s, x, y, ws); });
    });
  }

 private:
  template <class Kernel, class TA, class TB>
  static void apply_typed(WeightView<TA> a, WeightView<TB> b, float s, ConstMatrixView x,
                          MatrixView y, Workspace& ws) noexcept {
    const Index r = a.cols;
    const Index n = x.rows();
    if (r == 0 || n == 0) return;
    if (ws.capacity() >= r) {
      const Index block = std::max<Index>(1, ws.capacity() / r);
      for (Index i0 = 0; i0 < n; i0 += block) {
        const Index m = std::min(block, n - i0);
        MatrixView t = ws.scratch(m, r);
        Kernel::project(row_range(x, i0, m), a, t);
        Kernel::expand(make_cview(t), b, s, row_range(y, i0, m));
      }
      return;
    }
    alignas(Workspace::kAlignment) float stack[kStackFloats];
    const Index chunk = std::min(r, kStackFloats);
    const Index block = kStackFloats / chunk;
    for (Index k0 = 0; k0 < r; k0 += chunk) {
      const Index kr = std::min(chunk, r - k0);
      const WeightView<TA> ak{a.data + k0, a.rows, kr, a.stride};
      const WeightView<TB> bk{b.data + k0 * b.stride, kr, b.cols, b.stride};
      for (Index i0 = 0; i0 < n; i0 += block) {
        const Index m = std::min(block, n - i0);
        MatrixView t = make_view(stack, m, kr, kr);
        Kernel::project(row_range(x, i0, m), ak, t);
        Kernel::expand(make_cview(t), bk, s, row_range(y, i0, m));
      }
    }
  }
};

static_assert(AdapterVariant<LoRA>);

}  // namespace lorakit
