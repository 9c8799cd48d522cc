// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Model: a host's LoRALinear layers by module name, and the named adapters attached to them.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lorakit/core/selection.hpp"
#include "lorakit/detail/hash.hpp"
#include "lorakit/detail/model_layer.hpp"
#include "lorakit/detail/read_domain.hpp"
#include "lorakit/detail/state_clock.hpp"
#include "lorakit/error.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/layer/pass.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/diagnosis.hpp"
#include "lorakit/runtime/targeting.hpp"
#include "lorakit/variants/all.hpp"

namespace lorakit {

/// One attached adapter, as Model::list() reports it.
struct AdapterStatus {
  std::string name;
  std::string source;  ///< where the adapter was loaded from
  AdapterFormat format = AdapterFormat::memory;
  AdapterId id = kNoAdapter;
  Index rank = 0;
  float alpha = 0.0f;
  float scale = 1.0f;  ///< the user scale
  bool active = true;
  bool merged = false;
  std::size_t modules = 0;  ///< layers it is attached to
  std::size_t bytes = 0;    ///< adapter memory (tensors as loaded, plus any f32 copies)
  std::uint64_t content_hash = 0;
  /// Modules left out because no registered layer takes them (AttachOptions::missing_layers =
  /// MissingLayers::skip, or a NameMap that maps them to ""), in the adapter's order. A layer
  /// registered later under one of their names gets its module then.
  std::vector<std::string> skipped;
};

/// What Model::attach does with an adapter module no registered layer takes.
enum class MissingLayers : unsigned char {
  refuse,  ///< Errc::no_target for each: nothing is attached (wrong base model, missing rule)
  skip,    ///< leave it out and list it (a partial, sharded or pipeline-stage model)
};

/// A registered layer: its module name and widths.
struct LayerInfo {
  std::string name;
  Index in_features = 0;
  Index out_features = 0;
};

/// A host model as lorakit sees it: LoRALinear layers registered by module name, and named
/// adapters attached across them, each with its own scale, summed where several are active.
///
/// - attach() validates every module of an adapter against the registered layers (a module with
///   no layer, a layer the adapter's target rule selects but has no weights for, in/out/rank
///   disagreements) and reports every problem in one lorakit::Error before changing anything;
///   on error nothing is attached.
/// - Writers (attach, detach, set_scale, set_active, merge, unmerge) are serialised by the
///   model. Forward calls on the layers may run on other threads throughout, except during
///   merge/unmerge: each layer call sees one adapter set, never a mix (different layers of one
///   model pass may see the state before and after a change).
/// - set_enabled() is one relaxed store to a flag every layer reads: O(1) for any model size.
/// - The host keeps its layers alive, registered with this model only, until the Model is
///   destroyed (its destructor unbinds them from the model-wide switch), and runs no forward
///   on them while it is destroyed.
///
/// @code
///   lorakit::Model model;
///   model.add("model.layers.0.self_attn.q_proj", q0);    // ... every adapted layer
///   std::shared_ptr<const lorakit::Adapter> code = lorakit::load_adapter("adapters/code");
///   model.attach(code, {.name = "code", .scale = 0.8f});
///   model.set_enabled(false);                             // every layer: base only
/// @endcode
class Model {
 public:
  struct Options {
    NameMap names;  ///< adapter module name -> registered layer name
    /// The base model the host runs (e.g. "HuggingFaceTB/SmolLM2-135M-Instruct"), named next to
    /// the adapter's own base when attach() refuses an adapter. May be empty.
    std::string base;
  };

  struct AttachOptions {
    std::string name;    ///< defaults to the adapter's own name
    float scale = 1.0f;  ///< the user scale, on top of the adapter's alpha / r
    bool active = true;
    /// Attach adapters that also replace full tensors (PEFT modules_to_save, trained biases):
    /// lorakit applies only the low-rank modules, so by default such adapters are refused.
    bool ignore_saved_tensors = false;
    /// Modules with no registered layer: refused (default) or skipped and listed.
    MissingLayers missing_layers = MissingLayers::refuse;
  };

