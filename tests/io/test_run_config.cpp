// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Run configuration files (read_run_config) and attach_resolved: all adapters or none, and no
// adapter means the base, bit for bit.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "files.hpp"
#include "lorakit/lorakit.hpp"

using Catch::Matchers::Contains;
using lorakit::AdapterChoice;
using lorakit::Errc;
using lorakit::Error;
using lorakit::LayerRange;
using lorakit::MissingLayers;
using lorakit::Model;
using lorakit::ResolvedAdapter;
using lorakit::RowMatrix;
using lorakit::RunConfig;
using lorakit::io::attach_resolved;
using lorakit::io::read_run_config;
using namespace lorakit::test;
namespace fs = std::filesystem;

namespace {

// The Error read_run_config throws for a file holding `text`; fails the test when it throws none.
Error read_error(const TempDir& tmp, const std::string& text) {
  write_text(tmp / "run.json", text);
  try {
    (void)read_run_config(tmp / "run.json");
  } catch (const Error& e) {
    return e;
  }
  FAIL("read_run_config threw no error for " << text);
  throw;  // not reached
}

// Whether two matrices hold the same bits.
bool same_bits(const RowMatrix& a, const RowMatrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)) == 0;
}

// The output of every layer of m on x.
std::vector<RowMatrix> outputs(const TinyModel& m, const RowMatrix& x) {
  std::vector<RowMatrix> out;
  for (std::size_t k = 0; k < m.names.size(); ++k) out.push_back(run(m, k, x));
  return out;
}

// The bare DenseLinear output of layer k of m on x, without any LoRALinear around it.
RowMatrix base_output(const TinyModel& m, std::size_t k, const RowMatrix& x) {
  const lorakit::DenseLinear<const float> base(m.weights[k].data(), m.d, m.weights[k].rows());
  RowMatrix y(x.rows(), m.weights[k].rows());
  base.forward(lorakit::make_cview(x), lorakit::make_view(y));
  return y;
}

}  // namespace

TEST_CASE("read_run_config: reads every key of the schema", "[io][run_config]") {
  TempDir tmp;
  write_text(tmp / "run.json", R"({
    "adapters": [
      {"path": "adapters/code", "name": "code", "scale": 0.5, "active": false,
       "layers": [0, 16], "modules": ["q_proj", "v_proj"], "missing_layers": "skip"},
      {"path": "/abs/style.gguf"}
    ],
    "scale": 2,
    "missing_layers": "refuse"
  })");
  const RunConfig c = read_run_config(tmp / "run.json");
  REQUIRE(c.adapters.has_value());
  REQUIRE(c.adapters->size() == 2);
  const AdapterChoice& a = c.adapters->at(0);
  CHECK(a.path == (tmp.path() / "adapters/code").lexically_normal().string());
  CHECK(a.name == "code");
  CHECK(a.scale == 0.5f);
  CHECK(a.active == false);
  CHECK(a.layers == LayerRange{0, 16});
  CHECK(a.modules == std::vector<std::string>{"q_proj", "v_proj"});
  CHECK(a.missing_layers == MissingLayers::skip);
  const AdapterChoice& b = c.adapters->at(1);
  CHECK(b.path == "/abs/style.gguf");  // absolute: kept
  CHECK(b.name.empty());
  CHECK_FALSE(b.scale.has_value());
  CHECK_FALSE(b.active.has_value());
  CHECK_FALSE(b.layers.has_value());
  CHECK_FALSE(b.modules.has_value());
  CHECK_FALSE(b.missing_layers.has_value());
  CHECK(c.scale == 2.0f);
  CHECK(c.missing_layers == MissingLayers::refuse);
}

