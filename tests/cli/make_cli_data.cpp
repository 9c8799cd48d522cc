// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Writes the adapters the lorakit tool's tests read, with lorakit's own writers, and the facts
// about them that the tests check `lorakit inspect --json` against. The facts come from what
// this program builds (its shapes, ranks, alphas and dtypes, bytes counted from the shapes),
// not from anything the tool computes.
//
//   lorakit_cli_data OUT_DIR   (writes OUT_DIR/{peft-f32,peft-bf16-saved,mlx}/, alora.gguf,
//                               expected.json)
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <lorakit/lorakit.hpp>
#include <nlohmann/json.hpp>

namespace {

using lorakit::AdapterModule;
using lorakit::AdapterTensor;
using lorakit::DType;
using lorakit::Index;
using Json = nlohmann::ordered_json;

// Deterministic values in [-0.25, 0.25).
std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t state = seed * 2654435761u + 1u;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = 0.25f * (static_cast<float>(state >> 8) * 0x1p-23f - 1.0f);
  }
  return v;
}

struct Spec {
  std::string local;  // block-local name
  Index in, out;
  std::vector<int> blocks;
};

struct Built {
  std::shared_ptr<lorakit::Adapter> adapter;
  Json facts;
};

// An adapter with modules model.layers.B.<local> for each spec, rank r, alpha, dtype; and its
// facts.
Built build(const std::vector<Spec>& specs, Index r, float alpha, lorakit::Scaling scaling,
            DType dtype, std::uint32_t seed, const std::string& base_model) {
  auto storage = std::make_shared<std::vector<std::vector<std::byte>>>();
  storage->reserve(64);
  const auto esize = static_cast<std::size_t>(lorakit::size_of(dtype));
  auto tensor = [&](Index rows, Index cols) {
    const std::vector<float> v = values(static_cast<std::size_t>(rows * cols), seed++);
    std::vector<std::byte>& bytes = storage->emplace_back(v.size() * esize);
    lorakit::io::encode_floats(dtype, v.data(), v.size(), bytes.data());
    return AdapterTensor{dtype, lorakit::Shape{rows, cols}, bytes};
  };
  std::map<std::string, AdapterModule> modules;
  Json groups = Json::array();
  std::uint64_t total = 0;
  const float multiplier =
      scaling == lorakit::Scaling::direct ? alpha : alpha / static_cast<float>(r);
  for (const Spec& s : specs) {
    for (int b : s.blocks) {
      AdapterModule m;
      m.a = tensor(s.in, r);
      m.b = tensor(r, s.out);
      m.rank = r;
      m.alpha = alpha;
      modules.emplace("model.layers." + std::to_string(b) + "." + s.local, std::move(m));
      total += static_cast<std::uint64_t>(s.in * r + r * s.out) * esize;
    }
    Json g;
    g["name"] = s.local;
    g["pattern"] = "model.layers.*." + s.local;
    g["count"] = s.blocks.size();
    g["first_block"] = s.blocks.front();
    g["last_block"] = s.blocks.back();
    g["rank"] = r;
    g["multiplier"] = multiplier;
    g["in"] = s.in;
    g["out"] = s.out;
    g["dtype"] = std::string(lorakit::to_string(dtype));
    g["bytes"] = static_cast<std::uint64_t>(s.in * r + r * s.out) * esize * s.blocks.size();
    groups.push_back(std::move(g));
  }
  lorakit::AdapterInfo info;
  info.rank = r;
  info.alpha = alpha;
  info.scaling = scaling;
  info.base_model = base_model;
  const std::size_t count = modules.size();
  Built out;
  out.adapter = std::make_shared<lorakit::Adapter>(
      info, std::move(modules), std::map<std::string, AdapterTensor>{},
      std::vector<std::shared_ptr<const void>>{storage});
  out.facts["rank"] = r;
  out.facts["alpha"] = alpha;
  out.facts["modules"] = count;
  out.facts["bytes"] = total;
  out.facts["dtypes"] = Json::array({std::string(lorakit::to_string(dtype))});
  out.facts["groups"] = std::move(groups);
  return out;
}

// The weights of a 4-block Llama of width d (4 heads, 2 key/value heads, ffn 2d), zero.
struct BaseWeight {
  std::string block_local;  // empty: not in a block
  Index out, in;
};
std::vector<BaseWeight> llama_weights(Index d) {
  return {{"self_attn.q_proj", d, d},     {"self_attn.k_proj", d / 2, d},
          {"self_attn.v_proj", d / 2, d}, {"self_attn.o_proj", d, d},
          {"mlp.gate_proj", 2 * d, d},    {"mlp.up_proj", 2 * d, d},
          {"mlp.down_proj", d, 2 * d}};
}

