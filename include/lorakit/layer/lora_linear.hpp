// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRALinear<Base, Variant, Kernel>: a host linear op plus the sum of its attached adapters.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/detail/snapshot.hpp"
#include "lorakit/error.hpp"
#include "lorakit/kernels/default.hpp"

namespace lorakit {

/// y = base(x) + sum over attached adapters k of s_k * delta_k(x), where s_k is the user scale
/// times Variant::scale(params_k).
///
/// - forward() never allocates, locks or throws; it needs a caller-owned Workspace of at least
///   workspace_floats(1) floats (more floats let it work on longer blocks of rows).
/// - set_enabled(false) makes forward() return exactly the base output, at the cost of one
///   relaxed atomic load and a branch. Attach, detach, set_scale and set_enabled are safe while
///   other threads run forward(): each forward() call sees the attachments from before or after
///   a change, never a mix.
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
 public:
  using base_type = Base;
  using variant_type = Variant;
  using kernel_type = Kernel;
  using Weights = typename Variant::Weights;
  using Params = typename Variant::Params;

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
    float scale = 0.0f;                 ///< user_scale * Variant::scale(params)
    std::shared_ptr<const void> owner;  ///< keeps the weights' memory alive
  };

  explicit LoRALinear(Base base, Options options = {})
      : base_(std::move(base)),
        options_(std::move(options)),
        attached_(std::make_unique<const std::vector<Attachment>>()) {}

  LoRALinear(const LoRALinear&) = delete;
  LoRALinear& operator=(const LoRALinear&) = delete;

  [[nodiscard]] Index in_features() const noexcept { return base_.in_features(); }
  [[nodiscard]] Index out_features() const noexcept { return base_.out_features(); }
  [[nodiscard]] const Base& base() const noexcept { return base_; }
  [[nodiscard]] const Options& options() const noexcept { return options_; }

  /// Floats of Workspace that forward() on max_rows rows uses without splitting the rows.
  [[nodiscard]] Index workspace_floats(Index max_rows) const noexcept {
    return std::max<Index>(max_rows, 1) * options_.max_rank;
  }

  /// Turns every adapter of this layer on or off. Off: forward() equals the base bit for bit.
  void set_enabled(bool on) noexcept { enabled_.store(on, std::memory_order_relaxed); }
  [[nodiscard]] bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }

  /// Attaches an adapter under `name` with a user scale, or replaces the one already attached
  /// under that name in one step. Validates every slot shape against this layer first and
  /// reports all problems in one error; on error the layer is unchanged.
  /// @throws lorakit::Error Errc::shape_mismatch (a slot's shape disagrees with in/out/rank),
  ///   Errc::bad_config (rank < 1, non-finite scale), Errc::limit_exceeded (rank > max_rank).
  void attach(std::string name, Weights weights, Params params, float user_scale = 1.0f,
              std::shared_ptr<const void> owner = {}) {
    validate(name, weights, params, user_scale);
    Attachment a{std::move(name),
                 std::move(weights),
                 params,
                 user_scale,
                 user_scale * Variant::scale(params),
                 std::move(owner)};
    publish([&a](const std::vector<Attachment>& current) {
      // Built by copy construction only: assigning an Eigen::Map copies elements, not views.
      auto next = std::make_unique<std::vector<Attachment>>();
      next->reserve(current.size() + 1);
      bool replaced = false;
      for (const Attachment& e : current) {
        replaced = replaced || e.name == a.name;
        next->push_back(e.name == a.name ? a : e);
      }
      if (!replaced) next->push_back(a);
      return next;
    });
  }

  /// Detaches the adapter called `name`. Returns false when none is attached under that name.
  bool detach(std::string_view name) {
    bool found = false;
    publish([&](const std::vector<Attachment>& current) {
      auto next = std::make_unique<std::vector<Attachment>>();
      for (const Attachment& a : current) {
        if (a.name == name) {
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
  /// @throws lorakit::Error (Errc::bad_config) for a non-finite scale or an unknown name.
  void set_scale(std::string_view name, float user_scale) {
    if (!std::isfinite(user_scale)) {
      throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                  "adapter '" + std::string(name) + "': non-finite user scale");
    }
    bool found = false;
    publish([&](const std::vector<Attachment>& current) {
      auto next = std::make_unique<std::vector<Attachment>>(current);
      for (Attachment& a : *next) {
        if (a.name == name) {
          a.user_scale = user_scale;
          a.scale = user_scale * Variant::scale(a.params);
          found = true;
        }
      }
      if (!found) {
        throw Error(Errc::bad_config, ErrorContext{.module = options_.module},
                    "no adapter '" + std::string(name) + "' is attached to this layer");
      }
      return next;
    });
  }

  /// A copy of the current attachments (allocates; not for the hot path).
  [[nodiscard]] std::vector<Attachment> attachments() const {
    return attached_.inspect([](const std::vector<Attachment>& list) { return list; });
  }

  /// y:(n,out) = base(x:(n,in)) + sum_k s_k * delta_k(x). Never allocates, locks or throws.
  /// @pre x.cols() == in_features(), y has x.rows() rows and out_features() columns,
  ///      ws.capacity() >= workspace_floats(1)
  void forward(ConstMatrixView x, MatrixView y, Workspace& ws) const noexcept {
    LORAKIT_ASSERT(x.cols() == in_features() && y.cols() == out_features() && y.rows() == x.rows());
    base_.forward(x, y);
    if (!enabled_.load(std::memory_order_relaxed) ||
        attached_count_.load(std::memory_order_relaxed) == 0) {
      return;
    }
    LORAKIT_ASSERT(ws.capacity() >= options_.max_rank);
    attached_.read([&](const std::vector<Attachment>& list) noexcept {
      for (const Attachment& a : list) {
        if (a.scale != 0.0f) Variant::apply(a.weights, a.scale, x, y, ws, Kernel{});
      }
    });
  }

 private:
  // Replaces the attachment list with make_next(current) and publishes it to readers.
  template <class MakeNext>
  void publish(MakeNext&& make_next) {
    attached_.update([&](const std::vector<Attachment>& current) {
      std::unique_ptr<std::vector<Attachment>> next = make_next(current);
      attached_count_.store(next->size(), std::memory_order_relaxed);
      return std::unique_ptr<const std::vector<Attachment>>(std::move(next));
    });
  }

  void validate(const std::string& name, const Weights& w, const Params& p,
                float user_scale) const {
    ProblemList problems;
    const Index rank = static_cast<Index>(p.rank);
    const ErrorContext base_context{.module = options_.module};
    if (rank < 1) {
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
    for (std::size_t i = 0; i < Variant::slots.size(); ++i) {
      const Slot& slot = Variant::slots[i];
      const ConstMatrixView t = Variant::slot(w, i);
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
    }
    problems.throw_if_any();
  }

  Base base_;
  Options options_;
  std::atomic<bool> enabled_{true};
  std::atomic<std::size_t> attached_count_{0};  // a hint that lets forward() skip the snapshot
  detail::SnapshotCell<std::vector<Attachment>> attached_;
};

}  // namespace lorakit
