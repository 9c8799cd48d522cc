// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Malformed GGUF files the reader and the adapter loader must refuse, with the error each must
// give, all made from one small valid adapter. Shared by the table-driven test and the fuzzers'
// seed corpus (no test framework needed).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/io/dtype.hpp"
#include "lorakit/io/gguf.hpp"

namespace lorakit::test {

// ---- little-endian bytes ----------------------------------------------------------------------

inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
}
inline void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
}
inline void put_text(std::vector<std::byte>& out, std::string_view s) {
  for (char ch : s) out.push_back(static_cast<std::byte>(ch));
}
/// A GGUF string: u64 byte count, then the bytes.
inline void put_gguf_string(std::vector<std::byte>& out, std::string_view s) {
  put_u64(out, s.size());
  put_text(out, s);
}
inline void set_u32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b.at(at + i) = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}
inline void set_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b.at(at + i) = static_cast<std::byte>((v >> (8 * i)) & 0xffu);
}

/// The encoding of a value (without its type id), written independently of serialize_gguf so
/// that the two can be compared.
inline void put_gguf_value(std::vector<std::byte>& out, const io::GgufValue& v) {
  const std::size_t size = io::scalar_size(v.type);
  if (size != 0) {
    for (std::size_t i = 0; i < size; ++i) {
      out.push_back(static_cast<std::byte>((v.bits >> (8 * i)) & 0xffu));
    }
  } else if (v.type == io::GgufType::string) {
    put_gguf_string(out, v.text);
  } else {
    put_u32(out, static_cast<std::uint32_t>(v.element));
    put_u64(out, v.count);
    if (io::scalar_size(v.element) != 0) {
      out.insert(out.end(), v.scalars.begin(), v.scalars.end());
    } else {
      for (const io::GgufValue& item : v.items) put_gguf_value(out, item);
    }
  }
}

// ---- a GGUF file as raw parts, any of which may be wrong -------------------------------------

/// One key/value pair: its key, any u32 as the type id, and the value's bytes.
struct RawKv {
  std::string key;
  std::uint32_t type = 0;
  std::vector<std::byte> value;
};

/// One tensor info, with any values.
struct RawTensorInfo {
  std::string name;
  std::vector<std::uint64_t> ne;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;
};

/// A GGUF file as its parts: the header (counts default to the parts' sizes), the pairs, the
/// tensor infos, zero padding to `alignment`, then `data`.
struct RawGguf {
  std::uint32_t version = 3;
  std::optional<std::uint64_t> n_tensors;
  std::optional<std::uint64_t> n_kv;
  std::vector<RawKv> kv;
  std::vector<RawTensorInfo> tensors;
  std::uint64_t alignment = 32;
  std::vector<std::byte> data;

  RawKv& pair(std::string_view key) {
    for (RawKv& p : kv) {
      if (p.key == key) return p;
    }
    throw std::logic_error("RawGguf: no key " + std::string(key));
  }
  RawTensorInfo& tensor(std::string_view name) {
    for (RawTensorInfo& t : tensors) {
      if (t.name == name) return t;
    }
    throw std::logic_error("RawGguf: no tensor " + std::string(name));
  }
};

/// Where each part of a built file lies (byte offsets in the file).
struct GgufLayout {
  struct Kv {
    std::string key;
    std::size_t begin = 0, type_at = 0, value_at = 0, end = 0;
  };
  struct Info {
    std::string name;
    std::size_t begin = 0, n_dims_at = 0, ne_at = 0, type_at = 0, offset_at = 0, end = 0;
  };
  static constexpr std::size_t after_magic = 4, after_version = 8, after_counts = 24;
  std::vector<Kv> kv;
  std::vector<Info> tensors;
  std::size_t infos_end = 0;   ///< the end of the last tensor info: padding starts here
  std::size_t data_begin = 0;  ///< the data section
  std::size_t end = 0;         ///< the file size

  [[nodiscard]] const Kv& pair(std::string_view key) const {
    for (const Kv& p : kv) {
      if (p.key == key) return p;
    }
    throw std::logic_error("GgufLayout: no key " + std::string(key));
  }
  [[nodiscard]] const Info& tensor(std::string_view name) const {
    for (const Info& t : tensors) {
      if (t.name == name) return t;
    }
    throw std::logic_error("GgufLayout: no tensor " + std::string(name));
  }
};

/// The bytes of `raw`, and where each part went.
inline std::vector<std::byte> build_gguf(const RawGguf& raw, GgufLayout* layout = nullptr) {
  std::vector<std::byte> out;
  GgufLayout l;
  put_text(out, "GGUF");
  put_u32(out, raw.version);
  put_u64(out, raw.n_tensors.value_or(raw.tensors.size()));
  put_u64(out, raw.n_kv.value_or(raw.kv.size()));
  for (const RawKv& p : raw.kv) {
    GgufLayout::Kv k{p.key, out.size()};
    put_gguf_string(out, p.key);
    k.type_at = out.size();
    put_u32(out, p.type);
    k.value_at = out.size();
    out.insert(out.end(), p.value.begin(), p.value.end());
    k.end = out.size();
    l.kv.push_back(std::move(k));
  }
  for (const RawTensorInfo& t : raw.tensors) {
    GgufLayout::Info i{t.name, out.size()};
    put_gguf_string(out, t.name);
    i.n_dims_at = out.size();
    put_u32(out, static_cast<std::uint32_t>(t.ne.size()));
    i.ne_at = out.size();
    for (std::uint64_t n : t.ne) put_u64(out, n);
    i.type_at = out.size();
    put_u32(out, t.type);
    i.offset_at = out.size();
    put_u64(out, t.offset);
    i.end = out.size();
    l.tensors.push_back(std::move(i));
  }
  l.infos_end = out.size();
  if (raw.alignment != 0) {
    out.resize(out.size() + (raw.alignment - out.size() % raw.alignment) % raw.alignment);
  }
  l.data_begin = out.size();
  out.insert(out.end(), raw.data.begin(), raw.data.end());
  l.end = out.size();
  if (layout != nullptr) *layout = std::move(l);
  return out;
}

