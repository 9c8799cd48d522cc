// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Model: registration, attach with validation, scales, toggles, identity, mixed-adapter rows.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "adapter_fixture.hpp"
#include "approx.hpp"
#include "files.hpp"
#include "lorakit/lorakit.hpp"
#include "reference.hpp"

using lorakit::Adapter;
using lorakit::Errc;
using lorakit::Index;
using lorakit::Model;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {

RowMatrix run_base(const TinyModel& m, std::size_t k, const RowMatrix& x) {
  RowMatrix y(x.rows(), m.weights[k].rows());
  m.layers[k]->base().forward(lorakit::make_cview(x), lorakit::make_view(y));
  return y;
}

// The reference adapter term of module `name` of `a` at total scale s.
RefAdapter term(const Adapter& a, const std::string& name, double s) {
  const lorakit::AdapterModule* m = a.find(name);
  REQUIRE(m != nullptr);
  return RefAdapter{m->a.view(), m->b.view(), s * static_cast<double>(a.scale(*m))};
}

// Every problem's code, in order.
std::vector<Errc> codes(const lorakit::Error& e) {
  std::vector<Errc> out;
  for (const lorakit::Problem& p : e.problems()) out.push_back(p.code);
  return out;
}

}  // namespace

TEST_CASE("Model: two adapters with their own scales are summed on every layer",
          "[runtime][model]") {
  TinyModel m(2, 32);
  Model model;
  register_all(model, m);
  const auto code = make_adapter("code", m.specs(4), 1);
  const auto style = make_adapter("style", m.specs(8), 2);
  model.attach(code, {.scale = 0.8f});
  model.attach(style, {.scale = 0.5f});
  const RowMatrix x = random_matrix(5, 32, 3);
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    const Reference ref =
        dense_reference(lorakit::make_cview(x), lorakit::make_cview(m.weights[k]), true, {},
                        {term(*code, m.names[k], 0.8), term(*style, m.names[k], 0.5)});
    check_close(ref, lorakit::make_cview(run(m, k, x)), m.names[k]);
  }

  const auto list = model.list();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "code");
  CHECK(list[0].scale == 0.8f);
  CHECK(list[0].rank == 4);
  CHECK(list[0].alpha == 8.0f);
  CHECK(list[0].modules == m.names.size());
  CHECK(list[0].bytes == code->memory_bytes());
  CHECK(list[0].content_hash == code->content_hash());
  CHECK(list[1].name == "style");
  CHECK(model.id("code") == list[0].id);
  CHECK(model.id("style") != model.id("code"));
  CHECK(model.id("none") == lorakit::kNoAdapter);
}

TEST_CASE("Model: scale, active and the model-wide switch reach every layer", "[runtime][model]") {
  TinyModel m(2, 16);
  Model model;
  register_all(model, m);
  const auto code = make_adapter("code", m.specs(4), 1);
  model.attach(code);
  const RowMatrix x = random_matrix(3, 16, 3);
  const std::size_t k = 3;
  auto expect_scale = [&](double s, const std::string& what) {
    const Reference ref = dense_reference(lorakit::make_cview(x), lorakit::make_cview(m.weights[k]),
                                          true, {}, {term(*code, m.names[k], s)});
    check_close(ref, lorakit::make_cview(run(m, k, x)), what);
  };
  expect_scale(1.0, "scale 1");
  model.set_scale("code", -0.25f);
  expect_scale(-0.25, "scale -0.25");
  CHECK(model.list()[0].scale == -0.25f);

  model.set_enabled(false);
  CHECK_FALSE(model.enabled());
  check_identical(lorakit::make_cview(run_base(m, k, x)), lorakit::make_cview(run(m, k, x)),
                  "model switch off");
  model.set_enabled(true);
  m.layers[k]->set_enabled(false);  // the layer's own toggle still works alongside
  check_identical(lorakit::make_cview(run_base(m, k, x)), lorakit::make_cview(run(m, k, x)),
                  "layer toggle off");
  m.layers[k]->set_enabled(true);

  model.set_active("code", false);
  check_identical(lorakit::make_cview(run_base(m, k, x)), lorakit::make_cview(run(m, k, x)),
                  "inactive");
  CHECK_FALSE(model.list()[0].active);
  model.set_active("code", true);
  expect_scale(-0.25, "active again");

  CHECK(model.detach("code"));
  CHECK_FALSE(model.detach("code"));
  CHECK(model.list().empty());
  CHECK(m.layers[k]->attachments().empty());
  check_identical(lorakit::make_cview(run_base(m, k, x)), lorakit::make_cview(run(m, k, x)),
                  "detached");

  CHECK_THROWS_AS(model.set_scale("code", 1.0f), lorakit::Error);
  CHECK_THROWS_AS(model.set_active("code", true), lorakit::Error);
}

