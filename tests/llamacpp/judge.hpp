// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Runs judge.mjs (llama.cpp through node-llama-cpp) and reads its JSON answer.
#pragma once

#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llama_reference.hpp"

namespace lorakit::test::judge {

/// The folder of judge.mjs and its node_modules (LORAKIT_JUDGE_DIR, set by CMake).
inline std::filesystem::path dir() { return LORAKIT_JUDGE_DIR; }

/// The node executable: $LORAKIT_NODE, else `node` on PATH.
inline std::string node() {
  const char* e = std::getenv("LORAKIT_NODE");
  return e != nullptr && *e != '\0' ? e : "node";
}

inline std::string quote(std::string_view s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

struct Output {
  int status = -1;  ///< exit code; 128 + n for a signal n
  std::string out, err;
};

/// Runs a command line through /bin/sh, collecting stdout and stderr.
inline Output run(const std::string& command) {
  std::string err_path = (std::filesystem::temp_directory_path() / "lorakit-judge-XXXXXX").string();
  const int fd = ::mkstemp(err_path.data());
  if (fd < 0) return {};
  ::close(fd);
  Output o;
  if (FILE* p = ::popen((command + " 2>" + quote(err_path)).c_str(), "r")) {
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
    const int st = ::pclose(p);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : (WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1);
  }
  std::ifstream in(err_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  o.err = ss.str();
  std::filesystem::remove(err_path);
  return o;
}

/// Why llama.cpp cannot judge on this machine, or "" when it can: linux-x64, Node >= 20 and
/// `npm ci` run in tests/llamacpp.
inline std::string unavailable() {
#if !defined(__linux__) || !defined(__x86_64__)
  return "node-llama-cpp's bundled CPU build is linux-x64 only";
#else
  const Output v = run(quote(node()) + " --version");
  if (v.status != 0) return "no Node.js: '" + node() + " --version' failed (set LORAKIT_NODE)";
  const std::string version = v.out.substr(0, v.out.find_first_of("\r\n"));
  if (version.size() < 2 || version[0] != 'v' || std::atoi(version.c_str() + 1) < 20) {
    return "Node.js " + version + " is older than 20, which node-llama-cpp needs";
  }
  for (const char* p : {"node_modules/node-llama-cpp/package.json",
                        "node_modules/@node-llama-cpp/linux-x64/package.json"}) {
    std::error_code ec;
    if (!std::filesystem::exists(dir() / p, ec)) {
      return (dir() / p).string() +
             " is missing: run 'npm ci --ignore-scripts --omit=optional' in " + dir().string();
    }
  }
  return "";
#endif
}

/// One answer of the judge.
struct Verdict {
  int status = -1;
  std::string error;    ///< llama.cpp's reason when status != 0
  llama::MatD centred;  ///< (positions, vocab) centred logits when status == 0
  std::string stderr_text;
};

struct Lora {
  std::filesystem::path file;
  float scale = 1.0f;
};

/// llama.cpp's centred logits after every token of `tokens` on `model` with `loras` attached.
inline Verdict logits(const std::filesystem::path& model, const std::vector<Lora>& loras,
                      const std::vector<int>& tokens) {
  std::string cmd = quote(node()) + " " + quote((dir() / "judge.mjs").string()) + " --model " +
                    quote(model.string());
  for (const Lora& l : loras) {
    std::ostringstream scale;
    scale.precision(9);
    scale << l.scale;
    cmd += " --lora " + quote(l.file.string()) + " --scale " + scale.str();
  }
  std::string list;
  for (int t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
  cmd += " --tokens " + list;
  const Output o = run(cmd);
  Verdict v;
  v.status = o.status;
  v.stderr_text = o.err;
  const nlohmann::json j = nlohmann::json::parse(o.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    v.error = "no JSON on stdout: " + o.out.substr(0, 300);
    if (v.status == 0) v.status = -1;
    return v;
  }
  if (v.status != 0) {
    v.error = j.value("error", std::string("no error message"));
    return v;
  }
  const auto& pos = j.at("positions");
  const auto vocab = j.at("vocab").get<Index>();
  v.centred.resize(static_cast<Index>(pos.size()), vocab);
  for (std::size_t t = 0; t < pos.size(); ++t) {
    for (std::size_t i = 0; i < pos[t].size(); ++i) {
      v.centred(static_cast<Index>(t), static_cast<Index>(i)) = pos[t][i].get<double>();
    }
  }
  return v;
}

}  // namespace lorakit::test::judge
