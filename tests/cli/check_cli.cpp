// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Checks the lorakit tool's JSON output against facts known without it.
//
//   check_cli inspect FACTS.json OUTPUT.json KEY...   adapters[i] of the output must agree with
//                                                     FACTS[KEY_i] on every field FACTS gives
//   check_cli same-hash OUTPUT.json                   every adapter has one content_hash
//   check_cli bench OUTPUT.json ROWS...               a result per row count, fields present,
//                                                     times positive (never a speed)
//
// Facts are a subset of the output: objects compare field by field (only the fields the facts
// give), arrays element by element (arrays of objects with a "name": by name, same length),
// numbers within a relative 1e-6.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using Json = nlohmann::json;

Json read(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  try {
    return Json::parse(s.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " is not one JSON document: " + e.what() + "\n" + s.str());
  }
}

int g_failures = 0;

void fail(const std::string& where, const Json& want, const Json& got) {
  ++g_failures;
  std::fprintf(stderr, "MISMATCH at %s: expected %s, got %s\n", where.c_str(), want.dump().c_str(),
               got.dump().c_str());
}

void match(const std::string& where, const Json& want, const Json& got) {
  if (want.is_object()) {
    if (!got.is_object()) return fail(where, want, got);
    for (const auto& [k, v] : want.items()) {
      if (!got.contains(k)) {
        fail(where + "." + k, v, "(missing)");
        continue;
      }
      match(where + "." + k, v, got[k]);
    }
  } else if (want.is_array()) {
    if (!got.is_array() || got.size() != want.size()) return fail(where, want, got);
    for (std::size_t i = 0; i < want.size(); ++i) {
      const Json& w = want[i];
      if (w.is_object() && w.contains("name")) {
        const Json* found = nullptr;
        for (const Json& g : got) {
          if (g.is_object() && g.value("name", Json()) == w["name"]) found = &g;
        }
        if (found == nullptr) {
          fail(where + "[name=" + w["name"].dump() + "]", w, "(missing)");
        } else {
          match(where + "[" + w["name"].get<std::string>() + "]", w, *found);
        }
      } else {
        match(where + "[" + std::to_string(i) + "]", w, got[i]);
      }
    }
  } else if (want.is_number() && got.is_number()) {
    const double a = want.get<double>();
    const double b = got.get<double>();
    if (std::fabs(a - b) > 1e-6 * std::max(1.0, std::fabs(a))) fail(where, want, got);
  } else if (want != got) {
    fail(where, want, got);
  }
}

bool positive(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_number() && j[key].get<double>() > 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() >= 3 && a[0] == "inspect") {
      const Json facts = read(a[1]);
      const Json out = read(a[2]);
      if (out.contains("error")) fail("error", nullptr, out["error"]);
      const Json& adapters = out.at("adapters");
      if (adapters.size() != a.size() - 3) {
        fail("adapters (count)", a.size() - 3, adapters.size());
      }
      for (std::size_t i = 3; i < a.size() && i - 3 < adapters.size(); ++i) {
        match(a[i], facts.at(a[i]), adapters[i - 3]);
      }
    } else if (a.size() == 2 && a[0] == "same-hash") {
      const Json out = read(a[1]);
      const Json& adapters = out.at("adapters");
      if (adapters.size() < 2) fail("adapters (count)", ">= 2", adapters.size());
      for (const Json& ad : adapters)
        match("content_hash", adapters[0].at("content_hash"), ad.at("content_hash"));
    } else if (a.size() >= 2 && a[0] == "bench") {
      const Json out = read(a[1]);
      match("measured", true, out.at("measured"));
      match("threads", 1, out.at("threads"));
      if (!out.contains("kernel") || !out["kernel"].is_string()) fail("kernel", "a name", out);
      if (!positive(out, "modules")) fail("modules", "> 0", out.value("modules", Json()));
      const Json& results = out.at("results");
      if (results.size() != a.size() - 2) fail("results (count)", a.size() - 2, results.size());
      for (std::size_t i = 2; i < a.size() && i - 2 < results.size(); ++i) {
        const Json& r = results[i - 2];
        match("results.rows", std::stoll(a[i]), r.at("rows"));
        if (!positive(r, "base_us")) fail("base_us", "> 0", r.value("base_us", Json()));
        if (!(r.at("adapter_us").get<double>() >= 0.0)) fail("adapter_us", ">= 0", r["adapter_us"]);
        if (!(r.at("share_percent").get<double>() >= 0.0)) {
          fail("share_percent", ">= 0", r["share_percent"]);
        }
        for (const Json& s : r.at("shapes")) {
          if (!positive(s, "base_us") || !positive(s, "with_adapter_us") || !positive(s, "count")) {
            fail("results.shapes", "positive base_us, with_adapter_us and count", s);
          }
        }
      }
    } else if (a.size() == 3 && a[0] == "discover") {
      // Every entry the generator names has its kind; every adapter is compatible with exactly
      // the bases the generator built it for.
      const Json facts = read(a[1]).at("discover");
      const Json out = read(a[2]);
      std::map<std::string, Json> by_path;
      for (const Json& e : out.at("entries")) by_path[e.at("path").get<std::string>()] = e;
      for (const auto& [path, kind] : facts.at("kinds").items()) {
        if (by_path.count(path) == 0) {
          fail("entry " + path, kind, nullptr);
          continue;
        }
        match("kind of " + path, kind, by_path[path].at("kind"));
      }
      for (const auto& [path, bases] : facts.at("compatible").items()) {
        if (by_path.count(path) == 0 || !by_path[path].contains("match")) {
          fail("match of " + path, bases, nullptr);
          continue;
        }
        const Json& m = by_path[path].at("match");
        match("verdict of " + path, "compatible", m.at("verdict"));
        match("compatible bases of " + path, bases, m.at("compatible"));
      }
    } else {
      std::fprintf(stderr, "usage: check_cli inspect|same-hash|bench|discover ...\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check_cli: %s\n", e.what());
    return 1;
  }
  if (g_failures > 0) {
    std::fprintf(stderr, "%d mismatches\n", g_failures);
    return 1;
  }
  std::printf("check_cli: ok\n");
  return 0;
}
