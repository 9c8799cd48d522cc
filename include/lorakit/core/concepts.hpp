// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The contracts: LinearBase, MergeableBase, LowRankKernel, AdapterVariant.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>

#include "lorakit/core/slot.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"

namespace lorakit {

namespace detail {
/// A prvalue of T for use inside requires-expressions. Views are passed by value, and Eigen's
/// Map copy constructor is not declared noexcept; a prvalue argument is constructed in place
/// (no copy), so `noexcept` requirements test the callee alone.
template <class T>
T fresh() noexcept;
}  // namespace detail

/// A linear op of the host engine. In plain words:
/// - in_features() and out_features() say its size; they never throw and return Index;
/// - forward(x, y) on a const object overwrites y:(n,out) with base(x:(n,in)) and never throws.
template <class B>
concept LinearBase = requires(const B& b) {
  { b.in_features() }
  noexcept->std::same_as<Index>;
  { b.out_features() }
  noexcept->std::same_as<Index>;
  { b.forward(detail::fresh<ConstMatrixView>(), detail::fresh<MatrixView>()) }
  noexcept;
};

/// A LinearBase whose weights lorakit may rewrite (merge/unmerge). In plain words:
/// - weight() gives a writable view of W;
/// - layout() says whether that view is W:(out,in) or W:(in,out) (GPT-2 Conv1D).
template <class B>
concept MergeableBase = LinearBase<B> && requires(B& b, const B& cb) {
  { b.weight() }
  noexcept->std::same_as<MatrixView>;
  { cb.layout() }
  noexcept->std::same_as<WeightLayout>;
};

/// A LinearBase whose weights lorakit may read (DoRA takes W's row norms from them). In plain
/// words:
/// - weight_view() gives a read-only view of W;
/// - layout() says whether that view is W:(out,in) or W:(in,out) (GPT-2 Conv1D).
/// A bias, when the base has one, is read through an optional bias() returning a span of
/// out_features() floats (empty: none).
template <class B>
concept ReadableWeightsBase = LinearBase<B> && requires(const B& b) {
  { b.weight_view() }
  noexcept->std::same_as<ConstMatrixView>;
  { b.layout() }
  noexcept->std::same_as<WeightLayout>;
};

/// The two products of the low-rank path, into caller memory. In plain words:
/// - K::name names the kernel in tests and benchmarks;
/// - K::project(x, a, t) writes t:(n,r) = x:(n,in) * a:(in,r), never throws;
/// - K::expand(t, b, s, y) adds s * t:(n,r) * b:(r,out) to y:(n,out), never throws.
/// A kernel of the low-rank path: project (t = x * A) and expand (y += s * t * B) on float
/// weights, and on Float16 / BFloat16 weights (WeightView<T>) widened as they are read.
template <class K>
concept LowRankKernel = requires(float s) {
  { K::name } -> std::convertible_to<std::string_view>;
  {
    K::project(detail::fresh<ConstMatrixView>(), detail::fresh<ConstMatrixView>(),
               detail::fresh<MatrixView>())
  }
  noexcept;
  {
    K::expand(detail::fresh<ConstMatrixView>(), detail::fresh<ConstMatrixView>(), s,
              detail::fresh<MatrixView>())
  }
  noexcept;
  {
    K::project(detail::fresh<ConstMatrixView>(), detail::fresh<WeightView<Float16>>(),
               detail::fresh<MatrixView>())
  }
  noexcept;
  {
    K::expand(detail::fresh<ConstMatrixView>(), detail::fresh<WeightView<BFloat16>>(), s,
              detail::fresh<MatrixView>())
  }
  noexcept;
};

namespace detail {
/// The least a LowRankKernel offers: AdapterVariant checks apply() against it, so a variant's
/// apply must accept any kernel.
struct KernelArchetype {
  static constexpr std::string_view name = "archetype";
  static void project(ConstMatrixView x, ConstMatrixView a, MatrixView t) noexcept;
  static void expand(ConstMatrixView t, ConstMatrixView b, float s, MatrixView y) noexcept;
  template <class T>
  static void project(ConstMatrixView x, WeightView<T> a, MatrixView t) noexcept;
  template <class T>
  static void expand(ConstMatrixView t, WeightView<T> b, float s, MatrixView y) noexcept;
};
}  // namespace detail

/// The maths of one kind of adapter (LoRA, DoRA, IA3, ...). In plain words:
/// - V::name is its name in configs and errors ("lora");
/// - V::Params holds its hyper-parameters, at least the rank;
/// - V::Weights holds views of its tensors; V::slots lists them with symbolic shapes;
/// - V::slot(w, i) is the tensor in slot i; V::bind(tensors) builds Weights from one per slot;
/// - V::scale(p) is the multiplier the params imply (alpha/r for LoRA), never throws;
/// - V::apply(w, s, x, y, ws, kernel) adds s * delta(x) to y using the kernel and scratch from
///   ws, never throws.
template <class V>
concept AdapterVariant = requires(const typename V::Weights& w, const typename V::Params& p,
                                  const std::array<ConstMatrixView, V::slots.size()>& tensors,
                                  std::size_t i, float s, Workspace& ws) {
  { V::name } -> std::convertible_to<std::string_view>;
  { V::slots[i] } -> std::convertible_to<Slot>;
  { p.rank } -> std::convertible_to<Index>;
  { V::slot(w, i) } -> std::convertible_to<StoredView>;
  { V::bind(tensors) } -> std::same_as<typename V::Weights>;
  { V::scale(p) }
  noexcept->std::same_as<float>;
  {
    V::apply(w, s, detail::fresh<ConstMatrixView>(), detail::fresh<MatrixView>(), ws,
             detail::KernelArchetype{})
  }
  noexcept;
};

/// Whether variant V can run on base B: a variant that declares `needs_base_weights` (DoRA)
/// needs a ReadableWeightsBase; every other variant runs on any LinearBase.
namespace detail {
template <class V>
concept wants_base_weights = requires {
  requires V::needs_base_weights;
};
}  // namespace detail

template <class V, class B>
concept VariantFits = AdapterVariant<V> && LinearBase<B> &&
    (!detail::wants_base_weights<V> || ReadableWeightsBase<B>);

}  // namespace lorakit
