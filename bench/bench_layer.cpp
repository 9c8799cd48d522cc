// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// LoRALinear::forward with the adapter on, toggled off, and the bare base, for two bases:
//   dense - lorakit::DenseLinear (the reference base: fixed-order dot products, no blocking)
//   eigen - a FunctionLinear calling Eigen's GEMM (y = x * W, W stored [in, out]), the speed of
//           a tuned engine's own matmul, against which the LoRA overhead is larger
//
// BM_Layer/{base,lora_off,lora_on}: each mode timed on its own (throughput figures).
// BM_Overhead: the three calls interleaved in one loop, in an order that rotates every iteration,
// each call timed separately, so drift, noise and cache state hit all three alike; the
// counters are medians over the iterations of
//   off_pct    = 100 * (off - base) / base    (the cost of the toggle when off; goal < 1%)
//   on_pct     = 100 * (on - base) / base     (the LoRA overhead)
//   theory_pct = 100 * r * (in + out) / (in * out)   (its FLOP ratio)
// LoRA runs on DefaultKernel.
//
// BM_Int8VsDense/{dense,int8}/{base,lora_on}: lorakit::Int8Linear (int8 weights quantized from
// the same random W, per-row f32 scales, widened to f32 in registers) against DenseLinear, the
// bare base and LoRALinear with one adapter on it; 4096 x 4096, r = 16, n = 1 and 64. FLOPS
// counts 2 per multiply-add of the base (and of the adapter when on); weight_bytes is what
// the base reads of its weights per call (int8 values and scales, or f32 W).
//
//   cmake --preset bench && cmake --build --preset bench
//   build/bench/bench/bench_layer --benchmark_filter=Overhead --benchmark_min_time=2
//   build/bench/bench/bench_layer --benchmark_filter=Int8VsDense --benchmark_repetitions=5
//       (and --benchmark_report_aggregates_only=true for the medians alone)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "lorakit/lorakit.hpp"

