// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A tiny llama-architecture model with random weights, kept in Hugging Face layout (W:(out, in)
// row-major, Q/K rows in rotate-half order), and written as a GGUF model file the way llama.cpp's
// convert_hf_to_gguf.py lays one out: F32 tensors, ne the reversed shape, Q/K rows permuted.
// Test code: lorakit has no model writer.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lorakit/core/types.hpp"
#include "lorakit/io/gguf.hpp"
#include "random.hpp"

namespace lorakit::test::llama {

/// Hyper-parameters of the tiny model (the keys llama.cpp reads under "llama.").
struct Config {
  Index vocab = 64;
  Index embd = 64;
  Index layers = 2;
  Index heads = 4;
  Index kv_heads = 2;
  Index ff = 128;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;

  [[nodiscard]] Index head_dim() const { return embd / heads; }
  [[nodiscard]] Index q_out() const { return heads * head_dim(); }
  [[nodiscard]] Index kv_out() const { return kv_heads * head_dim(); }
};

/// The projections of a block, in the order Layer::proj indexes them.
enum class Proj : std::size_t { q, k, v, o, gate, up, down };
inline constexpr std::array<Proj, 4> kAttention = {Proj::q, Proj::k, Proj::v, Proj::o};

/// The Hugging Face module name of a projection ("model.layers.1.self_attn.k_proj").
inline std::string module_name(Index layer, Proj p) {
  static constexpr std::array<const char*, 7> kNames = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return "model.layers." + std::to_string(layer) + "." + kNames[static_cast<std::size_t>(p)];
}

/// llama.cpp's tensor name of a projection ("blk.1.attn_k.weight").
inline std::string gguf_name(Index layer, Proj p) {
  static constexpr std::array<const char*, 7> kNames = {
      "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  return "blk." + std::to_string(layer) + "." + kNames[static_cast<std::size_t>(p)] + ".weight";
}

/// {out, in} of a projection.
inline std::array<Index, 2> proj_shape(const Config& c, Proj p) {
  switch (p) {
    case Proj::q: return {c.q_out(), c.embd};
    case Proj::k:
    case Proj::v: return {c.kv_out(), c.embd};
    case Proj::o: return {c.embd, c.q_out()};
    case Proj::gate:
    case Proj::up: return {c.ff, c.embd};
    case Proj::down: return {c.embd, c.ff};
  }
  return {0, 0};
}

struct Layer {
  std::array<RowMatrix, 7> w;  ///< W:(out, in) per Proj, Hugging Face row order
  std::vector<float> attn_norm, ffn_norm;

  [[nodiscard]] RowMatrix& proj(Proj p) { return w[static_cast<std::size_t>(p)]; }
  [[nodiscard]] const RowMatrix& proj(Proj p) const { return w[static_cast<std::size_t>(p)]; }
};

/// A llama model's weights in Hugging Face layout.
struct Weights {
  Config config;
  RowMatrix token_embd;  ///< (vocab, embd)
  RowMatrix output;      ///< (vocab, embd)
  std::vector<float> output_norm;
  std::vector<Layer> layers;
};

/// Random weights with a fixed seed: embeddings uniform in [-1, 1), projections uniform with
/// standard deviation 1/sqrt(in), the output twice that (logits spread over a few units), norm
/// weights 1 + uniform [-0.1, 0.1).
inline Weights random_weights(const Config& c, std::uint64_t seed) {
  auto norm = [&](std::uint64_t s) {
    Random rng(s);
    std::vector<float> v(static_cast<std::size_t>(c.embd));
    for (float& x : v) x = 1.0f + 0.1f * rng.uniform();
    return v;
  };
  auto dense = [&](Index out, Index in, std::uint64_t s, float gain) {
    // uniform [-a, a) has standard deviation a / sqrt(3)
    return random_matrix(out, in, s, gain * std::sqrt(3.0f / static_cast<float>(in)));
  };
  Weights m;
  m.config = c;
  m.token_embd = random_matrix(c.vocab, c.embd, seed++);
  m.output = dense(c.vocab, c.embd, seed++, 2.0f);
  m.output_norm = norm(seed++);
  for (Index l = 0; l < c.layers; ++l) {
    Layer& layer = m.layers.emplace_back();
    layer.attn_norm = norm(seed++);
    layer.ffn_norm = norm(seed++);
    for (std::size_t p = 0; p < layer.w.size(); ++p) {
      const auto [out, in] = proj_shape(c, static_cast<Proj>(p));
      layer.w[p] = dense(out, in, seed++, 1.0f);
    }
  }
  return m;
}

/// The rows of a Q or K weight (out, in) as convert_hf_to_gguf.py's LlamaModel.permute orders
/// them: w.reshape(n_head, 2, hd / 2, in).swapaxes(1, 2), i.e. GGUF row h*hd + 2i + j is Hugging
/// Face row h*hd + j*(hd/2) + i. Written here from the converter, not taken from lorakit.
inline RowMatrix to_gguf_rows(const RowMatrix& w, Index n_head) {
  const Index hd = w.rows() / n_head;
  RowMatrix out(w.rows(), w.cols());
  for (Index h = 0; h < n_head; ++h) {
    for (Index i = 0; i < hd / 2; ++i) {
      for (Index j = 0; j < 2; ++j) out.row(h * hd + 2 * i + j) = w.row(h * hd + j * (hd / 2) + i);
    }
  }
  return out;
}

/// Writes `m` as a GGUF model llama.cpp loads: general.architecture `architecture`, the llama
/// hyper-parameters, the smallest vocabulary node-llama-cpp accepts (a byte-level BPE one with
/// no merges), and every tensor in F32 with Q/K rows in llama.cpp's order.
inline void write_model(const std::filesystem::path& path, const Weights& m,
                        const std::string& architecture = "llama") {
  using io::GgufType;
  using io::GgufValue;
  const Config& c = m.config;
  const std::string a = architecture + ".";
  auto u32 = [](Index v) { return GgufValue::of_u32(static_cast<std::uint32_t>(v)); };
  std::vector<GgufValue> tokens;
  std::vector<std::int32_t> token_types;
  for (Index t = 0; t < c.vocab; ++t) {
    // <unk>, <s>, </s>, then plain pieces; "\xc4\x8a" is byte-level BPE's newline.
    static constexpr std::array<const char*, 4> kFirst = {"<unk>", "<s>", "</s>", "\xc4\x8a"};
    tokens.push_back(GgufValue::of_string(t < 4 ? kFirst[static_cast<std::size_t>(t)]
                                                : "t" + std::to_string(t)));
    token_types.push_back(t == 0 ? 2 : (t < 3 ? 3 : 1));  // unknown, control, normal
  }
  const std::vector<io::GgufKeyValue> kv = {
      {"general.architecture", GgufValue::of_string(architecture)},
      {"general.name", GgufValue::of_string("lorakit-tiny")},
      {a + "context_length", u32(256)},
      {a + "embedding_length", u32(c.embd)},
      {a + "block_count", u32(c.layers)},
      {a + "feed_forward_length", u32(c.ff)},
      {a + "attention.head_count", u32(c.heads)},
      {a + "attention.head_count_kv", u32(c.kv_heads)},
      {a + "rope.dimension_count", u32(c.head_dim())},
      {a + "rope.freq_base", GgufValue::of_f32(c.rope_base)},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::of_f32(c.rms_eps)},
      {"tokenizer.ggml.model", GgufValue::of_string("gpt2")},
      {"tokenizer.ggml.pre", GgufValue::of_string("default")},
      {"tokenizer.ggml.tokens", GgufValue::of_items(GgufType::string, std::move(tokens))},
      {"tokenizer.ggml.token_type",
       GgufValue::of_array(GgufType::i32, std::span<const std::int32_t>(token_types))},
      {"tokenizer.ggml.merges", GgufValue::of_items(GgufType::string, {})},
      {"tokenizer.ggml.bos_token_id", u32(1)},
      {"tokenizer.ggml.eos_token_id", u32(2)},
  };

  std::vector<RowMatrix> permuted;  // keeps the Q/K copies alive until written
  permuted.reserve(static_cast<std::size_t>(2 * c.layers));
  std::vector<io::GgufTensorToWrite> tensors;
  auto bytes = [](const float* data, Index n) {
    return std::as_bytes(std::span<const float>(data, static_cast<std::size_t>(n)));
  };
  auto matrix = [&](std::string name, const RowMatrix& w) {
    tensors.push_back(
        {std::move(name), io::GgmlType::f32, {w.cols(), w.rows()}, bytes(w.data(), w.size())});
  };
  auto vector = [&](std::string name, const std::vector<float>& v) {
    const auto n = static_cast<Index>(v.size());
    tensors.push_back({std::move(name), io::GgmlType::f32, {n}, bytes(v.data(), n)});
  };
  matrix("token_embd.weight", m.token_embd);
  vector("output_norm.weight", m.output_norm);
  matrix("output.weight", m.output);
  for (Index l = 0; l < c.layers; ++l) {
    const Layer& layer = m.layers[static_cast<std::size_t>(l)];
    const std::string blk = "blk." + std::to_string(l) + ".";
    vector(blk + "attn_norm.weight", layer.attn_norm);
    for (std::size_t p = 0; p < layer.w.size(); ++p) {
      const auto proj = static_cast<Proj>(p);
      if (proj == Proj::q || proj == Proj::k) {
        permuted.push_back(to_gguf_rows(layer.w[p], proj == Proj::q ? c.heads : c.kv_heads));
        matrix(gguf_name(l, proj), permuted.back());
      } else {
        matrix(gguf_name(l, proj), layer.w[p]);
      }
    }
    vector(blk + "ffn_norm.weight", layer.ffn_norm);
  }
  io::write_gguf(path, kv, tensors);
}

}  // namespace lorakit::test::llama
