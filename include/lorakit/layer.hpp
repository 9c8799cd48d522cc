// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The layer umbrella: what a host that wraps its own linear ops in LoRALinear needs (layer,
// variants, bases, kernels, core types, errors), without the runtime, the file loaders or JSON.
#pragma once

#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/function_linear.hpp"
#include "lorakit/base/int8_linear.hpp"
#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/selection.hpp"
#include "lorakit/core/shape.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/error.hpp"
#include "lorakit/kernels/default.hpp"
#include "lorakit/kernels/merge.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/layer/pass.hpp"
#include "lorakit/variants/all.hpp"
#include "lorakit/variants/lora.hpp"
#include "lorakit/version.hpp"
