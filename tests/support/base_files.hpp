// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Base model files for tests, written from the format specifications by code independent of
// lorakit's writers: a GGUF model file and a Hugging Face directory (config.json and
// safetensors), with headers only and the data section left sparse (zeros, no disk blocks), so
// a model of a real model's shapes costs a few kilobytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace lorakit::test {

/// One weight of a generated model: name, row-major shape (PyTorch order), element bytes.
struct WeightSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  int element_bytes = 2;  // F16
};

/// The weights of a Llama-style block stack as Hugging Face names them
/// (model.layers.<i>.self_attn.q_proj.weight (out, in), ...), plus embed_tokens and lm_head.
inline std::vector<WeightSpec> llama_weights(int layers, std::int64_t hidden, int heads,
                                             int kv_heads, std::int64_t ffn,
                                             std::int64_t vocab = 256) {
  const std::int64_t head_dim = hidden / heads;
  const std::int64_t kv = head_dim * kv_heads;
  std::vector<WeightSpec> w;
  w.push_back({"model.embed_tokens.weight", {vocab, hidden}});
  for (int i = 0; i < layers; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".";
    w.push_back({b + "input_layernorm.weight", {hidden}});
    w.push_back({b + "self_attn.q_proj.weight", {hidden, hidden}});
    w.push_back({b + "self_attn.k_proj.weight", {kv, hidden}});
    w.push_back({b + "self_attn.v_proj.weight", {kv, hidden}});
    w.push_back({b + "self_attn.o_proj.weight", {hidden, hidden}});
    w.push_back({b + "mlp.gate_proj.weight", {ffn, hidden}});
    w.push_back({b + "mlp.up_proj.weight", {ffn, hidden}});
    w.push_back({b + "mlp.down_proj.weight", {hidden, ffn}});
  }
  w.push_back({"model.norm.weight", {hidden}});
  w.push_back({"lm_head.weight", {vocab, hidden}});
  return w;
}

/// A Hugging Face config.json for a Llama-style model.
inline nlohmann::json llama_config(const std::string& model_type, int layers, std::int64_t hidden,
                                   int heads, int kv_heads, const std::string& name = "") {
  nlohmann::json c = {{"model_type", model_type},     {"architectures", {"LlamaForCausalLM"}},
                      {"num_hidden_layers", layers},  {"hidden_size", hidden},
                      {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads}};
  if (!name.empty()) c["_name_or_path"] = name;
  return c;
}

inline void extend_sparse(const std::filesystem::path& path, std::uint64_t size) {
  std::filesystem::resize_file(path, size);
}

/// model.safetensors (or a shard) holding `weights`: the 8-byte header length, the JSON header
/// (keys in the given order, offsets contiguous), then a sparse data section.
inline void write_safetensors_header_only(const std::filesystem::path& path,
                                          const std::vector<WeightSpec>& weights) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::uint64_t offset = 0;
  for (const WeightSpec& w : weights) {
    std::uint64_t bytes = static_cast<std::uint64_t>(w.element_bytes);
    for (std::int64_t d : w.shape) bytes *= static_cast<std::uint64_t>(d);
    header[w.name] = {{"dtype", w.element_bytes == 4 ? "F32" : "F16"},
                      {"shape", w.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t n = text.size();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  extend_sparse(path, 8 + n + offset);
}

/// A Hugging Face model directory: config.json and one model.safetensors.
inline void write_hf_model(const std::filesystem::path& dir, const nlohmann::json& config,
                           const std::vector<WeightSpec>& weights) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  write_safetensors_header_only(dir / "model.safetensors", weights);
}

/// A Hugging Face model directory sharded in `shards` files with model.safetensors.index.json.
inline void write_sharded_hf_model(const std::filesystem::path& dir, const nlohmann::json& config,
                                   const std::vector<WeightSpec>& weights, int shards) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  nlohmann::ordered_json map = nlohmann::ordered_json::object();
  for (int s = 0; s < shards; ++s) {
    const std::string file =
        "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
    std::vector<WeightSpec> part;
    for (std::size_t i = static_cast<std::size_t>(s); i < weights.size();
         i += static_cast<std::size_t>(shards)) {
      part.push_back(weights[i]);
      map[weights[i].name] = file;
    }
    write_safetensors_header_only(dir / file, part);
  }
  std::ofstream(dir / "model.safetensors.index.json")
      << nlohmann::ordered_json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump(2);
}

