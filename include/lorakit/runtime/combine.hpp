// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// combine(): a weighted combination of adapters as a new Adapter (PEFT's add_weighted_adapter).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/error.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit {

/// How combine() joins the adapters' modules.
enum class Combination : unsigned char {
  /// Ranks concatenated: A = [A_1 | A_2 | ...], B = [m_1 B_1; m_2 B_2; ...] with m_i = w_i x the
  /// module's multiplier in adapter i. The delta is exactly sum_i m_i A_i B_i (one rounding per
  /// element of m_i B_i); the rank is the sum of the ranks. PEFT's "cat".
  cat,
  /// Factors summed: A = sum_i sign(m_i) sqrt|m_i| A_i, B = sum_i sqrt|m_i| B_i, ranks equal.
  /// Not the weighted sum of the deltas (the cross terms A_i B_j stay): PEFT's "linear", kept
  /// for adapters trained to be mixed this way. The rank stays.
  linear,
};

/// One adapter of a combination and its weight.
struct WeightedAdapter {
  std::shared_ptr<const Adapter> adapter;
  float weight = 1.0f;
};

/// A new adapter called `name` whose modules combine the adapters' modules of the same name
/// (a module some adapters lack combines those that have it). Its multiplier is direct (1, the
/// weights and each adapter's alpha / r folded into the factors); attach it with the scale the
/// combination should have. The tensors are new f32 buffers owned by the result.
/// @throws lorakit::Error (Errc::bad_config: no adapters, a null adapter, a non-finite weight,
///   modules of one name with different shapes or row layouts, or for `linear` different ranks;
///   Errc::unsupported: DoRA, embedding modules, saved full tensors; Errc::unsupported_dtype),
///   every problem at once.
[[nodiscard]] inline std::shared_ptr<const Adapter> combine(std::span<const WeightedAdapter> parts,
                                                            Combination how, std::string name) {
  ProblemList problems;
  if (parts.empty()) problems.add(Errc::bad_config, {}, "combine() needs at least one adapter");
  struct Term {
    const AdapterModule* module;
    double multiplier;
    std::string source;
  };
  std::map<std::string, std::vector<Term>> by_module;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const WeightedAdapter& p = parts[i];
    if (!p.adapter) {
      problems.add(Errc::bad_config, {}, "combine(): adapter " + std::to_string(i) + " is null");
      continue;
    }
    const AdapterInfo& info = p.adapter->info();
    const ErrorContext file{.file = info.source};
    if (!std::isfinite(p.weight)) {
      problems.add(Errc::bad_config, file,
                   "combine(): adapter '" + p.adapter->name() + "' has a non-finite weight");
      continue;
    }
    if (info.variant != VariantKind::lora) {
      problems.add(Errc::unsupported, file,
                   "combine(): adapter '" + p.adapter->name() + "' is DoRA; only LoRA combines");
      continue;
    }
    if (!p.adapter->saved().empty()) {
      problems.add(Errc::unsupported, file,
                   "combine(): adapter '" + p.adapter->name() +
                       "' also replaces full tensors, which do not combine");
      continue;
    }
    for (const auto& [module_name, m] : p.adapter->modules()) {
      by_module[module_name].push_back(
          Term{&m, static_cast<double>(p.weight) * static_cast<double>(p.adapter->scale(m)),
               info.source});
    }
  }

  std::map<std::string, AdapterModule> modules;
  std::vector<std::shared_ptr<const void>> storage;
  Index max_rank = 0;
  std::vector<float> a_in, b_in;
  for (const auto& [module_name, terms] : by_module) {
    const AdapterModule& first = *terms.front().module;
    const Index in = first.in_features();
    const Index out = first.out_features();
    Index rank = 0;
    bool ok = true;
    for (const Term& t : terms) {
      const ErrorContext where{.file = t.source, .module = module_name};
      const AdapterModule& m = *t.module;
      if (m.kind != ModuleKind::linear || m.magnitude) {
        problems.add(Errc::unsupported, where, "combine(): only linear LoRA modules combine");
        ok = false;
      } else if (m.in_features() != in || m.out_features() != out) {
        problems.add(Errc::bad_config, where,
                     "combine(): (in, out) = (" + std::to_string(m.in_features()) + ", " +
                         std::to_string(m.out_features()) + ") where another adapter has (" +
                         std::to_string(in) + ", " + std::to_string(out) + ")");
        ok = false;
      } else if (m.rows != first.rows) {
        problems.add(Errc::bad_config, where,
                     "combine(): its outputs are in another row order than another adapter's");
        ok = false;
      } else if (how == Combination::linear && m.rank != first.rank) {
        problems.add(Errc::bad_config, where,
                     "combine(): linear needs equal ranks; rank " + std::to_string(m.rank) +
                         " against " + std::to_string(first.rank) +
                         " (Combination::cat joins "
                         "any ranks)");
        ok = false;
      }
      rank = how == Combination::cat ? rank + m.rank : m.rank;
    }
    if (!ok || !problems.empty()) continue;

    auto a = std::make_shared<std::vector<float>>(static_cast<std::size_t>(in * rank), 0.0f);
    auto b = std::make_shared<std::vector<float>>(static_cast<std::size_t>(rank * out), 0.0f);
    Index k0 = 0;  // cat: the first rank column of this term
    for (const Term& t : terms) {
      const AdapterModule& m = *t.module;
      a_in.resize(static_cast<std::size_t>(m.a.elements()));
      b_in.resize(static_cast<std::size_t>(m.b.elements()));
      if (!m.a.copy_to_f32(a_in.data()) || !m.b.copy_to_f32(b_in.data())) {
        problems.add(Errc::unsupported_dtype, ErrorContext{.file = t.source, .module = module_name},
                     "combine(): tensors must be F32, F16 or BF16");
        ok = false;
        break;
      }
      const Index r = m.rank;
      const auto at = [](Index i) { return static_cast<std::size_t>(i); };
      if (how == Combination::cat) {
        for (Index i = 0; i < in; ++i) {
          for (Index k = 0; k < r; ++k) (*a)[at(i * rank + k0 + k)] = a_in[at(i * r + k)];
        }
        const auto mb = static_cast<float>(t.multiplier);
        for (Index k = 0; k < r; ++k) {
          for (Index o = 0; o < out; ++o) {
            (*b)[at((k0 + k) * out + o)] = mb * b_in[at(k * out + o)];
          }
        }
        k0 += r;
      } else {
        const double root = std::sqrt(std::fabs(t.multiplier));
        const auto ca = static_cast<float>(t.multiplier < 0.0 ? -root : root);
        const auto cb = static_cast<float>(root);
        for (std::size_t e = 0; e < a_in.size(); ++e) (*a)[e] += ca * a_in[e];
        for (std::size_t e = 0; e < b_in.size(); ++e) (*b)[e] += cb * b_in[e];
      }
    }
    if (!ok) continue;
    AdapterModule m;
    m.a = AdapterTensor{DType::f32, Shape{in, rank}, std::as_bytes(std::span<const float>(*a))};
    m.b = AdapterTensor{DType::f32, Shape{rank, out}, std::as_bytes(std::span<const float>(*b))};
    m.rank = rank;
    m.alpha = 1.0f;
    m.rows = first.rows;
    modules.emplace(module_name, std::move(m));
    storage.push_back(std::move(a));
    storage.push_back(std::move(b));
    max_rank = std::max(max_rank, rank);
  }
  problems.throw_if_any();

  AdapterInfo info;
  info.name = std::move(name);
  info.format = AdapterFormat::memory;
  info.rank = max_rank;
  info.alpha = 1.0f;
  info.scaling = Scaling::direct;
  info.base_model = parts.front().adapter->info().base_model;
  info.architecture = parts.front().adapter->info().architecture;
  std::string note = how == Combination::cat ? "combined (cat) from" : "combined (linear) from";
  for (const WeightedAdapter& p : parts) {
    note += " '" + p.adapter->name() + "' x " + std::to_string(p.weight);
  }
  info.notes.push_back(std::move(note));
  return std::make_shared<const Adapter>(std::move(info), std::move(modules),
                                         std::map<std::string, AdapterTensor>{},
                                         std::move(storage));
}

}  // namespace lorakit
