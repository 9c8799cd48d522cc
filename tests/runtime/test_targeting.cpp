// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// NameMap, layer_index and TargetMatcher (PEFT target_modules semantics).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "lorakit/runtime/targeting.hpp"

using lorakit::NameMap;
using lorakit::TargetMatcher;
using lorakit::TargetRule;

TEST_CASE("NameMap: rules apply in order, unmatched names pass through", "[runtime][targeting]") {
  NameMap names;
  CHECK(names("model.layers.0.self_attn.q_proj") == "model.layers.0.self_attn.q_proj");
  names.strip_prefix("model.").replace("self_attn.", "attn.").replace_prefix("layers.", "blk.");
  CHECK(names("model.layers.3.self_attn.q_proj") == "blk.3.attn.q_proj");
  CHECK(names("lm_head") == "lm_head");
  names.function([](std::string_view n) { return n == "blk.3.attn.q_proj" ? "" : std::string(n); });
  CHECK(names("model.layers.3.self_attn.q_proj").empty());
  CHECK_THROWS_AS(NameMap().replace("", "x"), lorakit::Error);
}

TEST_CASE("layer_index finds the block number", "[runtime][targeting]") {
  CHECK(lorakit::layer_index("model.layers.12.self_attn.q_proj") == 12);
  CHECK(lorakit::layer_index("transformer.h.0.attn.c_attn") == 0);
  CHECK(lorakit::layer_index("lm_head") == -1);
  CHECK(lorakit::layer_index("model.layers.1x.q_proj") == -1);
  const std::vector<std::string> pattern{"block"};
  CHECK(lorakit::layer_index("encoder.2.block.7.layer.0.SelfAttention.q", pattern) == 7);
  CHECK(lorakit::layer_index("encoder.2.layer.0.q", pattern) == -1);
  // The last index wins (PEFT's greedy match): an expert's number inside a block.
  CHECK(lorakit::layer_index("model.layers.1.mlp.experts.0.w1") == 0);
  const std::vector<std::string> layers{"layers"};
  CHECK(lorakit::layer_index("model.layers.1.mlp.experts.0.w1", layers) == 1);
  // An index needs two components before it and one after it.
  CHECK(lorakit::layer_index("layers.1.q_proj") == -1);
  CHECK(lorakit::layer_index("model.layers.1") == -1);
}

TEST_CASE("TargetMatcher: lists match whole trailing components", "[runtime][targeting]") {
  const TargetMatcher m(TargetRule{.names = {"q_proj", "v_proj"}});
  CHECK(m("model.layers.0.self_attn.q_proj"));
  CHECK(m("v_proj"));
  CHECK_FALSE(m("model.layers.0.self_attn.k_proj"));
  CHECK_FALSE(m("model.layers.0.self_attn.xq_proj"));  // a component must match whole
  const TargetMatcher dotted(TargetRule{.names = {"self_attn.q_proj"}});
  CHECK(dotted("model.layers.0.self_attn.q_proj"));
  CHECK_FALSE(dotted("model.layers.0.cross_attn.q_proj"));
}

TEST_CASE("TargetMatcher: a regex must match the whole name", "[runtime][targeting]") {
  const TargetMatcher m(TargetRule{.regex = R"(.*\.(q|v)_proj)"});
  CHECK(m("model.layers.0.self_attn.q_proj"));
  CHECK_FALSE(m("model.layers.0.self_attn.q_proj.extra"));
  CHECK_FALSE(TargetMatcher(TargetRule{.regex = "q_proj"})("model.layers.0.self_attn.q_proj"));
  try {
    TargetMatcher bad(TargetRule{.regex = "(unclosed"});
    FAIL("a bad regex was accepted");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == lorakit::Errc::bad_config);
    CHECK_THAT(e.what(), Catch::Contains("(unclosed"));
  }
}

TEST_CASE("TargetMatcher: layers_to_transform and mlx-lm's last layers", "[runtime][targeting]") {
  const TargetMatcher listed(TargetRule{.names = {"q_proj"}, .layers = {1, 3}});
  CHECK(listed("model.layers.3.self_attn.q_proj"));
  CHECK_FALSE(listed("model.layers.2.self_attn.q_proj"));
  CHECK_FALSE(listed("lm_head.q_proj"));  // no layer index: not in any listed layer
  const TargetMatcher patterned(
      TargetRule{.names = {"q"}, .layers = {0}, .layers_pattern = {"block"}});
  CHECK(patterned("encoder.block.0.layer.0.SelfAttention.q"));
  CHECK_FALSE(patterned("encoder.block.1.layer.0.SelfAttention.q"));
  // Only suffix matches are narrowed: a module named in full, or a regex, is not (as PEFT).
  const TargetMatcher exact(
      TargetRule{.names = {"model.layers.2.self_attn.q_proj", "v_proj"}, .layers = {0}});
  CHECK(exact("model.layers.2.self_attn.q_proj"));
  CHECK_FALSE(exact("model.layers.2.self_attn.v_proj"));
  CHECK(exact("model.layers.0.self_attn.v_proj"));
  const TargetMatcher regex(TargetRule{.regex = R"(.*q_proj)", .layers = {0}});
  CHECK(regex("model.layers.5.self_attn.q_proj"));
  const TargetMatcher last(TargetRule{.names = {"q_proj"}, .last_layers = 4}, 24);
  CHECK(last("model.layers.20.self_attn.q_proj"));
  CHECK(last("model.layers.23.self_attn.q_proj"));
  CHECK_FALSE(last("model.layers.19.self_attn.q_proj"));
}