/// A GGUF metadata value for write_gguf_header_only: a string or a UINT32.
struct GgufMeta {
  std::string key;
  std::string text;       // GGUF type 8 (string) when is_string
  std::uint32_t u32 = 0;  // GGUF type 4 (uint32) otherwise
  bool is_string = false;
};

/// One tensor info: name, ggml type (0 = F32, 1 = F16) and ne (ggml order, ne[0] contiguous).
struct GgufInfo {
  std::string name;
  std::uint32_t type = 1;
  std::vector<std::uint64_t> ne;
};

/// A GGUF v3 file: header, metadata, tensor infos, padding to 32, and a sparse data section
/// with each tensor at a 32-aligned offset.
inline void write_gguf_header_only(const std::filesystem::path& path,
                                   const std::vector<GgufMeta>& meta,
                                   const std::vector<GgufInfo>& tensors) {
  std::string out;
  auto u32 = [&](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& s) {
    u64(s.size());
    out += s;
  };
  out += "GGUF";
  u32(3);
  u64(tensors.size());
  u64(meta.size());
  for (const GgufMeta& m : meta) {
    str(m.key);
    if (m.is_string) {
      u32(8);
      str(m.text);
    } else {
      u32(4);
      u32(m.u32);
    }
  }
  std::uint64_t offset = 0;
  for (const GgufInfo& t : tensors) {
    str(t.name);
    u32(static_cast<std::uint32_t>(t.ne.size()));
    for (std::uint64_t n : t.ne) u64(n);
    u32(t.type);
    u64(offset);
    std::uint64_t bytes = t.type == 0 ? 4 : 2;
    for (std::uint64_t n : t.ne) bytes *= n;
    offset += (bytes + 31) / 32 * 32;
  }
  out.append((32 - out.size() % 32) % 32, '\0');
  const std::uint64_t data = out.size();
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  extend_sparse(path, data + offset);
}

/// A GGUF llama model as llama.cpp's converter names it (blk.<i>.attn_q.weight ne [in, out],
/// token_embd ne [hidden, vocab], ...), with the llama.* counts.
inline void write_gguf_llama(const std::filesystem::path& path, const std::string& arch, int layers,
                             std::uint64_t hidden, std::uint32_t heads, std::uint32_t kv_heads,
                             std::uint64_t ffn, const std::string& name,
                             std::uint64_t vocab = 256) {
  const std::uint64_t kv = hidden / heads * kv_heads;
  std::vector<GgufMeta> meta = {
      {"general.architecture", arch, 0, true},
      {"general.type", "model", 0, true},
      {"general.name", name, 0, true},
      {arch + ".block_count", "", static_cast<std::uint32_t>(layers), false},
      {arch + ".attention.head_count", "", heads, false},
      {arch + ".attention.head_count_kv", "", kv_heads, false},
  };
  std::vector<GgufInfo> t = {{"token_embd.weight", 1, {hidden, vocab}}};
  for (int i = 0; i < layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", 0, {hidden}});
    t.push_back({b + "attn_q.weight", 1, {hidden, hidden}});
    t.push_back({b + "attn_k.weight", 1, {hidden, kv}});
    t.push_back({b + "attn_v.weight", 1, {hidden, kv}});
    t.push_back({b + "attn_output.weight", 1, {hidden, hidden}});
    t.push_back({b + "ffn_gate.weight", 1, {hidden, ffn}});
    t.push_back({b + "ffn_up.weight", 1, {hidden, ffn}});
    t.push_back({b + "ffn_down.weight", 1, {ffn, hidden}});
  }
  t.push_back({"output_norm.weight", 0, {hidden}});
  t.push_back({"output.weight", 1, {hidden, vocab}});
  write_gguf_header_only(path, meta, t);
}

}  // namespace lorakit::test
