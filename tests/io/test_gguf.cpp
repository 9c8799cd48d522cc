// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// GGUF adapters: llama.cpp's own files against their PEFT sources, the writer against the
// converter's bytes, conversions among PEFT, mlx-lm and GGUF, names and the Q/K row order.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "files.hpp"
#include "lorakit/base/function_linear.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/model.hpp"

using lorakit::Adapter;
using lorakit::AdapterModule;
using lorakit::AdapterTensor;
using lorakit::DType;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Index;
using lorakit::RowLayout;
using lorakit::Shape;
using lorakit::test::fixtures_dir;
namespace io = lorakit::io;

namespace {

struct Source {
  const char* name;
  int n_head;
  int n_head_kv;
  const char* basename;
  const char* size_label;
  const char* display;
};
// From ../shared/fixtures/gguf/README.md: the bases' head counts and the converter's names.
const Source kSources[] = {{"smollm2-135m-qv", 9, 3, "smollm2", "135M", "Smollm2 135m Qv"},
                           {"llama32-1b-qv", 32, 8, "llama32", "1B", "Llama32 1b Qv"}};
const char* const kOutTypes[] = {"f32", "f16", "bf16", "q8_0"};

std::vector<float> values(const AdapterTensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.elements()));
  io::decode_floats(t.dtype, t.bytes.data(), v.size(), v.data());
  return v;
}

// The value PEFT's f32 `x` takes once stored as `type`.
float stored_as(const std::string& type, float x) {
  if (type == "f16") return lorakit::Float16::from_float(x).to_float();
  if (type == "bf16") return lorakit::BFloat16::from_float(x).to_float();
  return x;
}

// Every element of `got` equals `want` rounded as `type` stores it (q8_0: A within half a
// block's step d = max|x| / 127, B stored F16 by the converter's fallback).
void check_tensor(const std::string& what, const std::string& type, const AdapterTensor& want,
                  const AdapterTensor& got, bool q8_block_rows) {
  INFO(what << " stored " << type);
  REQUIRE(got.shape == want.shape);
  const std::vector<float> w = values(want);
  const std::vector<float> g = values(got);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < w.size() && bad < 5; ++i) {
    float expected = stored_as(type == "q8_0" ? (q8_block_rows ? "q8" : "f16") : type, w[i]);
    bool ok = g[i] == expected;
    if (type == "q8_0" && q8_block_rows) {
      // A:(in, r): the blocks run along `in`, i.e. down a column of A.
      const auto cols = static_cast<std::size_t>(want.cols());
      const std::size_t row = i / cols;
      const std::size_t col = i % cols;
      const std::size_t first = row / 32 * 32;
      float amax = 0.0f;
      for (std::size_t k = first; k < first + 32; ++k)
        amax = std::max(amax, std::fabs(w[k * cols + col]));
      // |x - d16 q| <= |x - d q| + |d - d16| |q| <= d / 2 + 127 |d - d16|: half a step of the
      // exact scale, plus the scale's own rounding to f16.
      const float d = amax / 127.0f;
      const float d16 = lorakit::Float16::from_float(d).to_float();
      expected = w[i];
      ok = std::fabs(g[i] - w[i]) <= (0.5f * d + 127.0f * std::fabs(d - d16)) * (1.0f + 1e-4f);
    }
    if (!ok) {
      ++bad;
      FAIL_CHECK("shape " << want.shape.str() << " index " << i << ": expected " << expected
                          << ", got " << g[i]);
    }
  }
  CHECK(bad == 0);
}

std::vector<std::byte> file_bytes(const std::filesystem::path& p) {
  const auto fb = io::FileBytes::read(p);
  return {fb->bytes().begin(), fb->bytes().end()};
}

struct NoOp {
  void operator()(lorakit::ConstMatrixView, lorakit::MatrixView y) const noexcept { y.setZero(); }
};
using ShapeLayer = lorakit::LoRALinear<lorakit::FunctionLinear<NoOp>, lorakit::LoRA>;

