// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// llama.cpp's tensor names <-> Hugging Face module names, per GGUF architecture, and the Q/K
// row order llama.cpp's converter gives the llama family.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/core/types.hpp"

namespace lorakit::io {

/// How one GGUF architecture names the modules LoRA adapts. A block module is
/// "blk.<N>.<gguf>" in llama.cpp and "<hf_block_prefix><N>.<hf>" in Hugging Face; a global one
/// is named the same way in every file. Module names carry no ".weight": the GGUF tensor of a
/// module is "<module>.weight.lora_a" / ".lora_b".
struct GgufNameMap {
  std::string hf_block_prefix = "model.layers.";
  std::vector<std::pair<std::string, std::string>> block;   ///< {gguf, hf} within a block
  std::vector<std::pair<std::string, std::string>> global;  ///< {gguf, hf}
  /// llama.cpp's converter reorders the rows of Q and K (attn_q, attn_k) of this architecture
  /// from Hugging Face's rotate-half layout into interleaved pairs.
  bool rope_permuted = false;

  /// The Hugging Face name of a llama.cpp module ("blk.3.attn_q" -> "model.layers.3.
  /// self_attn.q_proj"); nullopt when the table does not know it.
  [[nodiscard]] std::optional<std::string> to_hf(std::string_view gguf) const {
    for (const auto& [g, h] : global) {
      if (gguf == g) return h;
    }
    if (!gguf.starts_with("blk.")) return std::nullopt;
    const std::string_view rest = gguf.substr(4);
    const std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || !digits(rest.substr(0, dot))) {
      return std::nullopt;
    }
    const std::string_view name = rest.substr(dot + 1);
    for (const auto& [g, h] : block) {
      if (name == g) return hf_block_prefix + std::string(rest.substr(0, dot)) + "." + h;
    }
    return std::nullopt;
  }

  /// The llama.cpp name of a Hugging Face module; nullopt when the table does not know it.
  [[nodiscard]] std::optional<std::string> to_gguf(std::string_view hf) const {
    for (const auto& [g, h] : global) {
      if (hf == h) return g;
    }
    if (!hf.starts_with(hf_block_prefix)) return std::nullopt;
    const std::string_view rest = hf.substr(hf_block_prefix.size());
    const std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || !digits(rest.substr(0, dot))) {
      return std::nullopt;
    }
    const std::string_view name = rest.substr(dot + 1);
    for (const auto& [g, h] : block) {
      if (name == h) return "blk." + std::string(rest.substr(0, dot)) + "." + g;
    }
    return std::nullopt;
  }

  /// The block-local llama.cpp name of a module ("blk.3.attn_q" -> "attn_q"), or "".
  [[nodiscard]] static std::string_view block_part(std::string_view gguf) {
    if (!gguf.starts_with("blk.")) return {};
    const std::size_t dot = gguf.find('.', 4);
    return dot == std::string_view::npos ? std::string_view() : gguf.substr(dot + 1);
  }

 private:
  static bool digits(std::string_view s) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  }
};

/// The names of the architectures lorakit knows: llama (Llama 2/3, Mistral, SmolLM: Q/K rows
/// permuted), qwen2, qwen3, gemma, gemma2, gemma3 (the same names, no permutation) and phi3
/// (fused qkv_proj and gate_up_proj). nullptr for any other: its modules keep llama.cpp's names.
[[nodiscard]] inline const GgufNameMap* builtin_gguf_names(std::string_view architecture) {
  static const std::vector<std::pair<std::string, std::string>> kGlobal = {
      {"token_embd", "model.embed_tokens"}, {"output", "lm_head"}};
  static const std::vector<std::pair<std::string, std::string>> kLlamaBlock = {
      {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"},
      {"ffn_gate", "mlp.gate_proj"},  {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  static const GgufNameMap kLlama{"model.layers.", kLlamaBlock, kGlobal, true};
  static const GgufNameMap kPlain{"model.layers.", kLlamaBlock, kGlobal, false};
  static const GgufNameMap kPhi3{"model.layers.",
                                 {{"attn_qkv", "self_attn.qkv_proj"},
                                  {"attn_output", "self_attn.o_proj"},
                                  {"ffn_up", "mlp.gate_up_proj"},
                                  {"ffn_down", "mlp.down_proj"}},
                                 kGlobal,
                                 false};
  if (architecture == "llama") return &kLlama;
  if (architecture == "qwen2" || architecture == "qwen3" || architecture == "gemma" ||
      architecture == "gemma2" || architecture == "gemma3") {
    return &kPlain;
  }
  if (architecture == "phi3") return &kPhi3;
  return nullptr;
}

/// llama.cpp's converter order of the `n_out` rows of a Q or K projection with `n_head` heads:
/// GGUF row h*hd + 2*i + j holds Hugging Face row h*hd + j*(hd/2) + i (hd = n_out / n_head).
/// Returns p with gguf_row[g] = hf_row[p[g]]; nullopt when n_out does not split into heads of
/// an even size.
[[nodiscard]] inline std::optional<std::vector<Index>> rope_gguf_order(Index n_out, Index n_head) {
  if (n_head <= 0 || n_out % n_head != 0 || (n_out / n_head) % 2 != 0) return std::nullopt;
  const Index hd = n_out / n_head;
  std::vector<Index> p(static_cast<std::size_t>(n_out));
  for (Index h = 0; h < n_head; ++h) {
    for (Index i = 0; i < hd / 2; ++i) {
      for (Index j = 0; j < 2; ++j) {
        p[static_cast<std::size_t>(h * hd + 2 * i + j)] = h * hd + j * (hd / 2) + i;
      }
    }
  }
  return p;
}

/// The inverse of rope_gguf_order: q with hf_row[h] = gguf_row[q[h]].
[[nodiscard]] inline std::optional<std::vector<Index>> rope_hf_order(Index n_out, Index n_head) {
  std::optional<std::vector<Index>> p = rope_gguf_order(n_out, n_head);
  if (!p) return std::nullopt;
  std::vector<Index> q(p->size());
  for (std::size_t g = 0; g < p->size(); ++g)
    q[static_cast<std::size_t>((*p)[g])] = static_cast<Index>(g);
  return q;
}

}  // namespace lorakit::io
