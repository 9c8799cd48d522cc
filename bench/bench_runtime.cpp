// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The model runtime on a Llama-style model of 32 blocks x 7 linear layers (q, k, v, o: 4096 ->
// 4096 / 1024; gate, up: 4096 -> 14336; down: 14336 -> 4096) with a rank-16 adapter on all 224:
//   BM_Toggle        - Model::set_enabled (every layer at once) and LoRALinear::set_enabled
//   BM_AttachDetach  - attach then detach of an already loaded adapter; counters attach_us and
//                      detach_us are medians over the iterations
//   BM_MixedBatch    - one 4096 -> 4096 layer, 64 rows, rows split among k adapters (r = 16) in
//                      contiguous runs ("runs") or round-robin ("interleaved"); the base is a
//                      no-op so the figure is the adapter path alone; x_single = time with every
//                      row on one adapter (measured in the same run) / this time
//   BM_Bf16Adapter   - one 4096 -> 4096 layer (no-op base) with a rank-16 bf16 adapter
//                      attached as stored ("kept") or widened to f32 first ("converted", as
//                      LoadOptions::convert_to_f32 = true does); forward of n rows, and the
//                      adapter's bytes as Model::list() reports them
//   BM_SharedLayer   - forward of one row through one small layer (64 -> 64, r = 4, no-op
//                      base) from 1 and 2 threads at once: the cost of the read side of hot
//                      swap (what every call pays to see one adapter state) and whether
//                      threads on the same layer slow each other down
// The bases are FunctionLinear no-ops: these benchmarks time the runtime, not a matmul.
//
//   cmake --preset bench && cmake --build --preset bench
//   build/bench/bench/bench_runtime --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lorakit/lorakit.hpp"

