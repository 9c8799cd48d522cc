// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// llama.cpp as the judge: a tiny random llama model written as GGUF, a PEFT-style adapter on q,
// k, v and o written with save_gguf, and llama.cpp's logits with the adapter attached compared
// with its logits on the model with the delta merged in, within the rounding bounds derived in
// llama_reference.cpp. Also: llama.cpp refuses what lorakit refuses (a wrong base).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "files.hpp"
#include "judge.hpp"
#include "llama_reference.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/model.hpp"
#include "tiny_llama.hpp"

namespace {

using lorakit::Adapter;
using lorakit::AdapterModule;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Index;
using lorakit::RowMatrix;
using lorakit::test::llama::MatD;
namespace io = lorakit::io;
namespace llama = lorakit::test::llama;
namespace judge = lorakit::test::judge;

const std::vector<int> kTokens = {1, 5, 9, 3, 17, 33, 5, 60, 2, 41, 12, 7};
constexpr Index kRank = 4;
// The user scale of the attachment. With alpha = 2r (make_adapter) llama.cpp's multiplier is
// 0.75f * 8 / 4 = 1.5, exact in F32, so its rounding needs no term in the bound.
constexpr float kUserScale = 0.75f;

// A PEFT-style adapter on q, k, v and o of every block of a model of config `c`: A:(in, r) and
// B:(r, out) uniform in [-0.35, 0.35), so that s B A is about as large as W itself.
std::shared_ptr<const Adapter> llama_adapter(const llama::Config& c, std::uint64_t seed) {
  std::vector<lorakit::test::ModuleSpec> specs;
  for (Index l = 0; l < c.layers; ++l) {
    for (llama::Proj p : llama::kAttention) {
      const auto [out, in] = llama::proj_shape(c, p);
      specs.push_back({llama::module_name(l, p), in, out, kRank});
    }
  }
  return lorakit::test::make_adapter("judged", specs, seed, {}, 0.35f);
}

io::GgufSaveOptions save_options(const llama::Config& c, io::GgufOutType type) {
  io::GgufSaveOptions o;
  o.architecture = "llama";
  o.out_type = type;
  o.n_head = static_cast<int>(c.heads);
  o.n_head_kv = static_cast<int>(c.kv_heads);
  return o;
}

io::LoadOptions hf_layout(const llama::Config& c) {
  io::LoadOptions o;
  o.base_layout = io::BaseLayout::hf;
  o.n_head = static_cast<int>(c.heads);
  o.n_head_kv = static_cast<int>(c.kv_heads);
  o.convert_to_f32 = true;  // the checks below read the loaded tensors as f32 views
  return o;
}

const char* type_name(io::GgufOutType t) {
  switch (t) {
    case io::GgufOutType::f32: return "f32";
    case io::GgufOutType::f16: return "f16";
    case io::GgufOutType::bf16: return "bf16";
    case io::GgufOutType::q8_0: return "q8_0";
  }
  return "?";
}

// What the reference needs of each adapted projection: A and B from `adapter` (Hugging Face
// rows), llama.cpp's multiplier user_scale * alpha / r, and the ggml types `file` stores.
std::vector<llama::LoraPath> lora_paths(const Adapter& adapter, const io::GgufFile& file,
                                        const llama::Config& c) {
  std::vector<llama::LoraPath> paths;
  for (Index l = 0; l < c.layers; ++l) {
    for (llama::Proj p : llama::kAttention) {
      const AdapterModule* m = adapter.find(llama::module_name(l, p));
      REQUIRE(m != nullptr);
      const io::GgufTensor* a = file.find_tensor(llama::gguf_name(l, p) + ".lora_a");
      const io::GgufTensor* b = file.find_tensor(llama::gguf_name(l, p) + ".lora_b");
      REQUIRE(a != nullptr);
      REQUIRE(b != nullptr);
      llama::LoraPath path;
      path.layer = l;
      path.proj = p;
      path.a = m->a.view().cast<double>();
      path.b = m->b.view().cast<double>();
      path.scale = static_cast<double>(kUserScale * adapter.scale(*m));
      path.a_type = a->type;
      path.b_type = b->type;
      paths.push_back(std::move(path));
    }
  }
  return paths;
}

// The files every test case shares, written once.
struct Setup {
  lorakit::test::TempDir dir;
  llama::Config config;
  llama::Weights base = llama::random_weights(config, 1);
  std::shared_ptr<const Adapter> adapter = llama_adapter(config, 1000);
  std::filesystem::path base_file = dir / "base.gguf";
  std::map<std::string, judge::Verdict> verdicts;