  Model() { clock_.set_refresh(&Model::refresh, this); }
  explicit Model(Options options) : options_(std::move(options)) {
    clock_.set_refresh(&Model::refresh, this);
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model() {
    for (auto& [name, layer] : layers_) {
      try {
        layer->bind_clock(nullptr);
      } catch (...) {
        // Out of memory: the layer keeps following this model's clock, which the host must
        // not use once the model is gone (as with any layer still registered).
      }
    }
  }

  /// Registers a layer under its module name and binds it to the model-wide switch.
  /// @throws lorakit::Error (Errc::bad_config) for an empty or already registered name.
  /// A layer registered after adapters are attached gets, from each of them, the module that
  /// maps to its name (checked as attach() checks it, at the adapter's scale and active state).
  /// @throws lorakit::Error (Errc::bad_config) for an empty or already registered name, or when
  ///   an adapter with a module for this layer is merged (unmerge it first); the layer's own
  ///   problems with a module (shape, rank) as attach() reports them. The layer is then not
  ///   registered and nothing is attached to it.
  /// A layer of variant LoRA takes LoRA adapters; a layer of AnyVariant takes LoRA and DoRA
  /// adapters (DoRA then needs a base that gives its weights, checked at attach).
  template <class Base, class Variant, class Kernel>
  requires(std::is_same_v<Variant, LoRA> ||
           std::is_same_v<Variant, AnyVariant>) void add(std::string name,
                                                         LoRALinear<Base, Variant, Kernel>& layer) {
    const Writer writer(*this);
    if (name.empty() || layers_.count(name) != 0) {
      throw Error(Errc::bad_config, ErrorContext{.module = name},
                  name.empty() ? "a layer needs a name" : "a layer is already registered here");
    }
    auto handle = std::make_unique<detail::ModelLayerOf<LoRALinear<Base, Variant, Kernel>>>(layer);

    // What the attached adapters have for this layer, checked before anything changes.
    struct Late {
      Entry* entry;
      std::string adapter_name;
      std::string module;
      Placed placed;
    };
    std::vector<Late> late;
    ProblemList problems;
    std::vector<std::pair<detail::AttachedData*, std::size_t>> converted;  // to undo on refusal
    for (auto& [adapter_name, e] : adapters_) {
      converted.emplace_back(e.data.get(), e.data->converted.size());
      for (const auto& [module_name, module] : e.adapter->modules()) {
        if (options_.names(module_name) != name) continue;
        const ErrorContext where{.file = e.adapter->info().source, .module = module_name};
        if (!late.empty() && late.back().entry == &e) {
          problems.add(Errc::bad_config, where,
                       "adapter '" + adapter_name + "': modules '" + late.back().module +
                           "' and '" + module_name + "' map to the same layer '" + name + "'");
          continue;
        }
        if (e.merged) {
          problems.add(Errc::bad_config, where,
                       "adapter '" + adapter_name + "' is merged and has weights for layer '" +
                           name + "'; unmerge it before registering the layer");
          continue;
        }
        auto weights = place(adapter_name, module, *e.data, where, problems);
        if (!weights) continue;
        Placed p{handle.get(), *weights, e.adapter->params(module)};
        check_placed(p, adapter_name, e.scale, e.adapter->info().format, where, problems);
        late.push_back(Late{&e, adapter_name, module_name, p});
      }
    }
    if (!problems.empty()) {
      for (auto& [data, size] : converted) data->converted.resize(size);
      problems.throw_if_any();
    }

    for (Late& l : late) l.entry->placed.reserve(l.entry->placed.size() + 1);  // may throw
    for (const Late& l : late) {
      const Entry& e = *l.entry;
      try {
        handle->attach(l.adapter_name, l.placed.weights, l.placed.params, e.scale, e.data, e.id,
                       e.active);
      } catch (...) {
        for (const Late& undo : late) handle->detach(undo.adapter_name);
        throw;
      }
    }
    handle->bind_clock(&clock_);
    layers_.emplace(std::move(name), std::move(handle));
    for (const Late& l : late) {
      l.entry->placed.push_back(l.placed);
      std::erase(l.entry->skipped, l.module);
      l.entry->bytes = bytes_of(*l.entry->adapter, *l.entry->data);
    }
    num_layers_ = -1;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return layers_.size();
  }

  /// The registered layers in natural order of their names (layers.2 before layers.10).
  [[nodiscard]] std::vector<LayerInfo> layers() const {
    std::vector<LayerInfo> out;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      out.reserve(layers_.size());
      for (const auto& [name, layer] : layers_) {
        out.push_back(LayerInfo{name, layer->in_features(), layer->out_features()});
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const LayerInfo& a, const LayerInfo& b) {
      return detail::natural_less(a.name, b.name);
    });
    return out;
  }

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// Floats of Workspace a forward() of max_rows rows needs on any registered layer.
  [[nodiscard]] Index workspace_floats(Index max_rows) const {
    std::lock_guard<std::mutex> lock(mutex_);
    Index n = 0;
    for (const auto& [name, layer] : layers_) n = std::max(n, layer->workspace_floats(max_rows));
    return n;
  }

