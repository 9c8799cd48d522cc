// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// A row's bits depend only on that row, its adapters and scales: SimdKernel over random splits
// of the rows (and the same weights at other row paddings), LoRALinear over random workspace
// sizes and per-row adapter runs, each compared bit for bit with one call over all rows and
// with every row alone. Built into the kernel tests
// (baseline ISA and -march=native) and into the release tests (NDEBUG, -O2).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/core/dtype.hpp"
#include "lorakit/core/workspace.hpp"
#include "lorakit/kernels/simd.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "random.hpp"
#include "stored_weights.hpp"

using lorakit::AdapterId;
using lorakit::Index;
using lorakit::kNoAdapter;
using lorakit::make_cview;
using lorakit::make_view;
using lorakit::row_range;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {

using Simd = lorakit::kernels::SimdKernel<>;
constexpr Index kLanes = Simd::kLanes;
constexpr Index kMaxRank = 40;

// Uniform in [lo, hi].
Index pick(Random& rng, Index lo, Index hi) {
  return lo + static_cast<Index>(rng.next() % static_cast<std::uint64_t>(hi - lo + 1));
}

// A width next to a multiple of the lane count or of a strip (kVecs batches), one past the
// kernels' depth and column blocks, or anything up to three strips.
Index pick_width(Random& rng) {
  switch (pick(rng, 0, 4)) {
    case 0: return std::max<Index>(1, pick(rng, 1, 6) * kLanes + pick(rng, -1, 1));
    case 1: return std::max<Index>(1, pick(rng, 1, 2) * Simd::kVecs * kLanes + pick(rng, -1, 1));
    case 2: return pick(rng, Simd::kDepth - 1, Simd::kOutBlock + kLanes + 1);
    default: return pick(rng, 1, 3 * Simd::kVecs * kLanes);
  }
}

// Half the time a rank the strip expand keeps in registers, else a larger one.
Index pick_rank(Random& rng) {
  return pick(rng, 0, 1) == 0 ? pick(rng, 1, Simd::kStripRank)
                              : pick(rng, Simd::kStripRank + 1, kMaxRank);
}

// Consecutive ranges covering rows [0, n) of random lengths: their first rows, then n.
std::vector<Index> random_cuts(Random& rng, Index n) {
  std::vector<Index> cuts{0};
  while (cuts.back() < n) cuts.push_back(std::min(n, cuts.back() + pick(rng, 1, n)));
  return cuts;
}

template <class T>
constexpr std::string_view storage_name() {
  if constexpr (std::is_same_v<T, float>) {
    return "f32";
  } else if constexpr (std::is_same_v<T, lorakit::Float16>) {
    return "f16";
  } else {
    return "bf16";
  }
}

}  // namespace

TEMPLATE_TEST_CASE("Grouping: SimdKernel gives a row the same bits in every split of the rows",
                   "[kernels][grouping]", float, lorakit::Float16, lorakit::BFloat16) {
  using T = TestType;
  Random rng(0x5eed0000 + sizeof(T));
  for (int trial = 0; trial < 150; ++trial) {
    const Index n = pick(rng, 1, 24);
    const Index in = pick_width(rng);
    const Index out = pick_width(rng);
    const Index r = pick_rank(rng);
    const std::vector<Index> cuts = random_cuts(rng, n);
    const float magnitude = 2.0f * rng.uniform();
    const float s = magnitude + (rng.uniform() < 0.0f ? -0.5f : 0.5f);
    const std::uint64_t seed = rng.next();
    CAPTURE(Simd::name, storage_name<T>(), trial, n, in, out, r, s, cuts);

    // Strided, unaligned activations; weights stored as T in padded rows.
    StridedBuffer x(n, in, 3, 1);
    x.fill(random_matrix(n, in, seed));
    const StoredWeights<T> a(random_matrix(in, r, seed + 1), 1);
    const StoredWeights<T> b(random_matrix(r, out, seed + 2), 2);
    const RowMatrix y0 = random_matrix(n, out, seed + 3);

    // One call over all rows.
    RowMatrix t_all(n, r);
    Simd::project(x.cview(), a.view(), make_view(t_all));
    RowMatrix y_all = y0;
    Simd::expand(make_cview(t_all), b.view(), s, make_view(y_all));

    // Every row alone; the ranges through project_rows / expand_rows on the whole views; the
    // ranges as views of their own rows (what LoRA::apply hands the kernel). Every expand
    // reads t_all, so a difference in y is the expand's own.
    RowMatrix t_one(n, r);
    RowMatrix y_one = y0;
    for (Index i = 0; i < n; ++i) {
      Simd::project(row_range(x.cview(), i, 1), a.view(), row_range(make_view(t_one), i, 1));
      Simd::expand(row_range(make_cview(t_all), i, 1), b.view(), s,
                   row_range(make_view(y_one), i, 1));
    }
    RowMatrix t_rows(n, r);
    RowMatrix y_rows = y0;
    RowMatrix t_views(n, r);
    RowMatrix y_views = y0;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
      const Index first = cuts[c];
      const Index count = cuts[c + 1] - first;
      Simd::project_rows(x.cview(), a.view(), make_view(t_rows), first, count);
      Simd::expand_rows(make_cview(t_all), b.view(), s, make_view(y_rows), first, count);
      Simd::project(row_range(x.cview(), first, count), a.view(),
                    row_range(make_view(t_views), first, count));
      Simd::expand(row_range(make_cview(t_all), first, count), b.view(), s,
                   row_range(make_view(y_views), first, count));
    }
    // The same weights in rows with no padding (the last rows' loads go through a padded copy)
    // and with wide padding (full-width loads everywhere).
    RowMatrix t_tight(n, r);
    RowMatrix y_tight = y0;
    RowMatrix t_wide(n, r);
    RowMatrix y_wide = y0;
    {
      const StoredWeights<T> a_tight(random_matrix(in, r, seed + 1), 0);
      const StoredWeights<T> b_tight(random_matrix(r, out, seed + 2), 0);
      const StoredWeights<T> a_wide(random_matrix(in, r, seed + 1), 4 * kLanes + 3);
      const StoredWeights<T> b_wide(random_matrix(r, out, seed + 2), 4 * kLanes + 3);
      Simd::project(x.cview(), a_tight.view(), make_view(t_tight));
      Simd::expand(make_cview(t_all), b_tight.view(), s, make_view(y_tight));
      Simd::project(x.cview(), a_wide.view(), make_view(t_wide));
      Simd::expand(make_cview(t_all), b_wide.view(), s, make_view(y_wide));
    }
    check_identical(make_cview(t_all), make_cview(t_one), "project, every row alone");
    check_identical(make_cview(t_all), make_cview(t_rows), "project_rows over the ranges");
    check_identical(make_cview(t_all), make_cview(t_views), "project on each range's rows");
    check_identical(make_cview(t_all), make_cview(t_tight), "project, A's rows unpadded");
    check_identical(make_cview(t_all), make_cview(t_wide), "project, A's rows padded wide");
    check_identical(make_cview(y_all), make_cview(y_one), "expand, every row alone");
    check_identical(make_cview(y_all), make_cview(y_rows), "expand_rows over the ranges");
    check_identical(make_cview(y_all), make_cview(y_views), "expand on each range's rows");
    check_identical(make_cview(y_all), make_cview(y_tight), "expand, B's rows unpadded");
    check_identical(make_cview(y_all), make_cview(y_wide), "expand, B's rows padded wide");
  }
}

