// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// forward() on reader threads while a writer attaches, detaches, rescales and toggles.
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

#include "concurrent_readers.hpp"
#include "lora_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DenseLinear;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {
using Layer = lorakit::LoRALinear<DenseLinear<const float>, LoRA>;
}

TEST_CASE("LoRALinear: concurrent forward sees one whole adapter set, never a mix",
          "[layer][concurrency]") {
  const Index n = 3;
  const Index in = 24;
  const Index out = 16;
  const RowMatrix w = random_matrix(out, in, 1);
  const RowMatrix x = random_matrix(n, in, 2);
  const auto p = make_lora(in, out, 4, 4.0f, 3);
  const auto q = make_lora(in, out, 8, 4.0f, 4);

  // Every configuration the writer below passes through, computed on private layers.
  std::vector<RowMatrix> valid;
  auto expect = [&](auto configure) {
    Layer ref(DenseLinear<const float>(w.data(), in, out));
    configure(ref);
    RowMatrix y(n, out);
    lorakit::Workspace ws(ref.workspace_floats(n));
    ref.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    valid.push_back(y);
  };
  expect([](Layer&) {});
  expect([&](Layer& l) { l.attach("p", p->weights(), p->params, 1.0f, p); });
  expect([&](Layer& l) { l.attach("p", p->weights(), p->params, 0.5f, p); });
  expect([&](Layer& l) {
    l.attach("p", p->weights(), p->params, 0.5f, p);
    l.attach("q", q->weights(), q->params, 1.0f, q);
  });
  expect([&](Layer& l) { l.attach("q", q->weights(), q->params, 1.0f, q); });

  Layer layer(DenseLinear<const float>(w.data(), in, out));
  const ReaderCounts seen = race_readers(
      valid, layer.workspace_floats(n),
      [&](lorakit::Workspace& ws, RowMatrix& y) {
        layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
      },
      [&] {
        for (int i = 0; i < 300; ++i) {
          layer.attach("p", p->weights(), p->params, 1.0f, p);
          layer.set_scale("p", 0.5f);
          layer.attach("q", q->weights(), q->params, 1.0f, q);
          layer.set_enabled(false);
          layer.detach("p");
          layer.set_enabled(true);
          layer.detach("q");
        }
      });
  INFO("forward calls: " << seen.calls
                         << ", outputs matching no valid configuration: " << seen.bad);
  CHECK(seen.bad == 0);
  CHECK(seen.calls > 0);
}