TEST_CASE("read_run_config: relative paths are taken from the config file's folder",
          "[io][run_config]") {
  TempDir tmp;
  fs::create_directories(tmp / "model");
  write_text(tmp / "model" / "run.json",
             R"({"adapters": [{"path": "a"}, {"path": "./x/../b.gguf"}, {"path": "../c"}]})");
  const RunConfig c = read_run_config(tmp / "model" / "run.json");
  REQUIRE(c.adapters->size() == 3);
  CHECK(c.adapters->at(0).path == (tmp.path() / "model" / "a").string());
  CHECK(c.adapters->at(1).path == (tmp.path() / "model" / "b.gguf").string());
  CHECK(c.adapters->at(2).path == (tmp.path() / "c").string());
}

TEST_CASE("read_run_config: no adapters key configures none, an empty list configures no adapter",
          "[io][run_config]") {
  TempDir tmp;
  write_text(tmp / "run.json", R"({"scale": 0.5})");
  const RunConfig none = read_run_config(tmp / "run.json");
  CHECK_FALSE(none.adapters.has_value());
  CHECK(none.scale == 0.5f);
  write_text(tmp / "run.json", R"({"adapters": null})");
  CHECK_FALSE(read_run_config(tmp / "run.json").adapters.has_value());
  write_text(tmp / "run.json", R"({"adapters": []})");
  const RunConfig empty = read_run_config(tmp / "run.json");
  REQUIRE(empty.adapters.has_value());
  CHECK(empty.adapters->empty());
}

TEST_CASE("read_run_config: text that is not a JSON object is refused naming the file",
          "[io][run_config]") {
  TempDir tmp;
  for (const char* text : {"{\"adapters\": [", "[1, 2]", "", "\"adapters\""}) {
    INFO(text);
    const Error e = read_error(tmp, text);
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(e.what(), Contains((tmp / "run.json").string()));
  }
}

TEST_CASE("read_run_config: a value of the wrong type is refused naming the file and the key",
          "[io][run_config]") {
  TempDir tmp;
  struct Case {
    const char* text;
    const char* key;
  };
  for (const Case& c : {
           Case{R"({"adapters": {"path": "a"}})", "key 'adapters': must be a list"},
           Case{R"({"adapters": ["a"]})", "key 'adapters[0]': must be an object"},
           Case{R"({"adapters": [{"path": 3}]})", "key 'adapters[0].path': must be a string"},
           Case{R"({"adapters": [{}]})", "key 'adapters[0].path': is required"},
           Case{R"({"adapters": [{"path": ""}]})", "key 'adapters[0].path': is empty"},
           Case{R"({"adapters": [{"path": "a", "name": 1}]})", "key 'adapters[0].name'"},
           Case{R"({"adapters": [{"path": "a", "name": ""}]})", "key 'adapters[0].name': is empty"},
           Case{R"({"adapters": [{"path": "a", "scale": "0.5"}]})",
                "key 'adapters[0].scale': must be a number"},
           Case{R"({"adapters": [{"path": "a", "scale": 1e300}]})",
                "key 'adapters[0].scale': must be a finite number a float can hold"},
           Case{R"({"adapters": [{"path": "a", "active": 1}]})",
                "key 'adapters[0].active': must be true or false"},
           Case{R"({"adapters": [{"path": "a", "layers": 3}]})", "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "layers": [0]}]})", "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "layers": [4, 2]}]})", "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "layers": [-1, 2]}]})", "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "layers": [0, 2.5]}]})", "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "layers": [0, 99999999999]}]})",
                "key 'adapters[0].layers'"},
           Case{R"({"adapters": [{"path": "a", "modules": "q_proj"}]})",
                "key 'adapters[0].modules': must be a list of module names"},
           Case{R"({"adapters": [{"path": "a", "modules": ["q_proj", 2]}]})",
                "key 'adapters[0].modules'"},
           Case{R"({"adapters": [{"path": "a", "modules": [""]}]})", "key 'adapters[0].modules'"},
           Case{R"({"adapters": [{"path": "a", "missing_layers": "ignore"}]})",
                "key 'adapters[0].missing_layers': must be \"refuse\" or \"skip\", not \"ignore\""},
           Case{R"({"scale": true})", "key 'scale': must be a number"},
           Case{R"({"missing_layers": false})", "key 'missing_layers': must be a string"},
       }) {
    INFO(c.text);
    const Error e = read_error(tmp, c.text);
    CHECK(e.code() == Errc::bad_config);
    CHECK(e.problems().size() == 1);
    CHECK_THAT(e.what(), Contains((tmp / "run.json").string()) && Contains(c.key));
  }
}

