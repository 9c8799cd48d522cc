// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Run configuration: which adapters a run attaches, and how explicit arguments, a configuration
// and the library defaults combine into that list.
#pragma once

#include <cmath>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/model.hpp"
#include "lorakit/runtime/targeting.hpp"

namespace lorakit {

/// Layers first .. last - 1, by the layer index in a module's name (layer_index()).
struct LayerRange {
  int first = 0;
  int last = std::numeric_limits<int>::max();
  friend bool operator==(const LayerRange&, const LayerRange&) = default;
};

/// One adapter a run asks for: a command-line `--lora PATH` / `--lora-scaled PATH SCALE`, or an
/// entry of a configuration file. Every field may be left unset; resolve() fills what is unset
/// from the other source and then from the library defaults.
struct AdapterChoice {
  std::string path;  ///< a file or directory, as io::load_adapter takes it; empty: not given
  std::string name;  ///< the name to attach under; empty: not given (the adapter's own name)
  std::optional<float> scale;        ///< the user scale; library default 1
  std::optional<bool> active;        ///< attached active; library default true
  std::optional<LayerRange> layers;  ///< keep only the modules of these layers
  /// Keep only the modules whose name is one of these or ends with "." + one of these (PEFT's
  /// target_modules list rule: "q_proj" keeps "model.layers.3.self_attn.q_proj"). An engaged
  /// empty list keeps every module (it clears a filter the other source gives).
  std::optional<std::vector<std::string>> modules;
  std::optional<MissingLayers> missing_layers;  ///< library default MissingLayers::refuse
};

/// What one source (the explicit arguments, or a configuration) says about a run.
struct RunConfig {
  /// The adapters. nullopt: this source names none (the other source decides); an engaged
  /// empty list: this source asks for no adapter at all.
  std::optional<std::vector<AdapterChoice>> adapters;
  std::optional<float> scale;                   ///< for every adapter that sets none
  std::optional<MissingLayers> missing_layers;  ///< for every adapter that sets none
};

/// One adapter to attach, with every field decided.
struct ResolvedAdapter {
  std::string path;
  std::string name;  ///< empty: attach under the loaded adapter's own name
  float scale = 1.0f;
  bool active = true;
  std::optional<LayerRange> layers;  ///< nullopt: every layer
  std::vector<std::string> modules;  ///< empty: every module
  MissingLayers missing_layers = MissingLayers::refuse;

  /// Whether a target override leaves some modules out (layers or modules set).
  [[nodiscard]] bool narrows() const noexcept { return layers.has_value() || !modules.empty(); }

  /// Whether the target override keeps the module called `module`.
  [[nodiscard]] bool keeps(std::string_view module) const {
    if (layers) {
      const int i = layer_index(module);
      if (i < layers->first || i >= layers->last) return false;
    }
    if (modules.empty()) return true;
    for (const std::string& m : modules) {
      if (module == m) return true;
      if (module.size() > m.size() && module.ends_with(m) &&
          module[module.size() - m.size() - 1] == '.') {
        return true;
      }
    }
    return false;
  }

  /// `adapter` with only the modules the override keeps (Adapter::subset: no tensor copied), or
  /// `adapter` itself when nothing is left out. The narrowed adapter carries no target rule of
  /// its own: the override is the rule, so Model::attach does not ask for weights of layers the
  /// file's rule selects but the override leaves out. A note in AdapterInfo::notes records it.
  [[nodiscard]] std::shared_ptr<const Adapter> narrow(
      std::shared_ptr<const Adapter> adapter) const {
    if (!adapter || !narrows()) return adapter;
    std::map<std::string, AdapterModule> kept;
    for (const auto& [module_name, m] : adapter->modules()) {
      if (keeps(module_name)) kept.emplace(module_name, m);
    }
    std::map<std::string, AdapterTensor> saved;
    for (const auto& [key, t] : adapter->saved()) {
      if (keeps(key)) saved.emplace(key, t);
    }
    AdapterInfo info = adapter->info();
    info.target = TargetRule{};
    info.notes.push_back("target override: kept " + std::to_string(kept.size()) + " of " +
                         std::to_string(adapter->modules().size()) + " modules (" +
                         describe_override() + ")");
    return std::make_shared<const Adapter>(std::move(info), std::move(kept), std::move(saved),
                                           adapter->storage());
  }