io::LoadOptions hf_layout(const Source& s) {
  io::LoadOptions o;
  o.base_layout = io::BaseLayout::hf;
  o.n_head = s.n_head;
  o.n_head_kv = s.n_head_kv;
  return o;
}

}  // namespace

TEST_CASE("GGUF: llama.cpp's files load, each module equal to its PEFT source",
          "[io][gguf][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  for (const Source& s : kSources) {
    const auto peft = io::load_peft(fixtures_dir() / "peft" / s.name);
    for (const std::string type : kOutTypes) {
      const auto path =
          fixtures_dir() / "gguf" / s.name / (std::string(s.name) + "-" + type + ".gguf");
      INFO(path.string());
      const auto gguf = io::load_gguf(path, hf_layout(s));
      CHECK(gguf->info().format == lorakit::AdapterFormat::gguf);
      CHECK(gguf->info().architecture == "llama");
      CHECK(gguf->info().rank == 8);
      CHECK(gguf->info().alpha == 16.0f);
      CHECK(gguf->info().scaling == lorakit::Scaling::alpha_over_rank);
      REQUIRE(gguf->modules().size() == peft->modules().size());
      for (const auto& [name, want] : peft->modules()) {
        const AdapterModule* got = gguf->find(name);
        REQUIRE(got != nullptr);
        CHECK(got->rows == RowLayout::hf);
        CHECK(gguf->scale(*got) == peft->scale(want));  // 16 / 8 = 2, as PEFT
        check_tensor(name + " A", type, want.a, got->a, true);
        check_tensor(name + " B", type, want.b, got->b, false);
      }
      if (type == "f32") {
        // Bit-exact: the same adapter, content for content.
        CHECK(gguf->content_hash() == peft->content_hash());
      }
    }
  }
}

TEST_CASE("GGUF: Q/K rows without a base layout are refused at attach, llama.cpp's are kept",
          "[io][gguf][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  const Source& s = kSources[0];
  const auto path = fixtures_dir() / "gguf" / s.name / (std::string(s.name) + "-f32.gguf");
  const auto undecided = io::load_gguf(path);
  const auto* q = undecided->find("model.layers.0.self_attn.q_proj");
  const auto* v = undecided->find("model.layers.0.self_attn.v_proj");
  REQUIRE(q != nullptr);
  REQUIRE(v != nullptr);
  CHECK(q->rows == RowLayout::unresolved);
  CHECK(v->rows == RowLayout::hf);

  // llama.cpp's layout: B's outputs as the file stores them. From the README: GGUF row 1 of
  // blk.0.attn_q.weight.lora_b is PEFT row 32, and column 0 of it is -0.0004107005.
  io::LoadOptions keep;
  keep.base_layout = io::BaseLayout::llama_cpp;
  const auto kept = io::load_gguf(path, keep);
  const auto peft = io::load_peft(fixtures_dir() / "peft" / s.name);
  const auto* kq = kept->find("model.layers.0.self_attn.q_proj");
  const auto* pq = peft->find("model.layers.0.self_attn.q_proj");
  REQUIRE(kq != nullptr);
  CHECK(kq->rows == RowLayout::llama_cpp);
  const auto kb = kq->b.view();
  const auto pb = pq->b.view();
  for (Index h = 0; h < 9; ++h) {
    for (Index i = 0; i < 32; ++i) {
      for (Index j = 0; j < 2; ++j) {
        INFO("head " << h << " i " << i << " j " << j);
        REQUIRE(kb(0, h * 64 + 2 * i + j) == pb(0, h * 64 + j * 32 + i));
      }
    }
  }
  CHECK(std::fabs(kb(0, 1) - (-0.0004107005f)) < 1e-9f);

  // Attaching the unresolved modules is an error that says what to pass.
  std::vector<std::unique_ptr<ShapeLayer>> layers;  // outlives the model that refers to it
  lorakit::Model model;
  for (int l = 0; l < 30; ++l) {
    for (const char* m : {"q_proj", "v_proj"}) {
      const Index out = m[0] == 'q' ? 576 : 192;
      layers.push_back(std::make_unique<ShapeLayer>(lorakit::FunctionLinear<NoOp>({}, 576, out)));
      model.add("model.layers." + std::to_string(l) + ".self_attn." + m, *layers.back());
    }
  }
  try {
    model.attach(undecided);
    FAIL("attach accepted unresolved rows");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("BaseLayout::hf"));
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("model.layers.0.self_attn.q_proj"));
  }
  CHECK(model.list().empty());
  CHECK_NOTHROW(model.attach(kept));

  // The head counts are needed for Hugging Face order.
  io::LoadOptions no_heads;
  no_heads.base_layout = io::BaseLayout::hf;
  try {
    (void)io::load_gguf(path, no_heads);
    FAIL("loaded without head counts");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("n_head"));
  }
  // And a writer of another format refuses rows in llama.cpp's order.
  lorakit::test::TempDir dir;
  CHECK_THROWS_AS(io::save_peft(*kept, dir / "peft"), Error);
  CHECK_THROWS_AS(io::save_mlx(*kept, dir / "mlx"), Error);
}

