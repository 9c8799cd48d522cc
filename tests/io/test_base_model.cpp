// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// read_base_model: GGUF model files and Hugging Face directories, headers only.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "base_files.hpp"
#include "files.hpp"
#include "lorakit/io/base_model.hpp"

using namespace lorakit;
using lorakit::test::TempDir;

namespace {

void require_module(const BaseModel& base, const std::string& name, Index in, Index out,
                    RowLayout rows = RowLayout::hf) {
  INFO("module " << name);
  const BaseModule* m = base.find(name);
  REQUIRE(m != nullptr);
  CHECK(m->in_features == in);
  CHECK(m->out_features == out);
  CHECK(m->rows == rows);
}

}  // namespace

TEST_CASE("a GGUF llama model describes itself in Hugging Face names and llama.cpp's Q/K order") {
  const TempDir dir;
  // SmolLM2-135M's shapes: 30 blocks, hidden 576, 9 heads of 64, 3 key/value heads, ffn 1536.
  test::write_gguf_llama(dir / "smol.gguf", "llama", 30, 576, 9, 3, 1536, "SmolLM2 135M", 4096);
  const BaseModel base = io::read_base_model(dir / "smol.gguf");
  CHECK(base.format == BaseFormat::gguf);
  CHECK(base.architecture == "llama");
  CHECK(base.name == "SmolLM2 135M");
  CHECK(base.n_layers == 30);
  CHECK(base.n_head == 9);
  CHECK(base.n_head_kv == 3);
  CHECK(base.layout == RowLayout::llama_cpp);
  // 7 matrices per block, token_embd and output; the norms are 1-D and are not modules.
  CHECK(base.modules.size() == 30 * 7 + 2);
  require_module(base, "model.layers.0.self_attn.q_proj", 576, 576, RowLayout::llama_cpp);
  require_module(base, "model.layers.29.self_attn.k_proj", 576, 192, RowLayout::llama_cpp);
  require_module(base, "model.layers.7.self_attn.v_proj", 576, 192);
  require_module(base, "model.layers.7.self_attn.o_proj", 576, 576);
  require_module(base, "model.layers.3.mlp.down_proj", 1536, 576);
  require_module(base, "lm_head", 576, 4096);
  const BaseModule* embed = base.find("model.embed_tokens");
  REQUIRE(embed != nullptr);
  CHECK(embed->kind == ModuleKind::embedding);
  CHECK(embed->in_features == 4096);
  CHECK(embed->out_features == 576);
  // Natural order: block 2 before block 10.
  std::vector<std::string> names;
  for (const BaseModule& m : base.modules) names.push_back(m.name);
  const auto two = std::find(names.begin(), names.end(), "model.layers.2.self_attn.q_proj");
  const auto ten = std::find(names.begin(), names.end(), "model.layers.10.self_attn.q_proj");
  CHECK(two < ten);
}

TEST_CASE("a GGUF model of an architecture without a name table keeps llama.cpp's names") {
  const TempDir dir;
  test::write_gguf_llama(dir / "m.gguf", "mamba9", 2, 64, 4, 4, 128, "");
  const BaseModel base = io::read_base_model(dir / "m.gguf");
  CHECK(base.architecture == "mamba9");
  CHECK(base.name == "m");  // an empty general.name: the file's stem
  CHECK(base.layout == RowLayout::hf);
  require_module(base, "blk.1.attn_q", 64, 64);
  CHECK(base.find("model.layers.1.self_attn.q_proj") == nullptr);
}

