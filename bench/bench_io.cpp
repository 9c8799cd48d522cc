// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Adapter load time against the time to read the same bytes. The adapter: 7 targets x 32
// layers, r = 16, in = out = 4096 (117 MB in f32), written by save_peft / save_mlx / save_gguf.
// Code paths: io::load_peft (mmap, validate, finite check, cache-blocked transpose into owned
// buffers), io::load_mlx (mmap, validate, finite check, tensors used in place), io::load_gguf
// (mmap, validate, finite check, F16 decoded / Q8_0 dequantised, transpose into owned buffers;
// BaseLayout::hf also un-permutes the Q/K rows), read(2) of the whole file into a fresh buffer
// and FileBytes::read. Files are written once first, so every figure is warm (page cache).
//
//   cmake --preset bench && cmake --build --preset bench && build/bench/bench/bench_io
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lorakit/detail/tensor_store.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/lorakit.hpp"

namespace {

namespace fs = std::filesystem;
using lorakit::Index;
using lorakit::io::BaseLayout;
using lorakit::io::GgufOutType;

constexpr Index kLayers = 32;
constexpr Index kRank = 16;
constexpr Index kDim = 4096;
const char* const kTargets[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                "mlp.down_proj"};

// The benchmark adapter in `dtype`: every module views the same A and B, kept alive with it.
std::shared_ptr<const lorakit::Adapter> bench_adapter(lorakit::DType dtype) {
  lorakit::detail::TensorStore store;
  std::vector<float> a(static_cast<std::size_t>(kDim * kRank));
  std::vector<float> b(static_cast<std::size_t>(kRank * kDim));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 97) * 1e-3f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 89) * -1e-3f;
  const auto size = static_cast<std::size_t>(lorakit::size_of(dtype));
  auto a_bytes = std::make_shared<std::vector<std::byte>>(a.size() * size);
  auto b_bytes = std::make_shared<std::vector<std::byte>>(b.size() * size);
  lorakit::io::encode_floats(dtype, a.data(), a.size(), a_bytes->data());
  lorakit::io::encode_floats(dtype, b.data(), b.size(), b_bytes->data());
  store.keep(a_bytes);
  store.keep(b_bytes);
  std::map<std::string, lorakit::AdapterModule> modules;
  for (Index l = 0; l < kLayers; ++l) {
    for (const char* t : kTargets) {
      lorakit::AdapterModule m;
      m.rank = kRank;
      m.alpha = 32.0f;
      m.a = store.make(dtype, kDim, kRank, *a_bytes, false, false);
      m.b = store.make(dtype, kRank, kDim, *b_bytes, false, false);
      modules.emplace("model.layers." + std::to_string(l) + "." + t, std::move(m));
    }
  }
  lorakit::AdapterInfo info;
  info.name = "bench";
  info.rank = kRank;
  info.alpha = 32.0f;
  return std::make_shared<const lorakit::Adapter>(
      info, std::move(modules), std::map<std::string, lorakit::AdapterTensor>{}, store.release());
}

// Writes the benchmark adapter once per dtype: PEFT and mlx-lm directories under the temp dir.
fs::path adapter_dir(lorakit::DType dtype) {
  static std::map<lorakit::DType, fs::path> made;
  if (auto it = made.find(dtype); it != made.end()) return it->second;
  const fs::path root =
      fs::temp_directory_path() / ("lorakit-bench-io-" + std::string(lorakit::to_string(dtype)));
  const auto adapter = bench_adapter(dtype);
  lorakit::io::save_peft(*adapter, root / "peft");
  lorakit::io::save_mlx(*adapter, root / "mlx");
  made[dtype] = root;
  return root;
}

const char* name_of(GgufOutType type) {
  switch (type) {
    case GgufOutType::f32: return "f32";
    case GgufOutType::f16: return "f16";
    case GgufOutType::bf16: return "bf16";
    case GgufOutType::q8_0: return "q8_0";
  }
  return "?";
}

// Writes the f32 benchmark adapter once per out type as a llama.cpp GGUF adapter (llama, 32
// heads, so Q/K lora_b rows are in llama.cpp's rotary order). Q8_0: lora_a is Q8_0, lora_b
// (ne[0] = r = 16, not a multiple of 32) falls back to F16, as llama.cpp's converter does.
fs::path gguf_file(GgufOutType type) {
  static std::map<GgufOutType, fs::path> made;
  if (auto it = made.find(type); it != made.end()) return it->second;
  const fs::path root = fs::temp_directory_path() / "lorakit-bench-io-gguf";
  fs::create_directories(root);
  const fs::path file = root / ("adapter-" + std::string(name_of(type)) + ".gguf");
  lorakit::io::GgufSaveOptions options;
  options.architecture = "llama";
  options.out_type = type;
  options.n_head = 32;
  options.n_head_kv = 32;
  lorakit::io::save_gguf(*bench_adapter(lorakit::DType::f32), file, options);
  made[type] = file;
  return file;
}

// Minor page faults of the process so far: first touches of fresh memory and of mapped pages.
double minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_minflt);
}

// Untimed, before each iteration of the GGUF rows: returns every free page of the heap to the
// kernel, so that the iteration allocates fresh memory, as a process's first load does. Without
// it, what glibc keeps of earlier frees (its mmap and trim thresholds rise as large blocks are
// freed) serves later allocations already touched, and a row's time depended on the rows run
// before it: read() of the 58.8 MB f16 file took 4 ms after the f32 rows and 33 ms alone, and
// load_gguf of the f32 file faulted 159 pages per iteration where read() faulted 28,680.
// malloc_trim alone did not always do it (read() of the q8_0 file faulted 38 pages after the
// f16 rows), so the first call also fixes glibc's mmap threshold at 1 MiB, which stops it
// rising: every block of 1 MiB or more is then mapped fresh and unmapped when freed.
void fresh_heap(benchmark::State& state) {
  state.PauseTiming();
#ifdef __GLIBC__
  static const bool fixed_threshold = ::mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1;
  benchmark::DoNotOptimize(fixed_threshold);
  ::malloc_trim(0);
#endif
  state.ResumeTiming();
}

