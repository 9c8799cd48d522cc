// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Targeting: which host layer a module name of an adapter file means, and which layers an
// adapter's target rule selects.
#pragma once

#include <charconv>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/detail/name_regex.hpp"
#include "lorakit/error.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit {

/// Maps a module name as adapter files spell it (model.layers.3.self_attn.q_proj) to the name
/// the host registered its layer under. Rules apply in the order they were added, each to the
/// result of the previous one; with no rules the name is kept.
///
/// @code
///   lorakit::NameMap names;
///   names.strip_prefix("model.").replace("self_attn.", "attn.");   // layers.3.attn.q_proj
///   names.function([](std::string_view n) { return std::string(n); });
/// @endcode
class NameMap {
 public:
  using Function = std::function<std::string(std::string_view)>;

  /// Removes `prefix` from names that start with it.
  NameMap& strip_prefix(std::string prefix) {
    rules_.push_back([p = std::move(prefix)](std::string_view n) {
      return std::string(n.starts_with(p) ? n.substr(p.size()) : n);
    });
    return *this;
  }

  /// Replaces a leading `from` with `to` (names without it are kept).
  NameMap& replace_prefix(std::string from, std::string to) {
    rules_.push_back([f = std::move(from), t = std::move(to)](std::string_view n) {
      return n.starts_with(f) ? t + std::string(n.substr(f.size())) : std::string(n);
    });
    return *this;
  }

  /// Replaces every occurrence of `from` (non-empty) with `to`.
  NameMap& replace(std::string from, std::string to) {
    if (from.empty()) throw Error(Errc::bad_config, {}, "NameMap::replace needs a non-empty text");
    rules_.push_back([f = std::move(from), t = std::move(to)](std::string_view n) {
      std::string out;
      std::size_t at = 0;
      for (std::size_t hit; (hit = n.find(f, at)) != std::string_view::npos; at = hit + f.size()) {
        out.append(n.substr(at, hit - at)).append(t);
      }
      return out.append(n.substr(at));
    });
    return *this;
  }

  /// Any mapping of the host's own; an empty result means "no layer of the host".
  NameMap& function(Function f) {
    rules_.push_back(std::move(f));
    return *this;
  }

  [[nodiscard]] std::string operator()(std::string_view module) const {
    std::string name(module);
    for (const Function& rule : rules_) name = rule(name);
    return name;
  }

  [[nodiscard]] bool empty() const noexcept { return rules_.empty(); }

 private:
  std::vector<Function> rules_;
};

/// The layer index in a module name, as PEFT finds it for layers_to_transform: the last
/// all-digit component that has at least two components before it and one after it, and, when
/// `patterns` (layers_pattern) is given, directly follows one of them. -1 when there is none.
/// "model.layers.3.self_attn.q_proj" -> 3; "model.layers.1.mlp.experts.0.w1" -> 0, or 1 with
/// the pattern "layers".
[[nodiscard]] inline int layer_index(std::string_view module,
                                     std::span<const std::string> patterns = {}) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t dot = module.find('.', start);
    parts.push_back(module.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (std::size_t i = parts.size() - 1; i-- > 2;) {  // i <= size - 2: a component follows
    const std::string_view part = parts[i];
    if (part.empty() || part.size() > 9 ||
        part.find_first_not_of("0123456789") != std::string_view::npos) {
      continue;
    }
    bool after_pattern = patterns.empty();
    for (const std::string& p : patterns) after_pattern = after_pattern || parts[i - 1] == p;
    if (!after_pattern) continue;
    int value = 0;
    std::from_chars(part.data(), part.data() + part.size(), value);
    return value;
  }
  return -1;
}

/// Whether `rule` names any modules at all (an adapter built in memory or read from a GGUF file
/// may carry none).
[[nodiscard]] inline bool has_rule(const TargetRule& rule) noexcept {
  return !rule.names.empty() || !rule.regex.empty();
}

/// A predicate on module names: true for modules of layers first .. last - 1 (by
/// layer_index()), e.g. the layers one pipeline stage holds, for Adapter::subset.
[[nodiscard]] inline auto in_layers(int first, int last) {
  return [first, last](std::string_view module) {
    const int i = layer_index(module);
    return i >= first && i < last;
  };
}

/// A TargetRule ready to test many names, with PEFT's semantics: a regex must match the whole
/// name; a list entry matches the name itself, or its last components ("q_proj" matches
/// "model.layers.0.self_attn.q_proj"), and only such suffix matches are narrowed by `layers`
/// (layers_to_transform, with layer_index()) and by `last_layers` (mlx-lm's num_layers: the
/// last that many of the model's `num_layers` layers).
class TargetMatcher {
 public:
  /// The regex is Python's syntax as detail::NameRegex reads it (matched in time linear in the
  /// name, whatever the pattern).
  /// @throws lorakit::Error (bad_config for a regex Python would refuse too, unsupported for
  /// syntax NameRegex does not implement, limit_exceeded for a pattern above its limits).
  explicit TargetMatcher(TargetRule rule, int num_layers = -1)
      : rule_(std::move(rule)), num_layers_(num_layers) {
    if (rule_.regex.empty()) return;
    try {
      regex_.emplace(detail::NameRegex::compile(rule_.regex));
    } catch (const Error& e) {
      constexpr std::size_t kShown = 80;  // a hostile pattern may be megabytes long
      const std::string shown =
          rule_.regex.size() <= kShown ? rule_.regex : rule_.regex.substr(0, kShown) + "...";
      throw Error(e.code(), {},
                  "target_modules regex '" + shown + "': " + e.problems().front().detail);
    }
  }

  [[nodiscard]] bool operator()(std::string_view module) const {
    if (regex_) return regex_->full_match(module);
    bool suffix = false;
    for (const std::string& name : rule_.names) {
      if (module == name) return true;  // named exactly: no layer filter (as PEFT)
      suffix = suffix || (module.size() > name.size() && module.ends_with(name) &&
                          module[module.size() - name.size() - 1] == '.');
    }
    if (!suffix) return false;
    if (rule_.layers.empty() && rule_.last_layers < 0) return true;
    const int index = layer_index(module, rule_.layers_pattern);
    if (index < 0) return false;
    if (!rule_.layers.empty()) {
      bool listed = false;
      for (int l : rule_.layers) listed = listed || l == index;
      if (!listed) return false;
    }
    return rule_.last_layers < 0 || num_layers_ < 0 || index >= num_layers_ - rule_.last_layers;
  }

 private:
  TargetRule rule_;
  int num_layers_;
  std::optional<detail::NameRegex> regex_;
};

/// Whether `rule` selects `module` (see TargetMatcher; build one to test many names).
[[nodiscard]] inline bool targets(const TargetRule& rule, std::string_view module,
                                  int num_layers = -1) {
  return TargetMatcher(rule, num_layers)(module);
}

}  // namespace lorakit