TEST_CASE("a Hugging Face directory describes a Llama model, mistral as llama's architecture") {
  const TempDir dir;
  test::write_hf_model(dir / "m", test::llama_config("mistral", 4, 256, 8, 2, "org/tiny-mistral"),
                       test::llama_weights(4, 256, 8, 2, 512, 1000));
  const BaseModel base = io::read_base_model(dir / "m");
  CHECK(base.format == BaseFormat::hf);
  CHECK(base.architecture == "llama");
  CHECK(base.name == "org/tiny-mistral");
  CHECK(base.n_layers == 4);
  CHECK(base.n_head == 8);
  CHECK(base.n_head_kv == 2);
  CHECK(base.layout == RowLayout::hf);
  CHECK(base.modules.size() == 4 * 7 + 2);
  require_module(base, "model.layers.3.self_attn.q_proj", 256, 256);
  require_module(base, "model.layers.3.self_attn.k_proj", 256, 64);
  require_module(base, "model.layers.0.mlp.down_proj", 512, 256);
  require_module(base, "lm_head", 256, 1000);
  CHECK(base.find("model.embed_tokens")->kind == ModuleKind::embedding);
  CHECK(base.find("model.embed_tokens")->in_features == 1000);
  // A file inside the directory names the same model.
  CHECK(io::read_base_model(dir / "m" / "config.json").modules.size() == base.modules.size());
}

TEST_CASE("a sharded Hugging Face directory reads every shard's header") {
  const TempDir dir;
  const auto weights = test::llama_weights(3, 128, 4, 4, 256);
  test::write_sharded_hf_model(dir / "m", test::llama_config("llama", 3, 128, 4, 4), weights, 3);
  const BaseModel base = io::read_base_model(dir / "m");
  CHECK(base.modules.size() == 3 * 7 + 2);
  require_module(base, "model.layers.2.mlp.gate_proj", 128, 256);
  CHECK(base.name == "m");  // no _name_or_path: the directory's name
}

TEST_CASE("a shard index that puts a tensor in a shard without it is an error naming both") {
  const TempDir dir;
  test::write_sharded_hf_model(dir / "m", test::llama_config("llama", 2, 64, 4, 4),
                               test::llama_weights(2, 64, 4, 4, 128), 2);
  // Move one entry of the index to the other shard.
  nlohmann::json index =
      nlohmann::json::parse(std::ifstream(dir / "m/model.safetensors.index.json"));
  index["weight_map"]["model.layers.0.self_attn.q_proj.weight"] =
      "model-00002-of-00002.safetensors";
  std::ofstream(dir / "m/model.safetensors.index.json") << index.dump();
  try {
    (void)io::read_base_model(dir / "m");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::missing_tensor);
    CHECK(e.context().tensor == "model.layers.0.self_attn.q_proj.weight");
    CHECK_THAT(e.what(), Catch::Contains("model-00002-of-00002.safetensors"));
  }
  index["weight_map"]["model.layers.0.self_attn.q_proj.weight"] = "../outside.safetensors";
  std::ofstream(dir / "m/model.safetensors.index.json") << index.dump();
  CHECK_THROWS_WITH(io::read_base_model(dir / "m"),
                    Catch::Contains("not a file name in the model directory"));
}

TEST_CASE("GPT-2's checkpoint keys get the transformer prefix and Conv1D modules are (in, out)") {
  const TempDir dir;
  // GPT-2 small's block: c_attn W (768, 2304) stored (in, out); keys without "transformer.".
  const std::vector<test::WeightSpec> weights = {{"wte.weight", {50257, 768}},
                                                 {"wpe.weight", {1024, 768}},
                                                 {"h.0.attn.c_attn.weight", {768, 2304}},
                                                 {"h.0.attn.c_proj.weight", {768, 768}},
                                                 {"h.0.mlp.c_fc.weight", {768, 3072}},
                                                 {"h.0.mlp.c_proj.weight", {3072, 768}},
                                                 {"h.0.ln_1.weight", {768}},
                                                 {"h.0.attn.c_attn.bias", {2304}}};
  test::write_hf_model(dir / "gpt2",
                       {{"model_type", "gpt2"}, {"n_layer", 1}, {"n_head", 12}, {"n_embd", 768}},
                       weights);
  const BaseModel base = io::read_base_model(dir / "gpt2");
  CHECK(base.architecture == "gpt2");
  CHECK(base.n_layers == 1);
  CHECK(base.n_head == 12);
  CHECK(base.n_head_kv == 12);
  CHECK(base.modules.size() == 6);
  require_module(base, "transformer.h.0.attn.c_attn", 768, 2304);
  require_module(base, "transformer.h.0.mlp.c_proj", 3072, 768);
  CHECK(base.find("transformer.h.0.attn.c_attn")->in_out);
  CHECK(base.find("transformer.wte")->kind == ModuleKind::embedding);
}

