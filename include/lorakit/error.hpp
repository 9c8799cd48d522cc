// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Errc and lorakit::Error: the one exception type, with the context a user needs to act.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/core/shape.hpp"
#include "lorakit/detail/natural_order.hpp"

namespace lorakit {

/// What went wrong. The name appears in every message as "[lorakit.<name>]";
/// docs/errors.md describes each one.
enum class Errc {
  io,                 ///< a file could not be opened, read, mapped or written
  bad_format,         ///< bytes that do not follow the file format
  unsupported,        ///< a valid request lorakit does not implement (or refuses)
  unsupported_dtype,  ///< a tensor element type the operation cannot use
  missing_tensor,     ///< a tensor the adapter needs is absent
  unexpected_tensor,  ///< a tensor nobody knows what to do with
  shape_mismatch,     ///< a tensor's shape disagrees with the layer or its partner
  bad_config,         ///< an invalid configuration value
  no_target,          ///< a module the adapter names has no layer to attach to
  incompatible_base,  ///< the base layer cannot do what the adapter needs
  non_finite,         ///< NaN or infinity in adapter weights
  limit_exceeded,     ///< a size above a configured resource limit
};

/// The stable name of an error code ("shape_mismatch").
[[nodiscard]] constexpr std::string_view to_string(Errc e) noexcept {
  switch (e) {
    case Errc::io: return "io";
    case Errc::bad_format: return "bad_format";
    case Errc::unsupported: return "unsupported";
    case Errc::unsupported_dtype: return "unsupported_dtype";
    case Errc::missing_tensor: return "missing_tensor";
    case Errc::unexpected_tensor: return "unexpected_tensor";
    case Errc::shape_mismatch: return "shape_mismatch";
    case Errc::bad_config: return "bad_config";
    case Errc::no_target: return "no_target";
    case Errc::incompatible_base: return "incompatible_base";
    case Errc::non_finite: return "non_finite";
    case Errc::limit_exceeded: return "limit_exceeded";
  }
  return "unknown";
}

/// Where a problem was found. Every field is optional; empty fields are left out of the message.
struct ErrorContext {
  std::string file;               ///< the file being read or written
  std::string tensor;             ///< the tensor key as stored in the file
  std::string key;                ///< a metadata or configuration key, e.g. general.alignment
  std::string module;             ///< canonical module name, e.g. model.layers.3.self_attn.q_proj
  std::string slot;               ///< the variant's tensor slot, e.g. lora_A
  std::optional<Shape> expected;  ///< the shape that was required, in lorakit's layout
  std::optional<Shape> actual;    ///< the shape that was found, in lorakit's layout
  /// `expected` and `actual` as the file stores the tensor, when that differs from lorakit's
  /// layout (PEFT keeps A:(in, r) as lora_A [r, in]); the message shows these first.
  std::optional<Shape> expected_in_file;
  std::optional<Shape> actual_in_file;
  /// How the file writes its shapes, put before them: "ne" for GGUF (ggml's order, innermost
  /// dimension first); empty for row-major, outermost first.
  std::string file_notation;
  std::string hint;  ///< what the user may try, e.g. "maybe wrong base model?"
};

/// One problem: a code, where it happened, and what happened.
struct Problem {
  Errc code;
  ErrorContext context;
  std::string detail;  ///< what is wrong, in words ("rank of lora_B disagrees with lora_A")
};

namespace detail {

/// Builds the one-line description of a problem. Every message lorakit shows passes through here:
/// [lorakit.<errc>] <file>: tensor '<key>' (module <m>, slot <s>): <detail>: expected [..], got
/// [..] (hint: ..). With the file's shapes known: expected [r, in] in the file ([in, r] in
/// lorakit), got [..] ([..]).
inline std::string format_problem(const Problem& p) {
  const ErrorContext& c = p.context;
  std::string s = "[lorakit.";
  s += to_string(p.code);
  s += "]";
  auto append = [](std::string& to, std::string_view text) {
    if (!to.empty()) to += ": ";
    to += text;
  };
  std::string where = c.file;
  if (!c.tensor.empty()) append(where, "tensor '" + c.tensor + "'");
  if (!c.key.empty()) append(where, "key '" + c.key + "'");
  std::string owner;
  if (!c.module.empty()) owner += "module " + c.module;
  if (!c.slot.empty()) owner += (owner.empty() ? "slot " : ", slot ") + c.slot;
  if (!owner.empty()) {
    if (c.tensor.empty()) {
      append(where, owner);
    } else {
      where += " (" + owner + ")";
    }
  }
  const std::string in_file = c.file_notation.empty() ? "" : c.file_notation + " ";
  std::string what = p.detail;
  if (c.expected || c.actual) {
    if (!what.empty()) what += ": ";
    bool named = false;  // "in the file" said once, on the first shape shown
    auto shape = [&](const std::optional<Shape>& lorakit, const std::optional<Shape>& file) {
      if (!file) return lorakit->str();
      std::string t = in_file + file->str();
      t += named ? " (" + lorakit->str() + ")" : " in the file (" + lorakit->str() + " in lorakit)";
      named = true;
      return t;
    };
    if (c.expected) what += "expected " + shape(c.expected, c.expected_in_file);
    if (c.expected && c.actual) what += ", ";
    if (c.actual) what += "got " + shape(c.actual, c.actual_in_file);
  }
  if (!where.empty()) s += " " + where;
  if (!what.empty()) s += (where.empty() ? " " : ": ") + what;
  if (!c.hint.empty()) s += " (hint: " + c.hint + ")";
  return s;
}

/// Problems shown per kind in a message; Error::problems() has every one.
inline constexpr std::size_t kShownPerKind = 3;

/// The message of an Error. One problem: its line. Several, or a diagnosis: a first line with
/// the first problem's tag and the diagnosis (or the count), then the problems grouped by kind in
/// the order given, each group with its count, its first kShownPerKind problems and "and N more".
inline std::string format_error(const std::vector<Problem>& problems,
                                std::string_view diagnosis = {}) {
  if (problems.empty()) return std::string("[lorakit] ") + std::string(diagnosis);
  if (problems.size() == 1 && diagnosis.empty()) return format_problem(problems.front());
  std::string s = "[lorakit.";
  s += to_string(problems.front().code);
  s += "] ";
  if (diagnosis.empty()) {
    s += std::to_string(problems.size()) + " problems";
  } else {
    s += diagnosis;
  }
  for (std::size_t i = 0; i < problems.size();) {
    const Errc kind = problems[i].code;
    std::size_t end = i;
    while (end < problems.size() && problems[end].code == kind) ++end;
    s += "\n  " + std::to_string(end - i) + " " + std::string(to_string(kind)) + ":";
    for (std::size_t k = i; k < end && k < i + kShownPerKind; ++k) {
      s += "\n    " + format_problem(problems[k]);
    }
    if (end - i > kShownPerKind)
      s += "\n    and " + std::to_string(end - i - kShownPerKind) + " more";
    i = end;
  }
  return s;
}

/// Orders problems for a report: grouped by kind, the kinds in the order they first appear, and
/// within a kind by module then tensor name in natural order (layers.2 before layers.10);
/// problems with equal names keep their order.
inline void order_problems(std::vector<Problem>& problems) {
  std::vector<Errc> kinds;
  for (const Problem& p : problems) {
    if (std::find(kinds.begin(), kinds.end(), p.code) == kinds.end()) kinds.push_back(p.code);
  }
  auto group = [&kinds](Errc e) {
    return std::find(kinds.begin(), kinds.end(), e) - kinds.begin();
  };
  std::stable_sort(problems.begin(), problems.end(), [&](const Problem& x, const Problem& y) {
    if (x.code != y.code) return group(x.code) < group(y.code);
    if (x.context.module != y.context.module) {
      return natural_less(x.context.module, y.context.module);
    }
    return natural_less(x.context.tensor, y.context.tensor);
  });
}

}  // namespace detail

/// The only exception type lorakit throws. Thrown by loading, attaching, merging and config
/// parsing, never by forward(). Copying never throws (the problems are shared, immutable).
class Error : public std::runtime_error {
 public:
  Error(Errc code, ErrorContext context, std::string detail = {})
      : Error(std::vector<Problem>{Problem{code, std::move(context), std::move(detail)}}) {}

