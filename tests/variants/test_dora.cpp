// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// DoRA on a dense base against an independent double-precision evaluation of PEFT's formula:
// y = (m / |W'|_row) (.) (x * W'^T) + bias with W' = W + s * (A * B)^T.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "approx.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/function_linear.hpp"
#include "lorakit/kernels/scalar.hpp"
#include "lorakit/kernels/simd.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/variants/dora.hpp"
#include "random.hpp"
#include "stored_weights.hpp"

using lorakit::ConstMatrixView;
using lorakit::DenseLinear;
using lorakit::DoRA;
using lorakit::Index;
using lorakit::LoRALinear;
using lorakit::RowMatrix;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

struct AnyCallable {
  void operator()(ConstMatrixView, lorakit::MatrixView) const noexcept {}
};

// The compile-time half of "DoRA needs the base's W": a FunctionLinear cannot host it.
static_assert(lorakit::VariantFits<DoRA, DenseLinear<const float>>);
static_assert(lorakit::VariantFits<DoRA, DenseLinear<float>>);
static_assert(!lorakit::VariantFits<DoRA, lorakit::FunctionLinear<AnyCallable>>);
static_assert(lorakit::VariantFits<lorakit::LoRA, lorakit::FunctionLinear<AnyCallable>>);
static_assert(LoRALinear<DenseLinear<float>, DoRA>::kMergeable);
static_assert(LoRALinear<DenseLinear<float>, DoRA>::kMergeNeedsBackup);
static_assert(!LoRALinear<DenseLinear<const float>, DoRA>::kMergeable);
static_assert(!LoRALinear<DenseLinear<float>, lorakit::LoRA>::kMergeNeedsBackup);

// One DoRA adapter's tensors, owned.
struct DoRAFixture {
  RowMatrix a;  // (in, r)
  RowMatrix b;  // (r, out)
  RowMatrix m;  // (1, out)
  DoRA::Params params;
  DoRAFixture(Index in, Index out, Index r, float alpha, std::uint64_t seed)
      : a(random_matrix(in, r, seed, 0.5f)),
        b(random_matrix(r, out, seed + 1, 0.5f)),
        m(random_matrix(1, out, seed + 2)),
        params{r, alpha} {
    // Magnitudes of PEFT's order (it starts them at |W|_row): positive, away from zero.
    for (Index o = 0; o < out; ++o) m(0, o) = 2.0f + m(0, o);
  }
  [[nodiscard]] DoRA::Weights weights() const {
    return DoRA::bind({lorakit::make_view(a), lorakit::make_view(b), lorakit::make_view(m)});
  }
};

// W:(out,in) as double, whatever the layout it is stored in.
DoubleMatrix weight_out_in(const RowMatrix& w, WeightLayout layout) {
  const DoubleMatrix d = w.cast<double>();
  return layout == WeightLayout::out_in ? d : DoubleMatrix(d.transpose());
}

// PEFT's DoRA applied to `ref` in place (the running result, as PEFT passes it), in double:
// y = y + (g - 1) (.) (y - bias) + g (.) s * (x A) B, g = m / |W + s (A B)^T|_row. The
// magnitudes follow the same expression with every term in absolute value.
void apply_reference(Reference& ref, const RowMatrix& x, const DoubleMatrix& w,
                     const std::vector<float>& bias, const DoRAFixture& f, double s) {
  const Index out = w.rows();
  const DoubleMatrix ab = f.a.cast<double>() * f.b.cast<double>();  // (in, out)
  const DoubleMatrix w_prime = w + s * ab.transpose();
  const DoubleMatrix t = x.cast<double>() * f.a.cast<double>();  // (n, r)
  const DoubleMatrix t_mag = x.cast<double>().cwiseAbs() * f.a.cast<double>().cwiseAbs();
  const DoubleMatrix lora = t * f.b.cast<double>();
  const DoubleMatrix lora_mag = t_mag * f.b.cast<double>().cwiseAbs();
  for (Index o = 0; o < out; ++o) {
    const double g = static_cast<double>(f.m(0, o)) / w_prime.row(o).norm();
    const double b = bias.empty() ? 0.0 : static_cast<double>(bias[static_cast<std::size_t>(o)]);
    for (Index i = 0; i < ref.value.rows(); ++i) {
      ref.value(i, o) = g * (ref.value(i, o) - b) + b + g * s * lora(i, o);
      ref.magnitude(i, o) =
          g * (ref.magnitude(i, o) + std::abs(b)) + std::abs(b) + g * std::abs(s) * lora_mag(i, o);
    }
  }
  // Each DoRA step adds a few roundings (the gain, B * diag(g), the rescale) to the chain.
  ref.terms += f.a.cols() + 6;
}

