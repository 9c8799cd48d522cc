// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// ReadDomain: lock-free read sections and grace periods for values writers replace.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace lorakit::detail {

/// Something a writer took out of reach of new readers and frees after a grace period.
struct Retired {
  virtual ~Retired() = default;
};

/// The process-wide registry of read sections. A reader thread announces, in a cache line of
/// its own, the epoch at which it entered; a writer that has unpublished a value advances the
/// epoch and waits (synchronize) until no thread is still inside a section it entered before:
/// then nobody can hold the old value. Readers never write a line another reader writes, never
/// wait and never allocate; sections nest (only the outermost one announces itself).
///
/// Threads claim one of kSlots announcement slots on their first read (no allocation) and give
/// it back when they exit. Past kSlots live threads, further threads fall back to two shared
/// counters by epoch parity (correct, but they share a cache line).
///
/// Every announcement, epoch and published pointer is accessed sequentially consistently: a
/// reader that loaded a value before a writer unpublished it has its announcement (with an
/// older epoch) visible to the writer's scan, and a reader whose announcement the scan missed
/// loads the replacement.
class ReadDomain {
 public:
  static constexpr std::size_t kSlots = 256;

  static ReadDomain& instance() noexcept {
    static ReadDomain domain;
    return domain;
  }

  /// Enters a read section on this thread (nested sections are free).
  void enter() noexcept {
    Local& me = local();
    if (me.depth++ != 0) return;
    if (me.slot == kNone) me.slot = claim();
    if (me.slot != kOverflow) {
      slots_[me.slot].epoch.store(epoch_.load());
      return;
    }
    for (;;) {
      const std::uint64_t e = epoch_.load();
      overflow_[e & 1u].fetch_add(1);
      if (epoch_.load() == e) {
        me.overflow_parity = static_cast<unsigned>(e & 1u);
        return;
      }
      overflow_[e & 1u].fetch_sub(1);
    }
  }

  /// Leaves the read section entered last on this thread.
  void leave() noexcept {
    Local& me = local();
    if (--me.depth != 0) return;
    if (me.slot != kOverflow) {
      slots_[me.slot].epoch.store(0);
    } else {
      overflow_[me.overflow_parity].fetch_sub(1);
    }
  }

  /// Whether this thread is inside a read section (a Pass it holds, say).
  [[nodiscard]] bool reading() const noexcept { return local().depth != 0; }

  /// Waits until every read section entered before this call has ended. Writers call it after
  /// unpublishing values and before freeing them, holding no lock that readers or queries take.
  /// @pre !reading() (it would wait for itself)
  void synchronize() noexcept {
    std::lock_guard<std::mutex> lock(writer_);
    const std::uint64_t before = epoch_.fetch_add(1);
    const std::size_t used = used_.load();
    for (std::size_t i = 0; i < used; ++i) {
      const Slot& s = slots_[i];
      for (;;) {
        const std::uint64_t e = s.epoch.load();
        if (e == 0 || e > before) break;
        std::this_thread::yield();
      }
    }
    while (overflow_[before & 1u].load() != 0) std::this_thread::yield();
  }

 private:
  static constexpr std::size_t kNone = kSlots + 1;
  static constexpr std::size_t kOverflow = kSlots;

  struct alignas(64) Slot {
    std::atomic<std::uint64_t> epoch{0};  // 0: not reading; else the epoch at entry
    std::atomic<bool> claimed{false};
  };

  // A thread's slot and nesting depth; gives the slot back when the thread exits.
  struct Local {
    std::size_t slot = kNone;
    unsigned depth = 0;
    unsigned overflow_parity = 0;
    ~Local() {
      if (slot < kSlots) instance().slots_[slot].claimed.store(false);
    }
  };

  static Local& local() noexcept {
    thread_local Local l;
    return l;
  }

