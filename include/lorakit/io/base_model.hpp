// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// read_base_model: a BaseModel from a GGUF model file or a Hugging Face model directory,
// reading headers and configs only (never the weights).
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/detail/json_config.hpp"
#include "lorakit/detail/natural_order.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/gguf.hpp"
#include "lorakit/io/gguf_names.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/check.hpp"

namespace lorakit::io {

namespace detail_base {

// The last dot-separated part of a module name.
[[nodiscard]] inline std::string_view leaf(std::string_view module) noexcept {
  const std::size_t dot = module.rfind('.');
  return dot == std::string_view::npos ? module : module.substr(dot + 1);
}

// Lookup tables, not linear maps: the leaf names Hugging Face models give their embeddings.
[[nodiscard]] inline bool is_embedding(std::string_view module) noexcept {
  constexpr std::array<std::string_view, 8> kNames = {"embed_tokens",
                                                      "wte",
                                                      "wpe",
                                                      "word_embeddings",
                                                      "position_embeddings",
                                                      "embed_positions",
                                                      "token_type_embeddings",
                                                      "shared"};
  const std::string_view l = leaf(module);
  return std::find(kNames.begin(), kNames.end(), l) != kNames.end();
}

// llama.cpp's architecture name for a Hugging Face model_type, where its converter maps one
// onto another; other model types keep their name.
[[nodiscard]] inline std::string architecture_of(std::string_view model_type) {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kMap = {{
      {"mistral", "llama"},
      {"mixtral", "llama"},
      {"gpt_neox", "gptneox"},
      {"gemma3_text", "gemma3"},
      {"qwen2_moe", "qwen2moe"},
      {"qwen3_moe", "qwen3moe"},
      {"gpt_bigcode", "starcoder"},
      {"phi", "phi2"},
      {"deepseek_v2", "deepseek2"},
      {"deepseek_v3", "deepseek2"},
      {"cohere", "command-r"},
  }};
  for (const auto& [hf, gguf] : kMap) {
    if (model_type == hf) return std::string(gguf);
  }
  return std::string(model_type);
}

// Two tensors that name one module (a checkpoint with a key twice under two spellings).
inline void require_unique(const BaseModel& base) {
  for (std::size_t i = 1; i < base.modules.size(); ++i) {
    if (base.modules[i].name == base.modules[i - 1].name) {
      throw Error(Errc::bad_format,
                  ErrorContext{.file = base.source, .tensor = base.modules[i].name + ".weight"},
                  "two weights name the module '" + base.modules[i].name + "'");
    }
  }
}

// The module-tree prefix a checkpoint of a task model may leave out of its keys (GPT-2's
// model.safetensors says "h.0.attn.c_attn.weight" for the module transformer.h.0.attn.c_attn).
[[nodiscard]] inline std::string_view base_prefix(std::string_view model_type) noexcept {
  constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kPrefix = {{
      {"gpt2", "transformer"},
      {"gpt_neo", "transformer"},
      {"bloom", "transformer"},
      {"bert", "bert"},
      {"distilbert", "distilbert"},
      {"roberta", "roberta"},
      {"gpt_neox", "gpt_neox"},
  }};
  for (const auto& [type, prefix] : kPrefix) {
    if (model_type == type) return prefix;
  }
  return {};
}

// GPT-2's Conv1D modules store W as (in, out).
[[nodiscard]] inline bool conv1d(std::string_view model_type, std::string_view module) noexcept {
  const std::string_view l = leaf(module);
  return model_type == "gpt2" && (l == "c_attn" || l == "c_proj" || l == "c_fc" || l == "q_attn");
}

// The BaseModel of an opened GGUF file; `stem` names it when general.name does not.
inline BaseModel gguf_model(const GgufFile& file, const std::string& stem) {
  const ErrorContext where{.file = file.path()};
  const std::optional<std::string> type = file.string("general.type");
  if (type && *type == "adapter") {
    throw Error(Errc::bad_format, where,
                "a GGUF adapter (general.type = adapter), not a model: load it with "
                "io::load_adapter");
  }
  const std::optional<std::string> arch = file.string("general.architecture");
  if (!arch || arch->empty()) {
    throw Error(Errc::bad_format, ErrorContext{.file = file.path(), .key = "general.architecture"},
                "a GGUF model must name its architecture");
  }
  BaseModel base;
  base.source = file.path();
  base.format = BaseFormat::gguf;
  base.architecture = *arch;
  base.name = file.string("general.name").value_or("");
  if (base.name.empty()) base.name = stem;
  // A count, or the largest of a per-layer array of counts (OpenELM's head counts); 0 when
  // absent or of another type.
  auto count = [&](const std::string& key) {
    const GgufValue* v = file.find(key);
    if (v == nullptr) return 0;
    std::int64_t n = 0;
    if (const std::optional<std::int64_t> i = v->integer()) {
      n = *i;
    } else if (v->type == GgufType::array &&
               (v->element == GgufType::u32 || v->element == GgufType::i32)) {
      for (std::size_t k = 0; k + 4 <= v->scalars.size(); k += 4) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, v->scalars.data() + k, 4);
        n = std::max<std::int64_t>(n, v->element == GgufType::i32
                                          ? std::int64_t{static_cast<std::int32_t>(bits)}
                                          : std::int64_t{bits});
      }
    }
    if (n < 0 || n > 1'000'000) {
      throw Error(Errc::bad_format, ErrorContext{.file = file.path(), .key = key},
                  "out of range: " + std::to_string(n));
    }
    return static_cast<int>(n);
  };
  base.n_layers = count(*arch + ".block_count");
  base.n_head = count(*arch + ".attention.head_count");
  base.n_head_kv = count(*arch + ".attention.head_count_kv");
  if (base.n_head_kv == 0) base.n_head_kv = base.n_head;

