// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The list of every variant lorakit ships.
#pragma once

#include "lorakit/variants/dora.hpp"
#include "lorakit/variants/ia3.hpp"
#include "lorakit/variants/lora.hpp"
#include "lorakit/variants/one_of.hpp"

namespace lorakit {

/// A compile-time list of variants.
template <class... Variants>
struct VariantList {};

/// Every variant lorakit ships.
using Variants = VariantList<LoRA, DoRA, IA3, IA3Input>;

/// Every variant lorakit ships, chosen per adapter at run time: the Variant of a layer that
/// takes whatever adapter file a user brings.
using AnyVariant = OneOf<LoRA, DoRA, IA3, IA3Input>;

}  // namespace lorakit
