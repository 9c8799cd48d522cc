// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// check(adapter, base) reports what Model::attach reports, without a model; describe(model).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/check.hpp"

using namespace lorakit;
using lorakit::test::ModuleSpec;
using lorakit::test::TinyModel;

TEST_CASE("describe(model) lists the registered layers in natural order with their widths") {
  TinyModel tiny(12, 16);
  Model model(Model::Options{.names = {}, .base = "org/tiny"});
  test::register_all(model, tiny);
  const BaseModel base = describe(model);
  CHECK(base.name == "org/tiny");
  CHECK(base.format == BaseFormat::host);
  CHECK(base.n_layers == 12);
  REQUIRE(base.modules.size() == 24);
  CHECK(base.modules[0].name == "model.layers.0.self_attn.q_proj");
  CHECK(base.modules[4].name == "model.layers.2.self_attn.q_proj");  // before layers.10
  const BaseModule* v = base.find("model.layers.11.self_attn.v_proj");
  REQUIRE(v != nullptr);
  CHECK(v->in_features == 16);
  CHECK(v->out_features == 8);
}

TEST_CASE("check() of a fitting adapter is ok and attach then succeeds") {
  TinyModel tiny(3, 16);
  Model model;
  test::register_all(model, tiny);
  const auto adapter = test::make_adapter("fits", tiny.specs(4), 1);
  const CheckReport r = check(*adapter, describe(model));
  INFO(r.message);
  CHECK(r.ok());
  CHECK(r.modules == 6);
  CHECK_NOTHROW(model.attach(adapter));
}

TEST_CASE("check() reports exactly the problems and message attach throws") {
  TinyModel tiny(4, 16);
  Model model(Model::Options{.names = {}, .base = "host-model"});
  test::register_all(model, tiny);
  // Wrong widths in block 0, a module with no layer, a rank mismatch between A and B is not
  // possible here; and the target rule selecting a layer the adapter lacks.
  std::vector<ModuleSpec> specs = tiny.specs(4, 2);
  specs[0].in = 32;
  specs.push_back({"model.layers.9.self_attn.q_proj", 16, 16, 4});
  AdapterInfo info;
  info.base_model = "other-model";
  info.target.names = {"q_proj", "v_proj"};
  const auto adapter = test::make_adapter("wrong", specs, 7, info);

  const CheckReport r = check(*adapter, describe(model));
  REQUIRE_FALSE(r.ok());
  try {
    model.attach(adapter);
    FAIL("attach accepted what check refused");
  } catch (const Error& e) {
    REQUIRE(e.problems().size() == r.problems.size());
    for (std::size_t i = 0; i < r.problems.size(); ++i) {
      INFO("problem " << i);
      CHECK(e.problems()[i].code == r.problems[i].code);
      CHECK(e.problems()[i].context.module == r.problems[i].context.module);
      CHECK(e.problems()[i].detail == r.problems[i].detail);
    }
    CHECK(e.diagnosis() == r.diagnosis);
    CHECK(std::string(e.what()) == r.message);
  }
  CHECK(model.list().empty());  // nothing was attached
}

TEST_CASE("check() does not impose a host's rank limit: the host chooses max_rank") {
  const BaseModel base{
      .name = "b", .modules = {BaseModule{.name = "proj", .in_features = 8, .out_features = 8}}};
  const auto adapter = test::make_adapter("big", {{"proj", 8, 8, 300}}, 3);
  const CheckReport r = check(*adapter, base);
  INFO(r.message);
  CHECK(r.ok());
}

TEST_CASE("check() of a base with a module named twice reports it, never throws") {
  const BaseModel base{
      .name = "b",
      .modules = {BaseModule{.name = "proj", .in_features = 8, .out_features = 8},
                  BaseModule{.name = "proj", .in_features = 8, .out_features = 8}}};
  const auto adapter = test::make_adapter("a", {{"proj", 8, 8, 2}}, 3);
  const CheckReport r = check(*adapter, base);
  REQUIRE_FALSE(r.ok());
  CHECK(r.problems.front().code == Errc::bad_config);
  CHECK_THAT(r.message, Catch::Contains("already registered"));
}