  /// Turns adapters on or off in every layer at once: one new generation of the model's state,
  /// O(1) in the number of layers (each reads it with its own switch). Off: every layer's
  /// forward() equals its base bit for bit. A Pass keeps the switch of its generation.
  void set_enabled(bool on) {
    Writer writer(*this);
    writer.batch.set_enabled(on);
  }
  [[nodiscard]] bool enabled() const noexcept {
    const detail::ReadSection section;
    return clock_.current()->enabled;
  }

  /// Which adapters a call computes, by name, with their user scales: a Selection to give
  /// forward() per call or per row, or to pass(). Checked here so that forward() need not be.
  /// @throws lorakit::Error (Errc::bad_config) for a name not attached, a merged adapter (its
  ///   delta is in the base weights for every selection), a name listed twice, a non-finite
  ///   scale, or more than Selection::kMaxAdapters names.
  struct Use {
    std::string_view name;
    float scale = 1.0f;
  };
  [[nodiscard]] Selection select(std::span<const Use> adapters) const {
    std::lock_guard<std::mutex> lock(mutex_);
    ProblemList problems;
    std::vector<Selection::Entry> entries;
    for (const Use& u : adapters) {
      const auto it = adapters_.find(u.name);
      if (it == adapters_.end()) {
        problems.add(Errc::bad_config, {},
                     "select(): no adapter '" + std::string(u.name) + "' is attached");
        continue;
      }
      if (it->second.merged) {
        problems.add(Errc::bad_config, {},
                     "select(): adapter '" + std::string(u.name) +
                         "' is merged: its delta is part of the base weights for every selection");
        continue;
      }
      entries.push_back(Selection::Entry{it->second.id, u.scale});
    }
    problems.throw_if_any();
    try {
      return Selection::of(entries);
    } catch (const Error& e) {
      // Name the adapters rather than their ids.
      std::vector<Problem> named = e.problems();
      for (Problem& p : named) p.detail = "select(): " + p.detail;
      throw Error(std::move(named));
    }
  }
  [[nodiscard]] Selection select(std::initializer_list<Use> adapters) const {
    return select(std::span<const Use>(adapters.begin(), adapters.size()));
  }

  /// Whether every adapter `selection` names is still attached (unmerged) here: a stale
  /// selection adds nothing for the adapters it has lost.
  /// @throws lorakit::Error (Errc::bad_config) naming the ids no longer attached.
  void check(const Selection& selection) const {
    std::lock_guard<std::mutex> lock(mutex_);
    ProblemList problems;
    for (const Selection::Entry& e : selection.entries()) {
      bool found = false;
      for (const auto& [name, entry] : adapters_)
        found = found || (entry.id == e.id && !entry.merged);
      if (!found) {
        problems.add(Errc::bad_config, {},
                     "the selection names adapter id " + std::to_string(e.id) +
                         ", which is no longer attached (detached or merged since select())");
      }
    }
    problems.throw_if_any();
  }

  /// Pins the current generation of the model's adapter state for one forward pass: give the
  /// Pass to every layer call of the pass (`layer.forward(x, y, ws, pass)`) and each of them
  /// computes that generation with `selection`, whatever writers change meanwhile. One
  /// announcement per pass (see Pass); a drafter and a verifier on two threads each hold their
  /// own pass, e.g. `model.pass(draft)` and `model.pass(Selection::base())`.
  [[nodiscard]] Pass pass(const Selection& selection = Selection::current()) const noexcept {
    return Pass(clock_, selection);
  }

  /// Turns adapters off until the returned guard goes out of scope, then restores the switch
  /// as it was (PEFT's `with model.disable_adapter():`), for sequential use: a verify step of a
  /// drafter, a base-model comparison.
  /// @code
  ///   { auto off = model.disabled(); verify(model); }   // adapters back on after the block
  /// @endcode
  class DisabledScope {
   public:
    DisabledScope(const DisabledScope&) = delete;
    DisabledScope& operator=(const DisabledScope&) = delete;
    ~DisabledScope() {
      try {
        model_->set_enabled(was_);
      } catch (...) {
        // Out of memory publishing the switch: the model stays off (the safe side: base only).
      }
    }

