// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Errc and lorakit::Error: the one exception type, with the context a user needs to act.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/core/shape.hpp"

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
  std::optional<Shape> expected;  ///< the shape that was required
  std::optional<Shape> actual;    ///< the shape that was found
  std::string hint;               ///< what the user may try, e.g. "maybe wrong base model?"
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
/// [..] (hint: ..)
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
  std::string what = p.detail;
  if (c.expected || c.actual) {
    if (!what.empty()) what += ": ";
    if (c.expected) what += "expected " + c.expected->str();
    if (c.expected && c.actual) what += ", ";
    if (c.actual) what += "got " + c.actual->str();
  }
  if (!where.empty()) s += " " + where;
  if (!what.empty()) s += (where.empty() ? " " : ": ") + what;
  if (!c.hint.empty()) s += " (hint: " + c.hint + ")";
  return s;
}

/// The message of an Error: its first problem, then one indented line per further problem.
inline std::string format_error(const std::vector<Problem>& problems) {
  std::string s;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i == 1) s += "\n  " + std::to_string(problems.size() - 1) + " more:";
    if (i != 0) s += "\n  ";
    s += format_problem(problems[i]);
  }
  return s;
}

}  // namespace detail

/// The only exception type lorakit throws. Thrown by loading, attaching, merging and config
/// parsing, never by forward(). Copying never throws (the problems are shared, immutable).
class Error : public std::runtime_error {
 public:
  Error(Errc code, ErrorContext context, std::string detail = {})
      : Error(std::vector<Problem>{Problem{code, std::move(context), std::move(detail)}}) {}

  /// An error reporting every problem found; the first one gives code() and context().
  /// @pre !problems.empty()
  explicit Error(std::vector<Problem> problems)
      : std::runtime_error(detail::format_error(problems)),
        problems_(std::make_shared<const std::vector<Problem>>(std::move(problems))) {}

  [[nodiscard]] Errc code() const noexcept { return problems_->front().code; }
  [[nodiscard]] const ErrorContext& context() const noexcept { return problems_->front().context; }
  [[nodiscard]] const std::vector<Problem>& problems() const noexcept { return *problems_; }

 private:
  std::shared_ptr<const std::vector<Problem>> problems_;
};

/// Collects problems during a validation pass, then throws them together as one Error.
class ProblemList {
 public:
  void add(Errc code, ErrorContext context, std::string detail = {}) {
    problems_.push_back(Problem{code, std::move(context), std::move(detail)});
  }
  [[nodiscard]] bool empty() const noexcept { return problems_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return problems_.size(); }
  /// The problems collected so far, to fill in context (a file, a module) before throwing.
  [[nodiscard]] std::vector<Problem>& items() noexcept { return problems_; }
  /// Moves every problem of `other` to the end of this list.
  void append(ProblemList&& other) {
    for (Problem& p : other.problems_) problems_.push_back(std::move(p));
    other.problems_.clear();
  }
  /// Throws one Error listing every problem collected, if there is any.
  void throw_if_any() {
    if (!problems_.empty()) throw Error(std::move(problems_));
  }

 private:
  std::vector<Problem> problems_;
};

}  // namespace lorakit
