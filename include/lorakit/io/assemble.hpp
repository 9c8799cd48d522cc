// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The format-neutral step every loader feeds: pair a file's tensors into modules, check shapes,
// ranks, dtypes and finiteness, convert or keep the stored dtype, build the Adapter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/detail/tensor_store.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::io {

/// What layout the host's base weights are in, for adapters whose rows depend on it: llama.cpp's
/// converter reorders the rows of Q and K for its rotary kernel (GGUF, llama family).
enum class BaseLayout : unsigned char {
  unspecified,  ///< not said: such modules load, and attaching them is an error that says so
  hf,           ///< Hugging Face layout: rows are put back in HF order (needs the head counts)
  llama_cpp,    ///< llama.cpp's GGUF layout: rows are kept as the GGUF file stores them
};

/// Options for loading an adapter from a file.
struct LoadOptions {
  std::string name;  ///< the adapter's name; empty: the directory's (file's) name
  /// Widen F16/BF16 tensors to F32 while loading. Off by default: the kernels read 16-bit
  /// weights as stored, at half the memory. Q8_0 is always dequantised to F32.
  bool convert_to_f32 = false;
  bool check_finite = true;  ///< report NaN / infinite weights as Errc::non_finite
  ReadLimits limits;         ///< bounds on what the file may ask for
  BaseLayout base_layout = BaseLayout::unspecified;  ///< see BaseLayout
  int n_head = 0;     ///< attention heads of the base (BaseLayout::hf on a GGUF llama adapter)
  int n_head_kv = 0;  ///< key/value heads; 0: the same as n_head
};

/// How a tensor's stored elements are encoded.
enum class Encoding : unsigned char {
  plain,  ///< `dtype` elements, row-major
  q8_0,   ///< ggml's Q8_0 blocks of 32 along each row (f16 scale, 32 x int8), dequantised
};

/// A 2-D tensor as a reader found it: its name in the file, element type and row-major shape.
struct StoredTensor {
  std::string name;
  DType dtype = DType::f32;
  Encoding encoding = Encoding::plain;
  Index rows = 0;
  Index cols = 0;
  Shape shape;  ///< the shape as the file states it (reported in errors)
  std::span<const std::byte> bytes;
  int dims = 2;  ///< dimensions the file gives it
};

/// A safetensors entry as a StoredTensor: 2-D tensors as (rows, cols), others as one row.
[[nodiscard]] inline StoredTensor stored_tensor(const TensorEntry& t) {
  StoredTensor s;
  s.name = t.name;
  s.dtype = t.dtype;
  s.shape = t.shape;
  s.bytes = t.bytes;
  s.dims = static_cast<int>(t.shape.rank());
  s.rows = t.shape.rank() >= 2 ? t.shape.dims[0] : 1;
  s.cols = s.rows == 0 ? 0 : t.elements() / std::max<Index>(s.rows, 1);
  return s;
}

/// The part of a module a tensor is.
enum class Part : unsigned char { a, b, magnitude };

/// How one module is to be built, as the format's rules decide from its name.
struct ModuleSpec {
  std::optional<Index> rank;  ///< the rank the config requires (none: the tensors decide)
  std::string rank_source;    ///< where that rank comes from, for errors ("the config's r")
  float alpha = 0.0f;
  ModuleKind kind = ModuleKind::linear;
  RowLayout rows = RowLayout::hf;
  std::vector<Index> out_order;  ///< non-empty: output o of B is stored output out_order[o]
};

/// The names a format gives the parts, used in errors ("lora_A", "lora_b", ...).
struct PartNames {
  std::string_view a, b, magnitude;
};

/// Builds an Adapter from a file's tensors. Readers add each LoRA tensor under its module with
/// whether it is stored transposed (A as (r, in) or B as (out, r)); build() pairs, checks and
/// converts them, collects every problem, and throws them together or returns the Adapter.
class AdapterBuilder {
 public:
  AdapterBuilder(std::string file, const LoadOptions& options, PartNames names)
      : file_(std::move(file)), options_(options), names_(names) {}

  /// Keeps `owner` (the mapped file) alive with the adapter.
  void keep(std::shared_ptr<const void> owner) { store_.keep(std::move(owner)); }
  [[nodiscard]] ProblemList& problems() noexcept { return problems_; }
  [[nodiscard]] const std::string& file() const noexcept { return file_; }

  /// Records a tensor of `module`. A transposed A is stored (r, in), a transposed B (out, r).
  void add(const std::string& module, Part part, StoredTensor t, bool transposed) {
    Found& f = found_[module];
    Entry* slot = part == Part::a ? &f.a : part == Part::b ? &f.b : &f.magnitude;
    if (slot->present) {
      problems_.add(Errc::bad_format, ErrorContext{.file = file_, .tensor = t.name},
                    "duplicates tensor '" + slot->tensor.name + "'");
    }
    *slot = Entry{true, std::move(t), transposed};
  }

