// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Per-call adapter state: Selection (per call and per row), Pass (one generation for every
// layer of a pass), identity() of what a call computes, and a drafter and a verifier sharing
// layers on two threads. The threaded cases run under ThreadSanitizer in the tsan preset.
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
using lorakit::Selection;
using namespace lorakit::test;

namespace {

bool same_bits(const RowMatrix& a, const RowMatrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

// The first element where a and b differ, for failure messages.
std::string first_difference(const RowMatrix& a, const RowMatrix& b) {
  for (Index i = 0; i < a.rows(); ++i) {
    for (Index j = 0; j < a.cols(); ++j) {
      if (std::memcmp(&a(i, j), &b(i, j), sizeof(float)) != 0) {
        return "shape [" + std::to_string(a.rows()) + ", " + std::to_string(a.cols()) + "] at (" +
               std::to_string(i) + ", " + std::to_string(j) + "): expected " +
               std::to_string(b(i, j)) + ", got " + std::to_string(a(i, j));
      }
    }
  }
  return "equal";
}

}  // namespace

TEST_CASE("Selection: an explicit list computes its adapters at its scales, whatever the set",
          "[runtime][selection]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  const auto a = make_adapter("a", m.specs(4), 1);
  const auto b = make_adapter("b", m.specs(8), 2);
  const RowMatrix x = random_matrix(3, 16, 7);

  // References: the layers' current set, one configuration at a time.
  model.attach(a, {.scale = 0.5f});
  const RowMatrix ref_a = run(m, 0, x);
  model.attach(b, {.scale = 2.0f});
  const RowMatrix ref_ab = run(m, 0, x);
  model.detach("a");
  const RowMatrix ref_b = run(m, 0, x);
  model.detach("b");
  const RowMatrix ref_base = run(m, 0, x);
  REQUIRE_FALSE(same_bits(ref_a, ref_base));

  // Now attached at other scales, b inactive: explicit selections ignore both.
  model.attach(a, {.scale = 3.0f});
  model.attach(b, {.scale = 0.1f, .active = false});
  const Selection just_a = model.select({{"a", 0.5f}});
  const Selection both = model.select({{"a", 0.5f}, {"b", 2.0f}});
  const Selection just_b = model.select({{"b", 2.0f}});
  INFO(first_difference(run(m, 0, x, just_a), ref_a));
  CHECK(same_bits(run(m, 0, x, just_a), ref_a));
  CHECK(same_bits(run(m, 0, x, both), ref_ab));
  CHECK(same_bits(run(m, 0, x, just_b), ref_b));
  CHECK(same_bits(run(m, 0, x, Selection::base()), ref_base));
  CHECK_FALSE(same_bits(run(m, 0, x), ref_a));  // the current set: a at 3.0

  // The switches still win: off means the base for every selection.
  model.set_enabled(false);
  CHECK(same_bits(run(m, 0, x, both), ref_base));
  model.set_enabled(true);
  m.layers[0]->set_enabled(false);
  CHECK(same_bits(run(m, 0, x, both), ref_base));
  m.layers[0]->set_enabled(true);
  CHECK(same_bits(run(m, 0, x, both), ref_ab));

  // Per row: each run of equal selections computes what its selection computes alone.
  const std::vector<Selection> rows{just_a, just_a, Selection::base()};
  const RowMatrix mixed = run(m, 0, x, std::span<const Selection>(rows));
  for (Index i = 0; i < x.rows(); ++i) {
    const RowMatrix& expected = i < 2 ? ref_a : ref_base;
    const RowMatrix xi = x.row(i);
    const RowMatrix alone = run(m, 0, xi, rows[static_cast<std::size_t>(i)]);
    INFO("row " << i);
    CHECK(std::memcmp(mixed.row(i).data(), alone.data(), sizeof(float) * 16) == 0);
    CHECK(std::memcmp(mixed.row(i).data(), expected.row(i).data(), sizeof(float) * 16) == 0);
  }
}

TEST_CASE("Selection: built and checked off the hot path", "[runtime][selection]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  model.attach(make_adapter("a", m.specs(4), 1));
  model.attach(make_adapter("b", m.specs(4), 5));

  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const lorakit::Error& e) {
      CHECK(e.code() == lorakit::Errc::bad_config);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message([&] {
               (void)model.select({{"nope", 1.0f}});
             }),
             Catch::Contains("select(): no adapter 'nope' is attached"));
  CHECK_THAT(message([&] {
               (void)model.select({{"a", std::nanf("")}});
             }),
             Catch::Contains("non-finite scale"));
  CHECK_THAT(message([&] {
               (void)model.select({{"a", 1.0f}, {"a", 2.0f}});
             }),
             Catch::Contains("listed twice"));
  const Selection::Entry five[5] = {{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}};
  CHECK_THAT(message([&] { (void)Selection::of(five); }), Catch::Contains("at most 4"));

