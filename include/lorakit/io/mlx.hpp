// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// mlx-lm adapters: adapter_config.json + adapters.safetensors <-> Adapter.
#pragma once

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/detail/json_config.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/safetensors.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::io {

namespace detail_mlx {

// The loader proper (see detail_peft::load).
template <class Result = std::shared_ptr<const Adapter>, class OpenTensors>
Result load(const detail::JsonConfig& config, const std::filesystem::path& dir,
            OpenTensors&& open_tensors, const LoadOptions& options) {
  const auto& j = config.json();
  AdapterInfo info;
  info.source = dir.string();
  info.format = AdapterFormat::mlx;
  info.name = options.name.empty() ? dir.filename().string() : options.name;
  if (info.name.empty()) info.name = dir.parent_path().filename().string();
  info.base_model = config.string(j, "model").value_or("");
  info.scaling = Scaling::direct;
  const std::string fine_tune =
      config.string(j, "fine_tune_type")
          .value_or(config.boolean(j, "use_dora").value_or(false) ? "dora" : "lora");
  if (fine_tune != "lora" && fine_tune != "dora") {
    throw Error(Errc::unsupported, ErrorContext{.file = config.file()},
                "fine_tune_type '" + fine_tune + "' is not an adapter (lora or dora)");
  }
  info.variant = fine_tune == "dora" ? VariantKind::dora : VariantKind::lora;
  const nlohmann::ordered_json* params = config.find("lora_parameters");
  if (params == nullptr || !params->is_object()) {
    config.fail("lora_parameters", "must be an object with rank and scale");
  }
  const long long rank = config.integer(*params, "rank").value_or(8);
  if (rank < 1) config.fail("lora_parameters.rank", "must be >= 1");
  info.rank = static_cast<Index>(rank);
  info.alpha = static_cast<float>(config.number(*params, "scale").value_or(20.0));
  info.target.names = config.strings(*params, "keys");
  const auto layers = config.integer(j, "num_layers");
  const auto old_layers = config.integer(j, "lora_layers");
  info.target.last_layers = static_cast<int>(layers ? *layers : old_layers.value_or(-1));

  const SafetensorsFile file = open_tensors();
  AdapterBuilder builder(file.path(), options, PartNames{"lora_a", "lora_b", "m"});
  builder.keep(file.storage());
  for (const TensorEntry& t : file.tensors()) {
    const std::string_view key = t.name;
    const std::size_t dot = key.rfind('.');
    const std::string_view suffix = dot == std::string_view::npos ? key : key.substr(dot + 1);
    const std::string module(key.substr(0, dot == std::string_view::npos ? 0 : dot));
    if (module.empty() || (suffix != "lora_a" && suffix != "lora_b" && suffix != "m")) {
      builder.problems().add(Errc::unexpected_tensor,
                             ErrorContext{.file = file.path(), .tensor = t.name},
                             "not an mlx-lm adapter tensor (<module>.lora_a, .lora_b, .m)");
      continue;
    }
    // mlx-lm: lora_a [in, r], lora_b [r, out]: lorakit's layout, used in place.
    builder.add(module,
                suffix == "lora_a"   ? Part::a
                : suffix == "lora_b" ? Part::b
                                     : Part::magnitude,
                stored_tensor(t), false);
  }
  const Index config_rank = info.rank;
  const float scale = info.alpha;
  return builder.template finish<Result>(std::move(info), [&](const std::string&) {
    ModuleSpec spec;
    spec.rank = config_rank;
    spec.rank_source = "lora_parameters.rank";
    spec.alpha = scale;
    return spec;
  });
}

}  // namespace detail_mlx

/// Loads an mlx-lm adapter directory (adapter_config.json + adapters.safetensors).
/// Keys <module>.lora_a [in, r] and .lora_b [r, out] are already lorakit's layout: F32 tensors
/// are used in place, without a copy. The multiplier is lora_parameters.scale (Scaling::direct),
/// not alpha / r. DoRA's magnitude is <module>.m [out].
/// @throws lorakit::Error as load_peft does.
inline std::shared_ptr<const Adapter> load_mlx(const std::filesystem::path& dir,
                                               const LoadOptions& options = {}) {
  require_path(dir, "adapter directory");
  return detail_mlx::load(
      detail::read_config(dir / "adapter_config.json", options.limits.max_config_bytes), dir,
      [&] { return SafetensorsFile::open(dir / "adapters.safetensors", options.limits); }, options);
}

/// load_mlx() on the two files' contents held in memory: `config_json` is adapter_config.json,
/// `tensors` adapters.safetensors (viewed in place and kept alive by the Adapter); `dir` names
/// the adapter in errors and AdapterInfo.
inline std::shared_ptr<const Adapter> load_mlx(std::string_view config_json,
                                               std::shared_ptr<const FileBytes> tensors,
                                               const std::filesystem::path& dir,
                                               const LoadOptions& options = {}) {
  return detail_mlx::load(
      detail::parse_config(config_json, (dir / "adapter_config.json").string(),
                           options.limits.max_config_bytes),
      dir, [&] { return SafetensorsFile::parse(tensors, options.limits); }, options);
}

/// Options of save_mlx.
struct MlxSaveOptions {
  /// mlx-lm has one scale per adapter: when modules' multipliers differ, true folds each
  /// module's ratio to the first module's multiplier into its lora_b (written as F32, listed
  /// under lorakit_folded_modules in the config); false refuses such an adapter.
  bool fold_scales = false;
};

/// Writes `adapter` as an mlx-lm adapter directory: <module>.lora_a [in, r] and .lora_b
/// [r, out] (and .m for DoRA) plus a config whose lora_parameters.scale is the multiplier.
/// Modules of a different rank and modules_to_save tensors have no mlx-lm form and are refused,
/// as are differing multipliers unless options.fold_scales.
/// @throws lorakit::Error (Errc::io, Errc::unsupported)
inline void save_mlx(const Adapter& adapter, const std::filesystem::path& dir,
                     const MlxSaveOptions& options = {}) {
  require_hf_rows(adapter, dir.string(), "mlx-lm");
  if (adapter.modules().empty()) {
    throw Error(Errc::unsupported, ErrorContext{.file = dir.string()}, "adapter has no modules");
  }
  if (!adapter.saved().empty()) {
    throw Error(Errc::unsupported,
                ErrorContext{.file = dir.string(), .tensor = adapter.saved().begin()->first},
                "mlx-lm adapters cannot hold full replacement tensors (modules_to_save)");
  }
  const AdapterModule& first = adapter.modules().begin()->second;
  const float scale = adapter.scale(first);
  std::vector<std::vector<std::byte>> buffers;
  buffers.reserve(adapter.modules().size() * 3);
  std::vector<TensorToWrite> tensors;
  std::set<std::string> keys;
  std::set<int> layers;
  std::vector<std::string> folded;
  for (const auto& [module, m] : adapter.modules()) {
    if (m.rank != first.rank) {
      throw Error(Errc::unsupported, ErrorContext{.file = dir.string(), .module = module},
                  "mlx-lm adapters have one rank; this module has rank " + std::to_string(m.rank) +
                      ", the first " + std::to_string(first.rank));
    }
    auto copy = [&](const AdapterTensor& t) {
      buffers.emplace_back(t.bytes.begin(), t.bytes.end());
      return std::span<const std::byte>(buffers.back());
    };
    tensors.push_back({module + ".lora_a", m.a.dtype, m.a.shape, copy(m.a)});
    const float ratio = adapter.scale(m) / scale;
    if (ratio != 1.0f && !options.fold_scales) {
      throw Error(Errc::unsupported, ErrorContext{.file = dir.string(), .module = module},
                  "mlx-lm adapters have one scale; this module's multiplier is " +
                      std::to_string(adapter.scale(m)) + ", the first " + std::to_string(scale) +
                      " (MlxSaveOptions::fold_scales = true folds the ratio into lora_b)");
    }
    if (ratio != 1.0f) folded.push_back(module);
    if (ratio == 1.0f) {
      tensors.push_back({module + ".lora_b", m.b.dtype, m.b.shape, copy(m.b)});
    } else {
      std::vector<float> b(static_cast<std::size_t>(m.b.elements()));
      decode_floats(m.b.dtype, m.b.bytes.data(), b.size(), b.data());
      for (float& v : b) v *= ratio;
      buffers.emplace_back(b.size() * sizeof(float));
      std::memcpy(buffers.back().data(), b.data(), buffers.back().size());
      tensors.push_back({module + ".lora_b", DType::f32, m.b.shape, buffers.back()});
    }
    if (m.magnitude) {
      tensors.push_back(
          {module + ".m", m.magnitude->dtype, Shape{m.out_features()}, copy(*m.magnitude)});
    }
    // Relative key (after "layers.N.") and the layer index, for lora_parameters.keys/num_layers.
    const std::size_t at = module.find("layers.");
    if (at != std::string::npos) {
      const std::size_t num = at + 7;
      std::size_t end = num;
      while (end < module.size() && std::isdigit(static_cast<unsigned char>(module[end])) != 0)
        ++end;
      if (end > num && end < module.size() && module[end] == '.') {
        layers.insert(std::stoi(module.substr(num, end - num)));
        keys.insert(module.substr(end + 1));
        continue;
      }
    }
    keys.insert(module);
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw Error(Errc::io, ErrorContext{.file = dir.string()}, "cannot create: " + ec.message());
  write_safetensors(dir / "adapters.safetensors", std::move(tensors));

  nlohmann::ordered_json c;
  c["fine_tune_type"] = adapter.info().variant == VariantKind::dora ? "dora" : "lora";
  c["num_layers"] = adapter.info().target.last_layers > 0 ? adapter.info().target.last_layers
                                                          : static_cast<int>(layers.size());
  c["lora_parameters"] = {{"rank", first.rank},
                          {"scale", scale},
                          {"dropout", 0.0},
                          {"keys", std::vector<std::string>(keys.begin(), keys.end())}};
  if (!adapter.info().base_model.empty()) c["model"] = adapter.info().base_model;
  if (!folded.empty()) c["lorakit_folded_modules"] = folded;
  const std::filesystem::path config_path = dir / "adapter_config.json";
  std::ofstream out(config_path, std::ios::trunc);
  out << c.dump(2) << '\n';
  if (!out) throw Error(Errc::io, ErrorContext{.file = config_path.string()}, "cannot write");
}

}  // namespace lorakit::io