TEST_CASE("GGUF: save_gguf writes the converter's bytes for its PEFT sources",
          "[io][gguf][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  for (const Source& s : kSources) {
    const auto peft = io::load_peft(fixtures_dir() / "peft" / s.name);
    for (const std::string type : kOutTypes) {
      io::GgufSaveOptions o;
      o.architecture = "llama";
      o.out_type = type == "f32"    ? io::GgufOutType::f32
                   : type == "f16"  ? io::GgufOutType::f16
                   : type == "bf16" ? io::GgufOutType::bf16
                                    : io::GgufOutType::q8_0;
      o.n_head = s.n_head;
      o.n_head_kv = s.n_head_kv;
      // The four name-like keys the converter guesses from the directory name.
      o.name = s.display;
      o.finetune = "qv";
      o.basename = s.basename;
      o.size_label = s.size_label;
      const std::vector<std::byte> ours = io::serialize_gguf_adapter(*peft, o);
      const auto path =
          fixtures_dir() / "gguf" / s.name / (std::string(s.name) + "-" + type + ".gguf");
      const std::vector<std::byte> theirs = file_bytes(path);
      INFO(path.string());
      REQUIRE(ours.size() == theirs.size());
      std::size_t first = ours.size();
      for (std::size_t i = 0; i < ours.size(); ++i) {
        if (ours[i] != theirs[i]) {
          first = i;
          break;
        }
      }
      INFO("first differing byte at " << first);
      CHECK(first == ours.size());
    }
  }
}

TEST_CASE("GGUF: PEFT -> GGUF -> PEFT and mlx-lm <-> GGUF keep every module and multiplier",
          "[io][gguf][fixtures]") {
  LORAKIT_REQUIRE_FIXTURES();
  lorakit::test::TempDir dir;
  const Source& s = kSources[1];
  const auto peft = io::load_peft(fixtures_dir() / "peft" / s.name);
  io::GgufSaveOptions o;
  o.architecture = "llama";
  o.n_head = s.n_head;
  o.n_head_kv = s.n_head_kv;
  io::save_gguf(*peft, dir / "a.gguf", o);
  const auto gguf = io::load_gguf(dir / "a.gguf", hf_layout(s));
  io::save_peft(*gguf, dir / "back");
  const auto back = io::load_peft(dir / "back");
  CHECK(back->content_hash() == peft->content_hash());
  for (const auto& [name, m] : peft->modules()) {
    const AdapterModule* g = back->find(name);
    REQUIRE(g != nullptr);
    CHECK(back->scale(*g) == peft->scale(m));
    CHECK(std::memcmp(g->b.bytes.data(), m.b.bytes.data(), m.b.bytes.size()) == 0);
  }

  // mlx-lm (scale 10, rank 8, qwen2) -> GGUF: alpha = 80 gives 80 / 8 = 10 in llama.cpp.
  const auto mlx = io::load_mlx(fixtures_dir() / "mlx/mlx-qwen25-05b");
  io::GgufSaveOptions q;
  q.architecture = "qwen2";
  io::save_gguf(*mlx, dir / "m.gguf", q);
  const auto from_mlx = io::load_gguf(dir / "m.gguf");
  CHECK(from_mlx->info().alpha == 80.0f);
  REQUIRE(from_mlx->modules().size() == mlx->modules().size());
  for (const auto& [name, m] : mlx->modules()) {
    const AdapterModule* g = from_mlx->find(name);
    REQUIRE(g != nullptr);
    CHECK(from_mlx->scale(*g) == mlx->scale(m));
    CHECK(g->rows == RowLayout::hf);  // qwen2: no permutation
    CHECK(std::memcmp(g->a.bytes.data(), m.a.bytes.data(), m.a.bytes.size()) == 0);
    CHECK(std::memcmp(g->b.bytes.data(), m.b.bytes.data(), m.b.bytes.size()) == 0);
  }
  io::save_mlx(*from_mlx, dir / "mlx-back");
  const auto mlx_back = io::load_mlx(dir / "mlx-back");
  for (const auto& [name, m] : mlx->modules()) {
    const AdapterModule* g = mlx_back->find(name);
    REQUIRE(g != nullptr);
    CHECK(mlx_back->scale(*g) == mlx->scale(m));
  }
}

