// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// StateClock: the generation of adapter state readers see, and the writer batches that advance it.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "lorakit/core/selection.hpp"
#include "lorakit/detail/hash.hpp"
#include "lorakit/detail/read_domain.hpp"

namespace lorakit::detail {

/// What a forward pass sees of a model, besides each layer's own attachments: one immutable
/// value per generation. Layer states are tagged with the generation that published them; a
/// reader at generation g uses, in every layer, the newest state tagged <= g.
struct ModelState final : Retired {
  struct AdapterFacts {
    AdapterId id = kNoAdapter;
    std::uint64_t content_hash = 0;
    float scale = 1.0f;  ///< the user scale
    bool active = true;
    bool merged = false;
  };

  std::uint64_t generation = 0;
  bool enabled = true;  ///< the model-wide switch
  /// Set when the facts below describe every adapter (false only after running out of memory
  /// while refreshing them: identities are then unique to the generation).
  bool complete = true;
  std::vector<AdapterFacts> adapters;
  std::uint64_t disabled_layers = 0;  ///< an order-independent hash of layers switched off

  /// What the adapters add to the output under `selection`: 0 when nothing, else a hash over
  /// the (content hash, user scale) of every adapter that counts (merged ones always; the
  /// selected ones while the switch is on) and of the layers switched off on their own.
  /// Order-independent; equal values mean the same weights at the same scales.
  [[nodiscard]] std::uint64_t identity(const Selection& selection) const noexcept {
    if (!complete) return Hasher().text("incomplete").u64(generation).digest();
    std::uint64_t sum = 0;
    std::uint64_t count = 0;
    auto add = [&](std::uint64_t hash, float scale) {
      sum += Hasher().u64(hash).u64(std::bit_cast<std::uint32_t>(scale)).digest();
      ++count;
    };
    bool selected = false;
    for (const AdapterFacts& a : adapters) {
      if (a.merged) {
        add(a.content_hash, a.scale);
        continue;
      }
      if (!enabled) continue;
      float scale = a.scale;
      if (selection.is_explicit()) {
        const float* s = selection.scale_of(a.id);
        if (s == nullptr) continue;
        scale = *s;
      } else if (!a.active) {
        continue;
      }
      if (scale == 0.0f) continue;
      add(a.content_hash, scale);
      selected = true;
    }
    if (count == 0) return 0;
    Hasher h;
    h.u64(sum).u64(count);
    if (selected && disabled_layers != 0) h.u64(disabled_layers);
    const std::uint64_t d = h.digest();
    return d == 0 ? 1 : d;
  }
};

/// The current ModelState of a model (or of one layer used without a model) and the writer
/// lock every change of it takes. Writers change things inside a Batch; when the outermost
/// batch ends, a new ModelState (generation + 1) is published if anything changed, and what the
/// batch unpublished is handed to the caller's RetireList, to be freed after a grace period
/// once the caller has released its own locks.
class StateClock {
 public:
  /// Fills the facts of a state about to be published (the owner's adapters and layers).
  /// Called with the clock's lock held; may throw (the state is then marked incomplete).
  using Refresh = void (*)(const void* owner, ModelState& next);

  /// Light values (see Batch::retire_light) wait for a grace period that a heavier change
  /// pays for anyway, up to this many: switches flip without waiting for readers.
  static constexpr std::size_t kLazy = 64;

  StateClock() : current_(new ModelState) { lazy_.reserve(kLazy); }
  StateClock(const StateClock&) = delete;
  StateClock& operator=(const StateClock&) = delete;
  ~StateClock() { delete current_.load(); }

  /// The state readers see now. @pre inside a read section (it stays valid until its end)
  [[nodiscard]] const ModelState* current() const noexcept { return current_.load(); }

  /// Calls f() under the writer lock (queries that must not see a writer half-way).
  template <class F>
  decltype(auto) inspect(F&& f) const {
    std::lock_guard<std::recursive_mutex> lock(writer_);
    return std::forward<F>(f)();
  }

