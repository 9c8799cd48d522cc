// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// GGUF: a validating, zero-copy reader of llama.cpp's container over a mapped file, and a
// deterministic writer.
//
// Format (little-endian): "GGUF", u32 version (2 or 3), u64 tensor count, u64 key/value count;
// the key/value pairs (string key, u32 value type, value); one info per tensor (string name,
// u32 n_dims, n_dims x u64 ne, u32 ggml type, u64 offset); zero padding to `general.alignment`
// (default 32); the data section, every tensor at an aligned offset relative to its start.
// A string is a u64 byte count and the bytes; an array a u32 element type, a u64 count and the
// elements. ne[0] is the contiguous dimension: ggml's ne [a, b] is the row-major shape (b, a).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lorakit/core/shape.hpp"
#include "lorakit/error.hpp"
#include "lorakit/io/file_bytes.hpp"
#include "lorakit/io/safetensors.hpp"

namespace lorakit::io {

/// The type of a GGUF metadata value (the numbering of the file format).
enum class GgufType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};

[[nodiscard]] constexpr std::string_view to_string(GgufType t) noexcept {
  switch (t) {
    case GgufType::u8: return "UINT8";
    case GgufType::i8: return "INT8";
    case GgufType::u16: return "UINT16";
    case GgufType::i16: return "INT16";
    case GgufType::u32: return "UINT32";
    case GgufType::i32: return "INT32";
    case GgufType::f32: return "FLOAT32";
    case GgufType::boolean: return "BOOL";
    case GgufType::string: return "STRING";
    case GgufType::array: return "ARRAY";
    case GgufType::u64: return "UINT64";
    case GgufType::i64: return "INT64";
    case GgufType::f64: return "FLOAT64";
  }
  return "?";
}

/// Bytes of one scalar of type t; 0 for STRING and ARRAY (variable) and unknown types.
[[nodiscard]] constexpr std::size_t scalar_size(GgufType t) noexcept {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::boolean: return 1;
    case GgufType::u16:
    case GgufType::i16: return 2;
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::f32: return 4;
    case GgufType::u64:
    case GgufType::i64:
    case GgufType::f64: return 8;
    default: return 0;
  }
}

/// A ggml tensor type (the numbering of ggml.h). Ids of types ggml has removed are not listed.
enum class GgmlType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
  mxfp4 = 39,
};

/// How a ggml type lays out its values: blocks of `block` values along ne[0], `bytes` each.
struct GgmlTypeTraits {
  std::string_view name;
  std::uint32_t block = 0;  ///< 0: not a type lorakit knows
  std::uint32_t bytes = 0;
};

[[nodiscard]] constexpr GgmlTypeTraits traits(GgmlType t) noexcept {
  switch (t) {
    case GgmlType::f32: return {"F32", 1, 4};
    case GgmlType::f16: return {"F16", 1, 2};
    case GgmlType::q4_0: return {"Q4_0", 32, 18};
    case GgmlType::q4_1: return {"Q4_1", 32, 20};
    case GgmlType::q5_0: return {"Q5_0", 32, 22};
    case GgmlType::q5_1: return {"Q5_1", 32, 24};
    case GgmlType::q8_0: return {"Q8_0", 32, 34};
    case GgmlType::q8_1: return {"Q8_1", 32, 36};
    case GgmlType::q2_k: return {"Q2_K", 256, 84};
    case GgmlType::q3_k: return {"Q3_K", 256, 110};
    case GgmlType::q4_k: return {"Q4_K", 256, 144};
    case GgmlType::q5_k: return {"Q5_K", 256, 176};
    case GgmlType::q6_k: return {"Q6_K", 256, 210};
    case GgmlType::q8_k: return {"Q8_K", 256, 292};
    case GgmlType::iq2_xxs: return {"IQ2_XXS", 256, 66};
    case GgmlType::iq2_xs: return {"IQ2_XS", 256, 74};
    case GgmlType::iq3_xxs: return {"IQ3_XXS", 256, 98};
    case GgmlType::iq1_s: return {"IQ1_S", 256, 50};
    case GgmlType::iq4_nl: return {"IQ4_NL", 32, 18};
    case GgmlType::iq3_s: return {"IQ3_S", 256, 110};
    case GgmlType::iq2_s: return {"IQ2_S", 256, 82};
    case GgmlType::iq4_xs: return {"IQ4_XS", 256, 136};
    case GgmlType::i8: return {"I8", 1, 1};
    case GgmlType::i16: return {"I16", 1, 2};
    case GgmlType::i32: return {"I32", 1, 4};
    case GgmlType::i64: return {"I64", 1, 8};
    case GgmlType::f64: return {"F64", 1, 8};
    case GgmlType::iq1_m: return {"IQ1_M", 256, 56};
    case GgmlType::bf16: return {"BF16", 1, 2};
    case GgmlType::tq1_0: return {"TQ1_0", 256, 54};
    case GgmlType::tq2_0: return {"TQ2_0", 256, 66};
    case GgmlType::mxfp4: return {"MXFP4", 32, 17};
  }
  return {};
}

