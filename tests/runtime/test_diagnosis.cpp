// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Model::attach errors a user can act on: the diagnosis naming both bases and the dominant
// mismatch, kinds in order of importance, natural module order, file-layout shapes per format.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "files.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::Errc;
using lorakit::Index;
using lorakit::Model;
using lorakit::Shape;
using namespace lorakit::test;

namespace {

// The error attach() throws, or a failed test.
lorakit::Error attach_error(Model& model, std::shared_ptr<const lorakit::Adapter> adapter,
                            Model::AttachOptions options = {}) {
  try {
    model.attach(std::move(adapter), std::move(options));
  } catch (const lorakit::Error& e) {
    return e;
  }
  FAIL("attach() accepted an adapter it should refuse");
  return lorakit::Error(Errc::io, {}, "unreachable");
}

std::size_t count(const lorakit::Error& e, Errc code) {
  return static_cast<std::size_t>(std::count_if(e.problems().begin(), e.problems().end(),
                                                [&](const auto& p) { return p.code == code; }));
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// An in-memory adapter for a TinyModel of `blocks` blocks and width `width`, as if read from a
// file of `format` for base `base`.
std::shared_ptr<const lorakit::Adapter> adapter_for(int blocks, Index width,
                                                    lorakit::AdapterFormat format,
                                                    std::string base = "org/big") {
  lorakit::AdapterInfo info;
  info.format = format;
  info.base_model = std::move(base);
  info.source = "adapters/user";
  return make_adapter("user", TinyModel(blocks, width).specs(4), 7, info);
}

struct NoOp {
  void operator()(lorakit::ConstMatrixView, lorakit::MatrixView y) const noexcept { y.setZero(); }
};
using ShapeLayer = lorakit::LoRALinear<lorakit::FunctionLinear<NoOp>, lorakit::LoRA>;

// The q_proj (hidden -> hidden) and v_proj (hidden -> kv) layers of a Llama-style base, without
// weights, registered with a Model that knows the base's name.
struct ShapeHost {
  std::vector<std::unique_ptr<ShapeLayer>> layers;
  Model model;
  ShapeHost(std::string base, int blocks, Index hidden, Index kv)
      : model(Model::Options{.names = {}, .base = std::move(base)}) {
    for (int b = 0; b < blocks; ++b) {
      for (const char* proj : {"q_proj", "v_proj"}) {
        layers.push_back(std::make_unique<ShapeLayer>(
            lorakit::FunctionLinear<NoOp>({}, hidden, proj[0] == 'q' ? hidden : kv)));
        model.add("model.layers." + std::to_string(b) + ".self_attn." + proj, *layers.back());
      }
    }
  }
};

}  // namespace

TEST_CASE("Model::attach: the diagnosis names both bases and the dominant mismatch first",
          "[runtime][diagnosis]") {
  TinyModel m(2, 16);
  Model model({.names = {}, .base = "org/small"});
  register_all(model, m);
  const lorakit::Error e = attach_error(model, adapter_for(3, 32, lorakit::AdapterFormat::peft));
  CHECK(e.diagnosis() ==
        "adapter 'user' was trained on org/big (6 modules in blocks 0-2: in 32, out 32/16, rank "
        "4); this model is org/small (4 layers in 2 blocks: in 16, out 16/8). 4 of 6 modules: in "
        "32 (adapter) vs 16 (model) - maybe wrong base model? Also: 2 of 6 modules: out 16 vs 8; "
        "2 of 6 modules: out 32 vs 16; 2 of 6 modules have no layer here (block 2).");
  const std::string what = e.what();
  CHECK(first_line(what) == "[lorakit.shape_mismatch] " + e.diagnosis());
  CHECK(e.code() == Errc::shape_mismatch);
  CHECK(count(e, Errc::shape_mismatch) == 8);
  CHECK(count(e, Errc::no_target) == 2);
  CHECK_THAT(what, Catch::Contains("\n  8 shape_mismatch:\n    [lorakit.shape_mismatch] "
                                   "adapters/user: module model.layers.0.self_attn.q_proj, slot "
                                   "lora_A: adapter 'user': expected [4, 16] in the file ([16, 4] "
                                   "in lorakit), got [4, 32] ([32, 4]) (hint: maybe wrong base "
                                   "model?)\n"));
  CHECK_THAT(what, Catch::Contains("\n    and 5 more\n  2 no_target:\n"));
  CHECK_THAT(what, Catch::EndsWith("module model.layers.2.self_attn.v_proj: adapter 'user' has "
                                   "weights for a layer the model did not register (hint: maybe "
                                   "wrong base model, or a NameMap rule missing?)"));
  CHECK(lines(what) == 1 + 1 + 3 + 1 + 1 + 2);
  CHECK(model.list().empty());

  // Without names on either side the diagnosis says so.
  Model unnamed;
  register_all(unnamed, m);
  const lorakit::Error u =
      attach_error(unnamed, adapter_for(2, 32, lorakit::AdapterFormat::memory, ""));
  CHECK_THAT(u.diagnosis(), Catch::StartsWith("adapter 'user' does not name its base model (4 "
                                              "modules in blocks 0-1: in 32, out 32/16, rank "
                                              "4); this model has 4 layers in 2 blocks: in 16, "
                                              "out 16/8. 4 of 4 modules: in 32 (adapter) vs 16 "
                                              "(model) - maybe wrong base model?"));
}

TEST_CASE("Model::attach: a wrong base comes before a modules_to_save refusal",
          "[runtime][diagnosis]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  const auto wide = adapter_for(1, 24, lorakit::AdapterFormat::peft);
  const float head[2] = {1.0f, 2.0f};
  std::map<std::string, lorakit::AdapterTensor> saved;
  saved["classifier.weight"] = lorakit::AdapterTensor{lorakit::DType::f32, Shape{2},
                                                      std::as_bytes(std::span<const float>(head))};
  const auto with_head = std::make_shared<const lorakit::Adapter>(
      wide->info(), wide->modules(), saved, std::vector<std::shared_ptr<const void>>{wide});
  const lorakit::Error e = attach_error(model, with_head);
  CHECK(e.code() == Errc::shape_mismatch);  // added after the refusal, reported before it
  CHECK(e.context().module == "model.layers.0.self_attn.q_proj");
  REQUIRE(e.problems().size() == 5);
  CHECK(e.problems().back().code == Errc::unsupported);
  CHECK_THAT(e.diagnosis(), Catch::Contains("2 of 2 modules: in 24 (adapter) vs 16 (model) - "
                                            "maybe wrong base model?"));
  const std::string what = e.what();
  CHECK(what.find("4 shape_mismatch:") < what.find("1 unsupported:"));
  CHECK_THAT(what, Catch::Contains("classifier.weight"));

  // The refusal alone keeps the one-line message, without a diagnosis.
  const auto fitting = make_adapter("fit", m.specs(4), 1);
  const lorakit::Error alone = attach_error(
      model,
      std::make_shared<const lorakit::Adapter>(fitting->info(), fitting->modules(), saved,
                                               std::vector<std::shared_ptr<const void>>{fitting}));
  CHECK(alone.diagnosis().empty());
  CHECK(alone.code() == Errc::unsupported);
  CHECK(lines(alone.what()) == 1);
  CHECK_THAT(alone.what(), Catch::StartsWith("[lorakit.unsupported] tensor 'classifier.weight': "
                                             "adapter 'fit' also replaces full tensors"));
}

TEST_CASE("Model::attach: modules are reported in natural order", "[runtime][diagnosis]") {
  TinyModel m(12, 16);
  Model model;
  register_all(model, m);
  lorakit::AdapterInfo info;
  info.target.names = {"q_proj"};
  // Block 0's q_proj only: the rule selects q_proj of blocks 1-11, which it lacks.
  const auto partial = make_adapter("partial", TinyModel(1, 16).specs(4, 1), 1, info);
  const auto only_q = partial->subset([](std::string_view n) { return n.ends_with("q_proj"); });
  const lorakit::Error e = attach_error(model, only_q);
  std::vector<std::string> modules;
  for (const auto& p : e.problems()) modules.push_back(p.context.module);
  std::vector<std::string> expected;
  for (int b = 1; b < 12; ++b)
    expected.push_back("model.layers." + std::to_string(b) + ".self_attn.q_proj");
  CHECK(modules == expected);  // layers.2 before layers.10
  CHECK(e.context().module == "model.layers.1.self_attn.q_proj");
  const std::string what = e.what();
  CHECK(what.find("layers.1.self_attn") < what.find("layers.2.self_attn"));
  CHECK(what.find("layers.2.self_attn") < what.find("layers.3.self_attn"));
  CHECK(what.find("layers.10.") == std::string::npos);  // bounded: 3 shown
  CHECK_THAT(what, Catch::Contains("\n    and 8 more"));
  CHECK_THAT(e.diagnosis(), Catch::Contains("11 layers the adapter's target rule selects have no "
                                            "weights in it (blocks 1-11) - maybe wrong base "
                                            "model?"));
}

TEST_CASE("Model::attach: shapes are shown as each format's file stores them",
          "[runtime][diagnosis]") {
  TinyModel m(1, 16);
  Model model;
  register_all(model, m);
  auto first = [&](lorakit::AdapterFormat format) {
    const lorakit::Error e = attach_error(model, adapter_for(1, 24, format));
    REQUIRE(e.code() == Errc::shape_mismatch);
    const lorakit::Problem& p = e.problems().front();
    CHECK(p.context.slot == "lora_A");
    CHECK(p.context.expected == Shape{16, 4});  // lorakit's A:(in, r)
    CHECK(p.context.actual == Shape{24, 4});
    return p;
  };
  // PEFT: lora_A [r, in], lora_B [out, r].
  const lorakit::Problem peft = first(lorakit::AdapterFormat::peft);
  CHECK(peft.context.expected_in_file == Shape{4, 16});
  CHECK(peft.context.actual_in_file == Shape{4, 24});
  CHECK(peft.context.file_notation.empty());
  CHECK_THAT(lorakit::detail::format_problem(peft),
             Catch::Contains("expected [4, 16] in the file ([16, 4] in lorakit), got [4, 24] "
                             "([24, 4])"));
  // GGUF: ggml's ne, innermost first, which lists lorakit's numbers.
  const lorakit::Problem gguf = first(lorakit::AdapterFormat::gguf);
  CHECK(gguf.context.expected_in_file == Shape{16, 4});
  CHECK(gguf.context.file_notation == "ne");
  CHECK_THAT(lorakit::detail::format_problem(gguf),
             Catch::Contains("expected ne [16, 4] in the file ([16, 4] in lorakit), got ne [24, "
                             "4] ([24, 4])"));
  // mlx-lm stores lorakit's layout: one shape each.
  const lorakit::Problem mlx = first(lorakit::AdapterFormat::mlx);
  CHECK_FALSE(mlx.context.expected_in_file.has_value());
  CHECK_THAT(lorakit::detail::format_problem(mlx),
             Catch::Contains("expected [16, 4], got [24, 4]"));
  CHECK(lorakit::detail::format_problem(mlx).find("in the file") == std::string::npos);

  // A layer registered late is checked the same way.
  Model late;
  late.attach(adapter_for(1, 24, lorakit::AdapterFormat::peft),
              {.missing_layers = lorakit::MissingLayers::skip});
  try {
    late.add(m.names[0], *m.layers[0]);
    FAIL("a layer of another width was registered");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::shape_mismatch);
    CHECK(e.context().expected_in_file == Shape{4, 16});
    CHECK_THAT(e.what(), Catch::Contains("got [4, 24] ([24, 4])"));
  }
}

