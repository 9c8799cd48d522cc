// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Selection: which attached adapters one forward call (or one row) computes, at which scales.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "lorakit/error.hpp"

namespace lorakit {

/// A small number naming one attached adapter in per-call and per-row forward calls (see
/// Model::attach).
using AdapterId = std::uint32_t;
/// The AdapterId of rows that take no adapter.
inline constexpr AdapterId kNoAdapter = std::numeric_limits<AdapterId>::max();

/// Which adapters a forward call computes: either the layer's current set (every active
/// adapter at its user scale, as set_active / set_scale leave it: `Selection::current()`, the
/// default), or an explicit list of up to kMaxAdapters (adapter id, user scale) pairs that
/// replaces it for that call only (an empty list: the base alone, `Selection::base()`).
///
/// A plain value: copied, compared and read without locks or allocation, so a host keeps one
/// per request or per row. Build it with Model::select, which checks the names, scales and
/// count off the hot path; forward() trusts it. An explicit list ignores set_active and
/// set_scale (it names its adapters and scales itself); the layer's and the model's
/// set_enabled(false) still turn every adapter off, and merged adapters stay in the base
/// weights whatever the selection. An id no longer attached to a layer (detached since the
/// selection was built) adds nothing there: Model::check(selection) tells a host it is stale.
class Selection {
 public:
  static constexpr std::size_t kMaxAdapters = 4;

  struct Entry {
    AdapterId id = kNoAdapter;
    float scale = 0.0f;  ///< the user scale, on top of the adapter's alpha / r
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  /// The layer's current set (the default).
  constexpr Selection() noexcept = default;
  [[nodiscard]] static constexpr Selection current() noexcept { return Selection(); }
  /// No adapter: the base output (plus any merged adapter, which is part of the base weights).
  [[nodiscard]] static constexpr Selection base() noexcept {
    Selection s;
    s.explicit_ = true;
    return s;
  }

  /// An explicit list (for layers used without a Model; Model::select builds one by name).
  /// @throws lorakit::Error (Errc::bad_config) for more than kMaxAdapters entries, kNoAdapter,
  ///   an id listed twice or a non-finite scale.
  [[nodiscard]] static Selection of(std::span<const Entry> entries) {
    ProblemList problems;
    if (entries.size() > kMaxAdapters) {
      problems.add(Errc::bad_config, {},
                   "a selection lists " + std::to_string(entries.size()) + " adapters; at most " +
                       std::to_string(kMaxAdapters));
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string which = "selection entry " + std::to_string(i);
      if (entries[i].id == kNoAdapter)
        problems.add(Errc::bad_config, {}, which + ": no adapter id");
      if (!std::isfinite(entries[i].scale)) {
        problems.add(Errc::bad_config, {}, which + ": non-finite scale");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (entries[j].id == entries[i].id) {
          problems.add(Errc::bad_config, {},
                       which + ": adapter id " + std::to_string(entries[i].id) + " listed twice");
        }
      }
    }
    problems.throw_if_any();
    Selection s = base();
    for (const Entry& e : entries) s.entries_[s.count_++] = e;
    return s;
  }

  /// Whether this selection lists its adapters (false: the layer's current set).
  [[nodiscard]] constexpr bool is_explicit() const noexcept { return explicit_; }
  /// The listed (id, scale) pairs, in the order given.
  [[nodiscard]] std::span<const Entry> entries() const noexcept {
    return {entries_.data(), count_};
  }
  /// The user scale this selection gives adapter `id`, or nullptr when it does not list it.
  [[nodiscard]] const float* scale_of(AdapterId id) const noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      if (entries_[i].id == id) return &entries_[i].scale;
    }
    return nullptr;
  }

  friend bool operator==(const Selection& a, const Selection& b) noexcept {
    if (a.explicit_ != b.explicit_ || a.count_ != b.count_) return false;
    for (std::size_t i = 0; i < a.count_; ++i) {
      if (!(a.entries_[i] == b.entries_[i])) return false;
    }
    return true;
  }

 private:
  std::array<Entry, kMaxAdapters> entries_{};
  std::size_t count_ = 0;
  bool explicit_ = false;
};

}  // namespace lorakit