TEST_CASE("read_run_config: unknown keys are refused, every problem in one error",
          "[io][run_config]") {
  TempDir tmp;
  const Error e =
      read_error(tmp, R"({"adapter": [], "adapters": [{"path": "a", "scael": 0.5}, {"path": 1}]})");
  CHECK(e.code() == Errc::bad_config);
  REQUIRE(e.problems().size() == 3);
  CHECK_THAT(e.what(), Contains("key 'adapter': is not a run configuration key"));
  CHECK_THAT(e.what(), Contains("key 'adapters[0].scael': is not a run configuration key"));
  CHECK_THAT(e.what(), Contains("key 'adapters[1].path': must be a string"));
}

TEST_CASE("read_run_config: a missing file, an empty path and an oversized file are refused",
          "[io][run_config]") {
  TempDir tmp;
  CHECK_THROWS_MATCHES(
      read_run_config(tmp / "absent.json"), Error,
      Catch::Matchers::Predicate<Error>([](const Error& e) { return e.code() == Errc::io; }));
  CHECK_THROWS_MATCHES(
      read_run_config(""), Error,
      Catch::Matchers::Predicate<Error>([](const Error& e) { return e.code() == Errc::io; }));
  write_text(tmp / "run.json", R"({"adapters": []})");
  lorakit::io::ReadLimits limits;
  limits.max_config_bytes = 8;
  CHECK_THROWS_MATCHES(read_run_config(tmp / "run.json", limits), Error,
                       Catch::Matchers::Predicate<Error>(
                           [](const Error& e) { return e.code() == Errc::limit_exceeded; }));
}

TEST_CASE("same_file: paths to one file match however they are spelled", "[io][run_config]") {
  TempDir tmp;
  fs::create_directories(tmp / "a");
  write_text(tmp / "a" / "x.gguf", "GGUF");
  CHECK(lorakit::io::same_file((tmp / "a" / "x.gguf").string(),
                               (tmp / "a" / ".." / "a" / "x.gguf").string()));
  CHECK_FALSE(lorakit::io::same_file((tmp / "a" / "x.gguf").string(), (tmp / "a").string()));
  CHECK(lorakit::io::same_file((tmp / "absent").string(), (tmp / "." / "absent").string()));
}

TEST_CASE("attach_resolved: a configured folder with an explicit override attaches every adapter",
          "[io][run_config]") {
  TinyModel m(2, 16);
  TempDir tmp;
  const auto code = make_adapter("code", m.specs(4), 11);
  const auto style = make_adapter("style", m.specs(2), 23);
  lorakit::io::save_peft(*code, tmp / "adapters" / "code");
  lorakit::io::save_mlx(*style, tmp / "adapters" / "style");
  write_text(tmp / "run.json", R"({"adapters": [
      {"path": "adapters/code", "scale": 0.5},
      {"path": "adapters/style", "name": "style", "scale": 0.25, "modules": ["q_proj"]}]})");
  const RunConfig configured = read_run_config(tmp / "run.json");

  // --lora adapters/code --lora-scaled adapters/style 0.75, from the folder as working dir.
  RunConfig cli;
  cli.adapters = std::vector<AdapterChoice>{
      {.path = (tmp / "adapters" / "code").string()},
      {.path = (tmp / "adapters" / "." / "style").string(), .scale = 0.75f}};
  const std::vector<ResolvedAdapter> resolved =
      lorakit::resolve(configured, cli, lorakit::io::same_file);
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0].scale == 0.5f);   // the folder's, the command line gives none
  CHECK(resolved[1].scale == 0.75f);  // the command line's
  CHECK(resolved[1].modules == std::vector<std::string>{"q_proj"});

  Model model;
  register_all(model, m);
  const std::vector<lorakit::AdapterId> ids = attach_resolved(model, resolved);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0] == model.id("code"));
  CHECK(ids[1] == model.id("style"));
  const auto list = model.list();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "code");
  CHECK(list[0].scale == 0.5f);
  CHECK(list[0].modules == 4);
  CHECK(list[1].name == "style");
  CHECK(list[1].scale == 0.75f);
  CHECK(list[1].modules == 2);  // q_proj of both blocks only

  // The same adapters attached by hand give the same bits: the same operations in the same order.
  TinyModel by_hand(2, 16);
  Model reference;
  register_all(reference, by_hand);
  reference.attach(lorakit::io::load_adapter(tmp / "adapters" / "code"),
                   {.name = "code", .scale = 0.5f});
  reference.attach(resolved[1].narrow(lorakit::io::load_adapter(tmp / "adapters" / "style")),
                   {.name = "style", .scale = 0.75f});
  const RowMatrix x = random_matrix(3, 16, 5);
  const std::vector<RowMatrix> got = outputs(m, x);
  const std::vector<RowMatrix> want = outputs(by_hand, x);
  for (std::size_t k = 0; k < got.size(); ++k) {
    INFO(m.names[k]);
    CHECK(same_bits(got[k], want[k]));
  }
}

