// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// lorakit: the command-line tool. `lorakit help` lists its commands; `lorakit CMD --help`
// describes one. The table below is every command there is.
#include <array>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <lorakit/version.hpp>

#include "cli.hpp"
#include "commands.hpp"

namespace {

using lorakit::cli::CommandArgs;

struct Command {
  std::string_view name;
  std::string_view summary;
  int (*run)(CommandArgs);
};

constexpr std::array kCommands = {
    Command{"inspect", "what an adapter holds: format, base, ranks per module group, hash",
            lorakit::cli::run_inspect},
    Command{"check", "whether an adapter fits a base model (every problem, diagnosis first)",
            lorakit::cli::run_check},
    Command{"discover", "the adapters and models in a folder, and which adapter fits which base",
            lorakit::cli::run_discover},
    Command{"convert", "write an adapter as PEFT, mlx-lm or GGUF", lorakit::cli::run_convert},
    Command{"bench", "what an adapter costs per forward on this machine (measured)",
            lorakit::cli::run_bench},
};

void print_usage(std::FILE* to) {
  std::fprintf(to,
               "lorakit %.*s: LoRA adapters (HF PEFT, mlx-lm, llama.cpp GGUF) from the command "
               "line\n\nUsage: lorakit COMMAND [ARGS...] [--json]\n\nCommands:\n",
               static_cast<int>(lorakit::version.size()), lorakit::version.data());
  for (const Command& c : kCommands) {
    std::fprintf(to, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(to,
               "  %-10s %s\n\nOptions:\n  --help     this list (lorakit COMMAND --help: one "
               "command)\n  --version  lorakit's version\n\nExample:\n  lorakit inspect "
               "path/to/adapter\n\n%.*s",
               "help", "this list, or `lorakit help COMMAND` for one command",
               static_cast<int>(lorakit::cli::kExitCodesHelp.size()),
               lorakit::cli::kExitCodesHelp.data());
}

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int unknown_command(std::string_view name, bool json) {
  lorakit::cli::report_error(
      json, "usage",
      "lorakit: unknown command '" + std::string(name) + "' (lorakit help lists the commands)");
  return lorakit::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  bool json = false;
  for (const std::string& a : args) json = json || a == "--json";
  if (args.empty()) {
    print_usage(stderr);
    return lorakit::cli::kExitUsage;
  }
  const std::string& first = args.front();
  if (first == "--help" || first == "-h") {
    print_usage(stdout);
    return lorakit::cli::kExitOk;
  }
  if (first == "--version") {
    if (json) {
      lorakit::cli::print_json({{"version", lorakit::version}});
    } else {
      std::printf("lorakit %.*s\n", static_cast<int>(lorakit::version.size()),
                  lorakit::version.data());
    }
    return lorakit::cli::kExitOk;
  }
  if (first == "help") {
    if (args.size() == 1) {
      print_usage(stdout);
      return lorakit::cli::kExitOk;
    }
    const Command* c = find_command(args[1]);
    if (c == nullptr) return unknown_command(args[1], false);
    const std::vector<std::string> help = {"--help"};
    return c->run(help);
  }
  const Command* c = find_command(first);
  if (c == nullptr) return unknown_command(first, json);
  return c->run(CommandArgs(args).subspan(1));
} catch (const std::exception& e) {
  // What reporting itself could not report (out of memory while printing, a closed stdout).
  std::fprintf(stderr, "lorakit: %s\n", e.what());
  return lorakit::cli::kExitProblems;
}