   private:
    friend class Model;
    explicit DisabledScope(Model& m) : model_(&m), was_(m.enabled()) { m.set_enabled(false); }
    Model* model_;
    bool was_;
  };
  [[nodiscard]] DisabledScope disabled() { return DisabledScope(*this); }

  /// Attaches `adapter` to every layer it has a module for, under options.name (or the
  /// adapter's name), replacing an adapter of that name in one step per layer. Returns the id
  /// that per-row forward calls use for it.
  /// @throws lorakit::Error with every problem found: Errc::no_target (a module without a
  ///   registered layer), Errc::missing_tensor (a layer the target rule selects without
  ///   weights), Errc::shape_mismatch / limit_exceeded (from the layers), Errc::unsupported
  ///   (DoRA, embeddings, saved full tensors unless ignored), Errc::bad_config (bad scale or
  ///   name, or replacing a merged adapter). Nothing is attached then. The problems come in
  ///   order of importance (a model of other widths before a refused modules_to_save), modules
  ///   in natural order, shapes as the adapter's file stores them; when they point at a wrong
  ///   base model, Error::diagnosis() leads the message with the adapter's base against this
  ///   model's (Options::base, its layers' widths) and the mismatch that dominates.
  AdapterId attach(std::shared_ptr<const Adapter> adapter) {
    return attach(std::move(adapter), AttachOptions{});
  }

  /// attach() under a name, with a user scale and an initial active state.
  AdapterId attach(std::shared_ptr<const Adapter> adapter, AttachOptions options) {
    if (!adapter) throw Error(Errc::bad_config, {}, "attach() needs an adapter");
    const Writer writer(*this);
    const std::string name = options.name.empty() ? adapter->name() : options.name;
    const AdapterInfo& info = adapter->info();
    ProblemList problems;
    const ErrorContext file{.file = info.source};
    if (name.empty()) problems.add(Errc::bad_config, file, "the adapter needs a name to attach");
    if (!std::isfinite(options.scale)) {
      problems.add(Errc::bad_config, file, "adapter '" + name + "' has a non-finite scale");
    }
    const auto existing = adapters_.find(name);  // stays valid: std::map
    if (existing != adapters_.end() && existing->second.merged) {
      problems.add(Errc::bad_config, file,
                   "adapter '" + name + "' is merged; unmerge it before replacing it");
    }
    if (!adapter->saved().empty() && !options.ignore_saved_tensors) {
      std::string keys;
      for (const auto& [key, t] : adapter->saved()) keys += (keys.empty() ? "" : ", ") + key;
      problems.add(Errc::unsupported, ErrorContext{.file = info.source, .tensor = keys},
                   "adapter '" + name +
                       "' also replaces full tensors the host must load itself; attach with "
                       "ignore_saved_tensors = true to apply only its low-rank modules");
    }

    // Which layer each module goes to, and each module checked against its layer.
    std::vector<Placed> plan;
    auto data = std::make_shared<detail::AttachedData>();
    data->adapter = adapter;
    std::map<std::string, std::string, std::less<>> layer_of;  // registered layer -> module
    std::vector<std::string> skipped;
    for (const auto& [module_name, module] : adapter->modules()) {
      const std::string layer_name = options_.names(module_name);
      const ErrorContext where{.file = info.source, .module = module_name};
      auto it = layer_name.empty() ? layers_.end() : layers_.find(layer_name);
      if (it == layers_.end() &&
          (layer_name.empty() || options.missing_layers == MissingLayers::skip)) {
        skipped.push_back(module_name);
        continue;
      }
      if (it == layers_.end()) {
        ErrorContext c = where;
        c.hint = "maybe wrong base model, or a NameMap rule missing?";
        problems.add(Errc::no_target, std::move(c),
                     "adapter '" + name + "' has weights for a layer the model did not register" +
                         (layer_name != module_name ? " (mapped to '" + layer_name + "')" : ""));
        continue;
      }
      if (!layer_of.emplace(layer_name, module_name).second) {
        problems.add(Errc::bad_config, where,
                     "adapter '" + name + "': modules '" + layer_of[layer_name] + "' and '" +
                         module_name + "' map to the same layer '" + layer_name + "'");
        continue;
      }
      const auto weights = place(name, module, *data, where, problems);
      if (!weights) continue;
      Placed p{it->second.get(), *weights, adapter->params(module)};
      check_placed(p, name, options.scale, info.format, where, problems);
      plan.push_back(p);
    }
    // The target rule speaks the adapter's names: checked when the model uses them too (no
    // NameMap rules), and only when std::regex can compile it (PEFT regexes are Python's).
    std::optional<TargetMatcher> rule;
    if (has_rule(info.target) && options_.names.empty()) {
      try {
        rule.emplace(info.target, num_layers());
      } catch (const Error&) {
      }
    }
    if (rule) {
      const TargetMatcher& selects = *rule;
      for (const auto& [layer_name, layer] : layers_) {
        if (layer_of.count(layer_name) == 0 && selects(layer_name)) {
          problems.add(
              Errc::missing_tensor,
              ErrorContext{
                  .file = info.source, .module = layer_name, .hint = "maybe wrong base model?"},
              "adapter '" + name +
                  "': its target rule selects this layer but it has no weights for it");
        }
      }
    }
    if (!problems.empty()) diagnose(problems, name, *adapter);
    problems.throw_if_any();

    // Commit: attach (replacing by name) on the planned layers, detach the name elsewhere. On
    // an exception (out of memory) the layers go back to the previous adapter of that name.
    const bool replacing = existing != adapters_.end();
    const AdapterId id = replacing ? existing->second.id : next_id_;
    const std::size_t bytes = bytes_of(*adapter, *data);
    Entry entry{id,
                adapter,
                data,
                options.scale,
                options.active,
                false,
                bytes,
                std::move(plan),
                std::move(skipped)};
    const auto [slot, inserted] = adapters_.try_emplace(name);  // may allocate: before commit
    try {
      for (const Placed& p : entry.placed) {
        p.layer->attach(name, p.weights, p.params, options.scale, data, id, options.active);
      }
      for (const auto& [layer_name, layer] : layers_) {
        if (layer_of.count(layer_name) == 0) layer->detach(name);
      }
    } catch (...) {
      for (const auto& [layer_name, layer] : layers_) {
        try {
          layer->detach(name);
        } catch (...) {
        }
      }
      if (replacing) {
        restore(name, slot->second);
      } else {
        adapters_.erase(slot);
      }
      throw;
    }
    slot->second = std::move(entry);
    if (!replacing) ++next_id_;
    return id;
  }

