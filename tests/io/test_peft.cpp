// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// HF PEFT adapters: real files, generated files, round trips and every refusal.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "approx.hpp"
#include "files.hpp"
#include "lorakit/lorakit.hpp"
#include "random.hpp"

using lorakit::Adapter;
using lorakit::DType;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Index;
using lorakit::RowMatrix;
using lorakit::Shape;
using lorakit::io::load_peft;
using lorakit::io::LoadOptions;
using namespace lorakit::test;

namespace {

// A float from a stored tensor (any float dtype), element (i, j) of a row-major [rows, cols].
float stored(const lorakit::io::TensorEntry& t, Index i, Index j) {
  const Index cols = t.shape.dims[1];
  float v = 0.0f;
  const auto size = static_cast<std::size_t>(lorakit::size_of(t.dtype));
  lorakit::io::decode_floats(t.dtype,
                             t.bytes.data() + static_cast<std::size_t>(i * cols + j) * size, 1, &v);
  return v;
}

float value(const lorakit::AdapterTensor& t, Index i, Index j) {
  float v = 0.0f;
  const auto size = static_cast<std::size_t>(lorakit::size_of(t.dtype));
  lorakit::io::decode_floats(
      t.dtype, t.bytes.data() + static_cast<std::size_t>(i * t.cols() + j) * size, 1, &v);
  return v;
}

// Checks that A:(in,r) and B:(r,out) of `module` are the file's lora_A [r,in] and lora_B [out,r]
// transposed, element for element.
void check_transposed(const Adapter& adapter, const lorakit::io::SafetensorsFile& file,
                      const std::string& key_prefix, const std::string& module) {
  const auto* m = adapter.find(module);
  REQUIRE(m != nullptr);
  const auto* a = file.find(key_prefix + module + ".lora_A.weight");
  const auto* b = file.find(key_prefix + module + ".lora_B.weight");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(m->a.shape == Shape{a->shape.dims[1], a->shape.dims[0]});
  CHECK(m->b.shape == Shape{b->shape.dims[1], b->shape.dims[0]});
  Index mismatches = 0;
  for (Index i = 0; i < m->a.rows(); i += 7) {
    for (Index j = 0; j < m->a.cols(); ++j) mismatches += value(m->a, i, j) != stored(*a, j, i);
  }
  for (Index i = 0; i < m->b.rows(); ++i) {
    for (Index j = 0; j < m->b.cols(); j += 5) mismatches += value(m->b, i, j) != stored(*b, j, i);
  }
  CHECK(mismatches == 0);
}

// Writes a generated PEFT directory: config JSON text plus tensors.
void write_peft(const std::filesystem::path& dir, const std::string& config,
                const std::vector<TensorValues>& tensors) {
  std::filesystem::create_directories(dir);
  write_text(dir / "adapter_config.json", config);
  write_tensors(dir / "adapter_model.safetensors", tensors);
}

// lora_A [r, in] and lora_B [out, r] tensors for `module`, PEFT-style keys.
std::vector<TensorValues> lora_pair(const std::string& module, Index in, Index out, Index r,
                                    std::uint32_t seed, DType dtype = DType::f32) {
  const std::string key = "base_model.model." + module;
  return {
      {key + ".lora_A.weight", dtype, Shape{r, in}, values(static_cast<std::size_t>(r * in), seed)},
      {key + ".lora_B.weight", dtype, Shape{out, r},
       values(static_cast<std::size_t>(out * r), seed + 1)}};
}

std::vector<TensorValues> operator+(std::vector<TensorValues> a,
                                    const std::vector<TensorValues>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const char* kConfig = R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
  "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "toy/base"})";

Error load_error(const std::filesystem::path& dir, const LoadOptions& options = {}) {
  try {
    (void)load_peft(dir, options);
  } catch (const Error& e) {
    return e;
  }
  FAIL("load_peft did not throw");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("PEFT: a Llama adapter loads with transposed A and B, names without the prefix",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto dir = fixtures_dir() / "peft/llama32-1b-qv";
  const auto adapter = load_peft(dir);
  CHECK(adapter->name() == "llama32-1b-qv");
  CHECK(adapter->info().base_model == "meta-llama/Llama-3.2-1B");
  CHECK(adapter->info().format == lorakit::AdapterFormat::peft);
  CHECK(adapter->info().target.names == std::vector<std::string>{"q_proj", "v_proj"});
  REQUIRE(adapter->modules().size() == 32);
  const auto* q = adapter->find("model.layers.0.self_attn.q_proj");
  const auto* v = adapter->find("model.layers.15.self_attn.v_proj");
  REQUIRE(q != nullptr);
  REQUIRE(v != nullptr);
  CHECK(q->a.shape == Shape{2048, 8});
  CHECK(q->b.shape == Shape{8, 2048});
  CHECK(v->b.shape == Shape{8, 512});  // grouped-query attention
  CHECK(adapter->scale(*q) == 2.0f);   // lora_alpha 16 / r 8
  CHECK(adapter->memory_bytes() == 16u * (2 * 2048 * 8 + 2048 * 8 + 512 * 8) * 4u);
  const auto file = lorakit::io::SafetensorsFile::open(dir / "adapter_model.safetensors");
  check_transposed(*adapter, file, "base_model.model.", "model.layers.0.self_attn.q_proj");
  check_transposed(*adapter, file, "base_model.model.", "model.layers.15.self_attn.v_proj");
}

TEST_CASE("PEFT: a real adapter attached to a layer adds s * x * lora_A^T * lora_B^T",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto dir = fixtures_dir() / "peft/smollm2-135m-qv";
  const auto adapter = load_peft(dir);
  const std::string module = "model.layers.29.self_attn.v_proj";
  const auto* m = adapter->find(module);
  REQUIRE(m != nullptr);
  const Index in = m->in_features();
  const Index out = m->out_features();
  CHECK(in == 576);
  CHECK(out == 192);
  const RowMatrix w = RowMatrix::Zero(out, in);  // a zero base isolates the delta
  lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA> layer(
      lorakit::DenseLinear(w.data(), in, out), {.module = module});
  layer.attach(adapter->name(), Adapter::weights(*m), adapter->params(*m), 1.0f, adapter);
  const RowMatrix x = random_matrix(3, in, 5);
  RowMatrix y(3, out);
  lorakit::Workspace ws(layer.workspace_floats(3));
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);

  // Reference straight from the file's tensors in PEFT's orientation.
  const auto file = lorakit::io::SafetensorsFile::open(dir / "adapter_model.safetensors");
  const auto& la = *file.find("base_model.model." + module + ".lora_A.weight");  // [r, in]
  const auto& lb = *file.find("base_model.model." + module + ".lora_B.weight");  // [out, r]
  Reference ref;
  ref.value = DoubleMatrix::Zero(3, out);
  ref.magnitude = DoubleMatrix::Zero(3, out);
  ref.terms = in + m->rank + 1;
  const double s = 16.0 / 8.0;
  for (Index i = 0; i < 3; ++i) {
    for (Index j = 0; j < m->rank; ++j) {
      double t = 0.0;
      double t_mag = 0.0;
      for (Index k = 0; k < in; ++k) {
        t += static_cast<double>(x(i, k)) * stored(la, j, k);
        t_mag += std::abs(static_cast<double>(x(i, k)) * stored(la, j, k));
      }
      for (Index o = 0; o < out; ++o) {
        ref.value(i, o) += s * t * stored(lb, o, j);
        ref.magnitude(i, o) += s * t_mag * std::abs(stored(lb, o, j));
      }
    }
  }
  check_close(ref, lorakit::make_view(y), "real adapter delta");
}

TEST_CASE("PEFT: every real adapter loads and the NaN one is reported unless the check is off",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  struct Expect {
    const char* dir;
    std::size_t modules;
    const char* module;
    Shape a;
    Shape b;
  };
  const Expect expects[] = {
      {"bert-qv-seqcls", 24, "bert.encoder.layer.0.attention.self.query", {768, 8}, {8, 768}},
      {"distilbert-seqcls",
       12,
       "distilbert.transformer.layer.0.attention.q_lin",
       {768, 8},
       {8, 768}},
      {"distilbert-lora-on-classifier", 1, "classifier", {768, 8}, {8, 6}},
      {"flan-t5-small-qkv", 72, "decoder.block.7.layer.1.EncDecAttention.v", {512, 8}, {8, 384}},
      {"gpt2-causal-fifo", 36, "transformer.h.0.attn.c_attn", {768, 8}, {8, 2304}},
      {"gpt2-double-prefix", 36, "transformer.h.11.mlp.c_proj", {3072, 8}, {8, 768}},
      {"gpt2-tiny-causal", 6, "transformer.h.1.mlp.c_proj", {8, 4}, {4, 2}},
      {"gptneo-125m-qv", 24, "transformer.h.0.attn.attention.q_proj", {768, 8}, {8, 768}},
      {"gptneox-opencalm-f16-r1",
       24,
       "gpt_neox.layers.0.attention.query_key_value",
       {2048, 1},
       {1, 6144}},
      {"llama32-1b-qv", 32, "model.layers.3.self_attn.q_proj", {2048, 8}, {8, 2048}},
      {"smollm2-135m-qv", 60, "model.layers.0.self_attn.v_proj", {576, 8}, {8, 192}},
      {"whisper-small-qv", 72, "model.decoder.layers.0.encoder_attn.q_proj", {768, 8}, {8, 768}},
  };
  for (const Expect& e : expects) {
    INFO(e.dir);
    const auto adapter = load_peft(fixtures_dir() / "peft" / e.dir);
    CHECK(adapter->modules().size() == e.modules);
    const auto* m = adapter->find(e.module);
    REQUIRE(m != nullptr);
    CHECK(m->a.shape == e.a);
    CHECK(m->b.shape == e.b);
    // F16 files stay F16 by default (the kernels read them as stored); the rest are F32.
    const bool half = std::string(e.dir).find("f16") != std::string::npos;
    CHECK(m->a.dtype == (half ? DType::f16 : DType::f32));
  }

  const auto gemma = fixtures_dir() / "peft/gemma-2b-f16-qv";
  const Error nan = load_error(gemma);
  CHECK(nan.code() == Errc::non_finite);
  CHECK(nan.problems().size() == 72);  // every tensor, each named
  CHECK_THAT(
      std::string(nan.what()),
      Catch::Matchers::Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  LoadOptions lenient;
  lenient.check_finite = false;
  CHECK(load_peft(gemma, lenient)->modules().size() == 36);
}

TEST_CASE("PEFT: the odd real files: doubled prefix, zero B, classifier heads, PEFT duplicates",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto doubled = load_peft(fixtures_dir() / "peft/gpt2-double-prefix");
  CHECK(doubled->info().base_model.empty());  // null in the config
  const auto* c_attn = doubled->find("transformer.h.0.attn.c_attn");
  REQUIRE(c_attn != nullptr);
  CHECK(c_attn->b.view().cwiseAbs().maxCoeff() == 0.0f);  // an untrained, no-op adapter

  const auto seqcls = load_peft(fixtures_dir() / "peft/distilbert-seqcls");
  REQUIRE(seqcls->saved().count("classifier.weight") == 1);
  CHECK(seqcls->saved().at("classifier.weight").shape == Shape{6, 768});
  CHECK(seqcls->saved().at("pre_classifier.bias").shape == Shape{768});

  const auto odd = load_peft(fixtures_dir() / "peft/distilbert-lora-on-classifier");
  CHECK(odd->info().target.regex == "classifier");
  CHECK(odd->saved().count("pre_classifier.weight") == 1);
  CHECK(odd->saved().count("classifier.base_layer.weight") == 0);
  CHECK(odd->info().ignored_tensors.size() == 6);  // base_layer x2, modules_to_save x2, original x2

  const auto tiny = load_peft(fixtures_dir() / "peft/gpt2-tiny-causal");
  CHECK(tiny->info().bias == "lora_only");
  CHECK(tiny->info().fan_in_fan_out);
  CHECK(tiny->scale(*tiny->find("transformer.h.0.attn.c_attn")) == 0.25f);

  const auto f16 = load_peft(fixtures_dir() / "peft/gptneox-opencalm-f16-r1");  // the default
  const auto* qkv = f16->find("gpt_neox.layers.0.attention.query_key_value");
  REQUIRE(qkv != nullptr);
  CHECK(qkv->a.dtype == DType::f16);
  CHECK(f16->memory_bytes() == 24u * (2048 + 6144) * 2u);
  LoadOptions widen;
  widen.convert_to_f32 = true;
  const auto f32 = load_peft(fixtures_dir() / "peft/gptneox-opencalm-f16-r1", widen);
  const auto* qkv32 = f32->find("gpt_neox.layers.0.attention.query_key_value");
  CHECK(qkv32->a.dtype == DType::f32);
  CHECK(value(qkv32->a, 100, 0) == value(qkv->a, 100, 0));  // exact widening
}

TEST_CASE("PEFT: save_peft writes what load_peft reads back bit for bit", "[io][peft]") {
  TempDir tmp;
  const auto src = tmp / "src";
  write_peft(src,
             R"({"peft_type":"LORA","r":4,"lora_alpha":8,"use_rslora":true,
                 "target_modules":["q_proj","v_proj"],"rank_pattern":{"v_proj":2},
                 "alpha_pattern":{"layers\\.1\\..*":3},"modules_to_save":["score"],
                 "base_model_name_or_path":"toy/base"})",
             lora_pair("model.layers.0.self_attn.q_proj", 6, 5, 4, 1) +
                 lora_pair("model.layers.0.self_attn.v_proj", 6, 3, 2, 3) +
                 lora_pair("model.layers.1.self_attn.q_proj", 6, 5, 4, 5, DType::bf16) +
                 std::vector<TensorValues>{
                     {"base_model.model.score.weight", DType::f32, Shape{2, 6}, values(12, 9)}});
  LoadOptions keep;
  keep.convert_to_f32 = false;
  const auto a = load_peft(src, keep);
  REQUIRE(a->modules().size() == 3);
  CHECK(a->info().scaling == lorakit::Scaling::alpha_over_sqrt_rank);
  CHECK(a->find("model.layers.0.self_attn.v_proj")->rank == 2);
  CHECK(a->find("model.layers.1.self_attn.q_proj")->alpha == 3.0f);
  CHECK(a->find("model.layers.0.self_attn.q_proj")->alpha == 8.0f);
  CHECK(a->find("model.layers.1.self_attn.q_proj")->a.dtype == DType::bf16);

  lorakit::io::save_peft(*a, tmp / "copy");
  const auto b = load_peft(tmp / "copy", keep);
  REQUIRE(b->modules().size() == a->modules().size());
  CHECK(b->info().base_model == "toy/base");
  CHECK(b->info().scaling == a->info().scaling);
  for (const auto& [name, m] : a->modules()) {
    INFO(name);
    const auto* n = b->find(name);
    REQUIRE(n != nullptr);
    CHECK(n->rank == m.rank);
    CHECK(n->alpha == m.alpha);
    CHECK(n->a.dtype == m.a.dtype);
    CHECK(n->a.shape == m.a.shape);
    CHECK(n->b.shape == m.b.shape);
    CHECK(std::equal(m.a.bytes.begin(), m.a.bytes.end(), n->a.bytes.begin(), n->a.bytes.end()));
    CHECK(std::equal(m.b.bytes.begin(), m.b.bytes.end(), n->b.bytes.begin(), n->b.bytes.end()));
  }
  REQUIRE(b->saved().count("score.weight") == 1);
  CHECK(b->saved().at("score.weight").shape == Shape{2, 6});
}

TEST_CASE("PEFT: an adapter name inside keys and DoRA magnitudes are understood", "[io][peft]") {
  TempDir tmp;
  write_peft(tmp.path(), R"({"peft_type":"LORA","r":2,"lora_alpha":4,"use_dora":true})",
             {{"base_model.model.m.q.lora_A.default.weight", DType::f32, Shape{2, 3}, values(6, 1)},
              {"base_model.model.m.q.lora_B.default.weight", DType::f32, Shape{4, 2}, values(8, 2)},
              {"base_model.model.m.q.lora_magnitude_vector", DType::f32, Shape{4}, values(4, 3)}});
  const auto a = load_peft(tmp.path());
  CHECK(a->info().variant == lorakit::VariantKind::dora);
  const auto* q = a->find("m.q");
  REQUIRE(q != nullptr);
  REQUIRE(q->magnitude.has_value());
  CHECK(q->magnitude->elements() == 4);
}

TEST_CASE("PEFT: broken adapters are refused with every problem named", "[io][peft]") {
  TempDir tmp;
  SECTION("peft_type other than LORA") {
    write_peft(tmp.path(), R"({"peft_type":"PREFIX_TUNING"})", {});
    const Error e = load_error(tmp.path());
    CHECK(e.code() == Errc::unsupported);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("PREFIX_TUNING"));
  }
  SECTION("a lora_A without its lora_B, and an unknown LoRA suffix, in one error") {
    auto tensors = lora_pair("model.layers.0.self_attn.q_proj", 6, 5, 4, 1);
    tensors.pop_back();
    tensors.push_back({"base_model.model.x.lora_C.weight", DType::f32, Shape{1}, {1.0f}});
    write_peft(tmp.path(), kConfig, tensors);
    const Error e = load_error(tmp.path());
    REQUIRE(e.problems().size() == 2);
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Matchers::Contains("[lorakit.unexpected_tensor]"));
    CHECK_THAT(what, Catch::Matchers::Contains("x.lora_C.weight"));
    CHECK_THAT(what, Catch::Matchers::Contains("[lorakit.missing_tensor]"));
    CHECK_THAT(what, Catch::Matchers::Contains("has no lora_B partner"));
    CHECK_THAT(what, Catch::Matchers::Contains("adapter_model.safetensors"));
  }
  SECTION("ranks of A and B disagree") {
    auto tensors = lora_pair("m.q", 6, 5, 4, 1);
    tensors[1] = {"base_model.model.m.q.lora_B.weight", DType::f32, Shape{5, 3}, values(15, 2)};
    write_peft(tmp.path(), kConfig, tensors);
    const Error e = load_error(tmp.path());
    CHECK(e.code() == Errc::shape_mismatch);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("expected [5, 4], got [5, 3]"));
  }
  SECTION("the rank disagrees with the config") {
    write_peft(tmp.path(), kConfig, lora_pair("m.q", 6, 5, 3, 1));
    const Error e = load_error(tmp.path());
    CHECK(e.code() == Errc::shape_mismatch);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("disagrees with the config's r"));
  }
  SECTION("a three-dimensional LoRA tensor") {
    write_peft(tmp.path(), kConfig,
               {{"base_model.model.m.q.lora_A.weight", DType::f32, Shape{4, 6, 1}, values(24, 1)},
                {"base_model.model.m.q.lora_B.weight", DType::f32, Shape{5, 4}, values(20, 2)}});
    CHECK(load_error(tmp.path()).code() == Errc::shape_mismatch);
  }
  SECTION("integer weights") {
    auto tensors = lora_pair("m.q", 6, 5, 4, 1);
    std::vector<std::byte> ints(4 * 6 * 4);
    std::filesystem::create_directories(tmp.path());
    write_text(tmp / "adapter_config.json", kConfig);
    lorakit::io::write_safetensors(
        tmp / "adapter_model.safetensors",
        {{"base_model.model.m.q.lora_A.weight", DType::i32, Shape{4, 6}, ints},
         {"base_model.model.m.q.lora_B.weight", DType::f32, Shape{5, 4},
          std::as_bytes(std::span<const float>(tensors[1].values))}});
    const Error e = load_error(tmp.path());
    CHECK(e.code() == Errc::unsupported_dtype);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("I32"));
  }
  SECTION("a config field of the wrong type") {
    write_peft(tmp.path(), R"({"peft_type":"LORA","r":"eight"})", lora_pair("m.q", 6, 5, 4, 1));
    const Error e = load_error(tmp.path());
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("'r' must be an integer"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("adapter_config.json"));
  }
  SECTION("no weights file") {
    std::filesystem::create_directories(tmp.path());
    write_text(tmp / "adapter_config.json", kConfig);
    CHECK(load_error(tmp.path()).code() == Errc::io);
  }
  SECTION("no LoRA tensors at all") {
    write_peft(tmp.path(), kConfig,
               {{"base_model.model.score.weight", DType::f32, Shape{2, 2}, values(4, 1)}});
    CHECK(load_error(tmp.path()).code() == Errc::missing_tensor);
  }
}

