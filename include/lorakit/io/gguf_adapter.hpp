// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// llama.cpp's GGUF LoRA adapters <-> Adapter.
//
// A GGUF adapter: general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (FLOAT32;
// missing or 0: the multiplier is the user's scale alone), general.architecture; tensors
// "<llama.cpp name>.weight.lora_a" ne [in, r] and ".lora_b" ne [r, out], which are PEFT's
// lora_A (r, in) and lora_B (out, r) byte for byte (ggml's ne is the row-major shape reversed),
// so both are transposed into lorakit's A:(in, r), B:(r, out). token_embd's lora_a is stored
// ne [r, vocab], i.e. (vocab, r): that is A already. The rank is lora_b's ne[0].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/gguf.hpp"
#include "lorakit/io/gguf_names.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::io {

/// Options of load_gguf beyond LoadOptions.
struct GgufLoadOptions {
  /// Names for the file's architecture; nullptr: builtin_gguf_names(general.architecture).
  const GgufNameMap* names = nullptr;
  GgufLimits limits;
};

namespace detail_gguf {

constexpr std::string_view kLoraA = ".lora_a";
constexpr std::string_view kLoraB = ".lora_b";

// The module a GGUF base tensor name stands for: the name without ".weight".
inline std::string module_of(std::string_view base) {
  if (base.ends_with(".weight")) base.remove_suffix(7);
  return std::string(base);
}

inline bool is_rope_module(const GgufNameMap* names, std::string_view gguf_module) {
  if (names == nullptr || !names->rope_permuted) return false;
  const std::string_view part = GgufNameMap::block_part(gguf_module);
  return part == "attn_q" || part == "attn_k";
}

// `Result`: the Adapter, or its AdapterOutline (no tensor value read).
template <class Result = std::shared_ptr<const Adapter>>
Result load(const GgufFile& file, const std::string& default_name, const LoadOptions& options,
            const GgufLoadOptions& gguf_options) {
  const std::string& path = file.path();
  const std::optional<std::string> type = file.string("general.type");
  if (!type) {
    throw Error(Errc::bad_format, ErrorContext{.file = path, .key = "general.type"},
                "missing: not a GGUF adapter (an adapter has general.type = adapter)");
  }
  if (*type != "adapter") {
    throw Error(Errc::bad_format, ErrorContext{.file = path, .key = "general.type"},
                "is '" + *type + "'" +
                    (*type == "model" ? ": this is a model file, not an adapter" : "") +
                    " (an adapter has general.type = adapter)");
  }
  const std::optional<std::string> adapter_type = file.string("adapter.type");
  if (adapter_type != "lora") {
    throw Error(Errc::unsupported, ErrorContext{.file = path, .key = "adapter.type"},
                adapter_type ? "is '" + *adapter_type + "'; lorakit loads LoRA adapters (lora)"
                             : std::string("missing; lorakit loads LoRA adapters (lora)"));
  }
  AdapterInfo info;
  info.source = path;
  info.format = AdapterFormat::gguf;
  info.name = options.name.empty() ? default_name : options.name;
  info.architecture = file.string("general.architecture").value_or("");
  const float alpha = file.f32("adapter.lora.alpha").value_or(0.0f);
  if (!std::isfinite(alpha)) {
    throw Error(Errc::bad_format, ErrorContext{.file = path, .key = "adapter.lora.alpha"},
                "is not finite");
  }
  // llama.cpp: scale = user_scale * alpha / rank, or user_scale alone when alpha is 0.
  info.scaling = alpha != 0.0f ? Scaling::alpha_over_rank : Scaling::direct;
  info.alpha = alpha != 0.0f ? alpha : 1.0f;
  if (const GgufValue* v = file.find("adapter.alora.invocation_tokens")) {
    if (v->type != GgufType::array || v->element != GgufType::u32) {
      throw Error(Errc::bad_format,
                  ErrorContext{.file = path, .key = "adapter.alora.invocation_tokens"},
                  "must be an array of UINT32");
    }
    for (std::uint64_t i = 0; i < v->count; ++i) {
      std::uint32_t t;
      std::memcpy(&t, v->scalars.data() + i * 4, 4);
      info.invocation_tokens.push_back(static_cast<std::int32_t>(t));
    }
  }
  const GgufNameMap* names =
      gguf_options.names != nullptr ? gguf_options.names : builtin_gguf_names(info.architecture);

  AdapterBuilder builder(path, options, PartNames{"lora_a", "lora_b", "magnitude"});
  builder.keep(file.storage());
  std::map<std::string, std::string> gguf_name;  // module -> llama.cpp module name
  for (const GgufTensor& t : file.tensors()) {
    const std::string_view name = t.name;
    const bool is_a = name.ends_with(kLoraA);
    if (!is_a && !name.ends_with(kLoraB)) {
      if (name.ends_with("_norm.weight")) {
        info.ignored_tensors.push_back(t.name);  // mergekit's extras, skipped as llama.cpp does
      } else {
        builder.problems().add(Errc::unexpected_tensor,
                               ErrorContext{.file = path, .tensor = t.name},
                               "not a GGUF LoRA tensor (<name>.lora_a, <name>.lora_b)");
      }
      continue;
    }
    const std::string g = module_of(name.substr(0, name.size() - kLoraA.size()));
    const std::optional<std::string> hf = names != nullptr ? names->to_hf(g) : std::nullopt;
    const std::string module = hf ? *hf : g;
    gguf_name[module] = g;
    StoredTensor s;
    s.name = t.name;
    s.shape = t.shape();
    s.dims = static_cast<int>(t.n_dims);
    s.rows = t.ne[1] * t.ne[2] * t.ne[3];
    s.cols = t.ne[0];
    s.bytes = t.bytes;
    switch (t.type) {
      case GgmlType::f32: s.dtype = DType::f32; break;
      case GgmlType::f16: s.dtype = DType::f16; break;
      case GgmlType::bf16: s.dtype = DType::bf16; break;
      case GgmlType::q8_0: s.encoding = Encoding::q8_0; break;
      default:
        builder.problems().add(
            Errc::unsupported_dtype, ErrorContext{.file = path, .tensor = t.name, .module = module},
            std::string(to_string(t.type)) + " is not a type lorakit reads (F32, F16, BF16, Q8_0)");
        continue;
    }
    // token_embd's lora_a is stored (vocab, r): lorakit's A as it is.
    const bool embedding = GgufNameMap::block_part(g).empty() && g == "token_embd";
    builder.add(module, is_a ? Part::a : Part::b, std::move(s), !(is_a && embedding));
  }

  const BaseLayout layout = options.base_layout;
  const float module_alpha = info.alpha;
  for (const GgufTensor& t : file.tensors()) {
    if (t.name.ends_with(kLoraB) && t.n_dims >= 1) {
      info.rank = static_cast<Index>(t.ne[0]);
      break;
    }
  }
  return builder.template finish<Result>(std::move(info), [&](const std::string& module) {
    ModuleSpec spec;
    spec.alpha = module_alpha;
    const std::string& g = gguf_name[module];
    spec.kind = g == "token_embd" ? ModuleKind::embedding : ModuleKind::linear;
    if (!is_rope_module(names, g)) return spec;
    if (layout == BaseLayout::llama_cpp) {
      spec.rows = RowLayout::llama_cpp;
    } else if (layout == BaseLayout::unspecified) {
      spec.rows = RowLayout::unresolved;
    } else {
      const bool is_k = GgufNameMap::block_part(g) == "attn_k";
      const int heads = is_k && options.n_head_kv > 0 ? options.n_head_kv : options.n_head;
      const GgufTensor* b = file.find_tensor(g + ".weight" + std::string(kLoraB));
      const Index out = b != nullptr ? static_cast<Index>(b->ne[1]) : 0;
      std::optional<std::vector<Index>> order = rope_hf_order(out, heads);
      if (!order) {
        throw Error(
            Errc::bad_config,
            ErrorContext{.file = path, .tensor = b != nullptr ? b->name : g, .module = module},
            heads <= 0 ? "BaseLayout::hf needs LoadOptions::n_head (and n_head_kv) to put "
                         "llama.cpp's Q/K rows back in Hugging Face order"
                       : std::to_string(out) + " rows do not split into " + std::to_string(heads) +
                             " heads of an even size");
      }
      spec.out_order = std::move(*order);
    }
    return spec;
  });
}

}  // namespace detail_gguf

