// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// HF PEFT adapters: adapter_config.json + adapter_model.safetensors <-> Adapter.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/detail/json_config.hpp"
#include "lorakit/detail/tensor_store.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::io {

namespace detail_peft {

constexpr std::string_view kPrefix = "base_model.model.";

/// The key without every leading "base_model.model." (PEFT prefixes it once; some files twice).
inline std::string_view strip_prefix(std::string_view key) {
  while (key.starts_with(kPrefix)) key.remove_prefix(kPrefix.size());
  return key;
}

inline std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

inline std::string join(const std::vector<std::string_view>& parts, std::size_t first,
                        std::size_t last) {
  std::string s;
  for (std::size_t i = first; i < last; ++i) {
    if (i != first) s += '.';
    s += parts[i];
  }
  return s;
}

/// The LoRA tensor a key holds.
enum class Slot { a, b, embedding_a, embedding_b, magnitude };

struct KeyParse {
  enum Kind { lora, full, ignored, unknown } kind = unknown;
  std::string module;  // for lora: the module; for full: the full tensor name
  Slot slot = Slot::a;
};

/// Classifies a key (prefix already stripped):
/// - <module>.lora_A[.<adapter>].weight, lora_B, lora_embedding_A/B[.<adapter>],
///   lora_magnitude_vector[.<adapter>][.weight]: LoRA tensors of <module>;
/// - keys inside PEFT's wrappers (base_layer, original_module, modules_to_save.<adapter>):
///   copies PEFT itself ignores on load, except a trained base_layer.bias;
/// - any other key: a full replacement tensor (modules_to_save heads, trained biases).
inline KeyParse classify(std::string_view key, bool keep_biases) {
  const std::vector<std::string_view> parts = split(key);
  KeyParse p;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view c = parts[i];
    if (c == "original_module" || c == "modules_to_save") {
      p.kind = KeyParse::ignored;
      return p;
    }
    if (c == "base_layer") {
      if (keep_biases && i + 2 == parts.size() && parts[i + 1] == "bias") {
        p.kind = KeyParse::full;
        p.module = join(parts, 0, i) + ".bias";
      } else {
        p.kind = KeyParse::ignored;
      }
      return p;
    }
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].starts_with("lora_")) continue;
    p.module = join(parts, 0, i);
    const std::string_view slot = parts[i];
    const std::size_t rest = parts.size() - i - 1;  // components after the slot name
    const bool has_weight = rest >= 1 && parts.back() == "weight";
    const std::size_t extra = rest - (has_weight ? 1 : 0);  // an adapter name at most
    if (p.module.empty() || extra > 1) return p;
    if ((slot == "lora_A" || slot == "lora_B") && has_weight) {
      p.kind = KeyParse::lora;
      p.slot = slot == "lora_A" ? Slot::a : Slot::b;
    } else if ((slot == "lora_embedding_A" || slot == "lora_embedding_B") && !has_weight) {
      p.kind = KeyParse::lora;
      p.slot = slot == "lora_embedding_A" ? Slot::embedding_a : Slot::embedding_b;
    } else if (slot == "lora_magnitude_vector") {
      p.kind = KeyParse::lora;
      p.slot = Slot::magnitude;
    }
    return p;  // kind stays unknown for any other lora_ suffix
  }
  p.kind = KeyParse::full;
  p.module = std::string(key);
  return p;
}

/// A rank_pattern / alpha_pattern key compiled to a small pattern language that covers what
/// PEFT configs hold: literal characters, backslash escapes, '.' (any character), ".*" and ".+"
/// (any run), an optional leading '^' (the whole name only) and trailing '$'. Matching simulates
/// the pattern's states over the name in O(name x key) time. Other regex operators are refused:
/// std::regex backtracks exponentially and recurses per character, which a hostile config can
/// turn into a hang or a stack overflow.
struct NamePattern {
  enum class Kind : unsigned char { literal, any, run };
  struct Token {
    Kind kind;
    char c;
  };
  std::vector<Token> tokens;
  bool anchored = false;

  static constexpr std::size_t kMaxKey = 1024;

