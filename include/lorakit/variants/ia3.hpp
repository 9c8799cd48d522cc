// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// IA3: learned rescaling of a layer's outputs (IA3) or inputs (IA3Input, PEFT's feedforward
// modules) by a vector l.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/error.hpp"

namespace lorakit {

namespace detail {

/// The factor an IA3 vector entry l gives at multiplier s: 1 + s (l - 1), so s = 0 (or l = 1)
/// is the identity and s = 1 is l itself, exactly (PEFT has no multiplier for IA3: s = 1).
[[nodiscard]] inline float ia3_factor(float l, float s) noexcept {
  return s == 1.0f ? l : 1.0f + s * (l - 1.0f);
}

/// Scales W's rows (scale_rows) or columns, row or column j by ia3_factor(l(0, j), s).
inline void ia3_scale_weights(StoredView l, float s, bool scale_rows, MatrixView w) noexcept {
  for (Index i = 0; i < w.rows(); ++i) {
    for (Index j = 0; j < w.cols(); ++j) w(i, j) *= ia3_factor(l(0, scale_rows ? i : j), s);
  }
}

}  // namespace detail

/// IA3 on a layer's output (PEFT's IA3 on a module not in `feedforward_modules`):
///
///     y = f (.) y_in,   f_o = 1 + s (l_o - 1)
///
/// where y_in is what the output holds before this adapter: the base output, bias included (as
/// PEFT scales the base layer's whole result), plus the adapters applied before it. At s = 1,
/// f = l as PEFT computes; s = 0 or l = 1 leaves y unchanged. IA3 has no rank and no alpha: its
/// multiplier is the user scale alone.
struct IA3 {
  static constexpr std::string_view name = "ia3";

  /// IA3 has no hyper-parameters; `rank` is always 0 (it has no low-rank factors).
  struct Params {
    Index rank = 0;
  };

  /// The learned vector, in the type it is stored in.
  struct Weights {
    StoredView l;  ///< l:(1,out)
  };

  static constexpr std::array<Slot, 1> slots{{{"ia3_l", Dim::one, Dim::out}}};

  /// A merged IA3 adapter cannot always be divided back out (a factor may be 0): merge keeps a
  /// backup of W.
  static constexpr bool merge_needs_backup = true;

  [[nodiscard]] static StoredView slot(const Weights& w, std::size_t i) noexcept {
    LORAKIT_ASSERT(i < slots.size());
    (void)i;
    return w.l;
  }

  [[nodiscard]] static Weights bind(const std::array<ConstMatrixView, 1>& tensors) noexcept {
    return Weights{tensors[0]};
  }

  /// Always 1: the user scale is the whole multiplier.
  [[nodiscard]] static float scale(const Params& /*p*/) noexcept { return 1.0f; }

  /// y:(n,out) = f (.) y.
  template <class Kernel>
  static void apply(const Weights& w, float s, ConstMatrixView /*x*/, MatrixView y,
                    Workspace& /*ws*/, Kernel /*kernel*/) noexcept {
    w.l.visit([&](auto l) noexcept {
      for (Index i = 0; i < y.rows(); ++i) {
        float* yi = y.data() + i * y.outerStride();
        for (Index o = 0; o < y.cols(); ++o) yi[o] *= detail::ia3_factor(l(0, o), s);
      }
    });
  }

  /// Merge refuses a base with a bias: PEFT scales the bias too, and a base's bias is read-only
  /// to lorakit.
  template <class Base>
  static void check_merge(const Weights& /*w*/, const Base& base, const std::string& module,
                          const std::string& adapter) {
    if constexpr (requires { base.bias(); }) {
      if (!base.bias().empty()) {
        throw Error(Errc::unsupported, ErrorContext{.module = module},
                    "IA3 adapter '" + adapter +
                        "' scales the base's bias, which lorakit cannot rewrite: merge is "
                        "refused on a base with a bias");
      }
    }
  }

  /// W's output rows scaled by f: the base alone then computes f (.) (x * W^T).
  template <class Kernel>
  static void merge_into(const Weights& w, float s, WeightLayout layout, MatrixView wm) noexcept {
    detail::ia3_scale_weights(w.l, s, layout == WeightLayout::out_in, wm);
  }
};

/// IA3 on a layer's input (PEFT's IA3 on a module in `feedforward_modules`):
///
///     y = base(x (.) f),   f_k = 1 + s (l_k - 1)
///
/// LoRALinear scales a copy of the input before the base runs (scale_input, through the
/// workspace) when the variant declares `scales_input`; apply() adds nothing. Several IA3Input
/// adapters multiply the copy in turn. The bias is not scaled.
struct IA3Input {
  static constexpr std::string_view name = "ia3_input";

  using Params = IA3::Params;

  struct Weights {
    StoredView l;  ///< l:(1,in)
  };

  static constexpr std::array<Slot, 1> slots{{{"ia3_l", Dim::one, Dim::in}}};

  /// LoRALinear runs the base on the scaled input (see scale_input).
  static constexpr bool scales_input = true;
  static constexpr bool merge_needs_backup = true;

  [[nodiscard]] static StoredView slot(const Weights& w, std::size_t i) noexcept {
    LORAKIT_ASSERT(i < slots.size());
    (void)i;
    return w.l;
  }

  [[nodiscard]] static Weights bind(const std::array<ConstMatrixView, 1>& tensors) noexcept {
    return Weights{tensors[0]};
  }

  [[nodiscard]] static float scale(const Params& /*p*/) noexcept { return 1.0f; }

  /// Nothing: the input was scaled before the base ran.
  template <class Kernel>
  static void apply(const Weights& /*w*/, float /*s*/, ConstMatrixView /*x*/, MatrixView /*y*/,
                    Workspace& /*ws*/, Kernel /*kernel*/) noexcept {}

  /// xs:(n,in) = f (.) xs, in place.
  static void scale_input(const Weights& w, float s, MatrixView xs) noexcept {
    w.l.visit([&](auto l) noexcept {
      for (Index i = 0; i < xs.rows(); ++i) {
        float* xi = xs.data() + i * xs.outerStride();
        for (Index k = 0; k < xs.cols(); ++k) xi[k] *= detail::ia3_factor(l(0, k), s);
      }
    });
  }

  /// W's input columns scaled by f (the bias is not).
  template <class Kernel>
  static void merge_into(const Weights& w, float s, WeightLayout layout, MatrixView wm) noexcept {
    detail::ia3_scale_weights(w.l, s, layout == WeightLayout::in_out, wm);
  }
};

static_assert(AdapterVariant<IA3>);
static_assert(AdapterVariant<IA3Input>);

}  // namespace lorakit