TEST_CASE("read_base_model names what it was given when it is not a model") {
  const TempDir dir;
  CHECK_THROWS_WITH(io::read_base_model(""), Catch::Contains("<empty path>"));
  CHECK_THROWS_WITH(io::read_base_model(dir / "nothing"),
                    Catch::Contains("no such file or directory"));
  std::filesystem::create_directories(dir / "adapter");
  test::write_text(dir / "adapter/adapter_config.json", "{}");
  CHECK_THROWS_WITH(io::read_base_model(dir / "adapter"),
                    Catch::Contains("an adapter directory, not a model"));
  std::filesystem::create_directories(dir / "weightless");
  test::write_text(dir / "weightless/config.json", R"({"model_type": "llama"})");
  CHECK_THROWS_WITH(io::read_base_model(dir / "weightless"),
                    Catch::Contains("no model.safetensors"));
  test::write_text(dir / "weightless/pytorch_model.bin", "x");
  CHECK_THROWS_WITH(io::read_base_model(dir / "weightless"),
                    Catch::Contains("only pytorch_model.bin"));
  test::write_gguf_header_only(
      dir / "a.gguf",
      {{"general.architecture", "llama", 0, true}, {"general.type", "adapter", 0, true}}, {});
  CHECK_THROWS_WITH(io::read_base_model(dir / "a.gguf"),
                    Catch::Contains("a GGUF adapter (general.type = adapter), not a model"));
  test::write_gguf_header_only(dir / "noarch.gguf", {}, {});
  CHECK_THROWS_WITH(io::read_base_model(dir / "noarch.gguf"),
                    Catch::Contains("general.architecture"));
  test::write_text(dir / "notes.txt", "hello");
  CHECK_THROWS_WITH(io::read_base_model(dir / "notes.txt"), Catch::Contains("not a model"));
}

TEST_CASE("a truncated GGUF model is an error naming the file, never a crash") {
  const TempDir dir;
  test::write_gguf_llama(dir / "m.gguf", "llama", 2, 64, 4, 4, 128, "m");
  std::filesystem::resize_file(dir / "m.gguf", 200);  // inside the tensor infos
  try {
    (void)io::read_base_model(dir / "m.gguf");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("m.gguf"));
  }
}

TEST_CASE("load_options_for takes the layout and head counts from the base") {
  BaseModel gguf;
  gguf.layout = RowLayout::llama_cpp;
  gguf.n_head = 32;
  gguf.n_head_kv = 8;
  const io::LoadOptions a = io::load_options_for(gguf);
  CHECK(a.base_layout == io::BaseLayout::llama_cpp);
  CHECK(a.n_head == 32);
  CHECK(a.n_head_kv == 8);
  BaseModel hf;
  hf.n_head = 9;
  hf.n_head_kv = 3;
  const io::LoadOptions b = io::load_options_for(hf, io::LoadOptions{.name = "x"});
  CHECK(b.base_layout == io::BaseLayout::hf);
  CHECK(b.n_head == 9);
  CHECK(b.n_head_kv == 3);
  CHECK(b.name == "x");
  // A base that states no head counts leaves the caller's.
  const io::LoadOptions c = io::load_options_for(BaseModel{}, io::LoadOptions{.n_head = 9});
  CHECK(c.n_head == 9);
}
