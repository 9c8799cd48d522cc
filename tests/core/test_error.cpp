// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Tests of lorakit::Error: message format, context, several problems grouped and bounded,
// file-layout shapes, nothrow copy.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "lorakit/error.hpp"

using lorakit::Errc;
using lorakit::Error;
using lorakit::ErrorContext;
using lorakit::Shape;

TEST_CASE("Error: the message names code, file, tensor, module, slot, both shapes and the hint",
          "[core][error]") {
  const Error e(
      Errc::shape_mismatch,
      ErrorContext{.file = "adapters/code/adapter_model.safetensors",
                   .tensor = "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight",
                   .module = "model.layers.3.self_attn.q_proj",
                   .slot = "lora_A",
                   .expected = Shape{4096, 8},
                   .actual = Shape{2048, 8},
                   .hint = "maybe wrong base model?"});
  CHECK(std::string(e.what()) ==
        "[lorakit.shape_mismatch] adapters/code/adapter_model.safetensors: tensor "
        "'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight' (module "
        "model.layers.3.self_attn.q_proj, slot lora_A): expected [4096, 8], got [2048, 8] "
        "(hint: maybe wrong base model?)");
  CHECK(e.code() == Errc::shape_mismatch);
  CHECK(e.context().module == "model.layers.3.self_attn.q_proj");
  REQUIRE(e.context().expected.has_value());
  CHECK(*e.context().expected == Shape{4096, 8});
}

TEST_CASE("Error: a message without a tensor names the module and the detail", "[core][error]") {
  const Error e(Errc::bad_config, ErrorContext{.module = "q_proj"}, "rank 0; need >= 1");
  CHECK(std::string(e.what()) == "[lorakit.bad_config] module q_proj: rank 0; need >= 1");
  const Error bare(Errc::io, ErrorContext{}, "cannot open");
  CHECK(std::string(bare.what()) == "[lorakit.io] cannot open");
}

TEST_CASE("Error: copying never throws and the copy shares every problem", "[core][error]") {
  STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<Error>);
  STATIC_REQUIRE(std::is_nothrow_copy_assignable_v<Error>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, Error>);
  const Error e(Errc::io, ErrorContext{.file = "a.bin"}, "short read");
  const Error copy = e;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(std::string(copy.what()) == e.what());
  CHECK(&copy.problems() == &e.problems());
}

TEST_CASE("ProblemList: every problem found is reported in one error", "[core][error]") {
  lorakit::ProblemList problems;
  problems.throw_if_any();  // nothing collected: no throw
  problems.add(Errc::missing_tensor, ErrorContext{.file = "f", .tensor = "x.lora_B.weight"},
               "lora_A has no partner");
  problems.add(
      Errc::shape_mismatch,
      ErrorContext{.tensor = "y.lora_A.weight", .expected = Shape{8, 64}, .actual = Shape{4, 64}});
  REQUIRE(problems.size() == 2);
  try {
    problems.throw_if_any();
    FAIL("throw_if_any did not throw");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::missing_tensor);
    CHECK(e.problems().size() == 2);
    CHECK(e.diagnosis().empty());
    CHECK(std::string(e.what()) ==
          "[lorakit.missing_tensor] 2 problems\n"
          "  1 missing_tensor:\n"
          "    [lorakit.missing_tensor] f: tensor 'x.lora_B.weight': lora_A has no partner\n"
          "  1 shape_mismatch:\n"
          "    [lorakit.shape_mismatch] tensor 'y.lora_A.weight': expected [8, 64], got [4, 64]");
  }
}

namespace {

lorakit::Problem problem(Errc code, std::string module, std::string detail = "bad") {
  return lorakit::Problem{code, ErrorContext{.module = std::move(module)}, std::move(detail)};
}

std::vector<std::string> modules_of(const Error& e) {
  std::vector<std::string> out;
  for (const lorakit::Problem& p : e.problems()) out.push_back(p.context.module);
  return out;
}

}  // namespace

TEST_CASE("natural_less: digit runs compare by value", "[core][error]") {
  using lorakit::detail::natural_less;
  CHECK(natural_less("layers.2.q", "layers.10.q"));
  CHECK_FALSE(natural_less("layers.10.q", "layers.2.q"));
  CHECK(natural_less("layers.9", "layers.10"));
  CHECK(natural_less("blk.1.attn_q", "blk.1.attn_v"));
  CHECK(natural_less("h.3.attn", "h.3.attn.c_proj"));  // a prefix first
  CHECK(natural_less("layers.1", "layers.01") != natural_less("layers.01", "layers.1"));
  CHECK_FALSE(natural_less("layers.2", "layers.2"));
  CHECK(natural_less("", "a"));
  CHECK(natural_less("block.2.layer.10", "block.10.layer.0"));
}

