// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// NameRegex, the regex dialect of target_modules: std::regex as the oracle where the two
// dialects agree, Python's own rules where they differ, and patterns built to hurt.
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "lorakit/detail/name_regex.hpp"
#include "lorakit/runtime/targeting.hpp"

using lorakit::Errc;
using lorakit::Error;
using lorakit::detail::NameRegex;

namespace {

bool full(const std::string& pattern, const std::string& name) {
  return NameRegex::compile(pattern).full_match(name);
}

Errc refusal(const std::string& pattern, const NameRegex::Limits& limits = {}) {
  try {
    (void)NameRegex::compile(pattern, limits);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("accepted: " << pattern.substr(0, 60));
  return Errc::io;
}

// A random pattern over the syntax both dialects read alike, from a small alphabet so that
// random names often match.
std::string random_pattern(std::mt19937& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::string s;
  const int items = 1 + pick(3);
  for (int i = 0; i < items; ++i) {
    std::string atom;
    switch (depth > 0 ? pick(9) : pick(6)) {
      case 0: atom = "a"; break;
      case 1: atom = "b"; break;
      case 2: atom = "."; break;
      case 3: atom = R"(\.)"; break;
      case 4: atom = pick(2) == 0 ? "[ab]" : (pick(2) == 0 ? "[^a]" : R"(\d)"); break;
      case 5: atom = pick(2) == 0 ? "[a-c1]" : "1"; break;
      default:
        atom = "(" + random_pattern(rng, depth - 1);
        if (pick(2) == 0) atom += "|" + random_pattern(rng, depth - 1);
        atom += ")";
    }
    switch (pick(8)) {
      case 0: atom += "*"; break;
      case 1: atom += "+"; break;
      case 2: atom += "?"; break;
      case 3:
        atom += "{" + std::to_string(pick(3)) + "," + std::to_string(2 + pick(2)) + "}";
        break;
      case 4: atom += pick(2) == 0 ? "*?" : "{2}"; break;
      default: break;
    }
    s += atom;
  }
  return s;
}

}  // namespace

TEST_CASE("NameRegex: agrees with std::regex on the syntax both read alike", "[runtime][regex]") {
  const std::vector<std::string> patterns = {
      R"(.*\.(q|v)_proj)",
      R"(.*(q_proj|v_proj|k_proj))",
      R"(^model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj$)",
      R"(model\.layers\.(1|2|3)\.mlp\.(up|down|gate)_proj)",
      R"(.*decoder.*(SelfAttention|EncDecAttention).*(q|v)$)",
      R"(.*\.[qv]_proj)",
      R"(.*layers\.[0-9]{1,2}\..*)",
      R"([^.]+\.[^.]+)",
      R"(\w+(\.\w+)*)",
      R"(.*\.(\d)\..*)",
      R"((model|transformer)\.(layers|h)\.\d+\..+)",
      R"(a{2,}|b{0,1}c)",
      R"(.*_proj?)",
      R"((.*)(.*)(.*)x)",
      "",
      "x*",
  };
  const std::vector<std::string> names = {
      "model.layers.0.self_attn.q_proj",
      "model.layers.12.self_attn.v_proj",
      "model.layers.2.mlp.up_proj",
      "model.layers.123.mlp.down_proj",
      "transformer.h.3.attn.c_attn",
      "decoder.block.0.layer.0.SelfAttention.q",
      "encoder.block.0.layer.0.SelfAttention.v",
      "lm_head",
      "q_proj",
      "model.layers.0.self_attn.q_pro",
      "aa",
      "c",
      "bc",
      "",
      "xx",
  };
  for (const std::string& p : patterns) {
    const NameRegex ours = NameRegex::compile(p);
    const std::regex oracle(p);
    for (const std::string& n : names) {
      CAPTURE(p, n);
      CHECK(ours.full_match(n) == std::regex_match(n, oracle));
    }
  }
}

TEST_CASE("NameRegex: agrees with std::regex on random patterns and names", "[runtime][regex]") {
  std::mt19937 rng(20261201);
  const std::string alphabet = "ab.1c";
  int matches = 0, checked = 0;
  for (int k = 0; k < 400; ++k) {
    const std::string p = random_pattern(rng, 2);
    const NameRegex ours = NameRegex::compile(p);
    const std::regex oracle(p);
    for (int j = 0; j < 40; ++j) {
      std::string n(rng() % 9, 'a');
      for (char& c : n) c = alphabet[rng() % alphabet.size()];
      const bool expected = std::regex_match(n, oracle);
      CAPTURE(p, n);
      REQUIRE(ours.full_match(n) == expected);
      matches += expected ? 1 : 0;
      ++checked;
    }
  }
  // The sweep means something only if both answers occur often.
  CAPTURE(matches, checked);
  CHECK(matches > checked / 20);
  CHECK(matches < checked - checked / 20);
}

TEST_CASE("NameRegex: Python's spellings where they differ from ECMAScript", "[runtime][regex]") {
  CHECK(full("a{,2}", ""));  // {,n}: zero to n (a literal in ECMAScript)
  CHECK(full("a{,2}", "aa"));
  CHECK_FALSE(full("a{,2}", "aaa"));
  CHECK(full("a{", "a{"));  // a brace that starts no count is a literal
  CHECK(full("a{x}", "a{x}"));
  CHECK(full("a{1,2", "a{1,2"));
  CHECK(full(R"((?P<proj>q|v)_proj)", "v_proj"));
  CHECK(full(R"(\Amodel\..*\Z)", "model.x"));
  CHECK(full(R"(x\x2ey)", "x.y"));
  CHECK(full("[]a]+", "]a]"));  // ']' first in a class is a literal
  CHECK(full("[^]a]", "b"));
  CHECK(full("[a-]+", "a-a"));  // '-' last is a literal
  CHECK(full(R"([\d.]+)", "1.2"));
  CHECK(full(R"([\]]\-)", "]-"));
  CHECK_FALSE(full(".", "\n"));       // '.' is any byte but a newline
  CHECK(full("q.*?proj", "q_proj"));  // a lazy quantifier: the same answer under a full match
  CHECK(full("a^b|c", "c"));          // an anchor inside never matches, and is no error
  CHECK_FALSE(full("a^b", "ab"));
  CHECK(full("(a|)+$", "aaa"));
  CHECK(full("(a*)*", ""));
  CHECK(full("a$\n", "a\n"));  // '$' also matches just before a final newline
  CHECK_FALSE(full("a$", "a\n"));
  CHECK_FALSE(full(R"(a\Z\n)", "a\n"));  // \Z only at the very end
  CHECK(full(R"(\s\s)", "\x1c\x1f"));    // Python's \s on ASCII includes 0x1c-0x1f
  CHECK_FALSE(full(R"(\S)", "\x1d"));
  CHECK(full("(^)*a", "a"));  // a group holding an anchor may be repeated
  CHECK(full("(?:$)?", ""));
}

TEST_CASE("NameRegex: what Python refuses is bad_config, what lorakit does not do is unsupported",
          "[runtime][regex]") {
  for (const char* p :
       {"(unclosed", "closed)",   "*a",       "a**",        "a{2}{3}",          "a*??",  "[abc",
        "[z-a]",     R"([a-\d])", R"(\q)",    "a\\",        R"(\x4)",           "^*",    "{2}",
        "a|+",       R"(\Z+)",    "(?P<1>a)", "(?P<a-b>a)", "(?P<n>a)(?P<n>b)", "(?P<n", "(?z)",
        "(?",        "a{2000,1}", R"([\B])"}) {
    CAPTURE(p);
    CHECK(refusal(p) == Errc::bad_config);
  }
  for (const char* p :
       {R"((a)\1)", "(?=a)a", "(?!b)a", "(?<=a)b", "(?i)q_proj", R"(\bq)", "a*+", "(?#note)a",
        R"(\u0041)", "(?>a)", "(?(1)a|b)", R"(\0)", "(?P<n>a)(?P=n)"}) {
    CAPTURE(p);
    CHECK(refusal(p) != Errc::bad_config);
  }
  CHECK(refusal(R"((a)\1)") == Errc::unsupported);
  CHECK(refusal("(?=a)a") == Errc::unsupported);
  CHECK(refusal("a*+") == Errc::unsupported);
  CHECK(refusal(R"(\u0041)") == Errc::unsupported);
  // Names compare as bytes, so a pattern must be ASCII (Python's '.' would take a whole 'é').
  CHECK(refusal("caf\xc3\xa9") == Errc::unsupported);
  CHECK(refusal(R"(\xe9)") == Errc::unsupported);
}

TEST_CASE("NameRegex: hostile patterns cost bounded time and memory", "[runtime][regex]") {
  // Exponential for a backtracking engine (std::regex takes minutes on this 45-byte name).
  const std::string name(45, 'a');
  CHECK_FALSE(full("(.*.*)*x", name));
  CHECK_FALSE(full("(a|a)*b", name));
  CHECK_FALSE(full("(a*)*(a*)*(a*)*b", name));
  CHECK(full("(a|aa)*", name));
  // A million nested groups overflow a recursive compiler's stack; here they hit the depth limit.
  const std::string deep = std::string(1'000'000, '(') + std::string(1'000'000, ')');
  NameRegex::Limits big;
  big.max_pattern_bytes = deep.size();
  CHECK(refusal(deep, big) == Errc::limit_exceeded);
  NameRegex::Limits shallow;
  shallow.max_depth = 3;
  CHECK(refusal("((((a))))", shallow) == Errc::limit_exceeded);
  CHECK(full("(((a)))", "a"));
  // Length, counted repeats and their expansion.
  CHECK(refusal(std::string(NameRegex::Limits{}.max_pattern_bytes + 1, 'a')) ==
        Errc::limit_exceeded);
  CHECK(refusal("a{1001}") == Errc::limit_exceeded);
  CHECK(refusal("((a{1000}){1000}){1000}") == Errc::limit_exceeded);
  // Repeating nothing is nothing, however often; many empty groups in a repeat hit the work
  // bound of the compiler.
  const NameRegex nothing = NameRegex::compile("((((){1000}){1000}){1000}){1000}");
  CHECK(nothing.states() == 1);
  CHECK(nothing.full_match(""));
  std::string empties = "(";
  for (int k = 0; k < 20000; ++k) empties += "()";
  CHECK(refusal(empties + "a){1000}") == Errc::limit_exceeded);
  CHECK(NameRegex::compile(empties + "a){10}").full_match(std::string(10, 'a')));
  CHECK(NameRegex::compile("a{1000}").full_match(std::string(1000, 'a')));
  CHECK_FALSE(NameRegex::compile("a{1000}").full_match(std::string(999, 'a')));
  NameRegex::Limits few;
  few.max_states = 10;
  CHECK(refusal("abcdefghijk", few) == Errc::limit_exceeded);
  CHECK(NameRegex::compile("abcdefghi", few).states() == 10);  // nine bytes and the match
  // Limits beyond what the engine honours are capped, not wrapped around.
  const NameRegex::Limits huge{
      .max_pattern_bytes = SIZE_MAX, .max_depth = SIZE_MAX, .max_states = SIZE_MAX};
  CHECK(NameRegex::compile("(?:ab)*", huge).full_match("abab"));
  CHECK(refusal(std::string(32'000, '(') + std::string(32'000, ')'), huge) == Errc::limit_exceeded);
  // A moved-from pattern matches nothing.
  NameRegex moved = NameRegex::compile("a");
  const NameRegex taken = std::move(moved);
  CHECK(taken.full_match("a"));
  CHECK_FALSE(moved.full_match("a"));  // NOLINT(bugprone-use-after-move): the defined state
}

TEST_CASE("TargetMatcher: a hostile target regex is matched in linear time or refused",
          "[runtime][regex]") {
  using lorakit::TargetMatcher;
  using lorakit::TargetRule;
  const TargetMatcher slow_for_backtracking(TargetRule{.regex = "(.*.*)*x"});
  CHECK_FALSE(slow_for_backtracking("model.layers.10.self_attn.q_proj.lora"));
  try {
    TargetMatcher deep(TargetRule{.regex = std::string(30'000, '(') + std::string(30'000, ')')});
    FAIL("a pattern nested 30000 deep was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::limit_exceeded);
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("target_modules regex '(((("));
    CHECK_THAT(what, Catch::Contains("...': groups nested deeper than 200 levels at position 200"));
    CHECK(what.size() < 300);  // the pattern is shortened in the message
  }
}
