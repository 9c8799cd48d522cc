// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DefaultKernel: the kernel LoRALinear uses unless told otherwise.
#pragma once

#include "lorakit/config.hpp"
#include "lorakit/kernels/scalar.hpp"

#ifndef LORAKIT_FORCE_SCALAR
#include "lorakit/kernels/simd.hpp"
#endif

namespace lorakit {

/// The kernel LoRALinear uses by default: SimdKernel on the widest architecture the
/// translation unit's compiler flags allow (xsimd::default_arch), or the scalar oracle when
/// LORAKIT_FORCE_SCALAR is defined. Being an alias of a class template specialised on the
/// architecture, translation units built with different -m flags name different types.
#ifdef LORAKIT_FORCE_SCALAR
using DefaultKernel = kernels::ScalarKernel;
#else
using DefaultKernel = kernels::SimdKernel<xsimd::default_arch>;
#endif

}  // namespace lorakit
