// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// check(adapter, base): whether an adapter fits a base model, without the model.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/base/function_linear.hpp"
#include "lorakit/error.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/diagnosis.hpp"
#include "lorakit/runtime/model.hpp"

namespace lorakit {

/// How check() attaches: Model::AttachOptions' choices that change what is reported.
struct CheckOptions {
  std::string name;                   ///< the adapter's name in messages; default its own
  bool ignore_saved_tensors = false;  ///< as Model::AttachOptions
  MissingLayers missing_layers = MissingLayers::refuse;  ///< as Model::AttachOptions
};

/// What check() found: every problem Model::attach would report on a host with the base's
/// layers, and what only the base's description shows (its architecture, its Q/K row order).
struct CheckReport {
  std::string adapter;               ///< the adapter's name
  std::string base;                  ///< the base's name
  std::vector<Problem> problems;     ///< most telling first, modules in natural order
  std::string diagnosis;             ///< what the problems mean together (may be empty)
  std::string message;               ///< the text of the Error attach would throw; "" when it fits
  std::vector<std::string> skipped;  ///< modules without a layer, under MissingLayers::skip
  std::size_t modules = 0;           ///< the adapter's modules that fit a module of the base

  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
  /// @throws lorakit::Error with every problem, as attach() would, unless ok().
  void throw_if_problems() const {
    if (!problems.empty()) throw Error(problems, diagnosis);
  }
};

namespace detail {

// A base that computes nothing: check() only validates, it never runs forward.
struct NoForward {
  void operator()(ConstMatrixView, MatrixView) const noexcept {}
};
using CheckLayer = LoRALinear<FunctionLinear<NoForward>, LoRA>;

// "model.layers.3.self_attn.q_proj" -> 'q' (a query projection), 'k', or 0.
[[nodiscard]] inline char qk_projection(std::string_view module) noexcept {
  if (module.ends_with("q_proj")) return 'q';
  if (module.ends_with("k_proj")) return 'k';
  return 0;
}

// Whether `out` rows split into `heads` heads of an even size (llama.cpp's rotary pairs).
[[nodiscard]] constexpr bool splits_into_rotary_heads(Index out, int heads) noexcept {
  return heads > 0 && out % heads == 0 && (out / heads) % 2 == 0;
}

// The Q/K row order of one module against its base module. Adds a problem when they cannot
// agree; returns the order the module takes on this base (for the shadow attach).
inline RowLayout check_rows(const std::string& name, const AdapterModule& m,
                            const BaseModule& target, const BaseModel& base,
                            const ErrorContext& where, ProblemList& problems) {
  if (m.rows == target.rows || m.rows == RowLayout::hf) {
    if (m.rows != target.rows) {
      problems.add(Errc::incompatible_base, where,
                   "adapter '" + name +
                       "': its lora_b columns are in Hugging Face order and the base keeps "
                       "llama.cpp's rotary Q/K row order; convert the adapter to GGUF with the "
                       "base's head counts and load it with BaseLayout::llama_cpp");
    }
    return target.rows;
  }
  if (m.rows == RowLayout::llama_cpp) {
    problems.add(Errc::incompatible_base, where,
                 "adapter '" + name +
                     "': its lora_b columns are in llama.cpp's rotary order and the base is in "
                     "Hugging Face order; load it with BaseLayout::hf and the base's head "
                     "counts");
    return target.rows;
  }
  // Unresolved (a GGUF adapter loaded without a base layout): the base decides.
  if (target.rows == RowLayout::llama_cpp) return target.rows;
  const int heads =
      qk_projection(target.name) == 'k' && base.n_head_kv > 0 ? base.n_head_kv : base.n_head;
  if (!splits_into_rotary_heads(m.out_features(), heads)) {
    ErrorContext c = where;
    c.hint = "give the head counts (LoadOptions::n_head, n_head_kv)";
    problems.add(Errc::bad_config, std::move(c),
                 "adapter '" + name + "': llama.cpp's rotary order of " +
                     std::to_string(m.out_features()) + " lora_b columns cannot be undone with " +
                     (heads > 0 ? std::to_string(heads) + " heads (an even head size needed)"
                                : std::string("no head count in the base's description")));
  }
  return target.rows;
}

}  // namespace detail

/// Everything Model::attach would report for `adapter` on a host whose layers are `base`'s
/// modules, every problem at once with the diagnosis first, without a model or its weights;
/// plus what only the description shows: an adapter for another architecture, and Q/K rows in
/// an order the base does not use. A GGUF adapter of the llama family loaded without a base
/// layout is judged as it would load for this base (io::load_options_for), its head counts
/// taken from the base. Never throws for a problem of the adapter: they are in the report.
/// @throws std::bad_alloc only.
[[nodiscard]] inline CheckReport check(const Adapter& adapter, const BaseModel& base,
                                       const CheckOptions& options = {}) {
  CheckReport report;
  report.adapter = options.name.empty() ? adapter.name() : options.name;
  report.base = base.name;
  const AdapterInfo& info = adapter.info();
  ProblemList extra;
  if (!info.architecture.empty() && !base.architecture.empty() &&
      info.architecture != base.architecture) {
    extra.add(Errc::incompatible_base, ErrorContext{.file = info.source},
              "adapter '" + report.adapter + "' is for the " + info.architecture +
                  " architecture and the base is " + base.architecture);
  }

  // The adapter's modules as they would load for this base (Q/K row order settled).
  std::map<std::string, AdapterModule> modules = adapter.modules();
  bool changed = false;
  for (auto& [module_name, m] : modules) {
    const BaseModule* target = base.find(module_name);
    if (target == nullptr || m.kind != ModuleKind::linear) continue;
    if (m.in_features() == target->in_features && m.out_features() == target->out_features) {
      ++report.modules;
    }
    const RowLayout rows =
        detail::check_rows(report.adapter, m, *target, base,
                           ErrorContext{.file = info.source, .module = module_name}, extra);
    changed = changed || rows != m.rows;
    m.rows = rows;
  }
  std::shared_ptr<const Adapter> shadow;
  if (changed) {
    shadow = std::make_shared<const Adapter>(info, std::move(modules), adapter.saved(),
                                             adapter.storage());
  } else {
    shadow = std::shared_ptr<const Adapter>(std::shared_ptr<const void>(), &adapter);
  }

  // A model with one no-op layer per module of the base: attach reports what it would.
  Index max_rank = 256;
  for (const auto& [module_name, m] : adapter.modules()) max_rank = std::max(max_rank, m.rank);
  std::deque<detail::CheckLayer> layers;  // outlives the model
  Model model(Model::Options{.names = {}, .base = base.name});
  ProblemList problems;
  try {
    for (const BaseModule& m : base.modules) {
      layers.emplace_back(FunctionLinear(detail::NoForward{}, m.in_features, m.out_features),
                          detail::CheckLayer::Options{.max_rank = max_rank, .module = m.name});
      model.add(m.name, layers.back());
    }
    model.attach(shadow, Model::AttachOptions{.name = report.adapter,
                                              .ignore_saved_tensors = options.ignore_saved_tensors,
                                              .missing_layers = options.missing_layers});
    for (const AdapterStatus& s : model.list()) report.skipped = s.skipped;
  } catch (const Error& e) {
    for (const Problem& p : e.problems()) problems.add(p.code, p.context, p.detail);
  }
  problems.append(std::move(extra));
  if (problems.empty()) return report;

  detail::ModelFacts facts{.base = base.name, .layers = {}};
  for (const BaseModule& m : base.modules) {
    facts.layers.push_back({m.name, m.in_features, m.out_features});
  }
  detail::diagnose_attach(problems, report.adapter, adapter, facts);
  const Error error(problems.items(), problems.diagnosis());
  report.problems = error.problems();
  report.diagnosis = error.diagnosis();
  report.message = error.what();
  return report;
}

}  // namespace lorakit
