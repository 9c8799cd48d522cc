// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// load_adapter: recognise an adapter's format from its contents and load it.
#pragma once

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "lorakit/detail/json_config.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/runtime/adapter.hpp"

namespace lorakit::io {

/// The format of the adapter at `path` (a directory, or a file inside one), judged by what is
/// there: PEFT (adapter_model.safetensors, or a config with peft_type), mlx-lm
/// (adapters.safetensors, or a config with lora_parameters), GGUF (a file starting "GGUF").
/// @throws lorakit::Error (Errc::bad_format) naming the path when nothing is recognised.
inline AdapterFormat detect_format(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  require_path(path, "adapter path");
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::array<char, 4> magic{};
    in.read(magic.data(), 4);
    if (in.gcount() == 4 && std::string(magic.data(), 4) == "GGUF") return AdapterFormat::gguf;
    return detect_format(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  }
  if (!fs::is_directory(path, ec)) {
    throw Error(Errc::io, ErrorContext{.file = path.string()},
                fs::exists(path, ec) ? "not a regular file" : "no such file or directory");
  }
  const bool has_config = fs::exists(path / "adapter_config.json", ec);
  if (fs::exists(path / "adapter_model.safetensors", ec) && has_config) return AdapterFormat::peft;
  if (fs::exists(path / "adapters.safetensors", ec) && has_config) return AdapterFormat::mlx;
  if (has_config) {
    const detail::JsonConfig c =
        detail::read_config(path / "adapter_config.json", ReadLimits{}.max_config_bytes);
    if (c.find("peft_type") != nullptr) return AdapterFormat::peft;
    if (c.find("lora_parameters") != nullptr) return AdapterFormat::mlx;
  }
  const std::string gguf = detail_gguf::gguf_files_in(path);
  if (!gguf.empty()) {
    throw Error(Errc::bad_format, ErrorContext{.file = path.string()},
                "a directory of GGUF files" + gguf +
                    ", not an adapter directory: pass the path of the .gguf file to load");
  }
  throw Error(Errc::bad_format, ErrorContext{.file = path.string()},
              "not a recognised adapter: expected a PEFT directory (adapter_config.json + "
              "adapter_model.safetensors), an mlx-lm directory (adapter_config.json + "
              "adapters.safetensors) or a GGUF file");
}

/// Loads the adapter at `path` in whatever format it is in.
/// @throws lorakit::Error as the format's loader does.
inline std::shared_ptr<const Adapter> load_adapter(const std::filesystem::path& path,
                                                   const LoadOptions& options = {}) {
  std::error_code ec;
  const bool dir = std::filesystem::is_directory(path, ec);
  switch (detect_format(path)) {
    case AdapterFormat::peft: return load_peft(dir ? path : path.parent_path(), options);
    case AdapterFormat::mlx: return load_mlx(dir ? path : path.parent_path(), options);
    case AdapterFormat::gguf: return load_gguf(path, options);
    case AdapterFormat::memory: break;
  }
  throw Error(Errc::bad_format, ErrorContext{.file = path.string()}, "not a recognised adapter");
}

/// The outline of the adapter at `path` in whatever format it is in, from its config and
/// tensor headers alone: names, shapes, ranks, alphas, dtypes and the config's facts, with
/// every check of the loader but non-finite values (no tensor value is read). What inspection
/// and discovery use: a large adapter costs what its headers cost.
/// @throws lorakit::Error as the format's loader does (Errc::non_finite excepted).
inline AdapterOutline read_outline(const std::filesystem::path& path,
                                   const LoadOptions& options = {}) {
  namespace fs = std::filesystem;
  const AdapterFormat format = detect_format(path);
  std::error_code ec;
  const fs::path dir = fs::is_directory(path, ec) ? path : path.parent_path();
  switch (format) {
    case AdapterFormat::peft:
      return detail_peft::load<AdapterOutline>(
          detail::read_config(dir / "adapter_config.json", options.limits.max_config_bytes), dir,
          [&] { return SafetensorsFile::open(dir / "adapter_model.safetensors", options.limits); },
          options);
    case AdapterFormat::mlx:
      return detail_mlx::load<AdapterOutline>(
          detail::read_config(dir / "adapter_config.json", options.limits.max_config_bytes), dir,
          [&] { return SafetensorsFile::open(dir / "adapters.safetensors", options.limits); },
          options);
    case AdapterFormat::gguf: {
      const GgufFile file = GgufFile::open(path, options.limits);
      return detail_gguf::load<AdapterOutline>(file, path.stem().string(), options, {});
    }
    case AdapterFormat::memory: break;
  }
  throw Error(Errc::bad_format, ErrorContext{.file = path.string()}, "not a recognised adapter");
}

}  // namespace lorakit::io
