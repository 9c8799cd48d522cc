// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// What the lorakit tool's commands share about adapters: loading one for reading (GGUF Q/K rows
// kept in the file's order, since the base decides their layout), and grouping modules by
// their block-local name (model.layers.3.self_attn.q_proj -> self_attn.q_proj, block 3).
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lorakit/io/load.hpp>

namespace lorakit::cli {

/// How a command loads an adapter it only reads.
struct ReadOptions {
  int n_head = 0;     ///< > 0: put GGUF Q/K rows in Hugging Face order with these heads
  int n_head_kv = 0;  ///< 0: n_head
  bool check_finite = true;
};

/// Loads the adapter at `path` (any format). GGUF adapters of the llama family store Q/K rows
/// in llama.cpp's rotary order, and only the base model says whether that is the order it
/// needs: without head counts they load as llama.cpp's layout (BaseLayout::llama_cpp); with
/// them, in Hugging Face order (BaseLayout::hf).
/// @throws lorakit::Error as io::load_adapter does
inline std::shared_ptr<const Adapter> load_for_reading(const std::filesystem::path& path,
                                                       const ReadOptions& options = {}) {
  io::LoadOptions load;
  load.check_finite = options.check_finite;
  if (io::detect_format(path) == AdapterFormat::gguf) {
    load.base_layout = options.n_head > 0 ? io::BaseLayout::hf : io::BaseLayout::llama_cpp;
    load.n_head = options.n_head;
    load.n_head_kv = options.n_head_kv;
  }
  return io::load_adapter(path, load);
}

/// A module name split at its first all-digit component: "model.layers" / 3 /
/// "self_attn.q_proj". A name without one has no block and is its own local name.
struct ModuleName {
  std::string prefix;
  std::optional<long long> block;
  std::string local;
};

inline ModuleName split_module(std::string_view name) {
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    const bool digits = !part.empty() && part.size() <= 12 &&
                        part.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits && start > 0 && end < name.size()) {
      return {std::string(name.substr(0, start - 1)), std::stoll(std::string(part)),
              std::string(name.substr(end + 1))};
    }
    start = end + 1;
  }
  return {"", std::nullopt, std::string(name)};
}

/// Modules of one block-local name under one prefix, e.g. every model.layers.N.self_attn.q_proj.
struct ModuleGroup {
  std::string prefix;
  std::string local;
  std::vector<long long> blocks;  ///< sorted; empty for a module outside any block
  std::vector<std::pair<std::string, const AdapterModule*>> modules;

  /// "model.layers.*.self_attn.q_proj", or the module's name outside a block.
  [[nodiscard]] std::string pattern() const {
    return blocks.empty() ? local : prefix + ".*." + local;
  }
};

/// The groups of an adapter's modules, ordered by prefix then the first module's position.
inline std::vector<ModuleGroup> group_modules(const Adapter& adapter) {
  std::vector<ModuleGroup> groups;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (const auto& [name, m] : adapter.modules()) {
    ModuleName n = split_module(name);
    const auto key = std::make_pair(n.block ? n.prefix : std::string("\x01"), n.local);
    auto [it, fresh] = index.emplace(key, groups.size());
    if (fresh) groups.push_back({n.prefix, n.local, {}, {}});
    ModuleGroup& g = groups[it->second];
    if (n.block) g.blocks.push_back(*n.block);
    g.modules.emplace_back(name, &m);
  }
  for (ModuleGroup& g : groups) std::sort(g.blocks.begin(), g.blocks.end());
  std::stable_sort(groups.begin(), groups.end(), [](const ModuleGroup& x, const ModuleGroup& y) {
    if (x.blocks.empty() != y.blocks.empty()) return !x.blocks.empty();
    if (x.prefix != y.prefix) return x.prefix < y.prefix;
    if (x.blocks.empty()) return x.local < y.local;  // modules outside a block: by name
    return x.blocks.front() < y.blocks.front() ||
           (x.blocks.front() == y.blocks.front() && x.local < y.local);
  });
  return groups;
}

/// "0-29", "0-3,8,10-11" for sorted block indices (duplicates collapse).
inline std::string block_ranges(const std::vector<long long>& blocks) {
  std::string s;
  for (std::size_t i = 0; i < blocks.size();) {
    std::size_t j = i;
    while (j + 1 < blocks.size() && blocks[j + 1] <= blocks[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += std::to_string(blocks[i]);
    if (blocks[j] != blocks[i]) s += "-" + std::to_string(blocks[j]);
    i = j + 1;
  }
  return s;
}

/// Bytes of one module's tensors.
inline std::uint64_t module_bytes(const AdapterModule& m) {
  return m.a.bytes.size() + m.b.bytes.size() + (m.magnitude ? m.magnitude->bytes.size() : 0);
}

}  // namespace lorakit::cli