[[nodiscard]] constexpr std::string_view to_string(GgmlType t) noexcept {
  const std::string_view n = traits(t).name;
  return n.empty() ? std::string_view("?") : n;
}

/// A metadata value: a scalar, a string, or an array of values. Scalar arrays keep their
/// elements as little-endian bytes (a vocabulary's scores stay one buffer); arrays of strings
/// and of arrays hold one GgufValue per element.
struct GgufValue {
  GgufType type = GgufType::u32;
  GgufType element = GgufType::u32;  ///< the element type of an array
  std::uint64_t bits = 0;            ///< a scalar's little-endian bytes, zero-extended
  std::string text;                  ///< a string
  std::vector<std::byte> scalars;    ///< a scalar array's elements
  std::vector<GgufValue> items;      ///< an array of strings or arrays
  std::uint64_t count = 0;           ///< an array's element count

  // Makers, for the writer.
  [[nodiscard]] static GgufValue of_u32(std::uint32_t v) { return scalar(GgufType::u32, v); }
  [[nodiscard]] static GgufValue of_i32(std::int32_t v) {
    return scalar(GgufType::i32, static_cast<std::uint32_t>(v));
  }
  [[nodiscard]] static GgufValue of_u64(std::uint64_t v) { return scalar(GgufType::u64, v); }
  [[nodiscard]] static GgufValue of_f32(float v) {
    return scalar(GgufType::f32, std::bit_cast<std::uint32_t>(v));
  }
  [[nodiscard]] static GgufValue of_bool(bool v) { return scalar(GgufType::boolean, v ? 1 : 0); }
  [[nodiscard]] static GgufValue of_string(std::string s) {
    GgufValue v;
    v.type = GgufType::string;
    v.text = std::move(s);
    return v;
  }
  /// An array of scalars of type `element`, given as their little-endian bytes.
  /// @pre bytes.size() is a multiple of scalar_size(element) > 0
  [[nodiscard]] static GgufValue of_scalars(GgufType element, std::span<const std::byte> bytes) {
    GgufValue v;
    v.type = GgufType::array;
    v.element = element;
    v.scalars.assign(bytes.begin(), bytes.end());
    v.count = bytes.size() / scalar_size(element);
    return v;
  }
  template <class T>
  [[nodiscard]] static GgufValue of_array(GgufType element, std::span<const T> values) {
    return of_scalars(element, std::as_bytes(values));
  }
  /// An array of strings or of arrays (every item of type `element`).
  [[nodiscard]] static GgufValue of_items(GgufType element, std::vector<GgufValue> items) {
    GgufValue v;
    v.type = GgufType::array;
    v.element = element;
    v.count = items.size();
    v.items = std::move(items);
    return v;
  }

