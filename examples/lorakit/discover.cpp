// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit discover: the adapters and base models in a folder, and which adapter fits which
// base (io::scan), from headers and configs alone.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <lorakit/io/base_model.hpp>
#include <lorakit/io/scan.hpp>

#include "cli.hpp"
#include "commands.hpp"

namespace lorakit::cli {
namespace {

const CommandSpec& discover_spec() {
  static const CommandSpec spec = [] {
    CommandSpec s;
    s.name = "discover";
    s.summary = "the adapters and models in a folder, and which adapter fits which base";
    s.usage = "lorakit discover DIR [--base MODEL]... [--depth N] [--json]";
    s.description =
        "Scans DIR (down to --depth directories, 8 by default; hidden entries skipped) and\n"
        "classifies every entry from its headers and configs alone: gguf-adapter, gguf-model,\n"
        "peft-adapter, mlx-adapter, hf-model, or unknown with the reason. Then matches every\n"
        "adapter against every base found (and each --base): the architecture first, then\n"
        "every module by name and (in, out), then the Q/K row order. An adapter is\n"
        "compatible with the bases it fits; incompatible, with the first reasons against\n"
        "each base; or unknown when no base fits and the base it names is not here (or there\n"
        "is none). Symlink loops, unreadable entries and the depth bound are warnings, never\n"
        "fatal. `lorakit check ADAPTER --base MODEL` then says everything attach would.\n"
        "\n"
        "With --json: {\"root\", \"entries\": [{\"path\", \"kind\", ...}], \"bases\": [...],\n"
        "\"warnings\": [...]}; paths relative to DIR.\n";
    s.options = {
        {"--base", 1, "MODEL", "also match against this base (GGUF file or HF dir; repeatable)",
         true},
        {"--depth", 1, "N", "directories below DIR to descend into (default 8)"},
    };
    s.examples =
        "  lorakit discover path/to/models\n"
        "  lorakit discover adapters/ --base path/to/model --json\n";
    s.min_positional = 1;
    s.max_positional = 1;
    return s;
  }();
  return spec;
}

// `p` relative to `root` when it lies inside it.
std::string shown(const std::filesystem::path& p, const std::filesystem::path& root) {
  const std::filesystem::path rel = p.lexically_relative(root);
  return rel.empty() || rel.native().starts_with("..") ? p.string() : rel.string();
}

std::string base_label(const BaseModel& b, const std::filesystem::path& root) {
  return shown(b.source, root);
}

Json entry_json(const io::ScanEntry& e, const io::Scan& scan, const std::filesystem::path& root) {
  Json j;
  j["path"] = shown(e.path, root);
  j["kind"] = io::to_string(e.kind);
  if (!e.why.empty()) j["why"] = e.why;
  if (e.adapter) {
    const AdapterInfo& info = e.adapter->info;
    j["architecture"] = info.architecture;
    j["base_model"] = info.base_model;
    j["modules"] = e.adapter->modules.size();
    j["rank"] = info.rank;
    j["bytes"] = e.adapter->bytes;
  }
  if (e.base) {
    j["name"] = e.base->name;
    j["architecture"] = e.base->architecture;
    j["layers"] = e.base->n_layers;
    j["modules"] = e.base->modules.size();
  }
  if (e.match) {
    Json m;
    m["verdict"] = to_string(e.match->verdict);
    Json compatible = Json::array();
    for (std::size_t i : e.match->compatible) compatible.push_back(base_label(scan.bases[i], root));
    m["compatible"] = std::move(compatible);
    Json incompatible = Json::array();
    for (const auto& [i, fit] : e.match->incompatible) {
      incompatible.push_back(
          Json{{"base", base_label(scan.bases[i], root)}, {"reasons", fit.reasons}});
    }
    m["incompatible"] = std::move(incompatible);
    if (!e.match->note.empty()) m["note"] = e.match->note;
    j["match"] = std::move(m);
  }
  return j;
}

void print_text(const io::Scan& scan, const std::filesystem::path& root) {
  std::printf("%-13s %-40s %s\n", "kind", "path", "what");
  for (const io::ScanEntry& e : scan.entries) {
    std::string what;
    if (e.adapter) {
      const AdapterInfo& info = e.adapter->info;
      what = std::to_string(e.adapter->modules.size()) + " modules";
      if (!info.architecture.empty()) what += ", " + info.architecture;
      if (!info.base_model.empty()) what += ", trained on " + info.base_model;
    } else if (e.base) {
      what = e.base->name + " (" + (e.base->architecture.empty() ? "?" : e.base->architecture) +
             ", " + std::to_string(e.base->n_layers) + " layers, " +
             std::to_string(e.base->modules.size()) + " modules)";
    } else {
      what = e.why;
    }
    std::printf("%-13s %-40s %s\n", std::string(io::to_string(e.kind)).c_str(),
                shown(e.path, root).c_str(), what.c_str());
  }
  bool header = false;
  for (const io::ScanEntry& e : scan.entries) {
    if (!e.match) continue;
    if (!header) std::printf("\nmatches (%zu bases)\n", scan.bases.size());
    header = true;
    const AdapterMatch& m = *e.match;
    std::string line = shown(e.path, root) + ": " + std::string(to_string(m.verdict));
    if (m.verdict == Verdict::compatible) {
      for (std::size_t k = 0; k < m.compatible.size(); ++k) {
        line += (k == 0 ? " with " : ", ") + base_label(scan.bases[m.compatible[k]], root);
      }
    } else if (!m.note.empty()) {
      line += " (" + m.note + ")";
    }
    std::printf("  %s\n", line.c_str());
    if (m.verdict != Verdict::compatible) {
      for (const auto& [i, fit] : m.incompatible) {
        std::printf("    vs %s: %s\n", base_label(scan.bases[i], root).c_str(),
                    fit.reasons.empty() ? "?" : fit.reasons.front().c_str());
      }
    }
  }
  for (const std::string& w : scan.warnings) std::printf("warning: %s\n", w.c_str());
}

int discover_body(const Args& args) {
  const std::filesystem::path root = args.positional().front();
  io::ScanOptions options;
  if (auto v = args.value("--depth")) {
    options.max_depth = static_cast<int>(parse_int(*v, "--depth", 0, 64));
  }
  for (const Item& i : args.items) {
    if (i.name == "--base") options.extra_bases.push_back(io::read_base_model(i.values.front()));
  }
  const io::Scan scan = io::scan(root, options);
  if (!args.json) {
    print_text(scan, root);
    return kExitOk;
  }
  Json entries = Json::array();
  for (const io::ScanEntry& e : scan.entries) entries.push_back(entry_json(e, scan, root));
  Json bases = Json::array();
  for (const BaseModel& b : scan.bases) bases.push_back(base_label(b, root));
  print_json(Json{{"root", root.string()},
                  {"entries", std::move(entries)},
                  {"bases", std::move(bases)},
                  {"warnings", scan.warnings}});
  return kExitOk;
}

}  // namespace

int run_discover(CommandArgs args) { return run_command(discover_spec(), args, discover_body); }

}  // namespace lorakit::cli