// The base alone, in double: x * W^T + bias.
Reference base_reference(const RowMatrix& x, const DoubleMatrix& w,
                         const std::vector<float>& bias) {
  Reference ref;
  const DoubleMatrix xd = x.cast<double>();
  ref.value = xd * w.transpose();
  ref.magnitude = xd.cwiseAbs() * w.cwiseAbs().transpose();
  for (Index o = 0; o < w.rows(); ++o) {
    const double b = bias.empty() ? 0.0 : static_cast<double>(bias[static_cast<std::size_t>(o)]);
    ref.value.col(o).array() += b;
    ref.magnitude.col(o).array() += std::abs(b);
  }
  ref.terms = x.cols() + 1;
  return ref;
}

std::vector<float> random_bias(Index out, std::uint64_t seed) {
  const RowMatrix b = random_matrix(1, out, seed);
  return std::vector<float>(b.data(), b.data() + out);
}

template <class Kernel>
void check_single(WeightLayout layout, bool with_bias, const char* kernel_name) {
  const Index in = 37;
  const Index out = 23;
  const Index r = 5;
  const RowMatrix w =
      layout == WeightLayout::out_in ? random_matrix(out, in, 11) : random_matrix(in, out, 11);
  const std::vector<float> bias = with_bias ? random_bias(out, 12) : std::vector<float>{};
  const DenseLinear<const float> base(lorakit::make_view(w), layout, bias);
  LoRALinear<DenseLinear<const float>, DoRA, Kernel> layer(base, {.module = "blk.0.q"});
  const auto f = std::make_shared<const DoRAFixture>(in, out, r, 10.0f, 20);
  const float user = 0.75f;
  layer.attach("dora", f->weights(), f->params, user, f);
  const double s = static_cast<double>(user) * 10.0 / static_cast<double>(r);

  for (Index n : {Index{1}, Index{7}, Index{33}}) {
    CAPTURE(kernel_name, layout == WeightLayout::out_in, with_bias, n);
    const RowMatrix x = random_matrix(n, in, 30 + static_cast<std::uint64_t>(n));
    RowMatrix y(n, out);
    lorakit::Workspace ws(layer.workspace_floats(n));
    layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    Reference ref = base_reference(x, weight_out_in(w, layout), bias);
    apply_reference(ref, x, weight_out_in(w, layout), bias, *f, s);
    check_close(ref, lorakit::make_view(y), "DoRA forward");

    // A short workspace takes the stack fallback: the same bits.
    RowMatrix y_short(n, out);
    lorakit::Workspace none;
    layer.forward(lorakit::make_view(x), lorakit::make_view(y_short), none);
    check_identical(lorakit::make_view(y), lorakit::make_view(y_short), "short workspace");
  }
}

}  // namespace

TEST_CASE("DoRA: forward equals PEFT's formula in double, both layouts, with and without bias",
          "[variants][dora]") {
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    for (bool with_bias : {false, true}) {
      check_single<lorakit::kernels::ScalarKernel>(layout, with_bias, "scalar");
      check_single<lorakit::DefaultKernel>(layout, with_bias, "default");
    }
  }
}

TEST_CASE("DoRA: a magnitude equal to |W'|_row gives plain LoRA's output", "[variants][dora]") {
  const Index in = 19;
  const Index out = 13;
  const Index r = 3;
  const RowMatrix w = random_matrix(out, in, 41);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in);
  auto f = std::make_shared<DoRAFixture>(in, out, r, 6.0f, 42);
  const double s = 6.0 / 3.0;
  const DoubleMatrix w_prime =
      w.cast<double>() + s * (f->a.cast<double>() * f->b.cast<double>()).transpose();
  for (Index o = 0; o < out; ++o) f->m(0, o) = static_cast<float>(w_prime.row(o).norm());

  LoRALinear<DenseLinear<const float>, DoRA> dora(base);
  dora.attach("d", f->weights(), f->params, 1.0f, f);
  const RowMatrix x = random_matrix(4, in, 43);
  RowMatrix y(4, out);
  lorakit::Workspace ws(dora.workspace_floats(4));
  dora.forward(lorakit::make_view(x), lorakit::make_view(y), ws);

  const DoubleMatrix lora_y = x.cast<double>() * w.cast<double>().transpose() +
                              s * x.cast<double>() * f->a.cast<double>() * f->b.cast<double>();
  Reference ref = base_reference(x, w.cast<double>(), {});
  apply_reference(ref, x, w.cast<double>(), {}, *f, s);
  // The reference with g = 1 (up to rounding of m) is the LoRA output.
  CHECK((ref.value - lora_y).cwiseAbs().maxCoeff() <= 1e-5 * lora_y.cwiseAbs().maxCoeff());
  ref.value = lora_y;
  ref.terms += 2;
  check_close(ref, lorakit::make_view(y), "DoRA with m = |W'|");
}