  [[nodiscard]] bool is_integer() const noexcept {
    return type == GgufType::u8 || type == GgufType::i8 || type == GgufType::u16 ||
           type == GgufType::i16 || type == GgufType::u32 || type == GgufType::i32 ||
           type == GgufType::u64 || type == GgufType::i64;
  }
  /// The value of an integer scalar as signed 64-bit (UINT64 above INT64_MAX: nullopt).
  [[nodiscard]] std::optional<std::int64_t> integer() const noexcept {
    switch (type) {
      case GgufType::u8:
      case GgufType::u16:
      case GgufType::u32: return static_cast<std::int64_t>(bits);
      case GgufType::i8: return static_cast<std::int8_t>(bits);
      case GgufType::i16: return static_cast<std::int16_t>(bits);
      case GgufType::i32: return static_cast<std::int32_t>(bits);
      case GgufType::u64:
        if (bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return std::nullopt;
        }
        return static_cast<std::int64_t>(bits);
      case GgufType::i64: return static_cast<std::int64_t>(bits);
      default: return std::nullopt;
    }
  }
  /// A FLOAT32 scalar's value. @pre type == GgufType::f32
  [[nodiscard]] float f32() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
  }

 private:
  [[nodiscard]] static GgufValue scalar(GgufType t, std::uint64_t bits) {
    GgufValue v;
    v.type = t;
    v.bits = bits;
    return v;
  }
};

/// One metadata pair.
struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

/// One tensor of a GGUF file: name, ggml type, ne (ggml order: ne[0] contiguous) and bytes.
struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::uint32_t n_dims = 0;
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};
  std::uint64_t offset = 0;  ///< relative to the data section
  std::span<const std::byte> bytes;

  [[nodiscard]] std::int64_t elements() const noexcept { return ne[0] * ne[1] * ne[2] * ne[3]; }
  /// The row-major shape: ne reversed, n_dims dimensions.
  [[nodiscard]] Shape shape() const {
    Shape s;
    for (std::uint32_t i = n_dims; i > 0; --i) s.dims.push_back(static_cast<Index>(ne[i - 1]));
    return s;
  }
  /// ne as "[a, b]" (ggml order).
  [[nodiscard]] std::string ne_str() const {
    std::string s = "ne [";
    for (std::uint32_t i = 0; i < n_dims; ++i) {
      if (i != 0) s += ", ";
      s += std::to_string(ne[i]);
    }
    return s + "]";
  }
};

/// Limits of a GGUF file beyond ReadLimits' (counts of tensors and dimensions come from there).
struct GgufLimits {
  std::uint64_t max_kv = 1'000'000;               ///< key/value pairs
  std::uint64_t max_string_bytes = 16'000'000;    ///< one string (a key, a value, a name)
  std::uint64_t max_array = 100'000'000;          ///< elements of one array
  std::uint64_t max_metadata_bytes = 1ull << 30;  ///< memory the decoded metadata may take
  int max_nesting = 16;                           ///< arrays of arrays
};

/// A validated GGUF file. Every tensor's bytes lie inside the data section at an aligned
/// offset, no two tensors overlap, and each byte count follows from its type and ne.
class GgufFile {
 public:
  static constexpr std::uint32_t kDefaultAlignment = 32;

  /// Opens (memory-maps) and validates a file.
  /// @throws lorakit::Error: Errc::io, Errc::bad_format (naming the key or tensor),
  ///   Errc::unsupported (a big-endian file, a version other than 2 and 3),
  ///   Errc::limit_exceeded (a count or length above the limits).
  static GgufFile open(const std::filesystem::path& path, const ReadLimits& limits = {},
                       const GgufLimits& gguf_limits = {}) {
    return parse(FileBytes::map(path), limits, gguf_limits);
  }

  /// Validates bytes already in memory (bytes->path() names them in errors).
  static GgufFile parse(std::shared_ptr<const FileBytes> bytes, const ReadLimits& limits = {},
                        const GgufLimits& gguf_limits = {}) {
    GgufFile f;
    f.bytes_ = std::move(bytes);
    f.read(limits, gguf_limits);
    return f;
  }

