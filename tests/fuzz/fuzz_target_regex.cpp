// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: a target_modules regex from an adapter config, compiled by TargetMatcher and
// matched against module names. The input's first line is the pattern, each further line a
// name. Compiling either succeeds or throws lorakit::Error; matching always returns.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_input.hpp"
#include "lorakit/detail/name_regex.hpp"
#include "lorakit/runtime/targeting.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t line = input.find('\n');
  const std::string_view pattern = input.substr(0, line);
  std::string_view names = line == std::string_view::npos ? "" : input.substr(line + 1);
  try {
    // Small limits as well as the defaults, by the input's length: the limits must hold at any
    // setting.
    const detail::NameRegex::Limits limits =
        size % 2 == 0
            ? detail::NameRegex::Limits{}
            : detail::NameRegex::Limits{.max_pattern_bytes = 512, .max_depth = 8, .max_states = 64};
    const detail::NameRegex re = detail::NameRegex::compile(pattern, limits);
    fuzz::require(re.states() >= 1 && re.states() <= limits.max_states);
    const TargetMatcher matcher(TargetRule{.regex = std::string(pattern)});
    (void)re.full_match("model.layers.0.self_attn.q_proj");
    while (true) {
      const std::size_t end = names.find('\n');
      const std::string_view name = names.substr(0, end);
      // The rule and the regex are one engine: both must give the same answer (an empty
      // pattern is no rule at all).
      fuzz::require(size % 2 == 1 || pattern.empty() || re.full_match(name) == matcher(name));
      if (end == std::string_view::npos) break;
      names.remove_prefix(end + 1);
    }
  } catch (const Error&) {
  }
  return 0;
}
