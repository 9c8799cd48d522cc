// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// merge_low_rank against the oracle; merge / unmerge on layers and on a Model.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DenseLinear;
using lorakit::Errc;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using lorakit::WeightLayout;
using namespace lorakit::test;

namespace {

// W + s * (A*B)^T (or s * A*B for [in, out] weights) in double, with per-element tolerances for
// a float sum of r products added to W: (r + 2) roundings of the magnitudes involved.
Reference merged_reference(const RowMatrix& w, WeightLayout layout, const RowMatrix& a,
                           const RowMatrix& b, double s) {
  Reference ref;
  ref.value = w.cast<double>();
  ref.magnitude = w.cast<double>().cwiseAbs();
  ref.terms = a.cols() + 2;
  for (Index i = 0; i < a.rows(); ++i) {
    for (Index o = 0; o < b.cols(); ++o) {
      double v = 0.0;
      double m = 0.0;
      for (Index k = 0; k < a.cols(); ++k) {
        const double p = static_cast<double>(a(i, k)) * static_cast<double>(b(k, o));
        v += p;
        m += std::abs(p);
      }
      const Index row = layout == WeightLayout::out_in ? o : i;
      const Index col = layout == WeightLayout::out_in ? i : o;
      ref.value(row, col) += s * v;
      ref.magnitude(row, col) += std::abs(s) * m;
    }
  }
  return ref;
}

using Layer = lorakit::LoRALinear<DenseLinear<float>, LoRA>;
using ConstLayer = lorakit::LoRALinear<DenseLinear<const float>, LoRA>;

template <class L>
concept CanMerge = requires(L& l) {
  l.merge("x");
};

}  // namespace

TEMPLATE_TEST_CASE("merge_low_rank matches the oracle in both weight layouts", "[runtime][merge]",
                   lorakit::kernels::ScalarKernel, lorakit::DefaultKernel) {
  const Index in = GENERATE(1, 7, 33, 300);
  const Index out = GENERATE(1, 17, 130);
  const Index r = GENERATE(1, 8, 19);
  const WeightLayout layout = GENERATE(WeightLayout::out_in, WeightLayout::in_out);
  CAPTURE(in, out, r, layout == WeightLayout::out_in);
  const RowMatrix a = random_matrix(in, r, 1);
  const RowMatrix b = random_matrix(r, out, 2);
  RowMatrix w =
      layout == WeightLayout::out_in ? random_matrix(out, in, 3) : random_matrix(in, out, 3);
  const Reference ref = merged_reference(w, layout, a, b, -0.625);
  lorakit::kernels::merge_low_rank<TestType>(lorakit::make_view(w), layout, lorakit::make_cview(a),
                                             lorakit::make_cview(b), -0.625f);
  check_close(ref, lorakit::make_cview(w), "merged W");
}

