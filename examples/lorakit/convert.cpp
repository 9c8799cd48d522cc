// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit convert: an adapter written again as PEFT, mlx-lm or GGUF with lorakit's writers.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <lorakit/io/base_model.hpp>

#include "adapters.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace lorakit::cli {
namespace {

const CommandSpec& convert_spec() {
  static const CommandSpec spec = [] {
    CommandSpec s;
    s.name = "convert";
    s.summary = "write an adapter as PEFT, mlx-lm or GGUF";
    s.usage = "lorakit convert SRC DST --to peft|mlx|gguf [--outtype TYPE] [options]";
    s.description =
        "Loads SRC (a PEFT or mlx-lm directory or a GGUF file; also --lora SRC) and writes it\n"
        "to DST with lorakit's writers: a PEFT directory (adapter_config.json +\n"
        "adapter_model.safetensors), an mlx-lm directory (adapter_config.json +\n"
        "adapters.safetensors) or a llama.cpp GGUF adapter file, laid out as llama.cpp's\n"
        "convert_lora_to_gguf.py writes it. Every module's multiplier is kept; what the target\n"
        "format cannot express is refused with the reason (mlx-lm: one rank, one scale, no\n"
        "modules_to_save; GGUF: one alpha, no modules_to_save, no DoRA), or with\n"
        "--fold-scales folded into lora_b. The written adapter is loaded back and its content\n"
        "hash printed (equal to the source's when the tensors are stored the same way).\n"
        "\n"
        "GGUF and the llama family: llama.cpp stores Q/K lora_b rows in its rotary order.\n"
        "Writing GGUF from PEFT/mlx-lm, or reading GGUF into PEFT/mlx-lm, needs the base's\n"
        "head counts: --n-head N --n-head-kv N (SmolLM2-135M: 9 and 3; Llama-3.2-1B: 32 and 8),\n"
        "or --base MODEL (a GGUF model file or a Hugging Face model directory, read from its\n"
        "headers), which also gives the architecture. GGUF to GGUF keeps the rows as they are.\n"
        "PEFT and mlx-lm files do not name their architecture: give it with --arch or --base\n"
        "for --to gguf. --arch, --n-head and --n-head-kv win over what --base says.\n"
        "\n"
        "DST must not exist unless --force. On a terminal, conversions of sources above 64 MiB\n"
        "show a progress line on stderr (never with --json).\n";
    s.options = {
        {"--to", 1, "FORMAT", "peft, mlx or gguf (required)"},
        {"--outtype", 1, "TYPE", "GGUF tensor type: f32 (default), f16, bf16, q8_0"},
        {"--arch", 1, "NAME", "GGUF general.architecture: llama, qwen2, qwen3, gemma, gemma2, ..."},
        {"--base", 1, "MODEL",
         "the base model (GGUF file or HF directory): architecture, head counts"},
        {"--n-head", 1, "N", "attention heads of the base (GGUF Q/K row order)"},
        {"--n-head-kv", 1, "N", "key/value heads of the base (default: --n-head)"},
        {"--fold-scales", 0, "", "fold multipliers one alpha/scale cannot give into lora_b"},
        {"--name", 1, "NAME", "GGUF general.name (default: the adapter's name)"},
        {"--finetune", 1, "TEXT", "GGUF general.finetune"},
        {"--basename", 1, "TEXT", "GGUF general.basename"},
        {"--size-label", 1, "TEXT", "GGUF general.size_label (e.g. 135M)"},
        {"--force", 0, "", "overwrite DST"},
        {"--lora", 1, "SRC", "the source adapter (llama.cpp's spelling)"},
    };
    s.examples =
        "  lorakit convert path/to/peft-adapter adapter-f16.gguf --to gguf --outtype f16 \\\n"
        "      --arch llama --n-head 9 --n-head-kv 3\n"
        "  lorakit convert adapter.gguf path/to/peft-out --to peft --n-head 9 --n-head-kv 3\n"
        "  lorakit convert path/to/peft-adapter adapter.gguf --to gguf --base path/to/model\n";
    s.min_positional = 1;
    s.max_positional = 2;
    return s;
  }();
  return spec;
}

std::uint64_t path_bytes(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  std::uint64_t n = 0;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

constexpr std::uint64_t kProgressBytes = 64ull << 20;

io::GgufOutType out_type(const std::string& s) {
  if (s == "f32") return io::GgufOutType::f32;
  if (s == "f16") return io::GgufOutType::f16;
  if (s == "bf16") return io::GgufOutType::bf16;
  if (s == "q8_0") return io::GgufOutType::q8_0;
  throw UsageError("lorakit convert: --outtype must be f32, f16, bf16 or q8_0, not '" + s + "'");
}

// Whether writing `adapter` as GGUF of `arch` reorders Q/K rows (and so needs head counts).
bool needs_heads(const Adapter& adapter, const std::string& arch) {
  const io::GgufNameMap* names = io::builtin_gguf_names(arch);
  if (names == nullptr || !names->rope_permuted) return false;
  for (const auto& [module, m] : adapter.modules()) {
    if (m.rows != RowLayout::hf) continue;
    const std::optional<std::string> g = names->to_gguf(module);
    const std::string_view part = io::GgufNameMap::block_part(g ? *g : module);
    if (part == "attn_q" || part == "attn_k") return true;
  }
  return false;
}

int convert(const Args& args) {
  std::vector<std::string> pos = args.positional();
  std::string src;
  std::string dst;
  if (args.has("--lora")) {
    if (pos.size() != 1) {
      throw UsageError("lorakit convert: with --lora SRC, give DST alone (usage: " +
                       std::string(convert_spec().usage) + ")");
    }
    src = *args.value("--lora");
    dst = pos[0];
  } else {
    if (pos.size() != 2) {
      throw UsageError("lorakit convert: missing argument: SRC and DST (usage: " +
                       std::string(convert_spec().usage) + ")");
    }
    src = pos[0];
    dst = pos[1];
  }
  const std::optional<std::string> to = args.value("--to");
  if (!to) throw UsageError("lorakit convert: missing --to peft|mlx|gguf");
  if (*to != "peft" && *to != "mlx" && *to != "gguf") {
    throw UsageError("lorakit convert: --to must be peft, mlx or gguf, not '" + *to + "'");
  }
  const bool gguf = *to == "gguf";
  for (const char* only_gguf :
       {"--outtype", "--arch", "--name", "--finetune", "--basename", "--size-label"}) {
    if (args.has(only_gguf) && !gguf) {
      throw UsageError(std::string("lorakit convert: ") + only_gguf + " applies to --to gguf");
    }
  }
  if (args.has("--fold-scales") && *to == "peft") {
    throw UsageError(
        "lorakit convert: --fold-scales applies to --to mlx|gguf (PEFT keeps "
        "every module's rank and alpha)");
  }
  io::GgufSaveOptions gopt;
  if (auto v = args.value("--outtype")) gopt.out_type = out_type(*v);
  ReadOptions read;
  if (auto v = args.value("--n-head")) {
    read.n_head = static_cast<int>(parse_int(*v, "--n-head", 1, 1 << 20));
  }
  if (auto v = args.value("--n-head-kv")) {
    read.n_head_kv = static_cast<int>(parse_int(*v, "--n-head-kv", 1, 1 << 20));
    if (read.n_head == 0) throw UsageError("lorakit convert: --n-head-kv needs --n-head");
  }
  // --base gives what --arch, --n-head and --n-head-kv leave out.
  std::optional<BaseModel> base;
  if (auto v = args.value("--base")) base = io::read_base_model(*v);
  if (base && read.n_head == 0 && base->n_head > 0) {
    read.n_head = base->n_head;
    read.n_head_kv = base->n_head_kv;
  }
  gopt.n_head = read.n_head;
  gopt.n_head_kv = read.n_head_kv;
  gopt.fold_scales = args.has("--fold-scales");
  if (auto v = args.value("--name")) gopt.name = *v;
  if (auto v = args.value("--finetune")) gopt.finetune = *v;
  if (auto v = args.value("--basename")) gopt.basename = *v;
  if (auto v = args.value("--size-label")) gopt.size_label = *v;

  std::error_code ec;
  if (std::filesystem::exists(dst, ec) && !args.has("--force")) {
    throw Error(Errc::io, ErrorContext{.file = dst}, "already exists (--force overwrites it)");
  }
  Progress progress(!args.json && path_bytes(src) > kProgressBytes);
  progress.show("converting: loading " + src);
  const auto adapter = load_for_reading(src, read);
  const std::size_t total = adapter->modules().size();
  const std::string counts = std::to_string(total) + "/" + std::to_string(total) + " modules";
  progress.show("converting: 0/" + std::to_string(total) + " modules, writing " + dst);

  const AdapterInfo& info = adapter->info();
  if (!gguf) {
    for (const auto& [module, m] : adapter->modules()) {
      if (m.rows != RowLayout::hf) {
        throw Error(Errc::bad_config, ErrorContext{.file = src, .module = module},
                    "lora_b rows are in llama.cpp's rotary order, which " + *to +
                        " does not store: give the base's head counts (--n-head N --n-head-kv "
                        "N) to put them back in Hugging Face order");
      }
    }
  }
  if (*to == "peft") {
    io::save_peft(*adapter, dst);
  } else if (*to == "mlx") {
    io::save_mlx(*adapter, dst, io::MlxSaveOptions{.fold_scales = gopt.fold_scales});
  } else {
    gopt.architecture = args.value("--arch").value_or(base ? base->architecture : "");
    const std::string arch = gopt.architecture.empty() ? info.architecture : gopt.architecture;
    if (arch.empty()) {
      throw Error(Errc::bad_config, ErrorContext{.file = src},
                  "a GGUF adapter names its architecture and this " +
                      std::string(to_string(info.format)) +
                      " adapter does not: pass --arch (llama, qwen2, qwen3, gemma, gemma2, "
                      "gemma3, phi3)");
    }
    if (gopt.n_head == 0 && needs_heads(*adapter, arch)) {
      throw Error(Errc::bad_config, ErrorContext{.file = src},
                  "architecture '" + arch +
                      "' stores Q/K rows in llama.cpp's rotary order: pass the base's head "
                      "counts, --n-head N --n-head-kv N");
    }
    io::save_gguf(*adapter, dst, gopt);
  }
  progress.show("converting: " + counts + ", reading back " + dst);
  const auto written = load_for_reading(dst, read);
  progress.done();

  const bool same = written->content_hash() == adapter->content_hash();
  if (args.json) {
    Json j;
    j["source"] = src;
    j["destination"] = dst;
    j["from"] = to_string(info.format);
    j["to"] = *to;
    if (gguf) j["outtype"] = args.value("--outtype").value_or("f32");
    j["modules"] = total;
    j["bytes_written"] = path_bytes(dst);
    j["source_hash"] = hex64(adapter->content_hash());
    j["written_hash"] = hex64(written->content_hash());
    j["same_hash"] = same;
    j["notes"] = written->info().notes;
    print_json(j);
  } else {
    std::printf("wrote %s: %s, %zu modules, %s\n", dst.c_str(), to->c_str(), total,
                human_bytes(path_bytes(dst)).c_str());
    std::printf("content hash %s (source %s%s)\n", hex64(written->content_hash()).c_str(),
                hex64(adapter->content_hash()).c_str(),
                same ? ", the same"
                     : ": they differ where the formats store the adapter differently (dtype, "
                       "scaling rule), the multipliers are kept");
    for (const std::string& n : written->info().notes) std::printf("note: %s\n", n.c_str());
  }
  return kExitOk;
}

}  // namespace

int run_convert(CommandArgs args) { return run_command(convert_spec(), args, convert); }

}  // namespace lorakit::cli