namespace {

using lorakit::test::make_adapter;

// A llama adapter of q, k and v in two blocks: width 32, 4 heads (head dim 8), 2 KV heads.
std::shared_ptr<const Adapter> small_llama(std::uint64_t seed = 7) {
  std::vector<lorakit::test::ModuleSpec> specs;
  for (int b = 0; b < 2; ++b) {
    const std::string p = "model.layers." + std::to_string(b) + ".self_attn.";
    specs.push_back({p + "q_proj", 32, 32, 4});
    specs.push_back({p + "k_proj", 32, 16, 4});
    specs.push_back({p + "v_proj", 32, 16, 4});
  }
  lorakit::AdapterInfo info;
  info.architecture = "llama";
  return make_adapter("small", specs, seed, info);
}

io::GgufSaveOptions llama_options() {
  io::GgufSaveOptions o;
  o.n_head = 4;
  o.n_head_kv = 2;
  return o;
}

std::shared_ptr<const Adapter> load_bytes(std::vector<std::byte> bytes,
                                          const io::LoadOptions& options = {}) {
  return io::load_gguf(io::FileBytes::from_buffer(std::move(bytes), "memory.gguf"), options);
}

void check_equal(const AdapterTensor& want, const AdapterTensor& got, const std::string& what) {
  INFO(what);
  REQUIRE(got.shape == want.shape);
  REQUIRE(got.dtype == want.dtype);
  CHECK(std::memcmp(got.bytes.data(), want.bytes.data(), want.bytes.size()) == 0);
}

}  // namespace

