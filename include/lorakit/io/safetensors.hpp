// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// safetensors: a validating, zero-copy reader over a mapped file, and a deterministic writer.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end)}, "__metadata__": {str: str}}, then the data section; offsets are
// relative to its start, data is little-endian and row-major.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/core/dtype.hpp"
#include "lorakit/core/shape.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/file_bytes.hpp"

namespace lorakit::io {

static_assert(std::endian::native == std::endian::little,
              "lorakit's file readers assume a little-endian host");

/// Limits a file cannot exceed; checked before anything is allocated from a size in the file.
struct ReadLimits {
  std::uint64_t max_header_bytes = 100'000'000;  ///< the cap of the reference implementation
  std::size_t max_tensors = 1'000'000;
  std::size_t max_rank = 8;                      ///< dimensions per tensor
  std::int64_t max_dim = std::int64_t{1} << 40;  ///< elements along one dimension
  std::uint64_t max_config_bytes = 16'000'000;   ///< adapter_config.json
};

/// One tensor of a safetensors file: its name, dtype, shape and bytes (a view into the file).
struct TensorEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0;  ///< offset of the first byte in the data section
  std::uint64_t end = 0;    ///< one past the last byte
  std::span<const std::byte> bytes;

  [[nodiscard]] std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (Index d : shape.dims) n *= d;
    return n;
  }
};

/// Parses a dtype name ("F32", "BF16", ...); nullopt when unknown.
[[nodiscard]] inline std::optional<DType> parse_dtype(std::string_view s) noexcept {
  constexpr DType all[] = {DType::f32, DType::f16, DType::bf16,    DType::f64,     DType::i8,
                           DType::u8,  DType::i16, DType::u16,     DType::i32,     DType::u32,
                           DType::i64, DType::u64, DType::boolean, DType::f8_e5m2, DType::f8_e4m3};
  for (DType d : all) {
    if (to_string(d) == s) return d;
  }
  return std::nullopt;
}

/// A validated safetensors file. Every tensor's bytes lie inside the file, no two tensors
/// overlap, and each byte range is exactly dtype size x the product of the shape.
class SafetensorsFile {
 public:
  /// Opens (memory-maps) and validates a file.
  /// @throws lorakit::Error: Errc::io (cannot read), Errc::bad_format (any structural problem;
  ///   every bad tensor is listed), Errc::limit_exceeded (a size above `limits`).
  static SafetensorsFile open(const std::filesystem::path& path, const ReadLimits& limits = {}) {
    return parse(FileBytes::map(path), limits);
  }

  /// Validates bytes already in memory (bytes->path() names them in errors).
  static SafetensorsFile parse(std::shared_ptr<const FileBytes> bytes,
                               const ReadLimits& limits = {}) {
    SafetensorsFile f;
    f.bytes_ = std::move(bytes);
    f.read(limits);
    return f;
  }