TEST_CASE("Model::attach: real adapters on the wrong base, as a user sees it",
          "[runtime][diagnosis][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  // SmolLM2 135M: 30 blocks, hidden 576, 3 KV heads of 64 (v_proj 576 -> 192).
  ShapeHost smol("HuggingFaceTB/SmolLM2-135M-Instruct", 30, 576, 192);

  // A Llama 3.2 1B adapter (16 blocks, hidden 2048): every module is 2048 wide, and the rule
  // (q_proj, v_proj) selects blocks 16-29 it has nothing for.
  const auto llama = lorakit::io::load_adapter(fixtures_dir() / "peft" / "llama32-1b-qv");
  const lorakit::Error e = attach_error(smol.model, llama, {.name = "llama"});
  CHECK(e.code() == Errc::shape_mismatch);
  CHECK(count(e, Errc::shape_mismatch) == 64);
  CHECK(count(e, Errc::missing_tensor) == 28);
  CHECK(e.problems().size() == 92);
  CHECK_THAT(e.diagnosis(),
             Catch::StartsWith("adapter 'llama' was trained on meta-llama/Llama-3.2-1B (32 "
                               "modules in blocks 0-15: in 2048, out 2048/512, rank 8); this "
                               "model is HuggingFaceTB/SmolLM2-135M-Instruct (60 layers in 30 "
                               "blocks: in 576, out 576/192). 32 of 32 modules: in 2048 "
                               "(adapter) vs 576 (model) - maybe wrong base model? Also: 28 "
                               "layers the adapter's target rule selects have no weights in it "
                               "(blocks 16-29)"));
  const std::string what = e.what();
  CHECK(lines(what) == 11);  // diagnosis, two kinds of three problems, "and N more" each
  CHECK_THAT(what, Catch::Contains("module model.layers.0.self_attn.q_proj, slot lora_A: "
                                   "adapter 'llama': expected [8, 576] in the file ([576, 8] in "
                                   "lorakit), got [8, 2048] ([2048, 8])"));
  CHECK_THAT(what, Catch::Contains("module model.layers.16.self_attn.q_proj: adapter 'llama': its "
                                   "target rule selects this layer but it has no weights for it"));
  CHECK_THAT(what, Catch::Contains("\n    and 61 more\n  28 missing_tensor:\n"));
  CHECK(smol.model.list().empty());

  // The same adapter through llama.cpp's converter: shapes in ggml's ne order.
  const auto gguf = lorakit::io::load_adapter(fixtures_dir() / "gguf" / "llama32-1b-qv" /
                                              "llama32-1b-qv-f32.gguf");
  const lorakit::Error g = attach_error(smol.model, gguf, {.name = "llama"});
  CHECK(g.code() == Errc::shape_mismatch);
  CHECK_THAT(g.diagnosis(), Catch::StartsWith("adapter 'llama' was trained on a llama model"));
  CHECK_THAT(g.what(), Catch::Contains("module model.layers.0.self_attn.v_proj, slot lora_A: "
                                       "adapter 'llama': expected ne [576, 8] in the file ([576, "
                                       "8] in lorakit), got ne [2048, 8] ([2048, 8])"));

  // A DistilBERT classifier: no module has a layer here, and its modules_to_save heads come last.
  const auto bert = lorakit::io::load_adapter(fixtures_dir() / "peft" / "distilbert-seqcls");
  const lorakit::Error b = attach_error(smol.model, bert);
  CHECK(b.code() == Errc::no_target);
  CHECK(b.context().module == "distilbert.transformer.layer.0.attention.q_lin");
  CHECK(b.problems().back().code == Errc::unsupported);
  CHECK_THAT(b.diagnosis(),
             Catch::Contains("was trained on distilbert-base-uncased (12 modules in blocks 0-5: "
                             "in 768, out 768, rank 8); this model is "
                             "HuggingFaceTB/SmolLM2-135M-Instruct"));
  CHECK_THAT(b.diagnosis(), Catch::EndsWith("12 of 12 modules have no layer here (blocks 0-5) - "
                                            "maybe wrong base model, or a NameMap rule missing?"));
}
