// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Attaching: validation errors leave the layer unchanged; replace, detach, set_scale.
#include <catch2/catch.hpp>
#include <string>

#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DenseLinear;
using lorakit::Errc;
using lorakit::Error;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {

using Layer = lorakit::LoRALinear<DenseLinear<const float>, LoRA>;

struct Setup {
  static constexpr Index in = 12;
  static constexpr Index out = 20;
  RowMatrix w = random_matrix(out, in, 1);
  RowMatrix x = random_matrix(3, in, 2);
  std::shared_ptr<const LoRAFixture> good = make_lora(in, out, 4, 8.0f, 3);

  // Output of the layer for x, to prove a failed attach changed nothing.
  RowMatrix output(const Layer& layer) const {
    RowMatrix y(x.rows(), out);
    lorakit::Workspace ws(layer.workspace_floats(x.rows()));
    layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws);
    return y;
  }
};

// Runs f, which must throw lorakit::Error, and returns the error.
template <class F>
Error capture_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("no lorakit::Error was thrown");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("LoRALinear: attaching B with the wrong out is a shape_mismatch and changes nothing",
          "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out),
              {.module = "model.layers.0.mlp.up_proj"});
  layer.attach("good", s.good->weights(), s.good->params, 1.0f, s.good);
  const RowMatrix before = s.output(layer);

  const auto wrong = make_lora(Setup::in, Setup::out + 4, 4, 8.0f, 4);  // B is [4, 24]
  const Error e =
      capture_error([&] { layer.attach("wrong", wrong->weights(), wrong->params, 1.0f, wrong); });
  CHECK(e.code() == Errc::shape_mismatch);
  const std::string what = e.what();
  INFO(what);
  CHECK_THAT(what, Catch::Matchers::Contains("module model.layers.0.mlp.up_proj"));
  CHECK_THAT(what, Catch::Matchers::Contains("slot lora_B"));
  CHECK_THAT(what, Catch::Matchers::Contains("expected [4, 20], got [4, 24]"));
  CHECK_THAT(what, Catch::Matchers::Contains("maybe wrong base model?"));
  REQUIRE(e.context().expected.has_value());
  CHECK(*e.context().expected == lorakit::Shape{4, 20});
  CHECK(*e.context().actual == lorakit::Shape{4, 24});

  REQUIRE(layer.attachments().size() == 1);
  CHECK(layer.attachments().front().name == "good");
  check_identical(lorakit::make_view(before), lorakit::make_view(s.output(layer)),
                  "output after a failed attach");
}

TEST_CASE("LoRALinear: every bad slot is reported in one error", "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out));
  const auto transposed = make_lora(Setup::out, Setup::in, 4, 8.0f, 5);  // A [20,4], B [4,12]
  const Error e = capture_error(
      [&] { layer.attach("t", transposed->weights(), transposed->params, 1.0f, transposed); });
  CHECK(e.code() == Errc::shape_mismatch);
  REQUIRE(e.problems().size() == 2);
  CHECK(e.problems()[0].context.slot == "lora_A");
  CHECK(e.problems()[1].context.slot == "lora_B");
  CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("expected [12, 4], got [20, 4]"));
  CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("expected [4, 20], got [4, 12]"));
  CHECK(layer.attachments().empty());
}

TEST_CASE("LoRALinear: a rank that disagrees with the params, is 0, or exceeds max_rank is refused",
          "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out), {.max_rank = 8});
  const auto f = make_lora(Setup::in, Setup::out, 4, 8.0f, 6);

  LoRA::Params wrong_rank = f->params;
  wrong_rank.rank = 5;
  const Error mismatch = capture_error([&] { layer.attach("r", f->weights(), wrong_rank); });
  CHECK(mismatch.code() == Errc::shape_mismatch);
  CHECK(mismatch.context().hint.empty());  // a rank disagreement is not a base-model problem

  LoRA::Params zero = f->params;
  zero.rank = 0;
  CHECK(capture_error([&] { layer.attach("z", f->weights(), zero); }).code() == Errc::bad_config);

  const auto big = make_lora(Setup::in, Setup::out, 16, 8.0f, 7);
  const Error limit = capture_error([&] { layer.attach("big", big->weights(), big->params); });
  CHECK(limit.code() == Errc::limit_exceeded);
  CHECK_THAT(std::string(limit.what()), Catch::Matchers::Contains("max_rank 8"));

  CHECK(capture_error([&] {
          layer.attach("nan", f->weights(), f->params, std::numeric_limits<float>::quiet_NaN());
        }).code() == Errc::bad_config);
  CHECK(layer.attachments().empty());
}

TEST_CASE("LoRALinear: attaching under a taken name replaces that adapter in one step",
          "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out));
  const auto other = make_lora(Setup::in, Setup::out, 2, 2.0f, 8);
  layer.attach("a", s.good->weights(), s.good->params, 1.0f, s.good);
  layer.attach("b", other->weights(), other->params, 1.0f, other);
  layer.attach("a", other->weights(), other->params, 0.25f, other);
  const auto list = layer.attachments();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "a");
  CHECK(list[0].weights.a.data() == other->a.data());
  CHECK(list[0].multiplier == 0.25f * 1.0f);
  CHECK(list[1].name == "b");
}

TEST_CASE("LoRALinear: detach removes an adapter and restores the base output", "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out));
  const RowMatrix base_only = s.output(layer);
  layer.attach("a", s.good->weights(), s.good->params, 1.0f, s.good);
  CHECK_FALSE(layer.detach("nope"));
  CHECK(layer.detach("a"));
  CHECK(layer.attachments().empty());
  check_identical(lorakit::make_view(base_only), lorakit::make_view(s.output(layer)),
                  "after detach");
  CHECK(capture_error([&] { layer.set_scale("a", 1.0f); }).code() == Errc::bad_config);
}

TEST_CASE("LoRALinear: an attachment keeps its owner alive until it is detached",
          "[layer][attach]") {
  Setup s;
  Layer layer(DenseLinear<const float>(s.w.data(), Setup::in, Setup::out));
  std::weak_ptr<const LoRAFixture> watch;
  {
    const auto temp = make_lora(Setup::in, Setup::out, 4, 8.0f, 9);
    watch = temp;
    layer.attach("temp", temp->weights(), temp->params, 1.0f, temp);
  }
  CHECK_FALSE(watch.expired());
  layer.detach("temp");
  CHECK(watch.expired());
}