  [[nodiscard]] const std::string& path() const noexcept { return bytes_->path(); }
  /// Tensors sorted by name.
  [[nodiscard]] const std::vector<TensorEntry>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const TensorEntry* find(std::string_view name) const noexcept {
    auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                               [](const TensorEntry& t, std::string_view n) { return t.name < n; });
    return it != tensors_.end() && it->name == name ? &*it : nullptr;
  }
  /// The `__metadata__` map, or nullopt when the file has none (absent or JSON null).
  [[nodiscard]] const std::optional<std::map<std::string, std::string>>& metadata() const noexcept {
    return metadata_;
  }
  /// Owner of the bytes every TensorEntry views: keep it to keep the views valid.
  [[nodiscard]] const std::shared_ptr<const FileBytes>& storage() const noexcept { return bytes_; }
  /// Byte offset of the data section in the file.
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }

 private:
  SafetensorsFile() = default;

  [[noreturn]] void fail(Errc code, std::string detail) const {
    throw Error(code, ErrorContext{.file = path()}, std::move(detail));
  }

  void read(const ReadLimits& limits) {
    const std::span<const std::byte> file = bytes_->bytes();
    if (file.size() < 8) {
      fail(Errc::bad_format, "file of " + std::to_string(file.size()) +
                                 " bytes is shorter than the 8-byte header length");
    }
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    if (n > limits.max_header_bytes) {
      fail(Errc::limit_exceeded, "header length " + std::to_string(n) + " exceeds the limit of " +
                                     std::to_string(limits.max_header_bytes) + " bytes");
    }
    if (n > file.size() - 8) {
      fail(Errc::bad_format, "header length " + std::to_string(n) + " runs past the end of the " +
                                 std::to_string(file.size()) + "-byte file");
    }
    data_offset_ = 8 + n;
    const std::span<const std::byte> data = file.subspan(static_cast<std::size_t>(data_offset_));
    const auto* text = reinterpret_cast<const char*>(file.data() + 8);
    const std::string_view header(text, static_cast<std::size_t>(n));
    if (header.empty() || header.front() != '{') {
      fail(Errc::bad_format, "header does not start with '{'");
    }

    // Parse, noting duplicate top-level keys (JSON objects keep only the last one).
    std::set<std::string> seen;
    std::string duplicate;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(
          header.begin(), header.end(),
          [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
                !seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
              duplicate = parsed.get<std::string>();
            }
            return true;
          });
    } catch (const nlohmann::json::exception& e) {
      fail(Errc::bad_format, std::string("header is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail(Errc::bad_format, "header is not a JSON object");
    if (!duplicate.empty()) fail(Errc::bad_format, "header names '" + duplicate + "' twice");
    const std::size_t count = j.size() - (j.contains("__metadata__") ? 1 : 0);
    if (count > limits.max_tensors) {
      fail(Errc::limit_exceeded, "header lists " + std::to_string(count) +
                                     " tensors, above the limit of " +
                                     std::to_string(limits.max_tensors) + " tensors");
    }

    ProblemList problems;
    for (const auto& [key, value] : j.items()) {
      if (key == "__metadata__") {
        read_metadata(value, problems);
        continue;
      }
      read_entry(key, value, data.size(), limits, problems);
    }
    check_overlaps(problems);
    problems.throw_if_any();
    for (TensorEntry& t : tensors_) {
      t.bytes = data.subspan(static_cast<std::size_t>(t.begin),
                             static_cast<std::size_t>(t.end - t.begin));
    }
    std::sort(tensors_.begin(), tensors_.end(),
              [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  }

  void read_metadata(const nlohmann::json& value, ProblemList& problems) {
    if (value.is_null()) return;
    if (!value.is_object()) {
      problems.add(Errc::bad_format, ErrorContext{.file = path(), .tensor = "__metadata__"},
                   "must be an object of strings or null");
      return;
    }
    std::map<std::string, std::string> m;
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string()) {
        problems.add(Errc::bad_format, ErrorContext{.file = path(), .tensor = "__metadata__"},
                     "value of '" + k + "' is not a string");
        continue;
      }
      m.emplace(k, v.get<std::string>());
    }
    metadata_ = std::move(m);
  }

  void read_entry(const std::string& key, const nlohmann::json& value, std::size_t data_size,
                  const ReadLimits& limits, ProblemList& problems) {
    auto bad = [&](std::string detail, Errc code = Errc::bad_format) {
      problems.add(code, ErrorContext{.file = path(), .tensor = key}, std::move(detail));
    };
    if (!value.is_object()) return bad("entry is not an object");
    const auto dtype_it = value.find("dtype");
    const auto shape_it = value.find("shape");
    const auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || !dtype_it->is_string()) return bad("no string 'dtype'");
    if (shape_it == value.end() || !shape_it->is_array()) return bad("no array 'shape'");
    if (offsets_it == value.end() || !offsets_it->is_array()) return bad("no 'data_offsets'");

    TensorEntry t;
    t.name = key;
    const std::string dtype_name = dtype_it->get<std::string>();
    const std::optional<DType> dtype = parse_dtype(dtype_name);
    if (!dtype) return bad("unknown dtype '" + dtype_name + "'");
    t.dtype = *dtype;

    if (shape_it->size() > limits.max_rank) {
      return bad("shape has " + std::to_string(shape_it->size()) + " dimensions, above the limit " +
                     std::to_string(limits.max_rank),
                 Errc::limit_exceeded);
    }
    std::uint64_t bytes = static_cast<std::uint64_t>(size_of(t.dtype));
    bool overflow = false;
    for (const nlohmann::json& d : *shape_it) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<std::int64_t>() >= 0)) {
        return bad("shape holds something other than a non-negative integer");
      }
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(limits.max_dim)) {
        return bad("dimension " + std::to_string(dim) + " exceeds the limit " +
                       std::to_string(limits.max_dim),
                   Errc::limit_exceeded);
      }
      t.shape.dims.push_back(static_cast<Index>(dim));
      if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim) overflow = true;
      bytes = overflow ? 0 : bytes * dim;
    }
    if (offsets_it->size() != 2 || !(*offsets_it)[0].is_number_unsigned() ||
        !(*offsets_it)[1].is_number_unsigned()) {
      if (!(offsets_it->size() == 2 && (*offsets_it)[0].is_number_integer() &&
            (*offsets_it)[1].is_number_integer() && (*offsets_it)[0].get<std::int64_t>() >= 0 &&
            (*offsets_it)[1].get<std::int64_t>() >= 0)) {
        return bad("data_offsets must be two non-negative integers");
      }
    }
    t.begin = (*offsets_it)[0].get<std::uint64_t>();
    t.end = (*offsets_it)[1].get<std::uint64_t>();
    if (t.begin > t.end) {
      return bad("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                 "] end before they begin");
    }
    if (overflow) return bad("shape " + t.shape.str() + " overflows a 64-bit byte count");
    if (t.end - t.begin != bytes) {
      return bad("data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                 "] hold " + std::to_string(t.end - t.begin) + " bytes, but " +
                 std::string(to_string(t.dtype)) + " " + t.shape.str() + " needs " +
                 std::to_string(bytes));
    }
    if (t.end > data_size) {
      return bad("data_offsets end at " + std::to_string(t.end) + ", past the " +
                 std::to_string(data_size) + "-byte data section");
    }
    tensors_.push_back(std::move(t));
  }

  void check_overlaps(ProblemList& problems) const {
    std::vector<const TensorEntry*> by_offset;
    for (const TensorEntry& t : tensors_) {
      if (t.end > t.begin) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      if (by_offset[i]->begin < by_offset[i - 1]->end) {
        problems.add(Errc::bad_format, ErrorContext{.file = path(), .tensor = by_offset[i]->name},
                     "data overlaps tensor '" + by_offset[i - 1]->name + "'");
      }
    }
  }

  std::shared_ptr<const FileBytes> bytes_;
  std::vector<TensorEntry> tensors_;
  std::optional<std::map<std::string, std::string>> metadata_;
  std::uint64_t data_offset_ = 0;
};

