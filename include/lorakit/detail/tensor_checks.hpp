// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The value checks every loader applies to a weight tensor: a float dtype, finite values.
#pragma once

#include <string>

#include "lorakit/detail/tensor_store.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/safetensors.hpp"

namespace lorakit::detail {

/// Adds a problem naming the tensor and module when t is not stored as a float type
/// (Errc::unsupported_dtype) or, when check_finite, holds NaN or infinite values
/// (Errc::non_finite). Returns false when the dtype makes the tensor unusable.
inline bool check_weights(const io::TensorEntry& t, const std::string& file,
                          const std::string& module, bool check_finite, ProblemList& problems) {
  if (!io::is_float_dtype(t.dtype)) {
    problems.add(Errc::unsupported_dtype,
                 ErrorContext{.file = file, .tensor = t.name, .module = module},
                 std::string(to_string(t.dtype)) + " is not a float type (F32, F16, BF16, F64)");
    return false;
  }
  if (check_finite) {
    const std::size_t bad = count_non_finite(t.dtype, t.bytes);
    if (bad != 0) {
      problems.add(Errc::non_finite, ErrorContext{.file = file, .tensor = t.name, .module = module},
                   std::to_string(bad) + " of " + std::to_string(t.elements()) +
                       " values are NaN or infinite (LoadOptions::check_finite = false loads "
                       "them anyway)");
    }
  }
  return true;
}

}  // namespace lorakit::detail
