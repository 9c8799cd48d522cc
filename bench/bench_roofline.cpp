// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// This machine's single-core limits, so kernel figures can be stated as a fraction of the one
// that applies: the FMA peak (independent xsimd fma chains on the default arch, in registers)
// and the read bandwidth of buffers sized for L1, L2, L3 and DRAM (summing floats with
// independent accumulators).
//
//   build/bench/bench/bench_roofline --benchmark_repetitions=3
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>
#include <xsimd/xsimd.hpp>

namespace {

using Batch = xsimd::batch<float>;

void BM_FmaPeak(benchmark::State& state) {
  constexpr int kChains = 16;  // enough independent chains to cover the FMA latency
  constexpr int kSteps = 1024;
  Batch acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Batch(static_cast<float>(c) * 1e-3f);
  const Batch m(0.999999f);
  const Batch a(1e-7f);
  for (auto _ : state) {
    for (int s = 0; s < kSteps; ++s) {
      for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], m, a);
    }
    for (int c = 0; c < kChains; ++c) benchmark::DoNotOptimize(acc[c]);
  }
  state.counters["FLOPS"] = benchmark::Counter(
      2.0 * kChains * kSteps * static_cast<double>(Batch::size),
      benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_ReadBandwidth(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::vector<float> data(bytes / sizeof(float), 1.0f);
  constexpr std::size_t kAcc = 8;
  const std::size_t step = Batch::size;
  for (auto _ : state) {
    Batch acc[kAcc];
    for (auto& v : acc) v = Batch(0.0f);
    const float* p = data.data();
    const std::size_t n = data.size();
    for (std::size_t i = 0; i + kAcc * step <= n; i += kAcc * step) {
      for (std::size_t k = 0; k < kAcc; ++k) acc[k] += Batch::load_unaligned(p + i + k * step);
    }
    for (auto& v : acc) benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}

}  // namespace

BENCHMARK(BM_FmaPeak);
// L1 (48 KiB): 32 KiB; L2 (1 MiB): 512 KiB; L3: 8 MiB; DRAM: 1 GiB.
BENCHMARK(BM_ReadBandwidth)->Arg(32 << 10)->Arg(512 << 10)->Arg(8 << 20)->Arg(1 << 30);
BENCHMARK_MAIN();
