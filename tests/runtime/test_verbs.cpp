// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The verbs PEFT and llama.cpp users reach for: merge_and_unload, detach_all, the effective
// multiplier of a layer, and combine() (add_weighted_adapter: cat and linear).
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "approx.hpp"
#include "lorakit/lorakit.hpp"
#include "lorakit/runtime/combine.hpp"
#include "reference.hpp"

using lorakit::Adapter;
using lorakit::Combination;
using lorakit::Errc;
using lorakit::Index;
using lorakit::Model;
using lorakit::RowMatrix;
using lorakit::WeightedAdapter;
using namespace lorakit::test;

namespace {

// The module's delta s * A * B (in, out) in double.
DoubleMatrix delta(const Adapter& a, const std::string& module, double s) {
  const lorakit::AdapterModule* m = a.find(module);
  REQUIRE(m != nullptr);
  const auto av = m->a.view();
  const auto bv = m->b.view();
  DoubleMatrix d = DoubleMatrix::Zero(av.rows(), bv.cols());
  for (Index i = 0; i < av.rows(); ++i) {
    for (Index o = 0; o < bv.cols(); ++o) {
      double v = 0.0;
      for (Index k = 0; k < av.cols(); ++k) {
        v += static_cast<double>(av(i, k)) * static_cast<double>(bv(k, o));
      }
      d(i, o) = s * static_cast<double>(a.scale(*m)) * v;
    }
  }
  return d;
}

void check_matrix(const DoubleMatrix& expected, const DoubleMatrix& actual, double tol,
                  const std::string& what) {
  REQUIRE(expected.rows() == actual.rows());
  REQUIRE(expected.cols() == actual.cols());
  for (Index i = 0; i < expected.rows(); ++i) {
    for (Index j = 0; j < expected.cols(); ++j) {
      if (std::abs(expected(i, j) - actual(i, j)) > tol) {
        FAIL_CHECK(what << " shape (" << expected.rows() << ", " << expected.cols() << ") at [" << i
                        << ", " << j << "]: expected " << expected(i, j) << ", got " << actual(i, j)
                        << ", tolerance " << tol);
        return;
      }
    }
  }
}

}  // namespace

TEST_CASE("Model::merge_and_unload keeps the delta in the weights and frees the adapter",
          "[runtime][verbs]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  auto adapter = make_adapter("merged", m.specs(4), 31);
  const RowMatrix x = random_matrix(3, 16, 7);
  model.attach(adapter, {.scale = 0.5f});
  const RowMatrix before = run(m, 0, x);
  std::weak_ptr<const Adapter> watch = adapter;
  model.merge_and_unload("merged");
  adapter.reset();
  CHECK(watch.expired());  // no reference left in the model or its layers
  CHECK(model.list().empty());
  CHECK(m.layers[0]->attachments().empty());
  const RowMatrix after = run(m, 0, x);  // the base alone now: W holds the delta
  for (Index i = 0; i < x.rows(); ++i) {
    for (Index o = 0; o < after.cols(); ++o) {
      INFO("row " << i << " output " << o);
      CHECK(after(i, o) == Approx(before(i, o)).margin(1e-5));
    }
  }
  CHECK_THROWS_AS(model.merge_and_unload("merged"), lorakit::Error);  // unknown now
}

TEST_CASE("Model::detach_all detaches everything, and refuses while one is merged",
          "[runtime][verbs]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  model.attach(make_adapter("a", m.specs(4), 1));
  model.attach(make_adapter("b", m.specs(2), 2));
  model.merge("b");
  try {
    model.detach_all();
    FAIL("detach_all with a merged adapter succeeded");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("'b'"));
  }
  CHECK(model.list().size() == 2);
  model.unmerge("b");
  model.detach_all();
  CHECK(model.list().empty());
  for (const auto& layer : m.layers) CHECK(layer->attachments().empty());
}

TEST_CASE("Model::multiplier is the user scale times the module's alpha / r", "[runtime][verbs]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  const auto adapter = make_adapter("a", m.specs(4), 3);
  model.attach(adapter, {.scale = 0.25f});
  const lorakit::AdapterModule* q = adapter->find(m.names[0]);
  REQUIRE(q != nullptr);
  CHECK(model.multiplier("a", m.names[0]) == 0.25f * adapter->scale(*q));
  model.set_scale("a", 2.0f);
  CHECK(model.multiplier("a", m.names[0]) == 2.0f * adapter->scale(*q));
  CHECK_FALSE(model.multiplier("a", "no.such.layer").has_value());
  CHECK_FALSE(model.multiplier("none", m.names[0]).has_value());
}

TEST_CASE("combine: cat is exactly the weighted sum of the deltas, on every module",
          "[runtime][verbs][combine]") {
  TinyModel m(2, 16);
  const auto a = make_adapter("a", m.specs(4), 11);
  const auto b = make_adapter("b", m.specs(2, 1), 12);  // block 0 only, another rank
  const std::vector<WeightedAdapter> parts{{a, 0.7f}, {b, -1.5f}};
  const auto c = lorakit::combine(parts, Combination::cat, "mix");
  CHECK(c->name() == "mix");
  REQUIRE(c->modules().size() == a->modules().size());
  for (const auto& [name, mod] : c->modules()) {
    INFO(name);
    DoubleMatrix expected = delta(*a, name, 0.7);
    const bool in_b = b->find(name) != nullptr;
    if (in_b) expected += delta(*b, name, -1.5);
    CHECK(mod.rank == (in_b ? 6 : 4));
    CHECK(c->scale(mod) == 1.0f);
    // Each product term is rounded once more (m_i B_i in f32): relative 2^-24 per term.
    const double tol =
        8.0 * 0x1p-24 * expected.cwiseAbs().maxCoeff() * static_cast<double>(mod.rank);
    check_matrix(expected, delta(*c, name, 1.0), tol, name);
  }
  // Attached, it gives what the two adapters at those scales give.
  Model model;
  register_all(model, m);
  model.attach(c);
  const RowMatrix x = random_matrix(3, 16, 5);
  const Reference ref =
      dense_reference(lorakit::make_cview(x), lorakit::make_cview(m.weights[0]), true, {},
                      {RefAdapter{a->find(m.names[0])->a.view(), a->find(m.names[0])->b.view(),
                                  0.7 * static_cast<double>(a->scale(*a->find(m.names[0])))},
                       RefAdapter{b->find(m.names[0])->a.view(), b->find(m.names[0])->b.view(),
                                  -1.5 * static_cast<double>(b->scale(*b->find(m.names[0])))}});
  check_close(ref, lorakit::make_cview(run(m, 0, x)), m.names[0]);
}

