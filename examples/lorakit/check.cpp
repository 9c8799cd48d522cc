// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit check: whether adapters fit a base model (io::check_file), without the model's weights.
#include <cstdio>
#include <string>
#include <vector>

#include <lorakit/io/base_model.hpp>

#include "cli.hpp"
#include "commands.hpp"

namespace lorakit::cli {
namespace {

const CommandSpec& check_spec() {
  static const CommandSpec spec = [] {
    CommandSpec s;
    s.name = "check";
    s.summary = "whether an adapter fits a base model (every problem, diagnosis first)";
    s.usage = "lorakit check ADAPTER... --base MODEL [--lora PATH]... [--json]";
    s.description =
        "Reads the base model from its headers (a GGUF model file, or a Hugging Face model\n"
        "directory: config.json and model.safetensors or its shards), loads each adapter as it\n"
        "would load for that base (GGUF Q/K rows in the base's order, with its head counts)\n"
        "and reports what Model::attach would on a host with the base's layers: every problem\n"
        "at once, the diagnosis first (the adapter's base against this one, the mismatch that\n"
        "dominates), then the problems by kind, modules in natural order, shapes as the file\n"
        "stores them. Also an adapter for another architecture, and Q/K rows in an order the\n"
        "base does not use. Exit 0 when every adapter fits, 1 when one does not.\n"
        "\n"
        "With --json: {\"base\": {...}, \"adapters\": [{\"path\", \"ok\", \"modules\",\n"
        "\"skipped\", \"diagnosis\", \"problems\": [{\"code\", \"module\", \"detail\", ...}],\n"
        "\"message\"}]}.\n";
    s.options = lora_options();
    s.options.insert(s.options.begin(),
                     {"--base", 1, "MODEL", "the base model: a GGUF file or an HF directory"});
    s.options.push_back({"--ignore-saved", 0, "",
                         "accept adapters that also replace full tensors (modules_to_save)"});
    s.options.push_back({"--skip-missing", 0, "",
                         "a partial model: modules without a layer are skipped and listed"});
    s.examples =
        "  lorakit check path/to/adapter --base path/to/model\n"
        "  lorakit check --lora adapter.gguf --base model.gguf --json\n";
    s.min_positional = 0;
    s.max_positional = 1000;
    return s;
  }();
  return spec;
}

Json base_json(const BaseModel& b) {
  Json j;
  j["name"] = b.name;
  j["source"] = b.source;
  j["format"] = to_string(b.format);
  j["architecture"] = b.architecture;
  j["layers"] = b.n_layers;
  j["heads"] = b.n_head;
  j["kv_heads"] = b.n_head_kv;
  j["layout"] = b.layout == RowLayout::llama_cpp ? "llama_cpp" : "hf";
  j["modules"] = b.modules.size();
  return j;
}

Json report_json(const std::string& path, const CheckReport& r) {
  Json j;
  j["path"] = path;
  j["adapter"] = r.adapter;
  j["ok"] = r.ok();
  j["modules"] = r.modules;
  j["skipped"] = r.skipped;
  j["diagnosis"] = r.diagnosis;
  Json problems = Json::array();
  for (const Problem& p : r.problems) {
    Json q;
    q["code"] = to_string(p.code);
    q["module"] = p.context.module;
    q["tensor"] = p.context.tensor;
    q["detail"] = p.detail;
    q["message"] = detail::format_problem(p);
    problems.push_back(std::move(q));
  }
  j["problems"] = std::move(problems);
  j["message"] = r.message;
  return j;
}

int check_body(const Args& args) {
  const std::optional<std::string> base_path = args.value("--base");
  if (!base_path) throw UsageError("lorakit check: missing --base MODEL");
  std::vector<std::string> paths;
  for (const AdapterArg& a : adapter_args(args)) {
    if (a.scaled) throw UsageError("lorakit check: --lora-scaled has no meaning here; use --lora");
    paths.push_back(a.path);
  }
  if (paths.empty())
    throw UsageError("lorakit check: missing argument (usage: " + std::string(check_spec().usage) +
                     ")");
  const BaseModel base = io::read_base_model(*base_path);
  const CheckOptions options{
      .name = {},
      .ignore_saved_tensors = args.has("--ignore-saved"),
      .missing_layers = args.has("--skip-missing") ? MissingLayers::skip : MissingLayers::refuse};
  bool all_ok = true;
  Json reports = Json::array();
  for (const std::string& path : paths) {
    const CheckReport r = io::check_file(path, base, options);
    all_ok = all_ok && r.ok();
    if (args.json) {
      reports.push_back(report_json(path, r));
      continue;
    }
    if (r.ok()) {
      std::printf("fits: %s on %s (%zu modules", path.c_str(), base.name.c_str(), r.modules);
      if (!r.skipped.empty()) std::printf(", %zu skipped: no layer in the base", r.skipped.size());
      std::printf(")\n");
    } else {
      std::printf("does not fit: %s on %s\n%s\n", path.c_str(), base.name.c_str(),
                  r.message.c_str());
    }
  }
  if (args.json) print_json(Json{{"base", base_json(base)}, {"adapters", std::move(reports)}});
  return all_ok ? kExitOk : kExitProblems;
}

}  // namespace

int run_check(CommandArgs args) { return run_command(check_spec(), args, check_body); }

}  // namespace lorakit::cli
