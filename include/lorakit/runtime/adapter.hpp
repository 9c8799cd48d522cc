// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Adapter: a loaded adapter, format-free and immutable, with weights in lorakit's layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/config.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/detail/hash.hpp"
#include "lorakit/error.hpp"
#include "lorakit/variants/lora.hpp"

namespace lorakit {

/// A stored tensor of an adapter: dtype, shape and row-major bytes that the Adapter keeps
/// alive. F32 tensors are 4-byte aligned, so view() can map them without a copy.
struct AdapterTensor {
  DType dtype = DType::f32;
  Shape shape;
  std::span<const std::byte> bytes;

  [[nodiscard]] Index rows() const noexcept { return shape.rank() > 0 ? shape.dims[0] : 1; }
  [[nodiscard]] Index cols() const noexcept {
    return shape.rank() > 1 ? shape.dims[1] : (shape.rank() == 1 ? shape.dims[0] : 1);
  }
  [[nodiscard]] Index elements() const noexcept {
    Index n = 1;
    for (Index d : shape.dims) n *= d;
    return n;
  }
  /// Writes the tensor's elements() values, widened exactly, to `dst`. Returns false (writing
  /// nothing) for a dtype other than F32, F16 and BF16.
  bool copy_to_f32(float* dst) const noexcept {
    const auto n = static_cast<std::size_t>(elements());
    switch (dtype) {
      case DType::f32:
        if (n != 0) std::memcpy(dst, bytes.data(), n * sizeof(float));
        return true;
      case DType::f16:
      case DType::bf16:
        for (std::size_t i = 0; i < n; ++i) {
          std::uint16_t b;
          std::memcpy(&b, bytes.data() + 2 * i, 2);
          dst[i] = dtype == DType::f16 ? Float16::from_bits(b).to_float()
                                       : BFloat16::from_bits(b).to_float();
        }
        return true;
      default: return false;
    }
  }

  /// The tensor as a rows x cols float view (1-D tensors are one row). Checked in every build:
  /// F16/BF16 bytes read as floats would be garbage.
  /// @throws lorakit::Error (Errc::unsupported_dtype) unless dtype == DType::f32
  [[nodiscard]] ConstMatrixView view() const {
    if (dtype != DType::f32) {
      throw Error(Errc::unsupported_dtype, {},
                  "a float view of a " + std::string(to_string(dtype)) +
                      " tensor: convert it first (LoadOptions::convert_to_f32)");
    }
    return make_view(reinterpret_cast<const float*>(bytes.data()), rows(), cols());
  }

  /// The tensor as a rows x cols view in its stored type, for F32, F16 and BF16 tensors whose
  /// bytes are aligned to their element size (the loaders' own buffers always are); nullopt
  /// otherwise.
  [[nodiscard]] std::optional<StoredView> stored() const noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(bytes.data());
    switch (dtype) {
      case DType::f32:
        if (address % alignof(float) != 0) return std::nullopt;
        return StoredView(make_view(reinterpret_cast<const float*>(bytes.data()), rows(), cols()));
      case DType::f16:
        if (address % alignof(Float16) != 0) return std::nullopt;
        return StoredView(
            weight_view(reinterpret_cast<const Float16*>(bytes.data()), rows(), cols(), cols()));
      case DType::bf16:
        if (address % alignof(BFloat16) != 0) return std::nullopt;
        return StoredView(
            weight_view(reinterpret_cast<const BFloat16*>(bytes.data()), rows(), cols(), cols()));
      default: return std::nullopt;
    }
  }
};

/// How a module's weights were found in the file.
enum class ModuleKind : unsigned char { linear, embedding };

/// The order of a module's outputs (B's columns) against its base layer's.
enum class RowLayout : unsigned char {
  hf,          ///< the base model's own (Hugging Face) order
  llama_cpp,   ///< llama.cpp's rotary order for Q/K, chosen for a base in llama.cpp's layout
  unresolved,  ///< llama.cpp's rotary order, base layout not given: Model::attach refuses it
};

/// One adapted module: A:(in,r), B:(r,out) and its hyper-parameters.
struct AdapterModule {
  AdapterTensor a;                         ///< A:(in, r)
  AdapterTensor b;                         ///< B:(r, out)
  std::optional<AdapterTensor> magnitude;  ///< DoRA magnitude:(out)
  Index rank = 0;
  float alpha = 0.0f;  ///< alpha, or the multiplier itself under Scaling::direct
  ModuleKind kind = ModuleKind::linear;
  RowLayout rows = RowLayout::hf;  ///< see RowLayout (GGUF's Q/K of the llama family)

  [[nodiscard]] Index in_features() const noexcept { return a.rows(); }
  [[nodiscard]] Index out_features() const noexcept { return b.cols(); }
};

/// The file format an adapter came from.
enum class AdapterFormat : unsigned char { memory, peft, mlx, gguf };

