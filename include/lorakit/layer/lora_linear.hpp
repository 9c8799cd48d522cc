// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRALinear<Base, Variant, Kernel>: a host linear op plus the sum of its attached adapters.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/selection.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/detail/read_domain.hpp"
#include "lorakit/detail/state_clock.hpp"
#include "lorakit/error.hpp"
#include "lorakit/kernels/default.hpp"
#include "lorakit/kernels/merge.hpp"
#include "lorakit/layer/pass.hpp"

namespace lorakit {

/// y = base(x) + sum over attached adapters k of s_k * delta_k(x), where s_k is the user scale
/// times Variant::scale(params_k).
///
/// - forward() never allocates, locks or throws; it needs a caller-owned Workspace of at least
///   workspace_floats(1) floats (more floats let it work on longer blocks of rows).
/// - Which adapters a call computes is the layer's current set (active adapters at their user
///   scales), or a Selection given per call or per row, or a Pass of its Model (one state for
///   every layer of a forward pass).
/// - set_enabled(false) makes forward() return exactly the base output, at the cost of two
///   relaxed loads and a branch. Attach, detach, set_scale, set_active and set_enabled are safe
///   while other threads run forward(): each call reads one state (switches and attachments
///   together), from before or after a change, never a mix. Readers write only a cache line of
///   their own thread; writers wait for in-flight readers without holding any lock readers or
///   queries need, and free replaced weights only when no call can read them.
/// - The layer holds the base by value (usually a view) and views of the adapter weights; each
///   attachment keeps an `owner` alive for as long as any forward() may read its weights.
///
/// @code
///   lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA> layer(base);
///   layer.attach("style", {make_view(a), make_view(b)}, {.rank = 8, .alpha = 16}, 0.5f, owner);
///   lorakit::Workspace ws(layer.workspace_floats(64));
///   layer.forward(x, y, ws);
/// @endcode
template <LinearBase Base, AdapterVariant Variant, LowRankKernel Kernel = DefaultKernel>
class LoRALinear {
  static_assert(VariantFits<Variant, Base>,
                "this variant needs the base's weights (DoRA takes W's row norms): use a base "
                "that offers weight_view() and layout(), such as DenseLinear");

 public:
  using base_type = Base;
  using variant_type = Variant;
  using kernel_type = Kernel;
  using Weights = typename Variant::Weights;
  using Params = typename Variant::Params;

  /// Whether the variant's merge adds the product of its first two slots A:(in,r) * B:(r,out)
  /// to W (LoRA), possibly followed by a rescaling of W's rows it applies after it (DoRA's
  /// finish_merge).
  static constexpr bool kMergesProduct =
      Variant::slots.size() >= 2 && Variant::slots[0].rows == Dim::in &&
      Variant::slots[0].cols == Dim::rank && Variant::slots[1].rows == Dim::rank &&
      Variant::slots[1].cols == Dim::out &&
      (Variant::slots.size() == 2 ||
       requires(const Weights& w, MatrixView m) { Variant::finish_merge(w, WeightLayout{}, m); });

  /// Whether the variant folds itself into W its own way (IA3 scales W's rows or columns):
  /// Variant::merge_into(weights, multiplier, layout, W).
  static constexpr bool kMergesInto = requires(const Weights& w, MatrixView m) {
    Variant::template merge_into<Kernel>(w, 1.0f, WeightLayout{}, m);
  };

  /// Whether merge() can exist: the variant knows how to fold itself into W (kMergesProduct or
  /// kMergesInto) and the base exposes writable weights (MergeableBase).
  static constexpr bool kMergeable = (kMergesProduct || kMergesInto) && MergeableBase<Base>;

  /// Whether merge() always keeps a backup of W: the variant's merge cannot be subtracted
  /// back out (DoRA scales W's rows).
  static constexpr bool kMergeNeedsBackup = requires { requires Variant::merge_needs_backup; };

  /// Whether the variant rescales the input before the base runs (IA3Input): forward() then
  /// runs the base on a scaled copy of x in the workspace.
  static constexpr bool kScalesInput = requires { requires Variant::scales_input; };

  /// Whether some slot has the rank as a dimension (LoRA, DoRA; not IA3): attach then checks
  /// the rank against 1 and max_rank. A variant chosen at run time (OneOf) has no fixed slots:
  /// attach checks the slots of the alternative each adapter holds.
  static constexpr bool kHasRank = [] {
    for (const Slot& slot : Variant::slots) {
      if (slot.rows == Dim::rank || slot.cols == Dim::rank) return true;
    }
    return false;
  }();

  struct Options {
    Index max_rank = 256;  ///< the largest rank attach() accepts; sizes the workspace
    std::string module;    ///< this layer's module name, used in error messages
  };

