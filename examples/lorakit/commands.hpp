// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The lorakit tool's commands. Each takes the arguments after its name and returns an exit code
// (cli.hpp's ExitCode); main.cpp's table lists them. Adding a command is adding its .cpp file,
// its declaration here and its row in the table.
#pragma once

#include <span>
#include <string>

namespace lorakit::cli {

/// The arguments after the command name.
using CommandArgs = std::span<const std::string>;

int run_inspect(CommandArgs args);   ///< inspect.cpp: what an adapter file holds
int run_convert(CommandArgs args);   ///< convert.cpp: PEFT / mlx-lm / GGUF to another of them
int run_bench(CommandArgs args);     ///< bench.cpp: what an adapter costs per forward here
int run_check(CommandArgs args);     ///< check.cpp: whether adapters fit a base model
int run_discover(CommandArgs args);  ///< discover.cpp: adapters and models in a folder, matched

}  // namespace lorakit::cli