  /// Records a full replacement tensor (a modules_to_save head, a trained bias).
  void add_saved(std::string name, StoredTensor t) { saved_in_.emplace_back(std::move(name), t); }

  /// Pairs, checks and converts every module; `spec(module)` gives its rank rule and alpha.
  /// @throws lorakit::Error listing every problem found (and any `spec` throws).
  template <class Spec>
  std::shared_ptr<const Adapter> build(AdapterInfo info, Spec&& spec) {
    const std::vector<Planned> planned = plan(spec, true);
    const std::vector<const std::pair<std::string, StoredTensor>*> saved_ok = saved_floats();
    throw_problems(planned);
    return convert(std::move(info), planned, saved_ok);
  }

  /// What build() would return, from names, shapes, dtypes and the config alone: no tensor
  /// value is read (non-finite values are not looked for) and nothing is converted.
  /// @throws lorakit::Error listing every problem build() would report but non-finite values.
  template <class Spec>
  AdapterOutline outline(AdapterInfo info, Spec&& spec) {
    const std::vector<Planned> planned = plan(spec, false);
    const std::vector<const std::pair<std::string, StoredTensor>*> saved_ok = saved_floats();
    throw_problems(planned);
    AdapterOutline out;
    for (const Planned& p : planned) {
      const Found& f = *p.found;
      ModuleOutline m;
      m.in_features = f.a.transposed ? f.a.tensor.cols : f.a.tensor.rows;
      m.out_features = p.out;
      m.rank = p.rank;
      m.alpha = p.spec.alpha;
      m.kind = p.spec.kind;
      m.rows = p.spec.rows;
      m.dtype = stored_type(f.a.tensor);
      m.magnitude = f.magnitude.present;
      out.bytes += f.a.tensor.bytes.size() + f.b.tensor.bytes.size() +
                   (f.magnitude.present ? f.magnitude.tensor.bytes.size() : 0);
      out.modules.emplace(*p.module, std::move(m));
    }
    for (const auto* entry : saved_ok) {
      out.saved.push_back(entry->first);
      out.bytes += entry->second.bytes.size();
    }
    out.info = std::move(info);
    return out;
  }

  /// build() or outline(), as `Result` says (an Adapter pointer or an AdapterOutline).
  template <class Result, class Spec>
  Result finish(AdapterInfo info, Spec&& spec) {
    if constexpr (std::is_same_v<Result, AdapterOutline>) {
      return outline(std::move(info), spec);
    } else {
      return build(std::move(info), spec);
    }
  }

 private:
  struct Entry {
    bool present = false;
    StoredTensor tensor;
    bool transposed = false;
  };
  struct Found {
    Entry a, b, magnitude;
  };
  // A module that passed every check, waiting for conversion.
  struct Planned {
    const std::string* module;
    const Found* found;
    ModuleSpec spec;
    Index rank;
    Index out;
  };

  // "F16", or "Q8_0" for ggml's blocks.
  static std::string stored_type(const StoredTensor& t) {
    return t.encoding == Encoding::q8_0 ? "Q8_0" : std::string(to_string(t.dtype));
  }

