// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DefaultKernel: the kernel LoRALinear uses unless told otherwise.
#pragma once

#include "lorakit/config.hpp"
#include "lorakit/kernels/scalar.hpp"

namespace lorakit {

/// The kernel LoRALinear uses by default. Today this is the scalar oracle; the SIMD kernel
/// (kernels/simd.hpp) takes its place when it lands, and LORAKIT_FORCE_SCALAR keeps the oracle.
using DefaultKernel = kernels::ScalarKernel;

}  // namespace lorakit