TEST_CASE("LoRALinear::merge folds the adapter into W and unmerge restores it",
          "[runtime][merge]") {
  const Index in = 40;
  const Index out = 24;
  const WeightLayout layout = GENERATE(WeightLayout::out_in, WeightLayout::in_out);
  const bool keep_backup = GENERATE(true, false);
  CAPTURE(layout == WeightLayout::out_in, keep_backup);
  const RowMatrix w0 =
      layout == WeightLayout::out_in ? random_matrix(out, in, 1) : random_matrix(in, out, 1);
  RowMatrix w = w0;
  Layer layer(DenseLinear<float>(w.data(), in, out, layout));
  const auto p = make_lora(in, out, 6, 12.0f, 2);
  layer.attach("p", p->weights(), p->params, 0.75f, p);
  const RowMatrix x = random_matrix(5, in, 3);
  RowMatrix y_unmerged(5, out);
  lorakit::Workspace ws(layer.workspace_floats(5));
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y_unmerged), ws);

  layer.merge("p", keep_backup);
  const Reference merged = merged_reference(w0, layout, p->a, p->b, 0.75 * 12.0 / 6.0);
  check_close(merged, lorakit::make_cview(w), "merged W");
  CHECK(layer.attachments()[0].merged);
  // forward is now exactly the base over the merged W (the adapter is skipped) ...
  RowMatrix y_merged(5, out);
  RowMatrix y_base(5, out);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y_merged), ws);
  layer.base().forward(lorakit::make_cview(x), lorakit::make_view(y_base));
  check_identical(lorakit::make_cview(y_base), lorakit::make_cview(y_merged), "merged forward");
  // ... and agrees with the unmerged computation up to rounding.
  const Reference unmerged_ref = dense_reference(
      lorakit::make_cview(x), lorakit::make_cview(w0), layout == WeightLayout::out_in, {},
      {{lorakit::make_cview(p->a), lorakit::make_cview(p->b), 1.5}});
  check_close(unmerged_ref, lorakit::make_cview(y_merged), "merged vs unmerged");
  check_close(unmerged_ref, lorakit::make_cview(y_unmerged), "unmerged");

  // A merged adapter cannot be rescaled, detached, replaced or merged twice.
  CHECK_THROWS_AS(layer.set_scale("p", 1.0f), lorakit::Error);
  CHECK_THROWS_AS(layer.detach("p"), lorakit::Error);
  CHECK_THROWS_AS(layer.attach("p", p->weights(), p->params), lorakit::Error);
  CHECK_THROWS_AS(layer.merge("p"), lorakit::Error);

  layer.unmerge("p");
  CHECK_FALSE(layer.attachments()[0].merged);
  if (keep_backup) {
    check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "restored W");
  } else {
    // (W + d) - d in float: each element within two roundings of |W| + |d|.
    Reference back = merged;
    back.value = w0.cast<double>();
    back.terms = 2 * (p->params.rank + 2);
    check_close(back, lorakit::make_cview(w), "W after subtracting");
  }
  RowMatrix y_again(5, out);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y_again), ws);
  check_close(unmerged_ref, lorakit::make_cview(y_again), "after unmerge");
  CHECK_THROWS_AS(layer.unmerge("p"), lorakit::Error);
}

TEST_CASE("LoRALinear::unmerge with backups goes in reverse merge order", "[runtime][merge]") {
  RowMatrix w = random_matrix(8, 8, 1);
  const RowMatrix w0 = w;
  Layer layer(DenseLinear<float>(w.data(), 8, 8));
  const auto p = make_lora(8, 8, 2, 2.0f, 2);
  const auto q = make_lora(8, 8, 3, 3.0f, 4);
  layer.attach("p", p->weights(), p->params, 1.0f, p);
  layer.attach("q", q->weights(), q->params, 1.0f, q);
  layer.merge("p", true);
  layer.merge("q", true);
  try {
    layer.unmerge("p");
    FAIL("restoring p's backup would have dropped q");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(e.what(), Catch::Contains("unmerge 'q' first"));
  }
  layer.unmerge("q");
  layer.unmerge("p");
  check_identical(lorakit::make_cview(w0), lorakit::make_cview(w), "restored W");
}

TEST_CASE("merge needs writable weights: a compile-time error, or unsupported at run time",
          "[runtime][merge]") {
  STATIC_REQUIRE(CanMerge<Layer>);
  STATIC_REQUIRE_FALSE(CanMerge<ConstLayer>);
  using Fn = lorakit::FunctionLinear<void (*)(lorakit::ConstMatrixView, lorakit::MatrixView)>;
  STATIC_REQUIRE_FALSE(CanMerge<lorakit::LoRALinear<Fn, LoRA>>);

  // A model mixing a read-only layer with writable ones refuses to merge, touching nothing.
  TinyModel m(1, 16);
  const RowMatrix extra_w = random_matrix(16, 16, 9);
  ConstLayer read_only(DenseLinear<const float>(extra_w.data(), 16, 16));
  lorakit::Model model;
  model.add(m.names[0], *m.layers[0]);
  model.add(m.names[1], *m.layers[1]);
  model.add("model.layers.0.mlp.up_proj", read_only);
  auto specs = m.specs(4);
  specs.push_back({"model.layers.0.mlp.up_proj", 16, 16, 4});
  model.attach(make_adapter("a", specs, 1));
  const RowMatrix w_before = m.weights[0];
  try {
    model.merge("a");
    FAIL("merged into a read-only base");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::unsupported);
    CHECK_THAT(e.what(), Catch::Contains("model.layers.0.mlp.up_proj"));
  }
  check_identical(lorakit::make_cview(w_before), lorakit::make_cview(m.weights[0]), "untouched W");
  CHECK_FALSE(model.list()[0].merged);
}