  /// An error reporting every problem found, led by an optional diagnosis (what the problems
  /// mean together). The problems are kept grouped by kind, kinds in the order they first appear,
  /// names within a kind in natural order (detail::order_problems); the first of them gives
  /// code() and context().
  /// @pre !problems.empty()
  explicit Error(std::vector<Problem> problems, std::string diagnosis = {})
      : Error(report(std::move(problems), std::move(diagnosis))) {}

  [[nodiscard]] Errc code() const noexcept { return report_->problems.front().code; }
  [[nodiscard]] const ErrorContext& context() const noexcept {
    return report_->problems.front().context;
  }
  /// Every problem, in the order what() shows them.
  [[nodiscard]] const std::vector<Problem>& problems() const noexcept { return report_->problems; }
  /// The paragraph leading what() (Model::attach: the adapter's base and the model's, and the
  /// mismatch that dominates), or empty.
  [[nodiscard]] const std::string& diagnosis() const noexcept { return report_->diagnosis; }

 private:
  struct Report {
    std::vector<Problem> problems;
    std::string diagnosis;
  };
  static std::shared_ptr<const Report> report(std::vector<Problem> problems,
                                              std::string diagnosis) {
    detail::order_problems(problems);
    return std::make_shared<const Report>(Report{std::move(problems), std::move(diagnosis)});
  }
  explicit Error(std::shared_ptr<const Report> r)
      : std::runtime_error(detail::format_error(r->problems, r->diagnosis)),
        report_(std::move(r)) {}

  std::shared_ptr<const Report> report_;
};

/// Collects problems during a validation pass, then throws them together as one Error.
class ProblemList {
 public:
  void add(Errc code, ErrorContext context, std::string detail = {}) {
    problems_.push_back(Problem{code, std::move(context), std::move(detail)});
  }
  [[nodiscard]] bool empty() const noexcept { return problems_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return problems_.size(); }
  /// The problems collected so far, to fill in context (a file, a module) or reorder them before
  /// throwing.
  [[nodiscard]] std::vector<Problem>& items() noexcept { return problems_; }
  /// Moves every problem of `other` to the end of this list.
  void append(ProblemList&& other) {
    for (Problem& p : other.problems_) problems_.push_back(std::move(p));
    other.problems_.clear();
  }
  /// The paragraph that will lead the Error's message (see Error::diagnosis()).
  void set_diagnosis(std::string diagnosis) { diagnosis_ = std::move(diagnosis); }
  [[nodiscard]] const std::string& diagnosis() const noexcept { return diagnosis_; }
  /// Throws one Error listing every problem collected, if there is any.
  void throw_if_any() {
    if (!problems_.empty()) throw Error(std::move(problems_), std::move(diagnosis_));
  }

 private:
  std::vector<Problem> problems_;
  std::string diagnosis_;
};

}  // namespace lorakit
