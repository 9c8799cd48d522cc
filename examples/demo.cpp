// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A toy two-layer model with a LoRA adapter: base vs adapted outputs, a speculative-decoding
// drafter that flips the adapter on and off every step, and the cost of a toggle.
//
//   lorakit-demo            (no arguments; every value is generated deterministically)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
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

using Layer = lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA>;

// The adapter's tensors for one layer; shared with the layer, which keeps it alive.
struct AdapterTensors {
  RowMatrix a;  // [in, r]
  RowMatrix b;  // [r, out]
};

// hidden -> ffn (ReLU) -> vocab: two linear layers a host engine would own.
class ToyModel {
 public:
  static constexpr Index kHidden = 64;
  static constexpr Index kFfn = 96;
  static constexpr Index kVocab = 32;

  ToyModel()
      : w1_(generated(kFfn, kHidden, 1, 0.2f)),
        w2_(generated(kVocab, kFfn, 2, 0.2f)),
        up_(lorakit::DenseLinear(static_cast<const RowMatrix&>(w1_).data(), kHidden, kFfn),
            {.module = "model.up"}),
        down_(lorakit::DenseLinear(static_cast<const RowMatrix&>(w2_).data(), kFfn, kVocab),
              {.module = "model.down"}),
        ws_(std::max(up_.workspace_floats(1), down_.workspace_floats(1))),
        h_(1, kFfn) {}

  // Attaches a generated rank-r adapter to both layers with the given user scale.
  void attach_adapter(const char* name, Index rank, float alpha, float user_scale) {
    auto up = std::make_shared<const AdapterTensors>(
        AdapterTensors{generated(kHidden, rank, 3, 0.1f), generated(rank, kFfn, 4, 0.1f)});
    auto down = std::make_shared<const AdapterTensors>(
        AdapterTensors{generated(kFfn, rank, 5, 0.1f), generated(rank, kVocab, 6, 0.1f)});
    const lorakit::LoRA::Params params{.rank = rank, .alpha = alpha};
    up_.attach(name, {lorakit::make_view(up->a), lorakit::make_view(up->b)}, params, user_scale,
               up);
    down_.attach(name, {lorakit::make_view(down->a), lorakit::make_view(down->b)}, params,
                 user_scale, down);
  }

  // logits[1, vocab] for one token embedding x[1, hidden], with the adapters `lora` selects
  // (the attached set by default; Selection::base() for the base alone).
  void forward(const RowMatrix& x, RowMatrix& logits,
               const lorakit::Selection& lora = lorakit::Selection::current()) {
    up_.forward(lorakit::make_view(x), lorakit::make_view(h_), ws_, lora);
    h_ = h_.cwiseMax(0.0f);
    down_.forward(lorakit::make_cview(h_), lorakit::make_view(logits), ws_, lora);
  }

  Layer& up() noexcept { return up_; }

 private:
  RowMatrix w1_;
  RowMatrix w2_;
  Layer up_;
  Layer down_;
  lorakit::Workspace ws_;
  RowMatrix h_;
};

Index argmax(const RowMatrix& v) {
  Index best = 0;
  for (Index i = 1; i < v.size(); ++i) {
    if (v.data()[i] > v.data()[best]) best = i;
  }
  return best;
}

}  // namespace

int main() {
  ToyModel model;
  model.attach_adapter("style", 8, 16.0f, 1.0f);

  // 1. Base vs adapted output for one token.
  const RowMatrix x = generated(1, ToyModel::kHidden, 7, 1.0f);
  RowMatrix base(1, ToyModel::kVocab);
  RowMatrix adapted(1, ToyModel::kVocab);
  model.forward(x, base, lorakit::Selection::base());
  model.forward(x, adapted);
  std::printf("lorakit %s demo: toy model %td -> %td -> %td, adapter 'style' rank 8, alpha 16\n\n",
              lorakit::version.data(), ToyModel::kHidden, ToyModel::kFfn, ToyModel::kVocab);
  std::printf("%-8s %12s %12s %12s\n", "logit", "base", "adapted", "difference");
  for (Index i = 0; i < 6; ++i) {
    std::printf("%-8td %12.5f %12.5f %12.5f\n", i, static_cast<double>(base(0, i)),
                static_cast<double>(adapted(0, i)),
                static_cast<double>(adapted(0, i) - base(0, i)));
  }
  std::printf("max |adapted - base| over %td logits: %.5f\n\n", ToyModel::kVocab,
              static_cast<double>((adapted - base).cwiseAbs().maxCoeff()));

  // 2. A drafter: each step drafts a token with LoRA on, then verifies it with LoRA off, on the
  // same weights. The choice travels with each call (a Selection value), so a drafter and a
  // verifier could as well run on two threads at once. The next input mixes the previous one
  // with the accepted token.
  std::printf("speculative decoding, LoRA chosen per call:\n");
  RowMatrix token = x;
  RowMatrix draft(1, ToyModel::kVocab);
  RowMatrix verify(1, ToyModel::kVocab);
  for (int step = 1; step <= 5; ++step) {
    model.forward(token, draft);
    model.forward(token, verify, lorakit::Selection::base());
    const Index d = argmax(draft);
    const Index v = argmax(verify);
    std::printf("  step %d: draft (LoRA on) token %2td, verify (LoRA off) token %2td -> %s\n", step,
                d, v, d == v ? "accepted" : "rejected, keep the verifier's token");
    token =
        0.5f * token + generated(1, ToyModel::kHidden, static_cast<std::uint32_t>(10 + v), 1.0f);
  }

  // 3. The cost of a toggle of the layer's own switch, for hosts that flip it for every caller
  // at once: a writer step that publishes a new state without waiting for readers.
  constexpr int kToggles = 1'000'000;
  Layer& layer = model.up();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kToggles; ++i) layer.set_enabled((i & 1) == 0);
  const auto t1 = std::chrono::steady_clock::now();
  const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / kToggles;
  std::printf("\ntoggle: %.2f ns per set_enabled() on one layer (%d toggles)\n", ns, kToggles);
  return 0;
}
