// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Writes the fuzzers' seed corpus: valid adapters of several shapes, dtypes and options written
// by lorakit's own writers (save_peft, save_mlx, save_gguf, serialize_safetensors), every malformed
// safetensors and GGUF case of the table-driven tests, and target_modules regexes, one folder per
// fuzz target.
//
//   lorakit_fuzz_seeds <out-dir>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "lorakit/io/gguf_adapter.hpp"
#include "lorakit/io/mlx.hpp"
#include "lorakit/io/peft.hpp"
#include "lorakit/io/safetensors.hpp"
#include "malformed_gguf.hpp"
#include "malformed_safetensors.hpp"

namespace fs = std::filesystem;
using namespace lorakit;

namespace {

std::vector<std::byte> read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  if (!c.empty()) std::memcpy(out.data(), c.data(), c.size());
  return out;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write(const fs::path& p, const void* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// A small adapter: `blocks` blocks of q_proj (d -> d) and v_proj (d -> d/2), rank r, stored as
// dtype (values exact in every float dtype), with optional extras.
std::shared_ptr<const Adapter> adapter(Index d, Index r, int blocks, DType dtype, Scaling scaling,
                                       bool magnitude, bool saved) {
  auto storage = std::make_shared<std::vector<std::vector<std::byte>>>();
  storage->reserve(static_cast<std::size_t>(8 * blocks + 2));
  const auto size = static_cast<std::size_t>(size_of(dtype));
  auto tensor = [&](Shape shape) {
    Index n = 1;
    for (Index x : shape.dims) n *= x;
    std::vector<float> v(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.25f;
    auto& bytes = storage->emplace_back(v.size() * size);
    io::encode_floats(dtype, v.data(), v.size(), bytes.data());
    return AdapterTensor{dtype, std::move(shape), {bytes.data(), bytes.size()}};
  };
  std::map<std::string, AdapterModule> modules;
  for (int b = 0; b < blocks; ++b) {
    for (const char* proj : {"q_proj", "v_proj"}) {
      const Index out = proj[0] == 'q' ? d : d / 2;
      AdapterModule m;
      m.a = tensor(Shape{d, r});
      m.b = tensor(Shape{r, out});
      if (magnitude) m.magnitude = tensor(Shape{out});
      m.rank = r;
      m.alpha = static_cast<float>(2 * r);
      modules.emplace("model.layers." + std::to_string(b) + ".self_attn." + proj, std::move(m));
    }
  }
  std::map<std::string, AdapterTensor> saved_tensors;
  if (saved) saved_tensors.emplace("score.weight", tensor(Shape{2, d}));
  AdapterInfo info;
  info.rank = r;
  info.alpha = static_cast<float>(2 * r);
  info.scaling = scaling;
  info.variant = magnitude ? VariantKind::dora : VariantKind::lora;
  info.target.names = {"q_proj", "v_proj"};
  if (saved) info.modules_to_save = {"score"};
  return std::make_shared<const Adapter>(info, std::move(modules), std::move(saved_tensors),
                                         std::vector<std::shared_ptr<const void>>{storage});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: lorakit_fuzz_seeds <out-dir>\n");
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* t : {"safetensors", "peft", "mlx", "load_adapter", "target_regex", "gguf"}) {
    fs::create_directories(out / t);
  }
  const fs::path scratch = out / "scratch";
  int count = 0;
  auto seed = [&](const char* target, const std::vector<std::uint8_t>& bytes) {
    write(out / target / ("seed-" + std::to_string(count++)), bytes.data(), bytes.size());
  };
  auto both = [&](const char* target, std::uint8_t layout, const std::string& config,
                  const std::vector<std::byte>& tensors) {
    seed(target, fuzz::join(config, tensors));
    std::vector<std::uint8_t> l{layout};
    const auto joined = fuzz::join(config, tensors);
    l.insert(l.end(), joined.begin(), joined.end());
    seed("load_adapter", l);
  };

  struct Shape_ {
    Index d, r;
    int blocks;
    DType dtype;
    Scaling scaling;
    bool magnitude, saved;
  };
  const Shape_ shapes[] = {
      {8, 2, 1, DType::f32, Scaling::alpha_over_rank, false, false},
      {16, 4, 2, DType::f16, Scaling::alpha_over_rank, false, false},
      {16, 1, 1, DType::bf16, Scaling::alpha_over_sqrt_rank, false, true},
      {12, 3, 2, DType::f32, Scaling::alpha_over_rank, true, false},
      {4, 4, 3, DType::f64, Scaling::alpha_over_rank, false, false},
  };
  for (const Shape_& s : shapes) {
    const auto a = adapter(s.d, s.r, s.blocks, s.dtype, s.scaling, s.magnitude, s.saved);
    fs::remove_all(scratch);
    io::save_peft(*a, scratch);
    const std::string config = read_text(scratch / "adapter_config.json");
    const std::vector<std::byte> tensors = read(scratch / "adapter_model.safetensors");
    both("peft", 1, config, tensors);
    seed("safetensors",
         std::vector<std::uint8_t>(
             reinterpret_cast<const std::uint8_t*>(tensors.data()),
             reinterpret_cast<const std::uint8_t*>(tensors.data()) + tensors.size()));
    if (!s.saved && !s.magnitude) {
      // GGUF in every out type, and as a single file for load_adapter.
      for (const io::GgufOutType type : {io::GgufOutType::f32, io::GgufOutType::f16,
                                         io::GgufOutType::bf16, io::GgufOutType::q8_0}) {
        io::GgufSaveOptions o;
        o.architecture = s.blocks == 2 ? "qwen2" : "llama";
        o.out_type = type;
        o.n_head = 2;
        o.n_head_kv = 2;
        const std::vector<std::byte> g = io::serialize_gguf_adapter(*a, o);
        const auto* p = reinterpret_cast<const std::uint8_t*>(g.data());
        seed("gguf", std::vector<std::uint8_t>(p, p + g.size()));
        std::vector<std::uint8_t> single{0};
        single.insert(single.end(), p, p + g.size());
        seed("load_adapter", single);
      }
    }
    if (s.dtype != DType::f64 && !s.saved) {
      fs::remove_all(scratch);
      io::save_mlx(*a, scratch);
      both("mlx", 2, read_text(scratch / "adapter_config.json"),
           read(scratch / "adapters.safetensors"));
    }
  }
  fs::remove_all(scratch);

  // Every malformed safetensors file, alone and under a valid PEFT and mlx-lm config.
  const std::string peft_config =
      R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]})";
  const std::string mlx_config =
      R"({"fine_tune_type":"lora","num_layers":1,"lora_parameters":{"rank":2,"scale":10.0}})";
  for (const test::MalformedCase& c : test::malformed_safetensors()) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(c.bytes.data());
    seed("safetensors", std::vector<std::uint8_t>(p, p + c.bytes.size()));
    both("peft", 1, peft_config, c.bytes);
    both("mlx", 2, mlx_config, c.bytes);
    std::vector<std::uint8_t> single{0};
    single.insert(single.end(), p, p + c.bytes.size());
    seed("load_adapter", single);
  }
  // A GGUF container with every value type, nested arrays and a Q8_0 tensor.
  {
    const std::vector<std::uint32_t> u32s{1, 2, 3};
    std::vector<io::GgufValue> strings{io::GgufValue::of_string("a"), io::GgufValue::of_string("")};
    std::vector<io::GgufValue> nested{
        io::GgufValue::of_array(io::GgufType::u32, std::span<const std::uint32_t>(u32s)),
        io::GgufValue::of_items(io::GgufType::string, strings)};
    std::vector<std::byte> q8(34, std::byte{1});
    std::vector<float> f(2 * 32, 0.5f);
    const std::vector<io::GgufKeyValue> kv{
        {"general.architecture", io::GgufValue::of_string("llama")},
        {"general.type", io::GgufValue::of_string("adapter")},
        {"adapter.type", io::GgufValue::of_string("lora")},
        {"adapter.lora.alpha", io::GgufValue::of_f32(4.0f)},
        {"general.alignment", io::GgufValue::of_u32(64)},
        {"x.u64", io::GgufValue::of_u64(7)},
        {"x.i32", io::GgufValue::of_i32(-7)},
        {"x.bool", io::GgufValue::of_bool(true)},
        {"x.nested", io::GgufValue::of_items(io::GgufType::array, nested)},
        {"adapter.alora.invocation_tokens",
         io::GgufValue::of_array(io::GgufType::u32, std::span<const std::uint32_t>(u32s))}};
    const std::vector<io::GgufTensorToWrite> tensors{
        {"blk.0.attn_v.weight.lora_a", io::GgmlType::q8_0, {32, 1}, q8},
        {"blk.0.attn_v.weight.lora_b",
         io::GgmlType::f32,
         {1, 64},
         std::as_bytes(std::span<const float>(f))}};
    const std::vector<std::byte> g = io::serialize_gguf(kv, tensors);
    const auto* p = reinterpret_cast<const std::uint8_t*>(g.data());
    seed("gguf", std::vector<std::uint8_t>(p, p + g.size()));
  }
  // Every malformed GGUF file of the hostile-file tests (those of a fuzzer's input size), for
  // the reader and, as single files, for load_adapter.
  for (const auto& table : {test::malformed_gguf(), test::malformed_gguf_adapters()}) {
    for (const test::MalformedGgufCase& c : table) {
      if (c.bytes.size() > 4096) continue;
      const auto* p = reinterpret_cast<const std::uint8_t*>(c.bytes.data());
      seed("gguf", std::vector<std::uint8_t>(p, p + c.bytes.size()));
      std::vector<std::uint8_t> single{0};
      single.insert(single.end(), p, p + c.bytes.size());
      seed("load_adapter", single);
    }
  }
  // A GGUF magic, for the single-file layout.
  seed("load_adapter", {0, 'G', 'G', 'U', 'F', 3, 0, 0, 0});

  // target_modules regexes as PEFT configs hold them, each with names to match, and the
  // refused and hostile cases of the tests.
  const std::string names =
      "\nmodel.layers.0.self_attn.q_proj\nmodel.layers.12.mlp.down_proj\n"
      "decoder.block.3.layer.0.SelfAttention.v\ntransformer.h.0.attn.c_attn\nlm_head\n";
  for (const char* pattern :
       {R"(.*\.(q|v)_proj)", R"(^model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj$)",
        R"(.*decoder.*(SelfAttention|EncDecAttention).*(q|v)$)", R"(.*layers\.[0-9]{1,2}\..*)",
        R"([^.]+(\.\w+)*?)", R"((?:model|transformer)\.(?P<blk>layers|h)\.\d{,3}\..+)",
        R"(\A[\x41-\x5a_a-z]+\Z)", "(.*.*)*x", "((a{1000}){1000}){1000}", "(unclosed", R"((a)\1)",
        "(?=a)a", "a**", "[z-a]", "((((((((((q))))))))))", "a{2,}|b{,1}c"}) {
    const std::string text = pattern + names;
    seed("target_regex", std::vector<std::uint8_t>(text.begin(), text.end()));
  }
  std::printf("wrote %d seed inputs to %s\n", count, out.string().c_str());
  return 0;
}
