// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Discovery: scan a folder for adapters and base models, classify every entry from headers and
// configs alone, and match the adapters to the bases (runtime/discovery.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/io/assemble.hpp"
#include "lorakit/io/base_model.hpp"
#include "lorakit/io/gguf.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/base_model.hpp"
#include "lorakit/runtime/discovery.hpp"

namespace lorakit::io {

/// What a scanned entry is.
enum class EntryKind : unsigned char {
  gguf_adapter,  ///< a GGUF file with general.type = adapter
  gguf_model,    ///< any other GGUF file that reads as a model
  peft_adapter,  ///< a directory with adapter_config.json (PEFT) and its safetensors
  mlx_adapter,   ///< a directory with adapter_config.json (mlx-lm) and adapters.safetensors
  hf_model,      ///< a directory with config.json and model.safetensors (or an index)
  unknown,       ///< with why
};

[[nodiscard]] constexpr std::string_view to_string(EntryKind k) noexcept {
  switch (k) {
    case EntryKind::gguf_adapter: return "gguf-adapter";
    case EntryKind::gguf_model: return "gguf-model";
    case EntryKind::peft_adapter: return "peft-adapter";
    case EntryKind::mlx_adapter: return "mlx-adapter";
    case EntryKind::hf_model: return "hf-model";
    case EntryKind::unknown: return "unknown";
  }
  return "?";
}

/// One entry of a scan: a file or directory and what it holds.
struct ScanEntry {
  std::filesystem::path path;
  EntryKind kind = EntryKind::unknown;
  std::string why;                        ///< unknown: why it is not an adapter or a model
  std::optional<AdapterOutline> adapter;  ///< the adapters' outline
  std::optional<BaseModel> base;          ///< the models' description
  std::optional<AdapterMatch> match;      ///< an adapter's match against the scan's bases

  [[nodiscard]] bool is_adapter() const noexcept { return adapter.has_value(); }
  [[nodiscard]] bool is_model() const noexcept { return base.has_value(); }
};

struct ScanOptions {
  int max_depth = 8;  ///< directories below the root descended into (0: the root only)
  ReadLimits limits;  ///< for every config and header read
  bool match = true;  ///< match every adapter against the bases found (and `extra_bases`)
  std::vector<BaseModel> extra_bases;  ///< bases from elsewhere (a --base given on the side)
};

/// A scan: every entry in path order, and what could not be scanned (symlink loops, unreadable
/// directories, broken links, the depth bound), never fatal.
struct Scan {
  std::vector<ScanEntry> entries;
  std::vector<std::string> warnings;
  std::vector<BaseModel> bases;  ///< the bases adapters were matched against, in match order
};

namespace detail_scan {

// Whether a regular file starts "GGUF"; nullopt when it cannot be read.
inline std::optional<bool> is_gguf(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::array<char, 4> magic{};
  in.read(magic.data(), 4);
  return in.gcount() == 4 && std::string_view(magic.data(), 4) == "GGUF";
}

// An entry that failed to read: unknown, with the error's text. Only std::bad_alloc escapes.
template <class Read>
ScanEntry reading(const std::filesystem::path& path, Read&& read) {
  try {
    return read();
  } catch (const Error& err) {
    return ScanEntry{.path = path, .kind = EntryKind::unknown, .why = err.what()};
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& err) {  // the file system's own errors (a race, EACCES)
    return ScanEntry{
        .path = path,
        .kind = EntryKind::unknown,
        .why = Error(Errc::io, ErrorContext{.file = path.string()}, err.what()).what()};
  }
}

// The first of `names` in `dir` that exists and is not a regular file (a FIFO, a device, a
// directory), or "": the readers open only regular files.
inline std::string irregular(const std::filesystem::path& dir,
                             std::initializer_list<const char*> names) {
  namespace fs = std::filesystem;
  for (const char* n : names) {
    std::error_code ec;
    const fs::file_status st = fs::status(dir / n, ec);
    if (!ec && fs::exists(st) && !fs::is_regular_file(st)) return n;
  }
  return "";
}

inline ScanEntry classify_gguf(const std::filesystem::path& path, const ScanOptions& options) {
  return reading(path, [&] {
    ScanEntry e{.path = path};
    const GgufFile file = GgufFile::open(path, options.limits);
    const std::optional<std::string> type = file.string("general.type");
    if (type && *type == "adapter") {
      e.kind = EntryKind::gguf_adapter;
      e.adapter = detail_gguf::load<AdapterOutline>(file, path.stem().string(),
                                                    LoadOptions{.limits = options.limits}, {});
    } else {
      e.kind = EntryKind::gguf_model;
      e.base = detail_base::gguf_model(file, path.stem().string());
    }
    return e;
  });
}

// A directory that is an adapter or a model, or nullopt.
inline std::optional<ScanEntry> classify_dir(const std::filesystem::path& dir,
                                             const ScanOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto not_regular = [&](const std::string& name) {
    return ScanEntry{
        .path = dir,
        .kind = EntryKind::unknown,
        .why = Error(Errc::io, ErrorContext{.file = (dir / name).string()}, "not a regular file")
                   .what()};
  };
  if (fs::exists(dir / "adapter_config.json", ec)) {
    const std::string odd = irregular(
        dir, {"adapter_config.json", "adapter_model.safetensors", "adapters.safetensors"});
    if (!odd.empty()) return not_regular(odd);
    return reading(dir, [&] {
      ScanEntry e{.path = dir};
      const AdapterFormat f = detect_format(dir);
      e.kind = f == AdapterFormat::mlx ? EntryKind::mlx_adapter : EntryKind::peft_adapter;
      e.adapter = read_outline(dir, LoadOptions{.limits = options.limits});
      return e;
    });
  }
  if (fs::exists(dir / "config.json", ec) &&
      (fs::exists(dir / "model.safetensors", ec) ||
       fs::exists(dir / "model.safetensors.index.json", ec))) {
    const std::string odd =
        irregular(dir, {"config.json", "model.safetensors", "model.safetensors.index.json"});
    if (!odd.empty()) return not_regular(odd);
    return reading(dir, [&] {
      ScanEntry e{.path = dir, .kind = EntryKind::hf_model};
      e.base = read_base_model(dir, options.limits);
      return e;
    });
  }
  return std::nullopt;
}

class Scanner {
 public:
  explicit Scanner(const ScanOptions& options) : options_(options) {}

