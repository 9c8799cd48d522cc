// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The lorakit tool's framework: a command's option table, argument parsing, --help text, exit
// codes, error reporting (text on stderr, and one JSON document on stdout with --json), number
// parsing and a progress line for terminals. Every command (commands.hpp) is built from these.
#pragma once

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <lorakit/error.hpp>
#include <nlohmann/json.hpp>

namespace lorakit::cli {

using Json = nlohmann::ordered_json;

/// The tool's exit codes (every command's --help and the README list them).
enum ExitCode : int {
  kExitOk = 0,        ///< done, nothing wrong
  kExitProblems = 1,  ///< problems found: a file that fails to load, a conversion refused
  kExitUsage = 2,     ///< bad usage: unknown command or option, missing argument, bad number
};

/// The exit code text every --help ends with.
inline constexpr std::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  problems found (a file that fails to load, a conversion the formats refuse)\n"
    "  2  bad usage (unknown command or option, missing argument, bad number)\n";

/// Bad usage of the tool: exit code 2, message on stderr (and as JSON with --json).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One option a command accepts: "--rows" with `values` arguments after it.
struct OptionSpec {
  std::string_view name;     ///< with the dashes: "--rows"
  int values = 0;            ///< arguments it takes (0: a flag)
  std::string_view metavar;  ///< how --help names its arguments: "N", "PATH SCALE"
  std::string_view help;     ///< one line
  bool repeatable = false;   ///< may be given more than once
};

/// A command: its name, what it does, its options and its --help text.
struct CommandSpec {
  std::string_view name;
  std::string_view summary;      ///< one line, for `lorakit help`
  std::string_view usage;        ///< "lorakit bench ADAPTER [--rows N]"
  std::string_view description;  ///< paragraphs after the usage line
  std::vector<OptionSpec> options;
  std::string_view examples;  ///< one or more example invocations, one a line
  std::size_t min_positional = 0;
  std::size_t max_positional = 0;
};

/// The options every command takes, listed in its --help after its own.
inline const std::vector<OptionSpec>& common_options() {
  static const std::vector<OptionSpec> options = {
      {"--json", 0, "", "print one JSON document on stdout (errors too) instead of text"},
      {"--help", 0, "", "show this help and exit"},
  };
  return options;
}

/// llama.cpp's spelling of adapter paths, for commands that read adapters.
inline std::vector<OptionSpec> lora_options() {
  return {
      {"--lora", 1, "PATH", "an adapter (llama.cpp's spelling; repeatable)", true},
      {"--lora-scaled", 2, "PATH SCALE", "an adapter with a user scale (repeatable)", true},
  };
}

/// One item of a command line, in the order given: a positional argument (empty name) or an
/// option with its values.
struct Item {
  std::string name;
  std::vector<std::string> values;
};

/// A parsed command line.
struct Args {
  std::vector<Item> items;
  bool json = false;
  bool help = false;

