// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// GGUF adapters: llama.cpp's own files against their PEFT sources, the writer against the
// converter's bytes, conversions among PEFT, mlx-lm and GGUF, names and the Q/K row order.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

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

TEST_CASE("GGUF: Q/K rows without a base layout are refused at attach; llama.cpp's are kept",
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
  lorakit::Model model;
  std::vector<std::unique_ptr<ShapeLayer>> layers;
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
