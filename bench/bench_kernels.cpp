// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The low-rank update y[n,out] += s * (x[n,in] * A[in,r]) * B[r,out], three ways, same shapes:
//   simd   - lorakit::kernels::SimdKernel<xsimd::default_arch> (project, then expand)
//   eigen  - Eigen 3.4: t.noalias() = x * A; y.noalias() += s * t * B (row-major maps)
//   scalar - lorakit::kernels::ScalarKernel, the oracle (only n <= 8: it is slow on purpose)
// warm: the same adapter every iteration; cold: a ring of adapter copies totalling 256 MiB
// (far beyond the last-level cache), one per iteration.
// Counters: FLOPS = 2*n*r*(in+out) per second; bytes_per_second = adapter bytes per second;
// x_eigen = Eigen's time / this time, both measured in this run (simd rows only).
//
//   cmake --preset bench && cmake --build --preset bench
//   build/bench/bench/bench_kernels --benchmark_repetitions=3
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <chrono>
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

enum class Impl { simd, eigen, scalar };

// Adapter copies (A, B pairs) to cycle through: one for warm runs, enough for 256 MiB cold.
struct Adapters {
  std::vector<RowMatrix> a, b;
  Adapters(Index in, Index out, Index r, bool cold) {
    const std::size_t bytes = static_cast<std::size_t>(r * (in + out)) * sizeof(float);
    const std::size_t copies = cold ? std::max<std::size_t>(2, kColdBytes / bytes) : 1;
    for (std::size_t c = 0; c < copies; ++c) {
      a.push_back(RowMatrix::Random(in, r) * 0.1f);
      b.push_back(RowMatrix::Random(r, out) * 0.1f);
    }
  }
};

using Shape = std::tuple<Index, Index, Index, Index, bool>;
std::map<Shape, double>& eigen_seconds() {
  static std::map<Shape, double> m;
  return m;
}

void BM_LowRank(benchmark::State& state, Impl impl, bool cold) {
  const Index n = state.range(0);
  const Index in = state.range(1);
  const Index out = state.range(2);
  const Index r = state.range(3);
  const Adapters ad(in, out, r, cold);
  const RowMatrix x = RowMatrix::Random(n, in);
  RowMatrix t(n, r);
  RowMatrix y = RowMatrix::Zero(n, out);
  const float s = 0.5f;
  std::size_t k = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const RowMatrix& a = ad.a[k];
    const RowMatrix& b = ad.b[k];
    k = k + 1 == ad.a.size() ? 0 : k + 1;
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
          for (Impl impl : {Impl::eigen, Impl::simd, Impl::scalar}) {
            if (impl == Impl::scalar && n > 8) continue;
            const char* name = impl == Impl::simd    ? "simd"
                               : impl == Impl::eigen ? "eigen"
                                                     : "scalar";
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
