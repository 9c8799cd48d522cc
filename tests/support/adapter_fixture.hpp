// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Generated in-memory Adapters (owned A/B per module) and a small model of DenseLinear layers.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lorakit/base/dense_linear.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/adapter.hpp"
#include "lorakit/runtime/model.hpp"
#include "random.hpp"

namespace lorakit::test {

/// One module of a generated adapter.
struct ModuleSpec {
  std::string name;
  Index in = 0;
  Index out = 0;
  Index rank = 0;
};

/// An Adapter with deterministic A:(in,r) and B:(r,out) per module (values in [-1, 1) scaled by
/// `scale`), alpha = 2 * rank under alpha/r scaling unless `info` says otherwise.
inline std::shared_ptr<const Adapter> make_adapter(const std::string& name,
                                                   const std::vector<ModuleSpec>& specs,
                                                   std::uint64_t seed, AdapterInfo info = {},
                                                   float scale = 0.25f) {
  auto storage = std::make_shared<std::vector<RowMatrix>>();
  storage->reserve(2 * specs.size());
  std::map<std::string, AdapterModule> modules;
  auto tensor = [](const RowMatrix& m) {
    return AdapterTensor{DType::f32,
                         Shape{m.rows(), m.cols()},
                         {reinterpret_cast<const std::byte*>(m.data()),
                          static_cast<std::size_t>(m.size()) * sizeof(float)}};
  };
  for (const ModuleSpec& s : specs) {
    const RowMatrix& a = storage->emplace_back(random_matrix(s.in, s.rank, seed++, scale));
    const RowMatrix& b = storage->emplace_back(random_matrix(s.rank, s.out, seed++, scale));
    AdapterModule m;
    m.a = tensor(a);
    m.b = tensor(b);
    m.rank = s.rank;
    m.alpha = 2.0f * static_cast<float>(s.rank);
    modules.emplace(s.name, std::move(m));
  }
  info.name = name;
  if (info.rank == 0 && !specs.empty()) info.rank = specs.front().rank;
  if (info.alpha == 0.0f) info.alpha = 2.0f * static_cast<float>(info.rank);
  return std::make_shared<const Adapter>(std::move(info), std::move(modules),
                                         std::map<std::string, AdapterTensor>{},
                                         std::vector<std::shared_ptr<const void>>{storage});
}

/// A model of `layers` blocks, each with q_proj (d -> d) and v_proj (d -> d / 2) layers named
/// like a Llama checkpoint: model.layers.<i>.self_attn.{q,v}_proj. Owns writable weights.
struct TinyModel {
  using Layer = LoRALinear<DenseLinear<float>, LoRA>;
  Index d;
  std::vector<std::string> names;
  std::vector<RowMatrix> weights;
  std::vector<std::unique_ptr<Layer>> layers;

  TinyModel(int blocks, Index width, std::uint64_t seed = 100) : d(width) {
    for (int i = 0; i < blocks; ++i) {
      for (const char* proj : {"q_proj", "v_proj"}) {
        const Index out = proj[0] == 'q' ? d : d / 2;
        names.push_back("model.layers." + std::to_string(i) + ".self_attn." + proj);
        weights.push_back(random_matrix(out, d, seed++, 0.5f));
      }
    }
    for (std::size_t k = 0; k < names.size(); ++k) {
      layers.push_back(
          std::make_unique<Layer>(DenseLinear<float>(weights[k].data(), d, weights[k].rows()),
                                  Layer::Options{.max_rank = 64, .module = names[k]}));
    }
  }

  /// Module specs of an adapter of rank r on every layer (or the first `blocks` blocks).
  [[nodiscard]] std::vector<ModuleSpec> specs(Index r, int blocks = -1) const {
    std::vector<ModuleSpec> out;
    for (std::size_t k = 0; k < names.size(); ++k) {
      if (blocks >= 0 && static_cast<int>(k / 2) >= blocks) break;
      out.push_back({names[k], d, weights[k].rows(), r});
    }
    return out;
  }
};

/// Registers every layer of `m` with `model` under its module name.
inline void register_all(Model& model, TinyModel& m) {
  for (std::size_t k = 0; k < m.names.size(); ++k) model.add(m.names[k], *m.layers[k]);
}

/// Output of layer k of `m` on x (adapters included), with a workspace sized for x; `extra`
/// goes to forward() as it is (a Selection, a Pass, per-row selections).
template <class... Extra>
RowMatrix run(const TinyModel& m, std::size_t k, const RowMatrix& x, const Extra&... extra) {
  RowMatrix y(x.rows(), m.weights[k].rows());
  Workspace ws(m.layers[k]->workspace_floats(x.rows()));
  m.layers[k]->forward(make_cview(x), make_view(y), ws, extra...);
  return y;
}

}  // namespace lorakit::test
