// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Tests of lorakit::Error: message format, context, several problems, nothrow copy.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <type_traits>

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
    const std::string what = e.what();
    CHECK_THAT(what,
               Catch::Matchers::Contains("[lorakit.missing_tensor] f: tensor 'x.lora_B.weight'"));
    CHECK_THAT(what, Catch::Matchers::Contains("1 more:"));
    CHECK_THAT(
        what,
        Catch::Matchers::Contains(
            "[lorakit.shape_mismatch] tensor 'y.lora_A.weight': expected [8, 64], got [4, 64]"));
  }
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