// ---- the valid adapter every case starts from -------------------------------------------------

/// Metadata and tensors of a GGUF file, owning the tensors' bytes. Movable, not copyable (the
/// tensors view the buffers).
class GgufSource {
 public:
  GgufSource() = default;
  GgufSource(GgufSource&&) = default;
  GgufSource& operator=(GgufSource&&) = default;
  GgufSource(const GgufSource&) = delete;
  GgufSource& operator=(const GgufSource&) = delete;

  std::vector<io::GgufKeyValue> metadata;
  std::vector<io::GgufTensorToWrite> tensors;

  /// Sets `key` (replacing its value in place, or appending it).
  void set(const std::string& key, io::GgufValue v) {
    for (io::GgufKeyValue& kv : metadata) {
      if (kv.key == key) {
        kv.value = std::move(v);
        return;
      }
    }
    metadata.push_back({key, std::move(v)});
  }
  void erase(std::string_view key) {
    std::erase_if(metadata, [&](const io::GgufKeyValue& kv) { return kv.key == key; });
  }
  /// Sets tensor `name` (in place, or appended) to `bytes` of `type` with `ne`.
  void set_tensor(const std::string& name, io::GgmlType type, std::vector<std::int64_t> ne,
                  std::vector<std::byte> bytes) {
    buffers_.push_back(std::make_unique<std::vector<std::byte>>(std::move(bytes)));
    io::GgufTensorToWrite t{name, type, std::move(ne), *buffers_.back()};
    for (io::GgufTensorToWrite& old : tensors) {
      if (old.name == name) {
        old = std::move(t);
        return;
      }
    }
    tensors.push_back(std::move(t));
  }
  /// Sets tensor `name` to `values` stored as F32, F16 or BF16.
  void set_values(const std::string& name, io::GgmlType type, std::vector<std::int64_t> ne,
                  const std::vector<float>& values) {
    const DType dtype = type == io::GgmlType::f16    ? DType::f16
                        : type == io::GgmlType::bf16 ? DType::bf16
                                                     : DType::f32;
    std::vector<std::byte> bytes(values.size() * static_cast<std::size_t>(size_of(dtype)));
    io::encode_floats(dtype, values.data(), values.size(), bytes.data());
    set_tensor(name, type, std::move(ne), std::move(bytes));
  }
  void erase_tensor(std::string_view name) {
    std::erase_if(tensors, [&](const io::GgufTensorToWrite& t) { return t.name == name; });
  }

  /// The file, by lorakit's writer.
  [[nodiscard]] std::vector<std::byte> serialize() const {
    return io::serialize_gguf(metadata, tensors);
  }

  /// The same file as raw parts (build_gguf(raw()) == serialize()), to break in any way.
  [[nodiscard]] RawGguf raw() const {
    RawGguf r;
    for (const io::GgufKeyValue& kv : metadata) {
      RawKv p{kv.key, static_cast<std::uint32_t>(kv.value.type), {}};
      put_gguf_value(p.value, kv.value);
      if (kv.key == "general.alignment") r.alignment = kv.value.bits;
      r.kv.push_back(std::move(p));
    }
    for (const io::GgufTensorToWrite& t : tensors) {
      RawTensorInfo info{t.name, {}, static_cast<std::uint32_t>(t.type), r.data.size()};
      for (std::int64_t n : t.ne) info.ne.push_back(static_cast<std::uint64_t>(n));
      r.tensors.push_back(std::move(info));
      r.data.insert(r.data.end(), t.bytes.begin(), t.bytes.end());
      r.data.resize(r.data.size() + (r.alignment - r.data.size() % r.alignment) % r.alignment);
    }
    return r;
  }

 private:
  std::vector<std::unique_ptr<std::vector<std::byte>>> buffers_;
};

/// n deterministic values, exact in F16 and BF16.
inline std::vector<float> gguf_values(std::size_t n, int seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(static_cast<int>((i * 5 + static_cast<std::size_t>(seed)) % 9) - 4) *
           0.125f;
  }
  return v;
}

/// The tensors of the valid adapter: three LoRA pairs, F32 and F16, each tensor's bytes a
/// multiple of 32, so the data section has no padding and the last tensor ends the file.
inline constexpr std::string_view kGgufPairs[] = {"blk.0.attn_v.weight", "blk.0.ffn_up.weight",
                                                  "blk.1.attn_v.weight"};