namespace detail_gguf {

// " (it holds a.gguf, b.gguf and 3 more)" for a directory with .gguf files, else "".
inline std::string gguf_files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".gguf") names.push_back(it->path().filename().string());
  }
  if (names.empty()) return "";
  std::sort(names.begin(), names.end());
  constexpr std::size_t kShown = 3;
  std::string out = " (it holds ";
  for (std::size_t i = 0; i < std::min(kShown, names.size()); ++i) {
    out += (i == 0 ? "" : ", ") + names[i];
  }
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out + ")";
}

}  // namespace detail_gguf

/// Loads a llama.cpp GGUF LoRA adapter. Module names follow `gguf_options.names` or the table
/// of general.architecture (Hugging Face names); without one they keep llama.cpp's ("blk.3.
/// attn_q"). For the llama family, Q and K lora_b rows are in llama.cpp's rotary order: with
/// options.base_layout = BaseLayout::hf (and n_head, n_head_kv) they are put back in Hugging
/// Face order; with BaseLayout::llama_cpp they are kept; left unspecified, those modules load
/// as RowLayout::unresolved and Model::attach refuses them, saying what to pass.
/// @throws lorakit::Error: the reader's errors, Errc::bad_format (not an adapter, a model file,
///   a key of the wrong type), Errc::unsupported (adapter.type not lora), unsupported_dtype,
///   missing_tensor, unexpected_tensor, shape_mismatch, non_finite, bad_config
inline std::shared_ptr<const Adapter> load_gguf(const std::filesystem::path& path,
                                                const LoadOptions& options = {},
                                                const GgufLoadOptions& gguf_options = {}) {
  require_path(path, "GGUF file");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(Errc::io, ErrorContext{.file = path.string()},
                "a directory, not a GGUF file" + detail_gguf::gguf_files_in(path) +
                    ": load_gguf takes the .gguf file itself");
  }
  const GgufFile file = GgufFile::open(path, options.limits, gguf_options.limits);
  return detail_gguf::load(file, path.stem().string(), options, gguf_options);
}