  std::size_t claim() noexcept {
    for (std::size_t i = 0; i < kSlots; ++i) {
      bool expected = false;
      if (!slots_[i].claimed.load(std::memory_order_relaxed) &&
          slots_[i].claimed.compare_exchange_strong(expected, true)) {
        // Writers scan slots below the high-water mark only.
        std::size_t used = used_.load();
        while (used < i + 1 && !used_.compare_exchange_weak(used, i + 1)) {
        }
        return i;
      }
    }
    return kOverflow;
  }

  ReadDomain() = default;

  std::atomic<std::uint64_t> epoch_{1};
  std::array<Slot, kSlots> slots_{};
  std::atomic<std::size_t> used_{0};  // one past the highest slot ever claimed
  alignas(64) std::array<std::atomic<std::int64_t>, 2> overflow_{};
  std::mutex writer_;
};

/// A read section for the lifetime of the guard.
class ReadSection {
 public:
  ReadSection() noexcept { ReadDomain::instance().enter(); }
  ~ReadSection() { ReadDomain::instance().leave(); }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;
};

/// Values a writer has unpublished, freed after one grace period: collected while the writer
/// holds its locks, freed by release() once it has let them go.
class RetireList {
 public:
  RetireList() = default;
  RetireList(const RetireList&) = delete;
  RetireList& operator=(const RetireList&) = delete;
  ~RetireList() { release(); }

  /// Room for `n` more values, so that retire() after a publish cannot fail.
  void reserve(std::size_t n) {
    const std::size_t need = items_.size() + n;
    if (need > items_.capacity()) items_.reserve(std::max(need, 2 * items_.capacity()));
  }

  /// Takes `value` (already unreachable for new readers). @pre reserve() made room
  void retire(std::unique_ptr<const Retired> value) noexcept {
    if (items_.size() < items_.capacity()) {
      items_.push_back(std::move(value));
    } else if (!ReadDomain::instance().reading()) {
      ReadDomain::instance().synchronize();  // no room: wait here rather than lose it
      value.reset();
    } else {
      (void)value.release();  // cannot wait inside a read section: leaked rather than unsafe
    }
  }

  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return items_.capacity(); }

  /// Moves everything `other` holds here. @pre this list is empty (else `other`'s values are
  /// freed at once, after a grace period)
  void take(RetireList& other) noexcept {
    if (items_.empty()) {
      items_.swap(other.items_);
    } else {
      other.release();
    }
  }

  /// Moves as many of `other`'s values here as there is room for (the rest stay there).
  void take_all(RetireList& other) noexcept {
    while (!other.items_.empty() && items_.size() < items_.capacity()) {
      items_.push_back(std::move(other.items_.back()));
      other.items_.pop_back();
    }
  }

  /// Waits one grace period and frees everything retired (nothing to wait for when empty).
  /// On a thread inside a read section (a writer called while it holds a Pass) it cannot wait
  /// for itself: the values are kept for the next release() that can.
  void release() noexcept {
    ReadDomain& domain = ReadDomain::instance();
    if (domain.reading()) {
      std::lock_guard<std::mutex> lock(deferred_mutex());
      try {
        std::vector<std::unique_ptr<const Retired>>& d = deferred();
        d.reserve(d.size() + items_.size());
        for (auto& v : items_) d.push_back(std::move(v));
        items_.clear();
      } catch (...) {
        for (auto& v : items_) (void)v.release();  // out of memory: leaked rather than unsafe
        items_.clear();
      }
      return;
    }
    std::vector<std::unique_ptr<const Retired>> earlier;
    {
      std::lock_guard<std::mutex> lock(deferred_mutex());
      earlier.swap(deferred());
    }
    if (items_.empty() && earlier.empty()) return;
    domain.synchronize();
    items_.clear();
  }

 private:
  static std::mutex& deferred_mutex() noexcept {
    static std::mutex m;
    return m;
  }
  static std::vector<std::unique_ptr<const Retired>>& deferred() noexcept {
    static std::vector<std::unique_ptr<const Retired>> d;
    return d;
  }

  std::vector<std::unique_ptr<const Retired>> items_;
};

}  // namespace lorakit::detail
