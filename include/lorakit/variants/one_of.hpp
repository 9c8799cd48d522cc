// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// OneOf<Vs...>: a closed set of variants chosen per adapter at run time, dispatched once per
// adapter and layer call.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/error.hpp"
#include "lorakit/kernels/merge.hpp"

namespace lorakit {

namespace detail {
template <class V>
concept merges_product = V::slots.size() >= 2 && V::slots[0].rows == Dim::in&& V::slots[0].cols
                                                     == Dim::rank&& V::slots[1].rows
                                                     == Dim::rank&& V::slots[1].cols == Dim::out;
template <class V>
concept declares_scales_input = requires {
  requires V::scales_input;
};
template <class V>
concept declares_merge_backup = requires {
  requires V::merge_needs_backup;
};
}  // namespace detail

/// An adapter of any one of the variants Vs, chosen when it is attached: a host that takes
/// whatever file a user brings builds its layers as LoRALinear<Base, OneOf<LoRA, DoRA, IA3,
/// IA3Input>> (`AnyVariant`), and each attached adapter keeps its own variant, scale and
/// per-call selection. forward() dispatches once per adapter and call (a switch on the
/// alternative), never per element; each alternative then runs its own code, so a layer of
/// OneOf gives the bits a layer of that variant alone gives.
///
/// OneOf has no fixed slots: LoRALinear validates the slots of the alternative an adapter
/// holds (for_each_slot). Its `slots` is empty and `bind` builds an empty first alternative;
/// both exist only to satisfy AdapterVariant. Build weights and params with
/// `OneOf::make<V>(weights)` and `OneOf::params<V>(params)`.
///
/// What an alternative needs of the base is checked at attach, not at compile time: DoRA on a
/// base that cannot give its weights is refused then, naming the layer
/// (Errc::incompatible_base).
/// Merge keeps a backup of W when any alternative needs one.
template <class... Vs>
struct OneOf {
  static_assert(sizeof...(Vs) >= 1, "OneOf needs at least one variant");
  static_assert((AdapterVariant<Vs> && ...), "every alternative must be an AdapterVariant");

  static constexpr std::string_view name = "one_of";

  /// The params of alternative V (a distinct type per alternative, even when two variants
  /// share a Params type, as DoRA and LoRA do).
  template <class V>
  struct ParamsOf {
    typename V::Params value;
  };

  struct Params {
    Index rank = 0;  ///< the alternative's rank (0 for IA3), checked against max_rank
    std::variant<ParamsOf<Vs>...> of;
  };

  struct Weights {
    std::variant<typename Vs::Weights...> of;
  };

  static constexpr std::array<Slot, 0> slots{};

  /// Weights holding alternative V.
  template <class V>
  [[nodiscard]] static Weights make(typename V::Weights w) noexcept {
    return Weights{
        std::variant<typename Vs::Weights...>(std::in_place_index<index_of<V>()>, std::move(w))};
  }

  /// Params of alternative V.
  template <class V>
  [[nodiscard]] static Params params(typename V::Params p) noexcept {
    return Params{
        .rank = static_cast<Index>(p.rank),
        .of = std::variant<ParamsOf<Vs>...>(std::in_place_index<index_of<V>()>, ParamsOf<V>{p})};
  }

  /// The name of the variant w holds ("lora", "dora", ...).
  [[nodiscard]] static std::string_view variant_name(const Weights& w) noexcept {
    return visit(w, [](auto v, const auto&) noexcept { return decltype(v)::type::name; });
  }

  /// Whether w holds alternative V.
  template <class V>
  [[nodiscard]] static bool holds(const Weights& w) noexcept {
    return w.of.index() == index_of<V>();
  }

  [[nodiscard]] static StoredView slot(const Weights& /*w*/, std::size_t /*i*/) noexcept {
    return {};
  }
  [[nodiscard]] static Weights bind(const std::array<ConstMatrixView, 0>& /*tensors*/) noexcept {
    return Weights{};
  }

  /// Calls f(slot, view) for every slot of the alternative w holds.
  template <class F>
  static void for_each_slot(const Weights& w, F&& f) {
    visit(w, [&](auto v, const auto& alt) {
      using V = typename decltype(v)::type;
      for (std::size_t i = 0; i < V::slots.size(); ++i) f(V::slots[i], V::slot(alt, i));
    });
  }

  /// The multiplier the alternative's params imply.
  [[nodiscard]] static float scale(const Params& p) noexcept {
    return visit_params(p, [](auto v, const auto& params) noexcept {
      return decltype(v)::type::scale(params.value);
    });
  }

  /// Whether the params and the weights hold the same alternative.
  [[nodiscard]] static bool agrees(const Weights& w, const Params& p) noexcept {
    return w.of.index() == p.of.index();
  }

  template <class Kernel>
  static void apply(const Weights& w, float s, ConstMatrixView x, MatrixView y, Workspace& ws,
                    Kernel kernel) noexcept {
    visit(w, [&](auto v, const auto& alt) noexcept {
      decltype(v)::type::apply(alt, s, x, y, ws, kernel);
    });
  }

  /// Whether some alternative rescales the input (LoRALinear then has the scaled-input path).
  static constexpr bool scales_input = (detail::declares_scales_input<Vs> || ...);
  /// Whether some alternative's merge needs a backup of W.
  static constexpr bool merge_needs_backup = (detail::declares_merge_backup<Vs> || ...);

