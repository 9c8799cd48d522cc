// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A model-level walk through the runtime: write two PEFT adapters with lorakit's own writer,
// load them back, attach both to a small model with their own scales, hot-swap one while a
// reader thread keeps running forward, then merge one into the base weights and unmerge it.
//
//   lorakit-model [folder]   (adapters are written to folder, default: a temporary folder)
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <lorakit/lorakit.hpp>

namespace {

using lorakit::Index;
using lorakit::RowMatrix;

// Deterministic values in [-scale, scale): the same on every machine.
RowMatrix generated(Index rows, Index cols, std::uint32_t seed, float scale) {
  RowMatrix m(rows, cols);
  std::uint32_t state = seed * 2654435761u + 1u;
  for (Index i = 0; i < m.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    m.data()[i] = scale * (static_cast<float>(state >> 8) * 0x1p-23f - 1.0f);
  }
  return m;
}

constexpr int kBlocks = 4;
constexpr Index kHidden = 64;
using Layer = lorakit::LoRALinear<lorakit::DenseLinear<float>, lorakit::LoRA>;

std::string module_name(int block, const char* proj) {
  return "model.layers." + std::to_string(block) + ".self_attn." + proj;
}

// A rank-r PEFT adapter for every q_proj and v_proj of the model, written to dir.
void write_adapter(const std::filesystem::path& dir, Index r, float alpha, std::uint32_t seed) {
  auto storage = std::make_shared<std::vector<RowMatrix>>();
  storage->reserve(4 * kBlocks);
  std::map<std::string, lorakit::AdapterModule> modules;
  auto tensor = [](const RowMatrix& m) {
    return lorakit::AdapterTensor{lorakit::DType::f32,
                                  lorakit::Shape{m.rows(), m.cols()},
                                  {reinterpret_cast<const std::byte*>(m.data()),
                                   static_cast<std::size_t>(m.size()) * sizeof(float)}};
  };
  for (int b = 0; b < kBlocks; ++b) {
    for (const char* proj : {"q_proj", "v_proj"}) {
      lorakit::AdapterModule m;
      m.a = tensor(storage->emplace_back(generated(kHidden, r, seed++, 0.3f)));
      m.b = tensor(storage->emplace_back(generated(r, kHidden, seed++, 0.3f)));
      m.rank = r;
      m.alpha = alpha;
      modules.emplace(module_name(b, proj), std::move(m));
    }
  }
  lorakit::AdapterInfo info;
  info.rank = r;
  info.alpha = alpha;
  info.base_model = "example/tiny-llama";
  info.target.names = {"q_proj", "v_proj"};
  const lorakit::Adapter adapter(info, std::move(modules), {}, {storage});
  lorakit::io::save_peft(adapter, dir);
}

struct TinyModel {
  std::vector<std::string> names;
  std::vector<RowMatrix> weights;
  std::vector<std::unique_ptr<Layer>> layers;
  lorakit::Model model;

  TinyModel() {
    for (int b = 0; b < kBlocks; ++b) {
      for (const char* proj : {"q_proj", "v_proj"}) {
        names.push_back(module_name(b, proj));
        weights.push_back(generated(kHidden, kHidden, static_cast<std::uint32_t>(100 + b), 0.2f));
      }
    }
    for (std::size_t k = 0; k < names.size(); ++k) {
      layers.push_back(std::make_unique<Layer>(
          lorakit::DenseLinear<float>(weights[k].data(), kHidden, kHidden)));
      model.add(names[k], *layers[k]);
    }
  }