  static std::optional<NamePattern> compile(std::string_view key) {
    if (key.size() > kMaxKey) return std::nullopt;
    NamePattern p;
    if (key.starts_with('^')) {
      p.anchored = true;
      key.remove_prefix(1);
    }
    for (std::size_t i = 0; i < key.size(); ++i) {
      const char c = key[i];
      if (c == '\\') {
        if (++i == key.size()) return std::nullopt;
        if (std::string_view(".^$|()[]{}*+?\\/-_").find(key[i]) == std::string_view::npos) {
          return std::nullopt;  // \d, \w, ...: classes are operators too
        }
        p.tokens.push_back({Kind::literal, key[i]});
      } else if (c == '.') {
        const char next = i + 1 < key.size() ? key[i + 1] : '\0';
        if (next == '*' || next == '+') {
          if (next == '+') p.tokens.push_back({Kind::any, 0});
          p.tokens.push_back({Kind::run, 0});
          ++i;
        } else {
          p.tokens.push_back({Kind::any, 0});
        }
      } else if (c == '$' && i + 1 == key.size()) {
        break;
      } else if (std::string_view("^$|()[]{}*+?").find(c) != std::string_view::npos) {
        return std::nullopt;
      } else {
        p.tokens.push_back({Kind::literal, c});
      }
    }
    return p;
  }

  // Python's re.fullmatch(r"(.*\.)?(K)", name): K matches the whole name or a suffix that
  // follows a '.'.
  [[nodiscard]] bool matches(std::string_view name) const {
    const std::size_t m = tokens.size();
    std::vector<char> at(m + 1, 0);
    std::vector<char> next(m + 1, 0);
    auto close = [&](std::vector<char>& s) {  // a run may match nothing
      for (std::size_t j = 0; j < m; ++j) {
        if (s[j] && tokens[j].kind == Kind::run) s[j + 1] = 1;
      }
    };
    at[0] = 1;
    close(at);
    for (const char ch : name) {
      std::fill(next.begin(), next.end(), 0);
      for (std::size_t j = 0; j < m; ++j) {
        if (!at[j]) continue;
        const Token& t = tokens[j];
        if (t.kind == Kind::run) {
          next[j] = 1;
        } else if (t.kind == Kind::any || t.c == ch) {
          next[j + 1] = 1;
        }
      }
      if (!anchored && ch == '.') next[0] = 1;  // K may start after any '.'
      close(next);
      at.swap(next);
    }
    return at[m] != 0;
  }
};

/// PEFT's rank_pattern / alpha_pattern lookup: the first key K (in file order) for which the
/// module name matches (.*\.)?(K) in full.
/// @throws lorakit::Error (Errc::unsupported) for a key with regex operators NamePattern
///   does not evaluate.
inline const nlohmann::ordered_json* pattern_value(const nlohmann::ordered_json* patterns,
                                                   const std::string& module,
                                                   const std::string& file, const char* field) {
  if (patterns == nullptr) return nullptr;
  for (const auto& [key, value] : patterns->items()) {
    const std::optional<NamePattern> p = NamePattern::compile(key);
    if (!p) {
      throw Error(Errc::unsupported, ErrorContext{.file = file},
                  std::string("'") + field + "' key '" + key +
                      "' uses regex operators lorakit does not evaluate (it matches names with "
                      "'.', '.*', '.+', escapes, '^' and '$')");
    }
    if (p->matches(module)) return &value;
  }
  return nullptr;
}