  // Pairs and checks every module (their values too when `values`), recording the problems.
  template <class Spec>
  std::vector<Planned> plan(Spec& spec, bool values) {
    values_ = values;
    std::vector<Planned> planned;
    for (auto& [module, f] : found_) {
      if (!f.a.present || !f.b.present) {
        const StoredTensor& present =
            f.a.present ? f.a.tensor : (f.b.present ? f.b.tensor : f.magnitude.tensor);
        problems_.add(Errc::missing_tensor,
                      ErrorContext{.file = file_, .tensor = present.name, .module = module},
                      "has no " + std::string(f.a.present ? names_.b : names_.a) + " partner");
        continue;
      }
      bool ok = true;
      for (const Entry* e : {&f.a, &f.b}) {
        if (e->tensor.dims != 2) {
          problems_.add(Errc::shape_mismatch,
                        ErrorContext{.file = file_,
                                     .tensor = e->tensor.name,
                                     .module = module,
                                     .actual = e->tensor.shape},
                        "a LoRA matrix must have 2 dimensions");
          ok = false;
        } else if (!check_values(e->tensor, module)) {
          ok = false;
        }
      }
      if (!ok) continue;
      const Index rank_a = f.a.transposed ? f.a.tensor.rows : f.a.tensor.cols;
      const Index rank_b = f.b.transposed ? f.b.tensor.cols : f.b.tensor.rows;
      if (rank_a < 1) {
        problems_.add(Errc::shape_mismatch,
                      ErrorContext{.file = file_,
                                   .tensor = f.a.tensor.name,
                                   .module = module,
                                   .slot = std::string(names_.a),
                                   .actual = f.a.tensor.shape},
                      "a rank of 0");
        continue;
      }
      const Index in = f.a.transposed ? f.a.tensor.cols : f.a.tensor.rows;
      const Index out_features = f.b.transposed ? f.b.tensor.rows : f.b.tensor.cols;
      if (in < 1 || out_features < 1) {
        const Entry& e = in < 1 ? f.a : f.b;
        problems_.add(Errc::shape_mismatch,
                      ErrorContext{.file = file_,
                                   .tensor = e.tensor.name,
                                   .module = module,
                                   .slot = std::string(in < 1 ? names_.a : names_.b),
                                   .actual = e.tensor.shape},
                      in < 1 ? "no inputs" : "no outputs");
        continue;
      }
      if (rank_b != rank_a) {
        Shape expected = f.b.tensor.shape;
        if (expected.rank() == 2) expected.dims[f.b.transposed ? 1 : 0] = rank_a;
        problems_.add(
            Errc::shape_mismatch,
            ErrorContext{.file = file_,
                         .tensor = f.b.tensor.name,
                         .module = module,
                         .slot = std::string(names_.b),
                         .expected = expected,
                         .actual = f.b.tensor.shape},
            "rank of " + std::string(names_.b) + " disagrees with " + std::string(names_.a));
        continue;
      }
      // Only now: the pair's elements lie in the file, so its sizes are bounded by the file.
      const ModuleSpec s = spec(module);
      if (s.rank && *s.rank != rank_a) {
        Shape expected = f.a.tensor.shape;
        if (expected.rank() == 2) expected.dims[f.a.transposed ? 0 : 1] = *s.rank;
        problems_.add(Errc::shape_mismatch,
                      ErrorContext{.file = file_,
                                   .tensor = f.a.tensor.name,
                                   .module = module,
                                   .slot = std::string(names_.a),
                                   .expected = expected,
                                   .actual = f.a.tensor.shape},
                      "rank disagrees with " + s.rank_source);
        continue;
      }
      const Index out = f.b.transposed ? f.b.tensor.rows : f.b.tensor.cols;
      if (!s.out_order.empty() && static_cast<Index>(s.out_order.size()) != out) {
        problems_.add(Errc::shape_mismatch,
                      ErrorContext{.file = file_, .tensor = f.b.tensor.name, .module = module},
                      "the row order has " + std::to_string(s.out_order.size()) + " entries for " +
                          std::to_string(out) + " outputs");
        continue;
      }
      if (f.magnitude.present) {
        const StoredTensor& t = f.magnitude.tensor;
        if (t.rows * t.cols != out || !is_float_dtype(t.dtype) || t.encoding != Encoding::plain) {
          problems_.add(Errc::shape_mismatch,
                        ErrorContext{.file = file_,
                                     .tensor = t.name,
                                     .module = module,
                                     .slot = std::string(names_.magnitude),
                                     .expected = Shape{out},
                                     .actual = t.shape},
                        "DoRA magnitude must be one float per output");
          continue;
        }
        if (!check_values(t, module)) continue;
      }
      planned.push_back(Planned{&module, &f, s, rank_a, out});
    }
    return planned;
  }

  // The problems of planned modules and saved tensors, with a file holding no LoRA tensors
  // among them, thrown together.
  void throw_problems(const std::vector<Planned>& planned) {
    if (planned.empty() && problems_.empty()) {
      problems_.add(Errc::missing_tensor, ErrorContext{.file = file_},
                    "the file holds no LoRA tensors (" + std::string(names_.a) + " / " +
                        std::string(names_.b) + ")");
    }
    problems_.throw_if_any();
  }

  // The saved tensors of a float type; the others recorded as problems.
  std::vector<const std::pair<std::string, StoredTensor>*> saved_floats() {
    std::vector<const std::pair<std::string, StoredTensor>*> saved_ok;
    for (const auto& entry : saved_in_) {
      const StoredTensor& t = entry.second;
      if (!is_float_dtype(t.dtype) || t.encoding != Encoding::plain) {
        problems_.add(Errc::unsupported_dtype, ErrorContext{.file = file_, .tensor = t.name},
                      std::string(to_string(t.dtype)) + " is not a float type");
        continue;
      }
      saved_ok.push_back(&entry);
    }
    return saved_ok;
  }

