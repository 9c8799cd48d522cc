// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit bench: what an adapter costs per forward on this machine, measured with lorakit's
// kernels (DefaultKernel) on one thread: a DenseLinear base of each module's shape with random
// weights, a LoRALinear with the module attached, forward timed with and without the adapter.
// One module per distinct shape is timed and multiplied by how many modules have that shape.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <lorakit/base/dense_linear.hpp>
#include <lorakit/kernels/default.hpp>
#include <lorakit/layer/lora_linear.hpp>

#include "adapters.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace lorakit::cli {
namespace {

const CommandSpec& bench_spec() {
  static const CommandSpec spec = [] {
    CommandSpec s;
    s.name = "bench";
    s.summary = "what an adapter costs per forward on this machine";
    s.usage = "lorakit bench ADAPTER... [--lora-scaled PATH SCALE]... [--rows N] [--json]";
    s.description =
        "Measures what the adapter adds to a forward pass on this machine, on one thread,\n"
        "with lorakit's kernels (DefaultKernel, the SIMD kernel for the flags lorakit was built\n"
        "with): for each distinct module shape (in, out, rank, dtype) a DenseLinear base with\n"
        "random weights W:(out,in) and a LoRALinear with the module attached; forward is timed\n"
        "on n = 1 and n = 64 rows (and --rows N), with and without the adapter, the median of\n"
        "--repeats timed runs after a warm-up. The figure of a shape is multiplied by the\n"
        "number of modules with that shape and summed over the adapter.\n"
        "\n"
        "Printed per n: the base's µs (a dense base of the adapted modules' shapes, lorakit's\n"
        "DenseLinear), the adapter's µs (with minus without, at least 0), and the adapter's\n"
        "share of the base in %. Several adapters (positional, --lora, --lora-scaled) are\n"
        "attached together at their scales, as a host running them at once would. Embedding\n"
        "and DoRA modules are not timed (counted as skipped). Figures are measured, not\n"
        "modelled: they vary from run to run and with the machine's load.\n";
    s.options = lora_options();
    s.options.push_back({"--rows", 1, "N", "also time n = N rows (1 to 65536)"});
    s.options.push_back({"--repeats", 1, "N", "timed runs per figure, median taken (default 7)"});
    s.examples =
        "  lorakit bench path/to/adapter --rows 512\n"
        "  lorakit bench --lora-scaled code.gguf 0.8 --lora-scaled style.gguf 0.5 --json\n";
    s.min_positional = 0;
    s.max_positional = 1000;
    return s;
  }();
  return spec;
}

using Layer = LoRALinear<DenseLinear<const float>, LoRA, DefaultKernel>;
using Clock = std::chrono::steady_clock;

// Deterministic values in [-scale, scale).
void fill(std::vector<float>& v, std::uint32_t seed, float scale) {
  std::uint32_t state = seed * 2654435761u + 1u;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(state >> 8) * 0x1p-23f - 1.0f);
  }
}

// One adapter module of a layer, with the user scale it is attached at.
struct Part {
  const Adapter* adapter;
  const AdapterModule* module;
  float scale;
};

// A shape: in, out and each attached part's (rank, A dtype, B dtype).
using Signature = std::tuple<Index, Index, std::vector<std::tuple<Index, int, int>>>;

struct Shape {
  Index in = 0;
  Index out = 0;
  std::vector<Part> parts;  // of the first module with this shape
  std::size_t count = 0;
  std::string example;  // that module's name
};

struct Timing {
  double base_us = 0;
  double with_us = 0;
};

volatile float g_sink = 0.0f;

// Median µs per call of `f`, over `repeats` runs of enough calls to last ~5 ms each.
template <class F>
double time_us(F&& f, int iters) {
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) f();
  const std::chrono::duration<double, std::micro> d = Clock::now() - t0;
  return d.count() / iters;
}