namespace {

using lorakit::Index;
using lorakit::RowMatrix;

struct Zero {
  void operator()(lorakit::ConstMatrixView, lorakit::MatrixView y) const noexcept { y.setZero(); }
};
using Base = lorakit::FunctionLinear<Zero>;
using Layer = lorakit::LoRALinear<Base, lorakit::LoRA>;

// An adapter of rank r on the given modules, tensors filled with a constant (values do not
// matter for timing; filling 170 MB with random numbers would dominate the setup).
std::shared_ptr<const lorakit::Adapter> constant_adapter(
    const std::string& name, const std::vector<std::tuple<std::string, Index, Index>>& modules,
    Index r, float value) {
  auto storage = std::make_shared<std::vector<RowMatrix>>();
  storage->reserve(2 * modules.size());
  std::map<std::string, lorakit::AdapterModule> out;
  auto tensor = [](const RowMatrix& m) {
    return lorakit::AdapterTensor{lorakit::DType::f32,
                                  lorakit::Shape{m.rows(), m.cols()},
                                  {reinterpret_cast<const std::byte*>(m.data()),
                                   static_cast<std::size_t>(m.size()) * sizeof(float)}};
  };
  for (const auto& [module, in, o] : modules) {
    lorakit::AdapterModule m;
    m.a = tensor(storage->emplace_back(RowMatrix::Constant(in, r, value)));
    m.b = tensor(storage->emplace_back(RowMatrix::Constant(r, o, value)));
    m.rank = r;
    m.alpha = static_cast<float>(2 * r);
    out.emplace(module, std::move(m));
  }
  lorakit::AdapterInfo info;
  info.name = name;
  info.rank = r;
  info.alpha = static_cast<float>(2 * r);
  return std::make_shared<const lorakit::Adapter>(
      info, std::move(out), std::map<std::string, lorakit::AdapterTensor>{},
      std::vector<std::shared_ptr<const void>>{storage});
}

// 32 blocks x 7 layers, registered with a Model.
struct LlamaModel {
  std::vector<std::tuple<std::string, Index, Index>> modules;
  std::vector<std::unique_ptr<Layer>> layers;
  lorakit::Model model;
  LlamaModel() {
    const std::pair<const char*, std::pair<Index, Index>> shapes[] = {
        {"self_attn.q_proj", {4096, 4096}}, {"self_attn.k_proj", {4096, 1024}},
        {"self_attn.v_proj", {4096, 1024}}, {"self_attn.o_proj", {4096, 4096}},
        {"mlp.gate_proj", {4096, 14336}},   {"mlp.up_proj", {4096, 14336}},
        {"mlp.down_proj", {14336, 4096}}};
    for (int b = 0; b < 32; ++b) {
      for (const auto& [suffix, io] : shapes) {
        const std::string name = "model.layers." + std::to_string(b) + "." + suffix;
        modules.emplace_back(name, io.first, io.second);
        layers.push_back(std::make_unique<Layer>(Base(Zero{}, io.first, io.second)));
        model.add(name, *layers.back());
      }
    }
  }
};

LlamaModel& llama() {
  static LlamaModel m;
  return m;
}

void BM_Toggle(benchmark::State& state) {
  LlamaModel& m = llama();
  const bool model_wide = state.range(0) == 1;
  bool on = false;
  for (auto _ : state) {
    if (model_wide) {
      m.model.set_enabled(on);
    } else {
      m.layers[0]->set_enabled(on);
    }
    on = !on;
    benchmark::ClobberMemory();
  }
  m.model.set_enabled(true);
  m.layers[0]->set_enabled(true);
  state.SetLabel(model_wide ? "Model::set_enabled (224 layers)" : "LoRALinear::set_enabled");
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void BM_AttachDetach(benchmark::State& state) {
  LlamaModel& m = llama();
  static const auto adapter = constant_adapter("user", m.modules, 16, 0.01f);
  std::vector<double> attach_us, detach_us;
  using Clock = std::chrono::steady_clock;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    m.model.attach(adapter);
    const auto t1 = Clock::now();
    m.model.detach("user");
    const auto t2 = Clock::now();
    attach_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    detach_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  state.counters["attach_us"] = median(attach_us);
  state.counters["detach_us"] = median(detach_us);
  state.counters["modules"] = static_cast<double>(m.modules.size());
}

std::map<std::pair<int, int>, double>& single_seconds() {
  static std::map<std::pair<int, int>, double> s;
  return s;
}

void BM_MixedBatch(benchmark::State& state) {
  const Index n = 64;
  const Index d = 4096;
  const int k = static_cast<int>(state.range(0));
  const bool interleaved = state.range(1) == 1;
  Layer layer(Base(Zero{}, d, d));
  lorakit::Model model;
  model.add("layer", layer);
  std::vector<lorakit::AdapterId> ids;
  for (int a = 0; a < std::max(k, 1); ++a) {
    ids.push_back(model.attach(constant_adapter("a" + std::to_string(a), {{"layer", d, d}}, 16,
                                                0.01f * static_cast<float>(a + 1))));
  }
  std::vector<lorakit::AdapterId> rows(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const Index which = interleaved ? i % k : i * k / n;
    rows[static_cast<std::size_t>(i)] = ids[static_cast<std::size_t>(which)];
  }
  const RowMatrix x = RowMatrix::Constant(n, d, 0.5f);
  RowMatrix y(n, d);
  lorakit::Workspace ws(layer.workspace_floats(n));
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws, rows);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(state.iterations());
  if (k == 1) single_seconds()[{0, 0}] = seconds;
  if (single_seconds().count({0, 0}) != 0) {
    state.counters["x_single"] = single_seconds()[{0, 0}] / seconds;
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// A rank-r adapter on one d x d module whose tensors are bf16 (kept) or their exact f32
// widening (converted).
std::shared_ptr<const lorakit::Adapter> bf16_adapter(Index d, Index r, bool converted) {
  auto bits = std::make_shared<std::vector<std::uint16_t>>();
  auto floats = std::make_shared<std::vector<float>>();
  const std::size_t n = static_cast<std::size_t>(d * r);
  for (std::size_t i = 0; i < 2 * n; ++i) {
    const auto b =
        lorakit::BFloat16::from_float(0.01f * static_cast<float>(static_cast<int>(i % 17) - 8));
    bits->push_back(b.bits);
    floats->push_back(b.to_float());
  }
  auto tensor = [&](std::size_t offset, lorakit::Shape shape) {
    if (converted) {
      return lorakit::AdapterTensor{
          lorakit::DType::f32, shape,
          std::as_bytes(std::span<const float>(floats->data() + offset, n))};
    }
    return lorakit::AdapterTensor{
        lorakit::DType::bf16, shape,
        std::as_bytes(std::span<const std::uint16_t>(bits->data() + offset, n))};
  };
  lorakit::AdapterModule m;
  m.a = tensor(0, lorakit::Shape{d, r});
  m.b = tensor(n, lorakit::Shape{r, d});
  m.rank = r;
  m.alpha = static_cast<float>(2 * r);
  lorakit::AdapterInfo info;
  info.name = converted ? "converted" : "kept";
  info.rank = r;
  info.alpha = m.alpha;
  std::shared_ptr<const void> owner =
      converted ? std::shared_ptr<const void>(floats) : std::shared_ptr<const void>(bits);
  return std::make_shared<const lorakit::Adapter>(
      info, std::map<std::string, lorakit::AdapterModule>{{"layer", m}},
      std::map<std::string, lorakit::AdapterTensor>{},
      std::vector<std::shared_ptr<const void>>{owner});
}

void BM_Bf16Adapter(benchmark::State& state) {
  const Index d = 4096;
  const Index n = state.range(1);
  const bool converted = state.range(0) == 1;
  Layer layer(Base(Zero{}, d, d));
  lorakit::Model model;
  model.add("layer", layer);
  model.attach(bf16_adapter(d, 16, converted));
  const RowMatrix x = RowMatrix::Constant(n, d, 0.5f);
  RowMatrix y(n, d);
  lorakit::Workspace ws(layer.workspace_floats(n));
  for (auto _ : state) {
    layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["adapter_bytes"] = static_cast<double>(model.list()[0].bytes);
  state.SetLabel(converted ? "bf16 widened to f32" : "bf16 kept");
}

struct SharedLayer {
  Layer layer{Base(Zero{}, 64, 64)};
  lorakit::Model model;
  SharedLayer() {
    model.add("layer", layer);
    model.attach(constant_adapter("a", {{"layer", 64, 64}}, 4, 0.01f));
  }
};

SharedLayer& shared_layer() {
  static SharedLayer s;
  return s;
}

void BM_SharedLayer(benchmark::State& state) {
  SharedLayer& s = shared_layer();
  const RowMatrix x = RowMatrix::Constant(1, 64, 0.5f);
  RowMatrix y(1, 64);
  lorakit::Workspace ws(s.layer.workspace_floats(1));
  for (auto _ : state) {
    s.layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

}  // namespace

BENCHMARK(BM_Bf16Adapter)
    ->ArgNames({"converted", "rows"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 64})
    ->Args({1, 64})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SharedLayer)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_Toggle)->Arg(1)->Arg(0);
BENCHMARK(BM_AttachDetach)->Unit(benchmark::kMicrosecond)->MinTime(1.0);
BENCHMARK(BM_MixedBatch)
    ->ArgNames({"adapters", "interleaved"})
    ->Args({1, 0})
    ->Args({4, 0})
    ->Args({16, 0})
    ->Args({4, 1})
    ->Args({16, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
