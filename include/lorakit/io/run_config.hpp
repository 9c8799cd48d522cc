// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Run configuration files: read_run_config (JSON -> RunConfig) and attach_resolved (load every
// resolved adapter, then attach them all or none).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/detail/json_config.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/model.hpp"
#include "lorakit/runtime/run_config.hpp"

namespace lorakit::io {

namespace detail_run_config {

using Json = nlohmann::ordered_json;

// Reads one file's values into a RunConfig, collecting every problem (file and key named).
class Reader {
 public:
  Reader(const detail::JsonConfig& config, std::filesystem::path dir)
      : config_(config), dir_(std::move(dir)) {}

  RunConfig read() {
    RunConfig out;
    const Json& root = config_.json();
    only_keys(root, "", {"adapters", "scale", "missing_layers"});
    out.scale = scale(root, "scale");
    out.missing_layers = missing_layers(root, "missing_layers");
    if (const Json* list = config_.find(root, "adapters")) {
      if (!list->is_array()) {
        fail("adapters", "must be a list of adapter objects");
      } else {
        out.adapters.emplace();
        for (std::size_t i = 0; i < list->size(); ++i)
          out.adapters->push_back(adapter((*list)[i], i));
      }
    }
    problems_.throw_if_any();
    return out;
  }

 private:
  AdapterChoice adapter(const Json& entry, std::size_t i) {
    const std::string at = "adapters[" + std::to_string(i) + "]";
    AdapterChoice c;
    if (!entry.is_object()) {
      fail(at, "must be an object with at least a \"path\"");
      return c;
    }
    only_keys(entry, at + ".",
              {"path", "name", "scale", "active", "layers", "modules", "missing_layers"});
    if (const std::optional<std::string> p = text(entry, at + ".path", "path")) {
      if (p->empty()) {
        fail(at + ".path", "is empty");
      } else {
        const std::filesystem::path path(*p);
        c.path = (path.is_absolute() ? path : dir_ / path).lexically_normal().string();
      }
    } else if (config_.find(entry, "path") == nullptr) {
      fail(at + ".path", "is required (the adapter's file or directory)");
    }
    if (const std::optional<std::string> n = text(entry, at + ".name", "name")) {
      if (n->empty()) fail(at + ".name", "is empty (leave it out to use the adapter's own name)");
      c.name = *n;
    }
    c.scale = scale(entry, at + ".scale", "scale");
    if (const Json* v = config_.find(entry, "active")) {
      if (v->is_boolean()) {
        c.active = v->get<bool>();
      } else {
        fail(at + ".active", "must be true or false");
      }
    }
    c.layers = layers(entry, at + ".layers");
    if (const Json* v = config_.find(entry, "modules")) {
      std::vector<std::string> names;
      bool ok = v->is_array();
      for (std::size_t k = 0; ok && k < v->size(); ++k) {
        ok = (*v)[k].is_string() && !(*v)[k].get_ref<const std::string&>().empty();
        if (ok) names.push_back((*v)[k].get<std::string>());
      }
      if (ok) {
        c.modules = std::move(names);
      } else {
        fail(at + ".modules", "must be a list of module names (non-empty strings)");
      }
    }
    c.missing_layers = missing_layers(entry, at + ".missing_layers", "missing_layers");
    return c;
  }

  void only_keys(const Json& obj, const std::string& prefix,
                 std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : obj.items()) {
      bool listed = false;
      for (std::string_view k : known) listed = listed || key == k;
      if (!listed) {
        std::string keys;
        for (std::string_view k : known) keys += (keys.empty() ? "" : ", ") + std::string(k);
        fail(prefix + key, "is not a run configuration key (known here: " + keys + ")");
      }
    }
  }

  std::optional<std::string> text(const Json& obj, const std::string& at, const char* key) {
    const Json* v = config_.find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      fail(at, "must be a string");
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<float> scale(const Json& obj, const std::string& at, const char* key = "scale") {
    const Json* v = config_.find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) {
      fail(at, "must be a number");
      return std::nullopt;
    }
    const double d = v->get<double>();
    if (!std::isfinite(d) || std::abs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      fail(at, "must be a finite number a float can hold");
      return std::nullopt;
    }
    return static_cast<float>(d);
  }

