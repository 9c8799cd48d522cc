// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Adapter weights stored as float, Float16 or BFloat16 in a padded, unaligned buffer.
#pragma once

#include <cstddef>
#include <type_traits>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit::test {

/// The values of m rounded to T, stored as T in a buffer whose view starts one element in
/// (unaligned) and whose rows are `pad` elements longer than m's; view() reads them back
/// (widened to float by operator()).
template <class T>
struct StoredWeights {
  std::vector<T> storage;
  Index rows, cols, stride;
  StoredWeights(const RowMatrix& m, Index pad)
      : storage(static_cast<std::size_t>(1 + m.rows() * (m.cols() + pad) + 1)),
        rows(m.rows()),
        cols(m.cols()),
        stride(m.cols() + pad) {
    for (Index i = 0; i < rows; ++i) {
      for (Index j = 0; j < cols; ++j) {
        T v;
        if constexpr (std::is_same_v<T, float>) {
          v = m(i, j);
        } else {
          v = T::from_float(m(i, j));
        }
        storage[static_cast<std::size_t>(1 + i * stride + j)] = v;
      }
    }
  }
  [[nodiscard]] WeightView<T> view() const {
    return weight_view(storage.data() + 1, rows, cols, stride);
  }
};

}  // namespace lorakit::test