TEST_CASE(
    "GGUF: the name tables of llama, qwen, gemma and phi3, other architectures keep "
    "llama.cpp's names",
    "[io][gguf]") {
  const io::GgufNameMap* llama = io::builtin_gguf_names("llama");
  REQUIRE(llama != nullptr);
  CHECK(llama->rope_permuted);
  CHECK(llama->to_hf("blk.12.attn_output") == "model.layers.12.self_attn.o_proj");
  CHECK(llama->to_hf("blk.0.ffn_gate") == "model.layers.0.mlp.gate_proj");
  CHECK(llama->to_hf("token_embd") == "model.embed_tokens");
  CHECK(llama->to_hf("output") == "lm_head");
  CHECK(llama->to_gguf("model.layers.3.mlp.down_proj") == "blk.3.ffn_down");
  CHECK(llama->to_hf("blk.x.attn_q") == std::nullopt);
  CHECK(llama->to_hf("blk.1.ssm_out") == std::nullopt);
  for (const char* arch : {"qwen2", "qwen3", "gemma", "gemma2", "gemma3"}) {
    INFO(arch);
    const io::GgufNameMap* m = io::builtin_gguf_names(arch);
    REQUIRE(m != nullptr);
    CHECK_FALSE(m->rope_permuted);
    CHECK(m->to_hf("blk.5.attn_k") == "model.layers.5.self_attn.k_proj");
    CHECK(m->to_gguf("model.layers.5.mlp.up_proj") == "blk.5.ffn_up");
  }
  const io::GgufNameMap* phi3 = io::builtin_gguf_names("phi3");
  REQUIRE(phi3 != nullptr);
  CHECK(phi3->to_hf("blk.2.attn_qkv") == "model.layers.2.self_attn.qkv_proj");
  CHECK(phi3->to_hf("blk.2.ffn_up") == "model.layers.2.mlp.gate_up_proj");
  CHECK(phi3->to_hf("blk.2.attn_q") == std::nullopt);  // phi3 fuses q, k and v
  CHECK(io::builtin_gguf_names("mamba") == nullptr);

  // An architecture without a table: llama.cpp's names, without ".weight".
  lorakit::AdapterInfo info;
  info.architecture = "mamba";
  const auto a = make_adapter("m", {{"blk.0.ssm_in", 16, 16, 2}}, 3, info);
  const auto back = load_bytes(io::serialize_gguf_adapter(*a));
  REQUIRE(back->find("blk.0.ssm_in") != nullptr);
  CHECK(back->info().architecture == "mamba");

  // A host's own table.
  io::GgufNameMap mine;
  mine.hf_block_prefix = "backbone.layers.";
  mine.block = {{"ssm_in", "mixer.in_proj"}};
  io::GgufLoadOptions with_names;
  with_names.names = &mine;
  const auto named = io::load_gguf(
      io::FileBytes::from_buffer(io::serialize_gguf_adapter(*a), "memory.gguf"), {}, with_names);
  CHECK(named->find("backbone.layers.0.mixer.in_proj") != nullptr);
}

TEST_CASE("GGUF: llama.cpp's Q/K row order and its inverse", "[io][gguf]") {
  // The README's example: with head dim 64, GGUF rows 0..5 are HF rows 0, 32, 1, 33, 2, 34.
  const auto p = io::rope_gguf_order(128, 2);
  REQUIRE(p);
  CHECK(std::vector<Index>(p->begin(), p->begin() + 6) == std::vector<Index>{0, 32, 1, 33, 2, 34});
  CHECK((*p)[64] == 64);
  CHECK((*p)[65] == 96);
  const auto q = io::rope_hf_order(128, 2);
  REQUIRE(q);
  for (std::size_t g = 0; g < p->size(); ++g) {
    CHECK((*q)[static_cast<std::size_t>((*p)[g])] == static_cast<Index>(g));
  }
  CHECK_FALSE(io::rope_gguf_order(30, 4));  // 30 rows do not split into 4 heads
  CHECK_FALSE(io::rope_gguf_order(12, 4));  // odd head dim 3
  CHECK_FALSE(io::rope_gguf_order(8, 0));
}

TEST_CASE("GGUF: a llama adapter round-trips through save_gguf, Q/K permuted by their own heads",
          "[io][gguf]") {
  const auto a = small_llama();
  const std::vector<std::byte> bytes = io::serialize_gguf_adapter(*a, llama_options());

  io::LoadOptions hf;
  hf.base_layout = io::BaseLayout::hf;
  hf.n_head = 4;
  hf.n_head_kv = 2;
  const auto back = load_bytes(bytes, hf);
  CHECK(back->content_hash() == a->content_hash());
  for (const auto& [name, m] : a->modules()) {
    const AdapterModule* g = back->find(name);
    REQUIRE(g != nullptr);
    check_equal(m.a, g->a, name + " A");
    check_equal(m.b, g->b, name + " B");
    CHECK(back->scale(*g) == a->scale(m));
  }

  // As stored: q's outputs reordered with 4 heads of 8, k's with 2 heads of 8, v's untouched.
  io::LoadOptions keep;
  keep.base_layout = io::BaseLayout::llama_cpp;
  const auto stored = load_bytes(bytes, keep);
  for (const auto& [name, m] : a->modules()) {
    const AdapterModule* g = stored->find(name);
    REQUIRE(g != nullptr);
    const bool is_v = name.ends_with("v_proj");
    CHECK(g->rows == (is_v ? RowLayout::hf : RowLayout::llama_cpp));
    const Index heads = name.ends_with("q_proj") ? 4 : 2;
    const auto order = io::rope_gguf_order(m.out_features(), heads);
    REQUIRE(order);
    const auto want = m.b.view();
    const auto got = g->b.view();
    for (Index r = 0; r < m.rank; ++r) {
      for (Index o = 0; o < m.out_features(); ++o) {
        const Index from = is_v ? o : (*order)[static_cast<std::size_t>(o)];
        INFO(name << " B(" << r << ", " << o << ")");
        REQUIRE(got(r, o) == want(r, from));
      }
    }
  }
  // Written again from llama.cpp's order, the bytes are the same.
  io::GgufSaveOptions same = llama_options();
  same.name = "small";  // general.name: the source adapter's name
  const bool identical = io::serialize_gguf_adapter(*stored, same) == bytes;
  CHECK(identical);

  // Without head counts, a llama adapter's Q/K cannot be ordered for llama.cpp.
  try {
    (void)io::serialize_gguf_adapter(*a);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::bad_config);
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("n_head"));
  }
}