  /// The model-wide switch as last published (relaxed): lets forward() return early when off.
  [[nodiscard]] bool enabled_hint() const noexcept {
    return enabled_hint_.load(std::memory_order_relaxed);
  }

  void set_refresh(Refresh refresh, const void* owner) noexcept {
    refresh_ = refresh;
    owner_ = owner;
  }

  /// One writer step: holds the clock's (recursive) lock; nested batches join the outermost.
  class Batch {
   public:
    Batch(StateClock& clock, RetireList& garbage) : clock_(clock), garbage_(garbage) {
      clock_.writer_.lock();
      if (clock_.depth_ == 0) {
        try {
          clock_.next_ = std::make_unique<ModelState>();
          // The state this batch replaces, and the light values that may join a release.
          clock_.retired_.reserve(1 + clock_.lazy_.size());
        } catch (...) {
          clock_.writer_.unlock();
          throw;
        }
        clock_.changed_ = false;
        clock_.switched_ = false;
        clock_.next_->enabled = clock_.current_.load()->enabled;
      }
      ++clock_.depth_;
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    ~Batch() {
      if (--clock_.depth_ == 0) clock_.finish(garbage_);
      clock_.writer_.unlock();
    }

    /// The generation the states published in this batch are tagged with.
    [[nodiscard]] std::uint64_t generation() const noexcept {
      return clock_.current_.load()->generation + 1;
    }
    /// Where states unpublished in this batch go (reserve room before publishing).
    [[nodiscard]] RetireList& retired() noexcept { return clock_.retired_; }
    /// Retires a value that holds no memory worth freeing promptly (a state that shares its
    /// attachment list with its replacement): it waits for the next batch that frees anything.
    /// @pre retired().reserve(1) made room (used when the lazy list is full)
    void retire_light(std::unique_ptr<const Retired> value) noexcept {
      clock_.retire_light(std::move(value));
    }
    /// Records that readers must see a new generation when the batch ends.
    void changed() noexcept { clock_.changed_ = true; }
    /// The model-wide switch as of the end of this batch.
    void set_enabled(bool on) noexcept {
      if (clock_.next_->enabled != on) clock_.switched_ = true;
      clock_.next_->enabled = on;
    }
    [[nodiscard]] bool enabled() const noexcept { return clock_.next_->enabled; }

   private:
    StateClock& clock_;
    RetireList& garbage_;
  };

 private:
  void finish(RetireList& garbage) noexcept {
    if (changed_ || switched_) {
      ModelState& next = *next_;
      const ModelState& cur = *current_.load();
      next.generation = cur.generation + 1;
      try {
        if (changed_ && refresh_ != nullptr) {
          refresh_(owner_, next);
        } else if (!changed_) {  // only the switch: the facts stay
          next.adapters = cur.adapters;
          next.disabled_layers = cur.disabled_layers;
          next.complete = cur.complete;
        }
      } catch (...) {
        next.adapters.clear();
        next.complete = false;
      }
      enabled_hint_.store(next.enabled, std::memory_order_relaxed);
      std::unique_ptr<const Retired> old(current_.exchange(next_.release()));
      retire_light(std::move(old));
    }
    next_.reset();
    if (!retired_.empty()) {
      // A grace period will be paid for: the light values ride along (room reserved).
      retired_.take_all(lazy_);
      garbage.take(retired_);
    }
  }

  void retire_light(std::unique_ptr<const Retired> value) noexcept {
    if (lazy_.size() < lazy_.capacity()) {
      lazy_.retire(std::move(value));
    } else {
      retired_.retire(std::move(value));
    }
  }

  std::atomic<const ModelState*> current_;
  std::atomic<bool> enabled_hint_{true};
  mutable std::recursive_mutex writer_;
  unsigned depth_ = 0;
  bool changed_ = false;   // layers or adapters changed: the facts are refreshed
  bool switched_ = false;  // the model-wide switch changed
  std::unique_ptr<ModelState> next_;
  RetireList retired_;
  RetireList lazy_;
  Refresh refresh_ = nullptr;
  const void* owner_ = nullptr;
};

}  // namespace lorakit::detail
