// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRALinear::forward with the adapter on, toggled off, and the bare DenseLinear base, so the
// LoRA overhead and the cost of the off switch can be read side by side. Code path: DenseLinear
// (lorakit's reference base) + LoRA on DefaultKernel.
//
//   cmake --preset bench && cmake --build --preset bench && build/bench/bench/bench_layer
#include <benchmark/benchmark.h>

#include <memory>

#include "lorakit/lorakit.hpp"

namespace {

using lorakit::Index;
using lorakit::RowMatrix;
using Layer = lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA>;

enum class Mode { base, lora_off, lora_on };

struct Setup {
  RowMatrix w, x, y, a, b;
  Setup(Index n, Index d, Index r)
      : w(RowMatrix::Random(d, d)),
        x(RowMatrix::Random(n, d)),
        y(n, d),
        a(RowMatrix::Random(d, r)),
        b(RowMatrix::Random(r, d)) {}
};

void BM_Layer(benchmark::State& state, Mode mode) {
  const Index n = state.range(0);
  const Index d = state.range(1);
  const Index r = state.range(2);
  Setup s(n, d, r);
  const lorakit::DenseLinear<const float> base(static_cast<const RowMatrix&>(s.w).data(), d, d);
  Layer layer(base);
  layer.attach("a",
               {lorakit::make_view(static_cast<const RowMatrix&>(s.a)),
                lorakit::make_view(static_cast<const RowMatrix&>(s.b))},
               {.rank = r, .alpha = static_cast<float>(r)});
  layer.set_enabled(mode == Mode::lora_on);
  lorakit::Workspace ws(layer.workspace_floats(n));
  const auto x = lorakit::make_view(static_cast<const RowMatrix&>(s.x));
  auto y = lorakit::make_view(s.y);
  for (auto _ : state) {
    if (mode == Mode::base) {
      base.forward(x, y);
    } else {
      layer.forward(x, y, ws);
    }
    benchmark::DoNotOptimize(s.y.data());
    benchmark::ClobberMemory();
  }
  const double base_flops = 2.0 * static_cast<double>(n * d * d);
  const double lora_flops = mode == Mode::lora_on ? 2.0 * static_cast<double>(n * r * 2 * d) : 0.0;
  state.counters["FLOPS"] =
      benchmark::Counter(base_flops + lora_flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.counters["theory_overhead_pct"] =
      100.0 * static_cast<double>(r * 2 * d) / static_cast<double>(d * d);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (Index n : {1, 16}) {
    for (Index r : {8, 16}) b->Args({n, 2048, r});
  }
}

}  // namespace

BENCHMARK_CAPTURE(BM_Layer, base, Mode::base)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Layer, lora_off, Mode::lora_off)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Layer, lora_on, Mode::lora_on)->Apply(shapes);
BENCHMARK_MAIN();