  const GgufNameMap* names = builtin_gguf_names(*arch);
  const bool permuted = names != nullptr && names->rope_permuted;
  base.layout = permuted ? RowLayout::llama_cpp : RowLayout::hf;
  for (const GgufTensor& t : file.tensors()) {
    constexpr std::string_view kWeight = ".weight";
    if (t.n_dims != 2 || !t.name.ends_with(kWeight)) continue;
    const std::string module = t.name.substr(0, t.name.size() - kWeight.size());
    if (module.empty()) continue;
    std::optional<std::string> hf = names != nullptr ? names->to_hf(module) : std::nullopt;
    BaseModule m;
    m.name = hf ? std::move(*hf) : module;
    const bool embedding =
        module == "token_embd" || module == "position_embd" || module == "token_types";
    m.kind = embedding ? ModuleKind::embedding : ModuleKind::linear;
    // ne[0] is contiguous: a linear weight (out, in) has ne [in, out]; an embedding table
    // (vocabulary, width) has ne [width, vocabulary].
    m.in_features = static_cast<Index>(embedding ? t.ne[1] : t.ne[0]);
    m.out_features = static_cast<Index>(embedding ? t.ne[0] : t.ne[1]);
    const std::string_view part = GgufNameMap::block_part(module);
    m.rows =
        permuted && (part == "attn_q" || part == "attn_k") ? RowLayout::llama_cpp : RowLayout::hf;
    base.modules.push_back(std::move(m));
  }
  base.sort_modules();
  require_unique(base);
  return base;
}

// The integer under the first of `keys` the config (or its text_config) holds, or 0.
inline int config_count(const lorakit::detail::JsonConfig& c,
                        std::initializer_list<const char*> keys) {
  for (const nlohmann::ordered_json* obj : {&c.json(), c.find("text_config")}) {
    if (obj == nullptr || !obj->is_object()) continue;
    for (const char* key : keys) {
      if (const std::optional<long long> v = c.integer(*obj, key)) {
        if (*v < 0 || *v > 1'000'000) c.fail(key, "is out of range");
        return static_cast<int>(*v);
      }
    }
  }
  return 0;
}

// A shard file name from model.safetensors.index.json: a plain name in the model directory.
inline std::filesystem::path shard_path(const std::filesystem::path& dir, const std::string& file,
                                        const std::string& index) {
  if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
      file == "." || file == "..") {
    throw Error(Errc::bad_format, ErrorContext{.file = index, .key = "weight_map"},
                "shard '" + file + "' is not a file name in the model directory");
  }
  return dir / file;
}