  /// Whether the alternative w holds rescales the input.
  [[nodiscard]] static bool scales_input_of(const Weights& w) noexcept {
    return visit(w, [](auto v, const auto&) noexcept {
      return detail::declares_scales_input<typename decltype(v)::type>;
    });
  }

  /// The input scaling of the alternative w holds (nothing for the others).
  static void scale_input(const Weights& w, float s, MatrixView xs) noexcept {
    visit(w, [&](auto v, const auto& alt) noexcept {
      using V = typename decltype(v)::type;
      if constexpr (detail::declares_scales_input<V>) V::scale_input(alt, s, xs);
    });
  }

  /// What forward needs of the base and the multiplier (DoRA's gains), for the alternative w
  /// holds. @throws lorakit::Error (Errc::incompatible_base) naming the module when the alternative
  /// needs the base's weights and Base cannot give them; what the alternative's prepare throws
  template <LinearBase Base>
  [[nodiscard]] static auto prepare(const Weights& w, float s, const Base& base,
                                    const std::string& module, const std::string& adapter) {
    struct Prepared {
      Weights weights;
      std::shared_ptr<const void> storage;
    };
    return visit(w, [&](auto v, const auto& alt) -> Prepared {
      using V = typename decltype(v)::type;
      if constexpr (!VariantFits<V, Base>) {
        throw Error(Errc::incompatible_base, ErrorContext{.module = module},
                    std::string(V::name) + " adapter '" + adapter +
                        "' needs the base's weights (weight_view() and layout()), which this "
                        "layer's base does not give");
      } else if constexpr (requires { V::prepare(alt, s, base, module, adapter); }) {
        auto p = V::prepare(alt, s, base, module, adapter);
        return Prepared{make<V>(p.weights), std::move(p.storage)};
      } else {
        return Prepared{w, nullptr};
      }
    });
  }

  /// Refuses a merge the alternative cannot do (no way to fold it into W, or its own check).
  template <class Base>
  static void check_merge(const Weights& w, const Base& base, const std::string& module,
                          const std::string& adapter) {
    visit(w, [&](auto v, const auto& alt) {
      using V = typename decltype(v)::type;
      if constexpr (requires { V::check_merge(alt, base, module, adapter); }) {
        V::check_merge(alt, base, module, adapter);
      }
      if constexpr (!can_merge<V>()) {
        throw Error(Errc::unsupported, ErrorContext{.module = module},
                    std::string(V::name) + " adapter '" + adapter +
                        "' cannot be folded into the base weights");
      }
    });
  }

  /// Folds the alternative into W: its own merge_into, or W += s (A B)^T then its finish_merge.
  /// @throws std::bad_alloc before W changes
  template <class Kernel>
  static void merge_into(const Weights& w, float s, WeightLayout layout, MatrixView wm) {
    visit(w, [&](auto v, const auto& alt) {
      using V = typename decltype(v)::type;
      if constexpr (requires { V::template merge_into<Kernel>(alt, s, layout, wm); }) {
        V::template merge_into<Kernel>(alt, s, layout, wm);
      } else if constexpr (detail::merges_product<V>) {
        const kernels::MergeFactors factors(layout, V::slot(alt, 0), V::slot(alt, 1));
        factors.template apply<Kernel>(wm, s);
        if constexpr (requires { V::finish_merge(alt, layout, wm); }) {
          V::finish_merge(alt, layout, wm);
        }
      }
    });
  }

 private:
  template <class V>
  static constexpr std::size_t index_of() noexcept {
    constexpr std::array<bool, sizeof...(Vs)> same{std::is_same_v<V, Vs>...};
    for (std::size_t i = 0; i < same.size(); ++i) {
      if (same[i]) return i;
    }
    return same.size();
  }

  template <class V>
  static constexpr bool can_merge() noexcept {
    constexpr bool finishes =
        V::slots.size() == 2 || requires(const typename V::Weights& a, MatrixView m) {
      V::finish_merge(a, WeightLayout{}, m);
    };
    constexpr bool by_product = detail::merges_product<V> && finishes;
    constexpr bool by_itself = requires(const typename V::Weights& a, MatrixView m) {
      V::template merge_into<detail::KernelArchetype>(a, 1.0f, WeightLayout{}, m);
    };
    return by_product || by_itself;
  }

  // f(std::type_identity<V>, alternative) for the alternative w holds: one switch on the index.
  template <class F, std::size_t I = 0>
  static decltype(auto) visit(const Weights& w, F&& f) {
    using V = std::tuple_element_t<I, std::tuple<Vs...>>;
    if constexpr (I + 1 == sizeof...(Vs)) {
      return f(std::type_identity<V>{}, *std::get_if<I>(&w.of));
    } else {
      if (w.of.index() == I) return f(std::type_identity<V>{}, *std::get_if<I>(&w.of));
      return visit<F, I + 1>(w, std::forward<F>(f));
    }
  }

  template <class F, std::size_t I = 0>
  static decltype(auto) visit_params(const Params& p, F&& f) {
    using V = std::tuple_element_t<I, std::tuple<Vs...>>;
    if constexpr (I + 1 == sizeof...(Vs)) {
      return f(std::type_identity<V>{}, *std::get_if<I>(&p.of));
    } else {
      if (p.of.index() == I) return f(std::type_identity<V>{}, *std::get_if<I>(&p.of));
      return visit_params<F, I + 1>(p, std::forward<F>(f));
    }
  }
};

}  // namespace lorakit
