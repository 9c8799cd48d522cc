// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Model with layers of AnyVariant: DoRA adapters attach from their modules (magnitudes
// included) next to LoRA ones, give the bits of a DoRA layer, merge and unmerge, swap with
// LoRA adapters under one name while other threads run forward; layers of LoRA refuse them.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapter_fixture.hpp"
#include "approx.hpp"
#include "concurrent_readers.hpp"
#include "lorakit/variants/all.hpp"

using lorakit::Adapter;
using lorakit::AdapterInfo;
using lorakit::AdapterModule;
using lorakit::AdapterTensor;
using lorakit::AnyVariant;
using lorakit::DenseLinear;
using lorakit::DoRA;
using lorakit::Index;
using lorakit::LoRALinear;
using lorakit::Model;
using lorakit::RowMatrix;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

constexpr Index kD = 24;

// A DoRA adapter on q (d -> d) and v (d -> d/2) of one block: A, B and m per module.
struct DoRAAdapter {
  std::shared_ptr<std::vector<RowMatrix>> storage = std::make_shared<std::vector<RowMatrix>>();
  std::shared_ptr<const Adapter> adapter;

  explicit DoRAAdapter(std::uint64_t seed, const std::string& name = "dora") {
    storage->reserve(6);
    std::map<std::string, AdapterModule> modules;
    auto tensor = [](const RowMatrix& m, bool vector) {
      return AdapterTensor{lorakit::DType::f32,
                           vector ? lorakit::Shape{m.cols()} : lorakit::Shape{m.rows(), m.cols()},
                           {reinterpret_cast<const std::byte*>(m.data()),
                            static_cast<std::size_t>(m.size()) * sizeof(float)}};
    };
    for (const char* proj : {"q_proj", "v_proj"}) {
      const Index out = proj[0] == 'q' ? kD : kD / 2;
      const RowMatrix& a = storage->emplace_back(random_matrix(kD, 4, seed++, 0.25f));
      const RowMatrix& b = storage->emplace_back(random_matrix(4, out, seed++, 0.25f));
      RowMatrix& m = storage->emplace_back(random_matrix(1, out, seed++));
      m.array() += 2.0f;
      AdapterModule mod;
      mod.a = tensor(a, false);
      mod.b = tensor(b, false);
      mod.magnitude = tensor(m, true);
      mod.rank = 4;
      mod.alpha = 8.0f;
      modules.emplace(std::string("model.layers.0.self_attn.") + proj, std::move(mod));
    }
    AdapterInfo info;
    info.name = name;
    info.rank = 4;
    info.alpha = 8.0f;
    info.variant = lorakit::VariantKind::dora;
    adapter = std::make_shared<const Adapter>(std::move(info), std::move(modules),
                                              std::map<std::string, AdapterTensor>{},
                                              std::vector<std::shared_ptr<const void>>{storage});
  }

  // The tensors of module k (0: q, 1: v) as a DoRA layer takes them.
  [[nodiscard]] DoRA::Weights weights(std::size_t k) const {
    const std::vector<RowMatrix>& s = *storage;
    return DoRA::bind({lorakit::make_view(s[3 * k]), lorakit::make_view(s[3 * k + 1]),
                       lorakit::make_view(s[3 * k + 2])});
  }
};

template <class Variant>
struct Block {
  using Layer = LoRALinear<DenseLinear<float>, Variant>;
  std::vector<RowMatrix> w;
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<std::string> names = {"model.layers.0.self_attn.q_proj",
                                    "model.layers.0.self_attn.v_proj"};
  Block() {
    w.push_back(random_matrix(kD, kD, 1, 0.5f));
    w.push_back(random_matrix(kD / 2, kD, 2, 0.5f));
    for (std::size_t k = 0; k < 2; ++k) {
      layers.push_back(
          std::make_unique<Layer>(DenseLinear<float>(w[k].data(), kD, w[k].rows()),
                                  typename Layer::Options{.max_rank = 16, .module = names[k]}));
    }
  }
  void register_with(Model& model) {
    for (std::size_t k = 0; k < 2; ++k) model.add(names[k], *layers[k]);
  }
  [[nodiscard]] RowMatrix run(std::size_t k, const RowMatrix& x) const {
    RowMatrix y(x.rows(), w[k].rows());
    lorakit::Workspace ws(layers[k]->workspace_floats(x.rows()));
    layers[k]->forward(lorakit::make_cview(x), lorakit::make_view(y), ws);
    return y;
  }
};