  /// One adapter attached to this layer.
  struct Attachment {
    std::string name;
    Weights weights;
    Params params;
    float user_scale = 1.0f;
    float multiplier = 0.0f;               ///< user_scale * Variant::scale(params)
    float variant_scale = 0.0f;            ///< Variant::scale(params)
    std::shared_ptr<const void> owner;     ///< keeps the weights' memory alive
    std::shared_ptr<const void> prepared;  ///< what Variant::prepare derived (DoRA's gains)
    AdapterId id = kNoAdapter;             ///< the id per-row forward calls name it by
    bool active = true;                    ///< inactive: kept attached, skipped by forward()
    bool merged = false;                   ///< folded into the base weights; skipped by forward()
    std::shared_ptr<const RowMatrix> backup;  ///< the base weights from before merge(), if kept
    std::uint64_t merge_order = 0;            ///< larger: merged later

    /// Whether forward() computes this adapter.
    [[nodiscard]] bool live() const noexcept { return active && !merged && multiplier != 0.0f; }
  };

  /// How to attach: the user scale, owner, per-row id and initial state of an adapter (spelled
  /// as Model::AttachOptions spells them).
  struct AttachOptions {
    float scale = 1.0f;  ///< the user scale, on top of the variant's alpha / r
    std::shared_ptr<const void> owner;
    AdapterId id = kNoAdapter;
    bool active = true;
  };

  explicit LoRALinear(Base base, Options options = {})
      : base_(std::move(base)), options_(std::move(options)), state_(initial_state()) {
    if constexpr (kScalesInput) {
      fallback_row_ = std::make_unique<float[]>(static_cast<std::size_t>(base_.in_features()));
    }
  }

  LoRALinear(const LoRALinear&) = delete;
  LoRALinear& operator=(const LoRALinear&) = delete;
  ~LoRALinear() { delete state_.load(); }

  [[nodiscard]] Index in_features() const noexcept { return base_.in_features(); }
  [[nodiscard]] Index out_features() const noexcept { return base_.out_features(); }
  [[nodiscard]] const Base& base() const noexcept { return base_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// Floats of Workspace that forward() on max_rows rows uses without splitting the rows:
  /// max_rank per row, or the larger of that and in_features() for a variant that scales the
  /// input.
  [[nodiscard]] Index workspace_floats(Index max_rows) const noexcept {
    const Index per_row =
        kScalesInput ? std::max(in_features(), options_.max_rank) : options_.max_rank;
    return std::max<Index>(max_rows, 1) * std::max<Index>(per_row, 1);
  }

  /// Turns every adapter of this layer on or off. Off: forward() equals the base bit for bit.
  /// A writer step like attach (it publishes a new state and waits for calls in flight); a
  /// host that switches adapters per call passes a Selection instead (nothing to publish).
  void set_enabled(bool on) {
    detail::RetireList garbage;
    detail::StateClock::Batch batch(clock(), garbage);
    const LayerState& cur = *state_.load();
    // The old state shares its list with the new one: it can wait for a later grace period.
    if (cur.enabled != on) {
      publish_in(batch, cur.list, on, cur.older_for(batch.generation()), /*light=*/true);
    }
  }
  /// The switch as last set.
  [[nodiscard]] bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }

  /// Attaches an adapter under `name` with a user scale, or replaces the one already attached
  /// under that name in one step. Validates every slot shape against this layer first and
  /// reports all problems in one error; on error the layer is unchanged.
  /// @throws lorakit::Error Errc::shape_mismatch (a slot's shape disagrees with in/out/rank),
  ///   Errc::bad_config (rank < 1, non-finite scale, replacing a merged adapter),
  ///   Errc::limit_exceeded (rank > max_rank).
  void attach(std::string name, Weights weights, Params params, float user_scale = 1.0f,
              std::shared_ptr<const void> owner = {}) {
    attach(std::move(name), std::move(weights), params,
           AttachOptions{.scale = user_scale, .owner = std::move(owner)});
  }

  /// attach() with an id for per-row forward calls and an initial active state.
  void attach(std::string name, Weights weights, Params params, AttachOptions options) {
    ProblemList problems;
    check_attach(name, weights, params, options.scale, problems);
    problems.throw_if_any();
    Attachment a{std::move(name),
                 std::move(weights),
                 params,
                 options.scale,
                 options.scale * Variant::scale(params),
                 Variant::scale(params),
                 std::move(options.owner),
                 {},
                 options.id,
                 options.active};
    prepare(a);
    publish([&a, this](const std::vector<Attachment>& current) {
      // Built by copy construction only: assigning an Eigen::Map copies elements, not views.
      auto next = std::make_unique<std::vector<Attachment>>();
      next->reserve(current.size() + 1);
      bool replaced = false;
      for (const Attachment& e : current) {
        if (e.name == a.name) {
          require_unmerged(e, "replace");
          replaced = true;
          next->push_back(a);
        } else {
          next->push_back(e);
        }
      }
      if (!replaced) next->push_back(a);
      return next;
    });
  }

