// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// What an attach error means as a whole: the adapter's base against the model's, the mismatch
// that dominates, problems in order of importance, and shapes as the adapter's file stores them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "lorakit/core/shape.hpp"
#include "lorakit/core/slot.hpp"
#include "lorakit/detail/natural_order.hpp"
#include "lorakit/error.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/targeting.hpp"
#include "lorakit/variants/lora.hpp"

namespace lorakit::detail {

// A shape in lorakit's layout (A:(in, r), B:(r, out)) as a file of `format` stores it, and the
// notation its tools print it in; nullopt when the file stores lorakit's layout as it is.
//   peft  lora_A [r, in], lora_B [out, r]: the transpose (io/peft.hpp)
//   gguf  ggml's ne, innermost first: lora_a ne [in, r], lora_b ne [r, out], the same numbers
//         as lorakit's, the row-major (r, in) / (out, r) of PEFT reversed (io/gguf_adapter.hpp)
//   mlx   lora_a [in, r], lora_b [r, out]: lorakit's layout (io/mlx.hpp); memory: no file
struct FileShape {
  Shape shape;
  std::string_view notation;  // ErrorContext::file_notation
};
[[nodiscard]] inline std::optional<FileShape> file_shape(AdapterFormat format,
                                                         const Shape& lorakit) {
  if (lorakit.rank() != 2) return std::nullopt;
  switch (format) {
    case AdapterFormat::peft: return FileShape{Shape{lorakit.dims[1], lorakit.dims[0]}, ""};
    case AdapterFormat::gguf: return FileShape{lorakit, "ne"};
    case AdapterFormat::mlx:
    case AdapterFormat::memory: return std::nullopt;
  }
  return std::nullopt;
}

// Adds to `c` its expected and actual shapes as the adapter's file stores them.
inline void add_file_shapes(ErrorContext& c, AdapterFormat format) {
  for (auto [lorakit, file] :
       {std::pair{&c.expected, &c.expected_in_file}, std::pair{&c.actual, &c.actual_in_file}}) {
    if (!*lorakit) continue;
    if (std::optional<FileShape> f = file_shape(format, **lorakit)) {
      *file = std::move(f->shape);
      c.file_notation = std::string(f->notation);
    }
  }
}

// The order attach reports kinds of problems in, most telling first: a model of other widths,
// then modules without a layer and layers without a module (a wrong base, or a partial model),
// then what a different call or load would fix, then refusals of what the adapter also holds.
[[nodiscard]] constexpr int attach_priority(Errc e) noexcept {
  switch (e) {
    case Errc::shape_mismatch: return 0;
    case Errc::no_target: return 1;
    case Errc::missing_tensor: return 2;
    case Errc::incompatible_base: return 3;
    case Errc::unsupported_dtype: return 4;
    case Errc::bad_config: return 5;
    case Errc::limit_exceeded: return 6;
    case Errc::unsupported: return 7;
    case Errc::non_finite: return 8;
    case Errc::unexpected_tensor: return 9;
    case Errc::bad_format: return 10;
    case Errc::io: return 11;
  }
  return 12;
}

// A registered layer as the diagnosis describes the model.
struct LayerWidths {
  std::string name;
  Index in = 0;
  Index out = 0;
};

// What attach knows of the host model.
struct ModelFacts {
  std::string_view base;  // Model::Options::base; may be empty
  std::vector<LayerWidths> layers;
};

// "576/192": the distinct values, the most frequent first (then the largest), four at most.
[[nodiscard]] inline std::string widths(const std::vector<Index>& values) {
  std::map<Index, std::size_t> count;
  for (Index v : values) ++count[v];
  std::vector<std::pair<Index, std::size_t>> order(count.begin(), count.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first > y.first;
  });
  constexpr std::size_t kShown = 4;
  std::string s;
  for (std::size_t i = 0; i < order.size() && i < kShown; ++i) {
    s += (i == 0 ? "" : "/") + std::to_string(order[i].first);
  }
  return order.size() > kShown ? s + "/..." : s;
}

