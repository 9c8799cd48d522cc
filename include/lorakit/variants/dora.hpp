// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DoRA: weight-decomposed low-rank adaptation, y = (m / |W'|_row) (.) (x * W'^T) + bias.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/error.hpp"
#include "lorakit/variants/lora.hpp"

namespace lorakit {

/// DoRA (PEFT's `use_dora`): with W' = W + s * (A * B)^T, the row norms |W'|_o taken as
/// constants (as PEFT does at inference) and g = m / |W'|,
///
///     y = g (.) (x * W'^T) + bias = y_in + (g - 1) (.) (y_in - bias) + s * (x * A) * (B * diag(g))
///
/// where y_in is what the output holds before this adapter: the base output, plus the adapters
/// applied before it (PEFT passes its running result the same way). prepare() computes g and
/// B * diag(g) once per attach and per scale change, in double, from the base's W; forward only
/// rescales y and runs the LoRA kernels. A per-call scale other than the attached one scales
/// the low-rank term only: the norms stay those of the attached scale (set_scale recomputes
/// them). A scale of 0 turns the adapter off, as for every variant (PEFT's scaling 0 would
/// still apply m / |W|).
struct DoRA {
  static constexpr std::string_view name = "dora";

  using Params = LoRA::Params;

  /// DoRA needs the base's W (its row norms); LoRALinear refuses bases that cannot give it.
  static constexpr bool needs_base_weights = true;
  /// Merged rows are scaled by g, which unmerge could not divide out when some g is 0 or tiny:
  /// merge always keeps a backup.
  static constexpr bool merge_needs_backup = true;

  /// The adapter's tensors (views in lorakit's layout, in their stored type) and what
  /// prepare() derived from them and the base for one multiplier.
  struct Weights {
    StoredView a;                 ///< A:(in,r)
    StoredView b;                 ///< B:(r,out)
    StoredView magnitude;         ///< m:(1,out), PEFT's lora_magnitude_vector
    const float* gain = nullptr;  ///< g:(out) = m / |W + s (A B)^T|_row, set by prepare()
    StoredView b_gain;            ///< B * diag(g):(r,out) in f32, set by prepare()
    std::span<const float> bias;  ///< the base's bias (empty: none)
    float prepared_scale = 0.0f;  ///< the multiplier s the norms were computed for
  };

  static constexpr std::array<Slot, 3> slots{{{"lora_A", Dim::in, Dim::rank},
                                              {"lora_B", Dim::rank, Dim::out},
                                              {"lora_magnitude_vector", Dim::one, Dim::out}}};

  [[nodiscard]] static StoredView slot(const Weights& w, std::size_t i) noexcept {
    LORAKIT_ASSERT(i < slots.size());
    return i == 0 ? w.a : i == 1 ? w.b : w.magnitude;
  }

  [[nodiscard]] static Weights bind(const std::array<ConstMatrixView, 3>& tensors) noexcept {
    Weights w;
    w.a = tensors[0];
    w.b = tensors[1];
    w.magnitude = tensors[2];
    return w;
  }

  /// alpha / r, alpha / sqrt(r) or alpha, as for LoRA.
  [[nodiscard]] static float scale(const Params& p) noexcept { return LoRA::scale(p); }

  /// Weights with gain, b_gain and bias set for multiplier s, and the memory they point into.
  struct Prepared {
    Weights weights;
    std::shared_ptr<const void> storage;
  };

