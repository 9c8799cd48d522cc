// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// BaseModel: what lorakit needs to know of a base model without its weights.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/core/types.hpp"
#include "lorakit/detail/natural_order.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/model.hpp"
#include "lorakit/runtime/targeting.hpp"

namespace lorakit {

/// Where a BaseModel description came from.
enum class BaseFormat : unsigned char {
  host,  ///< a host's Model (its registered layers)
  gguf,  ///< a GGUF model file (llama.cpp)
  hf,    ///< a Hugging Face model directory (config.json + safetensors)
};

[[nodiscard]] constexpr std::string_view to_string(BaseFormat f) noexcept {
  switch (f) {
    case BaseFormat::host: return "host";
    case BaseFormat::gguf: return "gguf";
    case BaseFormat::hf: return "hf";
  }
  return "?";
}

/// One weight matrix of a base model an adapter may target.
struct BaseModule {
  std::string name;  ///< Hugging Face module name, no ".weight" (model.layers.3.self_attn.q_proj)
  Index in_features = 0;
  Index out_features = 0;
  ModuleKind kind = ModuleKind::linear;  ///< embedding: a lookup table (vocabulary, width)
  bool in_out = false;                   ///< stored as (in, out): GPT-2's Conv1D; else (out, in)
  /// The order of its outputs: llama.cpp's rotary order for Q/K of a GGUF llama-family file.
  RowLayout rows = RowLayout::hf;
};

/// A base model as lorakit sees it: architecture, block and head counts, every weight matrix
/// by module name with its (in, out), and the order of the Q/K rows in its weights. Module
/// names are Hugging Face's, also for a GGUF file (mapped through builtin_gguf_names), so an
/// adapter in any format is compared in one vocabulary. Counts are 0 when the source does not
/// state them.
struct BaseModel {
  std::string name;    ///< the model's name (general.name, _name_or_path, the folder's name)
  std::string source;  ///< the file or directory it was read from
  BaseFormat format = BaseFormat::host;
  /// llama.cpp's architecture name (llama, qwen2, gemma2, phi3, ...); a Hugging Face
  /// model_type is mapped to it where llama.cpp converts it (mistral -> llama), else kept.
  std::string architecture;
  int n_layers = 0;   ///< transformer blocks
  int n_head = 0;     ///< attention heads
  int n_head_kv = 0;  ///< key/value heads (grouped-query attention); n_head when not stated
  /// hf: the Hugging Face order of Q/K rows; llama_cpp: llama.cpp's rotary order (a GGUF file
  /// of an architecture its converter permutes). Never unresolved.
  RowLayout layout = RowLayout::hf;
  /// In natural order of names (layers.2 before layers.10): find() searches by halving, so a
  /// description built by hand keeps that order (sort_modules()).
  std::vector<BaseModule> modules;

  /// The module called `module`, or nullptr. O(log n).
  [[nodiscard]] const BaseModule* find(std::string_view module) const noexcept {
    const auto it = std::lower_bound(modules.begin(), modules.end(), module,
                                     [](const BaseModule& m, std::string_view key) {
                                       return detail::natural_less(m.name, key);
                                     });
    return it != modules.end() && it->name == module ? &*it : nullptr;
  }

  /// Puts the modules in natural order of names.
  void sort_modules() {
    std::stable_sort(modules.begin(), modules.end(), [](const BaseModule& a, const BaseModule& b) {
      return detail::natural_less(a.name, b.name);
    });
  }
};

/// A host Model as a BaseModel: its registered layers (all linear, Hugging Face layout), the
/// base name from Model::Options::base, the block count from the layer names.
[[nodiscard]] inline BaseModel describe(const Model& model) {
  BaseModel base;
  base.name = model.options().base;
  base.format = BaseFormat::host;
  for (LayerInfo& l : model.layers()) {
    base.n_layers = std::max(base.n_layers, layer_index(l.name) + 1);
    base.modules.push_back(BaseModule{std::move(l.name), l.in_features, l.out_features});
  }
  base.sort_modules();
  return base;
}

}  // namespace lorakit
