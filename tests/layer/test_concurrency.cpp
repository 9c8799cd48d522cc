// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// forward() on reader threads while a writer attaches, detaches, rescales and toggles.
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

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
  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  std::atomic<long> calls{0};
  auto reader = [&] {
    lorakit::Workspace ws(layer.workspace_floats(n));
    RowMatrix y(n, out);
    while (!done.load()) {
      layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
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
  for (int i = 0; i < 300; ++i) {
    layer.attach("p", p->weights(), p->params, 1.0f, p);
    layer.set_scale("p", 0.5f);
    layer.attach("q", q->weights(), q->params, 1.0f, q);
    layer.set_enabled(false);
    layer.detach("p");
    layer.set_enabled(true);
    layer.detach("q");
  }
  // Let the readers see the final state at least once more.
  const long seen = calls.load();
  while (calls.load() < seen + 4) std::this_thread::yield();
  done.store(true);
  r1.join();
  r2.join();
  INFO("forward calls: " << calls.load()
                         << ", outputs matching no valid configuration: " << bad.load());
  CHECK(bad.load() == 0);
  CHECK(calls.load() > 0);
}