TEST_CASE(
    "GGUF: one alpha per file, other multipliers are refused or folded into lora_b on "
    "request",
    "[io][gguf]") {
  // Ranks 4 and 8 with alpha = 2 r each (PEFT's rank_pattern / alpha_pattern): multipliers 2
  // and 2, but one file alpha gives alpha / 4 and alpha / 8.
  lorakit::AdapterInfo info;
  info.architecture = "qwen2";
  const auto a = make_adapter("mixed",
                              {{"model.layers.0.self_attn.q_proj", 16, 16, 4},
                               {"model.layers.0.self_attn.v_proj", 16, 8, 8}},
                              11, info);
  try {
    (void)io::serialize_gguf_adapter(*a);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::unsupported);
    CHECK(e.context().module == "model.layers.0.self_attn.v_proj");
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("fold_scales"));
  }
  io::GgufSaveOptions fold;
  fold.fold_scales = true;
  const std::vector<std::byte> bytes = io::serialize_gguf_adapter(*a, fold);
  const auto file = io::GgufFile::parse(io::FileBytes::from_buffer(bytes, "folded.gguf"));
  const io::GgufValue* folded = file.find("lorakit.folded_modules");
  REQUIRE(folded != nullptr);
  REQUIRE(folded->items.size() == 1);
  CHECK(folded->items[0].text == "model.layers.0.self_attn.v_proj");
  const auto back = load_bytes(bytes);
  for (const auto& [name, m] : a->modules()) {
    const AdapterModule* g = back->find(name);
    REQUIRE(g != nullptr);
    // The effective B (multiplier x B) is preserved to one rounding of each element.
    const auto want = m.b.view();
    const auto got = g->b.view();
    const float sw = a->scale(m);
    const float sg = back->scale(*g);
    for (Index r = 0; r < m.rank; ++r) {
      for (Index o = 0; o < m.out_features(); ++o) {
        const float x = sw * want(r, o);
        const float y = sg * got(r, o);
        INFO(name << " (" << r << ", " << o << "): expected " << x << ", got " << y);
        REQUIRE(std::fabs(x - y) <= 2.0f * std::fabs(x) * 0x1p-23f);
      }
    }
  }
  // mlx-lm's single scale: the same choice.
  lorakit::test::TempDir dir;
  CHECK_THROWS_AS(io::save_mlx(*back, dir / "refused"), Error);
}