// The loader proper: `config` is the parsed adapter_config.json, `open_tensors` opens the
// safetensors file (only once the config has been checked), `dir` names the adapter.
// `Result`: the Adapter, or its AdapterOutline (no tensor value read).
template <class Result = std::shared_ptr<const Adapter>, class OpenTensors>
Result load(const detail::JsonConfig& config, const std::filesystem::path& dir,
            OpenTensors&& open_tensors, const LoadOptions& options) {
  const auto& j = config.json();
  const std::string peft_type = config.string(j, "peft_type").value_or("LORA");
  if (peft_type != "LORA") {
    throw Error(Errc::unsupported, ErrorContext{.file = config.file()},
                "peft_type '" + peft_type + "' is not LoRA; lorakit loads LORA adapters");
  }

  AdapterInfo info;
  info.source = dir.string();
  info.format = AdapterFormat::peft;
  info.name = options.name.empty() ? dir.filename().string() : options.name;
  if (info.name.empty()) info.name = dir.parent_path().filename().string();
  info.base_model = config.string(j, "base_model_name_or_path").value_or("");
  const long long r = config.integer(j, "r").value_or(8);
  if (r < 1) config.fail("r", "must be >= 1");
  info.rank = static_cast<Index>(r);
  info.alpha = static_cast<float>(config.number(j, "lora_alpha").value_or(8.0));
  info.scaling = config.boolean(j, "use_rslora").value_or(false) ? Scaling::alpha_over_sqrt_rank
                                                                 : Scaling::alpha_over_rank;
  info.variant =
      config.boolean(j, "use_dora").value_or(false) ? VariantKind::dora : VariantKind::lora;
  if (const auto* t = config.find("target_modules")) {
    if (t->is_string()) {
      info.target.regex = t->get<std::string>();
    } else {
      info.target.names = config.strings(j, "target_modules");
    }
  }
  if (const auto* l = config.find("layers_to_transform")) {
    if (l->is_number_integer()) {
      info.target.layers.push_back(l->get<int>());
    } else if (l->is_array()) {
      for (const auto& e : *l) {
        if (!e.is_number_integer()) config.fail("layers_to_transform", "must hold integers");
        info.target.layers.push_back(e.get<int>());
      }
    } else {
      config.fail("layers_to_transform", "must be an integer or a list of integers");
    }
  }
  info.target.layers_pattern = config.strings(j, "layers_pattern");
  info.modules_to_save = config.strings(j, "modules_to_save");
  info.bias = config.string(j, "bias").value_or("none");
  info.fan_in_fan_out = config.boolean(j, "fan_in_fan_out").value_or(false);
  if (info.bias != "none" && info.bias != "all" && info.bias != "lora_only") {
    config.fail("bias", "must be none, all or lora_only");
  }
  const auto* rank_pattern = config.find("rank_pattern");
  const auto* alpha_pattern = config.find("alpha_pattern");
  if (rank_pattern != nullptr && !rank_pattern->is_object()) {
    config.fail("rank_pattern", "must be an object");
  }
  if (alpha_pattern != nullptr && !alpha_pattern->is_object()) {
    config.fail("alpha_pattern", "must be an object");
  }

  const SafetensorsFile file = open_tensors();
  AdapterBuilder builder(file.path(), options,
                         PartNames{"lora_A", "lora_B", "lora_magnitude_vector"});
  builder.keep(file.storage());
  std::set<std::string> embeddings;
  for (const TensorEntry& t : file.tensors()) {
    const KeyParse p = classify(strip_prefix(t.name), info.bias != "none");
    switch (p.kind) {
      case KeyParse::ignored: info.ignored_tensors.push_back(t.name); break;
      case KeyParse::full: builder.add_saved(p.module, stored_tensor(t)); break;
      case KeyParse::unknown:
        builder.problems().add(Errc::unexpected_tensor,
                               ErrorContext{.file = file.path(), .tensor = t.name},
                               "not a LoRA tensor lorakit knows (lora_A/B, lora_embedding_A/B, "
                               "lora_magnitude_vector)");
        break;
      case KeyParse::lora: {
        // PEFT: lora_A [r, in], lora_B [out, r] (lora_embedding_A [r, vocab], _B [dim, r]).
        const Part part = p.slot == Slot::a || p.slot == Slot::embedding_a ? Part::a
                          : p.slot == Slot::magnitude                      ? Part::magnitude
                                                                           : Part::b;
        if (p.slot == Slot::embedding_a || p.slot == Slot::embedding_b) embeddings.insert(p.module);
        builder.add(p.module, part, stored_tensor(t), part != Part::magnitude);
        break;
      }
    }
  }
  const Index default_rank = info.rank;
  const float default_alpha = info.alpha;
  return builder.template finish<Result>(std::move(info), [&](const std::string& module) {
    const nlohmann::ordered_json* rv =
        pattern_value(rank_pattern, module, config.file(), "rank_pattern");
    const nlohmann::ordered_json* av =
        pattern_value(alpha_pattern, module, config.file(), "alpha_pattern");
    if (rv != nullptr && !rv->is_number_integer())
      config.fail("rank_pattern", "values must be integers");
    if (av != nullptr && !av->is_number()) config.fail("alpha_pattern", "values must be numbers");
    ModuleSpec spec;
    spec.rank = rv != nullptr ? rv->get<Index>() : default_rank;
    spec.rank_source = rv != nullptr ? "rank_pattern" : "the config's r";
    spec.alpha = av != nullptr ? av->get<float>() : default_alpha;
    spec.kind = embeddings.count(module) != 0 ? ModuleKind::embedding : ModuleKind::linear;
    return spec;
  });
}

}  // namespace detail_peft

