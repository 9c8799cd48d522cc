// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// read_outline against the full loaders, fit / match, and scanning generated folders.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "adapter_fixture.hpp"
#include "base_files.hpp"
#include "files.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/load.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/io/scan.hpp"
#include "lorakit/runtime/discovery.hpp"

using namespace lorakit;
using lorakit::test::fixtures_dir;
using lorakit::test::ModuleSpec;
using lorakit::test::TempDir;

namespace {

// q_proj and v_proj of `blocks` Llama blocks of width d (v: d / 2), rank r.
std::vector<ModuleSpec> llama_specs(int blocks, Index d, Index r) {
  std::vector<ModuleSpec> s;
  for (int i = 0; i < blocks; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".self_attn.";
    s.push_back({b + "q_proj", d, d, r});
    s.push_back({b + "v_proj", d, d / 2, r});
  }
  return s;
}

void require_same_outline(const AdapterOutline& header, const AdapterOutline& loaded) {
  REQUIRE(header.modules.size() == loaded.modules.size());
  for (const auto& [name, m] : loaded.modules) {
    INFO("module " << name);
    const auto it = header.modules.find(name);
    REQUIRE(it != header.modules.end());
    CHECK(it->second.in_features == m.in_features);
    CHECK(it->second.out_features == m.out_features);
    CHECK(it->second.rank == m.rank);
    CHECK(it->second.alpha == m.alpha);
    CHECK(it->second.kind == m.kind);
    CHECK(it->second.rows == m.rows);
    CHECK(it->second.magnitude == m.magnitude);
  }
  CHECK(header.saved == loaded.saved);
  CHECK(header.info.base_model == loaded.info.base_model);
  CHECK(header.info.architecture == loaded.info.architecture);
}

}  // namespace

TEST_CASE("read_outline of every fixture agrees with the full loader, module by module") {
  LORAKIT_REQUIRE_FIXTURES();
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(fixtures_dir() / "peft")) {
    paths.push_back(e.path());
  }
  paths.push_back(fixtures_dir() / "mlx/mlx-qwen25-05b");
  for (const char* source : {"smollm2-135m-qv", "llama32-1b-qv"}) {
    for (const char* type : {"f32", "f16", "bf16", "q8_0"}) {
      paths.push_back(fixtures_dir() / "gguf" / source /
                      (std::string(source) + "-" + type + ".gguf"));
    }
  }
  std::size_t compared = 0;
  for (const auto& p : paths) {
    INFO("adapter " << p.string());
    std::shared_ptr<const Adapter> full;
    try {
      full = io::load_adapter(p);
    } catch (const Error& e) {
      // A file the loader refuses for its values (NaN-filled) still outlines; any other
      // refusal is the outline's too.
      if (e.code() == Errc::non_finite) {
        CHECK_NOTHROW(io::read_outline(p));
      } else {
        CHECK_THROWS_AS(io::read_outline(p), Error);
      }
      continue;
    }
    const AdapterOutline header = io::read_outline(p);
    require_same_outline(header, outline(*full));
    ++compared;
  }
  CHECK(compared >= 15);
}

TEST_CASE("an outline reads the stored type and the file's bytes") {
  LORAKIT_REQUIRE_FIXTURES();
  const auto path = fixtures_dir() / "gguf/smollm2-135m-qv/smollm2-135m-qv-q8_0.gguf";
  const AdapterOutline o = io::read_outline(path);
  REQUIRE_FALSE(o.modules.empty());
  CHECK(o.modules.begin()->second.dtype == "Q8_0");
  CHECK(o.bytes > 0);
  CHECK(o.bytes < std::filesystem::file_size(path));
}

TEST_CASE("fit(): architecture first, then names and widths, then the row order") {
  const auto adapter = test::make_adapter("a", llama_specs(4, 64, 8), 1);
  AdapterOutline o = outline(*adapter);
  BaseModel base;
  base.architecture = "llama";
  for (int i = 0; i < 4; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".self_attn.";
    base.modules.push_back({b + "q_proj", 64, 64});
    base.modules.push_back({b + "v_proj", 64, 32});
  }
  base.sort_modules();
  const Fit good = fit(o, base);
  CHECK(good.verdict == Verdict::compatible);
  CHECK(good.modules == 8);

  o.info.architecture = "qwen2";
  const Fit arch = fit(o, base);
  CHECK(arch.verdict == Verdict::incompatible);
  REQUIRE(arch.reasons.size() == 1);
  CHECK(arch.reasons[0] == "architecture qwen2, base llama");
  o.info.architecture.clear();

  BaseModel two = base;
  std::erase_if(two.modules, [](const BaseModule& m) { return layer_index(m.name) >= 2; });
  two.modules[0].in_features = 48;  // block 0 q_proj
  const Fit partial = fit(o, two);
  CHECK(partial.verdict == Verdict::incompatible);
  REQUIRE(partial.reasons.size() == 2);
  CHECK(partial.reasons[0] == "4 of 8 modules have no module in the base (blocks 2-3)");
  CHECK(partial.reasons[1] == "1 of 8 modules: in 64 vs 48 in the base");
  CHECK(partial.modules == 3);

  BaseModel gguf = base;  // Q rows in llama.cpp's order: a Hugging Face-order adapter mismatches
  for (BaseModule& m : gguf.modules) {
    if (m.name.ends_with("q_proj")) m.rows = RowLayout::llama_cpp;
  }
  const Fit order = fit(o, gguf);
  CHECK(order.verdict == Verdict::incompatible);
  REQUIRE(order.reasons.size() == 1);
  CHECK_THAT(order.reasons[0], Catch::StartsWith("4 of 8 modules: adapter 'a': its lora_b"));
}