inline BaseModel read_hf_model(const std::filesystem::path& dir, const ReadLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path config_path = dir / "config.json";
  if (!fs::is_regular_file(config_path, ec)) {
    throw Error(Errc::bad_format, ErrorContext{.file = path_name(dir)},
                fs::exists(dir / "adapter_config.json", ec)
                    ? "an adapter directory, not a model: load it with io::load_adapter"
                    : "not a model: expected a GGUF model file or a Hugging Face model "
                      "directory (config.json + model.safetensors)");
  }
  const lorakit::detail::JsonConfig config =
      lorakit::detail::read_config(config_path, limits.max_config_bytes);
  BaseModel base;
  base.source = path_name(dir);
  base.format = BaseFormat::hf;
  const std::string model_type = config.string(config.json(), "model_type").value_or("");
  base.architecture = architecture_of(model_type);
  base.name = config.string(config.json(), "_name_or_path").value_or("");
  if (base.name.empty()) base.name = fs::absolute(dir, ec).lexically_normal().filename().string();
  if (base.name.empty()) base.name = dir.filename().string();
  base.n_layers = config_count(config, {"num_hidden_layers", "n_layer", "num_layers", "n_layers"});
  base.n_head = config_count(config, {"num_attention_heads", "n_head", "num_heads", "n_heads"});
  base.n_head_kv = config_count(config, {"num_key_value_heads"});
  if (base.n_head_kv == 0) base.n_head_kv = base.n_head;

  // The weight files: one model.safetensors, or the shards an index names.
  std::vector<fs::path> files;
  std::map<std::string, std::string> expected;  // tensor -> shard, from the index
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::is_regular_file(single, ec)) {
    files.push_back(single);
  } else if (fs::is_regular_file(index, ec)) {
    const lorakit::detail::JsonConfig idx =
        lorakit::detail::read_config(index, limits.max_config_bytes);
    const nlohmann::ordered_json* map = idx.find("weight_map");
    if (map == nullptr || !map->is_object()) idx.fail("weight_map", "must be an object");
    std::set<std::string> shards;
    for (const auto& [tensor, file] : map->items()) {
      if (!file.is_string()) idx.fail("weight_map", "must map tensor names to file names");
      shards.insert(file.get<std::string>());
      expected.emplace(tensor, file.get<std::string>());
    }
    for (const std::string& s : shards) files.push_back(shard_path(dir, s, idx.file()));
    for (const fs::path& f : files) {
      if (!fs::is_regular_file(f, ec)) {
        throw Error(Errc::io, ErrorContext{.file = path_name(f)},
                    fs::exists(f, ec) ? "not a regular file"
                                      : "a shard model.safetensors.index.json names is missing");
      }
    }
  } else {
    throw Error(Errc::bad_format, ErrorContext{.file = path_name(dir)},
                fs::exists(dir / "pytorch_model.bin", ec)
                    ? "only pytorch_model.bin: lorakit reads safetensors weights"
                    : "no model.safetensors or model.safetensors.index.json");
  }

  std::vector<std::pair<std::string, Shape>> weights;  // key -> shape
  for (const fs::path& f : files) {
    const SafetensorsFile file = SafetensorsFile::open(f, limits);
    for (const TensorEntry& t : file.tensors()) {
      const auto want = expected.find(t.name);
      if (!expected.empty() && (want == expected.end() || dir / want->second != f)) continue;
      if (want != expected.end()) expected.erase(want);
      weights.emplace_back(t.name, t.shape);
    }
  }
  if (!expected.empty()) {
    const auto& [tensor, file] = *expected.begin();
    throw Error(Errc::missing_tensor, ErrorContext{.file = path_name(dir / file), .tensor = tensor},
                "model.safetensors.index.json puts this tensor in this shard, which lacks it");
  }
  const std::string_view prefix = base_prefix(model_type);
  const bool add_prefix =
      !prefix.empty() && std::none_of(weights.begin(), weights.end(), [&](const auto& w) {
        return w.first.starts_with(std::string(prefix) + ".");
      });
  for (const auto& [key, shape] : weights) {
    constexpr std::string_view kWeight = ".weight";
    if (shape.rank() != 2 || !key.ends_with(kWeight)) continue;
    BaseModule m;
    m.name = (add_prefix ? std::string(prefix) + "." : std::string()) +
             key.substr(0, key.size() - kWeight.size());
    m.in_out = conv1d(model_type, m.name);
    m.kind = is_embedding(m.name) ? ModuleKind::embedding : ModuleKind::linear;
    // (out, in) for a linear weight; (vocabulary, width) for an embedding; (in, out) Conv1D.
    const bool rows_are_in = m.in_out || m.kind == ModuleKind::embedding;
    m.in_features = rows_are_in ? shape.dims[0] : shape.dims[1];
    m.out_features = rows_are_in ? shape.dims[1] : shape.dims[0];
    base.modules.push_back(std::move(m));
  }
  base.sort_modules();
  require_unique(base);
  return base;
}

}  // namespace detail_base