TEST_CASE("attach_resolved: when an adapter fails to load, none is attached", "[io][run_config]") {
  TinyModel m(2, 16);
  TempDir tmp;
  lorakit::io::save_peft(*make_adapter("a", m.specs(4), 1), tmp / "a");
  lorakit::io::save_peft(*make_adapter("b", m.specs(4), 2), tmp / "b");
  Model model;
  register_all(model, m);
  const RowMatrix x = random_matrix(2, 16, 9);
  const std::vector<RowMatrix> before = outputs(m, x);
  const std::uint64_t generation = model.generation();

  const std::vector<ResolvedAdapter> resolved = lorakit::resolve(
      RunConfig{},
      RunConfig{.adapters = std::vector<AdapterChoice>{{.path = (tmp / "a").string()},
                                                       {.path = (tmp / "b").string()},
                                                       {.path = (tmp / "absent").string()},
                                                       {.path = (tmp / "also-absent").string()}}});
  try {
    (void)attach_resolved(model, resolved);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::io);
    CHECK(e.problems().size() == 2);  // both missing adapters, in one error
    CHECK_THAT(e.what(), Contains((tmp / "absent").string()));
    CHECK_THAT(e.what(), Contains((tmp / "also-absent").string()));
  }
  CHECK(model.list().empty());
  CHECK(model.generation() == generation);  // nothing was published
  const std::vector<RowMatrix> after = outputs(m, x);
  for (std::size_t k = 0; k < after.size(); ++k) CHECK(same_bits(after[k], before[k]));
}

TEST_CASE("attach_resolved: when the third adapter is refused, the first two are detached again",
          "[io][run_config]") {
  TinyModel m(2, 16);
  TinyModel wide(2, 32);  // an adapter for another base: refused by Model::attach
  TempDir tmp;
  lorakit::io::save_peft(*make_adapter("a", m.specs(4), 1), tmp / "a");
  lorakit::io::save_mlx(*make_adapter("b", m.specs(2), 2), tmp / "b");
  lorakit::io::save_peft(*make_adapter("c", wide.specs(4), 3), tmp / "c");
  Model model;
  register_all(model, m);
  // An adapter attached before stays as it was.
  model.attach(make_adapter("kept", m.specs(2), 4), {.scale = 0.5f});
  const RowMatrix x = random_matrix(2, 16, 9);
  const std::vector<RowMatrix> before = outputs(m, x);
  const std::uint64_t identity = model.identity();

  RunConfig cli;
  cli.adapters = std::vector<AdapterChoice>{{.path = (tmp / "a").string()},
                                            {.path = (tmp / "b").string()},
                                            {.path = (tmp / "c").string()}};
  const std::vector<ResolvedAdapter> resolved = lorakit::resolve(RunConfig{}, cli);
  try {
    (void)attach_resolved(model, resolved);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::shape_mismatch);
    CHECK_THAT(e.what(), Contains("adapter 'c'"));
  }
  REQUIRE(model.list().size() == 1);
  CHECK(model.list().front().name == "kept");
  CHECK(model.list().front().scale == 0.5f);
  CHECK(model.id("a") == lorakit::kNoAdapter);
  CHECK(model.id("b") == lorakit::kNoAdapter);
  CHECK(model.identity() == identity);
  const std::vector<RowMatrix> after = outputs(m, x);
  for (std::size_t k = 0; k < after.size(); ++k) CHECK(same_bits(after[k], before[k]));
}

