// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Configuration macros: LORAKIT_ASSERT (debug-only checks) and LORAKIT_FORCE_SCALAR.
#pragma once

#include <cstdio>
#include <cstdlib>

// LORAKIT_FORCE_SCALAR: define it (to anything) before including lorakit to make
// DefaultKernel the plain-loop ScalarKernel instead of the SIMD kernel.

// LORAKIT_ASSERT(cond): a precondition check on the hot path. On in debug builds,
// compiled out under NDEBUG (Eigen's eigen_assert model). Define LORAKIT_ASSERT
// yourself before including lorakit to route failures elsewhere.
#ifndef LORAKIT_ASSERT
#ifdef NDEBUG
#define LORAKIT_ASSERT(cond) static_cast<void>(0)
#else
#define LORAKIT_ASSERT(cond)                                                                  \
  ((cond) ? static_cast<void>(0)                                                              \
          : (std::fprintf(stderr, "lorakit: assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                          __LINE__),                                                          \
             std::abort()))
#endif
#endif