TEST_CASE("match(): compatible bases, the named base absent is unknown, present is incompatible") {
  AdapterInfo info;
  info.base_model = "org/Tiny-Llama";
  const auto adapter = test::make_adapter("a", llama_specs(2, 64, 4), 1, info);
  const AdapterOutline o = outline(*adapter);
  BaseModel fits{.name = "tiny llama"};
  BaseModel other{.name = "wide"};
  for (int i = 0; i < 2; ++i) {
    const std::string b = "model.layers." + std::to_string(i) + ".self_attn.";
    fits.modules.push_back({b + "q_proj", 64, 64});
    fits.modules.push_back({b + "v_proj", 64, 32});
    other.modules.push_back({b + "q_proj", 128, 128});
    other.modules.push_back({b + "v_proj", 128, 64});
  }
  fits.sort_modules();
  other.sort_modules();
  const std::vector<BaseModel> both = {other, fits};
  const AdapterMatch m = match(o, both);
  CHECK(m.verdict == Verdict::compatible);
  CHECK(m.compatible == std::vector<std::size_t>{1});
  REQUIRE(m.incompatible.size() == 1);
  CHECK(m.incompatible[0].first == 0);

  const std::vector<BaseModel> only_other = {other};
  const AdapterMatch absent = match(o, only_other);
  CHECK(absent.verdict == Verdict::unknown);
  CHECK(absent.note == "trained on org/Tiny-Llama, which is not here");

  BaseModel named = other;
  named.name = "Tiny-Llama";  // the named base, of other widths
  const std::vector<BaseModel> present = {named};
  CHECK(match(o, present).verdict == Verdict::incompatible);
  CHECK(match(o, std::vector<BaseModel>{}).verdict == Verdict::unknown);
}

TEST_CASE("scan() classifies a generated folder and matches its adapters to its bases") {
  const TempDir dir;
  const auto& root = dir.path();
  namespace fs = std::filesystem;
  // Bases: a Hugging Face Llama of width 64 (2 blocks), a GGUF Llama of width 128.
  test::write_hf_model(root / "models/tiny-hf", test::llama_config("llama", 2, 64, 4, 2, "tiny-hf"),
                       test::llama_weights(2, 64, 4, 2, 128));
  test::write_gguf_llama(root / "models/wide.gguf", "llama", 2, 128, 4, 4, 256, "wide");
  // Adapters for the width-64 base in three formats, and one for a base that is not here.
  AdapterInfo info;
  info.base_model = "tiny-hf";
  // v_proj of the HF base is 64 -> 32 (2 key/value heads of 16).
  const auto a64 = test::make_adapter("a64", llama_specs(2, 64, 4), 1, info);
  fs::create_directories(root / "adapters/deep/er");
  io::save_peft(*a64, root / "adapters/peft-a64");
  io::save_mlx(*a64, root / "adapters/mlx-a64");
  io::save_gguf(*a64, root / "adapters/deep/a64.gguf",
                {.architecture = "llama", .n_head = 4, .n_head_kv = 2});
  AdapterInfo elsewhere;
  elsewhere.base_model = "org/absent-model";
  io::save_peft(*test::make_adapter("a96", llama_specs(1, 96, 4), 5, elsewhere),
                root / "adapters/peft-a96");
  // Unknowns and walk problems.
  test::write_text(root / "README.md", "models and adapters");
  test::write_text(root / "adapters/broken.gguf", "GGUF\x03");
  test::write_text(root / ".hidden", "skipped");
  fs::create_directory_symlink(root / "adapters", root / "adapters/loop");
  fs::create_symlink(root / "nowhere", root / "dangling");
  fs::create_directories(root / "adapters/deep/er/est");
  test::write_text(root / "adapters/deep/er/est/far.txt", "too deep");

  const io::Scan s = io::scan(root, {.max_depth = 2});
  auto entry = [&](const fs::path& p) -> const io::ScanEntry& {
    for (const io::ScanEntry& e : s.entries) {
      if (e.path == p) return e;
    }
    FAIL("no entry for " << p.string());
    return s.entries.front();
  };
  CHECK(entry(root / "models/tiny-hf").kind == io::EntryKind::hf_model);
  CHECK(entry(root / "models/wide.gguf").kind == io::EntryKind::gguf_model);
  CHECK(entry(root / "adapters/peft-a64").kind == io::EntryKind::peft_adapter);
  CHECK(entry(root / "adapters/mlx-a64").kind == io::EntryKind::mlx_adapter);
  CHECK(entry(root / "adapters/deep/a64.gguf").kind == io::EntryKind::gguf_adapter);
  CHECK(entry(root / "README.md").kind == io::EntryKind::unknown);
  const io::ScanEntry& broken = entry(root / "adapters/broken.gguf");
  CHECK(broken.kind == io::EntryKind::unknown);
  CHECK_THAT(broken.why, Catch::Contains("broken.gguf"));
  for (const io::ScanEntry& e : s.entries) {
    CHECK(e.path.filename() != ".hidden");
    CHECK(e.path.filename() != "far.txt");                      // below max_depth
    CHECK(e.path.parent_path() != root / "adapters/peft-a64");  // its files belong to it
  }
  // Warnings: the loop, the dangling link, the depth bound; the scan still finished.
  auto warned = [&](const std::string& text) {
    for (const std::string& w : s.warnings) {
      if (w.find(text) != std::string::npos) return true;
    }
    return false;
  };
  CHECK(warned("symlink loop"));
  CHECK(warned("broken symlink"));
  CHECK(warned("deeper than max_depth 2"));

  REQUIRE(s.bases.size() == 2);
  for (const char* p : {"adapters/peft-a64", "adapters/mlx-a64", "adapters/deep/a64.gguf"}) {
    INFO(p);
    const io::ScanEntry& e = entry(root / p);
    REQUIRE(e.match);
    CHECK(e.match->verdict == Verdict::compatible);
    REQUIRE(e.match->compatible.size() == 1);
    CHECK(s.bases[e.match->compatible[0]].name == "tiny-hf");
    REQUIRE(e.match->incompatible.size() == 1);
    CHECK(s.bases[e.match->incompatible[0].first].name == "wide");
  }
  // The GGUF adapter's Q rows are in llama.cpp's order: against the GGUF base of width 128 the
  // widths already disagree; its rows would be kept there and put back for the HF base.
  const io::ScanEntry& a96 = entry(root / "adapters/peft-a96");
  REQUIRE(a96.match);
  CHECK(a96.match->verdict == Verdict::unknown);
  CHECK_THAT(a96.match->note, Catch::Contains("org/absent-model"));
}