// Layer k of `block` with only `dora` attached as a DoRA layer, at a user scale.
RowMatrix dora_layer_output(const Block<AnyVariant>& block, const DoRAAdapter& dora, std::size_t k,
                            float scale, const RowMatrix& x) {
  LoRALinear<DenseLinear<const float>, DoRA> layer(
      DenseLinear<const float>(block.w[k].data(), kD, block.w[k].rows()));
  layer.attach("d", dora.weights(k), DoRA::Params{4, 8.0f}, scale, dora.storage);
  RowMatrix y(x.rows(), block.w[k].rows());
  lorakit::Workspace ws(layer.workspace_floats(x.rows()));
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);
  return y;
}

}  // namespace

TEST_CASE("Model: a DoRA adapter on AnyVariant layers gives the bits of DoRA layers",
          "[runtime][variants][dora]") {
  Block<AnyVariant> block;
  Model model;
  block.register_with(model);
  const DoRAAdapter dora(10);
  model.attach(dora.adapter, {.name = "dora", .scale = 0.5f});
  const RowMatrix x = random_matrix(5, kD, 3);
  for (std::size_t k = 0; k < 2; ++k) {
    CAPTURE(k);
    check_identical(lorakit::make_cview(dora_layer_output(block, dora, k, 0.5f, x)),
                    lorakit::make_cview(block.run(k, x)), "DoRA through Model");
  }
  // A LoRA adapter next to it: both apply, the LoRA one first (attached first on the layer).
  model.set_active("dora", false);
  const auto lora =
      make_adapter("lora", {{block.names[0], kD, kD, 4}, {block.names[1], kD, kD / 2, 4}}, 20);
  model.attach(lora, {.name = "lora", .scale = 1.0f});
  CHECK(model.list().size() == 2);
  // Turned back on and off: the DoRA output again, bit for bit.
  model.set_active("lora", false);
  model.set_active("dora", true);
  check_identical(lorakit::make_cview(dora_layer_output(block, dora, 0, 0.5f, x)),
                  lorakit::make_cview(block.run(0, x)), "after toggles");

  // Merge and unmerge: W comes back bit for bit (DoRA keeps a backup).
  const RowMatrix w0 = block.w[0];
  const RowMatrix y_live = block.run(0, x);
  model.merge("dora");
  const RowMatrix y_merged = block.run(0, x);
  const double bound =
      64.0 * static_cast<double>(kD) * 0x1p-24 * y_live.cwiseAbs().maxCoeff() + 1e-6;
  INFO("max |merged - live| = " << (y_merged - y_live).cwiseAbs().maxCoeff());
  CHECK((y_merged - y_live).cwiseAbs().maxCoeff() <= bound);
  model.unmerge("dora");
  check_identical(lorakit::make_cview(w0), lorakit::make_cview(block.w[0]), "W after unmerge");
}

TEST_CASE("Model: layers of LoRA refuse a DoRA adapter, naming each layer and what to do",
          "[runtime][variants][dora]") {
  Block<lorakit::LoRA> block;
  Model model;
  block.register_with(model);
  const DoRAAdapter dora(30);
  try {
    model.attach(dora.adapter, {.name = "dora"});
    FAIL("a LoRA layer took a DoRA adapter");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::unsupported);
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("model.layers.0.self_attn.q_proj") != std::string::npos);
    CHECK(what.find("AnyVariant") != std::string::npos);
    CHECK(e.problems().size() == 2);
  }
  CHECK(model.list().empty());
  CHECK(block.layers[0]->attachments().empty());
}

TEST_CASE("Model: one name swapped between a DoRA and a LoRA adapter while threads run forward",
          "[runtime][variants][concurrency]") {
  Block<AnyVariant> block;
  Model model;
  block.register_with(model);
  const DoRAAdapter dora(40, "a");
  const auto lora =
      make_adapter("a", {{block.names[0], kD, kD, 4}, {block.names[1], kD, kD / 2, 4}}, 50);
  const RowMatrix x = random_matrix(3, kD, 4);

  std::vector<RowMatrix> valid;
  valid.push_back(block.run(0, x));  // nothing attached
  model.attach(dora.adapter, {.name = "a"});
  valid.push_back(block.run(0, x));
  model.attach(lora, {.name = "a"});
  valid.push_back(block.run(0, x));
  model.detach("a");

  const ReaderCounts seen = race_readers(
      valid, 0,
      [&](lorakit::Workspace& ws, RowMatrix& y) {
        (void)ws;
        y = block.run(0, x);
      },
      [&] {
        for (int i = 0; i < 100; ++i) {
          model.attach(dora.adapter, {.name = "a"});
          model.attach(lora, {.name = "a"});
          model.detach("a");
        }
      });
  INFO("forward calls: " << seen.calls << ", outputs of no state: " << seen.bad);
  CHECK(seen.bad == 0);
  CHECK(seen.calls > 0);
}
