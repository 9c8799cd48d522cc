// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Archetypes: minimal types that meet a concept, and types that each miss one requirement.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "lorakit/core/concepts.hpp"

namespace lorakit::test::archetype {

// ---- LinearBase ----
struct Base {
  Index in_features() const noexcept { return 1; }
  Index out_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) const noexcept {}
};
struct BaseMissingIn {
  Index out_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) const noexcept {}
};
struct BaseMissingOut {
  Index in_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) const noexcept {}
};
struct BaseMissingForward {
  Index in_features() const noexcept { return 1; }
  Index out_features() const noexcept { return 1; }
};
struct BaseForwardMayThrow {
  Index in_features() const noexcept { return 1; }
  Index out_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) const {}
};
struct BaseForwardNotConst {
  Index in_features() const noexcept { return 1; }
  Index out_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) noexcept {}
};
struct BaseSizesAreInt {
  int in_features() const noexcept { return 1; }
  int out_features() const noexcept { return 1; }
  void forward(ConstMatrixView, MatrixView) const noexcept {}
};

// ---- MergeableBase ----
struct Mergeable : Base {
  MatrixView weight() noexcept { return make_view(static_cast<float*>(nullptr), 0, 0); }
  WeightLayout layout() const noexcept { return WeightLayout::out_in; }
};
struct MergeableMissingWeight : Base {
  WeightLayout layout() const noexcept { return WeightLayout::out_in; }
};
struct MergeableMissingLayout : Base {
  MatrixView weight() noexcept { return make_view(static_cast<float*>(nullptr), 0, 0); }
};
struct MergeableWeightReadOnly : Base {
  ConstMatrixView weight() noexcept { return make_view(static_cast<const float*>(nullptr), 0, 0); }
  WeightLayout layout() const noexcept { return WeightLayout::out_in; }
};
struct MergeableNotABase {
  MatrixView weight() noexcept { return make_view(static_cast<float*>(nullptr), 0, 0); }
  WeightLayout layout() const noexcept { return WeightLayout::out_in; }
};

// ---- LowRankKernel ----
struct Kernel {
  static constexpr std::string_view name = "k";
  static void project(ConstMatrixView, ConstMatrixView, MatrixView) noexcept {}
  static void expand(ConstMatrixView, ConstMatrixView, float, MatrixView) noexcept {}
  template <class T>
  static void project(ConstMatrixView, WeightView<T>, MatrixView) noexcept {}
  template <class T>
  static void expand(ConstMatrixView, WeightView<T>, float, MatrixView) noexcept {}
};
// Float weights only: cannot run 16-bit adapters.
struct KernelFloatOnly {
  static constexpr std::string_view name = "k";
  static void project(ConstMatrixView, ConstMatrixView, MatrixView) noexcept {}
  static void expand(ConstMatrixView, ConstMatrixView, float, MatrixView) noexcept {}
};
struct KernelMissingName {
  static void project(ConstMatrixView, ConstMatrixView, MatrixView) noexcept {}
  static void expand(ConstMatrixView, ConstMatrixView, float, MatrixView) noexcept {}
};
struct KernelMissingProject {
  static constexpr std::string_view name = "k";
  static void expand(ConstMatrixView, ConstMatrixView, float, MatrixView) noexcept {}
};
struct KernelMissingExpand {
  static constexpr std::string_view name = "k";
  static void project(ConstMatrixView, ConstMatrixView, MatrixView) noexcept {}
};
struct KernelProjectMayThrow {
  static constexpr std::string_view name = "k";
  static void project(ConstMatrixView, ConstMatrixView, MatrixView) {}
  static void expand(ConstMatrixView, ConstMatrixView, float, MatrixView) noexcept {}
};

// ---- AdapterVariant ----
// A complete variant; each archetype below derives from the pieces and leaves one out.
struct VariantParts {
  struct Params {
    Index rank = 1;
  };
  struct Weights {
    ConstMatrixView a;
  };
  static constexpr std::array<Slot, 1> slots{{{"w", Dim::in, Dim::rank}}};
};
#define LORAKIT_ARCHETYPE_NAME static constexpr std::string_view name = "v";
#define LORAKIT_ARCHETYPE_SLOT \
  static ConstMatrixView slot(const Weights& w, std::size_t) noexcept { return w.a; }
#define LORAKIT_ARCHETYPE_BIND \
  static Weights bind(const std::array<ConstMatrixView, 1>& t) noexcept { return Weights{t[0]}; }
#define LORAKIT_ARCHETYPE_SCALE \
  static float scale(const Params&) noexcept { return 1.0f; }
#define LORAKIT_ARCHETYPE_APPLY \
  template <class K>            \
  static void apply(const Weights&, float, ConstMatrixView, MatrixView, Workspace&, K) noexcept {}

struct Variant : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_SCALE
      LORAKIT_ARCHETYPE_APPLY
};
struct VariantMissingName : VariantParts {
  LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_SCALE LORAKIT_ARCHETYPE_APPLY
};
struct VariantMissingSlots {
  using Params = VariantParts::Params;
  using Weights = VariantParts::Weights;
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_SCALE LORAKIT_ARCHETYPE_APPLY
};
struct VariantMissingSlot : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_SCALE LORAKIT_ARCHETYPE_APPLY
};
struct VariantMissingBind : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_SCALE LORAKIT_ARCHETYPE_APPLY
};
struct VariantMissingScale : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_APPLY
};
struct VariantScaleMayThrow : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND
      LORAKIT_ARCHETYPE_APPLY static float
      scale(const Params&) {
    return 1.0f;
  }
};
struct VariantMissingApply : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_SCALE
};
struct VariantApplyOnlyForOneKernel : VariantParts {
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND
      LORAKIT_ARCHETYPE_SCALE static void
      apply(const Weights&, float, ConstMatrixView, MatrixView, Workspace&, Kernel) noexcept {}
};
struct VariantParamsWithoutRank {
  struct Params {
    float alpha = 1.0f;
  };
  using Weights = VariantParts::Weights;
  static constexpr std::array<Slot, 1> slots = VariantParts::slots;
  LORAKIT_ARCHETYPE_NAME LORAKIT_ARCHETYPE_SLOT LORAKIT_ARCHETYPE_BIND LORAKIT_ARCHETYPE_SCALE
      LORAKIT_ARCHETYPE_APPLY
};

#undef LORAKIT_ARCHETYPE_NAME
#undef LORAKIT_ARCHETYPE_SLOT
#undef LORAKIT_ARCHETYPE_BIND
#undef LORAKIT_ARCHETYPE_SCALE
#undef LORAKIT_ARCHETYPE_APPLY

}  // namespace lorakit::test::archetype