  [[nodiscard]] std::vector<std::string> positional() const {
    std::vector<std::string> out;
    for (const Item& i : items) {
      if (i.name.empty()) out.push_back(i.values.front());
    }
    return out;
  }
  [[nodiscard]] bool has(std::string_view name) const {
    for (const Item& i : items) {
      if (i.name == name) return true;
    }
    return false;
  }
  /// The values of the last occurrence of `name`, or nullptr.
  [[nodiscard]] const std::vector<std::string>* find(std::string_view name) const {
    const std::vector<std::string>* found = nullptr;
    for (const Item& i : items) {
      if (i.name == name) found = &i.values;
    }
    return found;
  }
  /// The value of a one-value option, or nullopt.
  [[nodiscard]] std::optional<std::string> value(std::string_view name) const {
    const std::vector<std::string>* v = find(name);
    if (v == nullptr) return std::nullopt;
    return v->front();
  }
};

/// Parses a command's arguments (those after the command name) against its spec.
/// @throws UsageError for an unknown option, a missing value, a repeated one-off option or a
///   wrong number of positional arguments (unless --help was given).
inline Args parse_args(const CommandSpec& spec, std::span<const std::string> argv) {
  Args args;
  auto lookup = [&](std::string_view name) -> const OptionSpec* {
    for (const OptionSpec& o : spec.options) {
      if (o.name == name) return &o;
    }
    for (const OptionSpec& o : common_options()) {
      if (o.name == name) return &o;
    }
    return nullptr;
  };
  bool only_positional = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-' || a == "-") {
      args.items.push_back({"", {a}});
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a;
    std::optional<std::string> inline_value;
    if (const std::size_t eq = a.find('='); eq != std::string::npos && a.starts_with("--")) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    const OptionSpec* o = lookup(name);
    if (o == nullptr) {
      throw UsageError("lorakit " + std::string(spec.name) + ": unknown option '" + name +
                       "' (see lorakit " + std::string(spec.name) + " --help)");
    }
    if (!o->repeatable && args.has(o->name)) {
      throw UsageError("lorakit " + std::string(spec.name) + ": " + name + " given twice");
    }
    Item item{std::string(o->name), {}};
    if (inline_value) {
      if (o->values != 1) {
        throw UsageError("lorakit " + std::string(spec.name) + ": " + name +
                         (o->values == 0 ? " takes no value"
                                         : " takes its values as separate "
                                           "arguments"));
      }
      item.values.push_back(*inline_value);
    } else {
      for (int k = 0; k < o->values; ++k) {
        if (i + 1 >= argv.size()) {
          throw UsageError("lorakit " + std::string(spec.name) + ": " + name + " needs " +
                           std::string(o->metavar));
        }
        item.values.push_back(argv[++i]);
      }
    }
    if (o->name == "--json") args.json = true;
    if (o->name == "--help") args.help = true;
    args.items.push_back(std::move(item));
  }
  if (args.help) return args;
  const std::size_t n = args.positional().size();
  if (n > spec.max_positional) {
    throw UsageError("lorakit " + std::string(spec.name) + ": unexpected argument '" +
                     args.positional()[spec.max_positional] +
                     "' (usage: " + std::string(spec.usage) + ")");
  }
  if (n < spec.min_positional) {
    throw UsageError("lorakit " + std::string(spec.name) +
                     ": missing argument (usage: " + std::string(spec.usage) + ")");
  }
  return args;
}

/// The --help text of a command: usage, description, options, example, exit codes.
inline std::string help_text(const CommandSpec& spec) {
  std::string s = "Usage: " + std::string(spec.usage) + "\n\n" + std::string(spec.description);
  if (!s.ends_with('\n')) s += '\n';
  s += "\nOptions:\n";
  auto add = [&s](const OptionSpec& o) {
    std::string left = "  " + std::string(o.name);
    if (!o.metavar.empty()) left += " " + std::string(o.metavar);
    if (left.size() < 26)
      left.resize(26, ' ');
    else
      left += "  ";
    s += left + std::string(o.help) + "\n";
  };
  for (const OptionSpec& o : spec.options) add(o);
  for (const OptionSpec& o : common_options()) add(o);
  s += "\nExample:\n" + std::string(spec.examples);
  if (!s.ends_with('\n')) s += '\n';
  s += "\n" + std::string(kExitCodesHelp);
  return s;
}

/// A number from the command line.
/// @throws UsageError naming the option when `text` is not an integer in [lo, hi].
inline long long parse_int(std::string_view text, std::string_view what, long long lo,
                           long long hi) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    throw UsageError("bad number for " + std::string(what) + ": '" + std::string(text) +
                     "' (an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ")");
  }
  return v;
}