  Setup() { llama::write_model(base_file, base); }

  // llama.cpp's answer on a model file with adapters, judged once per key.
  const judge::Verdict& judged(const std::string& key, const std::filesystem::path& model,
                               const std::vector<judge::Lora>& loras = {}) {
    auto it = verdicts.find(key);
    if (it == verdicts.end())
      it = verdicts.emplace(key, judge::logits(model, loras, kTokens)).first;
    return it->second;
  }
  const judge::Verdict& judged_ok(const std::string& key, const std::filesystem::path& model,
                                  const std::vector<judge::Lora>& loras = {}) {
    const judge::Verdict& v = judged(key, model, loras);
    INFO(key << ": judge.mjs exit " << v.status << ": " << v.error << "\n" << v.stderr_text);
    REQUIRE(v.status == 0);
    REQUIRE(v.centred.rows() == static_cast<Index>(kTokens.size()));
    REQUIRE(v.centred.cols() == config.vocab);
    return v;
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// One storage type's adapter file, the adapter lorakit loads back from it, the merged model
// built from what is stored, and the reference's expectation.
struct Stored {
  std::filesystem::path adapter_file, merged_file;
  std::shared_ptr<const Adapter> loaded;
  llama::Expected expected;
};

const Stored& stored(io::GgufOutType type) {
  static std::map<io::GgufOutType, Stored> cache;
  auto it = cache.find(type);
  if (it != cache.end()) return it->second;
  Setup& s = setup();
  Stored st;
  const std::string name = type_name(type);
  st.adapter_file = s.dir / ("adapter-" + name + ".gguf");
  st.merged_file = s.dir / ("merged-" + name + ".gguf");
  io::save_gguf(*s.adapter, st.adapter_file, save_options(s.config, type));
  st.loaded = io::load_gguf(st.adapter_file, hf_layout(s.config));
  // F32 stores the adapter exactly: merge the generated one (independent of lorakit's reader).
  // Other types: merge what the file holds, as lorakit reads it back.
  const Adapter& merged_from = type == io::GgufOutType::f32 ? *s.adapter : *st.loaded;
  const io::GgufFile file = io::GgufFile::open(st.adapter_file);
  st.expected = llama::evaluate(s.base, lora_paths(merged_from, file, s.config), kTokens);
  llama::write_model(st.merged_file, st.expected.merged);
  return cache.emplace(type, std::move(st)).first->second;
}

// Checks |got - want| <= tol for every position and vocabulary entry, reporting the first
// failures, and prints the largest difference beside the tolerances (worst-case and
// statistical: the tolerance is the smaller). Returns the largest |diff|.
double compare(const std::string& what, const MatD& got, const MatD& want, const MatD& worst,
               const MatD& statistical) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  const MatD tol = worst.cwiseMin(statistical);
  REQUIRE(tol.rows() == want.rows());
  REQUIRE(tol.cols() == want.cols());
  double max_diff = 0;
  double ratio = 0;  // largest |diff| / tol
  int failures = 0;
  for (Index t = 0; t < want.rows(); ++t) {
    for (Index i = 0; i < want.cols(); ++i) {
      const double d = std::abs(got(t, i) - want(t, i));
      max_diff = std::max(max_diff, d);
      ratio = std::max(ratio, d / tol(t, i));
      if (!(d <= tol(t, i)) && failures++ < 8) {
        FAIL_CHECK(what << ": shape [" << want.rows() << ", " << want.cols() << "], position " << t
                        << " (after token " << kTokens[static_cast<std::size_t>(t)] << "), logit "
                        << i << ": expected " << want(t, i) << ", got " << got(t, i) << ", |diff| "
                        << d << " > tolerance " << tol(t, i));
      }
    }
  }
  std::cout << what << ": max |diff| " << max_diff << "; tolerance " << tol.minCoeff() << " .. "
            << tol.maxCoeff() << " (statistical " << statistical.minCoeff() << " .. "
            << statistical.maxCoeff() << ", worst case " << worst.minCoeff() << " .. "
            << worst.maxCoeff() << "); max |diff| / tolerance " << ratio << "\n";
  CHECK(failures == 0);
  return max_diff;
}

// Two llama.cpp runs against each other.
double compare(const std::string& what, const MatD& got, const MatD& want, const llama::Bound& x,
               const llama::Bound& y) {
  return compare(what, got, want, x.worst + y.worst, x.statistical + y.statistical);
}

// One llama.cpp run against the exact logits.
double compare(const std::string& what, const MatD& got, const MatD& want, const llama::Bound& x) {
  return compare(what, got, want, x.worst, x.statistical);
}

double max_abs_diff(const MatD& a, const MatD& b) { return (a - b).cwiseAbs().maxCoeff(); }

// The tiny model's q, k, v and o projections as lorakit layers registered with a Model.
struct Layers {
  using Layer = lorakit::LoRALinear<lorakit::DenseLinear<float>, lorakit::LoRA>;
  std::vector<RowMatrix> weights;
  std::vector<std::unique_ptr<Layer>> layers;
  lorakit::Model model;  // destroyed before the layers it refers to

