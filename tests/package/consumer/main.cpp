// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A downstream program: one LoRA layer through the umbrella header, checked by hand.
#include <cmath>
#include <cstdio>
#include <memory>

#include <lorakit/lorakit.hpp>

int main() {
  // W = I (2x2), A = [1; 1] (2x1), B = [1, -1] (1x2), alpha = rank = 1: y = x + (x0+x1)*[1,-1].
  const float w[] = {1.0f, 0.0f, 0.0f, 1.0f};
  const float a[] = {1.0f, 1.0f};
  const float b[] = {1.0f, -1.0f};
  lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA> layer(
      lorakit::DenseLinear(w, 2, 2));
  layer.attach("demo", {lorakit::make_view(a, 2, 1), lorakit::make_view(b, 1, 2)},
               {.rank = 1, .alpha = 1.0f});
  const float x[] = {2.0f, 3.0f};
  float y[2] = {};
  lorakit::Workspace ws(layer.workspace_floats(1));
  layer.forward(lorakit::make_view(x, 1, 2), lorakit::make_view(y, 1, 2), ws);
  if (std::abs(y[0] - 7.0f) > 1e-6f || std::abs(y[1] + 2.0f) > 1e-6f) {
    std::printf("wrong result: %g %g\n", static_cast<double>(y[0]), static_cast<double>(y[1]));
    return 1;
  }
  std::printf("lorakit consumer ok (lorakit %s)\n", lorakit::version.data());
  return 0;
}