  void directory(const std::filesystem::path& dir, int depth, Scan& scan) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path real = fs::canonical(dir, ec);
    if (ec) {
      scan.warnings.push_back(dir.string() + ": cannot resolve (" + ec.message() + ")");
      return;
    }
    if (!visited_.insert(real).second) {
      scan.warnings.push_back(dir.string() + ": a symlink loop or a second link to " +
                              real.string() + ", scanned once");
      return;
    }
    const bool recognised = [&] {
      std::optional<ScanEntry> e = classify_dir(dir, options_);
      if (!e) return false;
      scan.entries.push_back(std::move(*e));
      return true;
    }();
    std::vector<fs::directory_entry> children;
    fs::directory_iterator it(dir, fs::directory_options::none, ec);
    if (ec) {
      scan.warnings.push_back(dir.string() + ": cannot read (" + ec.message() + ")");
      return;
    }
    for (fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) {
        scan.warnings.push_back(dir.string() + ": cannot read (" + ec.message() + ")");
        break;
      }
      children.push_back(*it);
    }
    std::sort(children.begin(), children.end(),
              [](const fs::directory_entry& a, const fs::directory_entry& b) {
                return a.path().filename() < b.path().filename();
              });
    for (const fs::directory_entry& child : children) {
      const fs::path& p = child.path();
      const std::string name = p.filename().string();
      if (name.starts_with(".")) continue;
      std::error_code status_ec;
      const fs::file_status st = fs::status(p, status_ec);
      if (status_ec || !fs::exists(st)) {
        scan.warnings.push_back(p.string() + ": " +
                                (fs::is_symlink(child.symlink_status(status_ec))
                                     ? "a broken symlink"
                                     : "cannot stat (" + status_ec.message() + ")"));
        continue;
      }
      if (fs::is_directory(st)) {
        if (depth >= options_.max_depth) {
          scan.warnings.push_back(p.string() + ": not scanned, deeper than max_depth " +
                                  std::to_string(options_.max_depth));
          continue;
        }
        directory(p, depth + 1, scan);
        continue;
      }
      if (!fs::is_regular_file(st)) continue;
      const std::optional<bool> gguf = is_gguf(p);
      if (!gguf) {
        scan.entries.push_back(ScanEntry{
            .path = p,
            .kind = EntryKind::unknown,
            .why = Error(Errc::io, ErrorContext{.file = p.string()}, "cannot be read").what()});
      } else if (*gguf) {
        scan.entries.push_back(classify_gguf(p, options_));
      } else if (!recognised) {
        scan.entries.push_back(
            ScanEntry{.path = p,
                      .kind = EntryKind::unknown,
                      .why = "not a GGUF file, and not in an adapter or model directory"});
      }
    }
  }

 private:
  const ScanOptions& options_;
  std::set<std::filesystem::path> visited_;
};

}  // namespace detail_scan

/// Scans `root` (a directory, or one file) for adapters and base models down to
/// options.max_depth, reading configs and headers only, classifies every entry (hidden files
/// skipped; files inside an adapter or model directory belong to it), and, with options.match,
/// matches every adapter against every base found plus options.extra_bases. Entries are in
/// path order; problems of the walk are warnings, an unreadable or malformed file an unknown
/// entry with its error.
/// @throws lorakit::Error (Errc::io) only when `root` itself does not exist.
[[nodiscard]] inline Scan scan(const std::filesystem::path& root, const ScanOptions& options = {}) {
  namespace fs = std::filesystem;
  require_path(root, "folder to scan");
  std::error_code ec;
  Scan out;
  if (fs::is_directory(root, ec)) {
    detail_scan::Scanner(options).directory(root, 0, out);
  } else if (fs::exists(root, ec)) {
    if (fs::is_regular_file(root, ec) && detail_scan::is_gguf(root).value_or(false)) {
      out.entries.push_back(detail_scan::classify_gguf(root, options));
    } else {
      out.entries.push_back(ScanEntry{
          .path = root, .kind = EntryKind::unknown, .why = "not a GGUF file, and not a directory"});
    }
  } else {
    throw Error(Errc::io, ErrorContext{.file = path_name(root)}, "no such file or directory");
  }
  if (!options.match) return out;
  for (const ScanEntry& e : out.entries) {
    if (e.base) out.bases.push_back(*e.base);
  }
  out.bases.insert(out.bases.end(), options.extra_bases.begin(), options.extra_bases.end());
  for (ScanEntry& e : out.entries) {
    if (e.adapter) e.match = match(*e.adapter, out.bases);
  }
  return out;
}

}  // namespace lorakit::io