  // Every check passed: converts into one buffer sized up front.
  std::shared_ptr<const Adapter> convert(
      AdapterInfo info, const std::vector<Planned>& planned,
      const std::vector<const std::pair<std::string, StoredTensor>*>& saved_ok) {
    std::size_t bytes = 0;
    for (const Planned& p : planned) {
      const bool reorder = !p.spec.out_order.empty();
      bytes += footprint(p.found->a.tensor, p.found->a.transposed, false) +
               footprint(p.found->b.tensor, p.found->b.transposed, reorder);
      if (p.found->magnitude.present) bytes += footprint(magnitude_row(p), false, reorder);
    }
    for (const auto* entry : saved_ok) bytes += footprint(entry->second, false, false);
    store_.reserve(bytes);

    std::map<std::string, AdapterModule> modules;
    for (const Planned& p : planned) {
      const Found& f = *p.found;
      AdapterModule m;
      m.rank = p.rank;
      m.alpha = p.spec.alpha;
      m.kind = p.spec.kind;
      m.rows = p.spec.rows;
      m.a = make(f.a.tensor, f.a.transposed);
      m.b = make(f.b.tensor, f.b.transposed, p.spec.out_order);
      if (f.magnitude.present) m.magnitude = make(magnitude_row(p), false, p.spec.out_order);
      modules.emplace(*p.module, std::move(m));
    }
    std::map<std::string, AdapterTensor> saved;
    for (const auto* entry : saved_ok) {
      AdapterTensor at = make(entry->second, false);
      at.shape = entry->second.shape;
      saved.emplace(entry->first, at);
    }
    problems_.throw_if_any();
    return std::make_shared<const Adapter>(std::move(info), std::move(modules), std::move(saved),
                                           store_.release());
  }

  // A DoRA magnitude as one row of `out` values.
  static StoredTensor magnitude_row(const Planned& p) {
    StoredTensor row = p.found->magnitude.tensor;
    row.rows = 1;
    row.cols = p.out;
    return row;
  }

  // A float dtype (or Q8_0), and finite values when asked.
  bool check_values(const StoredTensor& t, const std::string& module) {
    if (t.encoding == Encoding::plain && !is_float_dtype(t.dtype)) {
      problems_.add(Errc::unsupported_dtype,
                    ErrorContext{.file = file_, .tensor = t.name, .module = module},
                    std::string(to_string(t.dtype)) + " is not a float type (F32, F16, BF16, F64)");
      return false;
    }
    if (options_.check_finite && values_) {
      const std::size_t bad = t.encoding == Encoding::q8_0
                                  ? count_non_finite_q8_0(t.bytes)
                                  : detail::count_non_finite(t.dtype, t.bytes);
      if (bad != 0) {
        problems_.add(Errc::non_finite,
                      ErrorContext{.file = file_, .tensor = t.name, .module = module},
                      std::to_string(bad) + " of " + std::to_string(t.rows * t.cols) +
                          " values are NaN or infinite (LoadOptions::check_finite = false loads "
                          "them anyway)");
      }
    }
    return true;
  }

  [[nodiscard]] std::size_t footprint(const StoredTensor& t, bool transpose,
                                      bool reorder) const noexcept {
    if (t.encoding == Encoding::q8_0) return detail::TensorStore::footprint_f32(t.rows, t.cols);
    return detail::TensorStore::footprint(t.dtype, t.rows, t.cols, t.bytes, transpose,
                                          options_.convert_to_f32, false, reorder);
  }

  // The tensor in lorakit's layout; `order` takes B's (or a magnitude's) columns in that order.
  AdapterTensor make(const StoredTensor& t, bool transpose, std::span<const Index> order = {}) {
    if (t.encoding == Encoding::q8_0) {
      const auto count = static_cast<std::size_t>(t.rows * t.cols);
      return store_.make_decoded(
          t.rows, t.cols, [&](float* dst) { decode_q8_0(t.bytes.data(), count, dst); }, transpose,
          order);
    }
    return store_.make(t.dtype, t.rows, t.cols, t.bytes, transpose, options_.convert_to_f32, false,
                       order);
  }

  std::string file_;
  const LoadOptions& options_;
  PartNames names_;
  detail::TensorStore store_;
  ProblemList problems_;
  std::map<std::string, Found> found_;
  std::vector<std::pair<std::string, StoredTensor>> saved_in_;
  bool values_ = true;
};

/// Refuses, for a writer of `format` at `file`, an adapter whose rows are in llama.cpp's rotary
/// order: other formats store Hugging Face order.
/// @throws lorakit::Error (Errc::unsupported) naming the first such module
inline void require_hf_rows(const Adapter& adapter, const std::string& file,
                            std::string_view format) {
  for (const auto& [module, m] : adapter.modules()) {
    if (m.rows != RowLayout::hf) {
      throw Error(Errc::unsupported, ErrorContext{.file = file, .module = module},
                  "lora_b rows are in llama.cpp's rotary order, which " + std::string(format) +
                      " does not store: load the GGUF adapter with BaseLayout::hf and the head "
                      "counts first");
    }
  }
}

}  // namespace lorakit::io