TEST_CASE("scan() of a missing root is an error, of one file classifies it") {
  const TempDir dir;
  CHECK_THROWS_WITH(io::scan(dir / "absent"), Catch::Contains("no such file or directory"));
  test::write_gguf_llama(dir / "m.gguf", "llama", 1, 64, 4, 4, 128, "m");
  const io::Scan s = io::scan(dir / "m.gguf");
  REQUIRE(s.entries.size() == 1);
  CHECK(s.entries[0].kind == io::EntryKind::gguf_model);
}

TEST_CASE("fit(): embedding modules make an adapter incompatible, as Model does not apply them") {
  const auto adapter = test::make_adapter("e", llama_specs(1, 64, 4), 1);
  AdapterOutline o = outline(*adapter);
  ModuleOutline embed;
  embed.in_features = 1000;
  embed.out_features = 64;
  embed.rank = 4;
  embed.kind = ModuleKind::embedding;
  o.modules.emplace("model.embed_tokens", embed);
  BaseModel base;
  base.modules = {{"model.layers.0.self_attn.q_proj", 64, 64},
                  {"model.layers.0.self_attn.v_proj", 64, 32}};
  base.sort_modules();
  const Fit f = fit(o, base);
  CHECK(f.verdict == Verdict::incompatible);
  REQUIRE(f.reasons.size() == 1);
  CHECK(f.reasons[0] == "1 of 3 modules: embedding modules, which Model does not apply");
}

TEST_CASE("scan() and read_base_model never open a FIFO: it is not a regular file") {
  const TempDir dir;
  namespace fs = std::filesystem;
  const auto a = test::make_adapter("a", llama_specs(1, 64, 4), 1);
  io::save_peft(*a, dir / "adapters/fifo");
  fs::remove(dir / "adapters/fifo/adapter_model.safetensors");
  REQUIRE(::mkfifo((dir / "adapters/fifo/adapter_model.safetensors").c_str(), 0600) == 0);
  REQUIRE(::mkfifo((dir / "model.gguf").c_str(), 0600) == 0);
  const io::Scan s = io::scan(dir.path());  // returns: nothing blocks on the FIFOs
  bool found = false;
  for (const io::ScanEntry& e : s.entries) {
    if (e.path == dir / "adapters/fifo") {
      found = true;
      CHECK(e.kind == io::EntryKind::unknown);
      CHECK_THAT(e.why, Catch::Contains("adapter_model.safetensors") &&
                            Catch::Contains("not a regular file"));
    }
    CHECK(e.path != dir / "model.gguf");  // not a regular file: not an entry
  }
  CHECK(found);
  CHECK_THROWS_WITH(io::read_base_model(dir / "model.gguf"), Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(io::load_adapter(dir / "model.gguf"), Catch::Contains("not a regular file"));
}
