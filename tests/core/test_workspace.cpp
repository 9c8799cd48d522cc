// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Tests of Workspace: sizing, alignment, scratch views.
#include <catch2/catch.hpp>
#include <cstdint>

#include "lorakit/core/workspace.hpp"

TEST_CASE("Workspace: reserve grows the buffer, never shrinks it, and keeps it aligned",
          "[core][workspace]") {
  lorakit::Workspace ws;
  CHECK(ws.capacity() == 0);
  ws.reserve(10);
  CHECK(ws.capacity() == 10);
  ws.reserve(4);
  CHECK(ws.capacity() == 10);
  ws.reserve(1000);
  CHECK(ws.capacity() == 1000);
  const auto t = ws.scratch(7, 3);
  CHECK(t.rows() == 7);
  CHECK(t.cols() == 3);
  CHECK(t.outerStride() == 3);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % lorakit::Workspace::kAlignment == 0);
}

TEST_CASE("Workspace: scratch views reuse the same memory", "[core][workspace]") {
  lorakit::Workspace ws(64);
  auto a = ws.scratch(8, 8);
  a.setConstant(3.0f);
  const auto b = ws.scratch(4, 16);
  CHECK(b.data() == a.data());
  CHECK(b(3, 15) == 3.0f);
}