/// The valid adapter the malformed cases are made from: a llama LoRA (rank 2; attn_v 8 -> 8
/// F32, ffn_up 8 -> 16 F16, blk.1 attn_v F32) with general.alignment, strings, a bool, 64-bit
/// scalars, a UINT8, a UINT64, a STRING and a nested array among its pairs. The name is chosen
/// so that the tensor infos do not end on an alignment boundary (there is padding to cut).
inline GgufSource gguf_adapter_source() {
  GgufSource s;
  using io::GgufType;
  using io::GgufValue;
  const std::uint8_t u8s[] = {1, 2, 3, 4, 5};
  const std::uint64_t u64s[] = {1, 2, 3};
  s.set("general.architecture", GgufValue::of_string("llama"));
  s.set("general.type", GgufValue::of_string("adapter"));
  s.set("general.name", GgufValue::of_string("hostile"));
  s.set("adapter.type", GgufValue::of_string("lora"));
  s.set("adapter.lora.alpha", GgufValue::of_f32(4.0f));
  s.set("general.alignment", GgufValue::of_u32(32));
  s.set("lorakit.test.flag", GgufValue::of_bool(true));
  s.set("lorakit.test.i32", GgufValue::of_i32(-7));
  s.set("lorakit.test.u64", GgufValue::of_u64(std::uint64_t{1} << 40));
  s.set("lorakit.test.u8s", GgufValue::of_array(GgufType::u8, std::span<const std::uint8_t>(u8s)));
  s.set("lorakit.test.u64s",
        GgufValue::of_array(GgufType::u64, std::span<const std::uint64_t>(u64s)));
  s.set("lorakit.test.names", GgufValue::of_items(GgufType::string, {GgufValue::of_string("a"),
                                                                     GgufValue::of_string("bc"),
                                                                     GgufValue::of_string("def")}));
  const std::uint32_t row0[] = {1, 2};
  const std::uint32_t row1[] = {3};
  s.set("lorakit.test.nested",
        GgufValue::of_items(
            GgufType::array,
            {GgufValue::of_array(GgufType::u32, std::span<const std::uint32_t>(row0)),
             GgufValue::of_array(GgufType::u32, std::span<const std::uint32_t>(row1))}));
  int seed = 0;
  for (std::string_view pair : kGgufPairs) {
    const bool up = pair.find("ffn_up") != std::string_view::npos;
    const io::GgmlType type = up ? io::GgmlType::f16 : io::GgmlType::f32;
    const std::int64_t out = up ? 16 : 8;
    s.set_values(std::string(pair) + ".lora_a", type, {8, 2}, gguf_values(16, seed++));
    s.set_values(std::string(pair) + ".lora_b", type, {2, out},
                 gguf_values(static_cast<std::size_t>(2 * out), seed++));
  }
  // Make sure the infos end off an alignment boundary, so that padding exists to be cut.
  GgufLayout layout;
  (void)build_gguf(s.raw(), &layout);
  if (layout.infos_end % 32 == 0) s.set("general.name", GgufValue::of_string("hostile-"));
  return s;
}

// ---- the cases --------------------------------------------------------------------------------

/// A file that must be refused, and how.
struct MalformedGgufCase {
  std::string what;
  std::vector<std::byte> bytes;
  Errc code;
  std::string fragment;  ///< a piece of the message the error must contain
  std::string key;       ///< the key the error must name (ErrorContext::key); empty: none
  std::string tensor;    ///< the tensor the error must name (ErrorContext::tensor); empty: none
  io::ReadLimits limits{};
  io::GgufLimits gguf_limits{};
};

/// MalformedGgufCase::tensor when the error must name some tensor, no matter which.
inline const std::string kAnyTensor = "*";

/// The name the cases' FileBytes carry, which every message must contain.
inline constexpr const char* kHostileGgufName = "hostile.gguf";

namespace detail_malformed {

// Truncation at every section boundary of the valid file and inside every part of it.
inline void add_truncations(std::vector<MalformedGgufCase>& cases, const std::vector<std::byte>& f,
                            const GgufLayout& l, const std::vector<io::GgufTensorToWrite>& ts) {
  // The reader first checks that the bytes after the header can hold the counts it gives (13
  // bytes a pair, 32 a tensor info at least); a file cut before that point fails there.
  const std::size_t least =
      GgufLayout::after_counts + std::max<std::size_t>(13 * l.kv.size(), 32 * l.tensors.size());
  auto cut = [&](std::string what, std::size_t at, std::string fragment, std::string key = {},
                 std::string tensor = {}) {
    if (at >= GgufLayout::after_counts && at < least) {
      fragment = "more than the";
      key.clear();
      tensor.clear();
    }
    cases.push_back({"truncated " + what + " (at byte " + std::to_string(at) + ")",
                     std::vector<std::byte>(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(at)),
                     Errc::bad_format, std::move(fragment), std::move(key), std::move(tensor)});
  };
  const std::string need = "bytes at offset";
  cut("to nothing", 0, "GGUF magic");
  cut("inside the magic", 2, "GGUF magic");
  cut("after the magic", GgufLayout::after_magic, need);
  cut("inside the version", GgufLayout::after_magic + 2, need);
  cut("after the version", GgufLayout::after_version, need);
  cut("inside the tensor count", GgufLayout::after_version + 5, need);
  cut("after the tensor count", GgufLayout::after_version + 8, need);
  cut("inside the key/value count", GgufLayout::after_counts - 1, need);
  // After the counts the first pair is missing: the header check sees a file too short for it.
  cut("after the counts", GgufLayout::after_counts, "more than the");
  for (std::size_t i = 0; i < l.kv.size(); ++i) {
    const GgufLayout::Kv& k = l.kv[i];
    const std::string name = "pair '" + k.key + "'";
    if (i != 0) cut("at the start of " + name, k.begin, need);
    cut("inside the key length of " + name, k.begin + 3, need);
    cut("inside the key of " + name, k.begin + 8 + k.key.size() / 2, need);
    cut("after the key of " + name, k.type_at, need, k.key);
    cut("inside the type of " + name, k.type_at + 2, need, k.key);
    cut("after the type of " + name, k.value_at, need, k.key);
    if (k.end - k.value_at > 1) {
      cut("inside the value of " + name, k.value_at + (k.end - k.value_at) / 2, need, k.key);
      cut("one byte before the end of " + name, k.end - 1, need, k.key);
    }
  }
  for (std::size_t i = 0; i < l.tensors.size(); ++i) {
    const GgufLayout::Info& t = l.tensors[i];
    const std::string name = "info of '" + t.name + "'";
    cut("at the start of " + name, t.begin, need);
    cut("inside the name length of " + name, t.begin + 4, need);
    cut("inside the name of " + name, t.begin + 8 + t.name.size() / 2, need);
    cut("after the name of " + name, t.n_dims_at, need, {}, t.name);
    cut("inside n_dims of " + name, t.n_dims_at + 1, need, {}, t.name);
    cut("inside ne[0] of " + name, t.ne_at + 3, need, {}, t.name);
    cut("inside ne[1] of " + name, t.ne_at + 8 + 7, need, {}, t.name);
    cut("inside the type of " + name, t.type_at + 2, need, {}, t.name);
    cut("inside the offset of " + name, t.offset_at + 4, need, {}, t.name);
    cut("one byte before the end of " + name, t.end - 1, need, {}, t.name);
  }
  // The padding check names general.alignment, which the file holds.
  cut("after the tensor infos", l.infos_end, "data section starts at byte", "general.alignment");
  if (l.data_begin - l.infos_end > 1) {
    cut("inside the padding", l.infos_end + (l.data_begin - l.infos_end) / 2,
        "data section starts at byte", "general.alignment");
  }
  // In the data, the first tensor that does not fit is named.
  cut("after the padding (no data)", l.data_begin, "past the end of the", {}, ts.front().name);
  std::size_t offset = l.data_begin;
  for (const io::GgufTensorToWrite& t : ts) {
    cut("inside the data of '" + t.name + "'", offset + t.bytes.size() / 2, "past the end of the",
        {}, t.name);
    offset += t.bytes.size();
    cut("one byte before the end of the data of '" + t.name + "'", offset - 1,
        "past the end of the", {}, t.name);
  }
}

}  // namespace detail_malformed