[[nodiscard]] constexpr std::string_view to_string(AdapterFormat f) noexcept {
  switch (f) {
    case AdapterFormat::memory: return "memory";
    case AdapterFormat::peft: return "peft";
    case AdapterFormat::mlx: return "mlx";
    case AdapterFormat::gguf: return "gguf";
  }
  return "?";
}

/// The adapter maths a file asks for.
enum class VariantKind : unsigned char { lora, dora };

/// Which modules of a base model an adapter was trained on (PEFT's target_modules semantics):
/// a list matches a module whose name equals an entry or ends with "." + entry; a regex must
/// match the whole name. `layers` (PEFT layers_to_transform) narrows a list match to those
/// layer indices; mlx-lm's last `num_layers` blocks are recorded in `last_layers`.
struct TargetRule {
  std::vector<std::string> names;
  std::string regex;  ///< non-empty: the rule is this full-name regex
  std::vector<int> layers;
  std::vector<std::string> layers_pattern;
  int last_layers = -1;  ///< mlx-lm num_layers; -1 when not given
};

/// Everything about an adapter except its tensors.
struct AdapterInfo {
  std::string name;    ///< the name it is attached under by default
  std::string source;  ///< the directory or file it was loaded from
  AdapterFormat format = AdapterFormat::memory;
  std::string base_model;  ///< base_model_name_or_path (or mlx-lm's model), may be empty
  Index rank = 0;          ///< default rank (modules may differ: rank_pattern)
  float alpha = 0.0f;      ///< default alpha, or the multiplier under Scaling::direct
  Scaling scaling = Scaling::alpha_over_rank;
  VariantKind variant = VariantKind::lora;
  TargetRule target;
  std::vector<std::string> modules_to_save;  ///< as configured
  std::string bias = "none";                 ///< PEFT's bias option: none, all, lora_only
  bool fan_in_fan_out = false;  ///< as configured (PEFT); files store Linear orientation anyway
  std::vector<std::string> ignored_tensors;  ///< keys recognised and skipped (PEFT duplicates)
  std::string architecture;  ///< GGUF general.architecture (llama, qwen2, ...), may be empty
  std::vector<std::int32_t>
      invocation_tokens;           ///< activated LoRA's adapter.alora.invocation_tokens
  std::vector<std::string> notes;  ///< what a conversion changed (factors folded into B, ...)
};

/// A loaded adapter: immutable, format-free, shared by every layer it is attached to.
/// `modules` maps a canonical module name (model.layers.3.self_attn.q_proj) to its weights in
/// lorakit's layout; `saved` maps full tensor names (classifier.weight, trained biases) to
/// replacement tensors. The adapter owns (or keeps mapped) every byte its tensors view.
class Adapter {
 public:
  Adapter(AdapterInfo info, std::map<std::string, AdapterModule> modules,
          std::map<std::string, AdapterTensor> saved,
          std::vector<std::shared_ptr<const void>> storage)
      : info_(std::move(info)),
        modules_(std::move(modules)),
        saved_(std::move(saved)),
        storage_(std::move(storage)),
        content_hash_(hash_content()) {}

