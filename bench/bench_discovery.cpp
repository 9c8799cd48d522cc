// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Discovery: io::scan over a folder of 1,000 generated adapters in mixed formats (PEFT, mlx-lm,
// GGUF in equal shares; Llama-style q/k/v/o modules of 4 to 16 blocks, widths 64 and 128, rank
// 4, F16) and 10 base models (5 Hugging Face directories, 5 GGUF files), then match() of every
// adapter against the 10 bases. The folder is written once; every figure is warm (page cache).
//
//   cmake --preset bench && cmake --build --preset bench && build/bench/bench/bench_discovery
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "lorakit/lorakit.hpp"

namespace {

namespace fs = std::filesystem;
using lorakit::Index;

constexpr int kAdapters = 1000;
constexpr int kBases = 10;
constexpr Index kRank = 4;
const char* const kTargets[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                "self_attn.o_proj"};

// The widths and block count of generated model i.
struct Shape {
  Index width;
  int blocks;
};
Shape shape_of(int i) { return {i % 2 == 0 ? 64 : 128, 4 + 4 * ((i / 2) % 4)}; }

// An adapter on every q/k/v/o module of a model of shape `s` (F16, values in the thousandths).
std::shared_ptr<const lorakit::Adapter> make_adapter(Shape s, const std::string& base) {
  lorakit::detail::TensorStore store;
  std::vector<float> values(static_cast<std::size_t>(s.width * kRank));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 61) * 1e-3f;
  auto bytes = std::make_shared<std::vector<std::byte>>(values.size() * 2);
  lorakit::io::encode_floats(lorakit::DType::f16, values.data(), values.size(), bytes->data());
  store.keep(bytes);
  std::map<std::string, lorakit::AdapterModule> modules;
  for (int l = 0; l < s.blocks; ++l) {
    for (const char* t : kTargets) {
      lorakit::AdapterModule m;
      m.rank = kRank;
      m.alpha = 8.0f;
      m.a = store.make(lorakit::DType::f16, s.width, kRank, *bytes, false, false);
      m.b = store.make(lorakit::DType::f16, kRank, s.width, *bytes, false, false);
      modules.emplace("model.layers." + std::to_string(l) + "." + t, std::move(m));
    }
  }
  lorakit::AdapterInfo info;
  info.name = "adapter";
  info.rank = kRank;
  info.alpha = 8.0f;
  info.base_model = base;
  return std::make_shared<const lorakit::Adapter>(
      info, std::move(modules), std::map<std::string, lorakit::AdapterTensor>{}, store.release());
}