/// load_gguf() on a file's bytes held in memory (bytes->path() names it); the Adapter keeps
/// `bytes` alive and views its F32 tensors in place where it can.
inline std::shared_ptr<const Adapter> load_gguf(std::shared_ptr<const FileBytes> bytes,
                                                const LoadOptions& options = {},
                                                const GgufLoadOptions& gguf_options = {}) {
  const GgufFile file = GgufFile::parse(std::move(bytes), options.limits, gguf_options.limits);
  return detail_gguf::load(file, std::filesystem::path(file.path()).stem().string(), options,
                           gguf_options);
}

/// The tensor type save_gguf writes (llama.cpp's convert_lora_to_gguf.py --outtype).
enum class GgufOutType : unsigned char { f32, f16, bf16, q8_0 };

/// Options of save_gguf.
struct GgufSaveOptions {
  std::string architecture;  ///< general.architecture; empty: the adapter's own
  GgufOutType out_type = GgufOutType::f32;
  /// Q8_0 needs ne[0] to be a multiple of 32; other tensors are written F16, as the converter
  /// does (every lora_b of a rank below 32).
  int n_head = 0;     ///< attention heads: orders Q rows for a rope-permuted architecture
  int n_head_kv = 0;  ///< key/value heads (0: n_head)
  std::string name;   ///< general.name; empty: the adapter's name
  std::string finetune, basename, size_label;  ///< general.*, written when not empty
  const GgufNameMap* names = nullptr;          ///< nullptr: builtin_gguf_names(architecture)
  /// GGUF has one alpha per file: when modules' multipliers cannot all be alpha / rank for one
  /// alpha, true folds each module's remaining factor into its lora_b (listed under
  /// lorakit.folded_modules); false refuses such an adapter.
  bool fold_scales = false;
};

namespace detail_gguf {

inline std::vector<std::byte> encode(const std::vector<float>& values, Index cols, GgmlType& type) {
  std::vector<std::byte> out;
  if (type == GgmlType::q8_0 && cols % 32 != 0) type = GgmlType::f16;  // the converter's fallback
  switch (type) {
    case GgmlType::q8_0:
      out.resize(values.size() / kQ8_0Block * kQ8_0Bytes);
      encode_q8_0(values.data(), values.size(), out.data());
      break;
    case GgmlType::f16:
      out.resize(values.size() * 2);
      encode_floats(DType::f16, values.data(), values.size(), out.data());
      break;
    case GgmlType::bf16:
      out.resize(values.size() * 2);
      encode_floats(DType::bf16, values.data(), values.size(), out.data());
      break;
    default:
      out.resize(values.size() * 4);
      encode_floats(DType::f32, values.data(), values.size(), out.data());
      break;
  }
  return out;
}

// A tensor's values as f32, (rows, cols) row-major, transposed when asked.
inline std::vector<float> values_of(const AdapterTensor& t, bool transpose) {
  const auto n = static_cast<std::size_t>(t.elements());
  std::vector<float> v(n);
  decode_floats(t.dtype, t.bytes.data(), n, v.data());
  if (!transpose) return v;
  std::vector<float> out(n);
  lorakit::detail::transpose_blocked(reinterpret_cast<const std::byte*>(v.data()), t.rows(),
                                     t.cols(), sizeof(float),
                                     reinterpret_cast<std::byte*>(out.data()));
  return out;
}

}  // namespace detail_gguf