namespace {

using lorakit::Index;
using lorakit::RowMatrix;

enum class Mode { base, lora_off, lora_on };

struct EigenGemm {
  const RowMatrix* w;  // [in, out]
  void operator()(lorakit::ConstMatrixView x, lorakit::MatrixView y) const noexcept {
    y.noalias() = x * *w;
  }
};
using Dense = lorakit::DenseLinear<const float>;
using Gemm = lorakit::FunctionLinear<EigenGemm>;

Dense make_base(const RowMatrix& w, Dense*) { return Dense(w.data(), w.cols(), w.rows()); }
Gemm make_base(const RowMatrix& w, Gemm*) { return Gemm(EigenGemm{&w}, w.cols(), w.rows()); }

// A d x d layer with one rank-r adapter, inputs of n rows.
template <class Base>
struct Setup {
  RowMatrix w, x, y, a, b;
  Base base;
  lorakit::LoRALinear<Base, lorakit::LoRA> layer;
  lorakit::Workspace ws;
  Setup(Index n, Index d, Index r)
      : w(RowMatrix::Random(d, d)),
        x(RowMatrix::Random(n, d)),
        y(n, d),
        a(RowMatrix::Random(d, r)),
        b(RowMatrix::Random(r, d)),
        base(make_base(w, static_cast<Base*>(nullptr))),
        layer(base),
        ws(layer.workspace_floats(n)) {
    layer.attach("a",
                 {lorakit::make_view(static_cast<const RowMatrix&>(a)),
                  lorakit::make_view(static_cast<const RowMatrix&>(b))},
                 {.rank = r, .alpha = static_cast<float>(r)});
  }
  void run(Mode mode) {
    const auto xv = lorakit::make_view(static_cast<const RowMatrix&>(x));
    auto yv = lorakit::make_view(y);
    if (mode == Mode::base) {
      base.forward(xv, yv);
    } else {
      layer.set_enabled(mode == Mode::lora_on);
      layer.forward(xv, yv, ws);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
};

double theory_pct(Index d, Index r) {
  return 100.0 * static_cast<double>(r * 2 * d) / static_cast<double>(d * d);
}

template <class Base>
void BM_Layer(benchmark::State& state, Mode mode) {
  const Index n = state.range(0);
  const Index d = state.range(1);
  const Index r = state.range(2);
  Setup<Base> s(n, d, r);
  for (auto _ : state) s.run(mode);
  const double base_flops = 2.0 * static_cast<double>(n * d * d);
  const double lora_flops = mode == Mode::lora_on ? 2.0 * static_cast<double>(n * r * 2 * d) : 0.0;
  state.counters["FLOPS"] =
      benchmark::Counter(base_flops + lora_flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.counters["theory_pct"] = theory_pct(d, r);
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

template <class Base>
void BM_Overhead(benchmark::State& state) {
  const Index n = state.range(0);
  const Index d = state.range(1);
  const Index r = state.range(2);
  Setup<Base> s(n, d, r);
  std::vector<double> off_pct, on_pct;
  using Clock = std::chrono::steady_clock;
  int rotation = 0;
  for (auto _ : state) {
    double t[3];
    for (int k = 0; k < 3; ++k) {
      const auto mode = static_cast<Mode>((k + rotation) % 3);
      const auto start = Clock::now();
      s.run(mode);
      t[static_cast<int>(mode)] = std::chrono::duration<double>(Clock::now() - start).count();
    }
    rotation = (rotation + 1) % 3;
    off_pct.push_back(100.0 * (t[1] - t[0]) / t[0]);
    on_pct.push_back(100.0 * (t[2] - t[0]) / t[0]);
  }
  state.counters["off_pct"] = median(off_pct);
  state.counters["on_pct"] = median(on_pct);
  state.counters["theory_pct"] = theory_pct(d, r);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (Index n : {1, 16}) {
    for (Index r : {8, 16, 64}) b->Args({n, 2048, r});
  }
  b->ArgNames({"n", "d", "r"})->Unit(benchmark::kMicrosecond);
}

template <class Base>
void register_base(const std::string& base) {
  const std::pair<const char*, Mode> modes[] = {
      {"base", Mode::base}, {"lora_off", Mode::lora_off}, {"lora_on", Mode::lora_on}};
  for (const auto& [name, mode] : modes) {
    benchmark::RegisterBenchmark(("BM_Layer/" + base + "/" + name).c_str(), BM_Layer<Base>, mode)
        ->Apply(shapes);
  }
  benchmark::RegisterBenchmark(("BM_Overhead/" + base).c_str(), BM_Overhead<Base>)->Apply(shapes);
}

// The variants' cost: one 4096 -> 4096 layer (an Eigen GEMM base that also gives its weights,
// as DoRA needs) with one adapter of each variant on its own layer, rank 16 where there is a
// rank. Each iteration runs the bare base, LoRA, DoRA, IA3 (output) and IA3Input in an order
// that rotates, each call timed alone; the counters are the medians (µs) and their ratios.
//   build/bench/bench/bench_layer --benchmark_filter=Variants --benchmark_min_time=2
struct ReadableGemm {
  const RowMatrix* w;  // W:(out, in)
  [[nodiscard]] Index in_features() const noexcept { return w->cols(); }
  [[nodiscard]] Index out_features() const noexcept { return w->rows(); }
  void forward(lorakit::ConstMatrixView x, lorakit::MatrixView y) const noexcept {
    y.noalias() = x * w->transpose();
  }
  [[nodiscard]] lorakit::ConstMatrixView weight_view() const noexcept {
    return lorakit::make_view(*w);
  }
  [[nodiscard]] lorakit::WeightLayout layout() const noexcept {
    return lorakit::WeightLayout::out_in;
  }
};

void BM_Variants(benchmark::State& state) {
  const Index n = state.range(0);
  const Index d = state.range(1);
  const Index r = state.range(2);
  const RowMatrix w = RowMatrix::Random(d, d);
  const RowMatrix x = RowMatrix::Random(n, d);
  RowMatrix y(n, d);
  const RowMatrix a = RowMatrix::Random(d, r);
  const RowMatrix b = RowMatrix::Random(r, d);
  const RowMatrix m = RowMatrix::Constant(1, d, 1.0f) + 0.1f * RowMatrix::Random(1, d);
  const RowMatrix l = RowMatrix::Constant(1, d, 1.0f) + 0.1f * RowMatrix::Random(1, d);
  const ReadableGemm base{&w};
  const lorakit::LoRA::Params params{.rank = r, .alpha = static_cast<float>(r)};
  lorakit::LoRALinear<ReadableGemm, lorakit::LoRA> lora(base);
  lora.attach("a", {lorakit::make_view(a), lorakit::make_view(b)}, params);
  lorakit::LoRALinear<ReadableGemm, lorakit::DoRA> dora(base);
  dora.attach(
      "a",
      lorakit::DoRA::bind({lorakit::make_view(a), lorakit::make_view(b), lorakit::make_view(m)}),
      params);
  lorakit::LoRALinear<ReadableGemm, lorakit::IA3> ia3(base);
  ia3.attach("a", lorakit::IA3::bind({lorakit::make_view(l)}), {});
  lorakit::LoRALinear<ReadableGemm, lorakit::IA3Input> ia3_in(base);
  ia3_in.attach("a", lorakit::IA3Input::bind({lorakit::make_view(l)}), {});
  lorakit::Workspace ws(std::max(lora.workspace_floats(n), ia3_in.workspace_floats(n)));

  const auto xv = lorakit::make_view(x);
  auto yv = lorakit::make_view(y);
  auto call = [&](int k) {
    switch (k) {
      case 0: base.forward(xv, yv); break;
      case 1: lora.forward(xv, yv, ws); break;
      case 2: dora.forward(xv, yv, ws); break;
      case 3: ia3.forward(xv, yv, ws); break;
      default: ia3_in.forward(xv, yv, ws); break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  };
  std::vector<double> times[5];
  using Clock = std::chrono::steady_clock;
  int rotation = 0;
  for (auto _ : state) {
    for (int j = 0; j < 5; ++j) {
      const int k = (j + rotation) % 5;
      const auto start = Clock::now();
      call(k);
      times[k].push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    rotation = (rotation + 1) % 5;
  }
  const char* names[] = {"base_us", "lora_us", "dora_us", "ia3_us", "ia3_in_us"};
  double med[5];
  for (int k = 0; k < 5; ++k) {
    med[k] = median(times[k]);
    state.counters[names[k]] = med[k];
  }
  state.counters["dora_vs_lora"] = med[2] / med[1];
  state.counters["dora_vs_base"] = med[2] / med[0];
  state.counters["ia3_vs_base"] = med[3] / med[0];
  state.counters["ia3_in_vs_base"] = med[4] / med[0];
  state.counters["lora_vs_base"] = med[1] / med[0];
}

using Int8 = lorakit::Int8Linear;

// What a base of the comparison keeps beside it: W itself for DenseLinear, only the quantized
// weights for Int8Linear.
template <class Base>
struct BaseStorage;
template <>
struct BaseStorage<Dense> {
  RowMatrix w;
  explicit BaseStorage(RowMatrix m) : w(std::move(m)) {}
  [[nodiscard]] Dense make() const { return Dense(w.data(), w.cols(), w.rows()); }
  [[nodiscard]] double weight_bytes() const { return 4.0 * static_cast<double>(w.size()); }
};
template <>
struct BaseStorage<Int8> {
  lorakit::Int8Weights q;
  explicit BaseStorage(const RowMatrix& w) : q(Int8::quantize(lorakit::make_cview(w))) {}
  [[nodiscard]] Int8 make() const { return Int8(q); }
  [[nodiscard]] double weight_bytes() const {
    return static_cast<double>(q.q.size()) + 4.0 * static_cast<double>(q.scale.size());
  }
};

// A d x d base of either kind with one rank-r adapter, inputs of n rows.
template <class Base>
struct CompareSetup {
  BaseStorage<Base> storage;
  RowMatrix x, y, a, b;
  Base base;
  lorakit::LoRALinear<Base, lorakit::LoRA> layer;
  lorakit::Workspace ws;
  CompareSetup(Index n, Index d, Index r)
      : storage(RowMatrix::Random(d, d)),
        x(RowMatrix::Random(n, d)),
        y(n, d),
        a(RowMatrix::Random(d, r)),
        b(RowMatrix::Random(r, d)),
        base(storage.make()),
        layer(base),
        ws(layer.workspace_floats(n)) {
    layer.attach("a",
                 {lorakit::make_view(static_cast<const RowMatrix&>(a)),
                  lorakit::make_view(static_cast<const RowMatrix&>(b))},
                 {.rank = r, .alpha = static_cast<float>(r)});
  }
  void run(Mode mode) {
    const auto xv = lorakit::make_view(static_cast<const RowMatrix&>(x));
    auto yv = lorakit::make_view(y);
    if (mode == Mode::base) {
      base.forward(xv, yv);
    } else {
      layer.forward(xv, yv, ws);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
};

template <class Base>
void BM_Int8VsDense(benchmark::State& state, Mode mode) {
  const Index n = state.range(0);
  const Index d = state.range(1);
  const Index r = state.range(2);
  CompareSetup<Base> s(n, d, r);
  for (auto _ : state) s.run(mode);
  const double base_flops = 2.0 * static_cast<double>(n * d * d);
  const double lora_flops = mode == Mode::lora_on ? 2.0 * static_cast<double>(n * r * 2 * d) : 0.0;
  state.counters["FLOPS"] =
      benchmark::Counter(base_flops + lora_flops, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.counters["weight_bytes"] = s.storage.weight_bytes();
}

template <class Base>
void register_comparison(const std::string& base) {
  const std::pair<const char*, Mode> modes[] = {{"base", Mode::base}, {"lora_on", Mode::lora_on}};
  for (const auto& [name, mode] : modes) {
    benchmark::RegisterBenchmark(("BM_Int8VsDense/" + base + "/" + name).c_str(),
                                 BM_Int8VsDense<Base>, mode)
        ->Args({1, 4096, 16})
        ->Args({64, 4096, 16})
        ->ArgNames({"n", "d", "r"})
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  register_base<Dense>("dense");
  register_base<Gemm>("eigen");
  benchmark::RegisterBenchmark("BM_Variants", BM_Variants)
      ->Args({1, 4096, 16})
      ->Args({64, 4096, 16})
      ->ArgNames({"n", "d", "r"})
      ->Unit(benchmark::kMicrosecond);
  register_comparison<Dense>("dense");
  register_comparison<Int8>("int8");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
