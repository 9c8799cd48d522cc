// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Index, the one signed dimension type, and Shape, a tensor's dimensions as printed in errors.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>

namespace lorakit {

/// The one index type for dimensions and strides (equal to Eigen::Index).
using Index = std::ptrdiff_t;

/// A tensor's dimensions, outermost first. Prints as "[4096, 8]".
struct Shape {
  std::vector<Index> dims;

  Shape() = default;
  Shape(std::initializer_list<Index> d) : dims(d) {}
  explicit Shape(std::vector<Index> d) : dims(std::move(d)) {}

  [[nodiscard]] std::size_t rank() const noexcept { return dims.size(); }
  [[nodiscard]] std::string str() const {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (i != 0) s += ", ";
      s += std::to_string(dims[i]);
    }
    return s + "]";
  }
  friend bool operator==(const Shape&, const Shape&) = default;
};

}  // namespace lorakit