namespace {

// A tiny independent reader: the JSON header of a safetensors file.
nlohmann::json read_header(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(static_cast<std::size_t>(n), ' ');
  in.read(text.data(), static_cast<std::streamsize>(n));
  return nlohmann::json::parse(text);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

TEST_CASE("PEFT: every real adapter matches an independent reading of its header and config",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  for (const auto& entry : std::filesystem::directory_iterator(fixtures_dir() / "peft")) {
    const auto dir = entry.path();
    INFO(dir.filename().string());
    const nlohmann::json header = read_header(dir / "adapter_model.safetensors");
    std::ifstream config_file(dir / "adapter_config.json");
    const nlohmann::json config = nlohmann::json::parse(config_file);
    const double alpha = config["lora_alpha"].get<double>();
    // Expected modules: keys "<prefix>*<module>.lora_A.weight" outside PEFT's wrapper copies.
    std::map<std::string, std::pair<Shape, Shape>> expected;  // module -> (A, B) lorakit shapes
    std::set<std::string> expected_saved;
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") continue;
      std::string name = key;
      while (name.rfind("base_model.model.", 0) == 0) name = name.substr(17);
      if (name.find("modules_to_save") != std::string::npos ||
          name.find("original_module") != std::string::npos ||
          name.find("base_layer") != std::string::npos) {
        continue;
      }
      if (ends_with(name, ".lora_A.weight")) {
        const auto s = value["shape"].get<std::vector<Index>>();  // [r, in]
        const std::string module = name.substr(0, name.size() - 14);
        const auto b = header[key.substr(0, key.size() - 14) + ".lora_B.weight"]["shape"]
                           .get<std::vector<Index>>();  // [out, r]
        expected[module] = {Shape{s[1], s[0]}, Shape{b[1], b[0]}};
      } else if (name.find("lora_") == std::string::npos) {
        expected_saved.insert(name);
      }
    }
    LoadOptions options;
    options.check_finite = false;  // the NaN-filled file is checked elsewhere
    const auto adapter = load_peft(dir, options);
    REQUIRE(adapter->modules().size() == expected.size());
    for (const auto& [module, shapes] : expected) {
      INFO(module);
      const auto* m = adapter->find(module);
      REQUIRE(m != nullptr);
      CHECK(m->a.shape == shapes.first);
      CHECK(m->b.shape == shapes.second);
      CHECK(m->rank == shapes.first.dims[1]);
      CHECK(adapter->scale(*m) ==
            static_cast<float>(alpha) / static_cast<float>(shapes.first.dims[1]));
    }
    std::set<std::string> saved;
    for (const auto& [name, t] : adapter->saved()) saved.insert(name);
    CHECK(saved == expected_saved);
  }
}

TEST_CASE("PEFT: s * A * B equals s * (lora_B * lora_A)^T from the raw file for several modules",
          "[io][peft][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const std::pair<const char*, const char*> cases[] = {
      {"gpt2-causal-fifo", "transformer.h.3.attn.c_attn"},  // Conv1D, fan_in_fan_out
      {"flan-t5-small-qkv", "encoder.block.2.layer.0.SelfAttention.k"},
      {"gptneox-opencalm-f16-r1", "gpt_neox.layers.7.attention.query_key_value"},  // F16, r=1
      {"whisper-small-qv", "model.decoder.layers.5.self_attn.v_proj"},
  };
  for (const auto& [name, module] : cases) {
    INFO(name << " " << module);
    const auto dir = fixtures_dir() / "peft" / name;
    const auto adapter = load_peft(dir);
    const auto* m = adapter->find(module);
    REQUIRE(m != nullptr);
    const auto file = lorakit::io::SafetensorsFile::open(dir / "adapter_model.safetensors");
    const auto& la = *file.find(std::string("base_model.model.") + module + ".lora_A.weight");
    const auto& lb = *file.find(std::string("base_model.model.") + module + ".lora_B.weight");
    const double s = static_cast<double>(adapter->scale(*m));
    const Index in = m->in_features();
    const Index out = m->out_features();
    double worst = 0.0;
    for (Index i = 0; i < in; i += 3) {
      for (Index o = 0; o < out; o += 5) {
        double got = 0.0;
        double want = 0.0;
        double mag = 0.0;
        for (Index j = 0; j < m->rank; ++j) {
          got += static_cast<double>(value(m->a, i, j)) * static_cast<double>(value(m->b, j, o));
          const double p =
              static_cast<double>(stored(lb, o, j)) * static_cast<double>(stored(la, j, i));
          want += p;
          mag += std::abs(p);
        }
        worst = std::max(worst, std::abs(s * got - s * want) / (s * mag * 1e-12 + 1e-300));
      }
    }
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("PEFT -> mlx-lm -> load gives the same delta and F16 storage round-trips bit for bit",
          "[io][peft][mlx][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  TempDir tmp;
  const auto peft = load_peft(fixtures_dir() / "peft/smollm2-135m-qv");
  lorakit::io::save_mlx(*peft, tmp / "mlx");
  const auto mlx = lorakit::io::load_mlx(tmp / "mlx");
  REQUIRE(mlx->modules().size() == peft->modules().size());
  for (const auto& [name, m] : peft->modules()) {
    const auto* n = mlx->find(name);
    REQUIRE(n != nullptr);
    CHECK(mlx->scale(*n) == peft->scale(m));
    CHECK(std::equal(m.a.bytes.begin(), m.a.bytes.end(), n->a.bytes.begin(), n->a.bytes.end()));
    CHECK(std::equal(m.b.bytes.begin(), m.b.bytes.end(), n->b.bytes.begin(), n->b.bytes.end()));
  }

  LoadOptions keep;
  keep.convert_to_f32 = false;
  const auto f16 = load_peft(fixtures_dir() / "peft/gptneox-opencalm-f16-r1", keep);
  lorakit::io::save_peft(*f16, tmp / "f16");
  const auto again = load_peft(tmp / "f16", keep);
  for (const auto& [name, m] : f16->modules()) {
    const auto* n = again->find(name);
    REQUIRE(n != nullptr);
    CHECK(n->a.dtype == DType::f16);
    CHECK(std::equal(m.a.bytes.begin(), m.a.bytes.end(), n->a.bytes.begin(), n->a.bytes.end()));
    CHECK(std::equal(m.b.bytes.begin(), m.b.bytes.end(), n->b.bytes.begin(), n->b.bytes.end()));
  }
  // The raw file's lora_B bytes come back too: [out, r] with r = 1 is its own transpose layout.
  const auto original = lorakit::io::SafetensorsFile::open(
      fixtures_dir() / "peft/gptneox-opencalm-f16-r1/adapter_model.safetensors");
  const auto copy = lorakit::io::SafetensorsFile::open(tmp / "f16/adapter_model.safetensors");
  for (const auto& t : original.tensors()) {
    const auto* c = copy.find(t.name);
    REQUIRE(c != nullptr);
    CHECK(c->shape == t.shape);
    CHECK(std::equal(t.bytes.begin(), t.bytes.end(), c->bytes.begin(), c->bytes.end()));
  }
}

TEST_CASE("PEFT: rank_pattern keys match a name or its dotted suffix, in linear time",
          "[io][peft]") {
  using lorakit::io::detail_peft::NamePattern;
  auto match = [](std::string_view key, std::string_view name) {
    const auto p = NamePattern::compile(key);
    REQUIRE(p.has_value());
    return p->matches(name);
  };
  CHECK(match("v_proj", "model.layers.0.self_attn.v_proj"));
  CHECK(match("v_proj", "v_proj"));
  CHECK_FALSE(match("v_proj", "model.layers.0.self_attn.xv_proj"));
  CHECK_FALSE(match("v_proj", "model.layers.0.self_attn.v_proj.lora"));
  CHECK(match(R"(layers\.1\..*)", "model.layers.1.mlp.up_proj"));
  CHECK_FALSE(match(R"(layers\.1\..*)", "model.layers.11.mlp.up_proj"));
  CHECK(match("layers.1.q", "model.layers_1xq"));  // '.' is any character, as in the regex
  CHECK(match(R"(^model\.layers\.0\.q_proj$)", "model.layers.0.q_proj"));
  CHECK_FALSE(match(R"(^layers\.0\.q_proj)", "model.layers.0.q_proj"));  // anchored: whole name
  CHECK(match(R"(layers\..+\.q_proj)", "model.layers.7.q_proj"));
  CHECK_FALSE(match(R"(layers\..+\.q_proj)", "model.layers..q_proj"));
  // Operators beyond these are refused rather than run through a backtracking engine.
  for (const char* key : {"(a*)*b", "q|v", R"(layers\.\d+)", "[qv]_proj", "a{2}", "q_proj*"}) {
    INFO(key);
    CHECK_FALSE(NamePattern::compile(key).has_value());
  }
  // A long hostile name costs time linear in its length.
  const std::string name(200000, 'a');
  CHECK_FALSE(match(".*.*.*.*.*b", name));
}

TEST_CASE("PEFT: a config above the size limit is refused before it is parsed", "[io][peft]") {
  const std::string config = R"({"peft_type":"LORA","r":2,"lora_alpha":4})";
  lorakit::io::LoadOptions small;
  small.limits.max_config_bytes = config.size() - 1;
  auto tensors = lorakit::io::FileBytes::from_buffer({}, "adapter_model.safetensors");
  try {
    (void)lorakit::io::load_peft(config, tensors, "in-memory", small);
    FAIL("a config above the limit was parsed");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::limit_exceeded);
    CHECK_THAT(e.what(), Catch::Contains("in-memory/adapter_config.json"));
  }
  // The same bytes under the default limit get past the config (the empty tensors file fails).
  try {
    (void)lorakit::io::load_peft(config, tensors, "in-memory");
    FAIL("an empty safetensors file was accepted");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::bad_format);
  }
}

TEST_CASE("PEFT: a config nested a million levels deep is read without a stack overflow",
          "[io][peft]") {
  // The nesting sits in a field lorakit ignores, so the load gets past the config and fails on
  // the empty tensors file; a recursive parser or destructor would have overflowed the stack.
  const std::size_t depth = 1'000'000;
  const std::string config = R"({"peft_type":"LORA","r":2,"lora_alpha":4,"extra":)" +
                             std::string(depth, '[') + std::string(depth, ']') + "}";
  auto tensors = lorakit::io::FileBytes::from_buffer({}, "adapter_model.safetensors");
  try {
    (void)lorakit::io::load_peft(config, tensors, "in-memory");
    FAIL("an empty safetensors file was accepted");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::bad_format);
    CHECK_THAT(e.what(), Catch::Contains("shorter than the 8-byte header length"));
  }
}