// " in 30 blocks" for names with block indices (layer_index), else "".
[[nodiscard]] inline std::string blocks_of(const std::vector<std::string>& names) {
  int blocks = 0;
  for (const std::string& n : names) {
    const int i = layer_index(n);
    if (i < 0) return "";
    blocks = std::max(blocks, i + 1);
  }
  return names.empty() ? "" : " in " + std::to_string(blocks) + " blocks";
}

// "blocks 16-29", "block 3", "blocks 0, 2, 5-7" for modules with block indices, else "".
[[nodiscard]] inline std::string block_ranges(const std::vector<std::string>& modules) {
  std::set<int> indices;
  for (const std::string& m : modules) {
    const int i = layer_index(m);
    if (i < 0) return "";
    indices.insert(i);
  }
  if (indices.empty()) return "";
  std::vector<std::pair<int, int>> runs;
  for (int i : indices) {
    if (!runs.empty() && runs.back().second + 1 == i) {
      runs.back().second = i;
    } else {
      runs.emplace_back(i, i);
    }
  }
  constexpr std::size_t kShown = 4;
  std::string s = indices.size() == 1 ? "block " : "blocks ";
  for (std::size_t k = 0; k < runs.size() && k < kShown; ++k) {
    const auto [first, last] = runs[k];
    s += (k == 0 ? "" : ", ") + std::to_string(first);
    if (last != first) s += "-" + std::to_string(last);
  }
  return runs.size() > kShown ? s + ", ..." : s;
}

// " (text)", or "" for no text.
[[nodiscard]] inline std::string in_parentheses(const std::string& text) {
  return text.empty() ? text : " (" + text + ")";
}