/// A tensor to write: name, dtype, shape and its little-endian bytes.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::span<const std::byte> bytes;
};

/// The bytes of a safetensors file holding `tensors`: keys sorted, data in key order with no
/// gaps, the header padded with spaces to a multiple of 8 so the data section is 8-aligned.
/// The same input always gives the same bytes.
/// @throws lorakit::Error (Errc::shape_mismatch) when a tensor's byte count disagrees with its
///   dtype and shape, (Errc::bad_config) for a duplicate or reserved name.
[[nodiscard]] inline std::vector<std::byte> serialize_safetensors(
    std::vector<TensorToWrite> tensors,
    const std::optional<std::map<std::string, std::string>>& metadata = std::nullopt) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorToWrite& a, const TensorToWrite& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (metadata) header["__metadata__"] = *metadata;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorToWrite& t = tensors[i];
    if (t.name == "__metadata__" || (i > 0 && tensors[i - 1].name == t.name)) {
      throw Error(Errc::bad_config, ErrorContext{.tensor = t.name},
                  "tensor name is reserved or used twice");
    }
    std::uint64_t expected = static_cast<std::uint64_t>(size_of(t.dtype));
    for (Index d : t.shape.dims) expected *= static_cast<std::uint64_t>(d);
    if (expected != t.bytes.size()) {
      throw Error(Errc::shape_mismatch, ErrorContext{.tensor = t.name, .actual = t.shape},
                  std::to_string(t.bytes.size()) + " bytes given for " +
                      std::string(to_string(t.dtype)) + " " + t.shape.str() + " (" +
                      std::to_string(expected) + " bytes)");
    }
    header[t.name] = {{"dtype", std::string(to_string(t.dtype))},
                      {"shape", t.shape.dims},
                      {"data_offsets", {offset, offset + expected}}};
    offset += expected;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* data = out.data() + 8 + text.size();
  for (const TensorToWrite& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(data, t.bytes.data(), t.bytes.size());
    data += t.bytes.size();
  }
  return out;
}

/// Writes serialize_safetensors(tensors, metadata) to `path`.
/// @throws lorakit::Error (Errc::io) naming the file when it cannot be written.
inline void write_safetensors(
    const std::filesystem::path& path, std::vector<TensorToWrite> tensors,
    const std::optional<std::map<std::string, std::string>>& metadata = std::nullopt) {
  const std::vector<std::byte> bytes = serialize_safetensors(std::move(tensors), metadata);
  write_file(path, bytes);
}

}  // namespace lorakit::io