Timing measure(const Shape& s, Index n, int repeats) {
  std::vector<float> w(static_cast<std::size_t>(s.in * s.out));
  fill(w, static_cast<std::uint32_t>(s.in * 31 + s.out), 0.05f);
  Index max_rank = 1;
  for (const Part& p : s.parts) max_rank = std::max(max_rank, p.module->rank);
  Layer layer(DenseLinear<const float>(w.data(), s.in, s.out),
              Layer::Options{.max_rank = max_rank, .module = s.example});
  int k = 0;
  for (const Part& p : s.parts) {
    layer.attach("a" + std::to_string(k++), Adapter::weights(*p.module),
                 p.adapter->params(*p.module), p.scale);
  }
  std::vector<float> x(static_cast<std::size_t>(n * s.in));
  std::vector<float> y(static_cast<std::size_t>(n * s.out));
  fill(x, 7, 1.0f);
  Workspace ws(layer.workspace_floats(n));
  const ConstMatrixView xv = make_view(static_cast<const float*>(x.data()), n, s.in);
  const MatrixView yv = make_view(y.data(), n, s.out);
  auto with = [&] { layer.forward(xv, yv, ws); };
  auto base = [&] { layer.base().forward(xv, yv); };
  // Warm-up, and calls per run: enough for ~5 ms, at least one.
  with();
  base();
  const double once = time_us(with, 1);
  const int iters = static_cast<int>(std::clamp(5000.0 / std::max(once, 0.01), 1.0, 1e6));
  std::vector<double> b, a;
  for (int r = 0; r < repeats; ++r) {
    b.push_back(time_us(base, iters));
    a.push_back(time_us(with, iters));
  }
  g_sink = g_sink + y.front();
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  return {median(b), median(a)};
}

