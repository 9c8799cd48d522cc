// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Float dot product and axpy written so compilers vectorise them without -ffast-math.
#pragma once

#include "lorakit/core/shape.hpp"

namespace lorakit::detail {

/// sum_k a[k] * b[k] over n floats. Sixteen independent partial sums let the compiler use SIMD
/// lanes without reassociating a single sum; the partials are then added in a fixed order, so
/// the result is deterministic for a given n.
[[nodiscard]] inline float dot(const float* a, const float* b, Index n) noexcept {
  constexpr Index kLanes = 16;
  float part[kLanes] = {};
  Index k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (Index l = 0; l < kLanes; ++l) part[l] += a[k + l] * b[k + l];
  }
  for (Index l = 0; k < n; ++k, ++l) part[l] += a[k] * b[k];
  float sum = 0.0f;
  for (float p : part) sum += p;
  return sum;
}

/// y[k] += alpha * x[k] over n floats.
inline void axpy(float alpha, const float* x, float* y, Index n) noexcept {
  for (Index k = 0; k < n; ++k) y[k] += alpha * x[k];
}

}  // namespace lorakit::detail
