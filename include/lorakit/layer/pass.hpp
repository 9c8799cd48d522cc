// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Pass: one adapter state held across every layer call of a forward pass.
#pragma once

#include <cstdint>

#include "lorakit/core/selection.hpp"
#include "lorakit/detail/read_domain.hpp"
#include "lorakit/detail/state_clock.hpp"

namespace lorakit {

/// A pin on one generation of a model's adapter state (Model::pass): every layer call given
/// the pass uses the attachments, scales and switches of that generation, whatever writers
/// publish meanwhile, with the pass's selection. Beginning a pass costs one announcement in a
/// cache line of the calling thread (no lock, no allocation, no shared read-modify-write);
/// layer calls given the pass add nothing. Writers' replaced weights stay alive until every
/// pass that could see them has ended, so a pass is meant to last one forward pass, not a
/// session.
///
/// The pass may be read by any thread (a host that spreads layers over a pool passes it to
/// its workers) but must begin and end on the same thread, and outlive the calls given it.
/// Layer calls inside a pass can run on the layers of that pass's model only; a layer of
/// another model (or of none) uses its own current state with the pass's selection.
class Pass {
 public:
  Pass(const detail::StateClock& clock, const Selection& selection) noexcept
      : clock_(&clock), selection_(selection) {
    detail::ReadDomain::instance().enter();
    state_ = clock.current();
  }
  ~Pass() { detail::ReadDomain::instance().leave(); }
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  /// The generation pinned: equal generations saw equal adapter states.
  [[nodiscard]] std::uint64_t generation() const noexcept { return state_->generation; }
  /// Whether the model-wide switch was on in that generation.
  [[nodiscard]] bool enabled() const noexcept { return state_->enabled; }
  /// What the adapters add to the output of this pass (see Model::identity): a key for a KV
  /// or prompt cache that matches what this pass computes.
  [[nodiscard]] std::uint64_t identity() const noexcept { return state_->identity(selection_); }
  [[nodiscard]] const Selection& selection() const noexcept { return selection_; }

  /// The pinned state (for layers). @pre the pass is alive
  [[nodiscard]] const detail::ModelState& state() const noexcept { return *state_; }
  [[nodiscard]] const detail::StateClock* clock() const noexcept { return clock_; }

 private:
  const detail::StateClock* clock_;
  const detail::ModelState* state_ = nullptr;
  Selection selection_;
};

}  // namespace lorakit
