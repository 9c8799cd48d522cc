// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Partial, sharded and renamed models: modules without a layer skipped and listed, adapter
// subsets sharing storage, layers registered after an adapter is attached.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "approx.hpp"
#include "lorakit/lorakit.hpp"
#include "reference.hpp"

using lorakit::Adapter;
using lorakit::Errc;
using lorakit::Index;
using lorakit::MissingLayers;
using lorakit::Model;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {

// Layer k of m on x against the dense reference with `a`'s module for it at user scale s (or
// the base alone when `a` is null).
void check_layer(const TinyModel& m, std::size_t k, const RowMatrix& x, const Adapter* a,
                 double s) {
  std::vector<RefAdapter> terms;
  if (a != nullptr) {
    const lorakit::AdapterModule* mod = a->find(m.names[k]);
    REQUIRE(mod != nullptr);
    terms.push_back(
        RefAdapter{mod->a.view(), mod->b.view(), s * static_cast<double>(a->scale(*mod))});
  }
  const Reference ref =
      dense_reference(lorakit::make_cview(x), lorakit::make_cview(m.weights[k]), true, {}, terms);
  check_close(ref, lorakit::make_cview(run(m, k, x)), m.names[k]);
}

std::vector<std::string> names_of_blocks(const TinyModel& m, int first, int last) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    const int block = static_cast<int>(k / 2);
    if (block >= first && block < last) out.push_back(m.names[k]);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "Model: an adapter for more layers than the host built is refused by default, or "
    "skipped and listed",
    "[runtime][partial]") {
  TinyModel full(4, 16);  // the adapter's model: 4 blocks
  TinyModel host(4, 16);  // the host builds blocks 0 and 1 only
  const auto adapter = make_adapter("big", full.specs(4), 7);
  Model model;
  for (std::size_t k = 0; k < 4; ++k) model.add(host.names[k], *host.layers[k]);

  try {
    model.attach(adapter);
    FAIL("attach of a 4-block adapter on a 2-block host succeeded");
  } catch (const lorakit::Error& e) {
    CHECK(e.problems().size() == 4);
    for (const lorakit::Problem& p : e.problems()) CHECK(p.code == Errc::no_target);
  }
  CHECK(model.list().empty());

  model.attach(adapter, {.scale = 0.5f, .missing_layers = MissingLayers::skip});
  const auto list = model.list();
  REQUIRE(list.size() == 1);
  CHECK(list[0].modules == 4);
  CHECK(list[0].skipped == names_of_blocks(full, 2, 4));
  const RowMatrix x = random_matrix(3, 16, 11);
  for (std::size_t k = 0; k < 4; ++k) check_layer(host, k, x, adapter.get(), 0.5);
}

TEST_CASE("Model: a NameMap that maps a module to \"\" skips it, as documented",
          "[runtime][partial]") {
  TinyModel m(2, 16);
  lorakit::NameMap names;
  names.function([](std::string_view n) {
    return n.find(".v_proj") != std::string_view::npos ? std::string() : std::string(n);
  });
  Model model(Model::Options{names});
  register_all(model, m);
  const auto adapter = make_adapter("q_only", m.specs(4), 3);
  model.attach(adapter);  // the default policy: "" is not a missing layer
  const auto list = model.list();
  REQUIRE(list.size() == 1);
  CHECK(list[0].modules == 2);
  CHECK(list[0].skipped == std::vector<std::string>{"model.layers.0.self_attn.v_proj",
                                                    "model.layers.1.self_attn.v_proj"});
  const RowMatrix x = random_matrix(2, 16, 5);
  check_layer(m, 0, x, adapter.get(), 1.0);
  check_layer(m, 1, x, nullptr, 1.0);  // v_proj: base only
}

