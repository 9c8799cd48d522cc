// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A host that includes everything: the layer of host_layer.cpp with its adapter loaded from a
// file by load_adapter, compiled to an object by bench/compile_time.sh.
#include <filesystem>

#include <lorakit/lorakit.hpp>

namespace host {

// y:(tokens,out) = x:(tokens,in) * W^T + the delta of `module` in the adapter at `path`.
bool adapted_forward(const std::filesystem::path& path, const char* module, const float* w,
                     const float* x, float* y, lorakit::Index tokens, lorakit::Index in,
                     lorakit::Index out) {
  using namespace lorakit;
  const auto adapter = io::load_adapter(path);
  const AdapterModule* m = adapter->find(module);
  if (m == nullptr) return false;
  LoRALinear<DenseLinear<const float>, LoRA> layer(DenseLinear(w, in, out));
  layer.attach(adapter->name(), Adapter::weights(*m), adapter->params(*m), 0.8f, adapter);
  Workspace ws(layer.workspace_floats(tokens));
  layer.forward(make_view(x, tokens, in), make_view(y, tokens, out), ws);
  return true;
}

}  // namespace host