/// Files the reader (GgufFile::parse) must refuse. Each is the valid adapter of
/// gguf_adapter_source() with one thing broken, so the same error comes out of load_gguf.
inline std::vector<MalformedGgufCase> malformed_gguf() {
  using io::GgmlType;
  using io::GgufType;
  constexpr std::uint64_t k2_32 = std::uint64_t{1} << 32, k2_40 = std::uint64_t{1} << 40,
                          k2_61 = std::uint64_t{1} << 61, k2_62 = std::uint64_t{1} << 62,
                          k2_63 = std::uint64_t{1} << 63;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  const GgufSource source = gguf_adapter_source();
  GgufLayout l;
  const std::vector<std::byte> valid = build_gguf(source.raw(), &l);
  const std::string lora_a0 = std::string(kGgufPairs[0]) + ".lora_a";
  const std::string lora_b0 = std::string(kGgufPairs[0]) + ".lora_b";
  const std::string last = source.tensors.back().name;

  std::vector<MalformedGgufCase> cases;
  detail_malformed::add_truncations(cases, valid, l, source.tensors);

  // A patch of the valid file's bytes.
  auto patched = [&](auto&& patch) {
    std::vector<std::byte> b = valid;
    patch(b);
    return b;
  };
  auto u32_at = [&](std::size_t at, std::uint32_t v) {
    return patched([&](std::vector<std::byte>& b) { set_u32(b, at, v); });
  };
  auto u64_at = [&](std::size_t at, std::uint64_t v) {
    return patched([&](std::vector<std::byte>& b) { set_u64(b, at, v); });
  };
  // A change of the file's raw parts.
  auto rebuilt = [&](auto&& change) {
    RawGguf r = source.raw();
    change(r);
    return build_gguf(r);
  };
  auto add = [&](MalformedGgufCase c) { cases.push_back(std::move(c)); };

  // --- header
  add({"a wrong magic", patched([](std::vector<std::byte>& b) { b[3] = std::byte{'L'}; }),
       Errc::bad_format, "GGUF magic"});
  add({"version 1", u32_at(4, 1), Errc::unsupported, "GGUF version 1 is not supported"});
  add({"version 4", u32_at(4, 4), Errc::unsupported, "GGUF version 4 is not supported"});
  add({"version 0xFFFFFFFF", u32_at(4, 0xFFFFFFFFu), Errc::unsupported, "version 4294967295"});
  // A big-endian file: version 3 stored as 00 00 00 03.
  add({"a big-endian file", u32_at(4, 0x03000000u), Errc::unsupported, "big-endian"});
  add({"big-endian version 2", u32_at(4, 0x02000000u), Errc::unsupported, "big-endian"});

  // --- counts. CVE-2024-23605 (llama.cpp gguf_init_from_file, Talos): the key/value count read
  // from the header sized an allocation, n_kv * sizeof(gguf_kv), that could wrap to a small
  // buffer the loop then overran. lorakit caps every count and checks it against the bytes left
  // before it reserves anything.
  add({"2^63 key/value pairs", u64_at(16, k2_63), Errc::limit_exceeded, "key/value pairs, above"});
  add({"2^61 key/value pairs (n_kv * 8 wraps)", u64_at(16, k2_61), Errc::limit_exceeded,
       "key/value pairs, above"});
  add({"2^40 key/value pairs", u64_at(16, k2_40), Errc::limit_exceeded, "key/value pairs, above"});
  add({"2^64-1 key/value pairs", u64_at(16, kMax), Errc::limit_exceeded, "key/value pairs, above"});
  add({"2^63 tensors", u64_at(8, k2_63), Errc::limit_exceeded, "tensors, above the limit"});
  add({"2^40 tensors", u64_at(8, k2_40), Errc::limit_exceeded, "tensors, above the limit"});
  add({"2^64-1 tensors", u64_at(8, kMax), Errc::limit_exceeded, "tensors, above the limit"});
  add({"more key/value pairs than the file can hold", u64_at(16, 900'000), Errc::bad_format,
       "more than the"});
  add({"more tensors than the file can hold", u64_at(8, 900'000), Errc::bad_format,
       "more than the"});
  add({"2^63 key/value pairs with the count limit lifted",
       u64_at(16, k2_63),
       Errc::bad_format,
       "more than the",
       {},
       {},
       {},
       io::GgufLimits{.max_kv = kMax}});
  add({"2^63 tensors with the count limit lifted",
       u64_at(8, k2_63),
       Errc::bad_format,
       "more than the",
       {},
       {},
       io::ReadLimits{.max_tensors = std::size_t(kMax)}});

  // --- small limits: every limit is honoured with limit_exceeded.
  add({"GgufLimits::max_kv = 4",
       valid,
       Errc::limit_exceeded,
       "key/value pairs, above the limit of 4",
       {},
       {},
       {},
       io::GgufLimits{.max_kv = 4}});
  add({"ReadLimits::max_tensors = 2",
       valid,
       Errc::limit_exceeded,
       "tensors, above the limit of 2",
       {},
       {},
       io::ReadLimits{.max_tensors = 2}});
  add({"GgufLimits::max_string_bytes = 4",
       valid,
       Errc::limit_exceeded,
       "exceeds the limit of 4",
       {},
       {},
       {},
       io::GgufLimits{.max_string_bytes = 4}});
  add({"GgufLimits::max_array = 4",
       valid,
       Errc::limit_exceeded,
       "array of 5 elements exceeds the limit of 4",
       "lorakit.test.u8s",
       {},
       {},
       io::GgufLimits{.max_array = 4}});
  add({"GgufLimits::max_metadata_bytes = 16",
       valid,
       Errc::limit_exceeded,
       "GgufLimits::max_metadata_bytes",
       "general.name",
       {},
       {},
       io::GgufLimits{.max_metadata_bytes = 16}});
  add({"GgufLimits::max_nesting = 1",
       valid,
       Errc::limit_exceeded,
       "nested deeper than 1",
       "lorakit.test.nested",
       {},
       {},
       io::GgufLimits{.max_nesting = 1}});
  add({"ReadLimits::max_dim = 4",
       valid,
       Errc::limit_exceeded,
       "exceeds the limit of 4",
       {},
       lora_a0,
       io::ReadLimits{.max_dim = 4}});
  add({"ReadLimits::max_rank = 1",
       valid,
       Errc::limit_exceeded,
       "above the limit of 1",
       {},
       lora_a0,
       io::ReadLimits{.max_rank = 1}});

  // --- strings. CVE-2024-23605's second form: a string length of 2^64-1, where n + 1 for the
  // terminator wraps to a 0-byte allocation that the read then overflows.
  const GgufLayout::Kv& name = l.pair("general.name");
  add({"a string length past the end", u64_at(name.value_at, valid.size()), Errc::bad_format,
       "bytes at offset", "general.name"});
  add({"a string length of 2^64-1", u64_at(name.value_at, kMax), Errc::limit_exceeded,
       "string of 18446744073709551615 bytes", "general.name"});
  add({"a string length of 2^64-1 with the limit lifted",
       u64_at(name.value_at, kMax),
       Errc::bad_format,
       "needs 18446744073709551615 bytes",
       "general.name",
       {},
       {},
       io::GgufLimits{.max_string_bytes = kMax}});
  add({"a key length past the end", u64_at(l.kv[0].begin, valid.size()), Errc::bad_format,
       "bytes at offset"});
  add({"a key length of 2^64-1", u64_at(l.kv[0].begin, kMax), Errc::limit_exceeded,
       "exceeds the limit"});
  add({"a tensor name length past the end", u64_at(l.tensors[1].begin, valid.size()),
       Errc::bad_format, "bytes at offset"});
  add({"a tensor name length of 2^63", u64_at(l.tensors[1].begin, k2_63), Errc::limit_exceeded,
       "exceeds the limit"});

  // --- arrays: lengths past the end (the CVE-2024-23605 pattern for arrays: n elements of u64
  // with n = 2^61, so that n * 8 wraps to 0).
  const GgufLayout::Kv& u8s = l.pair("lorakit.test.u8s");
  const GgufLayout::Kv& u64s = l.pair("lorakit.test.u64s");
  const GgufLayout::Kv& names = l.pair("lorakit.test.names");
  const GgufLayout::Kv& nested = l.pair("lorakit.test.nested");
  add({"a UINT8 array length past the end", u64_at(u8s.value_at + 4, 1000), Errc::bad_format,
       "bytes at offset", "lorakit.test.u8s"});
  add({"a STRING array length past the end", u64_at(names.value_at + 4, 1000), Errc::bad_format,
       "bytes at offset", "lorakit.test.names"});
  add({"an ARRAY array length past the end", u64_at(nested.value_at + 4, 1000), Errc::bad_format,
       "bytes at offset", "lorakit.test.nested"});
  add({"a UINT64 array of 2^61 elements", u64_at(u64s.value_at + 4, k2_61), Errc::limit_exceeded,
       "array of 2305843009213693952 elements", "lorakit.test.u64s"});
  add({"a UINT64 array of 2^61 elements (n * 8 wraps to 0), limit lifted",
       u64_at(u64s.value_at + 4, k2_61),
       Errc::bad_format,
       "2305843009213693952 elements of 8",
       "lorakit.test.u64s",
       {},
       {},
       io::GgufLimits{.max_array = kMax}});
  add({"a STRING array of 2^62 elements, limit lifted",
       u64_at(names.value_at + 4, k2_62),
       Errc::bad_format,
       "4611686018427387904 elements of at least 8",
       "lorakit.test.names",
       {},
       {},
       io::GgufLimits{.max_array = kMax}});
  add({"an array of 2^64-1 elements, limit lifted",
       u64_at(u8s.value_at + 4, kMax),
       Errc::bad_format,
       "18446744073709551615 elements of 1",
       "lorakit.test.u8s",
       {},
       {},
       io::GgufLimits{.max_array = kMax}});
  add({"a string inside an array past the end", u64_at(names.value_at + 12, 1u << 20),
       Errc::bad_format, "bytes at offset", "lorakit.test.names"});

  // --- value and element types
  for (std::uint32_t type : {13u, 100u, 0xFFFFFFFFu}) {
    add({"value type " + std::to_string(type), u32_at(name.type_at, type), Errc::bad_format,
         "value type " + std::to_string(type), "general.name"});
    add({"array element type " + std::to_string(type), u32_at(u8s.value_at, type), Errc::bad_format,
         "array element type " + std::to_string(type), "lorakit.test.u8s"});
  }
  add({"a nested array's element type 13", u32_at(nested.value_at + 12, 13), Errc::bad_format,
       "array element type 13", "lorakit.test.nested"});

  // --- nesting: one level deeper than GgufLimits::max_nesting, and a million levels written
  // as repeated array headers (element type ARRAY, count 1): a recursive reader without a depth
  // limit would need a stack of a million frames.
  auto nest = [&](std::size_t depth) {
    return rebuilt([&](RawGguf& r) {
      RawKv& p = r.pair("lorakit.test.nested");
      p.value.clear();
      for (std::size_t i = 1; i < depth; ++i) {
        put_u32(p.value, static_cast<std::uint32_t>(GgufType::array));
        put_u64(p.value, 1);
      }
      put_u32(p.value, static_cast<std::uint32_t>(GgufType::u32));
      put_u64(p.value, 1);
      put_u32(p.value, 7);
    });
  };
  const auto max_nesting = static_cast<std::size_t>(io::GgufLimits{}.max_nesting);
  add({"arrays nested max_nesting + 1 deep", nest(max_nesting + 1), Errc::limit_exceeded,
       "nested deeper than", "lorakit.test.nested"});
  add({"arrays nested a million deep", nest(1'000'000), Errc::limit_exceeded, "nested deeper than",
       "lorakit.test.nested"});

  // --- duplicates
  add({"a duplicate key", rebuilt([](RawGguf& r) { r.kv.push_back(r.pair("adapter.type")); }),
       Errc::bad_format, "key appears twice", "adapter.type"});
  add({"a duplicate tensor name",
       rebuilt([&](RawGguf& r) { r.tensors.back().name = r.tensors.front().name; }),
       Errc::bad_format,
       "tensor name appears twice",
       {},
       lora_a0});

  // --- general.alignment
  const GgufLayout::Kv& align = l.pair("general.alignment");
  add({"general.alignment 0", u32_at(align.value_at, 0), Errc::bad_format,
       "0 is not a power of two", "general.alignment"});
  add({"general.alignment 3", u32_at(align.value_at, 3), Errc::bad_format,
       "3 is not a power of two", "general.alignment"});
  add({"general.alignment 2^31", u32_at(align.value_at, 1u << 31), Errc::bad_format, "past the end",
       "general.alignment"});
  add({"general.alignment 0xFFFFFFFF", u32_at(align.value_at, 0xFFFFFFFFu), Errc::bad_format,
       "not a power of two", "general.alignment"});
  add({"general.alignment as UINT64", rebuilt([](RawGguf& r) {
         RawKv& p = r.pair("general.alignment");
         p.type = static_cast<std::uint32_t>(GgufType::u64);
         p.value.clear();
         put_u64(p.value, 32);
       }),
       Errc::bad_format, "holds UINT64, expected UINT32", "general.alignment"});
  add({"general.alignment as STRING", rebuilt([](RawGguf& r) {
         RawKv& p = r.pair("general.alignment");
         p.type = static_cast<std::uint32_t>(GgufType::string);
         p.value.clear();
         put_gguf_string(p.value, "32");
       }),
       Errc::bad_format, "holds STRING, expected UINT32", "general.alignment"});
  add({"general.alignment 64 with offsets aligned to 32",
       u32_at(align.value_at, 64),
       Errc::bad_format,
       "not a multiple of the alignment 64",
       {},
       std::string(kGgufPairs[1]) + ".lora_b"});

  // --- tensor infos
  const GgufLayout::Info& a0 = l.tensors[0];
  const GgufLayout::Info& b0 = l.tensors[1];
  const GgufLayout::Info& end = l.tensors.back();
  add({"n_dims 0", u32_at(a0.n_dims_at, 0), Errc::bad_format, "has 0 dimensions", {}, lora_a0});
  add({"n_dims 5", u32_at(a0.n_dims_at, 5), Errc::bad_format, "has 5 dimensions", {}, lora_a0});
  add({"n_dims 2^32-1",
       u32_at(a0.n_dims_at, 0xFFFFFFFFu),
       Errc::bad_format,
       "dimensions",
       {},
       lora_a0});
  auto with_ne = [&](std::vector<std::uint64_t> ne, std::uint32_t type) {
    return rebuilt([&](RawGguf& r) {
      r.tensors.front().ne = ne;
      r.tensors.front().type = type;
    });
  };
  constexpr auto f32 = static_cast<std::uint32_t>(GgmlType::f32);
  // CVE-2024-21802 (llama.cpp gguf_init_from_file, Talos): a tensor info's ne values taken on
  // trust, whose product overflows when the tensor's size is computed, so that a heap buffer
  // sized from it is overrun. Here: products that wrap 64 bits, and one whose element count
  // fits but whose byte count (x 4 for F32) wraps to 0.
  add({"ne [2^32, 2^32, 4]: the element count wraps",
       with_ne({k2_32, k2_32, 4}, f32),
       Errc::bad_format,
       "overflows 64 bits",
       {},
       lora_a0});
  add({"ne [2^62, 4] above ReadLimits::max_dim",
       with_ne({k2_62, 4}, f32),
       Errc::limit_exceeded,
       "exceeds the limit",
       {},
       lora_a0});
  add({"ne [2^62, 4]: the element count wraps, max_dim lifted",
       with_ne({k2_62, 4}, f32),
       Errc::bad_format,
       "overflows 64 bits",
       {},
       lora_a0,
       io::ReadLimits{.max_dim = std::numeric_limits<std::int64_t>::max()}});
  add({"ne [2^31, 2^31] F32: the byte count wraps to 0",
       with_ne({k2_32 / 2, k2_32 / 2}, f32),
       Errc::bad_format,
       "past the end",
       {},
       lora_a0});
  add({"ne [2^40, 2^20, 4] F32: the byte count wraps",
       with_ne({k2_40, 1u << 20, 4}, f32),
       Errc::bad_format,
       "past the end",
       {},
       lora_a0});
  add({"ne [2^63] (negative as int64)",
       with_ne({k2_63, 2}, f32),
       Errc::bad_format,
       "exceeds the limit",
       {},
       lora_a0});
  add({"ne[0] not a multiple of Q8_0's block",
       u32_at(a0.type_at, static_cast<std::uint32_t>(GgmlType::q8_0)),
       Errc::bad_format,
       "not a multiple of Q8_0's block of 32",
       {},
       lora_a0});
  add({"ne[0] not a multiple of Q4_K's block",
       u32_at(a0.type_at, static_cast<std::uint32_t>(GgmlType::q4_k)),
       Errc::bad_format,
       "not a multiple of Q4_K's block of 256",
       {},
       lora_a0});
  for (std::uint32_t type : {4u, 5u, 31u, 36u, 1000u, 0xFFFFFFFFu}) {
    add({"ggml type " + std::to_string(type),
         u32_at(a0.type_at, type),
         Errc::bad_format,
         "ggml type " + std::to_string(type) + " is not a known type",
         {},
         lora_a0});
  }

  // --- offsets
  add({"an unaligned offset",
       u64_at(b0.offset_at, 64 + 4),
       Errc::bad_format,
       "not a multiple of the alignment 32",
       {},
       lora_b0});
  add({"overlapping offsets",
       u64_at(b0.offset_at, 32),
       Errc::bad_format,
       "overlaps tensor '" + lora_a0 + "'",
       {},
       lora_b0});
  add({"two tensors at the same offset",
       u64_at(b0.offset_at, 0),
       Errc::bad_format,
       "overlaps",
       {},
       kAnyTensor});
  add({"a tensor past the end of the data",
       u64_at(end.offset_at, l.end - l.data_begin),
       Errc::bad_format,
       "past the end of the",
       {},
       last});
  add({"a tensor straddling the end of the data",
       u64_at(end.offset_at, l.end - l.data_begin - 32),
       Errc::bad_format,
       "past the end of the",
       {},
       last});
  // CVE-2025-53630 (llama.cpp gguf_init_from_file_impl, fixed by PR #14595): the sum of the
  // tensors' padded sizes, and offset + size, overflowed size_t, so a tensor near 2^64 passed
  // the bounds check. Here: offsets near 2^64 with a nonzero size.
  add({"offset 2^64 - 32 with a nonzero size (offset + size wraps)",
       u64_at(end.offset_at, kMax - 31),
       Errc::bad_format,
       "past the end of the",
       {},
       last});
  add({"offset 2^63",
       u64_at(end.offset_at, k2_63),
       Errc::bad_format,
       "past the end of the",
       {},
       last});
  add({"a 2^64-byte tensor, then one at 2^64 - 32 (a running size total would wrap)",
       rebuilt([&](RawGguf& r) {
         r.tensors.front().ne = {k2_32 / 4, k2_32};  // 2^62 F32 values: 2^64 bytes
         r.tensors.back().offset = kMax - 31;
       }),
       Errc::bad_format,
       "past the end of the",
       {},
       lora_a0});
  return cases;
}

/// Containers the reader accepts but the adapter loader (load_gguf) must refuse.
inline std::vector<MalformedGgufCase> malformed_gguf_adapters() {
  using io::GgmlType;
  using io::GgufValue;
  const std::string v0 = std::string(kGgufPairs[0]);
  const std::string v1 = std::string(kGgufPairs[2]);
  std::vector<MalformedGgufCase> cases;
  auto add = [&](std::string what, auto&& change, Errc code, std::string fragment,
                 std::string key = {}, std::string tensor = {}) {
    GgufSource s = gguf_adapter_source();
    change(s);
    cases.push_back({std::move(what), s.serialize(), code, std::move(fragment), std::move(key),
                     std::move(tensor)});
  };
  // llama.cpp reads adapter.lora.alpha with gguf_get_val_f32, which aborts the process on a
  // type mismatch; lorakit names the key.
  add(
      "adapter.lora.alpha as a STRING",
      [](GgufSource& s) { s.set("adapter.lora.alpha", GgufValue::of_string("4")); },
      Errc::bad_format, "holds STRING, expected FLOAT32", "adapter.lora.alpha");
  add(
      "adapter.lora.alpha as UINT32",
      [](GgufSource& s) { s.set("adapter.lora.alpha", GgufValue::of_u32(4)); }, Errc::bad_format,
      "holds UINT32, expected FLOAT32", "adapter.lora.alpha");
  add(
      "adapter.lora.alpha NaN",
      [](GgufSource& s) {
        s.set("adapter.lora.alpha", GgufValue::of_f32(std::numeric_limits<float>::quiet_NaN()));
      },
      Errc::bad_format, "not finite", "adapter.lora.alpha");
  add(
      "general.type model",
      [](GgufSource& s) { s.set("general.type", GgufValue::of_string("model")); }, Errc::bad_format,
      "model file, not an adapter", "general.type");
  add(
      "general.type missing", [](GgufSource& s) { s.erase("general.type"); }, Errc::bad_format,
      "not a GGUF adapter", "general.type");
  add(
      "general.type as UINT32", [](GgufSource& s) { s.set("general.type", GgufValue::of_u32(1)); },
      Errc::bad_format, "holds UINT32, expected STRING", "general.type");
  add(
      "adapter.type ia3", [](GgufSource& s) { s.set("adapter.type", GgufValue::of_string("ia3")); },
      Errc::unsupported, "is 'ia3'", "adapter.type");
  add(
      "adapter.type missing", [](GgufSource& s) { s.erase("adapter.type"); }, Errc::unsupported,
      "missing", "adapter.type");
  add(
      "a lora_a without its lora_b", [&](GgufSource& s) { s.erase_tensor(v1 + ".lora_b"); },
      Errc::missing_tensor, "has no lora_b partner", {}, v1 + ".lora_a");
  add(
      "a lora_b without its lora_a", [&](GgufSource& s) { s.erase_tensor(v1 + ".lora_a"); },
      Errc::missing_tensor, "has no lora_a partner", {}, v1 + ".lora_b");
  add(
      "lora_a rank 2, lora_b rank 3",
      [&](GgufSource& s) {
        s.set_values(v1 + ".lora_b", GgmlType::f32, {3, 8}, gguf_values(24, 9));
      },
      Errc::shape_mismatch, "rank of lora_b disagrees with lora_a", {}, v1 + ".lora_b");
  add(
      "a Q4_K lora_a",
      [&](GgufSource& s) {
        s.set_tensor(v0 + ".lora_a", GgmlType::q4_k, {256, 2}, std::vector<std::byte>(2 * 144));
      },
      Errc::unsupported_dtype, "Q4_K", {}, v0 + ".lora_a");
  add(
      "an I32 lora_b",
      [&](GgufSource& s) {
        s.set_tensor(v0 + ".lora_b", GgmlType::i32, {2, 8}, std::vector<std::byte>(2 * 8 * 4));
      },
      Errc::unsupported_dtype, "I32", {}, v0 + ".lora_b");
  add(
      "a NaN in lora_a",
      [&](GgufSource& s) {
        std::vector<float> v = gguf_values(16, 0);
        v[5] = std::numeric_limits<float>::quiet_NaN();
        s.set_values(v0 + ".lora_a", GgmlType::f32, {8, 2}, v);
      },
      Errc::non_finite, "1 of 16 values are NaN or infinite", {}, v0 + ".lora_a");
  add(
      "an infinity in an F16 lora_b",
      [&](GgufSource& s) {
        std::vector<float> v = gguf_values(32, 3);
        v[31] = std::numeric_limits<float>::infinity();
        s.set_values(std::string(kGgufPairs[1]) + ".lora_b", GgmlType::f16, {2, 16}, v);
      },
      Errc::non_finite, "NaN or infinite", {}, std::string(kGgufPairs[1]) + ".lora_b");
  add(
      "a 3-D lora_a",
      [&](GgufSource& s) {
        s.set_values(v0 + ".lora_a", GgmlType::f32, {8, 2, 2}, gguf_values(32, 0));
      },
      Errc::shape_mismatch, "must have 2 dimensions", {}, v0 + ".lora_a");
  add(
      "a rank-0 pair",
      [&](GgufSource& s) {
        s.set_values(v0 + ".lora_a", GgmlType::f32, {8, 0}, {});
        s.set_values(v0 + ".lora_b", GgmlType::f32, {0, 8}, {});
      },
      Errc::shape_mismatch, "a rank of 0", {}, v0 + ".lora_a");
  add(
      "a tensor that is not a LoRA tensor",
      [&](GgufSource& s) {
        s.set_values("blk.0.attn_v.weight", GgmlType::f32, {8, 8}, gguf_values(64, 1));
      },
      Errc::unexpected_tensor, "not a GGUF LoRA tensor", {}, "blk.0.attn_v.weight");
  add(
      "no tensors at all", [&](GgufSource& s) { s.tensors.clear(); }, Errc::missing_tensor,
      "holds no LoRA tensors");
  return cases;
}

}  // namespace lorakit::test
