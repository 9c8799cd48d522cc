// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// libFuzzer target: the GGUF reader and the GGUF adapter load on arbitrary bytes. Every view the
// reader returns must lie inside the file at an aligned offset of the data section; every
// failure must be a lorakit::Error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fuzz_input.hpp"
#include "lorakit/io/base_model.hpp"
#include "lorakit/io/gguf_adapter.hpp"

namespace {

// A value's invariants: an array's element count matches what it holds, nesting stays within
// the limit, every scalar is of a scalar type.
void check_value(const lorakit::io::GgufValue& v, int depth,
                 const lorakit::io::GgufLimits& limits) {
  using lorakit::io::GgufType;
  using lorakit::io::scalar_size;
  lorakit::fuzz::require(depth <= limits.max_nesting);
  if (v.type == GgufType::string) {
    lorakit::fuzz::require(v.text.size() <= limits.max_string_bytes);
  } else if (v.type == GgufType::array) {
    lorakit::fuzz::require(v.count <= limits.max_array);
    if (scalar_size(v.element) != 0) {
      lorakit::fuzz::require(v.items.empty() &&
                             v.scalars.size() == v.count * scalar_size(v.element));
    } else {
      lorakit::fuzz::require(v.element == GgufType::string || v.element == GgufType::array);
      lorakit::fuzz::require(v.scalars.empty() && v.items.size() == v.count);
      for (const lorakit::io::GgufValue& item : v.items) {
        lorakit::fuzz::require(item.type == v.element);
        check_value(item, depth + 1, limits);
      }
    }
  } else {
    lorakit::fuzz::require(scalar_size(v.type) != 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lorakit;
  const auto* first = reinterpret_cast<const std::byte*>(data);
  auto bytes = io::FileBytes::from_buffer(std::vector<std::byte>(first, first + size), "fuzz");
  const std::byte* begin = bytes->bytes().data();
  const std::byte* end = begin + bytes->bytes().size();
  // Small limits as well as the defaults: the limit checks must hold at any setting.
  const bool small = size % 2 == 1;
  io::LoadOptions options;
  io::GgufLoadOptions gguf;
  if (small) {
    options.limits = io::ReadLimits{.max_tensors = 16, .max_rank = 3, .max_dim = 1 << 20};
    gguf.limits = io::GgufLimits{.max_kv = 16,
                                 .max_string_bytes = 256,
                                 .max_array = 64,
                                 .max_metadata_bytes = 1 << 16,
                                 .max_nesting = 3};
  }
  options.base_layout = size % 3 == 0   ? io::BaseLayout::hf
                        : size % 3 == 1 ? io::BaseLayout::llama_cpp
                                        : io::BaseLayout::unspecified;
  options.n_head = 2;
  options.n_head_kv = 1;
  try {
    const io::GgufFile file = io::GgufFile::parse(bytes, options.limits, gguf.limits);
    fuzz::require(file.metadata().size() <= gguf.limits.max_kv);
    fuzz::require(file.tensors().size() <= options.limits.max_tensors);
    fuzz::require(file.data_offset() % file.alignment() == 0 &&
                  file.data_offset() <= bytes->bytes().size());
    for (const io::GgufKeyValue& kv : file.metadata()) {
      fuzz::require(file.find(kv.key) == &kv.value);  // keys are unique
      check_value(kv.value, 0, gguf.limits);
    }
    std::vector<const io::GgufTensor*> by_offset;
    for (const io::GgufTensor& t : file.tensors()) {
      fuzz::require(t.n_dims >= 1 && t.n_dims <= 4 && t.n_dims <= options.limits.max_rank);
      fuzz::require(file.find_tensor(t.name) == &t);  // names are unique
      if (!t.bytes.empty()) by_offset.push_back(&t);
      fuzz::require(t.offset % file.alignment() == 0);
      fuzz::require(t.bytes.empty() || (t.bytes.data() >= begin + file.data_offset() &&
                                        t.bytes.data() + t.bytes.size() <= end));
      const io::GgmlTypeTraits tt = io::traits(t.type);
      fuzz::require(tt.block != 0 && t.ne[0] % tt.block == 0);
      fuzz::require(static_cast<std::uint64_t>(t.elements()) / tt.block * tt.bytes ==
                    t.bytes.size());
      unsigned sum = 0;
      for (std::byte b : t.bytes) sum += static_cast<unsigned>(b);
      volatile unsigned sink = sum;
      (void)sink;
    }
    // No two tensors share a byte.
    std::sort(
        by_offset.begin(), by_offset.end(),
        [](const io::GgufTensor* a, const io::GgufTensor* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      fuzz::require(by_offset[i - 1]->bytes.data() + by_offset[i - 1]->bytes.size() <=
                    by_offset[i]->bytes.data());
    }
    // The same file as a base model, and as an adapter outline (headers only).
    try {
      const BaseModel base = io::detail_base::gguf_model(file, "fuzz");
      for (const BaseModule& m : base.modules) {
        fuzz::require(m.in_features >= 0 && m.out_features >= 0);
        fuzz::require(base.find(m.name) != nullptr);
      }
    } catch (const Error&) {
    }
  } catch (const Error&) {
  }
  std::optional<AdapterOutline> outline;
  try {
    const io::GgufFile file = io::GgufFile::parse(bytes, options.limits, gguf.limits);
    outline = io::detail_gguf::load<AdapterOutline>(file, "fuzz", options, gguf);
  } catch (const Error&) {
  }
  try {
    const std::shared_ptr<const Adapter> adapter = io::load_gguf(bytes, options, gguf);
    fuzz::check(*adapter);
    // What loads outlines the same from its headers.
    fuzz::require(outline.has_value() && outline->modules.size() == adapter->modules().size());
    for (const auto& [name, m] : adapter->modules()) {
      const auto it = outline->modules.find(name);
      fuzz::require(it != outline->modules.end() && it->second.rank == m.rank &&
                    it->second.in_features == m.in_features() &&
                    it->second.out_features == m.out_features());
    }
  } catch (const Error&) {
  }
  return 0;
}