/// The BaseModel of the model at `path`, from headers and configs only: a GGUF model file
/// (metadata and tensor infos; llama.cpp's names mapped to Hugging Face's through
/// builtin_gguf_names, its Q/K rows in llama.cpp's order for the llama family), or a Hugging
/// Face model directory (config.json; the headers of model.safetensors or of the shards
/// model.safetensors.index.json names). Every 2-D "*.weight" tensor is a module.
/// @throws lorakit::Error naming the file: Errc::io (missing, unreadable), Errc::bad_format
///   (an adapter, not a model; a malformed file or index), Errc::missing_tensor (a shard
///   without a tensor its index puts there), as the GGUF and safetensors readers do.
[[nodiscard]] inline BaseModel read_base_model(const std::filesystem::path& path,
                                               const ReadLimits& limits = {}) {
  namespace fs = std::filesystem;
  require_path(path, "model path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) return detail_base::read_hf_model(path, limits);
  if (!fs::exists(path, ec)) {
    throw Error(Errc::io, ErrorContext{.file = path_name(path)}, "no such file or directory");
  }
  if (!fs::is_regular_file(path, ec)) {
    throw Error(Errc::io, ErrorContext{.file = path_name(path)}, "not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Errc::io, ErrorContext{.file = path_name(path)}, "cannot open");
  std::array<char, 4> magic{};
  in.read(magic.data(), 4);
  if (in.gcount() == 4 && std::string_view(magic.data(), 4) == "GGUF") {
    return detail_base::gguf_model(GgufFile::open(path, limits), path.stem().string());
  }
  if (path.filename() == "config.json" || path.extension() == ".safetensors") {
    return detail_base::read_hf_model(
        path.parent_path().empty() ? fs::path(".") : path.parent_path(), limits);
  }
  throw Error(Errc::bad_format, ErrorContext{.file = path_name(path)},
              "not a model: expected a GGUF model file or a Hugging Face model directory");
}

/// LoadOptions that load an adapter for `base`: its layout (a GGUF llama-family adapter's Q/K
/// rows kept in llama.cpp's order for a GGUF base, put back in Hugging Face order otherwise)
/// and its head counts.
[[nodiscard]] inline LoadOptions load_options_for(const BaseModel& base, LoadOptions options = {}) {
  options.base_layout =
      base.layout == RowLayout::llama_cpp ? BaseLayout::llama_cpp : BaseLayout::hf;
  if (base.n_head > 0) {
    options.n_head = base.n_head;
    options.n_head_kv = base.n_head_kv;
  }
  return options;
}

/// check() of the adapter at `path` as it loads for `base` (load_options_for): a file that
/// does not load reports the loader's problems.
/// @throws std::bad_alloc only.
[[nodiscard]] inline CheckReport check_file(const std::filesystem::path& path,
                                            const BaseModel& base, const CheckOptions& options = {},
                                            const LoadOptions& load = {}) {
  auto failed = [&](const Error& e) {
    CheckReport report;
    report.adapter = options.name.empty() ? path.filename().string() : options.name;
    report.base = base.name;
    report.problems = e.problems();
    report.diagnosis = e.diagnosis();
    report.message = e.what();
    return report;
  };
  try {
    const std::shared_ptr<const Adapter> adapter = load_adapter(path, load_options_for(base, load));
    return check(*adapter, base, options);
  } catch (const Error& e) {
    return failed(e);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {  // the file system's own errors (a race, EACCES)
    return failed(Error(Errc::io, ErrorContext{.file = path_name(path)}, e.what()));
  }
}

}  // namespace lorakit::io
