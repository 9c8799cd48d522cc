// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A host that only wraps its layers: one dense layer with a LoRA adapter attached and its
// forward, compiled to an object by bench/compile_time.sh (the templates are instantiated).
#include <memory>

#include <lorakit/layer.hpp>

namespace host {

struct Tensors {
  lorakit::RowMatrix a, b;
};

// y:(tokens,out) = x:(tokens,in) * W^T + s * (x*A)*B for W:(out,in), A:(in,r), B:(r,out).
void adapted_forward(const float* w, const float* x, float* y, lorakit::Index tokens,
                     lorakit::Index in, lorakit::Index out, lorakit::Index rank) {
  using namespace lorakit;
  const auto adapter = std::make_shared<const Tensors>(
      Tensors{RowMatrix::Constant(in, rank, 0.5f), RowMatrix::Constant(rank, out, 0.1f)});
  LoRALinear<DenseLinear<const float>, LoRA> layer(DenseLinear(w, in, out));
  layer.attach("style", {make_view(adapter->a), make_view(adapter->b)},
               {.rank = rank, .alpha = 16.0f}, 0.5f, adapter);
  Workspace ws(layer.workspace_floats(tokens));
  layer.forward(make_view(x, tokens, in), make_view(y, tokens, out), ws);
}

}  // namespace host