  // A selection whose adapter went away adds nothing there, and check() says so.
  const Selection sel = model.select({{"b", 1.0f}});
  CHECK_NOTHROW(model.check(sel));
  const RowMatrix x = random_matrix(2, 16, 3);
  model.detach("b");
  CHECK(same_bits(run(m, 0, x, sel), run(m, 0, x, Selection::base())));
  CHECK_THAT(message([&] { model.check(sel); }), Catch::Contains("no longer attached"));

  // A merged adapter is part of the base weights: selecting it is refused.
  model.merge("a");
  CHECK_THAT(message([&] { (void)model.select({{"a", 1.0f}}); }), Catch::Contains("is merged"));
  model.unmerge("a");
}

TEST_CASE("Model::identity: what the output is, including layers switched off on their own",
          "[runtime][selection]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  CHECK(model.identity() == 0);
  model.attach(make_adapter("a", m.specs(4), 1), {.scale = 0.5f});
  const auto with_a = model.identity();
  CHECK(with_a != 0);

  const auto before = model.generation();
  m.layers[1]->set_enabled(false);  // the layer's own switch changes the output: and the key
  CHECK(model.generation() > before);
  const auto one_off = model.identity();
  CHECK(one_off != with_a);
  CHECK(one_off != 0);
  m.layers[1]->set_enabled(true);
  CHECK(model.identity() == with_a);

  // A pass's identity follows its selection: the same adapter at the same scale gives the
  // model's identity; the base alone gives 0.
  {
    const auto pass = model.pass(model.select({{"a", 0.5f}}));
    CHECK(pass.identity() == with_a);
  }
  CHECK(model.pass(Selection::base()).identity() == 0);
  CHECK(model.pass(model.select({{"a", 0.25f}})).identity() != with_a);
  model.set_enabled(false);
  CHECK(model.identity() == 0);
  CHECK(model.pass(model.select({{"a", 0.5f}})).identity() == 0);
  model.set_enabled(true);
}

TEST_CASE("Pass: a writer during a pass does not reach the pass's layer calls",
          "[runtime][selection]") {
  TinyModel m(2, 16);
  Model model;
  register_all(model, m);
  const RowMatrix x = random_matrix(2, 16, 9);
  model.attach(make_adapter("a", m.specs(4), 1));
  std::vector<RowMatrix> ref;
  for (std::size_t k = 0; k < m.names.size(); ++k) ref.push_back(run(m, k, x));

  const auto pass = model.pass();
  CHECK(same_bits(run(m, 0, x, pass), ref[0]));
  // On this thread, while the pass is held: a replacement, a new adapter, the switch off.
  model.attach(make_adapter("a", m.specs(4), 50));
  model.attach(make_adapter("b", m.specs(2), 60));
  m.layers[2]->set_enabled(false);
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    INFO("layer " << k << ": " << first_difference(run(m, k, x, pass), ref[k]));
    CHECK(same_bits(run(m, k, x, pass), ref[k]));
  }
  CHECK_FALSE(same_bits(run(m, 1, x), ref[1]));  // calls without the pass see the change
  CHECK(pass.generation() < model.generation());
}

