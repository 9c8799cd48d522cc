// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The list of every variant lorakit ships.
#pragma once

#include "lorakit/variants/dora.hpp"
#include "lorakit/variants/ia3.hpp"
#include "lorakit/variants/lora.hpp"

namespace lorakit {

/// A compile-time list of variants.
template <class... Variants>
struct VariantList {};

/// Every variant lorakit ships.
using Variants = VariantList<LoRA, DoRA, IA3, IA3Input>;

}  // namespace lorakit