// A Llama-style base of shape `s` (q/k/v/o only, 4 heads), as a Hugging Face directory or a
// GGUF model file, with zero weights.
void write_base(const fs::path& root, int i) {
  const Shape s = shape_of(i);
  const std::string name = "bench-base-" + std::to_string(i);
  const auto elements = static_cast<std::size_t>(s.width * s.width);
  const std::vector<std::byte> zeros(elements * 2);
  if (i % 2 == 0) {
    const fs::path dir = root / "bases" / name;
    fs::create_directories(dir);
    std::vector<lorakit::io::TensorToWrite> tensors;
    for (int l = 0; l < s.blocks; ++l) {
      for (const char* t : kTargets) {
        tensors.push_back({"model.layers." + std::to_string(l) + "." + t + ".weight",
                           lorakit::DType::f16, lorakit::Shape{s.width, s.width}, zeros});
      }
    }
    lorakit::io::write_safetensors(dir / "model.safetensors", std::move(tensors));
    const nlohmann::json config = {{"model_type", "llama"},
                                   {"_name_or_path", name},
                                   {"num_hidden_layers", s.blocks},
                                   {"num_attention_heads", 4},
                                   {"num_key_value_heads", 4}};
    const std::string text = config.dump(2);
    lorakit::io::write_file(dir / "config.json",
                            std::as_bytes(std::span<const char>(text.data(), text.size())));
    return;
  }
  using lorakit::io::GgufValue;
  std::vector<lorakit::io::GgufKeyValue> kv = {
      {"general.architecture", GgufValue::of_string("llama")},
      {"general.type", GgufValue::of_string("model")},
      {"general.name", GgufValue::of_string(name)},
      {"llama.block_count", GgufValue::of_u32(static_cast<std::uint32_t>(s.blocks))},
      {"llama.attention.head_count", GgufValue::of_u32(4)},
      {"llama.attention.head_count_kv", GgufValue::of_u32(4)}};
  const char* const gguf_targets[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
  std::vector<lorakit::io::GgufTensorToWrite> tensors;
  for (int l = 0; l < s.blocks; ++l) {
    for (const char* t : gguf_targets) {
      tensors.push_back({"blk." + std::to_string(l) + "." + t + ".weight",
                         lorakit::io::GgmlType::f16,
                         {static_cast<std::int64_t>(s.width), static_cast<std::int64_t>(s.width)},
                         zeros});
    }
  }
  fs::create_directories(root / "bases");
  lorakit::io::write_gguf(root / "bases" / (name + ".gguf"), kv, tensors);
}

// The folder, written once: adapters/<i> in PEFT, mlx-lm or GGUF form, and bases/.
const fs::path& folder() {
  static const fs::path root = [] {
    const fs::path r = fs::temp_directory_path() / "lorakit-bench-discovery";
    fs::remove_all(r);
    for (int i = 0; i < kBases; ++i) write_base(r, i);
    std::map<int, std::shared_ptr<const lorakit::Adapter>> by_shape;
    for (int i = 0; i < kAdapters; ++i) {
      const int base = i % (kBases + 2);  // two in twelve name a base that is not there
      const Shape s = shape_of(base % kBases);
      const auto adapter = make_adapter(s, "bench-base-" + std::to_string(base));
      const fs::path p = r / "adapters" / std::to_string(i / 100) / ("a" + std::to_string(i));
      fs::create_directories(p.parent_path());
      switch (i % 3) {
        case 0: lorakit::io::save_peft(*adapter, p); break;
        case 1: lorakit::io::save_mlx(*adapter, p); break;
        default:
          lorakit::io::save_gguf(*adapter, p.string() + ".gguf",
                                 {.architecture = "llama", .n_head = 4, .n_head_kv = 4});
      }
    }
    return r;
  }();
  return root;
}

void BM_ScanAndClassify(benchmark::State& state) {
  const fs::path& root = folder();
  std::size_t adapters = 0;
  for (auto _ : state) {
    const lorakit::io::Scan s = lorakit::io::scan(root, {.match = false});
    adapters = 0;
    for (const auto& e : s.entries) adapters += e.is_adapter() ? 1 : 0;
    benchmark::DoNotOptimize(adapters);
  }
  state.counters["adapters"] = static_cast<double>(adapters);
}
BENCHMARK(BM_ScanAndClassify)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_MatchAgainstBases(benchmark::State& state) {
  const lorakit::io::Scan s = lorakit::io::scan(folder(), {.match = false});
  std::vector<lorakit::BaseModel> bases;
  std::vector<const lorakit::AdapterOutline*> adapters;
  for (const auto& e : s.entries) {
    if (e.base) bases.push_back(*e.base);
    if (e.adapter) adapters.push_back(&*e.adapter);
  }
  std::size_t compatible = 0;
  for (auto _ : state) {
    compatible = 0;
    for (const auto* a : adapters) {
      compatible += lorakit::match(*a, bases).verdict == lorakit::Verdict::compatible ? 1 : 0;
    }
    benchmark::DoNotOptimize(compatible);
  }
  state.counters["adapters"] = static_cast<double>(adapters.size());
  state.counters["bases"] = static_cast<double>(bases.size());
  state.counters["compatible"] = static_cast<double>(compatible);
}
BENCHMARK(BM_MatchAgainstBases)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
