// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// mlx-lm adapters: the real file, round trips, conversion from PEFT, refusals.
#include <catch2/catch.hpp>
#include <string>

#include "files.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DType;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Index;
using lorakit::Shape;
using lorakit::io::load_mlx;
using namespace lorakit::test;

namespace {

void write_mlx(const std::filesystem::path& dir, const std::string& config,
               const std::vector<TensorValues>& tensors) {
  std::filesystem::create_directories(dir);
  write_text(dir / "adapter_config.json", config);
  write_tensors(dir / "adapters.safetensors", tensors);
}

const char* kConfig = R"({"fine_tune_type":"lora","num_layers":2,
  "lora_parameters":{"rank":2,"scale":10.0,"dropout":0.0}})";

Error load_error(const std::filesystem::path& dir) {
  try {
    (void)load_mlx(dir);
  } catch (const Error& e) {
    return e;
  }
  FAIL("load_mlx did not throw");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("mlx-lm: the real adapter loads in place with scale as the multiplier",
          "[io][mlx][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto dir = fixtures_dir() / "mlx/mlx-qwen25-05b";
  const auto adapter = load_mlx(dir);
  CHECK(adapter->info().format == lorakit::AdapterFormat::mlx);
  CHECK(adapter->info().scaling == lorakit::Scaling::direct);
  CHECK(adapter->info().target.last_layers == 4);
  REQUIRE(adapter->modules().size() == 8);  // layers 20-23, q_proj and v_proj
  CHECK(adapter->find("model.layers.19.self_attn.q_proj") == nullptr);
  const auto* q = adapter->find("model.layers.20.self_attn.q_proj");
  const auto* v = adapter->find("model.layers.23.self_attn.v_proj");
  REQUIRE(q != nullptr);
  REQUIRE(v != nullptr);
  CHECK(q->a.shape == Shape{896, 8});
  CHECK(q->b.shape == Shape{8, 896});
  CHECK(v->b.shape == Shape{8, 128});
  CHECK(adapter->scale(*q) == 10.0f);  // lora_parameters.scale, not alpha / rank (= 2)
  // Zero copy: the tensors view the mapped file itself.
  const auto file = lorakit::io::SafetensorsFile::open(dir / "adapters.safetensors");
  const auto* raw = file.find("model.layers.20.self_attn.q_proj.lora_a");
  REQUIRE(raw != nullptr);
  const auto* mapped = static_cast<const lorakit::io::FileBytes*>(adapter->storage().front().get());
  CHECK(q->a.bytes.data() >= mapped->bytes().data());
  CHECK(q->a.bytes.data() < mapped->bytes().data() + mapped->bytes().size());
  CHECK(std::equal(raw->bytes.begin(), raw->bytes.end(), q->a.bytes.begin(), q->a.bytes.end()));
}

TEST_CASE("mlx-lm: save_mlx writes what load_mlx reads back", "[io][mlx]") {
  TempDir tmp;
  write_mlx(tmp / "src", kConfig,
            {{"model.layers.0.self_attn.q_proj.lora_a", DType::f32, Shape{6, 2}, values(12, 1)},
             {"model.layers.0.self_attn.q_proj.lora_b", DType::f32, Shape{2, 5}, values(10, 2)},
             {"model.layers.1.self_attn.q_proj.lora_a", DType::f32, Shape{6, 2}, values(12, 3)},
             {"model.layers.1.self_attn.q_proj.lora_b", DType::f32, Shape{2, 5}, values(10, 4)}});
  const auto a = load_mlx(tmp / "src");
  lorakit::io::save_mlx(*a, tmp / "copy");
  const auto b = load_mlx(tmp / "copy");
  REQUIRE(b->modules().size() == 2);
  CHECK(b->info().target.names == std::vector<std::string>{"self_attn.q_proj"});
  for (const auto& [name, m] : a->modules()) {
    const auto* n = b->find(name);
    REQUIRE(n != nullptr);
    CHECK(b->scale(*n) == a->scale(m));
    CHECK(std::equal(m.a.bytes.begin(), m.a.bytes.end(), n->a.bytes.begin(), n->a.bytes.end()));
    CHECK(std::equal(m.b.bytes.begin(), m.b.bytes.end(), n->b.bytes.begin(), n->b.bytes.end()));
  }
}

TEST_CASE("mlx-lm <-> PEFT: converting keeps every module's s * A * B", "[io][mlx][peft]") {
  TempDir tmp;
  write_mlx(tmp / "mlx", kConfig,
            {{"model.layers.0.mlp.up_proj.lora_a", DType::f32, Shape{4, 2}, values(8, 1)},
             {"model.layers.0.mlp.up_proj.lora_b", DType::f32, Shape{2, 3}, values(6, 2)}});
  const auto mlx = load_mlx(tmp / "mlx");
  lorakit::io::save_peft(*mlx, tmp / "peft");
  const auto peft = lorakit::io::load_peft(tmp / "peft");
  CHECK(peft->info().scaling == lorakit::Scaling::alpha_over_rank);
  const auto* m = peft->find("model.layers.0.mlp.up_proj");
  REQUIRE(m != nullptr);
  CHECK(peft->scale(*m) == 10.0f);  // lora_alpha = 10 * r
  lorakit::io::save_mlx(*peft, tmp / "back");
  const auto back = load_mlx(tmp / "back");
  const auto* n = back->find("model.layers.0.mlp.up_proj");
  REQUIRE(n != nullptr);
  CHECK(back->scale(*n) == 10.0f);
  CHECK(std::equal(m->b.bytes.begin(), m->b.bytes.end(), n->b.bytes.begin(), n->b.bytes.end()));
}

TEST_CASE("mlx-lm: broken adapters are refused with the tensor named", "[io][mlx]") {
  TempDir tmp;
  SECTION("an unknown tensor and a lora_a without lora_b") {
    write_mlx(tmp.path(), kConfig,
              {{"model.layers.0.q.lora_a", DType::f32, Shape{4, 2}, values(8, 1)},
               {"model.layers.0.q.weight", DType::f32, Shape{2, 2}, values(4, 2)}});
    const Error e = load_error(tmp.path());
    REQUIRE(e.problems().size() == 2);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("model.layers.0.q.weight"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("has no lora_b partner"));
  }
  SECTION("rank disagrees with lora_parameters.rank") {
    write_mlx(tmp.path(), kConfig,
              {{"m.q.lora_a", DType::f32, Shape{4, 3}, values(12, 1)},
               {"m.q.lora_b", DType::f32, Shape{3, 2}, values(6, 2)}});
    CHECK(load_error(tmp.path()).code() == Errc::shape_mismatch);
  }
  SECTION("a full fine-tune is not an adapter") {
    write_mlx(tmp.path(), R"({"fine_tune_type":"full","lora_parameters":{"rank":2}})", {});
    CHECK(load_error(tmp.path()).code() == Errc::unsupported);
  }
  SECTION("no lora_parameters") {
    write_mlx(tmp.path(), R"({"fine_tune_type":"lora"})", {});
    CHECK(load_error(tmp.path()).code() == Errc::bad_config);
  }
}
