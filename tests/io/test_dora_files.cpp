// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DoRA files: a PEFT DoRA adapter loads, is written back as PEFT and as mlx-lm, and every form
// attaches to a Model of AnyVariant layers with the same output, bit for bit; GGUF refuses it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "approx.hpp"
#include "files.hpp"
#include "lorakit/lorakit.hpp"
#include "random.hpp"

using lorakit::AnyVariant;
using lorakit::DenseLinear;
using lorakit::DType;
using lorakit::Index;
using lorakit::LoRALinear;
using lorakit::Model;
using lorakit::RowMatrix;
using lorakit::Shape;
using namespace lorakit::test;

namespace {

constexpr Index kIn = 6;
constexpr Index kOut = 8;
constexpr Index kRank = 2;
const std::string kModule = "model.layers.0.self_attn.q_proj";

std::vector<float> as_f32(const lorakit::AdapterTensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.elements()));
  t.copy_to_f32(v.data());
  return v;
}

// The output of one AnyVariant layer with `adapter` attached through a Model.
RowMatrix output_with(const std::shared_ptr<const lorakit::Adapter>& adapter, const RowMatrix& x) {
  RowMatrix w = random_matrix(kOut, kIn, 7, 0.5f);
  LoRALinear<DenseLinear<float>, AnyVariant> layer(DenseLinear<float>(w.data(), kIn, kOut));
  Model model;
  model.add(kModule, layer);
  model.attach(adapter, {.name = "dora", .scale = 0.75f});
  RowMatrix y(x.rows(), kOut);
  lorakit::Workspace ws(layer.workspace_floats(x.rows()));
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);
  return y;
}

}  // namespace

TEST_CASE("DoRA files: PEFT loads, PEFT and mlx-lm write, all attach with the same bits",
          "[io][dora]") {
  TempDir tmp;
  const auto src = tmp.path() / "peft-in";
  std::filesystem::create_directories(src);
  write_text(src / "adapter_config.json",
             R"({"peft_type":"LORA","r":2,"lora_alpha":4,"use_dora":true,)"
             R"("target_modules":["q_proj"]})");
  std::vector<float> magnitude = values(kOut, 3);
  for (float& m : magnitude) m += 2.0f;  // away from 0, as trained magnitudes are
  const std::string key = "base_model.model." + kModule;
  write_tensors(src / "adapter_model.safetensors",
                {{key + ".lora_A.weight", DType::f32, Shape{kRank, kIn}, values(kRank * kIn, 1)},
                 {key + ".lora_B.weight", DType::f32, Shape{kOut, kRank}, values(kOut * kRank, 2)},
                 {key + ".lora_magnitude_vector", DType::f32, Shape{kOut}, magnitude}});

  const auto peft = lorakit::io::load_peft(src);
  REQUIRE(peft->info().variant == lorakit::VariantKind::dora);
  lorakit::io::save_peft(*peft, tmp.path() / "peft-out");
  lorakit::io::save_mlx(*peft, tmp.path() / "mlx-out");
  const auto peft2 = lorakit::io::load_adapter(tmp.path() / "peft-out");
  const auto mlx = lorakit::io::load_adapter(tmp.path() / "mlx-out");

  const RowMatrix x = random_matrix(5, kIn, 9);
  const RowMatrix y = output_with(peft, x);
  for (const auto& [what, a] : {std::pair{"PEFT written back", peft2}, std::pair{"mlx-lm", mlx}}) {
    CAPTURE(what);
    CHECK(a->info().variant == lorakit::VariantKind::dora);
    const auto* m = a->find(kModule);
    REQUIRE(m != nullptr);
    REQUIRE(m->magnitude.has_value());
    const auto* m0 = peft->find(kModule);
    CHECK(as_f32(*m->magnitude) == as_f32(*m0->magnitude));
    CHECK(as_f32(m->a) == as_f32(m0->a));
    CHECK(as_f32(m->b) == as_f32(m0->b));
    CHECK(a->scale(*m) == peft->scale(*m0));
    check_identical(lorakit::make_cview(y), lorakit::make_cview(output_with(a, x)), what);
  }

  // llama.cpp has no DoRA: the GGUF writer refuses it, naming the module.
  try {
    lorakit::io::save_gguf(*peft, tmp.path() / "out.gguf", {.architecture = "qwen2"});
    FAIL("save_gguf wrote a DoRA adapter");
  } catch (const lorakit::Error& e) {
    INFO(e.what());
    CHECK(e.code() == lorakit::Errc::unsupported);
    CHECK(std::string(e.what()).find("DoRA") != std::string::npos);
  }
}