  std::optional<MissingLayers> missing_layers(const Json& obj, const std::string& at,
                                              const char* key = "missing_layers") {
    const std::optional<std::string> s = text(obj, at, key);
    if (!s) return std::nullopt;
    if (*s == "refuse") return MissingLayers::refuse;
    if (*s == "skip") return MissingLayers::skip;
    fail(at, "must be \"refuse\" or \"skip\", not \"" + *s + "\"");
    return std::nullopt;
  }

  std::optional<LayerRange> layers(const Json& obj, const std::string& at) {
    const Json* v = config_.find(obj, "layers");
    if (v == nullptr) return std::nullopt;
    const auto index = [](const Json& j) -> std::optional<int> {
      if (!j.is_number_integer()) return std::nullopt;
      if (j.is_number_unsigned()) {
        const auto u = j.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
        return static_cast<int>(u);
      }
      const auto s = j.get<std::int64_t>();
      if (s < 0 || s > std::numeric_limits<int>::max()) return std::nullopt;
      return static_cast<int>(s);
    };
    if (v->is_array() && v->size() == 2) {
      const std::optional<int> first = index((*v)[0]);
      const std::optional<int> last = index((*v)[1]);
      if (first && last && *first < *last) return LayerRange{*first, *last};
    }
    fail(at, "must be [first, last]: layers first .. last - 1, integers with 0 <= first < last");
    return std::nullopt;
  }

  void fail(const std::string& key, const std::string& detail) {
    problems_.add(Errc::bad_config, ErrorContext{.file = config_.file(), .key = key}, detail);
  }

  const detail::JsonConfig& config_;
  std::filesystem::path dir_;
  ProblemList problems_;
};

}  // namespace detail_run_config

/// Reads a run configuration file: the adapters a host attaches by default (a model folder's
/// static LoRA configuration). Give the result to lorakit::resolve() as `configured`. The
/// schema, every key optional:
///
/// @code
///   {
///     "adapters": [                      // absent: none configured; []: explicitly none
///       {"path": "adapters/code",        // required: file or directory, relative to this file
///        "name": "code",                 // default: the adapter's own name
///        "scale": 0.5,                   // default: the run-wide "scale", else 1
///        "active": true,                 // default: true
///        "layers": [0, 16],              // keep layers 0 .. 15 (by the index in module names)
///        "modules": ["q_proj", "v_proj"],  // keep these (PEFT target_modules list rule)
///        "missing_layers": "skip"}       // "refuse" | "skip"; default: the run-wide value
///     ],
///     "scale": 1.0,                      // for adapters that give none
///     "missing_layers": "refuse"         // for adapters that give none (library default)
///   }
/// @endcode
///
/// Relative paths are taken from the configuration file's directory (and normalised lexically);
/// absolute ones are kept. JSON null counts as absent. Unknown keys are errors, so that a typo
/// ("scael") does not silently fall back to a default.
/// @throws lorakit::Error Errc::io (unreadable), Errc::limit_exceeded (larger than
///   limits.max_config_bytes), Errc::bad_config (not JSON, not an object, or every bad key at
///   once, each named with the file and its key, e.g. `adapters[1].scale`).
[[nodiscard]] inline RunConfig read_run_config(const std::filesystem::path& path,
                                               const ReadLimits& limits = {}) {
  require_path(path, "run configuration");
  const detail::JsonConfig config = detail::read_config(path, limits.max_config_bytes);
  return detail_run_config::Reader(config, path.parent_path()).read();
}

/// Parses run configuration text held in memory; `file` names it in errors and relative paths
/// are taken from `dir`. As read_run_config.
[[nodiscard]] inline RunConfig parse_run_config(std::string_view text, std::string file,
                                                const std::filesystem::path& dir,
                                                const ReadLimits& limits = {}) {
  const detail::JsonConfig config =
      detail::parse_config(text, std::move(file), limits.max_config_bytes);
  return detail_run_config::Reader(config, dir).read();
}