  /// Adds to `problems` everything attach() would refuse, without changing the layer.
  void check_attach(const std::string& name, const Weights& w, const Params& p, float user_scale,
                    ProblemList& problems) const {
    const Index rank = static_cast<Index>(p.rank);
    const ErrorContext base_context{.module = options_.module};
    bool has_rank = kHasRank;
    if constexpr (requires { Variant::agrees(w, p); }) {
      if (!Variant::agrees(w, p)) {
        problems.add(Errc::bad_config, base_context,
                     "adapter '" + name + "': its weights and params are of different variants");
        return;
      }
    }
    for_each_slot(w, [&](const Slot& slot, const StoredView&) {
      has_rank = has_rank || slot.rows == Dim::rank || slot.cols == Dim::rank;
    });
    if (!has_rank) {
      // No low-rank factors: nothing to check against max_rank.
    } else if (rank < 1) {
      problems.add(Errc::bad_config, base_context,
                   "adapter '" + name + "' has rank " + std::to_string(rank) + "; need >= 1");
    } else if (rank > options_.max_rank) {
      problems.add(Errc::limit_exceeded, base_context,
                   "adapter '" + name + "' has rank " + std::to_string(rank) +
                       ", above this layer's max_rank " + std::to_string(options_.max_rank) +
                       " (raise LoRALinear::Options::max_rank)");
    }
    if (!std::isfinite(user_scale)) {
      problems.add(Errc::bad_config, base_context,
                   "adapter '" + name + "' has a non-finite user scale");
    }
    if (!std::isfinite(Variant::scale(p))) {
      problems.add(Errc::bad_config, base_context,
                   "adapter '" + name + "': its alpha gives a non-finite scale");
    }
    for_each_slot(w, [&](const Slot& slot, const StoredView& t) {
      const Shape expected = slot_shape(slot, in_features(), out_features(), rank);
      const Shape actual{t.rows(), t.cols()};
      if (expected != actual) {
        ErrorContext c = base_context;
        c.slot = std::string(slot.name);
        c.expected = expected;
        c.actual = actual;
        auto is_feature = [](Dim d) { return d == Dim::in || d == Dim::out; };
        if ((is_feature(slot.rows) && expected.dims[0] != actual.dims[0]) ||
            (is_feature(slot.cols) && expected.dims[1] != actual.dims[1])) {
          c.hint = "maybe wrong base model?";
        }
        problems.add(Errc::shape_mismatch, std::move(c), "adapter '" + name + "'");
      }
    });
  }

  /// Detaches the adapter called `name`. Returns false when none is attached under that name.
  /// @throws lorakit::Error (Errc::bad_config) when it is merged (unmerge it first).
  bool detach(std::string_view name) {
    bool found = false;
    publish([&](const std::vector<Attachment>& current) {
      auto next = std::make_unique<std::vector<Attachment>>();
      for (const Attachment& a : current) {
        if (a.name == name) {
          require_unmerged(a, "detach");
          found = true;
        } else {
          next->push_back(a);
        }
      }
      return next;
    });
    return found;
  }

  /// Changes the user scale of the adapter called `name`.
  /// @throws lorakit::Error (Errc::bad_config) for a non-finite scale, an unknown name or a
  ///   merged adapter.
  void set_scale(std::string_view name, float user_scale) {
    if (!std::isfinite(user_scale)) {
      throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                  "adapter '" + std::string(name) + "': non-finite user scale");
    }
    modify(name, [&](Attachment& a) {
      require_unmerged(a, "rescale");
      a.user_scale = user_scale;
      a.multiplier = user_scale * Variant::scale(a.params);
      prepare(a);
    });
  }

  /// Makes the adapter called `name` active (computed by forward()) or inactive (kept attached
  /// and skipped).
  /// @throws lorakit::Error (Errc::bad_config) for an unknown name.
  void set_active(std::string_view name, bool active) {
    modify(name, [&](Attachment& a) { a.active = active; });
  }