/// The bytes of `adapter` as a llama.cpp GGUF adapter, laid out as llama.cpp's
/// convert_lora_to_gguf.py writes it: the metadata general.architecture, general.type,
/// adapter.type, general.name (and finetune, basename, size_label when given),
/// adapter.lora.alpha, general.quantization_version; tensors in the order of their PEFT keys,
/// lora_a then lora_b per module; for a rope-permuted architecture, Q/K lora_b rows in
/// llama.cpp's order (from the head counts in `options`).
/// @throws lorakit::Error: Errc::unsupported (DoRA magnitudes, full replacement tensors, a
///   module without a llama.cpp name, multipliers one alpha cannot give without fold_scales),
///   Errc::bad_config (no architecture; Q/K rows to order without head counts).
[[nodiscard]] inline std::vector<std::byte> serialize_gguf_adapter(
    const Adapter& adapter, const GgufSaveOptions& options = {}) {
  using namespace detail_gguf;
  const AdapterInfo& info = adapter.info();
  const std::string arch = options.architecture.empty() ? info.architecture : options.architecture;
  const ErrorContext where{.file = info.source};
  if (arch.empty()) {
    throw Error(Errc::bad_config, where,
                "a GGUF adapter names its architecture: set GgufSaveOptions::architecture "
                "(llama, qwen2, ...)");
  }
  if (adapter.modules().empty()) throw Error(Errc::unsupported, where, "adapter has no modules");
  if (!adapter.saved().empty()) {
    throw Error(Errc::unsupported,
                ErrorContext{.file = info.source, .tensor = adapter.saved().begin()->first},
                "GGUF adapters cannot hold full replacement tensors (modules_to_save, biases)");
  }
  const GgufNameMap* names = options.names != nullptr ? options.names : builtin_gguf_names(arch);

  // One alpha for the file: llama.cpp's multiplier is alpha / rank (rank = lora_b ne[0]).
  // An adapter whose multipliers are all 1 under Scaling::direct is llama.cpp's alpha = 0.
  const AdapterModule& first = adapter.modules().begin()->second;
  bool all_one = info.scaling == Scaling::direct;
  for (const auto& [module, m] : adapter.modules()) all_one = all_one && adapter.scale(m) == 1.0f;
  const float alpha = all_one ? 0.0f : adapter.scale(first) * static_cast<float>(first.rank);
  std::vector<std::string> folded;
  struct Planned {
    std::string key;  // the PEFT key that orders the tensors
    std::string gguf;
    const AdapterModule* m;
    std::string module;
    float fold = 1.0f;
  };
  std::vector<Planned> plan;
  for (const auto& [module, m] : adapter.modules()) {
    const ErrorContext at{.file = info.source, .module = module};
    if (m.magnitude) throw Error(Errc::unsupported, at, "DoRA magnitudes have no GGUF form");
    std::string g = module;
    if (names != nullptr) {
      const std::optional<std::string> mapped = names->to_gguf(module);
      if (!mapped && !names->to_hf(module)) {
        throw Error(Errc::unsupported, at,
                    "has no llama.cpp name for architecture '" + arch +
                        "' (pass a GgufNameMap that names it)");
      }
      if (mapped) g = *mapped;
    }
    const float want = adapter.scale(m);
    const float got = all_one ? 1.0f : alpha / static_cast<float>(m.rank);
    float fold = 1.0f;
    if (got != want) {
      if (!options.fold_scales) {
        throw Error(Errc::unsupported, at,
                    "its multiplier " + std::to_string(want) +
                        " is not alpha / rank = " + std::to_string(got) +
                        " for the file's one alpha (rsLoRA, rank_pattern or alpha_pattern): "
                        "GgufSaveOptions::fold_scales = true folds the factor into lora_b");
      }
      fold = want / got;
      folded.push_back(module);
    }
    const bool emb = m.kind == ModuleKind::embedding;
    plan.push_back({module + (emb ? ".lora_embedding_" : ".lora_"), g, &m, module, fold});
  }
  std::sort(plan.begin(), plan.end(),
            [](const Planned& x, const Planned& y) { return x.key < y.key; });

  GgmlType type = GgmlType::f32;
  switch (options.out_type) {
    case GgufOutType::f32: type = GgmlType::f32; break;
    case GgufOutType::f16: type = GgmlType::f16; break;
    case GgufOutType::bf16: type = GgmlType::bf16; break;
    case GgufOutType::q8_0: type = GgmlType::q8_0; break;
  }
  std::vector<std::vector<std::byte>> buffers;
  buffers.reserve(plan.size() * 2);
  std::vector<GgufTensorToWrite> tensors;
  for (const Planned& p : plan) {
    const AdapterModule& m = *p.m;
    const bool emb = m.kind == ModuleKind::embedding;
    // lora_a: A:(in, r) as (r, in), except token_embd's (vocab, r).
    std::vector<float> a = values_of(m.a, !emb);
    GgmlType ta = type;
    const Index a_cols = emb ? m.rank : m.in_features();
    buffers.push_back(encode(a, a_cols, ta));
    tensors.push_back(
        {p.gguf + ".weight.lora_a", ta, {a_cols, emb ? m.in_features() : m.rank}, buffers.back()});
    // lora_b: B:(r, out) as (out, r), rows in llama.cpp's order where the architecture has one.
    std::vector<float> b = values_of(m.b, true);
    if (is_rope_module(names, p.gguf) && m.rows == RowLayout::hf) {
      const bool is_k = GgufNameMap::block_part(p.gguf) == "attn_k";
      const int heads = is_k && options.n_head_kv > 0 ? options.n_head_kv : options.n_head;
      const std::optional<std::vector<Index>> order = rope_gguf_order(m.out_features(), heads);
      if (!order) {
        throw Error(Errc::bad_config, ErrorContext{.file = info.source, .module = p.module},
                    heads <= 0 ? "architecture '" + arch +
                                     "' stores Q/K rows in llama.cpp's rotary order: set "
                                     "GgufSaveOptions::n_head (and n_head_kv)"
                               : std::to_string(m.out_features()) + " rows do not split into " +
                                     std::to_string(heads) + " heads of an even size");
      }
      std::vector<float> permuted(b.size());
      const auto r = static_cast<std::size_t>(m.rank);
      for (std::size_t g = 0; g < order->size(); ++g) {
        std::memcpy(permuted.data() + g * r, b.data() + static_cast<std::size_t>((*order)[g]) * r,
                    r * sizeof(float));
      }
      b.swap(permuted);
    }
    if (p.fold != 1.0f) {
      for (float& v : b) v *= p.fold;
    }
    GgmlType tb = type;
    buffers.push_back(encode(b, m.rank, tb));
    tensors.push_back({p.gguf + ".weight.lora_b", tb, {m.rank, m.out_features()}, buffers.back()});
  }

  std::vector<GgufKeyValue> kv;
  kv.push_back({"general.architecture", GgufValue::of_string(arch)});
  kv.push_back({"general.type", GgufValue::of_string("adapter")});
  kv.push_back({"adapter.type", GgufValue::of_string("lora")});
  kv.push_back(
      {"general.name", GgufValue::of_string(options.name.empty() ? info.name : options.name)});
  if (!options.finetune.empty())
    kv.push_back({"general.finetune", GgufValue::of_string(options.finetune)});
  if (!options.basename.empty())
    kv.push_back({"general.basename", GgufValue::of_string(options.basename)});
  if (!options.size_label.empty()) {
    kv.push_back({"general.size_label", GgufValue::of_string(options.size_label)});
  }
  kv.push_back({"adapter.lora.alpha", GgufValue::of_f32(alpha)});
  if (!info.invocation_tokens.empty()) {
    kv.push_back({"adapter.alora.invocation_tokens",
                  GgufValue::of_array(GgufType::u32,
                                      std::span<const std::int32_t>(info.invocation_tokens))});
  }
  kv.push_back({"general.quantization_version", GgufValue::of_u32(2)});
  if (!folded.empty()) {
    std::vector<GgufValue> items;
    for (const std::string& f : folded) items.push_back(GgufValue::of_string(f));
    kv.push_back(
        {"lorakit.folded_modules", GgufValue::of_items(GgufType::string, std::move(items))});
  }
  return serialize_gguf(kv, tensors);
}

/// Writes serialize_gguf_adapter(adapter, options) to `path`.
/// @throws lorakit::Error as serialize_gguf_adapter does, and Errc::io naming the file.
inline void save_gguf(const Adapter& adapter, const std::filesystem::path& path,
                      const GgufSaveOptions& options = {}) {
  const std::vector<std::byte> bytes = serialize_gguf_adapter(adapter, options);
  write_file(path, bytes);
}

}  // namespace lorakit::io