  [[nodiscard]] const std::string& path() const noexcept { return bytes_->path(); }
  [[nodiscard]] std::uint32_t version() const noexcept { return version_; }
  [[nodiscard]] std::uint32_t alignment() const noexcept { return alignment_; }
  /// Byte offset of the data section in the file.
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }
  /// Metadata in file order.
  [[nodiscard]] const std::vector<GgufKeyValue>& metadata() const noexcept { return kv_; }
  [[nodiscard]] const GgufValue* find(std::string_view key) const noexcept {
    for (const GgufKeyValue& kv : kv_) {
      if (kv.key == key) return &kv.value;
    }
    return nullptr;
  }
  /// Tensors in file order.
  [[nodiscard]] const std::vector<GgufTensor>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const GgufTensor* find_tensor(std::string_view name) const noexcept {
    for (const GgufTensor& t : tensors_) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
  /// Owner of the bytes every GgufTensor views.
  [[nodiscard]] const std::shared_ptr<const FileBytes>& storage() const noexcept { return bytes_; }

  /// A STRING value, or nullopt when the key is absent.
  /// @throws lorakit::Error (Errc::bad_format) naming the key when it holds another type.
  [[nodiscard]] std::optional<std::string> string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::string) wrong_type(key, *v, "STRING");
    return v->text;
  }
  /// A FLOAT32 value, or nullopt when the key is absent.
  /// @throws lorakit::Error (Errc::bad_format) naming the key when it holds another type.
  [[nodiscard]] std::optional<float> f32(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != GgufType::f32) wrong_type(key, *v, "FLOAT32");
    return v->f32();
  }
  /// An integer value of any integer type, or nullopt when the key is absent.
  /// @throws lorakit::Error (Errc::bad_format) naming the key when it holds another type.
  [[nodiscard]] std::optional<std::int64_t> integer(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    const std::optional<std::int64_t> i = v->integer();
    if (!i) wrong_type(key, *v, "an integer");
    return i;
  }

  [[noreturn]] void wrong_type(std::string_view key, const GgufValue& v,
                               std::string_view wanted) const {
    throw Error(Errc::bad_format, ErrorContext{.file = path(), .key = std::string(key)},
                "holds " + std::string(to_string(v.type)) + ", expected " + std::string(wanted));
  }

 private:
  GgufFile() = default;

  // A bounds-checked little-endian cursor over the file.
  struct Cursor {
    const GgufFile& file;
    std::span<const std::byte> bytes;
    std::uint64_t pos = 0;
    std::string where;  // the section or key being read, for errors

    [[nodiscard]] std::uint64_t left() const noexcept { return bytes.size() - pos; }
    [[noreturn]] void truncated(std::uint64_t need) const {
      throw Error(Errc::bad_format, file.where_context(where),
                  "needs " + std::to_string(need) + " bytes at offset " + std::to_string(pos) +
                      ", but the file ends at " + std::to_string(bytes.size()));
    }
    // An array of n elements of (at least) `size` bytes each that the file cannot hold; said
    // without multiplying, as n * size may exceed 64 bits (2^61 UINT64s).
    [[noreturn]] void truncated_array(std::uint64_t n, std::uint64_t size, bool at_least) const {
      throw Error(Errc::bad_format, file.where_context(where),
                  "needs " + std::to_string(n) + " elements of " + (at_least ? "at least " : "") +
                      std::to_string(size) + " bytes at offset " + std::to_string(pos) +
                      ", but the file ends at " + std::to_string(bytes.size()));
    }
    void need(std::uint64_t n) const {
      if (n > left()) truncated(n);
    }
    template <class T>
    T read() {
      need(sizeof(T));
      T v;
      std::memcpy(&v, bytes.data() + pos, sizeof(T));
      pos += sizeof(T);
      return v;
    }
    std::string_view read_string(const GgufLimits& limits) {
      const auto n = read<std::uint64_t>();
      if (n > limits.max_string_bytes) {
        throw Error(Errc::limit_exceeded, file.where_context(where),
                    "string of " + std::to_string(n) + " bytes at offset " +
                        std::to_string(pos - 8) + " exceeds the limit of " +
                        std::to_string(limits.max_string_bytes));
      }
      need(n);
      std::string_view s(reinterpret_cast<const char*>(bytes.data() + pos),
                         static_cast<std::size_t>(n));
      pos += n;
      return s;
    }
  };

  [[nodiscard]] ErrorContext where_context(const std::string& where) const {
    ErrorContext c{.file = path()};
    if (where.starts_with("tensor ")) {
      c.tensor = where.substr(7);
    } else if (where.starts_with("key ")) {
      c.key = where.substr(4);
    } else {
      c.hint = where.empty() ? std::string() : "in the " + where;
    }
    return c;
  }

  [[noreturn]] void fail(Errc code, std::string detail, ErrorContext c = {}) const {
    c.file = path();
    throw Error(code, std::move(c), std::move(detail));
  }

  void read_value(Cursor& c, GgufType type, GgufValue& v, int depth, const GgufLimits& limits,
                  std::uint64_t& budget) {
    v.type = type;
    const std::size_t size = scalar_size(type);
    if (size != 0) {
      c.need(size);
      std::memcpy(&v.bits, c.bytes.data() + c.pos, size);
      c.pos += size;
      return;
    }
    if (type == GgufType::string) {
      v.text = std::string(c.read_string(limits));
      charge(c, budget, v.text.size());
      return;
    }
    if (type != GgufType::array) {
      fail(Errc::bad_format,
           "value type " + std::to_string(static_cast<std::uint32_t>(type)) + " at offset " +
               std::to_string(c.pos - 4) + " is not a GGUF type (0..12)",
           where_context(c.where));
    }
    if (depth >= limits.max_nesting) {
      throw Error(Errc::limit_exceeded, where_context(c.where),
                  "arrays nested deeper than " + std::to_string(limits.max_nesting) + " levels");
    }
    const auto element = static_cast<GgufType>(c.read<std::uint32_t>());
    const std::uint64_t n = c.read<std::uint64_t>();
    if (n > limits.max_array) {
      throw Error(Errc::limit_exceeded, where_context(c.where),
                  "array of " + std::to_string(n) + " elements exceeds the limit of " +
                      std::to_string(limits.max_array));
    }
    v.element = element;
    v.count = n;
    const std::size_t esize = scalar_size(element);
    if (esize != 0) {
      if (n > c.left() / esize) c.truncated_array(n, esize, false);
      charge(c, budget, n * esize);
      const auto* first = c.bytes.data() + c.pos;
      v.scalars.assign(first, first + n * esize);
      c.pos += n * esize;
      return;
    }
    if (element != GgufType::string && element != GgufType::array) {
      fail(Errc::bad_format,
           "array element type " + std::to_string(static_cast<std::uint32_t>(element)) +
               " is not a GGUF type (0..12)",
           where_context(c.where));
    }
    // Each element takes at least 8 (string) or 12 (array) bytes of the file.
    const std::uint64_t least = element == GgufType::string ? 8 : 12;
    if (n > c.left() / least) c.truncated_array(n, least, true);
    charge(c, budget, n * sizeof(GgufValue));
    v.items.resize(static_cast<std::size_t>(n));
    for (GgufValue& item : v.items) read_value(c, element, item, depth + 1, limits, budget);
  }

  void charge(const Cursor& c, std::uint64_t& budget, std::uint64_t bytes) const {
    if (bytes > budget) {
      throw Error(Errc::limit_exceeded, where_context(c.where),
                  "metadata would take more memory than GgufLimits::max_metadata_bytes allows");
    }
    budget -= bytes;
  }

  void read(const ReadLimits& limits, const GgufLimits& gguf_limits) {
    const std::span<const std::byte> file = bytes_->bytes();
    Cursor c{*this, file, 0, "header"};
    if (file.size() < 4 || std::memcmp(file.data(), "GGUF", 4) != 0) {
      fail(Errc::bad_format, "does not start with the GGUF magic \"GGUF\"");
    }
    c.pos = 4;
    version_ = c.read<std::uint32_t>();
    if (version_ != 2 && version_ != 3) {
      const std::uint32_t swapped = (version_ >> 24) | ((version_ >> 8) & 0xff00u) |
                                    ((version_ << 8) & 0xff0000u) | (version_ << 24);
      if (swapped == 2 || swapped == 3) {
        fail(Errc::unsupported, "a big-endian GGUF file (version " + std::to_string(swapped) +
                                    " stored big-endian); lorakit reads little-endian GGUF");
      }
      fail(Errc::unsupported, "GGUF version " + std::to_string(version_) +
                                  " is not supported (lorakit reads versions 2 and 3)");
    }
    const auto n_tensors = c.read<std::uint64_t>();
    const auto n_kv = c.read<std::uint64_t>();
    if (n_tensors > limits.max_tensors) {
      fail(Errc::limit_exceeded, "header lists " + std::to_string(n_tensors) +
                                     " tensors, above the limit of " +
                                     std::to_string(limits.max_tensors));
    }
    if (n_kv > gguf_limits.max_kv) {
      fail(Errc::limit_exceeded, "header lists " + std::to_string(n_kv) +
                                     " key/value pairs, above the limit of " +
                                     std::to_string(gguf_limits.max_kv));
    }
    // A pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8.
    if (n_kv > c.left() / 13 || n_tensors > c.left() / 32) {
      fail(Errc::bad_format, "header lists " + std::to_string(n_kv) + " key/value pairs and " +
                                 std::to_string(n_tensors) + " tensors, more than the " +
                                 std::to_string(file.size()) + "-byte file can hold");
    }

    std::uint64_t budget = gguf_limits.max_metadata_bytes;
    std::unordered_set<std::string_view> keys;
    kv_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      c.where = "key/value pair " + std::to_string(i);
      const std::string_view key = c.read_string(gguf_limits);
      c.where = "key " + std::string(key);
      const auto type = static_cast<GgufType>(c.read<std::uint32_t>());
      GgufKeyValue kv;
      kv.key = std::string(key);
      read_value(c, type, kv.value, 0, gguf_limits, budget);
      if (!keys.insert(key).second) fail(Errc::bad_format, "key appears twice", {.key = kv.key});
      kv_.push_back(std::move(kv));
    }

    alignment_ = kDefaultAlignment;
    if (const GgufValue* a = find("general.alignment")) {
      if (a->type != GgufType::u32) wrong_type("general.alignment", *a, "UINT32");
      const auto value = static_cast<std::uint32_t>(a->bits);
      if (value == 0 || !std::has_single_bit(value)) {
        fail(Errc::bad_format, std::to_string(value) + " is not a power of two",
             {.key = "general.alignment"});
      }
      alignment_ = value;
    }

    std::unordered_set<std::string> names;
    tensors_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      c.where = "info of tensor " + std::to_string(i);
      GgufTensor t;
      t.name = std::string(c.read_string(gguf_limits));
      c.where = "tensor " + t.name;
      t.n_dims = c.read<std::uint32_t>();
      if (t.n_dims < 1 || t.n_dims > 4) {
        fail(Errc::bad_format,
             "has " + std::to_string(t.n_dims) + " dimensions (GGUF allows 1 to 4)",
             {.tensor = t.name});
      }
      if (t.n_dims > limits.max_rank) {
        fail(Errc::limit_exceeded,
             "has " + std::to_string(t.n_dims) + " dimensions, above the limit of " +
                 std::to_string(limits.max_rank) + " (ReadLimits::max_rank)",
             {.tensor = t.name});
      }
      for (std::uint32_t d = 0; d < t.n_dims; ++d) {
        const auto ne = c.read<std::uint64_t>();
        if (ne > static_cast<std::uint64_t>(limits.max_dim)) {
          fail(ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                   ? Errc::bad_format
                   : Errc::limit_exceeded,
               "ne[" + std::to_string(d) + "] = " + std::to_string(ne) + " exceeds the limit of " +
                   std::to_string(limits.max_dim),
               {.tensor = t.name});
        }
        t.ne[d] = static_cast<std::int64_t>(ne);
      }
      const auto type_id = c.read<std::uint32_t>();
      t.type = static_cast<GgmlType>(type_id);
      const GgmlTypeTraits tt = traits(t.type);
      if (tt.block == 0) {
        fail(Errc::bad_format, "ggml type " + std::to_string(type_id) + " is not a known type",
             {.tensor = t.name});
      }
      t.offset = c.read<std::uint64_t>();
      // Element count, overflow-checked against int64.
      std::int64_t count = 1;
      for (std::int64_t ne : t.ne) {
        if (ne != 0 && count > std::numeric_limits<std::int64_t>::max() / ne) {
          fail(Errc::bad_format, t.ne_str() + ": the element count overflows 64 bits",
               {.tensor = t.name});
        }
        count *= ne;
      }
      if (t.ne[0] % tt.block != 0) {
        fail(Errc::bad_format,
             t.ne_str() + ": ne[0] is not a multiple of " + std::string(tt.name) + "'s block of " +
                 std::to_string(tt.block),
             {.tensor = t.name});
      }
      if (!names.insert(t.name).second) {
        fail(Errc::bad_format, "tensor name appears twice", {.tensor = t.name});
      }
      tensors_.push_back(std::move(t));
    }

    c.where = "data section";
    const std::uint64_t end_of_infos = c.pos;
    const std::uint64_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
    if (pad > file.size() - end_of_infos) {
      fail(Errc::bad_format,
           "the data section starts at byte " + std::to_string(end_of_infos + pad) +
               " (alignment " + std::to_string(alignment_) + "), past the end of the " +
               std::to_string(file.size()) + "-byte file",
           {.key = find("general.alignment") != nullptr ? "general.alignment" : ""});
    }
    data_offset_ = end_of_infos + pad;
    const std::span<const std::byte> data = file.subspan(static_cast<std::size_t>(data_offset_));

    ProblemList problems;
    for (GgufTensor& t : tensors_) {
      const GgmlTypeTraits tt = traits(t.type);
      const auto rows = static_cast<std::uint64_t>(t.elements()) / tt.block;
      // rows x bytes may exceed 64 bits (2^62 F32 values): compare before multiplying.
      const bool fits = rows <= data.size() / tt.bytes;
      const std::uint64_t size = fits ? rows * tt.bytes : 0;
      auto bad = [&](std::string detail) {
        problems.add(Errc::bad_format, ErrorContext{.file = path(), .tensor = t.name},
                     std::move(detail));
      };
      if (t.offset % alignment_ != 0) {
        bad("offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
            std::to_string(alignment_));
      } else if (!fits || t.offset > data.size() || size > data.size() - t.offset) {
        bad(std::string(tt.name) + " " + t.ne_str() + " needs " +
            (fits ? std::to_string(size)
                  : std::to_string(rows) + " x " + std::to_string(tt.bytes)) +
            " bytes at offset " + std::to_string(t.offset) + ", past the end of the " +
            std::to_string(data.size()) + "-byte data section");
      } else {
        t.bytes = data.subspan(static_cast<std::size_t>(t.offset), static_cast<std::size_t>(size));
      }
    }
    problems.throw_if_any();
    std::vector<const GgufTensor*> by_offset;
    for (const GgufTensor& t : tensors_) {
      if (!t.bytes.empty()) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensor& prev = *by_offset[i - 1];
      if (by_offset[i]->offset < prev.offset + prev.bytes.size()) {
        problems.add(Errc::bad_format, ErrorContext{.file = path(), .tensor = by_offset[i]->name},
                     "data overlaps tensor '" + prev.name + "'");
      }
    }
    problems.throw_if_any();
  }

  std::shared_ptr<const FileBytes> bytes_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> kv_;
  std::vector<GgufTensor> tensors_;
};

