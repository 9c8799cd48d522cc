// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Reading adapter_config.json files: parse, then typed field access with errors naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/error.hpp"

namespace lorakit::detail {

/// A parsed JSON config file (keys keep their file order) with typed accessors that throw
/// Errc::bad_config naming the file and the field.
class JsonConfig {
 public:
  /// @throws lorakit::Error Errc::io (unreadable), Errc::bad_config (not a JSON object)
  static JsonConfig read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(Errc::io, ErrorContext{.file = path.string()}, "cannot open");
    std::stringstream text;
    text << in.rdbuf();
    return parse(text.str(), path.string());
  }

  /// Parses config text held in memory; `file` names it in errors.
  /// @throws lorakit::Error Errc::bad_config (not a JSON object)
  static JsonConfig parse(std::string_view text, std::string file) {
    JsonConfig c;
    c.file_ = std::move(file);
    try {
      c.json_ = nlohmann::ordered_json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
      throw Error(Errc::bad_config, ErrorContext{.file = c.file_},
                  std::string("not valid JSON: ") + e.what());
    }
    if (!c.json_.is_object()) {
      throw Error(Errc::bad_config, ErrorContext{.file = c.file_}, "not a JSON object");
    }
    return c;
  }

  [[nodiscard]] const std::string& file() const noexcept { return file_; }
  [[nodiscard]] const nlohmann::ordered_json& json() const noexcept { return json_; }

  /// The field, or nullptr when it is absent or JSON null.
  [[nodiscard]] const nlohmann::ordered_json* find(const nlohmann::ordered_json& obj,
                                                   const std::string& key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  [[nodiscard]] const nlohmann::ordered_json* find(const std::string& key) const {
    return find(json_, key);
  }

  [[noreturn]] void fail(const std::string& field, const std::string& detail) const {
    throw Error(Errc::bad_config, ErrorContext{.file = file_}, "'" + field + "' " + detail);
  }

  [[nodiscard]] std::optional<std::string> string(const nlohmann::ordered_json& obj,
                                                  const std::string& key) const {
    const auto* v = find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
  [[nodiscard]] std::optional<bool> boolean(const nlohmann::ordered_json& obj,
                                            const std::string& key) const {
    const auto* v = find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) fail(key, "must be true or false");
    return v->get<bool>();
  }
  [[nodiscard]] std::optional<double> number(const nlohmann::ordered_json& obj,
                                             const std::string& key) const {
    const auto* v = find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "must be a number");
    return v->get<double>();
  }
  [[nodiscard]] std::optional<long long> integer(const nlohmann::ordered_json& obj,
                                                 const std::string& key) const {
    const auto* v = find(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "must be an integer");
    return v->get<long long>();
  }
  /// A list of strings; a single string is returned as one entry when `allow_single`.
  [[nodiscard]] std::vector<std::string> strings(const nlohmann::ordered_json& obj,
                                                 const std::string& key) const {
    std::vector<std::string> out;
    const auto* v = find(obj, key);
    if (v == nullptr) return out;
    if (v->is_string()) return {v->get<std::string>()};
    if (!v->is_array()) fail(key, "must be a string or a list of strings");
    for (const auto& e : *v) {
      if (!e.is_string()) fail(key, "must be a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

 private:
  std::string file_;
  nlohmann::ordered_json json_;
};

/// Parses config text of at most max_bytes bytes.
/// @throws lorakit::Error Errc::limit_exceeded (too large), Errc::bad_config (not a JSON object)
inline JsonConfig parse_config(std::string_view text, std::string file, std::uint64_t max_bytes) {
  if (text.size() > max_bytes) {
    throw Error(Errc::limit_exceeded, ErrorContext{.file = file},
                "config of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                    std::to_string(max_bytes) + " bytes");
  }
  return JsonConfig::parse(text, std::move(file));
}

/// Reads and parses a config file of at most max_bytes bytes (checked before reading it).
/// @throws lorakit::Error Errc::io, Errc::limit_exceeded, Errc::bad_config
inline JsonConfig read_config(const std::filesystem::path& path, std::uint64_t max_bytes) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    throw Error(Errc::io, ErrorContext{.file = path.string()}, "not a regular file");
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) {
    throw Error(Errc::limit_exceeded, ErrorContext{.file = path.string()},
                "config of " + std::to_string(size) + " bytes exceeds the limit of " +
                    std::to_string(max_bytes) + " bytes");
  }
  return JsonConfig::read(path);
}

}  // namespace lorakit::detail