/// A finite float from the command line.
/// @throws UsageError naming the option when `text` is not a finite number.
inline float parse_float(std::string_view text, std::string_view what) {
  const std::string s(text);
  std::size_t used = 0;
  float v = 0.0f;
  try {
    v = std::stof(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !std::isfinite(v)) {
    throw UsageError("bad number for " + std::string(what) + ": '" + s + "'");
  }
  return v;
}

/// An adapter named on the command line: a positional path, --lora PATH or --lora-scaled.
struct AdapterArg {
  std::string path;
  float scale = 1.0f;
  bool scaled = false;  ///< given with --lora-scaled
};

/// The adapters of a command line, in the order given: positional paths, --lora and
/// --lora-scaled (a command whose positional arguments are not all adapters picks its own).
/// @throws UsageError for a bad SCALE
inline std::vector<AdapterArg> adapter_args(const Args& args) {
  std::vector<AdapterArg> out;
  for (const Item& i : args.items) {
    if (i.name.empty() || i.name == "--lora") {
      out.push_back({i.values.front(), 1.0f, false});
    } else if (i.name == "--lora-scaled") {
      out.push_back({i.values[0], parse_float(i.values[1], "--lora-scaled SCALE"), true});
    }
  }
  return out;
}

/// 16 hex digits.
inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// "1.8 MiB", "512 B".
inline std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

/// The JSON form of an error: {"code": ..., "message": ...}.
inline Json error_json(std::string_view code, std::string_view message) {
  Json e;
  e["code"] = code;
  e["message"] = message;
  return e;
}
inline Json error_json(const lorakit::Error& e) {
  return error_json(lorakit::to_string(e.code()), e.what());
}

/// Prints a JSON document on stdout.
inline void print_json(const Json& j) {
  // Names from files need not be UTF-8: invalid bytes print as U+FFFD rather than throw.
  const std::string s = j.dump(2, ' ', false, Json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

/// Prints `message` on stderr, and with --json the document {"error": {...}} on stdout.
inline void report_error(bool json, std::string_view code, std::string_view message) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  if (json) print_json(Json{{"error", error_json(code, message)}});
}

/// Runs a command's body, turning what it throws into the tool's exit codes: UsageError -> 2,
/// lorakit::Error and other failures -> 1, each reported by report_error.
inline int guarded(bool json, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    report_error(json, "usage", e.what());
    return kExitUsage;
  } catch (const lorakit::Error& e) {
    report_error(json, lorakit::to_string(e.code()), e.what());
    return kExitProblems;
  } catch (const std::bad_alloc&) {
    report_error(json, "out_of_memory", "lorakit: out of memory");
    return kExitProblems;
  } catch (const std::exception& e) {
    report_error(json, "failure", std::string("lorakit: ") + e.what());
    return kExitProblems;
  }
}

/// Parses the arguments and runs `body` under guarded(); --help prints the help and exits 0.
/// `argv` is every argument after the command name.
inline int run_command(const CommandSpec& spec, std::span<const std::string> argv,
                       const std::function<int(const Args&)>& body) {
  bool json = false;
  for (const std::string& a : argv) json = json || a == "--json";
  return guarded(json, [&] {
    const Args args = parse_args(spec, argv);
    if (args.help) {
      const std::string h = help_text(spec);
      std::fwrite(h.data(), 1, h.size(), stdout);
      return static_cast<int>(kExitOk);
    }
    return body(args);
  });
}

/// A line on stderr that rewrites itself ("converting: 3/60 modules"), only when stderr is a
/// terminal and the caller wants it (never with --json). Cleared when done or destroyed.
class Progress {
 public:
  explicit Progress(bool wanted) : on_(wanted && isatty(STDERR_FILENO) == 1) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { done(); }

  [[nodiscard]] bool on() const noexcept { return on_; }
  void show(std::string_view line) {
    if (!on_) return;
    std::fprintf(stderr, "\r\033[K%.*s", static_cast<int>(line.size()), line.data());
    std::fflush(stderr);
    shown_ = true;
  }
  void done() {
    if (on_ && shown_) {
      std::fprintf(stderr, "\r\033[K");
      std::fflush(stderr);
    }
    shown_ = false;
  }

 private:
  bool on_ = false;
  bool shown_ = false;
};

}  // namespace lorakit::cli