TEST_CASE("Adapter::subset keeps the chosen modules and shares the parent's bytes",
          "[runtime][partial]") {
  TinyModel m(4, 16);
  const auto adapter = make_adapter("stages", m.specs(4), 9);
  const auto stage = adapter->subset(lorakit::in_layers(1, 3));
  REQUIRE(stage->modules().size() == 4);
  for (const std::string& name : names_of_blocks(m, 1, 3)) {
    INFO(name);
    const lorakit::AdapterModule* sub = stage->find(name);
    const lorakit::AdapterModule* parent = adapter->find(name);
    REQUIRE(sub != nullptr);
    CHECK(sub->a.bytes.data() == parent->a.bytes.data());  // shared, not copied
    CHECK(sub->b.bytes.data() == parent->b.bytes.data());
  }
  CHECK(stage->find(m.names[0]) == nullptr);
  CHECK(stage->name() == adapter->name());
  CHECK(stage->content_hash() != adapter->content_hash());
  CHECK(adapter->subset([](std::string_view) { return true; })->content_hash() ==
        adapter->content_hash());

  // A pipeline stage holding blocks 1 and 2 attaches its subset with the default policy.
  Model model;
  for (std::size_t k = 2; k < 6; ++k) model.add(m.names[k], *m.layers[k]);
  std::weak_ptr<const Adapter> parent_alive = adapter;
  model.attach(stage, {.scale = 0.25f});
  const RowMatrix x = random_matrix(4, 16, 13);
  for (std::size_t k = 2; k < 6; ++k) check_layer(m, k, x, stage.get(), 0.25);
}

TEST_CASE("Model: a layer registered after an adapter is attached gets its module",
          "[runtime][partial]") {
  TinyModel m(2, 16);
  const auto adapter = make_adapter("late", m.specs(4), 21);
  Model model;
  model.add(m.names[0], *m.layers[0]);
  model.attach(adapter, {.scale = 0.75f, .missing_layers = MissingLayers::skip});
  CHECK(model.list()[0].skipped.size() == 3);
  model.add(m.names[1], *m.layers[1]);
  model.add(m.names[2], *m.layers[2]);
  const auto list = model.list();
  CHECK(list[0].modules == 3);
  CHECK(list[0].skipped == std::vector<std::string>{m.names[3]});
  const RowMatrix x = random_matrix(3, 16, 17);
  for (std::size_t k = 0; k < 3; ++k) check_layer(m, k, x, adapter.get(), 0.75);

  // The model-wide switch reaches the late layer too.
  model.set_enabled(false);
  check_layer(m, 2, x, nullptr, 1.0);
  model.set_enabled(true);

  // Detach reaches it as well.
  CHECK(model.detach("late"));
  check_layer(m, 1, x, nullptr, 1.0);
}

TEST_CASE(
    "Model: registering a layer an attached adapter cannot serve fails and registers "
    "nothing",
    "[runtime][partial]") {
  TinyModel m(1, 16);
  TinyModel narrow(1, 8);  // a layer of the wrong width under the adapter's module name
  const auto adapter = make_adapter("wide", m.specs(4), 5);
  Model model;
  model.add(m.names[0], *m.layers[0]);
  model.attach(adapter, {.missing_layers = MissingLayers::skip});
  try {
    model.add(m.names[1], *narrow.layers[1]);
    FAIL("a layer of the wrong width was registered");
  } catch (const lorakit::Error& e) {
    REQUIRE_FALSE(e.problems().empty());
    CHECK(e.problems()[0].code == Errc::shape_mismatch);
    CHECK(e.problems()[0].context.module == m.names[1]);
  }
  CHECK(model.size() == 1);
  CHECK(model.list()[0].skipped == std::vector<std::string>{m.names[1]});
  const RowMatrix x = random_matrix(2, 8, 3);
  RowMatrix y(2, 4);
  lorakit::Workspace ws(narrow.layers[1]->workspace_floats(2));
  narrow.layers[1]->forward(lorakit::make_cview(x), lorakit::make_view(y), ws);  // base only
  const Reference ref =
      dense_reference(lorakit::make_cview(x), lorakit::make_cview(narrow.weights[1]), true, {}, {});
  check_close(ref, lorakit::make_cview(y), "narrow v_proj");

  // A merged adapter cannot reach a new layer: the error says to unmerge.
  model.merge("wide");
  try {
    model.add(m.names[1], *m.layers[1]);
    FAIL("a layer was registered under a merged adapter");
  } catch (const lorakit::Error& e) {
    CHECK(e.problems()[0].code == Errc::bad_config);
    CHECK_THAT(e.what(), Catch::Matchers::Contains("unmerge"));
  }
  CHECK(model.size() == 1);
}