/// A SamePath for lorakit::resolve(): true when both paths name the same file or directory
/// (after following symbolic links), or, for paths that do not exist, when they are equal
/// once made absolute and normalised. Never throws.
inline bool same_file(std::string_view a, std::string_view b) noexcept {
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path pa(a), pb(b);
    if (fs::exists(pa, ec) && fs::exists(pb, ec)) {
      const bool eq = fs::equivalent(pa, pb, ec);
      if (!ec) return eq;
    }
    const fs::path ca = fs::absolute(pa, ec).lexically_normal();
    const fs::path cb = fs::absolute(pb, ec).lexically_normal();
    return ca == cb;
  } catch (...) {
    return a == b;  // out of memory
  }
}

/// Loads every adapter of `resolved` (io::load_adapter with `options`, whose name is replaced by
/// the entry's), narrows each to its target override (ResolvedAdapter::narrow), then attaches them
/// to `model` in order, each with its scale, active state and missing-layers policy. All or
/// none: when any adapter fails to load, is refused by Model::attach, or its attach throws, the
/// adapters attached before it are detached again and the error is rethrown, so the model's
/// adapters are as they were. An empty `resolved` changes nothing at all (no new generation of
/// the model's state; every layer's output stays its base's output bit for bit when nothing was
/// attached before). Returns the ids of the attached adapters, in the order of `resolved`.
///
/// The adapters' names must be new to the model: attaching under an attached name would replace
/// that adapter, which could not be undone. No other writer may change the model's adapters
/// while this runs. The one exception to all or none: when memory runs out while detaching
/// during the roll-back, the adapters that could not be detached stay attached (listed by
/// Model::list()), and the original error is rethrown.
/// @throws lorakit::Error listing every load problem of every adapter at once (as the loaders
///   report them); Errc::bad_config for an adapter the override leaves without modules, two
///   adapters under one name or a name already attached (before anything is attached); then
///   Model::attach's errors.
inline std::vector<AdapterId> attach_resolved(Model& model,
                                              std::span<const ResolvedAdapter> resolved,
                                              const LoadOptions& options = {}) {
  if (resolved.empty()) return {};
  std::vector<std::shared_ptr<const Adapter>> adapters(resolved.size());
  std::vector<std::string> names(resolved.size());
  ProblemList problems;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    const ResolvedAdapter& r = resolved[i];
    LoadOptions load = options;
    load.name = r.name;  // empty: the adapter's own name
    std::shared_ptr<const Adapter> loaded;
    try {
      loaded = load_adapter(r.path, load);
    } catch (const Error& e) {
      for (const Problem& p : e.problems()) problems.add(p.code, p.context, p.detail);
      continue;
    }
    adapters[i] = r.narrow(loaded);
    names[i] = r.name.empty() ? loaded->name() : r.name;
    const ErrorContext where{.file = loaded->info().source};
    if (r.narrows() && adapters[i]->modules().empty()) {
      problems.add(Errc::bad_config, where,
                   "adapter '" + names[i] + "': the target override (" + r.describe_override() +
                       ") keeps none of its " + std::to_string(loaded->modules().size()) +
                       " modules");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (adapters[j] && names[j] == names[i]) {
        problems.add(Errc::bad_config, where,
                     "adapters " + std::to_string(j) + " and " + std::to_string(i) +
                         " would both attach as '" + names[i] + "'; give them names");
      }
    }
    if (model.id(names[i]) != kNoAdapter) {
      problems.add(Errc::bad_config, where,
                   "adapter '" + names[i] +
                       "' is attached already; detach it first (or give this one another name)");
    }
  }
  problems.throw_if_any();

  std::vector<AdapterId> ids;
  ids.reserve(resolved.size());
  std::size_t done = 0;
  try {
    for (; done < resolved.size(); ++done) {
      Model::AttachOptions o = resolved[done].attach_options();
      o.name = names[done];
      ids.push_back(model.attach(adapters[done], std::move(o)));
    }
  } catch (...) {
    while (done-- > 0) {
      try {
        model.detach(names[done]);
      } catch (...) {
        // Out of memory publishing the detach: that adapter stays attached.
      }
    }
    throw;
  }
  return ids;
}

}  // namespace lorakit::io
