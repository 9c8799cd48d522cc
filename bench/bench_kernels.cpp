// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The low-rank update y[n,out] += s * (x[n,in] * A[in,r]) * B[r,out], three ways, same shapes:
//   simd   - lorakit::kernels::SimdKernel<xsimd::default_arch> (project, then expand)
//   eigen  - Eigen 3.4: t.noalias() = x * A; y.noalias() += s * t * B (row-major maps)
//   scalar - lorakit::kernels::ScalarKernel, the oracle (only n <= 8: it is slow on purpose)
// warm: the same adapter every iteration; cold: a ring of adapter copies totalling 256 MiB
// (far beyond the last-level cache), one per iteration.
// Counters: FLOPS = 2*n*r*(in+out) per second; bytes_per_second = adapter bytes per second;
// x_eigen = Eigen's time / this time, both measured in this run (simd rows only);
// simd_bf16 / simd_f16 (n = 1): A and B stored as 16-bit values, widened in registers;
// x_f32 = the f32 simd time of the same shape / this time.
//
//   cmake --preset bench && cmake --build --preset bench
//   build/bench/bench/bench_kernels --benchmark_repetitions=3
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"

namespace {

using lorakit::Index;
using lorakit::RowMatrix;
using Simd = lorakit::kernels::SimdKernel<>;
using Scalar = lorakit::kernels::ScalarKernel;

constexpr std::size_t kColdBytes = std::size_t{256} << 20;

enum class Impl { simd, eigen, scalar, simd_bf16, simd_f16 };

// Adapter copies (A, B pairs) to cycle through: one for warm runs, enough for 256 MiB cold.
// Stored as f32 (a, b), or as 16-bit values (a16, b16) for the bf16 / f16 rows.
struct Adapters {
  std::vector<RowMatrix> a, b;
  std::vector<std::vector<std::uint16_t>> a16, b16;
  Adapters(Index in, Index out, Index r, bool cold, int element_bytes) {
    const std::size_t bytes = static_cast<std::size_t>(r * (in + out) * element_bytes);
    const std::size_t copies = cold ? std::max<std::size_t>(2, kColdBytes / bytes) : 1;
    for (std::size_t c = 0; c < copies; ++c) {
      if (element_bytes == 4) {
        // Cheap deterministic fill (filling 256 MiB with Random() takes seconds).
        a.push_back(RowMatrix::Constant(in, r, 0.01f * static_cast<float>(c % 7)));
        b.push_back(RowMatrix::Constant(r, out, -0.01f * static_cast<float>(c % 5)));
      } else {
        // 0x3c00 is 1.0 in f16 and ~1.9 in bf16: the values do not matter for the timing.
        a16.emplace_back(static_cast<std::size_t>(in * r), std::uint16_t{0x3c00});
        b16.emplace_back(static_cast<std::size_t>(r * out), std::uint16_t{0x3c00});
      }
    }
  }
  std::size_t size() const { return a.empty() ? a16.size() : a.size(); }
};

template <class T>
lorakit::WeightView<T> view16(const std::vector<std::uint16_t>& v, Index rows, Index cols) {
  return lorakit::weight_view(reinterpret_cast<const T*>(v.data()), rows, cols, cols);
}

using Shape = std::tuple<Index, Index, Index, Index, bool>;
std::map<Shape, double>& eigen_seconds() {
  static std::map<Shape, double> m;
  return m;
}
std::map<Shape, double>& simd_seconds() {
  static std::map<Shape, double> m;
  return m;
}

void BM_LowRank(benchmark::State& state, Impl impl, bool cold) {
  const Index n = state.range(0);
  const Index in = state.range(1);
  const Index out = state.range(2);
  const Index r = state.range(3);
  const bool half = impl == Impl::simd_bf16 || impl == Impl::simd_f16;
  const Adapters ad(in, out, r, cold, half ? 2 : 4);
  const RowMatrix x = RowMatrix::Random(n, in);
  RowMatrix t(n, r);
  RowMatrix y = RowMatrix::Zero(n, out);
  const float s = 0.5f;
  std::size_t k = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const std::size_t c = k;
    k = k + 1 == ad.size() ? 0 : k + 1;
    if (half) {
      if (impl == Impl::simd_bf16) {
        Simd::project(lorakit::make_cview(x), view16<lorakit::BFloat16>(ad.a16[c], in, r),
                      lorakit::make_view(t));
        Simd::expand(lorakit::make_cview(t), view16<lorakit::BFloat16>(ad.b16[c], r, out), s,
                     lorakit::make_view(y));
      } else {
        Simd::project(lorakit::make_cview(x), view16<lorakit::Float16>(ad.a16[c], in, r),
                      lorakit::make_view(t));
        Simd::expand(lorakit::make_cview(t), view16<lorakit::Float16>(ad.b16[c], r, out), s,
                     lorakit::make_view(y));
      }
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
      continue;
    }
    const RowMatrix& a = ad.a[c];
    const RowMatrix& b = ad.b[c];
    switch (impl) {
      case Impl::simd:
        Simd::project(lorakit::make_cview(x), lorakit::make_cview(a), lorakit::make_view(t));
        Simd::expand(lorakit::make_cview(t), lorakit::make_cview(b), s, lorakit::make_view(y));
        break;
      case Impl::scalar:
        Scalar::project(lorakit::make_cview(x), lorakit::make_cview(a), lorakit::make_view(t));
        Scalar::expand(lorakit::make_cview(t), lorakit::make_cview(b), s, lorakit::make_view(y));
        break;
      case Impl::eigen:
        t.noalias() = x * a;
        y.noalias() += s * t * b;
        break;
      default: break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(state.iterations());
  const Shape key{n, in, out, r, cold};
  if (impl == Impl::eigen) eigen_seconds()[key] = seconds;
  if (impl == Impl::simd && eigen_seconds().count(key) != 0) {
    state.counters["x_eigen"] = eigen_seconds()[key] / seconds;
  }
  if (impl == Impl::simd) simd_seconds()[key] = seconds;
  if (half && simd_seconds().count(key) != 0) {
    state.counters["x_f32"] = simd_seconds()[key] / seconds;  // throughput vs f32 storage
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * static_cast<double>(n * r * (in + out)),
                                               benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1000);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(r * (in + out)) *
                          static_cast<std::int64_t>(sizeof(float)));
}

void register_all() {
  const std::pair<Index, Index> dims[] = {{4096, 4096}, {4096, 14336}, {2048, 2048}};
  for (bool cold : {false, true}) {
    for (const auto& [in, out] : dims) {
      for (Index r : {8, 16, 64}) {
        for (Index n : {1, 8, 64, 512}) {
          const std::string suffix = cold ? "/cold" : "/warm";
          // Eigen first: the simd row of the same shape reads Eigen's time for x_eigen.
          for (Impl impl :
               {Impl::eigen, Impl::simd, Impl::scalar, Impl::simd_bf16, Impl::simd_f16}) {
            if (impl == Impl::scalar && n > 8) continue;
            if ((impl == Impl::simd_bf16 || impl == Impl::simd_f16) && n > 1) continue;
            const char* names[] = {"simd", "eigen", "scalar", "simd_bf16", "simd_f16"};
            const char* name = names[static_cast<int>(impl)];
            benchmark::RegisterBenchmark(("BM_LowRank/" + std::string(name) + suffix).c_str(),
                                         BM_LowRank, impl, cold)
                ->Args({n, in, out, r})
                ->ArgNames({"n", "in", "out", "r"})
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
