// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// check() and check_file() of real adapters against generated base models of the shapes their
// bases have (facts from the fixtures' READMEs: SmolLM2-135M has 30 blocks, hidden 576, 9 heads
// and 3 key/value heads of 64, ffn 1536).
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "base_files.hpp"
#include "files.hpp"
#include "lorakit/io/base_model.hpp"
#include "lorakit/io/load.hpp"

using namespace lorakit;
using lorakit::test::fixtures_dir;
using lorakit::test::TempDir;

namespace {

struct Bases {
  TempDir dir;
  BaseModel gguf;   // SmolLM2-135M as a GGUF model (llama.cpp's Q/K order)
  BaseModel hf;     // SmolLM2-135M as a Hugging Face directory
  BaseModel small;  // a llama model of width 64: the wrong base
  Bases() {
    test::write_gguf_llama(dir / "smol.gguf", "llama", 30, 576, 9, 3, 1536, "SmolLM2-135M", 49152);
    test::write_hf_model(
        dir / "smol",
        test::llama_config("llama", 30, 576, 9, 3, "HuggingFaceTB/SmolLM2-135M-Instruct"),
        test::llama_weights(30, 576, 9, 3, 1536, 49152));
    test::write_hf_model(dir / "tiny", test::llama_config("llama", 2, 64, 4, 4, "tiny-llama"),
                         test::llama_weights(2, 64, 4, 4, 128));
    gguf = io::read_base_model(dir / "smol.gguf");
    hf = io::read_base_model(dir / "smol");
    small = io::read_base_model(dir / "tiny");
  }
};

std::filesystem::path smol_gguf(const char* type) {
  return fixtures_dir() / "gguf/smollm2-135m-qv" /
         (std::string("smollm2-135m-qv-") + type + ".gguf");
}

}  // namespace

TEST_CASE("the SmolLM2 PEFT adapter fits its base described from a Hugging Face directory") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  const auto adapter = io::load_adapter(fixtures_dir() / "peft/smollm2-135m-qv");
  const CheckReport r = check(*adapter, b.hf);
  INFO(r.message);
  CHECK(r.ok());
  CHECK(r.message.empty());
  CHECK(r.modules == 60);  // q_proj and v_proj in 30 blocks
  CHECK(r.base == "HuggingFaceTB/SmolLM2-135M-Instruct");
}

TEST_CASE("a wrong base: every problem at once, the diagnosis first, as attach reports it") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  const auto adapter = io::load_adapter(fixtures_dir() / "peft/smollm2-135m-qv");
  const CheckReport r = check(*adapter, b.small);
  REQUIRE_FALSE(r.ok());
  INFO(r.message);
  // Blocks 0 and 1 exist with width 64 (4 modules of other widths); blocks 2..29 do not (56).
  std::size_t shape = 0;
  std::size_t no_layer = 0;
  for (const Problem& p : r.problems) {
    shape += p.code == Errc::shape_mismatch ? 1 : 0;
    no_layer += p.code == Errc::no_target ? 1 : 0;
  }
  CHECK(no_layer == 56);
  CHECK(shape >= 4);
  CHECK(r.problems.front().code == Errc::shape_mismatch);
  CHECK_THAT(r.diagnosis, Catch::Contains("HuggingFaceTB/SmolLM2-135M-Instruct") &&
                              Catch::Contains("tiny-llama") &&
                              Catch::Contains("maybe wrong base model?"));
  CHECK_THAT(r.message, Catch::StartsWith("[lorakit.") && Catch::Contains(r.diagnosis));
  CHECK_THROWS_AS(r.throw_if_problems(), Error);
}

TEST_CASE("a partial check skips the modules the base does not have and lists them") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  const auto adapter = io::load_adapter(fixtures_dir() / "peft/smollm2-135m-qv");
  BaseModel first_blocks = b.hf;
  std::erase_if(first_blocks.modules, [](const BaseModule& m) { return layer_index(m.name) >= 4; });
  CHECK_FALSE(check(*adapter, first_blocks).ok());
  const CheckReport r = check(*adapter, first_blocks, {.missing_layers = MissingLayers::skip});
  INFO(r.message);
  CHECK(r.ok());
  CHECK(r.skipped.size() == 52);  // 26 blocks x (q_proj, v_proj)
  CHECK(r.modules == 8);
}