// The page faults per iteration since `start`, as the counter "faults".
void count_faults(benchmark::State& state, double start) {
  state.counters["faults"] =
      benchmark::Counter(minor_faults() - start, benchmark::Counter::kAvgIterations);
}

// read(2) of the whole file into a freshly allocated buffer.
// read(2) of the whole file into a fresh anonymous mapping, unmapped afterwards, so that every
// call faults its pages in whatever ran before: in 4 KiB pages as unadvised memory gets, or
// (`huge`) advised for transparent huge pages as TensorStore's buffers are.
bool read_fresh(const fs::path& file, std::size_t size, bool huge) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  if (huge) ::madvise(p, size, MADV_HUGEPAGE);
  auto* buffer = static_cast<std::byte*>(p);
  const int fd = ::open(file.c_str(), O_RDONLY);
  std::size_t done = 0;
  while (fd >= 0 && done < size) {
    const ssize_t got = ::read(fd, buffer + done, size - done);
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  if (fd >= 0) ::close(fd);
  benchmark::DoNotOptimize(buffer);
  ::munmap(p, size);
  return done == size;
}

void BM_ReadRaw(benchmark::State& state, lorakit::DType dtype, const char* which) {
  const fs::path file = adapter_dir(dtype) / which;
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  const double faults = minor_faults();
  for (auto _ : state) {
    if (!read_fresh(file, size, false)) {
      state.SkipWithError("read failed");
      break;
    }
  }
  count_faults(state, faults);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void BM_LoadPeft(benchmark::State& state, lorakit::DType dtype, bool to_f32) {
  const fs::path dir = adapter_dir(dtype) / "peft";
  const auto size = static_cast<std::size_t>(fs::file_size(dir / "adapter_model.safetensors"));
  lorakit::io::LoadOptions options;
  options.convert_to_f32 = to_f32;
  const double faults = minor_faults();
  for (auto _ : state) {
    fresh_heap(state);
    auto adapter = lorakit::io::load_peft(dir, options);
    benchmark::DoNotOptimize(adapter.get());
  }
  count_faults(state, faults);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void BM_LoadMlx(benchmark::State& state, lorakit::DType dtype) {
  const fs::path dir = adapter_dir(dtype) / "mlx";
  const auto size = static_cast<std::size_t>(fs::file_size(dir / "adapters.safetensors"));
  lorakit::io::LoadOptions options;
  options.convert_to_f32 = false;
  const double faults = minor_faults();
  for (auto _ : state) {
    fresh_heap(state);
    auto adapter = lorakit::io::load_mlx(dir, options);
    benchmark::DoNotOptimize(adapter.get());
  }
  count_faults(state, faults);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void BM_ReadRawGguf(benchmark::State& state, GgufOutType type, bool huge) {
  const fs::path file = gguf_file(type);
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  const double faults = minor_faults();
  for (auto _ : state) {
    if (!read_fresh(file, size, huge)) {
      state.SkipWithError("read failed");
      break;
    }
  }
  count_faults(state, faults);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// FileBytes::read: the library's read path (std::ifstream, 64 KiB chunks appended to a vector).
void BM_FileBytesRead(benchmark::State& state, GgufOutType type) {
  const fs::path file = gguf_file(type);
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  const double faults = minor_faults();
  for (auto _ : state) {
    fresh_heap(state);
    auto bytes = lorakit::io::FileBytes::read(file);
    benchmark::DoNotOptimize(bytes->bytes().data());
  }
  count_faults(state, faults);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

// io::load_gguf: map, parse, validate, finite check, transpose lora_a / lora_b into owned
// buffers (F16 decoded, Q8_0 dequantised first; BaseLayout::hf also un-permutes Q/K rows).
void BM_LoadGguf(benchmark::State& state, GgufOutType type, BaseLayout layout, bool to_f32) {
  const fs::path file = gguf_file(type);
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  lorakit::io::LoadOptions options;
  options.base_layout = layout;
  options.n_head = 32;
  options.n_head_kv = 32;
  options.convert_to_f32 = to_f32;
  const double faults = minor_faults();
  for (auto _ : state) {
    fresh_heap(state);
    auto adapter = lorakit::io::load_gguf(file, options);
    benchmark::DoNotOptimize(adapter.get());
  }
  count_faults(state, faults);
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
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_f32, GgufOutType::f32, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_f32_huge_pages, GgufOutType::f32, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_FileBytesRead, gguf_f32, GgufOutType::f32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadGguf, f32_llama_cpp, GgufOutType::f32, BaseLayout::llama_cpp, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadGguf, f32_hf, GgufOutType::f32, BaseLayout::hf, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_f16, GgufOutType::f16, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_f16_huge_pages, GgufOutType::f16, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_FileBytesRead, gguf_f16, GgufOutType::f16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadGguf, f16_llama_cpp, GgufOutType::f16, BaseLayout::llama_cpp, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadGguf, f16_kept_llama_cpp, GgufOutType::f16, BaseLayout::llama_cpp, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_q8_0, GgufOutType::q8_0, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ReadRawGguf, gguf_q8_0_huge_pages, GgufOutType::q8_0, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_FileBytesRead, gguf_q8_0, GgufOutType::q8_0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_LoadGguf, q8_0_llama_cpp, GgufOutType::q8_0, BaseLayout::llama_cpp, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