TEST_CASE("combine: linear sums the factors with sqrt|m| (PEFT's rule)",
          "[runtime][verbs][combine]") {
  TinyModel m(1, 16);
  const auto a = make_adapter("a", m.specs(4), 21);
  const auto b = make_adapter("b", m.specs(4), 22);
  const std::vector<WeightedAdapter> parts{{a, 0.5f}, {b, -2.0f}};
  const auto c = lorakit::combine(parts, Combination::linear, "lin");
  for (const auto& [name, mod] : c->modules()) {
    INFO(name);
    const lorakit::AdapterModule& ma = *a->find(name);
    const lorakit::AdapterModule& mb = *b->find(name);
    const double sa = 0.5 * static_cast<double>(a->scale(ma));
    const double sb = -2.0 * static_cast<double>(b->scale(mb));
    const auto av = ma.a.view();
    const auto bv = mb.a.view();
    const auto cv = mod.a.view();
    for (Index i = 0; i < cv.rows(); ++i) {
      for (Index k = 0; k < cv.cols(); ++k) {
        const double expected = std::sqrt(sa) * av(i, k) - std::sqrt(-sb) * bv(i, k);
        INFO("A[" << i << ", " << k << "]");
        CHECK(static_cast<double>(cv(i, k)) == Approx(expected).margin(1e-6));
      }
    }
    const auto ab = ma.b.view();
    const auto bb = mb.b.view();
    const auto cb = mod.b.view();
    for (Index k = 0; k < cb.rows(); ++k) {
      for (Index o = 0; o < cb.cols(); ++o) {
        const double expected = std::sqrt(sa) * ab(k, o) + std::sqrt(-sb) * bb(k, o);
        INFO("B[" << k << ", " << o << "]");
        CHECK(static_cast<double>(cb(k, o)) == Approx(expected).margin(1e-6));
      }
    }
  }
}

TEST_CASE("combine: what cannot combine is refused, every problem at once",
          "[runtime][verbs][combine]") {
  TinyModel m(1, 16);
  TinyModel wide(1, 24);
  const auto a = make_adapter("a", m.specs(4), 1);
  const auto r8 = make_adapter("r8", m.specs(8), 2);
  const auto w = make_adapter("w", wide.specs(4), 3);
  CHECK_THROWS_AS(lorakit::combine({}, Combination::cat, "x"), lorakit::Error);
  try {
    const std::vector<WeightedAdapter> parts{{a, 1.0f}, {r8, 1.0f}};
    (void)lorakit::combine(parts, Combination::linear, "x");
    FAIL("linear of ranks 4 and 8 succeeded");
  } catch (const lorakit::Error& e) {
    CHECK(e.problems().size() == 2);  // both modules
    CHECK_THAT(e.what(), Catch::Matchers::Contains("linear needs equal ranks"));
  }
  const std::vector<WeightedAdapter> ok{{a, 1.0f}, {r8, 1.0f}};
  CHECK(lorakit::combine(ok, Combination::cat, "x")->find(m.names[0])->rank == 12);
  try {
    const std::vector<WeightedAdapter> parts{{a, 1.0f}, {w, 1.0f}, {a, NAN}};
    (void)lorakit::combine(parts, Combination::cat, "x");
    FAIL("mismatched shapes combined");
  } catch (const lorakit::Error& e) {
    CHECK(e.problems().size() == 3);  // a NaN weight, and both modules' shapes
    CHECK_THAT(e.what(), Catch::Matchers::Contains("non-finite weight"));
    CHECK_THAT(e.what(), Catch::Matchers::Contains("(in, out) = (24, "));
  }
}

TEST_CASE("Model::disabled turns adapters off for a scope and restores the switch",
          "[runtime][verbs]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  model.attach(make_adapter("a", m.specs(4), 41));
  const RowMatrix x = random_matrix(2, 16, 3);
  const RowMatrix adapted = run(m, 0, x);
  RowMatrix base(x.rows(), m.weights[0].rows());
  m.layers[0]->base().forward(lorakit::make_cview(x), lorakit::make_view(base));
  {
    auto off = model.disabled();
    CHECK_FALSE(model.enabled());
    check_identical(lorakit::make_cview(base), lorakit::make_cview(run(m, 0, x)), "disabled");
    {
      auto again = model.disabled();  // nested: restores "off", not "on"
    }
    CHECK_FALSE(model.enabled());
  }
  CHECK(model.enabled());
  check_identical(lorakit::make_cview(adapted), lorakit::make_cview(run(m, 0, x)), "restored");
  model.set_enabled(false);
  { auto off = model.disabled(); }
  CHECK_FALSE(model.enabled());  // was off before the scope: stays off
}