TEST_CASE("Model::merge and unmerge across layers", "[runtime][merge]") {
  TinyModel m(2, 16);
  lorakit::Model model;
  register_all(model, m);
  const auto a = make_adapter("a", m.specs(4), 1);
  model.attach(a, {.scale = 0.5f});
  const auto id_before = model.identity();
  const std::vector<RowMatrix> w0 = m.weights;
  model.merge("a", true);
  CHECK(model.list()[0].merged);
  CHECK(model.identity() == id_before);  // the output is the same adapter at the same scale
  model.set_enabled(false);              // merged weights stay: the switch cannot remove them
  CHECK(model.identity() == id_before);
  model.set_enabled(true);
  CHECK_THROWS_AS(model.detach("a"), lorakit::Error);
  CHECK_THROWS_AS(model.set_scale("a", 1.0f), lorakit::Error);
  CHECK_THROWS_AS(model.attach(a), lorakit::Error);
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    const auto* mod = a->find(m.names[k]);
    const RowMatrix am = mod->a.view();
    const RowMatrix bm = mod->b.view();
    const Reference ref = merged_reference(w0[k], WeightLayout::out_in, am, bm, 0.5 * 2.0);
    check_close(ref, lorakit::make_cview(m.weights[k]), m.names[k]);
  }
  model.unmerge("a");
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    check_identical(lorakit::make_cview(w0[k]), lorakit::make_cview(m.weights[k]), m.names[k]);
  }
  CHECK(model.detach("a"));
}

TEST_CASE("unmerge goes in reverse merge order, with or without backups", "[runtime][merge]") {
  RowMatrix w = random_matrix(8, 8, 1);
  const RowMatrix w0 = w;
  Layer layer(DenseLinear<float>(w.data(), 8, 8));
  const auto p = make_lora(8, 8, 2, 2.0f, 2);
  const auto q = make_lora(8, 8, 3, 3.0f, 4);
  layer.attach("p", p->weights(), p->params, 1.0f, p);
  layer.attach("q", q->weights(), q->params, 1.0f, q);
  // p without a backup, then q with one (its copy holds W + p): taking p out first and then
  // restoring q's copy would bring p back while the layer also computes it.
  layer.merge("p", false);
  layer.merge("q", true);
  CHECK_THROWS_AS(layer.check_unmerge("p"), lorakit::Error);
  CHECK_THROWS_AS(layer.unmerge("p"), lorakit::Error);
  CHECK(layer.attachments()[0].merged);
  layer.check_unmerge("q");
  layer.unmerge("q");
  layer.unmerge("p");
  Reference back = merged_reference(w0, WeightLayout::out_in, p->a, p->b, 1.0);
  back.value = w0.cast<double>();
  back.terms = 2 * (2 + 2);
  check_close(back, lorakit::make_cview(w), "W after both unmerges");
}

TEST_CASE("Model::unmerge checks every layer before changing any", "[runtime][merge]") {
  TinyModel m(1, 16);
  lorakit::Model model;
  model.add(m.names[0], *m.layers[0]);
  model.add(m.names[1], *m.layers[1]);
  const std::vector<RowMatrix> w0 = m.weights;
  const auto x = make_adapter("x", m.specs(4), 1);                // both layers
  const auto y = make_adapter("y", {{m.names[1], 16, 8, 2}}, 5);  // v_proj only
  model.attach(x);
  model.attach(y);
  model.merge("x", true);
  model.merge("y", true);
  const RowMatrix q_merged = m.weights[0];
  try {
    model.unmerge("x");  // y, merged later, still sits on v_proj
    FAIL("unmerged x under y");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(e.what(), Catch::Contains("unmerge 'y' first"));
  }
  check_identical(lorakit::make_cview(q_merged), lorakit::make_cview(m.weights[0]),
                  "q_proj untouched");
  CHECK(model.list()[0].merged);
  model.unmerge("y");
  model.unmerge("x");
  for (std::size_t k = 0; k < 2; ++k) {
    check_identical(lorakit::make_cview(w0[k]), lorakit::make_cview(m.weights[k]), m.names[k]);
  }
}
