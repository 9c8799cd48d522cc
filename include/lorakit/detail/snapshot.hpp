// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// SnapshotCell<T>: an immutable value readers use without locks while writers replace it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace lorakit::detail {

/// Holds one immutable T. Readers see it through read(f) with a few atomic operations and never
/// wait for a writer; a writer publishes a replacement and frees the old value only after every
/// reader that could hold it has left (a two-counter grace period).
///
/// Reader: read the epoch e, count itself in counter[e % 2], re-read the epoch (on a change,
/// uncount and retry: the writer may have missed it), then load the value. Writer: swap in the
/// new value, advance the epoch, wait until counter[e % 2] drains, free the old value. A reader
/// counted under the new epoch loaded the value after the swap, so it can only hold the new one.
/// All operations on the epoch, the counters and the pointer are sequentially consistent.
template <class T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::unique_ptr<const T> initial) : current_(initial.release()) {}
  SnapshotCell(const SnapshotCell&) = delete;
  SnapshotCell& operator=(const SnapshotCell&) = delete;
  ~SnapshotCell() { delete current_.load(); }

  /// Calls f(const T&) with the current value, which stays alive until f returns.
  template <class F>
  decltype(auto) read(F&& f) const noexcept {
    for (;;) {
      const std::uint64_t e = epoch_.load();
      std::atomic<std::int64_t>& counter = readers_[e & 1u];
      counter.fetch_add(1);
      if (epoch_.load() != e) {
        counter.fetch_sub(1);
        continue;
      }
      struct Leave {
        std::atomic<std::int64_t>& c;
        ~Leave() { c.fetch_sub(1); }
      } leave{counter};
      return std::forward<F>(f)(*current_.load());
    }
  }

  /// Replaces the value with next(current) computed under the writer lock, then reclaims the old
  /// value. Blocks only other writers, and waits only for readers already inside read().
  /// If next throws, nothing changes.
  template <class Next>
  void update(Next&& next) {
    std::lock_guard<std::mutex> lock(writer_);
    std::unique_ptr<const T> replacement = std::forward<Next>(next)(*current_.load());
    const T* old = current_.exchange(replacement.release());
    const std::uint64_t e = epoch_.load();
    epoch_.store(e + 1);
    while (readers_[e & 1u].load() != 0) std::this_thread::yield();
    delete old;
  }

  /// Calls f(const T&) with the current value under the writer lock: for queries outside the
  /// hot path (it may wait for a writer).
  template <class F>
  decltype(auto) inspect(F&& f) const {
    std::lock_guard<std::mutex> lock(writer_);
    return std::forward<F>(f)(*current_.load());
  }

 private:
  std::atomic<const T*> current_;
  std::atomic<std::uint64_t> epoch_{0};
  mutable std::array<std::atomic<std::int64_t>, 2> readers_{};
  mutable std::mutex writer_;
};

}  // namespace lorakit::detail