TEST_CASE("Model: a wrong base model is refused with every problem and nothing attached",
          "[runtime][model]") {
  TinyModel m(2, 32);
  Model model;
  register_all(model, m);
  const auto good = make_adapter("user", m.specs(4), 1);
  model.attach(good);

  // Built for a model of width 48 with a third block: every module disagrees in shape, and the
  // third block has no layer here.
  TinyModel wider(3, 48);
  const auto wrong = make_adapter("user", wider.specs(4), 5);
  try {
    model.attach(wrong);
    FAIL("a wrong-base adapter was attached");
  } catch (const lorakit::Error& e) {
    const auto c = codes(e);
    CHECK(std::count(c.begin(), c.end(), Errc::no_target) == 2);
    CHECK(std::count(c.begin(), c.end(), Errc::shape_mismatch) == 8);  // A and B of 4 modules
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("model.layers.2.self_attn.q_proj"));
    CHECK_THAT(what, Catch::Contains("maybe wrong base model?"));
    CHECK_THAT(what, Catch::Contains("lora_A"));
  }
  // The earlier adapter of that name is untouched, on every layer.
  const auto list = model.list();
  REQUIRE(list.size() == 1);
  CHECK(list[0].content_hash == good->content_hash());
  const RowMatrix x = random_matrix(2, 32, 3);
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    REQUIRE(m.layers[k]->attachments().size() == 1);
    const Reference ref = dense_reference(lorakit::make_cview(x), lorakit::make_cview(m.weights[k]),
                                          true, {}, {term(*good, m.names[k], 1.0)});
    check_close(ref, lorakit::make_cview(run(m, k, x)), m.names[k]);
  }

  // Rank above a layer's max_rank, and a non-finite scale.
  const auto huge = make_adapter("huge", m.specs(65), 9);
  CHECK_THROWS_MATCHES(model.attach(huge), lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>(
                           [](const lorakit::Error& e) { return e.code() == Errc::limit_exceeded; },
                           "limit_exceeded"));
  CHECK_THROWS_AS(model.attach(good, {.name = "nan", .scale = std::nanf("")}), lorakit::Error);
  CHECK(model.list().size() == 1);
}

TEST_CASE("Model: a target rule that selects layers the adapter lacks is refused",
          "[runtime][model]") {
  TinyModel m(2, 16);
  Model model;
  register_all(model, m);
  lorakit::AdapterInfo info;
  info.target.names = {"q_proj", "v_proj"};
  const auto partial = make_adapter("partial", m.specs(4, 1), 1, info);  // block 0 only
  try {
    model.attach(partial);
    FAIL("an adapter missing layers its rule selects was attached");
  } catch (const lorakit::Error& e) {
    CHECK(codes(e) == std::vector<Errc>{Errc::missing_tensor, Errc::missing_tensor});
    CHECK_THAT(e.what(), Catch::Contains("model.layers.1.self_attn.q_proj"));
  }
  CHECK(model.list().empty());
  info.target.layers = {0};  // layers_to_transform = [0]: block 0 is all it should have
  CHECK(model.attach(make_adapter("partial", m.specs(4, 1), 1, info)) != lorakit::kNoAdapter);
  CHECK(model.list().size() == 1);
  CHECK(model.list()[0].modules == 2);
}