  /// Folds s * A * B of the adapter called `name` into the base weights W (in the base's
  /// layout); forward() then skips it and costs what the base costs. With keep_backup the
  /// weights are copied first and unmerge() restores them bit for bit; without it, unmerge()
  /// subtracts the same product (exact up to one rounding per element). Merged adapters ignore
  /// the toggles (rows of a mixed batch that name no adapter get them too, as part of W) and
  /// cannot be rescaled, replaced or detached until unmerged. The whole change is one writer
  /// step: on any error (out of memory included) W and the layer are unchanged. Not safe while
  /// other threads run forward() on this layer: W changes under them.
  /// @throws lorakit::Error (Errc::bad_config) for an unknown name or an adapter already merged.
  void merge(std::string_view name,
             bool keep_backup = false) requires(MergeableBase<Base>&& kMergeable) {
    change_merge(name, [&](const std::vector<Attachment>&, Attachment& e, MatrixView w) {
      if (e.merged) {
        throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                    "adapter '" + e.name + "' is already merged");
      }
      if constexpr (requires { Variant::check_merge(e.weights, base_, options_.module, e.name); }) {
        Variant::check_merge(e.weights, base_, options_.module, e.name);
      }
      std::shared_ptr<const RowMatrix> backup;
      if (keep_backup || kMergeNeedsBackup) backup = std::make_shared<const RowMatrix>(w);
      if constexpr (kMergesProduct) {
        const auto [a, b] = merge_factors(e);
        const kernels::MergeFactors factors(base_.layout(), a, b);
        // Nothing below allocates or throws.
        factors.apply<Kernel>(w, e.multiplier);
        if constexpr (requires { Variant::finish_merge(e.weights, base_.layout(), w); }) {
          Variant::finish_merge(e.weights, base_.layout(), w);
        }
      } else {
        Variant::template merge_into<Kernel>(e.weights, e.multiplier, base_.layout(), w);
      }
      e.merged = true;
      e.backup = std::move(backup);
      e.merge_order = ++merge_count_;
    });
  }

  /// Takes the merged adapter called `name` back out of the base weights (see merge()).
  /// Merges come out in reverse order: undoing an earlier one while a later one is still merged
  /// is refused (a backup would drop the later one).
  /// @throws lorakit::Error (Errc::bad_config) for an unknown or unmerged adapter, or one merged
  ///   before another that is still merged.
  void unmerge(std::string_view name) requires(MergeableBase<Base>&& kMergeable) {
    change_merge(name, [&](const std::vector<Attachment>& list, Attachment& e, MatrixView w) {
      check_unmerge(e, merged_after(list, e));
      if constexpr (kMergeNeedsBackup) {
        LORAKIT_ASSERT(e.backup != nullptr);
        w = *e.backup;  // nothing allocates or throws
      } else {
        std::optional<kernels::MergeFactors> factors;
        if (!e.backup) {
          const auto [a, b] = merge_factors(e);
          factors.emplace(base_.layout(), a, b);
        }
        // Nothing below allocates or throws.
        if (e.backup) {
          w = *e.backup;
        } else {
          factors->template apply<Kernel>(w, -e.multiplier);
        }
      }
      e.merged = false;
      e.backup.reset();
    });
  }

  /// Forgets the merged adapter called `name` (PEFT's merge_and_unload): its delta stays in the
  /// base weights for good and the layer drops the attachment, its backup and its owner, so the
  /// adapter's memory can be freed. Adapters merged before it lose their backups too (restoring
  /// one would also take this delta out): their unmerge() subtracts their product instead. For
  /// a variant whose merge needs its backup (DoRA), unloading is refused while an adapter merged
  /// before it is still merged.
  /// @throws lorakit::Error (Errc::bad_config) for an unknown or unmerged adapter.
  void unload(std::string_view name) {
    publish([&](const std::vector<Attachment>& current) {
      const Attachment* target = nullptr;
      for (const Attachment& a : current) {
        if (a.name == name) target = &a;
      }
      if (target == nullptr) throw unknown(name);
      if (!target->merged) {
        throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                    "adapter '" + target->name + "' is not merged; merge it before unloading it");
      }
      if constexpr (kMergeNeedsBackup) {
        // An adapter merged earlier could only come out through its backup, which this
        // unload would invalidate.
        for (const Attachment& a : current) {
          if (a.merged && a.merge_order < target->merge_order) {
            throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                        "adapter '" + target->name + "' was merged after '" + a.name +
                            "', which could not be unmerged once it is unloaded; unload '" +
                            a.name + "' first");
          }
        }
      }
      auto next = std::make_unique<std::vector<Attachment>>();
      for (const Attachment& a : current) {
        if (&a == target) continue;
        next->push_back(a);
        if (a.merged && a.merge_order < target->merge_order) next->back().backup.reset();
      }
      return next;
    });
  }

  /// Whether unmerge(name) would succeed; throws what it would throw, changing nothing.
  void check_unmerge(std::string_view name) const {
    clock().inspect([&] {
      const std::vector<Attachment>& list = *state_.load()->list;
      const Attachment* target = nullptr;
      for (const Attachment& a : list) {
        if (a.name == name) target = &a;
      }
      if (target == nullptr) throw unknown(name);
      check_unmerge(*target, merged_after(list, *target));
    });
  }

  /// Binds this layer to a model's clock (Model::add does): its generations and model-wide
  /// switch then apply to this layer, and Passes of that model pin it. nullptr gives the layer
  /// its own clock back. No forward() may run on the layer meanwhile. The clock must outlive
  /// the binding.
  void bind_clock(detail::StateClock* model_clock) {
    detail::StateClock& target = model_clock != nullptr ? *model_clock : own_clock_;
    detail::RetireList garbage;
    detail::StateClock::Batch batch(target, garbage);
    const LayerState& cur = *state_.load();
    // The older states carry the other clock's generations: none is reachable from here on.
    publish_in(batch, cur.list, cur.enabled, nullptr);
    clock_.store(&target);
  }

  /// The clock this layer's states follow (its own, or its model's).
  [[nodiscard]] detail::StateClock& clock() const noexcept { return *clock_.load(); }

  /// A copy of the current attachments (allocates; not for the hot path).
  [[nodiscard]] std::vector<Attachment> attachments() const {
    return clock().inspect([this] { return *state_.load()->list; });
  }

  /// y:(n,out) = base(x:(n,in)) + sum_k s_k * delta_k(x) over the layer's current set. Never
  /// allocates, locks or throws. A workspace shorter than workspace_floats(1) (unsized, or sized
  /// for another layer) is not written past its end: the variant falls back to a small stack
  /// buffer (slower, same result). @pre x.cols() == in_features(), y has x.rows() rows and
  /// out_features() columns
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws) const noexcept {
    forward(x, y, ws, Selection::current());
  }

  /// forward() computing the adapters `selection` names, at its scales (see Selection).
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws,
               const Selection& selection) const noexcept {
    check_shapes(x, y);
    if constexpr (kScalesInput) {
      if (!may_apply()) return base_.forward(x, y);
      const detail::ReadSection section;
      const detail::ModelState& model = *clock().current();
      const LayerState* state = model.enabled ? &state_at(model.generation) : nullptr;
      return base_on_scaled_input(x, y, ws, state, [&](const Attachment& a) noexcept {
        return multiplier_for(selection, a);
      });
    }
    base_.forward(x, y);
    if (!may_apply()) return;
    const detail::ReadSection section;
    const detail::ModelState& model = *clock().current();
    if (model.enabled) apply_selection(state_at(model.generation), selection, x, y, ws);
  }

  /// forward() in the state `pass` pinned, with the pass's selection: every layer of the
  /// model given the same pass computes the same generation. @pre `pass` is alive
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws, const Pass& pass) const noexcept {
    check_shapes(x, y);
    if constexpr (kScalesInput) {
      if (pass.clock() != &clock()) {
        return scaled_input_now(x, y, ws,
                                [&](Index) -> const Selection& { return pass.selection(); });
      }
      const LayerState* state = pass.enabled() ? &state_at(pass.generation()) : nullptr;
      return base_on_scaled_input(x, y, ws, state, [&](const Attachment& a) noexcept {
        return multiplier_for(pass.selection(), a);
      });
    }
    base_.forward(x, y);
    if (pass.clock() != &clock()) {
      adapters_now(x, y, ws, [&](Index) -> const Selection& { return pass.selection(); });
      return;
    }
    if (pass.enabled()) apply_selection(state_at(pass.generation()), pass.selection(), x, y, ws);
  }

  /// Mixed batch: row i computes the adapters row_selection[i] names. Consecutive rows with
  /// equal selections form a run and each run goes through the kernels once, so hosts that
  /// order rows by selection get the longest runs. Never allocates, locks or throws.
  /// @pre as forward(x, y, ws), and row_selection.size() == x.rows()
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws,
               std::span<const Selection> row_selection) const noexcept {
    LORAKIT_ASSERT(static_cast<Index>(row_selection.size()) == x.rows());
    check_shapes(x, y);
    auto row = [&](Index i) -> const Selection& {
      return row_selection[static_cast<std::size_t>(i)];
    };
    if constexpr (kScalesInput) return scaled_input_now(x, y, ws, row);
    base_.forward(x, y);
    adapters_now(x, y, ws, row);
  }

  /// The mixed batch in the state `pass` pinned (the pass's own selection is not used).
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws, const Pass& pass,
               std::span<const Selection> row_selection) const noexcept {
    LORAKIT_ASSERT(static_cast<Index>(row_selection.size()) == x.rows());
    check_shapes(x, y);
    auto row = [&](Index i) -> const Selection& {
      return row_selection[static_cast<std::size_t>(i)];
    };
    if constexpr (kScalesInput) {
      if (pass.clock() != &clock()) return scaled_input_now(x, y, ws, row);
      return scaled_input_runs(x, y, ws, pass.enabled() ? &state_at(pass.generation()) : nullptr,
                               row);
    }
    base_.forward(x, y);
    if (pass.clock() != &clock()) {
      adapters_now(x, y, ws, row);
    } else if (pass.enabled()) {
      apply_runs(state_at(pass.generation()), x, y, ws, row);
    }
  }

  /// Mixed batch by id: row i takes only the adapter whose id is row_adapter[i], at its user
  /// scale, when it is active (kNoAdapter, or an id not attached or not active here: the base
  /// alone). Runs as for per-row selections.
  /// @pre as forward(x, y, ws), and row_adapter.size() == x.rows()
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws,
               std::span<const AdapterId> row_adapter) const noexcept {
    LORAKIT_ASSERT(static_cast<Index>(row_adapter.size()) == x.rows());
    check_shapes(x, y);
    if constexpr (kScalesInput) {
      if (!may_apply()) return base_.forward(x, y);
      const detail::ReadSection section;
      const detail::ModelState& model = *clock().current();
      const LayerState* state = model.enabled ? &state_at(model.generation) : nullptr;
      const Index n = x.rows();
      for (Index i = 0; i < n;) {
        const AdapterId id = row_adapter[static_cast<std::size_t>(i)];
        Index j = i + 1;
        while (j < n && row_adapter[static_cast<std::size_t>(j)] == id) ++j;
        base_on_scaled_input(row_range(x, i, j - i), row_range(y, i, j - i), ws, state,
                             [&](const Attachment& a) noexcept {
                               return id != kNoAdapter && a.id == id && a.live() ? a.multiplier
                                                                                 : 0.0f;
                             });
        i = j;
      }
      return;
    }
    base_.forward(x, y);
    if (!may_apply()) return;
    const detail::ReadSection section;
    const detail::ModelState& model = *clock().current();
    if (!model.enabled) return;
    const LayerState& state = state_at(model.generation);
    if (!state.enabled) return;
    const Index n = x.rows();
    for (Index i = 0; i < n;) {
      const AdapterId id = row_adapter[static_cast<std::size_t>(i)];
      Index j = i + 1;
      while (j < n && row_adapter[static_cast<std::size_t>(j)] == id) ++j;
      if (id != kNoAdapter) {
        for (const Attachment& a : *state.list) {
          if (a.id == id && a.live()) {
            Variant::apply(a.weights, a.multiplier, row_range(x, i, j - i), row_range(y, i, j - i),
                           ws, Kernel{});
            break;
          }
        }
      }
      i = j;
    }
  }

 private:
  // One immutable state of the layer: its switch and attachments, tagged with the generation
  // of its clock that published it. `older` is the state it replaced (while a reader at an
  // older generation may need it; never followed once no such reader can exist).
  struct LayerState final : detail::Retired {
    std::uint64_t generation = 0;
    bool enabled = true;
    std::size_t live = 0;  // attachments the current set computes
    std::shared_ptr<const std::vector<Attachment>> list;
    const LayerState* older = nullptr;

    // The `older` of a state tagged `g` that replaces this one.
    [[nodiscard]] const LayerState* older_for(std::uint64_t g) const noexcept {
      return generation == g ? older : this;
    }
  };

  static const LayerState* initial_state() {
    auto s = std::make_unique<LayerState>();
    s->list = std::make_shared<const std::vector<Attachment>>();
    return s.release();
  }

  static void check_shapes([[maybe_unused]] ConstMatrixView x,
                           [[maybe_unused]] MatrixView y) noexcept {
    LORAKIT_ASSERT(y.rows() == x.rows());
  }

  // The state a reader at generation g uses: the newest tagged <= g.
  [[nodiscard]] const LayerState& state_at(std::uint64_t g) const noexcept {
    const LayerState* s = state_.load();
    while (s->generation > g && s->older != nullptr) s = s->older;
    return *s;
  }

  // Relaxed hints: false means no adapter can apply now (layer or model off, nothing attached).
  [[nodiscard]] bool may_apply() const noexcept {
    return hint_.load(std::memory_order_relaxed) && clock().enabled_hint();
  }

  // y += the adapters `selection` names under `state`, in attachment order.
  void apply_selection(const LayerState& state, const Selection& selection, ConstMatrixView x,
                       MatrixView y, Workspace& ws) const noexcept {
    if (!state.enabled) return;
    if (!selection.is_explicit()) {
      if (state.live == 0) return;
      for (const Attachment& a : *state.list) {
        if (a.live()) Variant::apply(a.weights, a.multiplier, x, y, ws, Kernel{});
      }
      return;
    }
    for (const Attachment& a : *state.list) {
      const float m = multiplier_for(selection, a);
      if (m != 0.0f) Variant::apply(a.weights, m, x, y, ws, Kernel{});
    }
  }

  // f(slot, view) for every slot of w: the variant's fixed slots, or those of the alternative
  // a run-time choice (OneOf) holds.
  template <class F>
  static void for_each_slot(const Weights& w, F&& f) {
    if constexpr (requires { Variant::for_each_slot(w, f); }) {
      Variant::for_each_slot(w, f);
    } else {
      for (std::size_t i = 0; i < Variant::slots.size(); ++i)
        f(Variant::slots[i], Variant::slot(w, i));
    }
  }

  // Whether the adapter w scales the input (every adapter of a kScalesInput variant, or the
  // alternatives of a run-time choice that do).
  [[nodiscard]] static bool scales_input_of(const Weights& w) noexcept {
    if constexpr (requires { Variant::scales_input_of(w); }) {
      return Variant::scales_input_of(w);
    } else {
      return kScalesInput;
    }
  }

  // The multiplier `selection` gives attachment `a` (0: not computed).
  [[nodiscard]] static float multiplier_for(const Selection& selection,
                                            const Attachment& a) noexcept {
    if (!selection.is_explicit()) return a.live() ? a.multiplier : 0.0f;
    if (a.merged || a.id == kNoAdapter) return 0.0f;
    const float* scale = selection.scale_of(a.id);
    return scale == nullptr ? 0.0f : *scale * a.variant_scale;
  }

  // For a variant that scales the input: y = base(x (.) f), f the product of the factors of
  // the input-scaling adapters `multiplier` gives a non-zero multiplier under `state` (nullptr:
  // none), in attachment order; then the other adapters, in attachment order, on x itself.
  // With no input scaling, exactly base(x). The scaled rows go through the workspace in
  // blocks; a workspace shorter than one row takes the layer's own one-row buffer, one caller
  // at a time (correct, slower).
  template <class Multiplier>
  void base_on_scaled_input(ConstMatrixView x, MatrixView y, Workspace& ws, const LayerState* state,
                            Multiplier&& multiplier) const noexcept {
    const bool on = state != nullptr && state->enabled;
    bool any = false;
    if (on) {
      for (const Attachment& a : *state->list) {
        any = any || (multiplier(a) != 0.0f && scales_input_of(a.weights));
      }
    }
    base_on_scaled_copy(x, y, ws, state, multiplier, any);
    if (!on) return;
    // The adapters that add to (or rescale) the output, on the unscaled input.
    for (const Attachment& a : *state->list) {
      const float m = multiplier(a);
      if (m != 0.0f && !scales_input_of(a.weights))
        Variant::apply(a.weights, m, x, y, ws, Kernel{});
    }
  }

  // y = base(x), or base(x (.) f) when `any` adapter scales the input.
  template <class Multiplier>
  void base_on_scaled_copy(ConstMatrixView x, MatrixView y, Workspace& ws, const LayerState* state,
                           Multiplier& multiplier, bool any) const noexcept {
    if (!any) return base_.forward(x, y);
    const Index in = x.cols();
    const Index n = x.rows();
    auto scaled = [&](Index i0, MatrixView xs) noexcept {
      for (Index i = 0; i < xs.rows(); ++i) {
        const float* src = x.data() + (i0 + i) * x.outerStride();
        std::copy(src, src + in, xs.data() + i * xs.outerStride());
      }
      for (const Attachment& a : *state->list) {
        const float m = multiplier(a);
        if (m != 0.0f && scales_input_of(a.weights)) Variant::scale_input(a.weights, m, xs);
      }
      base_.forward(make_cview(xs), row_range(y, i0, xs.rows()));
    };
    if (in == 0) return base_.forward(x, y);
    if (ws.capacity() >= in) {
      const Index block = ws.capacity() / in;
      for (Index i0 = 0; i0 < n; i0 += block) scaled(i0, ws.scratch(std::min(block, n - i0), in));
      return;
    }
    while (fallback_busy_.test_and_set(std::memory_order_acquire)) {
      // Another caller with a short workspace holds the buffer for one row.
    }
    for (Index i0 = 0; i0 < n; ++i0) scaled(i0, make_view(fallback_row_.get(), 1, in, in));
    fallback_busy_.clear(std::memory_order_release);
  }

  // Runs of rows with equal selections through base_on_scaled_input under `state`.
  template <class RowSelection>
  void scaled_input_runs(ConstMatrixView x, MatrixView y, Workspace& ws, const LayerState* state,
                         RowSelection&& row) const noexcept {
    const Index n = x.rows();
    for (Index i = 0; i < n;) {
      const Selection& s = row(i);
      Index j = i + 1;
      while (j < n && row(j) == s) ++j;
      base_on_scaled_input(row_range(x, i, j - i), row_range(y, i, j - i), ws, state,
                           [&](const Attachment& a) noexcept { return multiplier_for(s, a); });
      i = j;
    }
  }

  // scaled_input_runs on the current state (a read section of its own).
  template <class RowSelection>
  void scaled_input_now(ConstMatrixView x, MatrixView y, Workspace& ws,
                        RowSelection&& row) const noexcept {
    if (!may_apply()) return base_.forward(x, y);
    const detail::ReadSection section;
    const detail::ModelState& model = *clock().current();
    scaled_input_runs(x, y, ws, model.enabled ? &state_at(model.generation) : nullptr, row);
  }

  // Runs of rows with equal selections, each applied once under `state`.
  template <class RowSelection>
  void apply_runs(const LayerState& state, ConstMatrixView x, MatrixView y, Workspace& ws,
                  RowSelection&& row) const noexcept {
    if (!state.enabled) return;
    const Index n = x.rows();
    for (Index i = 0; i < n;) {
      const Selection& s = row(i);
      Index j = i + 1;
      while (j < n && row(j) == s) ++j;
      apply_selection(state, s, row_range(x, i, j - i), row_range(y, i, j - i), ws);
      i = j;
    }
  }

  // apply_runs on the current state (a read section of its own).
  template <class RowSelection>
  void adapters_now(ConstMatrixView x, MatrixView y, Workspace& ws,
                    RowSelection&& row) const noexcept {
    if (!may_apply()) return;
    const detail::ReadSection section;
    const detail::ModelState& model = *clock().current();
    if (model.enabled) apply_runs(state_at(model.generation), x, y, ws, row);
  }

  // Replaces the attachment list with make_next(current) in one writer step of the clock.
  // Readers keep the old list until the step ends; it is freed after calls in flight (once
  // the caller's outermost step has released its locks). If make_next throws, nothing changes.
  template <class MakeNext>
  void publish(MakeNext&& make_next) {
    detail::RetireList garbage;
    detail::StateClock::Batch batch(clock(), garbage);
    const LayerState& cur = *state_.load();
    std::shared_ptr<const std::vector<Attachment>> next = make_next(*cur.list);
    publish_in(batch, std::move(next), cur.enabled, cur.older_for(batch.generation()));
  }

  // Publishes a state with this list and switch, tagged with the batch's generation.
  void publish_in(detail::StateClock::Batch& batch,
                  std::shared_ptr<const std::vector<Attachment>> list, bool enabled,
                  const LayerState* older, bool light = false) {
    auto next = std::make_unique<LayerState>();
    batch.retired().reserve(1);
    next->generation = batch.generation();
    next->enabled = enabled;
    next->older = older;
    bool any = false;
    for (const Attachment& a : *list) {
      next->live += a.live() ? 1u : 0u;
      any = any || !a.merged;
    }
    next->list = std::move(list);
    const LayerState* old = state_.load();
    hint_.store(enabled && any, std::memory_order_relaxed);
    enabled_.store(enabled, std::memory_order_relaxed);
    state_.store(next.release());
    batch.changed();
    // A state tagged with this batch's generation was never visible to a reader at an older
    // one, and its `older` was carried over: it is retired like any other.
    std::unique_ptr<const detail::Retired> retired(old);
    if (light) {
      batch.retire_light(std::move(retired));
    } else {
      batch.retired().retire(std::move(retired));
    }
  }

  // Publishes a copy of the list with f applied to the attachment called `name`.
  template <class F>
  void modify(std::string_view name, F&& f) {
    modify_list(name, [&](std::vector<Attachment>&, Attachment& a) { f(a); });
  }

  // As modify(), with f(next_list, attachment).
  template <class F>
  void modify_list(std::string_view name, F&& f) {
    publish([&](const std::vector<Attachment>& current) {
      auto next = std::make_unique<std::vector<Attachment>>(current);
      Attachment* target = nullptr;
      for (Attachment& a : *next) {
        if (a.name == name) target = &a;
      }
      if (target == nullptr) throw unknown(name);
      f(*next, *target);
      return next;
    });
  }

  // Applies f(list, attachment, W) to the attachment called `name` of a copy of the list
  // inside one writer step (under the clock's writer lock); the copy is then published.
  template <class F>
  void change_merge(std::string_view name, F&& f) {
    modify_list(name, [&](std::vector<Attachment>& next, Attachment& e) {
      f(static_cast<const std::vector<Attachment>&>(next), e, base_.weight());
      // What a variant derived from W (DoRA's norms) follows W's change for the adapters
      // still computed by forward().
      for (Attachment& a : next) {
        if (!a.merged) prepare(a);
      }
    });
  }

  // The name of an adapter of `list` merged after `e` and still merged, or "".
  [[nodiscard]] static std::string merged_after(const std::vector<Attachment>& list,
                                                const Attachment& e) {
    std::string later;
    for (const Attachment& a : list) {
      if (a.merged && a.merge_order > e.merge_order) later = a.name;
    }
    return later;
  }

  void check_unmerge(const Attachment& e, const std::string& later) const {
    if (!e.merged) {
      throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                  "adapter '" + e.name + "' is not merged");
    }
    if (!later.empty()) {
      throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                  "adapter '" + e.name + "' was merged before '" + later + "'; unmerge '" + later +
                      "' first");
    }
  }

  [[nodiscard]] Error unknown(std::string_view name) const {
    return Error(Errc::bad_config, ErrorContext{.module = options_.module},
                 "no adapter '" + std::string(name) + "' is attached to this layer");
  }

  void require_unmerged(const Attachment& a, const char* what) const {
    if (a.merged) {
      throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                  "adapter '" + a.name + "' is merged into the base weights; unmerge it before " +
                      "you " + what + " it");
    }
  }

  // Lets the variant derive what forward needs from the weights, the multiplier and the base
  // (DoRA's gains); the attachment keeps it alive. May throw (before anything is published).
  void prepare(Attachment& a) const {
    if constexpr (requires {
                    Variant::prepare(a.weights, a.multiplier, base_, options_.module, a.name);
                  }) {
      auto p = Variant::prepare(a.weights, a.multiplier, base_, options_.module, a.name);
      a.weights = p.weights;
      a.prepared = std::move(p.storage);
    }
  }

  // The two factors whose product merge folds into W (A:(in,r), B:(r,out) for LoRA).
  static std::pair<StoredView, StoredView> merge_factors(const Attachment& a) noexcept {
    return {Variant::slot(a.weights, 0), Variant::slot(a.weights, 1)};
  }

  Base base_;
  Options options_;
  std::uint64_t merge_count_ = 0;  // orders merges (written under the clock's writer lock)
  mutable detail::StateClock own_clock_;
  std::atomic<detail::StateClock*> clock_{&own_clock_};
  std::atomic<const LayerState*> state_;
  std::atomic<bool> hint_{false};    // some unmerged attachment and the switch on
  std::atomic<bool> enabled_{true};  // the switch of the newest state
  // A variant that scales the input: one row of scaled input for callers whose workspace is
  // shorter than a row, and who holds it.
  std::unique_ptr<float[]> fallback_row_;
  mutable std::atomic_flag fallback_busy_ = ATOMIC_FLAG_INIT;
};

}  // namespace lorakit