  /// Detaches the adapter called `name` from every layer. Returns false when none is attached.
  /// @throws lorakit::Error (Errc::bad_config) when it is merged (unmerge it first).
  bool detach(std::string_view name) {
    const Writer writer(*this);
    auto it = adapters_.find(std::string(name));
    if (it == adapters_.end()) return false;
    require_unmerged(it->second, name);
    for (auto& [layer_name, layer] : layers_) layer->detach(name);
    adapters_.erase(it);
    return true;
  }

  /// Changes the user scale of the adapter called `name` in every layer.
  /// @throws lorakit::Error (Errc::bad_config) for an unknown name, a non-finite scale or a
  ///   merged adapter.
  void set_scale(std::string_view name, float scale) {
    const Writer writer(*this);
    Entry& e = entry(name);
    if (!std::isfinite(scale)) {
      throw Error(Errc::bad_config, {}, "adapter '" + std::string(name) + "': non-finite scale");
    }
    require_unmerged(e, name);
    for (const Placed& p : e.placed) p.layer->set_scale(name, scale);
    e.scale = scale;
  }

  /// Activates or deactivates the adapter called `name` in every layer (kept attached).
  /// @throws lorakit::Error (Errc::bad_config) for an unknown name.
  void set_active(std::string_view name, bool active) {
    const Writer writer(*this);
    Entry& e = entry(name);
    for (const Placed& p : e.placed) p.layer->set_active(name, active);
    e.active = active;
  }

  /// Folds the adapter called `name` into the weights of every layer it is attached to (see
  /// LoRALinear::merge). Checks every layer can merge before changing any. No forward() may run
  /// on the model meanwhile.
  /// @throws lorakit::Error Errc::unsupported (a layer without writable weights),
  ///   Errc::bad_config (unknown or already merged).
  void merge(std::string_view name, bool keep_backup = false) {
    const Writer writer(*this);
    merge_locked(name, entry(name), keep_backup);
  }