/// A tensor to write: name, ggml type, ne (ggml order) and its bytes in that type.
struct GgufTensorToWrite {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::vector<std::int64_t> ne;
  std::span<const std::byte> bytes;
};

namespace detail_gguf {

struct Writer {
  std::vector<std::byte> out;

  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), p, p + s.size());
  }
  void put_value(const GgufValue& v) {
    const std::size_t size = scalar_size(v.type);
    if (size != 0) {
      const auto* p = reinterpret_cast<const std::byte*>(&v.bits);
      out.insert(out.end(), p, p + size);
    } else if (v.type == GgufType::string) {
      put_string(v.text);
    } else {
      put<std::uint32_t>(static_cast<std::uint32_t>(v.element));
      put<std::uint64_t>(v.count);
      if (scalar_size(v.element) != 0) {
        out.insert(out.end(), v.scalars.begin(), v.scalars.end());
      } else {
        for (const GgufValue& item : v.items) put_value(item);
      }
    }
  }
  void pad(std::uint32_t alignment) {
    out.resize(out.size() + (alignment - out.size() % alignment) % alignment, std::byte{0});
  }
};

}  // namespace detail_gguf

/// The bytes of a GGUF v3 file holding `metadata` and `tensors`, in the order given: the
/// header, the pairs, the tensor infos, zero padding to the alignment (`general.alignment` when
/// the metadata holds it, else 32), then each tensor's bytes padded with zeros to the
/// alignment. The layout llama.cpp's gguf-py writer produces; the same input gives the same
/// bytes.
/// @throws lorakit::Error (Errc::bad_config) for a duplicate key or tensor name, or a tensor
///   whose bytes disagree with its type and ne.
[[nodiscard]] inline std::vector<std::byte> serialize_gguf(
    const std::vector<GgufKeyValue>& metadata, const std::vector<GgufTensorToWrite>& tensors) {
  std::uint32_t alignment = GgufFile::kDefaultAlignment;
  std::set<std::string_view> keys;
  for (const GgufKeyValue& kv : metadata) {
    if (!keys.insert(kv.key).second) {
      throw Error(Errc::bad_config, ErrorContext{.key = kv.key}, "key given twice");
    }
    if (kv.key == "general.alignment") {
      if (kv.value.type != GgufType::u32 || kv.value.bits == 0 ||
          !std::has_single_bit(kv.value.bits)) {
        throw Error(Errc::bad_config, ErrorContext{.key = kv.key}, "must be a UINT32 power of two");
      }
      alignment = static_cast<std::uint32_t>(kv.value.bits);
    }
  }
  std::set<std::string_view> names;
  for (const GgufTensorToWrite& t : tensors) {
    if (!names.insert(t.name).second) {
      throw Error(Errc::bad_config, ErrorContext{.tensor = t.name}, "tensor name given twice");
    }
    const GgmlTypeTraits tt = traits(t.type);
    std::uint64_t count = 1;
    for (std::int64_t n : t.ne) count *= static_cast<std::uint64_t>(n);
    if (t.ne.empty() || t.ne.size() > 4 || tt.block == 0 || t.ne[0] % tt.block != 0 ||
        count / tt.block * tt.bytes != t.bytes.size()) {
      throw Error(Errc::bad_config, ErrorContext{.tensor = t.name},
                  std::to_string(t.bytes.size()) + " bytes do not hold " +
                      std::string(to_string(t.type)) + " with " + std::to_string(t.ne.size()) +
                      " dimensions of " + std::to_string(count) + " elements");
    }
  }
  detail_gguf::Writer w;
  w.out.insert(w.out.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
  w.put<std::uint32_t>(3);
  w.put<std::uint64_t>(tensors.size());
  w.put<std::uint64_t>(metadata.size());
  for (const GgufKeyValue& kv : metadata) {
    w.put_string(kv.key);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(kv.value.type));
    w.put_value(kv.value);
  }
  std::uint64_t offset = 0;
  for (const GgufTensorToWrite& t : tensors) {
    w.put_string(t.name);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(t.ne.size()));
    for (std::int64_t n : t.ne) w.put<std::uint64_t>(static_cast<std::uint64_t>(n));
    w.put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
    w.put<std::uint64_t>(offset);
    offset += t.bytes.size() + (alignment - t.bytes.size() % alignment) % alignment;
  }
  w.pad(alignment);
  w.out.reserve(w.out.size() + offset);
  for (const GgufTensorToWrite& t : tensors) {
    w.out.insert(w.out.end(), t.bytes.begin(), t.bytes.end());
    w.pad(alignment);
  }
  return std::move(w.out);
}

/// Writes serialize_gguf(metadata, tensors) to `path`.
/// @throws lorakit::Error (Errc::io) naming the file when it cannot be written.
inline void write_gguf(const std::filesystem::path& path, const std::vector<GgufKeyValue>& metadata,
                       const std::vector<GgufTensorToWrite>& tensors) {
  const std::vector<std::byte> bytes = serialize_gguf(metadata, tensors);
  write_file(path, bytes);
}

}  // namespace lorakit::io