TEST_CASE("Grouping: LoRALinear gives a row the same bits whatever the workspace and the runs",
          "[layer][grouping]") {
  using Layer = lorakit::LoRALinear<lorakit::DenseLinear<const float>, lorakit::LoRA, Simd>;
  Random rng(0x5eed1000);
  for (int trial = 0; trial < 120; ++trial) {
    // Trial 0 is the case of issue 12: a 16x16 layer, r = 8, six rows, 48 floats of workspace,
    // ids {0, 0, 0, none, 0, 0}.
    const bool issue = trial == 0;
    const Index n = issue ? 6 : pick(rng, 1, 24);
    const Index in = issue ? 16 : pick_width(rng);
    const Index out = issue ? 16 : pick_width(rng);
    const Index r1 = issue ? 8 : pick_rank(rng);
    const Index r2 = pick_rank(rng);
    const std::uint64_t seed = rng.next();

    const RowMatrix w = random_matrix(out, in, seed);
    const RowMatrix bias = random_matrix(1, out, seed + 1);
    Layer layer(lorakit::DenseLinear<const float>(w.data(), in, out, lorakit::WeightLayout::out_in,
                                                  bias.data()),
                Layer::Options{.max_rank = kMaxRank});
    const auto first = make_lora(in, out, r1, 2.0f * static_cast<float>(r1), seed + 2);
    const auto second = make_lora(in, out, r2, 8.0f, seed + 4);
    layer.attach("first", first->weights(), first->params,
                 {.scale = 0.75f, .owner = first, .id = 0});
    layer.attach("second", second->weights(), second->params,
                 {.scale = -1.5f, .owner = second, .id = 1});

    // Runs of rows for the first adapter, the second, none, or an id nothing is attached under.
    std::vector<AdapterId> ids;
    if (issue) {
      ids = {0, 0, 0, kNoAdapter, 0, 0};
    } else {
      const AdapterId choices[] = {0, 1, kNoAdapter, 7};
      while (static_cast<Index>(ids.size()) < n) {
        const AdapterId id = choices[pick(rng, 0, 3)];
        const Index run = std::min(pick(rng, 1, 6), n - static_cast<Index>(ids.size()));
        ids.insert(ids.end(), static_cast<std::size_t>(run), id);
      }
    }
    // Unsized (-1), or any number of floats up to what n rows need in one block.
    const Index floats =
        issue ? 48 : (pick(rng, 0, 7) == 0 ? -1 : pick(rng, 0, layer.workspace_floats(n)));
    lorakit::Workspace ws;
    if (floats > 0) ws.reserve(floats);
    CAPTURE(Simd::name, trial, n, in, out, r1, r2, floats, ids);

    StridedBuffer x(n, in, 2, 1);
    x.fill(random_matrix(n, in, seed + 6));
    RowMatrix y_mixed(n, out);
    layer.forward(x.cview(), make_view(y_mixed), ws, ids);
    RowMatrix y_all(n, out);
    layer.forward(x.cview(), make_view(y_all), ws);

    // Every row alone, with a workspace sized for one row.
    lorakit::Workspace ws_row(layer.workspace_floats(1));
    RowMatrix y_mixed_one(n, out);
    RowMatrix y_all_one(n, out);
    for (Index i = 0; i < n; ++i) {
      const std::span<const AdapterId> id(ids.data() + i, 1);
      layer.forward(row_range(x.cview(), i, 1), row_range(make_view(y_mixed_one), i, 1), ws_row,
                    id);
      layer.forward(row_range(x.cview(), i, 1), row_range(make_view(y_all_one), i, 1), ws_row);
    }
    check_identical(make_cview(y_mixed_one), make_cview(y_mixed),
                    "forward with per-row ids vs every row alone");
    check_identical(make_cview(y_all_one), make_cview(y_all), "forward vs every row alone");
  }
}