TEST_CASE("Model: host names differ from the file's, through a NameMap", "[runtime][model]") {
  TinyModel m(1, 16);
  lorakit::NameMap names;
  names.strip_prefix("model.")
      .replace("self_attn.q_proj", "attn.wq")
      .replace("self_attn.v_proj", "attn.wv");
  Model model({.names = names});
  model.add("layers.0.attn.wq", *m.layers[0]);
  model.add("layers.0.attn.wv", *m.layers[1]);
  CHECK_THROWS_AS(model.add("layers.0.attn.wq", *m.layers[0]), lorakit::Error);
  CHECK(model.size() == 2);
  const auto a = make_adapter("a", m.specs(4), 1);
  model.attach(a);
  CHECK(m.layers[0]->attachments().size() == 1);
  CHECK(m.layers[1]->attachments().size() == 1);
}

TEST_CASE("Model: adapters that replace full tensors need an explicit opt-in", "[runtime][model]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  const auto plain = make_adapter("p", m.specs(4), 1);
  const float head[2] = {1.0f, 2.0f};
  std::map<std::string, lorakit::AdapterTensor> saved;
  saved["classifier.weight"] = lorakit::AdapterTensor{lorakit::DType::f32, lorakit::Shape{2},
                                                      std::as_bytes(std::span<const float>(head))};
  std::map<std::string, lorakit::AdapterModule> modules = plain->modules();
  const auto with_head = std::make_shared<const Adapter>(
      plain->info(), modules, saved, std::vector<std::shared_ptr<const void>>{plain});
  try {
    model.attach(with_head);
    FAIL("an adapter with saved tensors was attached silently");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::unsupported);
    CHECK_THAT(e.what(), Catch::Contains("classifier.weight"));
  }
  model.attach(with_head, {.ignore_saved_tensors = true});
  CHECK(model.list().size() == 1);
}

TEST_CASE("Model: 16-bit adapters attach as stored, with no f32 copy", "[runtime][model]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  // bf16 values that are exact in f32: the f32 adapter with the same values must match bit
  // for bit.
  const auto f32 = make_adapter("f32", m.specs(4), 1);
  std::vector<std::shared_ptr<std::vector<std::uint16_t>>> keep;
  std::map<std::string, lorakit::AdapterModule> modules;
  std::map<std::string, lorakit::AdapterModule> rounded;
  auto storage = std::make_shared<std::vector<RowMatrix>>();
  storage->reserve(8);
  for (const auto& [name, mod] : f32->modules()) {
    lorakit::AdapterModule half = mod;
    lorakit::AdapterModule exact = mod;
    for (auto [src, dst16, dst32] :
         {std::tuple{&mod.a, &half.a, &exact.a}, std::tuple{&mod.b, &half.b, &exact.b}}) {
      const lorakit::ConstMatrixView v = src->view();
      auto bits = std::make_shared<std::vector<std::uint16_t>>();
      RowMatrix& back = storage->emplace_back(v.rows(), v.cols());
      for (Index i = 0; i < v.rows(); ++i) {
        for (Index j = 0; j < v.cols(); ++j) {
          const auto b = lorakit::BFloat16::from_float(v(i, j));
          bits->push_back(b.bits);
          back(i, j) = b.to_float();
        }
      }
      *dst16 = lorakit::AdapterTensor{lorakit::DType::bf16, src->shape,
                                      std::as_bytes(std::span<const std::uint16_t>(*bits))};
      *dst32 = lorakit::AdapterTensor{lorakit::DType::f32, src->shape,
                                      std::as_bytes(std::span<const float>(
                                          back.data(), static_cast<std::size_t>(back.size())))};
      keep.push_back(bits);
    }
    modules.emplace(name, half);
    rounded.emplace(name, exact);
  }
  std::vector<std::shared_ptr<const void>> owners(keep.begin(), keep.end());
  const auto bf16 = std::make_shared<const Adapter>(
      f32->info(), modules, std::map<std::string, lorakit::AdapterTensor>{}, owners);
  const auto exact = std::make_shared<const Adapter>(
      f32->info(), rounded, std::map<std::string, lorakit::AdapterTensor>{},
      std::vector<std::shared_ptr<const void>>{storage});
  CHECK(bf16->content_hash() != exact->content_hash());  // stored differently
  const RowMatrix x = random_matrix(3, 16, 3);
  model.attach(exact, {.name = "e"});
  const RowMatrix y_exact = run(m, 0, x);
  model.detach("e");
  model.attach(bf16, {.name = "h"});
  check_identical(lorakit::make_cview(y_exact), lorakit::make_cview(run(m, 0, x)), "bf16 vs f32");
  // The kernels read the bf16 bytes in place: the layers view the adapter's own tensors.
  CHECK(model.list()[0].bytes == bf16->memory_bytes());
  const auto list = m.layers[0]->attachments();
  REQUIRE(list.size() == 1);
  CHECK(list[0].weights.a.dtype() == lorakit::DType::bf16);
  CHECK(list[0].weights.a.data() == bf16->find(m.names[0])->a.bytes.data());

  // Merging widens the 16-bit factors exactly: the same weights as merging the f32 adapter.
  model.merge("h");
  const RowMatrix w_half = m.weights[0];
  model.unmerge("h");
  model.detach("h");
  model.attach(exact, {.name = "e"});
  model.merge("e");
  check_identical(lorakit::make_cview(m.weights[0]), lorakit::make_cview(w_half), "merged W");
  model.unmerge("e");
}

