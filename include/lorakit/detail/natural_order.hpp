// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// natural_less: names ordered as people read them, numbers by value ("layers.2" < "layers.10").
#pragma once

#include <cstddef>
#include <string_view>

namespace lorakit::detail {

// a < b with every run of digits compared by its value: "layers.2" < "layers.10" < "lm_head".
// Names equal that way ("layers.01", "layers.1") fall back to plain string order, so this is a
// strict weak order.
[[nodiscard]] inline bool natural_less(std::string_view a, std::string_view b) noexcept {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      std::size_t end_a = i;
      std::size_t end_b = j;
      while (end_a < a.size() && is_digit(a[end_a])) ++end_a;
      while (end_b < b.size() && is_digit(b[end_b])) ++end_b;
      while (i + 1 < end_a && a[i] == '0') ++i;  // leading zeros do not change the value
      while (j + 1 < end_b && b[j] == '0') ++j;
      const std::string_view na = a.substr(i, end_a - i);
      const std::string_view nb = b.substr(j, end_b - j);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = end_a;
      j = end_b;
      continue;
    }
    if (a[i] != b[j]) {
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    }
    ++i;
    ++j;
  }
  if ((i < a.size()) != (j < b.size())) return j < b.size();  // a prefix comes first
  return a < b;
}

}  // namespace lorakit::detail