TEST_CASE("DoRA: set_scale recomputes the norms, and two adapters apply in order as PEFT does",
          "[variants][dora]") {
  const Index in = 29;
  const Index out = 17;
  const RowMatrix w = random_matrix(out, in, 51);
  const std::vector<float> bias = random_bias(out, 52);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in, bias);
  LoRALinear<DenseLinear<const float>, DoRA> layer(base);
  const auto f1 = std::make_shared<const DoRAFixture>(in, out, 4, 8.0f, 53);
  const auto f2 = std::make_shared<const DoRAFixture>(in, out, 7, 7.0f, 54);
  layer.attach("one", f1->weights(), f1->params, 1.0f, f1);
  layer.attach("two", f2->weights(), f2->params, -0.5f, f2);
  layer.set_scale("one", 0.25f);

  const RowMatrix x = random_matrix(6, in, 55);
  RowMatrix y(6, out);
  lorakit::Workspace ws(layer.workspace_floats(6));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  const DoubleMatrix wd = w.cast<double>();
  Reference ref = base_reference(x, wd, bias);
  apply_reference(ref, x, wd, bias, *f1, 0.25 * 8.0 / 4.0);
  apply_reference(ref, x, wd, bias, *f2, -0.5 * 7.0 / 7.0);
  check_close(ref, lorakit::make_view(y), "two DoRA adapters after set_scale");

  // Switched off: the base bit for bit.
  layer.set_enabled(false);
  RowMatrix y_off(6, out);
  RowMatrix y_base(6, out);
  layer.forward(lorakit::make_view(x), lorakit::make_view(y_off), ws);
  base.forward(lorakit::make_view(x), lorakit::make_view(y_base));
  check_identical(lorakit::make_view(y_base), lorakit::make_view(y_off), "DoRA switched off");
}

TEST_CASE("DoRA: 16-bit tensors give the result of their widened values", "[variants][dora]") {
  const Index in = 21;
  const Index out = 11;
  const Index r = 4;
  const RowMatrix w = random_matrix(out, in, 61);
  const DenseLinear<const float> base(lorakit::make_view(w), WeightLayout::out_in);
  auto f = std::make_shared<DoRAFixture>(in, out, r, 4.0f, 62);
  const StoredWeights<lorakit::BFloat16> a16(f->a, 3);
  const StoredWeights<lorakit::Float16> b16(f->b, 1);
  const StoredWeights<lorakit::BFloat16> m16(f->m, 0);
  // The fixture takes the values the 16-bit tensors hold, for the reference.
  for (Index i = 0; i < in; ++i) {
    for (Index j = 0; j < r; ++j) f->a(i, j) = a16.view()(i, j);
  }
  for (Index i = 0; i < r; ++i) {
    for (Index j = 0; j < out; ++j) f->b(i, j) = b16.view()(i, j);
  }
  for (Index j = 0; j < out; ++j) f->m(0, j) = m16.view()(0, j);

  LoRALinear<DenseLinear<const float>, DoRA> layer(base);
  DoRA::Weights weights{a16.view(), b16.view(), m16.view()};
  layer.attach("half", weights, f->params, 1.0f, f);
  const RowMatrix x = random_matrix(5, in, 63);
  RowMatrix y(5, out);
  lorakit::Workspace ws(layer.workspace_floats(5));
  layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
  Reference ref = base_reference(x, w.cast<double>(), {});
  apply_reference(ref, x, w.cast<double>(), {}, *f, 1.0);
  check_close(ref, lorakit::make_view(y), "DoRA on bf16/f16 tensors");
}