TEST_CASE("a GGUF llama adapter loaded without a layout is judged as it loads for the base") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  const auto unresolved = io::load_gguf(smol_gguf("f32"));
  // On a GGUF base the rows stay in llama.cpp's order; on a Hugging Face base they are put
  // back with the base's head counts (9 and 3 divide 576 and 192 into heads of 64).
  CHECK(check(*unresolved, b.gguf).ok());
  const CheckReport hf = check(*unresolved, b.hf);
  INFO(hf.message);
  CHECK(hf.ok());
  // Without head counts the rows cannot be put back: the report says what to give.
  BaseModel headless = b.hf;
  headless.n_head = 0;
  headless.n_head_kv = 0;
  const CheckReport r = check(*unresolved, headless);
  REQUIRE_FALSE(r.ok());
  CHECK(r.problems.size() == 30);  // q_proj of every block (v_proj keeps its order)
  CHECK_THAT(r.message, Catch::Contains("no head count in the base's description") &&
                            Catch::Contains("self_attn.q_proj"));
}

TEST_CASE("check_file loads a GGUF adapter for the base: the same weights as the explicit load") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  const CheckReport r = io::check_file(smol_gguf("f16"), b.hf);
  INFO(r.message);
  CHECK(r.ok());
  CHECK(r.modules == 60);
  // load_options_for(hf base) is BaseLayout::hf with 9 / 3 heads: the explicit options.
  const auto mine = io::load_adapter(smol_gguf("f32"), io::load_options_for(b.hf));
  const auto explicit_load = io::load_gguf(
      smol_gguf("f32"), {.base_layout = io::BaseLayout::hf, .n_head = 9, .n_head_kv = 3});
  CHECK(mine->content_hash() == explicit_load->content_hash());
  // A file that does not load reports the loader's problem.
  const TempDir dir;
  test::write_text(dir / "bad.gguf", "GGUF\x03");
  const CheckReport bad = io::check_file(dir / "bad.gguf", b.hf);
  CHECK_FALSE(bad.ok());
  CHECK_THAT(bad.message, Catch::Contains("bad.gguf"));
}

TEST_CASE("Q/K rows in an order the base does not use are a problem naming the fix") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  // A PEFT adapter (Hugging Face order) on a GGUF llama base (llama.cpp's order).
  const auto peft = io::load_adapter(fixtures_dir() / "peft/smollm2-135m-qv");
  const CheckReport on_gguf = check(*peft, b.gguf);
  REQUIRE_FALSE(on_gguf.ok());
  CHECK(on_gguf.problems.size() == 30);
  for (const Problem& p : on_gguf.problems) {
    CHECK(p.code == Errc::incompatible_base);
    CHECK(p.context.module.ends_with("q_proj"));
  }
  CHECK_THAT(on_gguf.message, Catch::Contains("BaseLayout::llama_cpp"));
  // A GGUF adapter loaded for a llama.cpp base, checked against a Hugging Face base.
  const auto kept = io::load_gguf(smol_gguf("f32"), {.base_layout = io::BaseLayout::llama_cpp});
  const CheckReport on_hf = check(*kept, b.hf);
  REQUIRE_FALSE(on_hf.ok());
  CHECK(on_hf.problems.size() == 30);
  CHECK_THAT(on_hf.message, Catch::Contains("BaseLayout::hf"));
}

TEST_CASE("an adapter for another architecture is a problem even when every shape fits") {
  LORAKIT_REQUIRE_FIXTURES();
  const Bases b;
  BaseModel qwen = b.gguf;
  qwen.architecture = "qwen2";
  const auto adapter = io::load_gguf(smol_gguf("f32"), {.base_layout = io::BaseLayout::llama_cpp});
  const CheckReport r = check(*adapter, qwen);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.problems.size() == 1);
  CHECK(r.problems.front().code == Errc::incompatible_base);
  CHECK_THAT(r.message, Catch::Contains("llama architecture and the base is qwen2"));
}