TEST_CASE("attach_resolved: names repeated or already attached are refused before any attach",
          "[io][run_config]") {
  TinyModel m(1, 16);
  TempDir tmp;
  lorakit::io::save_peft(*make_adapter("a", m.specs(4), 1), tmp / "one" / "same");
  lorakit::io::save_peft(*make_adapter("b", m.specs(4), 2), tmp / "two" / "same");
  lorakit::io::save_peft(*make_adapter("c", m.specs(4), 3), tmp / "taken");
  Model model;
  register_all(model, m);
  model.attach(make_adapter("taken", m.specs(2), 4));
  const std::uint64_t generation = model.generation();

  // Two different folders of one name: the adapters would attach under the same name.
  RunConfig cli;
  cli.adapters = std::vector<AdapterChoice>{{.path = (tmp / "one" / "same").string()},
                                            {.path = (tmp / "two" / "same").string()},
                                            {.path = (tmp / "taken").string()}};
  try {
    (void)attach_resolved(model, lorakit::resolve(RunConfig{}, cli));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK(e.problems().size() == 2);
    CHECK_THAT(e.what(), Contains("adapters 0 and 1 would both attach as 'same'"));
    CHECK_THAT(e.what(), Contains("adapter 'taken' is attached already"));
  }
  CHECK(model.generation() == generation);
  CHECK(model.list().size() == 1);
}

TEST_CASE("attach_resolved: a target override that keeps no module is refused",
          "[io][run_config]") {
  TinyModel m(2, 16);
  TempDir tmp;
  lorakit::io::save_peft(*make_adapter("a", m.specs(4), 1), tmp / "a");
  Model model;
  register_all(model, m);
  ResolvedAdapter r;
  r.path = (tmp / "a").string();
  r.modules = {"o_proj"};
  try {
    (void)attach_resolved(model, std::vector<ResolvedAdapter>{r});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(e.what(), Contains("target override (modules o_proj) keeps none of its 4 modules"));
  }
  CHECK(model.list().empty());
}

TEST_CASE(
    "attach_resolved: with no adapter configured or given the model stays its base bit "
    "for bit",
    "[io][run_config]") {
  TinyModel m(2, 16);
  TempDir tmp;
  write_text(tmp / "run.json", R"({"scale": 0.5, "missing_layers": "skip"})");
  Model model;
  register_all(model, m);
  const RowMatrix x = random_matrix(5, 16, 17);
  const std::vector<RowMatrix> before = outputs(m, x);
  const std::uint64_t generation = model.generation();

  const std::vector<ResolvedAdapter> resolved =
      lorakit::resolve(read_run_config(tmp / "run.json"), RunConfig{});
  REQUIRE(resolved.empty());
  CHECK(attach_resolved(model, resolved).empty());

  CHECK(model.list().empty());
  CHECK(model.generation() == generation);  // not even a new generation was published
  CHECK(model.identity() == 0);
  // The layers' output is the bare DenseLinear's, bit for bit: forward with nothing attached
  // is the base's forward and nothing else.
  const std::vector<RowMatrix> after = outputs(m, x);
  for (std::size_t k = 0; k < after.size(); ++k) {
    INFO(m.names[k]);
    CHECK(same_bits(after[k], before[k]));
    CHECK(same_bits(after[k], base_output(m, k, x)));
  }
}