  [[nodiscard]] const AdapterInfo& info() const noexcept { return info_; }
  [[nodiscard]] const std::string& name() const noexcept { return info_.name; }
  [[nodiscard]] const std::map<std::string, AdapterModule>& modules() const noexcept {
    return modules_;
  }
  [[nodiscard]] const AdapterModule* find(std::string_view module) const {
    auto it = modules_.find(std::string(module));
    return it == modules_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const std::map<std::string, AdapterTensor>& saved() const noexcept {
    return saved_;
  }

  /// LoRA params of one module (its rank and alpha with the adapter's scaling rule).
  [[nodiscard]] LoRA::Params params(const AdapterModule& m) const noexcept {
    return LoRA::Params{m.rank, m.alpha, info_.scaling};
  }
  /// The multiplier the file implies for one module (before any user scale).
  [[nodiscard]] float scale(const AdapterModule& m) const noexcept {
    return LoRA::scale(params(m));
  }
  /// LoRA weights of one module, each tensor in its stored type (F32, F16 or BF16).
  /// @throws lorakit::Error (Errc::unsupported_dtype) for any other dtype (Q8_0 kept as stored)
  [[nodiscard]] static LoRA::Weights weights(const AdapterModule& m) {
    const std::optional<StoredView> a = m.a.stored();
    const std::optional<StoredView> b = m.b.stored();
    if (!a || !b) {
      throw Error(Errc::unsupported_dtype, {},
                  std::string("LoRA weights stored as ") + std::string(to_string(m.a.dtype)) +
                      " / " + std::string(to_string(m.b.dtype)) +
                      ": the kernels read F32, F16 and BF16 (2-byte aligned)");
    }
    return LoRA::Weights{*a, *b};
  }

  /// The modules, and saved tensors, whose names `keep(std::string_view)` accepts, as a new
  /// adapter that shares this one's storage: no tensor is copied, and the bytes stay alive while
  /// either adapter does. Same info (name, source, scaling); its own content_hash. For pipeline
  /// stages and sharded hosts: `adapter->subset(lorakit::in_layers(0, 16))`.
  template <class Keep>
  [[nodiscard]] std::shared_ptr<const Adapter> subset(Keep&& keep) const {
    std::map<std::string, AdapterModule> modules;
    for (const auto& [name, m] : modules_) {
      if (keep(std::string_view(name))) modules.emplace(name, m);
    }
    std::map<std::string, AdapterTensor> saved;
    for (const auto& [name, t] : saved_) {
      if (keep(std::string_view(name))) saved.emplace(name, t);
    }
    return std::make_shared<const Adapter>(info_, std::move(modules), std::move(saved), storage_);
  }

  /// Bytes of every tensor the adapter holds (modules and saved tensors).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& [name, m] : modules_) {
      n += m.a.bytes.size() + m.b.bytes.size() + (m.magnitude ? m.magnitude->bytes.size() : 0);
    }
    for (const auto& [name, t] : saved_) n += t.bytes.size();
    return n;
  }

  /// A 64-bit hash of everything that decides the adapter's output: every module's name, rank,
  /// alpha, kind and tensors (dtype, shape, bytes), the scaling rule, the variant and the saved
  /// tensors. Computed once at construction; equal adapters from different files or formats
  /// hash equal when their tensors are stored the same way. Not cryptographic.
  [[nodiscard]] std::uint64_t content_hash() const noexcept { return content_hash_; }

  /// What keeps the tensors' bytes alive (mapped files, owned buffers).
  [[nodiscard]] const std::vector<std::shared_ptr<const void>>& storage() const noexcept {
    return storage_;
  }

 private:
  static void hash_tensor(detail::Hasher& h, const AdapterTensor& t) noexcept {
    h.u64(static_cast<std::uint64_t>(t.dtype)).u64(static_cast<std::uint64_t>(t.shape.rank()));
    for (Index d : t.shape.dims) h.u64(static_cast<std::uint64_t>(d));
    h.bytes(t.bytes);
  }

  [[nodiscard]] std::uint64_t hash_content() const noexcept {
    detail::Hasher h;
    h.u64(static_cast<std::uint64_t>(info_.scaling)).u64(static_cast<std::uint64_t>(info_.variant));
    for (const auto& [name, m] : modules_) {
      h.text(name).u64(static_cast<std::uint64_t>(m.rank)).f32(m.alpha);
      h.u64(static_cast<std::uint64_t>(m.kind)).u64(static_cast<std::uint64_t>(m.rows));
      hash_tensor(h, m.a);
      hash_tensor(h, m.b);
      if (m.magnitude) hash_tensor(h, *m.magnitude);
    }
    for (const auto& [name, t] : saved_) {
      h.text(name);
      hash_tensor(h, t);
    }
    return h.digest();
  }

  AdapterInfo info_;
  std::map<std::string, AdapterModule> modules_;
  std::map<std::string, AdapterTensor> saved_;
  std::vector<std::shared_ptr<const void>> storage_;
  std::uint64_t content_hash_ = 0;
};

/// One module of an AdapterOutline: what the file says of it, without its values.
struct ModuleOutline {
  Index in_features = 0;
  Index out_features = 0;
  Index rank = 0;
  float alpha = 0.0f;  ///< alpha, or the multiplier itself under Scaling::direct
  ModuleKind kind = ModuleKind::linear;
  RowLayout rows = RowLayout::hf;
  std::string dtype;       ///< as stored: F32, F16, BF16, Q8_0 (A's; B's is the same or F16)
  bool magnitude = false;  ///< a DoRA magnitude vector is present
};

/// An adapter described from its config and tensor headers alone (io::read_outline): what
/// inspection, discovery and matching need, at the cost of reading no tensor value. Every
/// check of the loader but non-finite values has passed.
struct AdapterOutline {
  AdapterInfo info;
  std::map<std::string, ModuleOutline> modules;
  std::vector<std::string> saved;  ///< full tensors it also replaces (modules_to_save, biases)
  std::uint64_t bytes = 0;         ///< tensor bytes as the file stores them
};

/// The outline of a loaded adapter (dtypes as loaded).
[[nodiscard]] inline AdapterOutline outline(const Adapter& adapter) {
  AdapterOutline out;
  out.info = adapter.info();
  for (const auto& [name, m] : adapter.modules()) {
    out.modules.emplace(
        name, ModuleOutline{m.in_features(), m.out_features(), m.rank, m.alpha, m.kind, m.rows,
                            std::string(to_string(m.a.dtype)), m.magnitude.has_value()});
  }
  for (const auto& [name, t] : adapter.saved()) out.saved.push_back(name);
  out.bytes = adapter.memory_bytes();
  return out;
}

}  // namespace lorakit