/// Loads a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors).
/// lora_A [r, in] and lora_B [out, r] are transposed into A:(in, r), B:(r, out); keys lose
/// every "base_model.model." prefix; rank_pattern / alpha_pattern give per-module rank and
/// alpha. Every problem in the file is collected and reported in one Error.
/// @throws lorakit::Error: io, bad_format, bad_config, unsupported (peft_type not LORA),
///   unsupported_dtype, missing_tensor, unexpected_tensor, shape_mismatch, non_finite,
///   limit_exceeded
inline std::shared_ptr<const Adapter> load_peft(const std::filesystem::path& dir,
                                                const LoadOptions& options = {}) {
  require_path(dir, "adapter directory");
  return detail_peft::load(
      detail::read_config(dir / "adapter_config.json", options.limits.max_config_bytes), dir,
      [&] { return SafetensorsFile::open(dir / "adapter_model.safetensors", options.limits); },
      options);
}

/// load_peft() on the two files' contents held in memory (a download, an archive member):
/// `config_json` is adapter_config.json, `tensors` adapter_model.safetensors; `dir` names the
/// adapter in errors and AdapterInfo. The tensors may be viewed in place, and `tensors` is kept
/// alive by the Adapter.
inline std::shared_ptr<const Adapter> load_peft(std::string_view config_json,
                                                std::shared_ptr<const FileBytes> tensors,
                                                const std::filesystem::path& dir,
                                                const LoadOptions& options = {}) {
  return detail_peft::load(
      detail::parse_config(config_json, (dir / "adapter_config.json").string(),
                           options.limits.max_config_bytes),
      dir, [&] { return SafetensorsFile::parse(tensors, options.limits); }, options);
}

namespace detail_peft {

/// A tensor's bytes in the dtype it is stored in, transposed when asked (PEFT's orientation).
inline std::vector<std::byte> stored_bytes(const AdapterTensor& t, bool transpose) {
  std::vector<std::byte> out(t.bytes.size());
  const auto size = static_cast<std::size_t>(size_of(t.dtype));
  if (transpose) {
    lorakit::detail::transpose_blocked(t.bytes.data(), t.rows(), t.cols(), size, out.data());
  } else if (!out.empty()) {
    std::memcpy(out.data(), t.bytes.data(), out.size());
  }
  return out;
}

/// A regex that matches exactly one module name under PEFT's pattern rule.
inline std::string exact_pattern(const std::string& module) {
  std::string s = "^";
  for (char c : module) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) s += '\\';
    s += c;
  }
  return s;
}

}  // namespace detail_peft