TEST_CASE("Model: identity follows content and scale, not names", "[runtime][model]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  CHECK(model.identity() == 0);
  const auto a = make_adapter("a", m.specs(4), 1);
  const auto a_again = make_adapter("copy", m.specs(4), 1);  // same values, other name
  const auto b = make_adapter("b", m.specs(4), 2);
  CHECK(a->content_hash() == a_again->content_hash());
  CHECK(a->content_hash() != b->content_hash());

  model.attach(a, {.scale = 0.5f});
  const auto id_a = model.identity();
  CHECK(id_a != 0);
  model.detach("a");
  model.attach(a_again, {.scale = 0.5f});
  CHECK(model.identity() == id_a);
  model.set_scale("copy", 0.75f);
  CHECK(model.identity() != id_a);
  model.set_scale("copy", 0.5f);
  CHECK(model.identity() == id_a);
  model.attach(b);
  const auto id_ab = model.identity();
  CHECK(id_ab != id_a);
  model.set_active("b", false);
  CHECK(model.identity() == id_a);
  model.set_enabled(false);
  CHECK(model.identity() == 0);
}

TEST_CASE("LoRALinear: each row takes its own adapter in a mixed batch", "[runtime][mixed]") {
  TinyModel m(1, 32);
  Model model;
  register_all(model, m);
  const auto p = make_adapter("p", m.specs(4), 1);
  const auto q = make_adapter("q", m.specs(16), 2);
  const auto ip = model.attach(p, {.scale = 1.0f});
  const auto iq = model.attach(q, {.scale = 0.5f});
  const auto none = lorakit::kNoAdapter;
  // Runs of several lengths (1 to 6 rows), ids not attached, and rows without adapter.
  const std::vector<lorakit::AdapterId> rows{ip, ip, ip, iq, none, none, iq, iq, iq, iq, iq,
                                             iq, ip, 77, iq, none, ip,   ip, ip, ip, ip};
  const Index n = static_cast<Index>(rows.size());
  const RowMatrix x = random_matrix(n, 32, 3);
  for (std::size_t k = 0; k < m.names.size(); ++k) {
    RowMatrix y(n, m.weights[k].rows());
    lorakit::Workspace ws(m.layers[k]->workspace_floats(4));  // smaller than a run: blocks
    m.layers[k]->forward(lorakit::make_cview(x), lorakit::make_view(y), ws, rows);
    for (Index i = 0; i < n; ++i) {
      const RowMatrix xi = x.row(i);
      std::vector<RefAdapter> terms;
      const auto id = rows[static_cast<std::size_t>(i)];
      if (id == ip) terms.push_back(term(*p, m.names[k], 1.0));
      if (id == iq) terms.push_back(term(*q, m.names[k], 0.5));
      const Reference ref = dense_reference(lorakit::make_cview(xi),
                                            lorakit::make_cview(m.weights[k]), true, {}, terms);
      const RowMatrix yi = y.row(i);
      check_close(ref, lorakit::make_cview(yi), m.names[k] + " row " + std::to_string(i));
      if (terms.empty()) {
        check_identical(lorakit::make_cview(run_base(m, k, xi)), lorakit::make_cview(yi),
                        "base row " + std::to_string(i));
      }
    }
  }
  // Inactive adapters and the switches apply to mixed batches too.
  model.set_active("q", false);
  model.set_enabled(false);
  RowMatrix y(n, 32);
  lorakit::Workspace ws(m.layers[0]->workspace_floats(n));
  m.layers[0]->forward(lorakit::make_cview(x), lorakit::make_view(y), ws, rows);
  check_identical(lorakit::make_cview(run_base(m, 0, x)), lorakit::make_cview(y), "switch off");
}

