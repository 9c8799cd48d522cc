// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Adapter load time against the time to read the same bytes. The adapter: 7 targets x 32
// layers, r = 16, in = out = 4096 (117 MB in f32), written by save_peft / save_mlx. Code paths:
// io::load_peft (mmap, validate, finite check, cache-blocked transpose into owned buffers),
// io::load_mlx (mmap, validate, finite check, tensors used in place), and read(2) of the whole
// file into a fresh buffer. Files are read once first, so every figure is warm (page cache).
//
//   cmake --preset bench && cmake --build --preset bench && build/bench/bench/bench_io
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lorakit/detail/tensor_store.hpp"
#include "lorakit/lorakit.hpp"

namespace {

namespace fs = std::filesystem;
using lorakit::Index;

constexpr Index kLayers = 32;
constexpr Index kRank = 16;
constexpr Index kDim = 4096;
const char* const kTargets[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                "mlp.down_proj"};

// Writes the benchmark adapter once per dtype: PEFT and mlx-lm directories under the temp dir.
fs::path adapter_dir(lorakit::DType dtype) {
  static std::map<lorakit::DType, fs::path> made;
  if (auto it = made.find(dtype); it != made.end()) return it->second;
  const fs::path root =
      fs::temp_directory_path() / ("lorakit-bench-io-" + std::string(lorakit::to_string(dtype)));
  lorakit::detail::TensorStore store;
  std::vector<float> a(static_cast<std::size_t>(kDim * kRank));
  std::vector<float> b(static_cast<std::size_t>(kRank * kDim));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 97) * 1e-3f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 89) * -1e-3f;
  std::vector<std::byte> a_bytes(a.size() * static_cast<std::size_t>(lorakit::size_of(dtype)));
  std::vector<std::byte> b_bytes(b.size() * static_cast<std::size_t>(lorakit::size_of(dtype)));
  lorakit::io::encode_floats(dtype, a.data(), a.size(), a_bytes.data());
  lorakit::io::encode_floats(dtype, b.data(), b.size(), b_bytes.data());
  std::map<std::string, lorakit::AdapterModule> modules;
  for (Index l = 0; l < kLayers; ++l) {
    for (const char* t : kTargets) {
      lorakit::AdapterModule m;
      m.rank = kRank;
      m.alpha = 32.0f;
      m.a = store.make(dtype, kDim, kRank, a_bytes, false, false);
      m.b = store.make(dtype, kRank, kDim, b_bytes, false, false);
      modules.emplace("model.layers." + std::to_string(l) + "." + t, std::move(m));
    }
  }
  lorakit::AdapterInfo info;
  info.name = "bench";
  info.rank = kRank;
  info.alpha = 32.0f;
  const lorakit::Adapter adapter(info, std::move(modules), {}, store.release());
  lorakit::io::save_peft(adapter, root / "peft");
  lorakit::io::save_mlx(adapter, root / "mlx");
  made[dtype] = root;
  return root;
}

void BM_ReadRaw(benchmark::State& state, lorakit::DType dtype, const char* which) {
  const fs::path file = adapter_dir(dtype) / which;
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  for (auto _ : state) {
    std::vector<std::byte> buffer(size);
    const int fd = ::open(file.c_str(), O_RDONLY);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t got = ::read(fd, buffer.data() + done, size - done);
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    ::close(fd);
    benchmark::DoNotOptimize(buffer.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void BM_LoadPeft(benchmark::State& state, lorakit::DType dtype, bool to_f32) {
  const fs::path dir = adapter_dir(dtype) / "peft";
  const auto size = static_cast<std::size_t>(fs::file_size(dir / "adapter_model.safetensors"));
  lorakit::io::LoadOptions options;
  options.convert_to_f32 = to_f32;
  for (auto _ : state) {
    auto adapter = lorakit::io::load_peft(dir, options);
    benchmark::DoNotOptimize(adapter.get());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void BM_LoadMlx(benchmark::State& state, lorakit::DType dtype) {
  const fs::path dir = adapter_dir(dtype) / "mlx";
  const auto size = static_cast<std::size_t>(fs::file_size(dir / "adapters.safetensors"));
  lorakit::io::LoadOptions options;
  options.convert_to_f32 = false;
  for (auto _ : state) {
    auto adapter = lorakit::io::load_mlx(dir, options);
    benchmark::DoNotOptimize(adapter.get());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

}  // namespace

BENCHMARK_CAPTURE(BM_ReadRaw, peft_f32, lorakit::DType::f32, "peft/adapter_model.safetensors")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadPeft, f32, lorakit::DType::f32, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRaw, mlx_f32, lorakit::DType::f32, "mlx/adapters.safetensors")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadMlx, f32, lorakit::DType::f32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRaw, peft_bf16, lorakit::DType::bf16, "peft/adapter_model.safetensors")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadPeft, bf16_kept, lorakit::DType::bf16, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadPeft, bf16_to_f32, lorakit::DType::bf16, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRaw, mlx_bf16, lorakit::DType::bf16, "mlx/adapters.safetensors")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadMlx, bf16, lorakit::DType::bf16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