  explicit Layers(const llama::Weights& m) {
    weights.reserve(static_cast<std::size_t>(m.config.layers) * llama::kAttention.size());
    for (Index l = 0; l < m.config.layers; ++l) {
      for (llama::Proj p : llama::kAttention) {
        RowMatrix& w = weights.emplace_back(m.layers[static_cast<std::size_t>(l)].proj(p));
        const std::string name = llama::module_name(l, p);
        layers.push_back(
            std::make_unique<Layer>(lorakit::DenseLinear<float>(w.data(), w.cols(), w.rows()),
                                    Layer::Options{.max_rank = 64, .module = name}));
        model.add(name, *layers.back());
      }
    }
  }
};

}  // namespace

TEST_CASE("llama.cpp reads the written model as the Hugging Face llama it is", "[llamacpp]") {
  // Q/K rows permuted as the converter does, llama.cpp's rope on adjacent pairs: the same model
  // as the reference's rotate-half RoPE on Hugging Face rows, within F32 rounding.
  Setup& s = setup();
  const judge::Verdict& base = s.judged_ok("base", s.base_file);
  const llama::Expected e = llama::evaluate(s.base, {}, kTokens);
  compare("base model vs the double-precision reference", base.centred, e.centred, e.plain);
}

TEST_CASE("llama.cpp: an F32 adapter at scale 0.75 gives the logits of the merged model",
          "[llamacpp]") {
  Setup& s = setup();
  const Stored& st = stored(io::GgufOutType::f32);
  const judge::Verdict& adapted =
      s.judged_ok("adapter-f32", s.base_file, {{st.adapter_file, kUserScale}});
  const judge::Verdict& merged = s.judged_ok("merged-f32", st.merged_file);
  const llama::Expected& e = st.expected;
  compare("f32 adapter vs merged model", adapted.centred, merged.centred, e.adapter, e.plain);
  compare("f32 adapter vs the reference", adapted.centred, e.centred, e.adapter);
  compare("merged f32 model vs the reference", merged.centred, e.centred, e.plain);
  const MatD tol = llama::tolerance(e.adapter, e.plain);

  // The adapter must move the logits far beyond the tolerance, or the comparison proves nothing.
  const judge::Verdict& base = s.judged_ok("base", s.base_file);
  const double shift = max_abs_diff(adapted.centred, base.centred);
  std::cout << "f32 adapter vs base model: max |diff| " << shift << " (" << shift / tol.maxCoeff()
            << " x the largest tolerance)\n";
  CHECK(shift > 1000 * tol.maxCoeff());
}

TEST_CASE("llama.cpp: F16 and Q8_0 adapters give the logits of the model merged from them",
          "[llamacpp]") {
  const io::GgufOutType type = GENERATE(io::GgufOutType::f16, io::GgufOutType::q8_0);
  const std::string name = type_name(type);
  CAPTURE(name);
  Setup& s = setup();
  const Stored& st = stored(type);

  // lorakit reads back the original rounded as stored: F16 round to nearest; Q8_0's lora_a
  // (blocks of 32 along `in`, a column of A) within half a step d = max|x| / 127 plus the
  // rounding of d to F16, and its lora_b F16 (rank 4: ne[0] is not a multiple of 32).
  for (const auto& [module, m] : s.adapter->modules()) {
    const AdapterModule* got = st.loaded->find(module);
    REQUIRE(got != nullptr);
    for (const bool is_a : {true, false}) {
      const auto want = (is_a ? m.a : m.b).view();
      const auto have = (is_a ? got->a : got->b).view();
      REQUIRE(have.rows() == want.rows());
      REQUIRE(have.cols() == want.cols());
      int bad = 0;
      for (Index r = 0; r < want.rows(); ++r) {
        for (Index c = 0; c < want.cols(); ++c) {
          const float x = want(r, c);
          const float f16 = lorakit::Float16::from_float(x).to_float();
          float tol = 0.0f;
          if (type == io::GgufOutType::q8_0 && is_a) {
            const Index first = r / 32 * 32;
            const float d = want.col(c).segment(first, 32).cwiseAbs().maxCoeff() / 127.0f;
            const float d16 = lorakit::Float16::from_float(d).to_float();
            tol = (0.5f * d + 127.0f * std::abs(d - d16)) * (1.0f + 1e-4f);
          }
          const bool ok = tol == 0.0f ? have(r, c) == f16 : std::abs(have(r, c) - x) <= tol;
          if (!ok && bad++ < 4) {
            FAIL_CHECK(module << (is_a ? " A" : " B") << " [" << want.rows() << ", " << want.cols()
                              << "] (" << r << ", " << c << "): expected " << x << " stored as "
                              << name << " (" << (tol == 0.0f ? f16 : x) << ", tolerance " << tol
                              << "), got " << have(r, c));
          }
        }
      }
      CHECK(bad == 0);
    }
  }

  const judge::Verdict& adapted =
      s.judged_ok("adapter-" + name, s.base_file, {{st.adapter_file, kUserScale}});
  const judge::Verdict& merged = s.judged_ok("merged-" + name, st.merged_file);
  const llama::Expected& e = st.expected;
  compare(name + " adapter vs merged model", adapted.centred, merged.centred, e.adapter, e.plain);
  compare(name + " adapter vs the reference", adapted.centred, e.centred, e.adapter);
  compare("model merged from " + name + " vs the reference", merged.centred, e.centred, e.plain);

  // llama.cpp rounds the lora path's activations to F16 or Q8_0: the tolerance is that much
  // wider than F32's, about 1/9 of the adapter's effect for Q8_0.
  const MatD tol = llama::tolerance(e.adapter, e.plain);
  const judge::Verdict& base = s.judged_ok("base", s.base_file);
  const double shift = max_abs_diff(adapted.centred, base.centred);
  std::cout << name << " adapter vs base model: max |diff| " << shift << " ("
            << shift / tol.maxCoeff() << " x the largest tolerance)\n";
  CHECK(shift > 5 * tol.maxCoeff());
}

TEST_CASE("llama.cpp: Q/K lora_b rows left in Hugging Face order give other logits", "[llamacpp]") {
  // The permutation matters: the same adapter written without reordering Q/K's lora_b rows is
  // a different adapter for llama.cpp.
  Setup& s = setup();
  const Stored& st = stored(io::GgufOutType::f32);
  io::GgufNameMap unpermuted = *io::builtin_gguf_names("llama");
  unpermuted.rope_permuted = false;
  io::GgufSaveOptions o = save_options(s.config, io::GgufOutType::f32);
  o.names = &unpermuted;
  const std::filesystem::path file = s.dir / "adapter-unpermuted.gguf";
  io::save_gguf(*s.adapter, file, o);
  const judge::Verdict& wrong =
      s.judged_ok("adapter-unpermuted", s.base_file, {{file, kUserScale}});
  const judge::Verdict& merged = s.judged_ok("merged-f32", st.merged_file);
  const MatD tol = llama::tolerance(st.expected.adapter, st.expected.plain);
  const double d = max_abs_diff(wrong.centred, merged.centred);
  std::cout << "unpermuted Q/K adapter vs merged model: max |diff| " << d << " ("
            << d / tol.maxCoeff() << " x the largest tolerance)\n";
  CHECK(d > 1000 * tol.maxCoeff());
}

TEST_CASE("llama.cpp and lorakit's Model::attach both refuse an adapter for another base",
          "[llamacpp]") {
  Setup& s = setup();
  llama::Config wider = s.config;
  wider.embd = 96;  // heads of 24: q 96 x 96, k and v 48 x 96
  const std::shared_ptr<const Adapter> other = llama_adapter(wider, 2000);
  const std::filesystem::path file = s.dir / "adapter-embd96.gguf";
  io::save_gguf(*other, file, save_options(wider, io::GgufOutType::f32));

  const judge::Verdict& v = s.judged("adapter-embd96", s.base_file, {{file, kUserScale}});
  std::cout << "wrong base, llama.cpp: exit " << v.status << ": " << v.error << "\n";
  CHECK(v.status == 3);
  CHECK_THAT(v.error, Catch::Matchers::Contains("incorrect shape"));
  CHECK_THAT(v.error, Catch::Matchers::Contains("wrong base model"));

  Layers layers(s.base);
  const auto loaded = io::load_gguf(file, hf_layout(wider));
  try {
    layers.model.attach(loaded);
    FAIL("Model::attach accepted an adapter for embd 96 on layers of embd 64");
  } catch (const Error& e) {
    const std::string what = e.what();
    std::cout << "wrong base, lorakit: " << what.substr(0, what.find('\n')) << "\n";
    CHECK(e.code() == Errc::shape_mismatch);
    bool names_q = false;  // problems() lists every module; what() shows the first few
    for (const auto& p : e.problems()) {
      names_q = names_q || p.context.module == "model.layers.0.self_attn.q_proj";
    }
    CHECK(names_q);
    CHECK_THAT(what, Catch::Matchers::Contains("got ne [96, 4]"));
  }
  // The right adapter, read from its file, attaches to the same layers.
  CHECK_NOTHROW(layers.model.attach(stored(io::GgufOutType::f32).loaded));
}

TEST_CASE("llama.cpp refuses an adapter of another architecture; lorakit records it",
          "[llamacpp]") {
  Setup& s = setup();
  io::GgufSaveOptions o = save_options(s.config, io::GgufOutType::f32);
  o.architecture = "qwen2";
  const std::filesystem::path file = s.dir / "adapter-qwen2.gguf";
  io::save_gguf(*s.adapter, file, o);
  const judge::Verdict& v = s.judged("adapter-qwen2", s.base_file, {{file, kUserScale}});
  std::cout << "qwen2 adapter on a llama model, llama.cpp: exit " << v.status << ": " << v.error
            << "\n";
  CHECK(v.status == 3);
  CHECK_THAT(v.error, Catch::Matchers::Contains("arch"));

  // lorakit keeps general.architecture in AdapterInfo and uses it only to pick the names and
  // the Q/K row order (qwen2: no permutation). Model::attach has no architecture to compare
  // with (a host registers layers by name and shape), so it attaches this adapter; refusing
  // it is the host's call, made with info().architecture.
  const auto loaded = io::load_gguf(file);
  CHECK(loaded->info().architecture == "qwen2");
  Layers layers(s.base);
  CHECK_NOTHROW(layers.model.attach(loaded));
}