  // Runs the layers one after another (a stand-in for a transformer's forward pass).
  // With a Pass, every layer computes the state the pass pinned, with its selection.
  template <class... Pass>
  RowMatrix forward(const RowMatrix& x, lorakit::Workspace& ws, const Pass&... pass) const {
    RowMatrix h = x;
    for (const auto& layer : layers) {
      RowMatrix y(h.rows(), kHidden);
      layer->forward(lorakit::make_cview(h), lorakit::make_view(y), ws, pass...);
      h = y.array().tanh().matrix();
    }
    return h;
  }
};

float max_abs_diff(const RowMatrix& a, const RowMatrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path root =
        argc > 1 ? std::filesystem::path(argv[1])
                 : std::filesystem::temp_directory_path() / "lorakit-model-example";
    write_adapter(root / "code", 8, 16.0f, 1);
    write_adapter(root / "style", 4, 4.0f, 50);
    write_adapter(root / "style-v2", 4, 8.0f, 90);
    std::printf("wrote PEFT adapters to %s\n", root.string().c_str());

    TinyModel tiny;
    const RowMatrix x = generated(2, kHidden, 7, 1.0f);
    lorakit::Workspace ws(tiny.model.workspace_floats(x.rows()));
    const RowMatrix base = tiny.forward(x, ws);

    // Two adapters at once, each with its own scale.
    tiny.model.attach(lorakit::io::load_adapter(root / "code"), {.name = "code", .scale = 0.8f});
    tiny.model.attach(lorakit::io::load_adapter(root / "style"), {.name = "style", .scale = 0.5f});
    const RowMatrix both = tiny.forward(x, ws);
    for (const lorakit::AdapterStatus& s : tiny.model.list()) {
      std::printf(
          "attached %-6s id %u  rank %2lld  alpha %4.1f  scale %.2f  modules %zu  %zu bytes\n",
          s.name.c_str(), s.id, static_cast<long long>(s.rank), s.alpha, s.scale, s.modules,
          s.bytes);
    }
    std::printf("identity %016llx   max |adapted - base| = %.4f\n",
                static_cast<unsigned long long>(tiny.model.identity()), max_abs_diff(both, base));

    // Hot swap: a reader keeps running forward while "style" is replaced by its new version.
    std::atomic<bool> stop{false};
    std::atomic<long> passes{0};
    std::thread reader([&] {
      lorakit::Workspace own(tiny.model.workspace_floats(x.rows()));
      while (!stop.load()) {
        (void)tiny.forward(x, own);
        passes.fetch_add(1);
      }
    });
    while (passes.load() < 10) std::this_thread::yield();
    tiny.model.attach(lorakit::io::load_adapter(root / "style-v2"),
                      {.name = "style", .scale = 0.5f});
    const long at_swap = passes.load();
    while (passes.load() < at_swap + 10) std::this_thread::yield();
    stop.store(true);
    reader.join();
    const RowMatrix swapped = tiny.forward(x, ws);
    std::printf(
        "hot swap of 'style' under a running reader (%ld passes): identity %016llx, "
        "max |new - old| = %.4f\n",
        passes.load(), static_cast<unsigned long long>(tiny.model.identity()),
        max_abs_diff(swapped, both));

    // A drafter and a verifier at once on the same layers: each pins one state for its whole
    // pass and says which adapters it computes; nothing either of them does is shared.
    const lorakit::Selection draft = tiny.model.select({{"style", 0.5f}});
    RowMatrix verified;
    std::thread verifier([&] {
      lorakit::Workspace own(tiny.model.workspace_floats(x.rows()));
      const lorakit::Pass pass = tiny.model.pass(lorakit::Selection::base());
      verified = tiny.forward(x, own, pass);
    });
    RowMatrix drafted;
    std::uint64_t draft_identity = 0;
    {
      const lorakit::Pass pass = tiny.model.pass(draft);
      drafted = tiny.forward(x, ws, pass);
      draft_identity = pass.identity();
    }
    verifier.join();
    std::printf(
        "drafter ('style' only) and verifier (base) on two threads: verifier %s the base, "
        "draft identity %016llx, max |draft - base| = %.4f\n",
        verified == base ? "equals" : "DIFFERS FROM",
        static_cast<unsigned long long>(draft_identity), max_abs_diff(drafted, base));

    // The model-wide switch: every layer back to the base for every caller.
    tiny.model.set_enabled(false);
    std::printf("model switch off: output %s the base\n",
                tiny.forward(x, ws) == base ? "equals" : "DIFFERS FROM");
    tiny.model.set_enabled(true);

    // Merge "code" into the weights (keeping a backup), then take it back out.
    const std::vector<RowMatrix> before = tiny.weights;
    tiny.model.merge("code", /*keep_backup=*/true);
    const RowMatrix merged = tiny.forward(x, ws);
    std::printf("merged 'code': max |merged - unmerged output| = %.2g\n",
                max_abs_diff(merged, swapped));
    tiny.model.unmerge("code");
    bool restored = true;
    for (std::size_t k = 0; k < before.size(); ++k)
      restored = restored && before[k] == tiny.weights[k];
    std::printf("unmerged 'code': weights restored bit for bit: %s\n", restored ? "yes" : "no");
    return restored ? 0 : 1;
  } catch (const lorakit::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
