// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Two reader threads calling forward in a loop while this thread writes, every output compared
// bit for bit with the outputs of the states the writer passes through.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "lorakit/core/types.hpp"
#include "lorakit/core/workspace.hpp"

namespace lorakit::test {

/// What the readers saw: forward calls, and outputs equal to none of the valid ones.
struct ReaderCounts {
  long calls = 0;
  long bad = 0;
};

/// Runs write() on this thread while two threads call read(ws, y) in a loop, each with its own
/// Workspace of `workspace_floats` and its own y shaped as valid[0]. The readers stop once they
/// have made a few more calls after write() returned (so they see the final state too).
/// @pre valid is not empty
template <class Read, class Write>
ReaderCounts race_readers(const std::vector<RowMatrix>& valid, Index workspace_floats, Read read,
                          Write write) {
  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  std::atomic<long> calls{0};
  auto reader = [&] {
    Workspace ws(workspace_floats);
    RowMatrix y(valid.front().rows(), valid.front().cols());
    while (!done.load()) {
      read(ws, y);
      bool matched = false;
      for (const RowMatrix& v : valid) {
        matched = matched || std::memcmp(v.data(), y.data(),
                                         sizeof(float) * static_cast<std::size_t>(v.size())) == 0;
      }
      if (!matched) bad.fetch_add(1);
      calls.fetch_add(1);
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  write();
  const long seen = calls.load();
  while (calls.load() < seen + 4) std::this_thread::yield();
  done.store(true);
  r1.join();
  r2.join();
  return {calls.load(), bad.load()};
}

}  // namespace lorakit::test