  /// The options Model::attach takes for this adapter.
  [[nodiscard]] Model::AttachOptions attach_options() const {
    Model::AttachOptions o;
    o.name = name;
    o.scale = scale;
    o.active = active;
    o.missing_layers = missing_layers;
    return o;
  }

  /// The override in words, e.g. "layers [0, 16), modules q_proj, v_proj".
  [[nodiscard]] std::string describe_override() const {
    std::string out;
    if (layers) {
      out += "layers [" + std::to_string(layers->first) + ", " + std::to_string(layers->last) + ")";
    }
    if (!modules.empty()) {
      out += out.empty() ? "modules " : ", modules ";
      for (std::size_t i = 0; i < modules.size(); ++i) out += (i ? ", " : "") + modules[i];
    }
    return out.empty() ? "every module" : out;
  }
};

/// Whether two adapter paths name the same adapter. The default compares the strings;
/// io::same_file compares the files they name.
using SamePath = std::function<bool(std::string_view, std::string_view)>;

namespace detail_run {

template <class T>
std::optional<T> first_of(std::initializer_list<const std::optional<T>*> sources) {
  for (const std::optional<T>* s : sources) {
    if (s != nullptr && s->has_value()) return *s;
  }
  return std::nullopt;
}

inline std::string describe(const char* source, std::size_t index, const std::string& name,
                            const std::string& path) {
  std::string out = std::string(source) + " adapter " + std::to_string(index);
  if (!name.empty()) out += " '" + name + "'";
  if (!path.empty()) out += " (path '" + path + "')";
  return out;
}

inline ErrorContext where(std::size_t index, const char* field) {
  return ErrorContext{.key = "adapters[" + std::to_string(index) + "]." + field};
}

}  // namespace detail_run

/// The adapters a run attaches, from what the host was told explicitly (`explicit_args`, e.g.
/// its command line) and what it found configured (`configured`, e.g. io::read_run_config of a
/// model folder's file). The rules:
///
/// - **The list.** An explicit list (even an empty one) replaces the configured list as a
///   whole, as llama.cpp's `--lora` options replace a folder's adapters: configured adapters the
///   explicit list does not name are not attached. Without an explicit list the configured one
///   is used. Neither: no adapter (the model stays its base).
/// - **Refining a configured entry.** An explicit entry refines the configured entry with the
///   same name (when it gives a name), else the one with the same path (`same_path`): fields the
///   explicit entry leaves unset, its path included, come from that configured entry. A path two
///   configured entries share is ambiguous: give a name.
/// - **Each field**, first found wins: the explicit entry, the explicit run-wide value
///   (RunConfig::scale, missing_layers), the configured entry, the configured run-wide value,
///   the library default (scale 1, active, MissingLayers::refuse, every module). So anything
///   explicit beats anything configured, and within one source an entry beats the run-wide
///   value.
///
/// The order of the result is the order of the list used.
/// @throws lorakit::Error (Errc::bad_config) listing every problem, each naming its entry
///   ("explicit adapter 0 'code' (path 'a.gguf')") and its key (`adapters[0].scale`): an empty
///   path, a non-finite scale, an empty layer range or one starting below 0, an empty module
///   name, two entries with the same name (or the same path and no name), an ambiguous match.
[[nodiscard]] inline std::vector<ResolvedAdapter> resolve(const RunConfig& configured,
                                                          const RunConfig& explicit_args,
                                                          const SamePath& same_path = {}) {
  using detail_run::describe;
  using detail_run::first_of;
  using detail_run::where;
  const auto same = [&](const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return false;
    return same_path ? same_path(a, b) : a == b;
  };

  const bool use_explicit = explicit_args.adapters.has_value();
  const char* source = use_explicit ? "explicit" : "configured";
  static const std::vector<AdapterChoice> none;
  const std::vector<AdapterChoice>& list = use_explicit          ? *explicit_args.adapters
                                           : configured.adapters ? *configured.adapters
                                                                 : none;
  const std::vector<AdapterChoice>& config_list = configured.adapters ? *configured.adapters : none;

  ProblemList problems;
  std::vector<ResolvedAdapter> out;
  out.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const AdapterChoice& c = list[i];
    const AdapterChoice* e = use_explicit ? &c : nullptr;  // the explicit entry
    const AdapterChoice* k = use_explicit ? nullptr : &c;  // the configured entry
    if (use_explicit) {
      std::vector<std::size_t> by_name, by_path;
      for (std::size_t j = 0; j < config_list.size(); ++j) {
        if (!c.name.empty() && config_list[j].name == c.name) by_name.push_back(j);
        if (same(c.path, config_list[j].path)) by_path.push_back(j);
      }
      const std::vector<std::size_t>& match = by_name.empty() ? by_path : by_name;
      if (match.size() > 1) {
        problems.add(Errc::bad_config, where(i, "path"),
                     describe(source, i, c.name, c.path) + " matches configured adapters " +
                         std::to_string(match[0]) + " and " + std::to_string(match[1]) +
                         "; give it the name of one of them");
        continue;
      }
      if (match.size() == 1) k = &config_list[match.front()];
    }
    // The field `member` of the explicit entry, then of the configured one (nullptr: none).
    const auto of = [](const AdapterChoice* a, auto member) { return a ? &(a->*member) : nullptr; };
    ResolvedAdapter r;
    r.path = e && !e->path.empty() ? e->path : k ? k->path : std::string();
    r.name = e && !e->name.empty() ? e->name : k ? k->name : std::string();
    constexpr auto scale = &AdapterChoice::scale;
    constexpr auto missing = &AdapterChoice::missing_layers;
    r.scale = first_of<float>({of(e, scale), &explicit_args.scale, of(k, scale), &configured.scale})
                  .value_or(1.0f);
    r.active = first_of<bool>({of(e, &AdapterChoice::active), of(k, &AdapterChoice::active)})
                   .value_or(true);
    r.layers = first_of<LayerRange>({of(e, &AdapterChoice::layers), of(k, &AdapterChoice::layers)});
    r.modules = first_of<std::vector<std::string>>(
                    {of(e, &AdapterChoice::modules), of(k, &AdapterChoice::modules)})
                    .value_or(std::vector<std::string>{});
    r.missing_layers = first_of<MissingLayers>({of(e, missing), &explicit_args.missing_layers,
                                                of(k, missing), &configured.missing_layers})
                           .value_or(MissingLayers::refuse);

    const std::string who = describe(source, i, r.name, r.path);
    if (r.path.empty()) problems.add(Errc::bad_config, where(i, "path"), who + " has no path");
    if (!std::isfinite(r.scale)) {
      problems.add(Errc::bad_config, where(i, "scale"), who + " has a non-finite scale");
    }
    if (r.layers && (r.layers->first < 0 || r.layers->first >= r.layers->last)) {
      problems.add(Errc::bad_config, where(i, "layers"),
                   who + ": layers [" + std::to_string(r.layers->first) + ", " +
                       std::to_string(r.layers->last) +
                       ") is not a range of layers (0 <= first < last)");
    }
    for (const std::string& m : r.modules) {
      if (m.empty()) {
        problems.add(Errc::bad_config, where(i, "modules"), who + ": an empty module name");
        break;
      }
    }
    for (std::size_t j = 0; j < out.size(); ++j) {
      const ResolvedAdapter& o = out[j];
      const bool same_name = !r.name.empty() && o.name == r.name;
      const bool same_unnamed = r.name.empty() && o.name.empty() && same(r.path, o.path);
      if (same_name || same_unnamed) {
        problems.add(Errc::bad_config, where(i, same_name ? "name" : "path"),
                     who + (same_name ? " has the name of " : " has the path and no name of ") +
                         describe(source, j, o.name, o.path) +
                         ": each adapter of a run needs a name of its own");
      }
    }
    out.push_back(std::move(r));
  }
  problems.throw_if_any();
  return out;
}

}  // namespace lorakit
