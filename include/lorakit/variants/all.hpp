// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The list of every variant lorakit ships.
#pragma once

#include "lorakit/variants/dora.hpp"
#include "lorakit/variants/lora.hpp"

namespace lorakit {

/// A compile-time list of variants.
template <class... Variants>
struct VariantList {};

/// Every variant lorakit ships (grows as IA3 lands).
using Variants = VariantList<LoRA, DoRA>;

}  // namespace lorakit
