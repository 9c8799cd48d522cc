// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit inspect: what an adapter file holds, grouped by block-local module name.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace lorakit::cli {
namespace {

const CommandSpec& inspect_spec() {
  static const CommandSpec spec = [] {
    CommandSpec s;
    s.name = "inspect";
    s.summary = "what an adapter holds";
    s.usage = "lorakit inspect PATH... [--lora PATH]... [--json]";
    s.description =
        "Loads each adapter (a PEFT or mlx-lm directory, or a GGUF file; the format is\n"
        "recognised by the contents) and prints its format, architecture, base model,\n"
        "scaling rule, its modules grouped by their block-local name (self_attn.q_proj over\n"
        "every block: count, blocks, rank, alpha, multiplier, shape, dtype, bytes), bytes in\n"
        "total, the content hash (Adapter::content_hash, which caches can key on), aLoRA\n"
        "invocation tokens, what the loader ignored, modules_to_save tensors and notes.\n"
        "\n"
        "multiplier = alpha / r (alpha / sqrt(r) with rsLoRA; mlx-lm's scale as it is), before\n"
        "any user scale. GGUF adapters of the llama family keep Q/K rows in llama.cpp's rotary\n"
        "order: inspect reads them in the file's order and says so; which order applies is\n"
        "given by the base model (--n-head/--n-head-kv read them in Hugging Face order).\n"
        "Weights that are NaN or infinite are counted and make the exit code 1.\n"
        "\n"
        "With --json: one document {\"adapters\": [...]} with an entry per path, and, when any\n"
        "of them failed, \"error\": {\"code\", \"message\"} of the first failure.\n";
    s.options = lora_options();
    s.options.push_back(
        {"--n-head", 1, "N", "attention heads of the base (GGUF: Q/K rows in HF order)"});
    s.options.push_back({"--n-head-kv", 1, "N", "key/value heads of the base (default: --n-head)"});
    s.examples =
        "  lorakit inspect path/to/adapter\n"
        "  lorakit inspect --lora a.gguf --lora path/to/peft-dir --json\n";
    s.min_positional = 0;
    s.max_positional = 1000;
    return s;
  }();
  return spec;
}

std::string fmt_float(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Distinct values of one field across a group: one value, or a sorted list.
template <class T>
struct Distinct {
  std::set<T> values;
  void add(T v) { values.insert(std::move(v)); }
  [[nodiscard]] Json json() const {
    if (values.size() == 1) return Json(*values.begin());
    Json a = Json::array();
    for (const T& v : values) a.push_back(v);
    return a;
  }
  template <class F>
  [[nodiscard]] std::string text(F&& f) const {
    std::string s;
    for (const T& v : values) s += (s.empty() ? "" : ",") + f(v);
    return s;
  }
};

std::string_view scaling_name(Scaling s) {
  switch (s) {
    case Scaling::alpha_over_rank: return "alpha_over_rank";
    case Scaling::alpha_over_sqrt_rank: return "alpha_over_sqrt_rank";
    case Scaling::direct: return "direct";
  }
  return "?";
}

std::string_view rows_name(RowLayout r) {
  switch (r) {
    case RowLayout::hf: return "hf";
    case RowLayout::llama_cpp: return "llama_cpp";
    case RowLayout::unresolved: return "unresolved";
  }
  return "?";
}

// Counts of modules with a non-finite weight and with an all-zero B (a no-op module).
struct WeightScan {
  std::vector<std::string> non_finite;
  std::size_t zero_b = 0;
};

bool scan_tensor(const AdapterTensor& t, bool& all_zero) {
  std::vector<float> v(static_cast<std::size_t>(t.elements()));
  all_zero = true;
  if (!t.copy_to_f32(v.data())) return true;
  bool finite = true;
  for (float x : v) {
    finite = finite && std::isfinite(x);
    all_zero = all_zero && x == 0.0f;
  }
  return finite;
}

WeightScan scan_weights(const Adapter& adapter) {
  WeightScan s;
  for (const auto& [name, m] : adapter.modules()) {
    bool zero_a = false;
    bool zero_b = false;
    bool finite = scan_tensor(m.a, zero_a);
    finite = scan_tensor(m.b, zero_b) && finite;
    if (m.magnitude) {
      bool unused = false;
      finite = scan_tensor(*m.magnitude, unused) && finite;
    }
    if (!finite) s.non_finite.push_back(name);
    if (zero_b) ++s.zero_b;
  }
  return s;
}

constexpr std::string_view kRowsNote =
    "Q/K lora_b rows in llama.cpp's rotary order, as the file stores them; the base decides "
    "the layout: a llama.cpp (GGUF) base uses them as they are, a Hugging Face base needs "
    "them put back with its head counts (--n-head, --n-head-kv; "
    "LoadOptions::base_layout = BaseLayout::hf)";

Json inspect_json(const Adapter& adapter, const AdapterArg& arg, const WeightScan& scan) {
  const AdapterInfo& info = adapter.info();
  Json j;
  j["path"] = arg.path;
  j["name"] = info.name;
  j["format"] = to_string(info.format);
  j["architecture"] = info.architecture.empty() ? Json(nullptr) : Json(info.architecture);
  j["base_model"] = info.base_model.empty() ? Json(nullptr) : Json(info.base_model);
  j["variant"] = info.variant == VariantKind::dora ? "dora" : "lora";
  j["scaling"] = scaling_name(info.scaling);
  j["rank"] = info.rank;
  j["alpha"] = info.alpha;
  if (arg.scaled) j["user_scale"] = arg.scale;
  j["modules"] = adapter.modules().size();
  j["bytes"] = adapter.memory_bytes();
  j["content_hash"] = hex64(adapter.content_hash());
  Distinct<std::string> dtypes;
  std::size_t rope_rows = 0;
  Json groups = Json::array();
  for (const ModuleGroup& g : group_modules(adapter)) {
    Distinct<long long> rank, in, out;
    Distinct<double> alpha, mult;
    Distinct<std::string> dtype, kind, rows;
    std::uint64_t bytes = 0;
    for (const auto& [name, m] : g.modules) {
      rank.add(m->rank);
      in.add(m->in_features());
      out.add(m->out_features());
      alpha.add(m->alpha);
      mult.add(adapter.scale(*m));
      dtype.add(std::string(to_string(m->a.dtype)));
      dtype.add(std::string(to_string(m->b.dtype)));
      dtypes.add(std::string(to_string(m->a.dtype)));
      dtypes.add(std::string(to_string(m->b.dtype)));
      kind.add(m->kind == ModuleKind::embedding ? "embedding" : "linear");
      rows.add(std::string(rows_name(m->rows)));
      if (m->rows != RowLayout::hf) ++rope_rows;
      bytes += module_bytes(*m);
    }
    Json gj;
    gj["name"] = g.local;
    gj["pattern"] = g.pattern();
    gj["count"] = g.modules.size();
    if (!g.blocks.empty()) {
      gj["blocks"] = block_ranges(g.blocks);
      gj["first_block"] = g.blocks.front();
      gj["last_block"] = g.blocks.back();
    } else {
      gj["blocks"] = nullptr;
    }
    gj["rank"] = rank.json();
    gj["alpha"] = alpha.json();
    gj["multiplier"] = mult.json();
    gj["in"] = in.json();
    gj["out"] = out.json();
    gj["dtype"] = dtype.json();
    gj["kind"] = kind.json();
    gj["rows"] = rows.json();
    gj["bytes"] = bytes;
    groups.push_back(std::move(gj));
  }
  j["dtypes"] = Json::array();
  for (const std::string& d : dtypes.values) j["dtypes"].push_back(d);
  if (info.format == AdapterFormat::gguf) {
    // The tensor types as the file stores them (Q8_0 is dequantised to F32 at load).
    std::map<std::string, std::size_t> types;
    const io::GgufFile file = io::GgufFile::open(info.source);
    for (const io::GgufTensor& t : file.tensors()) {
      ++types[std::string(io::to_string(t.type))];
    }
    j["file_types"] = types;
  }
  j["groups"] = std::move(groups);
  j["rows"] = rope_rows == 0 ? Json(nullptr)
                             : Json{{"modules", rope_rows},
                                    {"order", rows_name(RowLayout::llama_cpp)},
                                    {"note", kRowsNote}};
  j["invocation_tokens"] = info.invocation_tokens;
  Json target;
  if (!info.target.regex.empty()) {
    target["regex"] = info.target.regex;
  } else {
    target["names"] = info.target.names;
  }
  if (!info.target.layers.empty()) target["layers"] = info.target.layers;
  if (info.target.last_layers > 0) target["last_layers"] = info.target.last_layers;
  j["target"] = std::move(target);
  j["modules_to_save"] = info.modules_to_save;
  Json saved = Json::array();
  for (const auto& [name, t] : adapter.saved()) {
    Json s;
    s["name"] = name;
    s["dtype"] = to_string(t.dtype);
    s["shape"] = t.shape.dims;
    s["bytes"] = t.bytes.size();
    saved.push_back(std::move(s));
  }
  j["saved_tensors"] = std::move(saved);
  j["ignored_tensors"] = info.ignored_tensors;
  j["notes"] = info.notes;
  j["non_finite_modules"] = scan.non_finite;
  j["zero_b_modules"] = scan.zero_b;
  return j;
}

void print_text(const Json& j) {
  auto str = [](const Json& v) -> std::string {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt_float(v.get<double>());
    if (v.is_array()) {
      std::string s;
      for (const Json& e : v) {
        s += (s.empty() ? "" : ",");
        s += e.is_string() ? e.get<std::string>()
                           : (e.is_number_float() ? fmt_float(e.get<double>()) : e.dump());
      }
      return s;
    }
    return v.dump();
  };
  std::printf("%s\n", j["path"].get<std::string>().c_str());
  auto row = [](const char* key, const std::string& value) {
    std::printf("  %-14s %s\n", key, value.c_str());
  };
  row("format", str(j["format"]));
  row("architecture", str(j["architecture"]));
  row("base model", str(j["base_model"]));
  row("variant", str(j["variant"]) + ", rank " + str(j["rank"]) + ", alpha " + str(j["alpha"]) +
                     ", scaling " + str(j["scaling"]));
  if (j.contains("user_scale")) row("user scale", str(j["user_scale"]));
  row("modules", str(j["modules"]) + " in " + std::to_string(j["groups"].size()) + " groups, " +
                     human_bytes(j["bytes"].get<std::uint64_t>()) + " (" + str(j["bytes"]) +
                     " bytes), " + str(j["dtypes"]));
  if (j.contains("file_types")) {
    std::string t;
    for (const auto& [type, n] : j["file_types"].items()) {
      t += (t.empty() ? "" : ", ") + std::to_string(n.get<std::size_t>()) + " " + type;
    }
    row("in the file", t + " tensors");
  }
  row("content hash", str(j["content_hash"]));
  // One block prefix for every group: said once; several (encoder/decoder): each group's
  // pattern names it.
  std::set<std::string> prefixes;
  for (const Json& g : j["groups"]) {
    const std::string p = str(g["pattern"]);
    if (!g["blocks"].is_null()) prefixes.insert(p.substr(0, p.find(".*.")));
  }
  const bool by_pattern = prefixes.size() > 1;
  if (prefixes.size() == 1) row("blocks", *prefixes.begin() + ".N");
  std::size_t width = 12;
  for (const Json& g : j["groups"]) {
    width = std::max(width, str(by_pattern ? g["pattern"] : g["name"]).size());
  }
  const int w = static_cast<int>(width);
  std::printf("  %-*s %5s  %-7s %5s %6s %10s  %-13s %-9s %s\n", w, "module group", "count",
              "blocks", "rank", "alpha", "multiplier", "in -> out", "dtype", "bytes");
  for (const Json& g : j["groups"]) {
    const std::string shape = str(g["in"]) + " -> " + str(g["out"]);
    std::printf("  %-*s %5s  %-7s %5s %6s %10s  %-13s %-9s %s\n", w,
                str(by_pattern ? g["pattern"] : g["name"]).c_str(), str(g["count"]).c_str(),
                str(g["blocks"]).c_str(), str(g["rank"]).c_str(), str(g["alpha"]).c_str(),
                str(g["multiplier"]).c_str(), shape.c_str(), str(g["dtype"]).c_str(),
                human_bytes(g["bytes"].get<std::uint64_t>()).c_str());
  }
  if (!j["rows"].is_null()) {
    row("rows", str(j["rows"]["modules"]) + " modules: " + str(j["rows"]["note"]));
  }
  if (!j["invocation_tokens"].empty()) row("aLoRA tokens", str(j["invocation_tokens"]));
  if (!j["modules_to_save"].empty()) row("modules_to_save", str(j["modules_to_save"]));
  for (const Json& s : j["saved_tensors"]) {
    row("saved tensor", str(s["name"]) + " " + str(s["dtype"]) + " [" + str(s["shape"]) + "] " +
                            human_bytes(s["bytes"].get<std::uint64_t>()));
  }
  if (!j["ignored_tensors"].empty()) {
    row("ignored",
        std::to_string(j["ignored_tensors"].size()) + " tensors: " + str(j["ignored_tensors"]));
  }
  for (const Json& n : j["notes"]) row("note", str(n));
  if (j["zero_b_modules"].get<std::size_t>() > 0) {
    row("zero lora_B", str(j["zero_b_modules"]) + " modules (their delta is 0)");
  }
  if (!j["non_finite_modules"].empty()) {
    row("NON-FINITE",
        std::to_string(j["non_finite_modules"].size()) + " modules hold NaN or infinite weights");
  }
}

int inspect(const Args& args) {
  const std::vector<AdapterArg> adapters = adapter_args(args);
  if (adapters.empty()) {
    throw UsageError("lorakit inspect: missing argument: an adapter PATH (usage: " +
                     std::string(inspect_spec().usage) + ")");
  }
  ReadOptions read;
  read.check_finite = false;  // counted below, reported instead of refused
  if (auto v = args.value("--n-head"))
    read.n_head = static_cast<int>(parse_int(*v, "--n-head", 1, 1 << 20));
  if (auto v = args.value("--n-head-kv")) {
    read.n_head_kv = static_cast<int>(parse_int(*v, "--n-head-kv", 1, 1 << 20));
    if (read.n_head == 0) throw UsageError("lorakit inspect: --n-head-kv needs --n-head");
  }
  int rc = kExitOk;
  Json out;
  out["adapters"] = Json::array();
  Json first_error;
  bool first = true;
  for (const AdapterArg& a : adapters) {
    try {
      const auto adapter = load_for_reading(a.path, read);
      const WeightScan scan = scan_weights(*adapter);
      Json j = inspect_json(*adapter, a, scan);
      if (!scan.non_finite.empty()) {
        rc = kExitProblems;
        const std::string msg =
            "[lorakit.non_finite] " + a.path + ": " + std::to_string(scan.non_finite.size()) +
            " modules hold NaN or infinite weights, e.g. " + scan.non_finite.front();
        std::fprintf(stderr, "%s\n", msg.c_str());
        if (first_error.is_null()) first_error = error_json("non_finite", msg);
      }
      if (args.json) {
        out["adapters"].push_back(std::move(j));
      } else {
        if (!first) std::printf("\n");
        print_text(j);
        std::fflush(stdout);
      }
    } catch (const lorakit::Error& e) {
      rc = kExitProblems;
      std::fprintf(stderr, "%s\n", e.what());
      if (first_error.is_null()) first_error = error_json(e);
      if (args.json) out["adapters"].push_back(Json{{"path", a.path}, {"error", error_json(e)}});
    }
    first = false;
  }
  if (args.json) {
    if (!first_error.is_null()) out["error"] = first_error;
    print_json(out);
  }
  return rc;
}

}  // namespace

int run_inspect(CommandArgs args) { return run_command(inspect_spec(), args, inspect); }

}  // namespace lorakit::cli