TEST_CASE("GGUF: alpha 0 or missing means the user's scale alone, aLoRA tokens, norm extras",
          "[io][gguf]") {
  std::vector<float> a(2 * 32, 0.5f);   // lora_a ne [32, 2]
  std::vector<float> b(16 * 2, 0.25f);  // lora_b ne [2, 16]
  const auto ab = std::as_bytes(std::span<const float>(a));
  const auto bb = std::as_bytes(std::span<const float>(b));
  const std::vector<std::uint32_t> tokens{17, 23};
  auto file = [&](std::optional<float> alpha, std::vector<io::GgufTensorToWrite> extra = {}) {
    std::vector<io::GgufKeyValue> kv{{"general.architecture", io::GgufValue::of_string("llama")},
                                     {"general.type", io::GgufValue::of_string("adapter")},
                                     {"adapter.type", io::GgufValue::of_string("lora")}};
    if (alpha) kv.push_back({"adapter.lora.alpha", io::GgufValue::of_f32(*alpha)});
    kv.push_back(
        {"adapter.alora.invocation_tokens",
         io::GgufValue::of_array(io::GgufType::u32, std::span<const std::uint32_t>(tokens))});
    std::vector<io::GgufTensorToWrite> t{
        {"blk.0.attn_v.weight.lora_a", io::GgmlType::f32, {32, 2}, ab},
        {"blk.0.attn_v.weight.lora_b", io::GgmlType::f32, {2, 16}, bb}};
    for (auto& e : extra) t.push_back(e);
    return io::serialize_gguf(kv, t);
  };
  for (const std::optional<float> alpha : {std::optional<float>{}, std::optional<float>{0.0f}}) {
    const auto adapter = load_bytes(file(alpha));
    const AdapterModule* v = adapter->find("model.layers.0.self_attn.v_proj");
    REQUIRE(v != nullptr);
    CHECK(adapter->scale(*v) == 1.0f);
    CHECK(adapter->info().invocation_tokens == std::vector<std::int32_t>{17, 23});
    // Written back, alpha stays 0 and the multiplier 1.
    const auto again = load_bytes(io::serialize_gguf_adapter(*adapter));
    CHECK(again->scale(*again->find("model.layers.0.self_attn.v_proj")) == 1.0f);
    CHECK(again->info().invocation_tokens == std::vector<std::int32_t>{17, 23});
  }
  const auto scaled = load_bytes(file(6.0f));
  CHECK(scaled->scale(*scaled->find("model.layers.0.self_attn.v_proj")) == 3.0f);  // 6 / 2

  std::vector<float> norm(32, 1.0f);
  const auto nb = std::as_bytes(std::span<const float>(norm));
  const auto extras =
      load_bytes(file(6.0f, {{"blk.0.attn_norm.weight", io::GgmlType::f32, {32}, nb}}));
  CHECK(extras->info().ignored_tensors == std::vector<std::string>{"blk.0.attn_norm.weight"});
  try {
    (void)load_bytes(file(6.0f, {{"blk.0.attn_q.weight", io::GgmlType::f32, {32}, nb}}));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::unexpected_tensor);
    CHECK(e.context().tensor == "blk.0.attn_q.weight");
  }
}

TEST_CASE("GGUF: token_embd's lora_a is stored transposed, as llama.cpp expects", "[io][gguf]") {
  // PEFT's embedding LoRA: A:(vocab, r), B:(r, dim) in lorakit's layout.
  lorakit::AdapterInfo info;
  info.architecture = "qwen2";
  const auto plain = make_adapter("emb", {{"model.embed_tokens", 64, 16, 4}}, 5, info);
  std::map<std::string, AdapterModule> modules = plain->modules();
  modules.begin()->second.kind = lorakit::ModuleKind::embedding;
  const auto emb = std::make_shared<const Adapter>(
      plain->info(), modules, std::map<std::string, AdapterTensor>{}, plain->storage());
  const std::vector<std::byte> bytes = io::serialize_gguf_adapter(*emb);
  const auto file = io::GgufFile::parse(io::FileBytes::from_buffer(bytes, "emb.gguf"));
  const io::GgufTensor* a = file.find_tensor("token_embd.weight.lora_a");
  const io::GgufTensor* b = file.find_tensor("token_embd.weight.lora_b");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  // llama.cpp's check for token_embd: a ne [r, n_vocab], b ne [r, n_embd].
  CHECK(a->ne_str() == "ne [4, 64]");
  CHECK(b->ne_str() == "ne [4, 16]");
  const auto back = load_bytes(bytes);
  const AdapterModule* m = back->find("model.embed_tokens");
  REQUIRE(m != nullptr);
  CHECK(m->kind == lorakit::ModuleKind::embedding);
  check_equal(emb->modules().begin()->second.a, m->a, "A");
  check_equal(emb->modules().begin()->second.b, m->b, "B");
}
