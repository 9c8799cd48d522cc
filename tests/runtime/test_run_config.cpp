// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// resolve(): explicit arguments beat a configuration, which beats the library defaults; one
// test case per rule.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "lorakit/runtime.hpp"

using Catch::Matchers::Contains;
using lorakit::AdapterChoice;
using lorakit::Errc;
using lorakit::Error;
using lorakit::LayerRange;
using lorakit::MissingLayers;
using lorakit::resolve;
using lorakit::ResolvedAdapter;
using lorakit::RunConfig;

namespace {

// The Error resolve() throws for these sources; fails the test when it throws none.
Error resolve_error(const RunConfig& configured, const RunConfig& explicit_args) {
  try {
    (void)resolve(configured, explicit_args);
  } catch (const Error& e) {
    return e;
  }
  FAIL("resolve() threw no error");
  throw;  // not reached
}

RunConfig with(std::vector<AdapterChoice> adapters) {
  RunConfig c;
  c.adapters = std::move(adapters);
  return c;
}

}  // namespace

TEST_CASE("resolve: nothing configured and nothing explicit means no adapter",
          "[runtime][run_config]") {
  CHECK(resolve(RunConfig{}, RunConfig{}).empty());
  // Run-wide values without adapters add none either.
  RunConfig defaults;
  defaults.scale = 0.5f;
  defaults.missing_layers = MissingLayers::skip;
  CHECK(resolve(defaults, defaults).empty());
}

TEST_CASE("resolve: without an explicit list the configured adapters are used, in order",
          "[runtime][run_config]") {
  const RunConfig configured =
      with({{.path = "/m/code", .name = "code", .scale = 0.5f}, {.path = "/m/style"}});
  const std::vector<ResolvedAdapter> r = resolve(configured, RunConfig{});
  REQUIRE(r.size() == 2);
  CHECK(r[0].path == "/m/code");
  CHECK(r[0].name == "code");
  CHECK(r[0].scale == 0.5f);
  CHECK(r[1].path == "/m/style");
  CHECK(r[1].name.empty());  // attached under the adapter's own name
}

TEST_CASE("resolve: fields nobody gives take the library defaults", "[runtime][run_config]") {
  const std::vector<ResolvedAdapter> r = resolve(with({{.path = "a.gguf"}}), RunConfig{});
  REQUIRE(r.size() == 1);
  CHECK(r[0].scale == 1.0f);
  CHECK(r[0].active);
  CHECK(r[0].missing_layers == MissingLayers::refuse);
  CHECK_FALSE(r[0].layers.has_value());
  CHECK(r[0].modules.empty());
  CHECK_FALSE(r[0].narrows());
  const lorakit::Model::AttachOptions o = r[0].attach_options();
  const lorakit::Model::AttachOptions library;  // what Model::attach does by default
  CHECK(o.scale == library.scale);
  CHECK(o.active == library.active);
  CHECK(o.missing_layers == library.missing_layers);
}

TEST_CASE("resolve: an explicit adapter list replaces the configured list as a whole",
          "[runtime][run_config]") {
  const RunConfig configured = with(
      {{.path = "/m/code", .name = "code", .scale = 0.5f}, {.path = "/m/style", .name = "style"}});
  const RunConfig explicit_args = with({{.path = "/cli/other.gguf"}});
  const std::vector<ResolvedAdapter> r = resolve(configured, explicit_args);
  REQUIRE(r.size() == 1);
  CHECK(r[0].path == "/cli/other.gguf");
  CHECK(r[0].name.empty());
  CHECK(r[0].scale == 1.0f);  // nothing of the configured entries leaks in
}

TEST_CASE("resolve: an explicit empty list means no adapter even when some are configured",
          "[runtime][run_config]") {
  const RunConfig configured = with({{.path = "/m/code", .name = "code"}});
  CHECK(resolve(configured, with({})).empty());
}

TEST_CASE("resolve: an explicit entry overrides the fields of the configured entry of its path",
          "[runtime][run_config]") {
  const RunConfig configured = with({{.path = "/m/code",
                                      .name = "code",
                                      .scale = 0.5f,
                                      .active = false,
                                      .layers = LayerRange{0, 16},
                                      .modules = std::vector<std::string>{"q_proj"}}});
  // --lora-scaled /m/code 0.8: the scale is explicit, the rest is the folder's.
  const std::vector<ResolvedAdapter> r =
      resolve(configured, with({{.path = "/m/code", .scale = 0.8f}}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].scale == 0.8f);
  CHECK(r[0].name == "code");
  CHECK_FALSE(r[0].active);
  CHECK(r[0].layers == LayerRange{0, 16});
  CHECK(r[0].modules == std::vector<std::string>{"q_proj"});

  // An explicit target override and active state beat the configured ones too; an engaged
  // empty module list clears the configured filter.
  const std::vector<ResolvedAdapter> r2 =
      resolve(configured, with({{.path = "/m/code",
                                 .active = true,
                                 .layers = LayerRange{4, 8},
                                 .modules = std::vector<std::string>{}}}));
  REQUIRE(r2.size() == 1);
  CHECK(r2[0].active);
  CHECK(r2[0].layers == LayerRange{4, 8});
  CHECK(r2[0].modules.empty());
  CHECK(r2[0].scale == 0.5f);
}

