// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// forward() allocates nothing: a counting operator new and Eigen's EIGEN_RUNTIME_NO_MALLOC
// (which asserts on any Eigen heap allocation while malloc is disallowed; active in Debug).
#define EIGEN_RUNTIME_NO_MALLOC
#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <span>
#include <vector>

#include "alloc_counter.hpp"
#include "lora_fixture.hpp"
#include "lorakit/lorakit.hpp"

using lorakit::DenseLinear;
using lorakit::Index;
using lorakit::LoRA;
using lorakit::RowMatrix;
using lorakit::test::allocation_count;

namespace {

// Disallows Eigen heap allocation and counts operator new calls while f runs.
template <class F>
long allocations_during(F&& f) {
  const long before = allocation_count.load();
  Eigen::internal::set_is_malloc_allowed(false);
  f();
  Eigen::internal::set_is_malloc_allowed(true);
  return allocation_count.load() - before;
}

}  // namespace

TEST_CASE("The allocation counter sees an allocation (the check below can fail)", "[nomalloc]") {
  const long n = allocations_during([] {
    auto* p = new int(1);  // NOLINT: deliberately allocating
    delete p;
  });
  CHECK(n == 1);
}

TEST_CASE("LoRALinear: forward allocates nothing, on, off or with nothing attached", "[nomalloc]") {
  const Index n = GENERATE(1, 7, 64);
  const auto [in, out] =
      GENERATE(std::pair<Index, Index>{64, 64}, std::pair<Index, Index>{4096, 64},
               std::pair<Index, Index>{64, 4096});
  const Index r = GENERATE(1, 8, 64);
  CAPTURE(n, in, out, r);

  const RowMatrix w = lorakit::test::random_matrix(out, in, 1);
  const RowMatrix bias = lorakit::test::random_matrix(1, out, 2);
  const RowMatrix x = lorakit::test::random_matrix(n, in, 3);
  RowMatrix y(n, out);
  const auto p = lorakit::test::make_lora(in, out, r, 16.0f, 4);
  const auto q = lorakit::test::make_lora(in, out, r, 8.0f, 5);
  lorakit::LoRALinear<DenseLinear<const float>, LoRA> layer(
      DenseLinear<const float>(w.data(), in, out, lorakit::WeightLayout::out_in, bias.data()));
  lorakit::Workspace ws(layer.workspace_floats(n));
  auto forward = [&] { layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws); };

  CHECK(allocations_during(forward) == 0);  // nothing attached
  layer.attach("p", p->weights(), p->params, 1.0f, p);
  layer.attach("q", q->weights(), q->params, 0.5f, q);
  CHECK(allocations_during(forward) == 0);  // two adapters
  layer.set_enabled(false);
  CHECK(allocations_during(forward) == 0);  // toggled off
  layer.set_enabled(true);
  lorakit::Workspace one_row(layer.workspace_floats(1));  // the smallest workspace: row blocks
  CHECK(allocations_during(
            [&] { layer.forward(lorakit::make_view(x), lorakit::make_view(y), one_row); }) == 0);
}

TEST_CASE("LoRALinear of AnyVariant: forward allocates nothing with every variant attached",
          "[nomalloc]") {
  const Index n = GENERATE(1, 9);
  const Index in = 48;
  const Index out = 40;
  const Index r = 6;
  CAPTURE(n);
  const RowMatrix w = lorakit::test::random_matrix(out, in, 11);
  const RowMatrix x = lorakit::test::random_matrix(n, in, 12);
  RowMatrix y(n, out);
  const auto p = lorakit::test::make_lora(in, out, r, 12.0f, 13);
  RowMatrix magnitude = lorakit::test::random_matrix(1, out, 14);
  magnitude.array() += 2.0f;
  const RowMatrix l_out = lorakit::test::random_matrix(1, out, 15);
  const RowMatrix l_in = lorakit::test::random_matrix(1, in, 16);
  using lorakit::AnyVariant;
  lorakit::LoRALinear<DenseLinear<const float>, AnyVariant> layer(
      DenseLinear<const float>(w.data(), in, out));
  layer.attach("lora", AnyVariant::make<LoRA>(p->weights()), AnyVariant::params<LoRA>(p->params),
               {.scale = 1.0f, .id = 1});
  layer.attach(
      "dora",
      AnyVariant::make<lorakit::DoRA>(lorakit::DoRA::bind(
          {lorakit::make_view(p->a), lorakit::make_view(p->b), lorakit::make_cview(magnitude)})),
      AnyVariant::params<lorakit::DoRA>(p->params), {.scale = 0.5f, .id = 2});
  layer.attach("ia3",
               AnyVariant::make<lorakit::IA3>(lorakit::IA3::bind({lorakit::make_view(l_out)})),
               AnyVariant::params<lorakit::IA3>({}), {.scale = 1.0f, .id = 3});
  layer.attach(
      "ia3_in",
      AnyVariant::make<lorakit::IA3Input>(lorakit::IA3Input::bind({lorakit::make_view(l_in)})),
      AnyVariant::params<lorakit::IA3Input>({}), {.scale = 1.0f, .id = 4});
  lorakit::Workspace ws(layer.workspace_floats(n));
  lorakit::Workspace none;
  const lorakit::Selection::Entry entries[] = {{.id = 4, .scale = 0.5f}, {.id = 1, .scale = 2.0f}};
  const lorakit::Selection some = lorakit::Selection::of(entries);
  std::vector<lorakit::Selection> rows(static_cast<std::size_t>(n), some);
  rows[0] = lorakit::Selection::base();
  std::vector<lorakit::AdapterId> ids(static_cast<std::size_t>(n), 4);
  ids[0] = 2;

  CHECK(allocations_during(
            [&] { layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws); }) == 0);
  CHECK(allocations_during(
            [&] { layer.forward(lorakit::make_view(x), lorakit::make_view(y), none); }) == 0);
  CHECK(allocations_during(
            [&] { layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws, some); }) == 0);
  CHECK(allocations_during([&] {
          layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws,
                        std::span<const lorakit::Selection>(rows));
        }) == 0);
  CHECK(allocations_during([&] {
          layer.forward(lorakit::make_view(x), lorakit::make_view(y), ws,
                        std::span<const lorakit::AdapterId>(ids));
        }) == 0);
}