int bench(const Args& args) {
  const std::vector<AdapterArg> paths = adapter_args(args);
  if (paths.empty()) {
    throw UsageError("lorakit bench: missing argument: an ADAPTER (usage: " +
                     std::string(bench_spec().usage) + ")");
  }
  std::vector<Index> rows = {1, 64};
  if (auto v = args.value("--rows")) {
    const auto n = static_cast<Index>(parse_int(*v, "--rows", 1, 65536));
    if (std::find(rows.begin(), rows.end(), n) == rows.end()) rows.push_back(n);
  }
  int repeats = 7;
  if (auto v = args.value("--repeats")) {
    repeats = static_cast<int>(parse_int(*v, "--repeats", 1, 1000));
  }

  ReadOptions read;
  read.check_finite = false;  // timing does not depend on the values
  std::vector<std::shared_ptr<const Adapter>> adapters;
  for (const AdapterArg& a : paths) adapters.push_back(load_for_reading(a.path, read));

  // Every adapted module name with its parts, then one Shape per distinct signature.
  std::map<std::string, std::vector<Part>> layers;
  std::size_t skipped = 0;
  for (std::size_t i = 0; i < adapters.size(); ++i) {
    for (const auto& [name, m] : adapters[i]->modules()) {
      if (m.kind == ModuleKind::embedding || m.magnitude) {
        ++skipped;
        continue;
      }
      layers[name].push_back({adapters[i].get(), &m, paths[i].scale});
    }
  }
  std::map<Signature, Shape> shapes;
  for (const auto& [name, parts] : layers) {
    Signature sig{parts.front().module->in_features(), parts.front().module->out_features(), {}};
    bool consistent = true;
    for (const Part& p : parts) {
      consistent = consistent && p.module->in_features() == std::get<0>(sig) &&
                   p.module->out_features() == std::get<1>(sig);
      std::get<2>(sig).emplace_back(p.module->rank, static_cast<int>(p.module->a.dtype),
                                    static_cast<int>(p.module->b.dtype));
    }
    if (!consistent) {
      throw Error(Errc::shape_mismatch, ErrorContext{.module = name},
                  "the adapters give this module different shapes: they are not for the same "
                  "base, so they cannot run together");
    }
    Shape& s = shapes[sig];
    if (s.count++ == 0) {
      s.in = std::get<0>(sig);
      s.out = std::get<1>(sig);
      s.parts = parts;
      s.example = name;
    }
  }
  if (shapes.empty()) {
    throw Error(Errc::unsupported, ErrorContext{.file = paths.front().path},
                "no linear LoRA module to time");
  }

  struct Row {
    Index n;
    double base_us = 0;
    double adapter_us = 0;
    Json shapes = Json::array();
  };
  std::vector<Row> results;
  for (Index n : rows) {
    Row r{n};
    for (const auto& [sig, s] : shapes) {
      const Timing t = measure(s, n, repeats);
      const double cnt = static_cast<double>(s.count);
      const double delta = std::max(0.0, t.with_us - t.base_us);
      r.base_us += cnt * t.base_us;
      r.adapter_us += cnt * delta;
      Json sj;
      sj["in"] = s.in;
      sj["out"] = s.out;
      sj["ranks"] = Json::array();
      for (const Part& p : s.parts) sj["ranks"].push_back(p.module->rank);
      sj["dtype"] = to_string(s.parts.front().module->a.dtype);
      sj["count"] = s.count;
      sj["example"] = s.example;
      sj["base_us"] = t.base_us;
      sj["with_adapter_us"] = t.with_us;
      sj["adapter_us"] = delta;
      r.shapes.push_back(std::move(sj));
    }
    results.push_back(std::move(r));
  }

  std::size_t modules = 0;
  for (const auto& [sig, s] : shapes) modules += s.count;
  const std::string kernel(DefaultKernel::name);
  if (args.json) {
    Json j;
    j["measured"] = true;
    j["threads"] = 1;
    j["kernel"] = kernel;
    j["repeats"] = repeats;
    j["adapters"] = Json::array();
    for (const AdapterArg& a : paths)
      j["adapters"].push_back({{"path", a.path}, {"scale", a.scale}});
    j["modules"] = modules;
    j["skipped_modules"] = skipped;
    j["shapes"] = shapes.size();
    j["results"] = Json::array();
    for (const Row& r : results) {
      Json rj;
      rj["rows"] = r.n;
      rj["base_us"] = r.base_us;
      rj["adapter_us"] = r.adapter_us;
      rj["share_percent"] = r.base_us > 0 ? 100.0 * r.adapter_us / r.base_us : 0.0;
      rj["shapes"] = r.shapes;
      j["results"].push_back(std::move(rj));
    }
    print_json(j);
    return kExitOk;
  }
  std::printf("bench:");
  for (const AdapterArg& a : paths) {
    std::printf(" %s", a.path.c_str());
    if (a.scaled) std::printf(" (scale %g)", static_cast<double>(a.scale));
  }
  std::printf(
      "\nmeasured on this machine, one thread, lorakit kernel %s (DefaultKernel), "
      "median of %d runs\n",
      kernel.c_str(), repeats);
  std::printf("%zu modules in %zu shapes:", modules, shapes.size());
  for (const auto& [sig, s] : shapes) {
    std::printf(" %lldx%lld", static_cast<long long>(s.in), static_cast<long long>(s.out));
    for (const Part& p : s.parts) std::printf(" r%lld", static_cast<long long>(p.module->rank));
    std::printf(" (x%zu)", s.count);
  }
  std::printf("\n");
  if (skipped > 0) std::printf("not timed: %zu embedding or DoRA modules\n", skipped);
  std::printf("%8s %14s %14s %10s\n", "rows", "base µs", "adapter µs", "share");
  for (const Row& r : results) {
    std::printf("%8lld %14.2f %14.2f %9.2f%%\n", static_cast<long long>(r.n), r.base_us,
                r.adapter_us, r.base_us > 0 ? 100.0 * r.adapter_us / r.base_us : 0.0);
  }
  std::printf(
      "base: a dense DenseLinear base of the adapted modules' shapes; adapter: forward "
      "with it minus without\n");
  return kExitOk;
}

}  // namespace

int run_bench(CommandArgs args) { return run_command(bench_spec(), args, bench); }

}  // namespace lorakit::cli