// Two threads share the layers: a drafter with adapter "a" at 0.75, a verifier with the base
// alone, each through its own Pass. A third thread changes everything their selections do not
// depend on (a's user scale and active flag, another adapter b). Every output must equal the
// single-threaded result of its selection, bit for bit.
TEST_CASE("Pass: a drafter and a verifier on the same layers at once", "[runtime][concurrency]") {
  const Index n = 2;
  TinyModel m(2, 32);
  Model model;
  register_all(model, m);
  const std::size_t layers = m.names.size();
  model.attach(make_adapter("a", m.specs(4), 1));
  const auto b = make_adapter("b", m.specs(8), 2);
  std::vector<RowMatrix> inputs;
  for (std::size_t k = 0; k < layers; ++k) inputs.push_back(random_matrix(n, 32, 20 + k));
  const Selection draft = model.select({{"a", 0.75f}});
  std::vector<RowMatrix> ref_draft, ref_verify;
  for (std::size_t k = 0; k < layers; ++k) {
    ref_draft.push_back(run(m, k, inputs[k], draft));
    ref_verify.push_back(run(m, k, inputs[k], Selection::base()));
    REQUIRE_FALSE(same_bits(ref_draft.back(), ref_verify.back()));
  }

  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  std::atomic<long> passes{0};
  auto run = [&](const Selection& selection, const std::vector<RowMatrix>& ref) {
    std::vector<RowMatrix> ys;
    for (std::size_t k = 0; k < layers; ++k) ys.emplace_back(n, m.weights[k].rows());
    lorakit::Workspace ws(model.workspace_floats(n));
    while (!done.load()) {
      const lorakit::Pass pass = model.pass(selection);
      for (std::size_t k = 0; k < layers; ++k) {
        m.layers[k]->forward(lorakit::make_cview(inputs[k]), lorakit::make_view(ys[k]), ws, pass);
        if (!same_bits(ys[k], ref[k])) bad.fetch_add(1);
      }
      passes.fetch_add(1);
    }
  };
  std::thread drafter(run, std::cref(draft), std::cref(ref_draft));
  std::thread verifier(run, Selection::base(), std::cref(ref_verify));
  for (int i = 0; i < 100; ++i) {
    model.set_scale("a", 0.1f * static_cast<float>(i % 7));
    model.set_active("a", i % 2 == 0);
    model.attach(b, {.scale = 0.5f});
    model.detach("b");
    const long target = passes.load() + 4;
    while (passes.load() < target) std::this_thread::yield();
  }
  done.store(true);
  drafter.join();
  verifier.join();
  CHECK(bad.load() == 0);
  CHECK(passes.load() >= 400);
}

// A writer swaps adapter "a" between two versions while readers run whole passes: within one
// pass every layer must compute the same version (and the pass's identity names it).
TEST_CASE("Pass: every layer of one pass sees the same state while a writer swaps",
          "[runtime][concurrency]") {
  const Index n = 2;
  TinyModel m(3, 16);
  Model model;
  register_all(model, m);
  const std::size_t layers = m.names.size();
  const auto v1 = make_adapter("a", m.specs(4), 1);
  const auto v2 = make_adapter("a", m.specs(4), 90);
  const RowMatrix x = random_matrix(n, 16, 5);
  std::vector<RowMatrix> ref1, ref2;
  model.attach(v1);
  const auto id1 = model.identity();
  for (std::size_t k = 0; k < layers; ++k) ref1.push_back(run(m, k, x));
  model.attach(v2);
  const auto id2 = model.identity();
  for (std::size_t k = 0; k < layers; ++k) ref2.push_back(run(m, k, x));
  REQUIRE(id1 != id2);

  std::atomic<bool> done{false};
  std::atomic<long> mixed{0}, unknown{0}, passes{0}, saw1{0}, saw2{0};
  auto reader = [&] {
    std::vector<RowMatrix> ys;
    for (std::size_t k = 0; k < layers; ++k) ys.emplace_back(n, m.weights[k].rows());
    lorakit::Workspace ws(model.workspace_floats(n));
    while (!done.load()) {
      const lorakit::Pass pass = model.pass();
      int version = 0;  // 1 or 2 once the first layer has told
      for (std::size_t k = 0; k < layers; ++k) {
        m.layers[k]->forward(lorakit::make_cview(x), lorakit::make_view(ys[k]), ws, pass);
        const int v = same_bits(ys[k], ref1[k]) ? 1 : (same_bits(ys[k], ref2[k]) ? 2 : 0);
        if (v == 0) unknown.fetch_add(1);
        if (version != 0 && v != version) mixed.fetch_add(1);
        version = v;
      }
      if ((version == 1 && pass.identity() != id1) || (version == 2 && pass.identity() != id2)) {
        mixed.fetch_add(1);
      }
      (version == 1 ? saw1 : saw2).fetch_add(1);
      passes.fetch_add(1);
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  for (int i = 0; i < 200; ++i) {
    model.attach(i % 2 == 0 ? v1 : v2);
    const long target = passes.load() + 2;
    while (passes.load() < target) std::this_thread::yield();
  }
  done.store(true);
  r1.join();
  r2.join();
  CHECK(mixed.load() == 0);
  CHECK(unknown.load() == 0);
  CHECK(saw1.load() > 0);
  CHECK(saw2.load() > 0);
}