TEST_CASE("resolve: an explicit entry that gives a name refines the configured entry of that name",
          "[runtime][run_config]") {
  const RunConfig configured = with({{.path = "/m/code", .name = "code", .scale = 0.5f},
                                     {.path = "/m/style", .name = "style", .scale = 0.25f}});
  // A name alone: the configured path and fields, with the explicit scale.
  const std::vector<ResolvedAdapter> r =
      resolve(configured, with({{.name = "style", .scale = 2.0f}}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].path == "/m/style");
  CHECK(r[0].name == "style");
  CHECK(r[0].scale == 2.0f);
  // A name and another path: the name decides the match, the explicit path wins.
  const std::vector<ResolvedAdapter> r2 =
      resolve(configured, with({{.path = "/cli/code-v2", .name = "code"}}));
  REQUIRE(r2.size() == 1);
  CHECK(r2[0].path == "/cli/code-v2");
  CHECK(r2[0].scale == 0.5f);
}

TEST_CASE("resolve: explicit run-wide values beat configured ones, entries beat run-wide values",
          "[runtime][run_config]") {
  RunConfig configured = with({{.path = "/m/a"}, {.path = "/m/b", .scale = 0.25f}});
  configured.scale = 0.5f;
  configured.missing_layers = MissingLayers::skip;

  // Configured only: the entry's scale, else the configured run-wide one.
  std::vector<ResolvedAdapter> r = resolve(configured, RunConfig{});
  REQUIRE(r.size() == 2);
  CHECK(r[0].scale == 0.5f);
  CHECK(r[1].scale == 0.25f);
  CHECK(r[0].missing_layers == MissingLayers::skip);

  // An explicit run-wide value beats everything configured, entries included.
  RunConfig explicit_args;
  explicit_args.scale = 2.0f;
  explicit_args.missing_layers = MissingLayers::refuse;
  r = resolve(configured, explicit_args);
  REQUIRE(r.size() == 2);
  CHECK(r[0].scale == 2.0f);
  CHECK(r[1].scale == 2.0f);
  CHECK(r[1].missing_layers == MissingLayers::refuse);

  // An explicit entry beats the explicit run-wide value.
  explicit_args.adapters = std::vector<AdapterChoice>{
      {.path = "/m/a", .scale = 3.0f, .missing_layers = MissingLayers::skip}, {.path = "/m/b"}};
  r = resolve(configured, explicit_args);
  REQUIRE(r.size() == 2);
  CHECK(r[0].scale == 3.0f);
  CHECK(r[0].missing_layers == MissingLayers::skip);
  CHECK(r[1].scale == 2.0f);
}

TEST_CASE("resolve: paths match through the host's SamePath", "[runtime][run_config]") {
  const RunConfig configured = with({{.path = "/models/m/adapters/code", .scale = 0.5f}});
  const RunConfig explicit_args = with({{.path = "adapters/code", .active = false}});
  // Compared as strings the two paths differ: nothing of the configured entry is used.
  std::vector<ResolvedAdapter> r = resolve(configured, explicit_args);
  REQUIRE(r.size() == 1);
  CHECK(r[0].scale == 1.0f);
  // A host that knows its working directory is /models/m says they are one.
  const lorakit::SamePath same = [](std::string_view a, std::string_view b) {
    const auto full = [](std::string_view p) {
      return p.starts_with('/') ? std::string(p) : "/models/m/" + std::string(p);
    };
    return full(a) == full(b);
  };
  r = resolve(configured, explicit_args, same);
  REQUIRE(r.size() == 1);
  CHECK(r[0].path == "adapters/code");
  CHECK(r[0].scale == 0.5f);
  CHECK_FALSE(r[0].active);
}

TEST_CASE("resolve: a non-finite scale is refused naming the entry", "[runtime][run_config]") {
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const Error e =
        resolve_error(RunConfig{}, with({{.path = "/m/a"}, {.path = "b.gguf", .scale = bad}}));
    CHECK(e.code() == Errc::bad_config);
    CHECK(e.problems().size() == 1);
    CHECK_THAT(e.what(), Contains("explicit adapter 1 (path 'b.gguf')") &&
                             Contains("non-finite scale") && Contains("adapters[1].scale"));
  }
  // A run-wide one too, reported on each adapter it reaches.
  RunConfig configured = with({{.path = "/m/a"}});
  configured.scale = std::numeric_limits<float>::infinity();
  const Error e = resolve_error(configured, RunConfig{});
  CHECK_THAT(e.what(), Contains("configured adapter 0 (path '/m/a') has a non-finite scale"));
  // An explicit finite scale overrides the bad configured one.
  RunConfig explicit_args;
  explicit_args.scale = 1.0f;
  CHECK(resolve(configured, explicit_args).size() == 1);
}