TEST_CASE("Error: problems are grouped by kind, modules within a kind in natural order",
          "[core][error]") {
  const Error e({problem(Errc::shape_mismatch, "model.layers.10.q_proj"),
                 problem(Errc::no_target, "model.layers.30.q_proj"),
                 problem(Errc::shape_mismatch, "model.layers.2.q_proj"),
                 problem(Errc::no_target, "model.layers.4.q_proj"),
                 problem(Errc::shape_mismatch, "model.layers.1.v_proj")});
  CHECK(modules_of(e) == std::vector<std::string>{"model.layers.1.v_proj", "model.layers.2.q_proj",
                                                  "model.layers.10.q_proj", "model.layers.4.q_proj",
                                                  "model.layers.30.q_proj"});
  CHECK(e.code() == Errc::shape_mismatch);  // the kind that came first
  CHECK(e.context().module == "model.layers.1.v_proj");
  CHECK(std::string(e.what()) ==
        "[lorakit.shape_mismatch] 5 problems\n"
        "  3 shape_mismatch:\n"
        "    [lorakit.shape_mismatch] module model.layers.1.v_proj: bad\n"
        "    [lorakit.shape_mismatch] module model.layers.2.q_proj: bad\n"
        "    [lorakit.shape_mismatch] module model.layers.10.q_proj: bad\n"
        "  2 no_target:\n"
        "    [lorakit.no_target] module model.layers.4.q_proj: bad\n"
        "    [lorakit.no_target] module model.layers.30.q_proj: bad");
}

TEST_CASE("Error: what() shows the first three of each kind, problems() keeps every one",
          "[core][error]") {
  std::vector<lorakit::Problem> many;
  for (int i = 11; i >= 0; --i) {
    many.push_back(problem(Errc::missing_tensor, "m.layers." + std::to_string(i) + ".q"));
  }
  many.push_back(problem(Errc::unsupported, "", "also replaces full tensors"));
  const Error e(std::move(many), "the diagnosis");
  CHECK(e.problems().size() == 13);
  CHECK(e.diagnosis() == "the diagnosis");
  CHECK(e.context().module == "m.layers.0.q");
  CHECK(std::string(e.what()) ==
        "[lorakit.missing_tensor] the diagnosis\n"
        "  12 missing_tensor:\n"
        "    [lorakit.missing_tensor] module m.layers.0.q: bad\n"
        "    [lorakit.missing_tensor] module m.layers.1.q: bad\n"
        "    [lorakit.missing_tensor] module m.layers.2.q: bad\n"
        "    and 9 more\n"
        "  1 unsupported:\n"
        "    [lorakit.unsupported] also replaces full tensors");
  const Error copy = e;  // NOLINT(performance-unnecessary-copy-initialization)
  CHECK(&copy.diagnosis() == &e.diagnosis());

  // A single problem with a diagnosis is still shown under it.
  const Error one({problem(Errc::no_target, "m.q")}, "adapter 'a' was trained on X");
  CHECK(std::string(one.what()) ==
        "[lorakit.no_target] adapter 'a' was trained on X\n"
        "  1 no_target:\n"
        "    [lorakit.no_target] module m.q: bad");
}

TEST_CASE("Error: shapes as the file stores them come first, lorakit's layout in brackets",
          "[core][error]") {
  // PEFT: lora_A [r, in] in the file is A:(in, r) in lorakit.
  const Error peft(Errc::shape_mismatch, ErrorContext{.file = "a",
                                                      .module = "m.q",
                                                      .slot = "lora_A",
                                                      .expected = Shape{576, 8},
                                                      .actual = Shape{2048, 8},
                                                      .expected_in_file = Shape{8, 576},
                                                      .actual_in_file = Shape{8, 2048}});
  CHECK(std::string(peft.what()) ==
        "[lorakit.shape_mismatch] a: module m.q, slot lora_A: expected [8, 576] in the file "
        "([576, 8] in lorakit), got [8, 2048] ([2048, 8])");
  // GGUF: ggml's ne order, innermost first.
  const Error gguf(Errc::shape_mismatch, ErrorContext{.slot = "lora_B",
                                                      .expected = Shape{8, 192},
                                                      .actual = Shape{8, 512},
                                                      .expected_in_file = Shape{8, 192},
                                                      .actual_in_file = Shape{8, 512},
                                                      .file_notation = "ne"});
  CHECK(std::string(gguf.what()) ==
        "[lorakit.shape_mismatch] slot lora_B: expected ne [8, 192] in the file ([8, 192] in "
        "lorakit), got ne [8, 512] ([8, 512])");
  // Only the actual shape known in the file's layout.
  const Error got(Errc::shape_mismatch,
                  ErrorContext{.actual = Shape{4, 2}, .actual_in_file = Shape{2, 4}}, "odd");
  CHECK(std::string(got.what()) ==
        "[lorakit.shape_mismatch] odd: got [2, 4] in the file ([4, 2] in lorakit)");
}

TEST_CASE("Errc: every code has its own stable name", "[core][error]") {
  const Errc all[] = {Errc::io,
                      Errc::bad_format,
                      Errc::unsupported,
                      Errc::unsupported_dtype,
                      Errc::missing_tensor,
                      Errc::unexpected_tensor,
                      Errc::shape_mismatch,
                      Errc::bad_config,
                      Errc::no_target,
                      Errc::incompatible_base,
                      Errc::non_finite,
                      Errc::limit_exceeded};
  std::set<std::string_view> names;
  for (Errc e : all) {
    const std::string_view n = lorakit::to_string(e);
    CHECK(n != "unknown");
    names.insert(n);
  }
  CHECK(names.size() == std::size(all));
  CHECK(lorakit::to_string(Errc::shape_mismatch) == "shape_mismatch");
}