  /// Takes the merged adapter called `name` back out of every layer's weights. Merges come out
  /// in reverse order: every layer is checked first, and nothing changes when one refuses.
  /// @throws lorakit::Error (Errc::bad_config) for an unknown or unmerged adapter, or one merged
  ///   before another that is still merged on a shared layer.
  void unmerge(std::string_view name) {
    const Writer writer(*this);
    Entry& e = entry(name);
    if (!e.merged) {
      throw Error(Errc::bad_config, {}, "adapter '" + std::string(name) + "' is not merged");
    }
    for (const Placed& p : e.placed) p.layer->check_unmerge(name);  // all, before changing any
    for (const Placed& p : e.placed) p.layer->unmerge(name);
    e.merged = false;
  }

  /// Merges the adapter called `name` (if it is not merged yet) and forgets it: its delta stays
  /// in the weights for good, and the model and its layers drop every reference to it, so its
  /// memory is freed once the caller's shared_ptr goes (PEFT's merge_and_unload). No forward()
  /// may run on the model meanwhile.
  /// @throws lorakit::Error as merge() does; nothing changes then.
  void merge_and_unload(std::string_view name) {
    const Writer writer(*this);
    Entry& e = entry(name);
    if (!e.merged) merge_locked(name, e, false);
    for (const Placed& p : e.placed) p.layer->unload(name);  // cannot fail: merged on each
    adapters_.erase(adapters_.find(name));
  }

  /// Detaches every adapter (PEFT's delete_adapter on all of them, llama.cpp's
  /// clear_adapter_lora). Refused, changing nothing, while any is merged.
  /// @throws lorakit::Error (Errc::bad_config) naming the merged adapters.
  void detach_all() {
    const Writer writer(*this);
    std::string merged;
    for (const auto& [name, e] : adapters_) {
      if (e.merged) merged += (merged.empty() ? "'" : ", '") + name + "'";
    }
    if (!merged.empty()) {
      throw Error(Errc::bad_config, {},
                  "adapters " + merged + " are merged; unmerge them (or merge_and_unload) first");
    }
    for (auto& [name, e] : adapters_) {
      for (const Placed& p : e.placed) p.layer->detach(name);
    }
    adapters_.clear();
  }

  /// The multiplier `layer` applies to the adapter called `adapter`: user scale x the
  /// variant's factor for that module (alpha / r, alpha / sqrt(r), or direct), or nullopt when
  /// the adapter has no module there. Merged adapters report the multiplier they were merged
  /// with.
  [[nodiscard]] std::optional<float> multiplier(std::string_view adapter,
                                                std::string_view layer) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = adapters_.find(adapter);
    const auto l = layers_.find(layer);
    if (it == adapters_.end() || l == layers_.end()) return std::nullopt;
    for (const Placed& p : it->second.placed) {
      if (p.layer == l->second.get()) return it->second.scale * LoRA::scale(p.params);
    }
    return std::nullopt;
  }

  /// The id of the adapter called `name` for per-row forward calls, or kNoAdapter.
  [[nodiscard]] AdapterId id(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = adapters_.find(std::string(name));
    return it == adapters_.end() ? kNoAdapter : it->second.id;
  }

