// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Matching adapters to bases from their descriptions: fit(outline, base) and match(outline,
// bases), the fast judgement discovery makes over a folder (io/scan.hpp finds the files).
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/check.hpp"
#include "lorakit/runtime/diagnosis.hpp"

namespace lorakit {

/// How an adapter stands against a base, or against every base of a folder.
enum class Verdict : unsigned char {
  compatible,    ///< every module is linear with a base module of its widths and row order
  incompatible,  ///< with the reasons
  unknown,       ///< nothing here to judge it against (its base is not among them)
};

[[nodiscard]] constexpr std::string_view to_string(Verdict v) noexcept {
  switch (v) {
    case Verdict::compatible: return "compatible";
    case Verdict::incompatible: return "incompatible";
    case Verdict::unknown: return "unknown";
  }
  return "?";
}

/// fit(): the verdict and, when incompatible, its reasons with the most modules first.
struct Fit {
  Verdict verdict = Verdict::compatible;
  std::vector<std::string> reasons;
  std::size_t modules = 0;  ///< the adapter's modules with a base module of their widths
};

/// Whether `adapter` fits `base`, judged as discovery judges: the architecture first (two
/// named architectures must be equal), then every linear module by name and (in, out), then
/// the Q/K row order (check()'s rule, head counts from the base); embedding modules, which
/// Model does not apply, make it incompatible. What check() adds (ranks
/// above a host's limit, saved tensors, the target rule's layers without weights) is left to
/// it: a compatible adapter can still be refused by attach for those.
[[nodiscard]] inline Fit fit(const AdapterOutline& adapter, const BaseModel& base) {
  Fit out;
  const AdapterInfo& info = adapter.info;
  if (!info.architecture.empty() && !base.architecture.empty() &&
      info.architecture != base.architecture) {
    out.verdict = Verdict::incompatible;
    out.reasons.push_back("architecture " + info.architecture + ", base " + base.architecture);
    return out;
  }
  std::vector<std::string> missing;
  std::size_t embeddings = 0;  // Model applies linear modules only
  std::map<std::tuple<bool, Index, Index>, std::vector<std::string>> widths;  // (in?, a, b)
  std::size_t order = 0;
  std::string order_reason;
  for (const auto& [name, m] : adapter.modules) {
    if (m.kind != ModuleKind::linear) {
      ++embeddings;
      continue;
    }
    const BaseModule* b = base.find(name);
    if (b == nullptr) {
      missing.push_back(name);
      continue;
    }
    if (m.in_features != b->in_features) {
      widths[{true, m.in_features, b->in_features}].push_back(name);
    } else if (m.out_features != b->out_features) {
      widths[{false, m.out_features, b->out_features}].push_back(name);
    } else {
      ++out.modules;
      // The row order, by check()'s rule on a module of these widths.
      AdapterModule probe;
      probe.b.shape = Shape{m.rank, m.out_features};
      probe.rows = m.rows;
      ProblemList problems;
      (void)detail::check_rows(info.name, probe, *b, base, {}, problems);
      if (!problems.empty()) {
        ++order;
        if (order_reason.empty()) order_reason = problems.items().front().detail;
      }
    }
  }
  const std::string of = " of " + std::to_string(adapter.modules.size()) + " modules";
  std::vector<std::pair<std::size_t, std::string>> reasons;
  if (!missing.empty()) {
    reasons.emplace_back(missing.size(), std::to_string(missing.size()) + of +
                                             " have no module in the base" +
                                             detail::in_parentheses(detail::block_ranges(missing)));
  }
  for (const auto& [key, names] : widths) {
    const auto& [in, a, b] = key;
    reasons.emplace_back(names.size(), std::to_string(names.size()) + of + ": " +
                                           (in ? "in " : "out ") + std::to_string(a) + " vs " +
                                           std::to_string(b) + " in the base");
  }
  if (order != 0) {
    reasons.emplace_back(order, std::to_string(order) + of + ": " + order_reason);
  }
  if (embeddings != 0) {
    reasons.emplace_back(embeddings, std::to_string(embeddings) + of +
                                         ": embedding modules, which Model does not apply");
  }
  std::stable_sort(reasons.begin(), reasons.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  for (auto& [count, text] : reasons) out.reasons.push_back(std::move(text));
  if (!out.reasons.empty()) out.verdict = Verdict::incompatible;
  return out;
}

namespace detail {

// A model name reduced for comparison: its last path part, lower case, letters and digits
// only ("HuggingFaceTB/SmolLM2-135M-Instruct" and "SmolLM2 135M Instruct" agree).
[[nodiscard]] inline std::string model_key(std::string_view name) {
  const std::size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  std::string key;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0) key += static_cast<char>(std::tolower(u));
  }
  return key;
}

}  // namespace detail

/// An adapter against every base: which fit, why the others do not, and the verdict.
struct AdapterMatch {
  Verdict verdict = Verdict::unknown;
  std::vector<std::size_t> compatible;  ///< indices into the bases, in their order
  std::vector<std::pair<std::size_t, Fit>> incompatible;
  std::string note;  ///< why the verdict is unknown, or which base it names
};

/// match(): compatible with the bases it fits; when none does, incompatible if the base it
/// names (base_model_name_or_path, mlx-lm's model, compared by detail::model_key) is among
/// them or it names none, and unknown when there are no bases or its named base is not here.
[[nodiscard]] inline AdapterMatch match(const AdapterOutline& adapter,
                                        std::span<const BaseModel> bases) {
  AdapterMatch out;
  bool named_here = false;
  const std::string named = detail::model_key(adapter.info.base_model);
  for (std::size_t i = 0; i < bases.size(); ++i) {
    named_here = named_here || (!named.empty() && detail::model_key(bases[i].name) == named);
    Fit f = fit(adapter, bases[i]);
    if (f.verdict == Verdict::compatible) {
      out.compatible.push_back(i);
    } else {
      out.incompatible.emplace_back(i, std::move(f));
    }
  }
  if (!out.compatible.empty()) {
    out.verdict = Verdict::compatible;
  } else if (bases.empty()) {
    out.note = "no base model to match against";
  } else if (!named.empty() && !named_here) {
    out.note = "trained on " + adapter.info.base_model + ", which is not here";
  } else {
    out.verdict = Verdict::incompatible;
  }
  return out;
}

}  // namespace lorakit