  /// Computes g = m / |W + s (A B)^T| per output row (in double) and B * diag(g) (in f32) for
  /// the weights of `base`, in its layout. Allocates; off the hot path.
  /// @pre the slots' shapes agree with the base (checked at attach)
  /// @throws lorakit::Error (Errc::bad_config) naming the module and the adapter when a row of
  ///   W' has norm 0 or g is not finite (DoRA is undefined there)
  template <ReadableWeightsBase Base>
  [[nodiscard]] static Prepared prepare(const Weights& w, float s, const Base& base,
                                        const std::string& module, const std::string& adapter) {
    const Index in = base.in_features();
    const Index out = base.out_features();
    const Index r = w.a.cols();
    const ConstMatrixView wv = base.weight_view();
    const bool out_in = base.layout() == WeightLayout::out_in;
    auto weight = [&](Index o, Index k) { return out_in ? wv(o, k) : wv(k, o); };

    // |W'|_o^2 = sum_k (W(o,k) + s * sum_j A(k,j) B(j,o))^2, one row k of A*B at a time.
    std::vector<double> b_rows(static_cast<std::size_t>(r * out));
    for (Index j = 0; j < r; ++j) {
      for (Index o = 0; o < out; ++o) b_rows[static_cast<std::size_t>(j * out + o)] = w.b(j, o);
    }
    std::vector<double> norm2(static_cast<std::size_t>(out), 0.0);
    std::vector<double> ab(static_cast<std::size_t>(out));
    for (Index k = 0; k < in; ++k) {
      std::fill(ab.begin(), ab.end(), 0.0);
      for (Index j = 0; j < r; ++j) {
        const double akj = w.a(k, j);
        const double* bj = b_rows.data() + j * out;
        for (Index o = 0; o < out; ++o) ab[static_cast<std::size_t>(o)] += akj * bj[o];
      }
      for (Index o = 0; o < out; ++o) {
        const double v = static_cast<double>(weight(o, k)) +
                         static_cast<double>(s) * ab[static_cast<std::size_t>(o)];
        norm2[static_cast<std::size_t>(o)] += v * v;
      }
    }

    auto store = std::make_shared<Storage>();
    store->gain.resize(static_cast<std::size_t>(out));
    store->b_gain.resize(static_cast<std::size_t>(r * out));
    for (Index o = 0; o < out; ++o) {
      const double norm = std::sqrt(norm2[static_cast<std::size_t>(o)]);
      const double g = static_cast<double>(w.magnitude(0, o)) / norm;
      if (!(norm > 0.0) || !std::isfinite(g) || !std::isfinite(static_cast<float>(g))) {
        throw Error(Errc::bad_config,
                    ErrorContext{.module = module, .slot = "lora_magnitude_vector"},
                    "DoRA adapter '" + adapter + "': output row " + std::to_string(o) +
                        " of W + s*(A*B)^T has norm " + std::to_string(norm) +
                        ", so m / norm is not a finite gain");
      }
      store->gain[static_cast<std::size_t>(o)] = static_cast<float>(g);
    }
    for (Index j = 0; j < r; ++j) {
      for (Index o = 0; o < out; ++o) {
        store->b_gain[static_cast<std::size_t>(j * out + o)] =
            w.b(j, o) * store->gain[static_cast<std::size_t>(o)];
      }
    }

    Prepared p;
    p.weights = w;
    p.weights.gain = store->gain.data();
    p.weights.b_gain = make_view(static_cast<const float*>(store->b_gain.data()), r, out, out);
    if constexpr (requires { base.bias(); }) p.weights.bias = base.bias();
    p.weights.prepared_scale = s;
    p.storage = std::move(store);
    return p;
  }

  /// y:(n,out) = g (.) (y - bias) + bias + s * (x * A) * (B * diag(g)).
  /// @pre prepare() set w's gain (attach does), shapes agree
  template <class Kernel>
  static void apply(const Weights& w, float s, ConstMatrixView x, MatrixView y, Workspace& ws,
                    Kernel kernel) noexcept {
    LORAKIT_ASSERT(w.gain != nullptr);
    const Index out = y.cols();
    const bool has_bias = !w.bias.empty();
    for (Index i = 0; i < y.rows(); ++i) {
      float* yi = y.data() + i * y.outerStride();
      if (has_bias) {
        for (Index o = 0; o < out; ++o) {
          const float b = w.bias[static_cast<std::size_t>(o)];
          yi[o] = w.gain[o] * (yi[o] - b) + b;
        }
      } else {
        for (Index o = 0; o < out; ++o) yi[o] *= w.gain[o];
      }
    }
    LoRA::apply(LoRA::Weights{w.a, w.b_gain}, s, x, y, ws, kernel);
  }

  /// After W += s * (A B)^T (in W's layout): W's output rows scaled by g, so the base alone
  /// computes g (.) (x * W'^T) + bias.
  static void finish_merge(const Weights& w, WeightLayout layout, MatrixView wm) noexcept {
    LORAKIT_ASSERT(w.gain != nullptr);
    for (Index i = 0; i < wm.rows(); ++i) {
      for (Index j = 0; j < wm.cols(); ++j) {
        wm(i, j) *= w.gain[layout == WeightLayout::out_in ? i : j];
      }
    }
  }

 private:
  struct Storage {
    std::vector<float> gain;
    std::vector<float> b_gain;
  };
};

static_assert(AdapterVariant<DoRA>);

}  // namespace lorakit