void write_hf_llama(const std::filesystem::path& dir, const std::string& name, Index d) {
  std::filesystem::create_directories(dir);
  std::vector<std::vector<std::byte>> zeros;
  std::vector<lorakit::io::TensorToWrite> tensors;
  zeros.reserve(32);
  for (int b = 0; b < 4; ++b) {
    for (const BaseWeight& w : llama_weights(d)) {
      const auto& bytes = zeros.emplace_back(static_cast<std::size_t>(w.out * w.in) * 2);
      tensors.push_back({"model.layers." + std::to_string(b) + "." + w.block_local + ".weight",
                         DType::f16, lorakit::Shape{w.out, w.in}, bytes});
    }
  }
  lorakit::io::write_safetensors(dir / "model.safetensors", std::move(tensors));
  const Json config = {{"model_type", "llama"},    {"_name_or_path", name},
                       {"num_hidden_layers", 4},   {"hidden_size", d},
                       {"num_attention_heads", 4}, {"num_key_value_heads", 2}};
  std::ofstream(dir / "config.json") << config.dump(2) << '\n';
}

void write_gguf_llama(const std::filesystem::path& path, const std::string& name, Index d) {
  using lorakit::io::GgufValue;
  const std::vector<lorakit::io::GgufKeyValue> kv = {
      {"general.architecture", GgufValue::of_string("llama")},
      {"general.type", GgufValue::of_string("model")},
      {"general.name", GgufValue::of_string(name)},
      {"llama.block_count", GgufValue::of_u32(4)},
      {"llama.attention.head_count", GgufValue::of_u32(4)},
      {"llama.attention.head_count_kv", GgufValue::of_u32(2)}};
  const std::map<std::string, std::string> gguf_name = {
      {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},  {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  std::vector<std::vector<std::byte>> zeros;
  zeros.reserve(32);
  std::vector<lorakit::io::GgufTensorToWrite> tensors;
  for (int b = 0; b < 4; ++b) {
    for (const BaseWeight& w : llama_weights(d)) {
      const auto& bytes = zeros.emplace_back(static_cast<std::size_t>(w.out * w.in) * 2);
      // ggml's ne: the contiguous dimension (in) first.
      tensors.push_back({"blk." + std::to_string(b) + "." + gguf_name.at(w.block_local) + ".weight",
                         lorakit::io::GgmlType::f16,
                         {static_cast<std::int64_t>(w.in), static_cast<std::int64_t>(w.out)},
                         bytes});
    }
  }
  lorakit::io::write_gguf(path, kv, tensors);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lorakit_cli_data OUT_DIR\n");
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Json expected;
    const std::vector<int> all = {0, 1, 2, 3};
    // A llama-shaped adapter: 4 heads of 16 for Q, 2 KV heads of 16 for K and V, an MLP module
    // in two blocks only.
    const std::vector<Spec> llama = {{"self_attn.q_proj", 64, 64, all},
                                     {"self_attn.k_proj", 64, 32, all},
                                     {"self_attn.v_proj", 64, 32, all},
                                     {"mlp.down_proj", 128, 64, {2, 3}}};
    {
      Built b = build(llama, 4, 8.0f, lorakit::Scaling::alpha_over_rank, DType::f32, 1,
                      "test/tiny-llama");
      lorakit::io::save_peft(*b.adapter, dir / "peft-f32");
      b.facts["format"] = "peft";
      b.facts["base_model"] = "test/tiny-llama";
      b.facts["invocation_tokens"] = Json::array();
      b.facts["saved_tensors"] = Json::array();
      expected["peft-f32"] = b.facts;

      // The same adapter as an activated LoRA GGUF file (llama, Q/K rows permuted for 4 and 2
      // heads). Loaded in the file's row order, its hash differs from the PEFT one; its facts
      // are otherwise the same, with the invocation tokens.
      lorakit::AdapterInfo info = b.adapter->info();
      info.invocation_tokens = {11, 22, 33};
      const lorakit::Adapter alora(info, b.adapter->modules(), {}, b.adapter->storage());
      lorakit::io::save_gguf(alora, dir / "alora.gguf",
                             {.architecture = "llama", .n_head = 4, .n_head_kv = 2});
      Json g = b.facts;
      g["format"] = "gguf";
      g["architecture"] = "llama";
      g["base_model"] = nullptr;
      g["invocation_tokens"] = Json::array({11, 22, 33});
      g["file_types"] = Json{{"F32", 2 * b.facts["modules"].get<std::size_t>()}};
      g["rows"] = Json{{"modules", 8}, {"order", "llama_cpp"}};  // 4 q_proj + 4 k_proj
      expected["alora.gguf"] = g;
    }
    {
      // BF16, rank 2, with a modules_to_save tensor.
      Built b = build({{"self_attn.q_proj", 64, 64, {0, 1}}}, 2, 4.0f,
                      lorakit::Scaling::alpha_over_rank, DType::bf16, 40, "");
      auto bytes = std::make_shared<std::vector<std::byte>>(3 * 64 * 2);
      const std::vector<float> v = values(3 * 64, 99);
      lorakit::io::encode_floats(DType::bf16, v.data(), v.size(), bytes->data());
      std::map<std::string, AdapterTensor> saved;
      saved.emplace("score.weight", AdapterTensor{DType::bf16, lorakit::Shape{3, 64}, *bytes});
      lorakit::AdapterInfo info = b.adapter->info();
      info.modules_to_save = {"score"};
      std::vector<std::shared_ptr<const void>> storage = b.adapter->storage();
      storage.push_back(bytes);
      const lorakit::Adapter with_saved(info, b.adapter->modules(), saved, storage);
      lorakit::io::save_peft(with_saved, dir / "peft-bf16-saved");
      b.facts["format"] = "peft";
      b.facts["bytes"] = b.facts["bytes"].get<std::uint64_t>() + 3 * 64 * 2;
      b.facts["modules_to_save"] = Json::array({"score"});
      b.facts["saved_tensors"] = Json::array({{{"name", "score.weight"},
                                               {"dtype", "BF16"},
                                               {"shape", {3, 64}},
                                               {"bytes", 3 * 64 * 2}}});
      expected["peft-bf16-saved"] = b.facts;
    }
    {
      // mlx-lm: the multiplier given directly, the last two of four blocks.
      Built b = build({{"self_attn.q_proj", 64, 64, {2, 3}}, {"self_attn.v_proj", 64, 32, {2, 3}}},
                      4, 2.5f, lorakit::Scaling::direct, DType::f32, 70, "test/tiny-llama");
      lorakit::io::save_mlx(*b.adapter, dir / "mlx");
      b.facts["format"] = "mlx";
      b.facts["scaling"] = "direct";
      expected["mlx"] = b.facts;
    }
    {
      // Modules outside any block (a head and a classifier), which inspect lists by name.
      auto bytes = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(64 * 2) * 4);
      std::map<std::string, AdapterModule> modules;
      for (const auto& [name, out] : {std::pair<const char*, Index>{"score", 2}, {"lm_head", 2}}) {
        AdapterModule m;
        m.a = AdapterTensor{DType::f32, lorakit::Shape{64, 2}, {bytes->data(), 64 * 2 * 4}};
        m.b = AdapterTensor{DType::f32, lorakit::Shape{2, out}, {bytes->data(), 2 * 2 * 4}};
        m.rank = 2;
        m.alpha = 4.0f;
        modules.emplace(name, std::move(m));
      }
      lorakit::AdapterInfo info;
      info.rank = 2;
      info.alpha = 4.0f;
      const lorakit::Adapter heads(info, std::move(modules), {},
                                   std::vector<std::shared_ptr<const void>>{bytes});
      lorakit::io::save_peft(heads, dir / "peft-heads");
    }
    // Base models, weights zero: the 4-block Llama the adapters above were built for, as a
    // Hugging Face directory and as a GGUF model (llama.cpp's Q/K order), and one of width 96.
    write_hf_llama(dir / "bases/tiny-llama", "test/tiny-llama", 64);
    write_gguf_llama(dir / "bases/tiny-llama.gguf", "tiny llama", 64);
    write_hf_llama(dir / "bases/wide", "test/wide", 96);
    write_gguf_llama(dir / "bases/not-utf8.gguf", "bad \xff name", 32);
    // What discover finds, from how this program built each file: every adapter fits the HF
    // base it was built for; only the GGUF adapter (its Q/K rows in llama.cpp's order) also fits
    // the GGUF base, whose Q/K rows are in that order; nothing fits the width-96 base.
    expected["discover"] = {{"kinds",
                             {{"peft-f32", "peft-adapter"},
                              {"peft-bf16-saved", "peft-adapter"},
                              {"mlx", "mlx-adapter"},
                              {"alora.gguf", "gguf-adapter"},
                              {"bases/tiny-llama", "hf-model"},
                              {"bases/tiny-llama.gguf", "gguf-model"},
                              {"bases/wide", "hf-model"},
                              {"bases/not-utf8.gguf", "gguf-model"},
                              {"peft-heads", "peft-adapter"},
                              {"expected.json", "unknown"}}},
                            {"compatible",
                             {{"peft-f32", {"bases/tiny-llama"}},
                              {"peft-bf16-saved", {"bases/tiny-llama"}},
                              {"mlx", {"bases/tiny-llama"}},
                              {"alora.gguf", {"bases/tiny-llama", "bases/tiny-llama.gguf"}}}}};
    std::ofstream(dir / "expected.json") << expected.dump(2) << '\n';
    std::printf("wrote the lorakit tool's test adapters to %s\n", dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
