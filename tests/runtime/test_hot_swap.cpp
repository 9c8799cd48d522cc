// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Hot swap under load: reader threads run every layer of a model while a writer swaps among
// three adapters, rescales and toggles. Each layer call must equal, bit for bit, that layer's
// output under one of the configurations the writer passes through. Run under ThreadSanitizer
// by the tsan preset.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "adapter_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::Index;
using lorakit::Model;
using lorakit::RowMatrix;
using namespace lorakit::test;

TEST_CASE("Model: forward during hot swap sees one whole configuration per layer call",
          "[runtime][concurrency]") {
  const Index n = 3;
  const Index d = 32;
  TinyModel m(2, d);
  const std::size_t layers = m.names.size();
  const auto p = make_adapter("p", m.specs(4), 1);
  const auto q = make_adapter("q", m.specs(8), 2);
  const auto r = make_adapter("r", m.specs(2), 3);
  std::vector<RowMatrix> inputs;
  for (std::size_t k = 0; k < layers; ++k) inputs.push_back(random_matrix(n, d, 10 + k));

  // Each layer's output under every configuration the writer below passes through, computed
  // on the same layers before the threads start.
  std::vector<std::vector<RowMatrix>> valid(layers);
  {
    Model ref;
    for (std::size_t k = 0; k < layers; ++k) ref.add(m.names[k], *m.layers[k]);
    auto record = [&] {
      for (std::size_t k = 0; k < layers; ++k) {
        RowMatrix y(n, m.weights[k].rows());
        lorakit::Workspace ws(m.layers[k]->workspace_floats(n));
        m.layers[k]->forward(lorakit::make_cview(inputs[k]), lorakit::make_view(y), ws);
        valid[k].push_back(y);
      }
    };
    record();  // nothing attached (and every "off" state)
    for (const auto& a : {p, q, r}) {
      ref.attach(a, {.name = "user"});
      record();
    }
    ref.set_scale("user", 0.5f);  // r at half scale
    record();
    ref.attach(p, {.name = "user"});
    ref.attach(q, {.name = "extra", .scale = 0.25f});  // p + q/4
    record();
    ref.detach("user");
    ref.detach("extra");
  }

  Model model;
  for (std::size_t k = 0; k < layers; ++k) model.add(m.names[k], *m.layers[k]);
  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  std::atomic<long> calls{0};
  auto reader = [&] {
    std::vector<RowMatrix> ys;
    for (std::size_t k = 0; k < layers; ++k) ys.emplace_back(n, m.weights[k].rows());
    lorakit::Workspace ws(model.workspace_floats(n));
    while (!done.load()) {
      for (std::size_t k = 0; k < layers; ++k) {
        m.layers[k]->forward(lorakit::make_cview(inputs[k]), lorakit::make_view(ys[k]), ws);
        bool matched = false;
        for (const RowMatrix& v : valid[k]) {
          matched = matched || std::memcmp(v.data(), ys[k].data(),
                                           sizeof(float) * static_cast<std::size_t>(v.size())) == 0;
        }
        if (!matched) bad.fetch_add(1);
        calls.fetch_add(1);
      }
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  for (int i = 0; i < 150; ++i) {
    model.attach(p, {.name = "user"});
    model.attach(q, {.name = "user"});  // swap in one step per layer
    model.set_enabled(false);
    model.attach(r, {.name = "user"});
    model.set_enabled(true);
    model.set_scale("user", 0.5f);
    model.set_active("user", false);
    model.set_active("user", true);
    model.attach(p, {.name = "user"});
    model.attach(q, {.name = "extra", .scale = 0.25f});
    model.detach("extra");
    model.detach("user");
    // Give the readers time to run between rounds (a writer alone can starve them).
    const long target = calls.load() + 8;
    while (calls.load() < target) std::this_thread::yield();
  }
  done.store(true);
  r1.join();
  r2.join();
  INFO("layer calls checked: " << calls.load());
  CHECK(calls.load() >= 150 * 8);
  CHECK(bad.load() == 0);
  CHECK(model.list().empty());
}