TEST_CASE("resolve: two adapters under one name are refused naming both", "[runtime][run_config]") {
  const Error e = resolve_error(
      with({{.path = "/m/a", .name = "code"}, {.path = "/m/b", .name = "code"}}), RunConfig{});
  CHECK(e.code() == Errc::bad_config);
  CHECK_THAT(e.what(), Contains("configured adapter 1 'code' (path '/m/b') has the name of "
                                "configured adapter 0 'code' (path '/m/a')"));
  // The same path twice without a name would attach twice under the adapter's own name.
  const Error e2 = resolve_error(RunConfig{}, with({{.path = "a.gguf"}, {.path = "a.gguf"}}));
  CHECK_THAT(e2.what(), Contains("has the path and no name of explicit adapter 0"));
  // The same path under two names is two adapters.
  CHECK(
      resolve(RunConfig{}, with({{.path = "a.gguf", .name = "x"}, {.path = "a.gguf", .name = "y"}}))
          .size() == 2);
}

TEST_CASE("resolve: an adapter without a path is refused naming the entry",
          "[runtime][run_config]") {
  const Error e = resolve_error(RunConfig{}, with({{.path = "/m/a"}, {.name = "lonely"}}));
  CHECK(e.code() == Errc::bad_config);
  CHECK_THAT(e.what(), Contains("explicit adapter 1 'lonely' has no path"));
  CHECK_THAT(e.what(), Contains("adapters[1].path"));
}

TEST_CASE("resolve: a bad target override is refused naming the entry", "[runtime][run_config]") {
  const Error e = resolve_error(
      RunConfig{}, with({{.path = "/m/a", .layers = LayerRange{4, 4}},
                         {.path = "/m/b", .layers = LayerRange{-1, 3}},
                         {.path = "/m/c", .modules = std::vector<std::string>{"q_proj", ""}}}));
  REQUIRE(e.problems().size() == 3);
  CHECK_THAT(e.what(), Contains("explicit adapter 0 (path '/m/a'): layers [4, 4) is not a range"));
  CHECK_THAT(e.what(), Contains("explicit adapter 1 (path '/m/b'): layers [-1, 3)"));
  CHECK_THAT(e.what(), Contains("explicit adapter 2 (path '/m/c'): an empty module name"));
}

TEST_CASE("resolve: every problem of every entry comes in one error", "[runtime][run_config]") {
  const Error e =
      resolve_error(RunConfig{}, with({{.scale = std::numeric_limits<float>::quiet_NaN()},
                                       {.path = "/m/b", .name = "x"},
                                       {.path = "/m/c", .name = "x"}}));
  CHECK(e.problems().size() == 3);  // no path, non-finite scale, duplicate name
}

TEST_CASE("resolve: a path two configured entries share is ambiguous for an explicit entry",
          "[runtime][run_config]") {
  const RunConfig configured =
      with({{.path = "/m/a", .name = "x", .scale = 0.5f}, {.path = "/m/a", .name = "y"}});
  const Error e = resolve_error(configured, with({{.path = "/m/a", .scale = 2.0f}}));
  CHECK_THAT(e.what(), Contains("matches configured adapters 0 and 1"));
  // A name resolves it.
  const std::vector<ResolvedAdapter> r = resolve(configured, with({{.name = "y", .scale = 2.0f}}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].path == "/m/a");
  CHECK(r[0].scale == 2.0f);
}

TEST_CASE("resolve: a target override narrows the adapter to the layers and modules it keeps",
          "[runtime][run_config]") {
  lorakit::test::TinyModel m(4, 16);
  lorakit::AdapterInfo info;
  info.target.names = {"q_proj", "v_proj"};
  const auto adapter = lorakit::test::make_adapter("code", m.specs(4), 3, info);
  REQUIRE(adapter->modules().size() == 8);

  ResolvedAdapter r;
  r.path = "code";
  CHECK(r.narrow(adapter) == adapter);  // nothing left out: the adapter itself

  r.layers = LayerRange{1, 3};
  r.modules = {"q_proj"};
  CHECK(r.keeps("model.layers.1.self_attn.q_proj"));
  CHECK(r.keeps("model.layers.2.self_attn.q_proj"));
  CHECK_FALSE(r.keeps("model.layers.3.self_attn.q_proj"));
  CHECK_FALSE(r.keeps("model.layers.1.self_attn.v_proj"));
  CHECK_FALSE(r.keeps("model.layers.1.self_attn.xq_proj"));  // whole components only
  const auto narrowed = r.narrow(adapter);
  REQUIRE(narrowed->modules().size() == 2);
  CHECK(narrowed->find("model.layers.1.self_attn.q_proj")->a.bytes.data() ==
        adapter->find("model.layers.1.self_attn.q_proj")->a.bytes.data());  // shared, not copied
  CHECK(narrowed->info().target.names.empty());  // the override is the rule now
  CHECK_THAT(narrowed->info().notes.back(),
             Contains("kept 2 of 8 modules (layers [1, 3), modules q_proj)"));

  // The narrowed adapter attaches to the full model: the file's rule no longer asks for the
  // layers the override leaves out.
  lorakit::Model model;
  lorakit::test::register_all(model, m);
  model.attach(narrowed, r.attach_options());
  REQUIRE(model.list().size() == 1);
  CHECK(model.list().front().modules == 2);
}