  /// Every attached adapter, by name.
  [[nodiscard]] std::vector<AdapterStatus> list() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<AdapterStatus> out;
    for (const auto& [name, e] : adapters_) {
      const AdapterInfo& info = e.adapter->info();
      out.push_back(AdapterStatus{name, info.source, info.format, e.id, info.rank, info.alpha,
                                  e.scale, e.active, e.merged, e.placed.size(), e.bytes,
                                  e.adapter->content_hash(), e.skipped});
    }
    return out;
  }

  /// An identity of what the model's adapters add to its output right now, for host KV and
  /// prompt-cache keys: a hash over the (content hash, user scale) of every adapter that
  /// changes the output (active ones while the switch is on, merged ones always) and of the
  /// layers switched off on their own, or 0 when no adapter changes it. Order-independent;
  /// equal identities mean the same weights at the same scales. Lock-free; Pass::identity() is
  /// the identity of what one pass computes (with its selection).
  [[nodiscard]] std::uint64_t identity() const noexcept {
    const detail::ReadSection section;
    return clock_.current()->identity(Selection::current());
  }

  /// The generation of the model's adapter state now (see Pass::generation()).
  [[nodiscard]] std::uint64_t generation() const noexcept {
    const detail::ReadSection section;
    return clock_.current()->generation;
  }

 private:
  // A writer step: the model's lock, then one batch of its clock. States the step replaces are
  // freed after both are released (writers never wait for readers holding a lock).
  struct Writer {
    detail::RetireList garbage;
    std::unique_lock<std::mutex> lock;
    detail::StateClock::Batch batch;
    explicit Writer(Model& m) : lock(m.mutex_), batch(m.clock_, garbage) {}
  };

  // The facts of the state the clock is about to publish (clock lock held: every change of
  // adapters_ and layers_ happens inside a batch).
  static void refresh(const void* owner, detail::ModelState& next) {
    const Model& m = *static_cast<const Model*>(owner);
    next.adapters.reserve(m.adapters_.size());
    for (const auto& [name, e] : m.adapters_) {
      next.adapters.push_back(detail::ModelState::AdapterFacts{e.id, e.adapter->content_hash(),
                                                               e.scale, e.active, e.merged});
    }
    next.disabled_layers = 0;
    for (const auto& [name, layer] : m.layers_) {
      if (!layer->enabled()) next.disabled_layers += detail::Hasher().text(name).digest();
    }
  }

  // One module of an adapter on its layer.
  struct Placed {
    detail::ModelLayer* layer;
    detail::ModuleWeights weights;
    LoRA::Params params;
  };

  struct Entry {
    AdapterId id = kNoAdapter;
    std::shared_ptr<const Adapter> adapter;
    std::shared_ptr<detail::AttachedData> data;
    float scale = 1.0f;
    bool active = true;
    bool merged = false;
    std::size_t bytes = 0;
    std::vector<Placed> placed;
    std::vector<std::string> skipped;
  };

  // The layer's check of a planned module, its problems named by `where` (file and module),
  // their shapes also as a file of `format` stores them.
  static void check_placed(const Placed& p, const std::string& adapter, float scale,
                           AdapterFormat format, const ErrorContext& where, ProblemList& problems) {
    ProblemList local;
    p.layer->check(adapter, p.weights, p.params, scale, local);
    for (Problem& q : local.items()) {
      if (q.context.module.empty()) q.context.module = where.module;
      if (q.context.file.empty()) q.context.file = where.file;
      detail::add_file_shapes(q.context, format);
    }
    problems.append(std::move(local));
  }

  // Orders attach's problems by importance and leads them with what they mean together: the
  // adapter's base against this model's layers (detail::diagnose_attach).
  void diagnose(ProblemList& problems, const std::string& name, const Adapter& adapter) const {
    detail::ModelFacts facts{.base = options_.base, .layers = {}};
    facts.layers.reserve(layers_.size());
    for (const auto& [layer_name, layer] : layers_) {
      facts.layers.push_back({layer_name, layer->in_features(), layer->out_features()});
    }
    detail::diagnose_attach(problems, name, adapter, facts);
  }

  // The adapter's tensors plus the f32 copies made for the layers.
  static std::size_t bytes_of(const Adapter& adapter, const detail::AttachedData& data) noexcept {
    std::size_t bytes = adapter.memory_bytes();
    for (const auto& c : data.converted) bytes += c.size() * sizeof(float);
    return bytes;
  }

  // A module's weights as the layer takes them, or nullopt with the problem recorded.
  static std::optional<detail::ModuleWeights> place(const std::string& name,
                                                    const AdapterModule& module,
                                                    detail::AttachedData& data,
                                                    const ErrorContext& where,
                                                    ProblemList& problems) {
    if (module.kind != ModuleKind::linear) {
      problems.add(Errc::unsupported, where,
                   "adapter '" + name + "': embedding modules are not applied by Model");
      return std::nullopt;
    }
    if (module.rows == RowLayout::unresolved) {
      problems.add(Errc::bad_config, where,
                   "adapter '" + name +
                       "': lora_b rows are in llama.cpp's rotary order (a GGUF adapter of the "
                       "llama family); load it with LoadOptions::base_layout = BaseLayout::hf "
                       "and n_head / n_head_kv for a Hugging Face base, or BaseLayout::llama_cpp "
                       "for a base in llama.cpp's layout");
      return std::nullopt;
    }
    const std::optional<StoredView> a = as_stored(module.a, data);
    const std::optional<StoredView> b = as_stored(module.b, data);
    if (!a || !b) {
      problems.add(Errc::unsupported_dtype, where,
                   "adapter '" + name + "': tensors must be F32, F16 or BF16");
      return std::nullopt;
    }
    detail::ModuleWeights w{.variant = VariantKind::lora, .a = *a, .b = *b};
    if (module.magnitude) {
      const std::optional<StoredView> m = as_stored(*module.magnitude, data);
      if (!m) {
        problems.add(Errc::unsupported_dtype, where,
                     "adapter '" + name + "': the DoRA magnitude must be F32, F16 or BF16");
        return std::nullopt;
      }
      // One row of out values, whatever rank the tensor has.
      const Index elements = module.magnitude->elements();
      w.magnitude = m->visit([&](auto v) noexcept {
        return StoredView(decltype(v){v.data, 1, elements, elements});
      });
      w.variant = VariantKind::dora;
    }
    return w;
  }

  // merge() with the lock held.
  void merge_locked(std::string_view name, Entry& e, bool keep_backup) {
    if (e.merged)
      throw Error(Errc::bad_config, {}, "adapter '" + std::string(name) + "' is merged");
    for (const auto& [layer_name, layer] : layers_) {
      if (!layer->mergeable() && placed_on(e, layer.get())) {
        throw Error(Errc::unsupported, ErrorContext{.module = layer_name},
                    "adapter '" + std::string(name) +
                        "': this layer's base has no writable weights to merge into");
      }
    }
    std::size_t done = 0;
    try {
      for (; done < e.placed.size(); ++done) e.placed[done].layer->merge(name, keep_backup);
    } catch (...) {
      while (done-- > 0) {
        try {
          e.placed[done].layer->unmerge(name);
        } catch (...) {
        }
      }
      throw;
    }
    e.merged = true;
  }

  static bool placed_on(const Entry& e, const detail::ModelLayer* layer) {
    for (const Placed& p : e.placed) {
      if (p.layer == layer) return true;
    }
    return false;
  }

  // The tensor as the kernels read it: in place in its stored type (F32, F16, BF16), or, for
  // bytes not aligned to their element, an f32 copy kept in `data`.
  static std::optional<StoredView> as_stored(const AdapterTensor& t, detail::AttachedData& data) {
    if (const std::optional<StoredView> v = t.stored()) return v;
    if (t.dtype != DType::f32 && t.dtype != DType::f16 && t.dtype != DType::bf16) {
      return std::nullopt;
    }
    std::vector<float>& out = data.converted.emplace_back(static_cast<std::size_t>(t.elements()));
    t.copy_to_f32(out.data());
    return make_view(static_cast<const float*>(out.data()), t.rows(), t.cols());
  }

  // Puts a previous entry back on its layers after a failed replacement.
  void restore(const std::string& name, const Entry& e) noexcept {
    try {
      for (const Placed& p : e.placed) {
        p.layer->attach(name, p.weights, p.params, e.scale, e.data, e.id, e.active);
      }
    } catch (...) {
      // Out of memory while recovering from out of memory: the layers keep what was restored.
    }
  }

  Entry& entry(std::string_view name) {
    auto it = adapters_.find(std::string(name));
    if (it == adapters_.end()) {
      throw Error(Errc::bad_config, {}, "no adapter '" + std::string(name) + "' is attached");
    }
    return it->second;
  }

  static void require_unmerged(const Entry& e, std::string_view name) {
    if (e.merged) {
      throw Error(Errc::bad_config, {},
                  "adapter '" + std::string(name) + "' is merged; unmerge it first");
    }
  }

  // One more than the largest layer index among the registered names (mlx-lm's num_layers).
  int num_layers() {
    if (num_layers_ < 0) {
      num_layers_ = 0;
      for (const auto& [name, layer] : layers_) {
        num_layers_ = std::max(num_layers_, layer_index(name) + 1);
      }
    }
    return num_layers_;
  }

  Options options_;
  mutable std::mutex mutex_;
  mutable detail::StateClock clock_;
  std::map<std::string, std::unique_ptr<detail::ModelLayer>, std::less<>> layers_;
  std::map<std::string, Entry, std::less<>> adapters_;
  AdapterId next_id_ = 0;
  int num_layers_ = -1;
};

}  // namespace lorakit
