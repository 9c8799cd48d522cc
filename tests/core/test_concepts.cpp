// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Concept checks: each archetype meets or misses exactly one requirement; real types conform.
#include <catch2/catch.hpp>

#include "archetypes.hpp"
#include "lorakit/lorakit.hpp"

namespace at = lorakit::test::archetype;
using lorakit::AdapterVariant;
using lorakit::LinearBase;
using lorakit::LowRankKernel;
using lorakit::MergeableBase;

TEST_CASE("LinearBase: needs noexcept sizes as Index and a const noexcept forward",
          "[core][concepts]") {
  STATIC_REQUIRE(LinearBase<at::Base>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseMissingIn>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseMissingOut>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseMissingForward>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseForwardMayThrow>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseForwardNotConst>);
  STATIC_REQUIRE_FALSE(LinearBase<at::BaseSizesAreInt>);
}

TEST_CASE("MergeableBase: a LinearBase with writable weights and a layout", "[core][concepts]") {
  STATIC_REQUIRE(MergeableBase<at::Mergeable>);
  STATIC_REQUIRE_FALSE(MergeableBase<at::Base>);
  STATIC_REQUIRE_FALSE(MergeableBase<at::MergeableMissingWeight>);
  STATIC_REQUIRE_FALSE(MergeableBase<at::MergeableMissingLayout>);
  STATIC_REQUIRE_FALSE(MergeableBase<at::MergeableWeightReadOnly>);
  STATIC_REQUIRE_FALSE(MergeableBase<at::MergeableNotABase>);
}

TEST_CASE("LowRankKernel: a name and noexcept project and expand", "[core][concepts]") {
  STATIC_REQUIRE(LowRankKernel<at::Kernel>);
  STATIC_REQUIRE_FALSE(LowRankKernel<at::KernelMissingName>);
  STATIC_REQUIRE_FALSE(LowRankKernel<at::KernelMissingProject>);
  STATIC_REQUIRE_FALSE(LowRankKernel<at::KernelMissingExpand>);
  STATIC_REQUIRE_FALSE(LowRankKernel<at::KernelFloatOnly>);
  STATIC_REQUIRE_FALSE(LowRankKernel<at::KernelProjectMayThrow>);
}

TEST_CASE("AdapterVariant: name, params with a rank, slots, bind, scale and a generic apply",
          "[core][concepts]") {
  STATIC_REQUIRE(AdapterVariant<at::Variant>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingName>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingSlots>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingSlot>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingBind>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingScale>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantScaleMayThrow>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantMissingApply>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantApplyOnlyForOneKernel>);
  STATIC_REQUIRE_FALSE(AdapterVariant<at::VariantParamsWithoutRank>);
}

TEST_CASE("lorakit's own types meet the concepts they promise", "[core][concepts]") {
  auto callable = [](lorakit::ConstMatrixView, lorakit::MatrixView) {};
  STATIC_REQUIRE(LinearBase<lorakit::DenseLinear<const float>>);
  STATIC_REQUIRE_FALSE(MergeableBase<lorakit::DenseLinear<const float>>);
  STATIC_REQUIRE(MergeableBase<lorakit::DenseLinear<float>>);
  STATIC_REQUIRE(LinearBase<lorakit::FunctionLinear<decltype(callable)>>);
  STATIC_REQUIRE_FALSE(MergeableBase<lorakit::FunctionLinear<decltype(callable)>>);
  STATIC_REQUIRE(LowRankKernel<lorakit::kernels::ScalarKernel>);
  STATIC_REQUIRE(LowRankKernel<lorakit::DefaultKernel>);
  STATIC_REQUIRE(AdapterVariant<lorakit::LoRA>);
}