// Puts an attach's problems in the order of attach_priority, modules in natural order, and,
// when they point at a wrong base model (layers of other widths, modules without a layer,
// layers without a module), sets the diagnosis that leads the error:
//   adapter 'a' was trained on B (32 modules in 16 blocks: in 2048, out 2048/512, rank 8); this
//   model is M (60 layers in 30 blocks: in 576, out 576/192). 32 of 32 modules: in 2048
//   (adapter) vs 576 (model) - maybe wrong base model? Also: ...
inline void diagnose_attach(ProblemList& problems, std::string_view name, const Adapter& adapter,
                            const ModelFacts& model) {
  std::vector<Problem>& items = problems.items();
  std::stable_sort(items.begin(), items.end(), [](const Problem& x, const Problem& y) {
    if (x.code != y.code) return attach_priority(x.code) < attach_priority(y.code);
    if (x.context.module != y.context.module) {
      return natural_less(x.context.module, y.context.module);
    }
    return natural_less(x.context.tensor, y.context.tensor);
  });

  // The modules whose in or out disagrees, by (dimension, adapter's size, model's size).
  std::map<std::tuple<Dim, Index, Index>, std::set<std::string>> shapes;
  std::vector<std::string> no_layer;
  std::vector<std::string> no_weights;
  for (const Problem& p : items) {
    const ErrorContext& c = p.context;
    if (p.code == Errc::no_target) no_layer.push_back(c.module);
    if (p.code == Errc::missing_tensor) no_weights.push_back(c.module);
    if (p.code != Errc::shape_mismatch || !c.expected || !c.actual) continue;
    const auto slot = std::find_if(LoRA::slots.begin(), LoRA::slots.end(),
                                   [&](const Slot& s) { return s.name == c.slot; });
    if (slot == LoRA::slots.end() || c.expected->rank() != 2 || c.actual->rank() != 2) continue;
    for (std::size_t i = 0; i < 2; ++i) {
      const Dim d = i == 0 ? slot->rows : slot->cols;
      const Index model_size = c.expected->dims[i];
      const Index adapter_size = c.actual->dims[i];
      if ((d == Dim::in || d == Dim::out) && model_size != adapter_size) {
        shapes[{d, adapter_size, model_size}].insert(c.module);
      }
    }
  }
  if (shapes.empty() && no_layer.empty() && no_weights.empty()) return;

  // Each finding with the number of modules it concerns, the largest first; the first one
  // says which size is whose.
  struct Finding {
    std::size_t count;
    std::string text;
    std::string first;  // the text when it leads
  };
  const std::size_t modules = adapter.modules().size();
  const std::string of_modules = " of " + std::to_string(modules) + " modules";
  std::vector<Finding> findings;
  for (const auto& [key, names] : shapes) {
    const auto& [dim, adapter_size, model_size] = key;
    const std::string head = std::to_string(names.size()) + of_modules + ": " +
                             (dim == Dim::in ? "in " : "out ") + std::to_string(adapter_size);
    const std::string model_size_text = std::to_string(model_size);
    findings.push_back(Finding{names.size(), head + " vs " + model_size_text,
                               head + " (adapter) vs " + model_size_text + " (model)"});
  }
  if (!no_layer.empty()) {
    const std::string text = std::to_string(no_layer.size()) + of_modules + " have no layer here" +
                             in_parentheses(block_ranges(no_layer));
    findings.push_back(Finding{no_layer.size(), text, text});
  }
  if (!no_weights.empty()) {
    const std::string text = std::to_string(no_weights.size()) +
                             " layers the adapter's target rule selects have no weights in it" +
                             in_parentheses(block_ranges(no_weights));
    findings.push_back(Finding{no_weights.size(), text, text});
  }
  std::stable_sort(findings.begin(), findings.end(),
                   [](const Finding& x, const Finding& y) { return x.count > y.count; });

  const AdapterInfo& info = adapter.info();
  std::vector<std::string> module_names;
  std::vector<Index> ins;
  std::vector<Index> outs;
  for (const auto& [module_name, m] : adapter.modules()) {
    module_names.push_back(module_name);
    ins.push_back(m.in_features());
    outs.push_back(m.out_features());
  }
  std::string s = "adapter '" + std::string(name) + "' ";
  if (!info.base_model.empty()) {
    s += "was trained on " + info.base_model;
    if (!info.architecture.empty()) s += " (" + info.architecture + ")";
  } else if (!info.architecture.empty()) {
    s += "was trained on a " + info.architecture + " model";
  } else {
    s += "does not name its base model";
  }
  std::string where = block_ranges(module_names);
  if (!where.empty()) where = " in " + where;
  s += " (" + std::to_string(modules) + " modules" + where + ": in " + widths(ins) + ", out " +
       widths(outs);
  if (info.rank > 0) s += ", rank " + std::to_string(info.rank);
  s += "); this model ";

  std::vector<std::string> layer_names;
  ins.clear();
  outs.clear();
  for (const LayerWidths& l : model.layers) {
    layer_names.push_back(l.name);
    ins.push_back(l.in);
    outs.push_back(l.out);
  }
  std::string layers = std::to_string(model.layers.size()) + " layers" + blocks_of(layer_names);
  if (!model.layers.empty()) layers += ": in " + widths(ins) + ", out " + widths(outs);
  s += model.base.empty() ? "has " + layers : "is " + std::string(model.base) + " (" + layers + ")";
  s += ". " + findings.front().first + " - maybe wrong base model";
  if (shapes.empty() && !no_layer.empty()) s += ", or a NameMap rule missing";
  s += "?";
  if (shapes.empty() && no_weights.empty() && no_layer.size() < modules) {
    s += " (a partial model attaches with MissingLayers::skip)";
  }
  for (std::size_t i = 1; i < findings.size(); ++i) {
    s += (i == 1 ? " Also: " : "; ") + findings[i].text;
  }
  if (findings.size() > 1) s += ".";
  problems.set_diagnosis(std::move(s));
}

}  // namespace lorakit::detail
