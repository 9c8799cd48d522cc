// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The README's first example: wrap a host weight matrix, attach a LoRA adapter, run forward.
#include <cstdio>
#include <memory>

#include <lorakit/layer.hpp>

int main() {
  using namespace lorakit;
  constexpr Index in = 4, out = 3, rank = 2, tokens = 2;

  // The host engine's weights W:(out,in), as it stores them.
  const RowMatrix w = RowMatrix::Constant(out, in, 0.25f);

  // An adapter in lorakit's layout A:(in,r), B:(r,out), owned by a shared_ptr the layer keeps.
  struct Tensors {
    RowMatrix a = RowMatrix::Constant(in, rank, 0.5f);
    RowMatrix b = RowMatrix::Constant(rank, out, 0.1f);
  };
  const auto adapter = std::make_shared<const Tensors>();

  LoRALinear<DenseLinear<const float>, LoRA> layer(DenseLinear(w.data(), in, out));
  layer.attach("style", {make_view(adapter->a), make_view(adapter->b)},
               {.rank = rank, .alpha = 16.0f}, /*user_scale=*/0.5f, adapter);

  const RowMatrix x = RowMatrix::Ones(tokens, in);
  RowMatrix y(tokens, out);
  Workspace ws(layer.workspace_floats(tokens));  // sized once, reused by every call

  // y = x*W^T + 0.5*(16/2)*(x*A)*B: x*W^T = 1, x*A = [2, 2], (x*A)*B = 0.4, scale 4.
  layer.forward(make_cview(x), make_view(y), ws);
  std::printf("LoRA on:  y[0,0] = %.3f\n", static_cast<double>(y(0, 0)));  // 1 + 4*0.4 = 2.6
  layer.forward(make_cview(x), make_view(y), ws, Selection::base());       // exactly the base
  std::printf("LoRA off: y[0,0] = %.3f\n", static_cast<double>(y(0, 0)));  // 1.0
  return 0;
}