namespace {

struct NoOp {
  void operator()(lorakit::ConstMatrixView, lorakit::MatrixView y) const noexcept { y.setZero(); }
};
using ShapeLayer = lorakit::LoRALinear<lorakit::FunctionLinear<NoOp>, lorakit::LoRA>;

// q_proj (hidden -> hidden) and v_proj (hidden -> kv) layers for `blocks` blocks: the shapes of
// a base model, without its weights.
struct ShapeModel {
  std::vector<std::unique_ptr<ShapeLayer>> layers;
  Model model;
  ShapeModel(int blocks, Index hidden, Index kv) {
    for (int b = 0; b < blocks; ++b) {
      for (const char* proj : {"q_proj", "v_proj"}) {
        const Index out = proj[0] == 'q' ? hidden : kv;
        layers.push_back(
            std::make_unique<ShapeLayer>(lorakit::FunctionLinear<NoOp>({}, hidden, out)));
        model.add("model.layers." + std::to_string(b) + ".self_attn." + proj, *layers.back());
      }
    }
  }
};

}  // namespace

TEST_CASE("Model: real adapters attach to their base's shapes, a wrong base is refused",
          "[runtime][model][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto peft = fixtures_dir() / "peft";
  // Llama 3.2 1B: 16 blocks, hidden 2048, 8 KV heads of 64 (v_proj 2048 -> 512).
  ShapeModel llama(16, 2048, 512);
  const auto llama_adapter = lorakit::io::load_adapter(peft / "llama32-1b-qv");
  llama.model.attach(llama_adapter);
  REQUIRE(llama.model.list().size() == 1);
  CHECK(llama.model.list()[0].modules == 32);
  for (const auto& layer : llama.layers) CHECK(layer->attachments().size() == 1);

  // SmolLM2 135M (30 blocks, hidden 576) on the Llama model: every shape disagrees and blocks
  // 16-29 have no layer.
  try {
    llama.model.attach(lorakit::io::load_adapter(peft / "smollm2-135m-qv"), {.name = "smol"});
    FAIL("an adapter for another base model was attached");
  } catch (const lorakit::Error& e) {
    const auto c = codes(e);
    CHECK(std::count(c.begin(), c.end(), Errc::no_target) == 28);
    CHECK(std::count(c.begin(), c.end(), Errc::shape_mismatch) == 64);
    CHECK_THAT(e.what(), Catch::Contains("smollm2-135m-qv"));
    CHECK_THAT(e.what(), Catch::Contains("maybe wrong base model?"));
  }
  CHECK(llama.model.list().size() == 1);
  for (const auto& layer : llama.layers) CHECK(layer->attachments().size() == 1);

  // mlx-lm adapter on Qwen2.5 0.5B (24 blocks, hidden 896, v_proj 896 -> 128): trained on the
  // last 4 blocks (num_layers = 4), which the target rule knows, so blocks 0-19 are not missing.
  LORAKIT_REQUIRE_FIXTURES();
  ShapeModel qwen(24, 896, 128);
  qwen.model.attach(lorakit::io::load_adapter(fixtures_dir() / "mlx" / "mlx-qwen25-05b"));
  CHECK(qwen.model.list()[0].modules == 8);
  CHECK(qwen.layers[40]->attachments().size() == 1);  // block 20, q_proj
  CHECK(qwen.layers[39]->attachments().empty());      // block 19, v_proj
}