TEST_CASE("DoRA: merge folds g (.) W' into W, and unmerge restores W bit for bit",
          "[variants][dora][merge]") {
  const Index in = 31;
  const Index out = 15;
  for (WeightLayout layout : {WeightLayout::out_in, WeightLayout::in_out}) {
    CAPTURE(layout == WeightLayout::out_in);
    RowMatrix w =
        layout == WeightLayout::out_in ? random_matrix(out, in, 71) : random_matrix(in, out, 71);
    const RowMatrix w0 = w;
    const std::vector<float> bias = random_bias(out, 72);
    const DenseLinear<float> base(lorakit::make_view(w), layout, bias);
    LoRALinear<DenseLinear<float>, DoRA> layer(base);
    const auto f1 = std::make_shared<const DoRAFixture>(in, out, 6, 12.0f, 73);
    const auto f2 = std::make_shared<const DoRAFixture>(in, out, 3, 3.0f, 74);
    layer.attach("one", f1->weights(), f1->params, 1.0f, f1);
    layer.attach("two", f2->weights(), f2->params, 1.0f, f2);

    const RowMatrix x = random_matrix(5, in, 75);
    RowMatrix y_unmerged(5, out);
    lorakit::Workspace ws(layer.workspace_floats(5));
    layer.forward(lorakit::make_view(x), lorakit::make_view(y_unmerged), ws);

    // Merged without asking for a backup: DoRA keeps one anyway. The second adapter's norms
    // then follow the merged W (PEFT computes them from the current W).
    layer.merge("one");
    RowMatrix y_merged(5, out);
    layer.forward(lorakit::make_view(x), lorakit::make_view(y_merged), ws);
    {
      // The merged W holds g1 (.) W1' rounded to float: the second adapter sees that W.
      const DoubleMatrix w_merged = weight_out_in(w, layout);
      Reference ref = base_reference(x, w_merged, bias);
      apply_reference(ref, x, w_merged, bias, *f2, 1.0);
      check_close(ref, lorakit::make_view(y_merged), "after merge");
      // ... and the merged W is g1 (.) (W + s1 (A1 B1)^T), to f32 rounding of each element.
      const DoubleMatrix w_prime = weight_out_in(w0, layout) +
                                   2.0 * (f1->a.cast<double>() * f1->b.cast<double>()).transpose();
      double worst = 0.0;
      for (Index o = 0; o < out; ++o) {
        const double g = static_cast<double>(f1->m(0, o)) / w_prime.row(o).norm();
        for (Index k = 0; k < in; ++k) {
          const double err = std::abs(w_merged(o, k) - g * w_prime(o, k));
          worst = std::max(worst, err / (g * (std::abs(w_prime(o, k)) + 2.0 * 6.0 * 0.25) *
                                         static_cast<double>(6 + 4) * 0x1p-23));
        }
      }
      CHECK(worst <= 1.0);
    }

    // Later merges come out first; 'two' cannot be unloaded while 'one', merged before it, is
    // merged (its backup would no longer be W).
    layer.merge("two");
    REQUIRE_THROWS_AS(layer.unload("two"), lorakit::Error);
    layer.unmerge("two");
    layer.unmerge("one");
    check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "W after unmerge");
    RowMatrix y_back(5, out);
    layer.forward(lorakit::make_view(x), lorakit::make_view(y_back), ws);
    check_identical(lorakit::make_view(y_unmerged), lorakit::make_view(y_back),
                    "forward after unmerge");
  }
}

TEST_CASE("DoRA: a row of W' with norm 0 is refused at attach, naming the layer",
          "[variants][dora]") {
  const Index in = 9;
  const Index out = 5;
  RowMatrix w = random_matrix(out, in, 81);
  w.row(2).setZero();
  const DenseLinear<const float> base(lorakit::make_cview(w), WeightLayout::out_in);
  LoRALinear<DenseLinear<const float>, DoRA> layer(base, {.module = "model.layers.0.mlp"});
  auto f = std::make_shared<DoRAFixture>(in, out, 2, 2.0f, 82);
  f->b.col(2).setZero();
  try {
    layer.attach("broken", f->weights(), f->params, 1.0f, f);
    FAIL("attach accepted a zero-norm row");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::bad_config);
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("model.layers.0.mlp") != std::string::npos);
    CHECK(what.find("row 2") != std::string::npos);
  }
  CHECK(layer.attachments().empty());
}