/// Writes `adapter` as a PEFT adapter directory that PEFT itself loads: keys
/// base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r] in the stored
/// dtype, modules_to_save tensors under their names, and a LORA adapter_config.json (modules
/// whose rank or alpha differ from the default go into rank_pattern / alpha_pattern; a
/// direct multiplier becomes lora_alpha = multiplier x r).
/// @throws lorakit::Error (Errc::io) when the directory or a file cannot be written.
inline void save_peft(const Adapter& adapter, const std::filesystem::path& dir) {
  using namespace detail_peft;
  require_hf_rows(adapter, dir.string(), "PEFT");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw Error(Errc::io, ErrorContext{.file = dir.string()}, "cannot create: " + ec.message());
  const AdapterInfo& info = adapter.info();
  const bool direct = info.scaling == Scaling::direct;
  auto alpha_of = [&](Index rank, float alpha) {
    return direct ? alpha * static_cast<float>(rank) : alpha;
  };
  std::vector<std::vector<std::byte>> buffers;
  std::vector<TensorToWrite> tensors;
  auto add = [&](std::string name, const AdapterTensor& t, Shape shape, bool transpose) {
    buffers.push_back(stored_bytes(t, transpose));
    tensors.push_back(TensorToWrite{std::move(name), t.dtype, std::move(shape), buffers.back()});
  };
  buffers.reserve(adapter.modules().size() * 3 + adapter.saved().size());
  nlohmann::ordered_json rank_pattern = nlohmann::ordered_json::object();
  nlohmann::ordered_json alpha_pattern = nlohmann::ordered_json::object();
  const float default_alpha = alpha_of(info.rank, info.alpha);
  for (const auto& [module, m] : adapter.modules()) {
    const std::string key = std::string(kPrefix) + module;
    const bool emb = m.kind == ModuleKind::embedding;
    add(key + (emb ? ".lora_embedding_A" : ".lora_A.weight"), m.a, Shape{m.rank, m.in_features()},
        true);
    add(key + (emb ? ".lora_embedding_B" : ".lora_B.weight"), m.b, Shape{m.out_features(), m.rank},
        true);
    if (m.magnitude)
      add(key + ".lora_magnitude_vector", *m.magnitude, Shape{m.out_features()}, false);
    if (m.rank != info.rank) rank_pattern[exact_pattern(module)] = m.rank;
    const float alpha = alpha_of(m.rank, m.alpha);
    if (alpha != default_alpha) alpha_pattern[exact_pattern(module)] = alpha;
  }
  for (const auto& [name, t] : adapter.saved()) add(std::string(kPrefix) + name, t, t.shape, false);
  write_safetensors(dir / "adapter_model.safetensors", std::move(tensors),
                    std::map<std::string, std::string>{{"format", "pt"}});

  nlohmann::ordered_json c;
  c["peft_type"] = "LORA";
  c["base_model_name_or_path"] = info.base_model.empty() ? nlohmann::ordered_json(nullptr)
                                                         : nlohmann::ordered_json(info.base_model);
  c["r"] = info.rank;
  c["lora_alpha"] = default_alpha;
  if (!info.target.regex.empty()) {
    c["target_modules"] = info.target.regex;
  } else {
    // An adapter without a rule of its own (built in memory, or from a GGUF file, which
    // states none) targets exactly its modules: their full names, which PEFT's rule matches
    // one each. Block-local names would also select the blocks it has no weights for.
    std::vector<std::string> names = info.target.names;
    if (names.empty()) {
      for (const auto& [module, m] : adapter.modules()) names.push_back(module);
    }
    c["target_modules"] = names;
  }
  c["use_rslora"] = info.scaling == Scaling::alpha_over_sqrt_rank;
  c["use_dora"] = info.variant == VariantKind::dora;
  c["rank_pattern"] = rank_pattern;
  c["alpha_pattern"] = alpha_pattern;
  c["fan_in_fan_out"] = false;
  c["bias"] = info.bias;
  c["modules_to_save"] = info.modules_to_save.empty()
                             ? nlohmann::ordered_json(nullptr)
                             : nlohmann::ordered_json(info.modules_to_save);
  c["layers_to_transform"] = info.target.layers.empty()
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(info.target.layers);
  c["layers_pattern"] = info.target.layers_pattern.empty()
                            ? nlohmann::ordered_json(nullptr)
                            : nlohmann::ordered_json(info.target.layers_pattern);
  c["lora_dropout"] = 0.0;
  c["inference_mode"] = true;
  c["task_type"] = nullptr;
  const std::filesystem::path config_path = dir / "adapter_config.json";
  std::ofstream out(config_path, std::ios::trunc);
  out << c.dump(2) << '\n';
  if (!out) throw Error(Errc::io, ErrorContext{.file = config_path.string()}, "cannot write");
}

}  // namespace lorakit::io
