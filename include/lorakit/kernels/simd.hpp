// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// SimdKernel<Arch>: the low-rank products with xsimd batches, register-blocked over rows.
#pragma once

#include <algorithm>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lorakit/config.hpp"
#include "lorakit/core/types.hpp"

// GCC 12 reports the AVX-512 conversion intrinsics' internal _mm*_undefined_* values as
// "may be used uninitialized" once they are inlined here; the values are fully written.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lorakit::kernels {

/// The low-rank path on SIMD registers of `Arch` (an xsimd architecture tag; the default is
/// what the compiler flags allow). A and B may be stored as float, Float16 or BFloat16
/// (WeightView<T>); they are widened to f32 in registers (AVX-512 / F16C conversions where the
/// arch has them, the exact scalar conversion otherwise) and every sum is accumulated in f32.
/// Single-threaded and reentrant; `project_rows` / `expand_rows` let a host split rows across its
/// own threads.
///
/// Blocking: kRows rows of x (or y) share every load of A (or B); each row keeps up to kVecs
/// (project) or kStripVecs (strip expand) batches of accumulators in registers, so a strip of
/// the expand has 12 (16 registers) or 16 (AVX-512) independent fma chains. A row of fewer than a
/// batch of columns is loaded with a full-width load when that stays inside the matrix (the extra
/// lanes are computed and thrown away), else through a zero-padded copy on the stack; partial
/// stores always go through the stack, so nothing outside the caller's views is read past the
/// matrix or written.
///
/// Bits: a row's result depends only on that row (of x, or of t and y), the weights' values,
/// the shapes (in, r, out) and s; never on the other rows of the call, the row range, where the
/// weights sit in memory or which kind of load reads a tail. project spreads each depth block
/// of kDepth rows of A over U interleaved partial sums (U = 4, 2 or 1, set by the width of the
/// column strip of A, that is by r), assigning rows to sums by the shape alone. Both expand paths
/// compute y = fma(s, acc, y), acc being one fma chain acc = fma(t[k], b[k], acc) over k = 0 .. r-1
/// in order from zero, so the choice between them changes the speed, not the bits. Bits do differ
/// between Arch (the lane count sets the strips) and from ScalarKernel.
template <class Arch = xsimd::default_arch>
struct SimdKernel {
  using Batch = xsimd::batch<float, Arch>;
  static constexpr Index kLanes = static_cast<Index>(Batch::size);
  static constexpr Index kRows = 4;
  static constexpr Index kVecs = kLanes >= 16 ? 4 : 2;       // fits 32 (AVX-512) or 16 registers
  static constexpr Index kStripVecs = kLanes >= 16 ? 4 : 3;  // batches per strip of expand
  static constexpr Index kDepth = 512;                       // rows of A per pass of project
  static constexpr Index kOutBlock = 1024;  // columns of y per pass of streamed expand
  static constexpr Index kGroup = 4;        // rows of B streamed together
  static constexpr Index kStripRank = 8;    // expand keeps r <= this in registers when n > kRows

  static constexpr std::string_view name = Arch::name();

  /// x:(n,in) * a:(in,r) -> t:(n,r).
  static void project(ConstMatrixView x, ConstMatrixView a, MatrixView t) noexcept {
    project_rows(x, weight_view(a), t, 0, x.rows());
  }

  /// y:(n,out) += s * t:(n,r) * b:(r,out).
  static void expand(ConstMatrixView t, ConstMatrixView b, float s, MatrixView y) noexcept {
    expand_rows(t, weight_view(b), s, y, 0, t.rows());
  }

  /// project() with A stored as T (float, Float16 or BFloat16), widened in registers.
  template <class T>
  static void project(ConstMatrixView x, WeightView<T> a, MatrixView t) noexcept {
    project_rows(x, a, t, 0, x.rows());
  }

  /// expand() with B stored as T (float, Float16 or BFloat16), widened in registers.
  template <class T>
  static void expand(ConstMatrixView t, WeightView<T> b, float s, MatrixView y) noexcept {
    expand_rows(t, b, s, y, 0, t.rows());
  }

  /// project() on rows [first, first + count) of x and t only (float A).
  static void project_rows(ConstMatrixView x, ConstMatrixView a, MatrixView t, Index first,
                           Index count) noexcept {
    project_rows(x, weight_view(a), t, first, count);
  }

  /// expand() on rows [first, first + count) of t and y only (float B).
  static void expand_rows(ConstMatrixView t, ConstMatrixView b, float s, MatrixView y, Index first,
                          Index count) noexcept {
    expand_rows(t, weight_view(b), s, y, first, count);
  }

  /// project() on rows [first, first + count) of x and t only.
  template <class T>
  static void project_rows(ConstMatrixView x, WeightView<T> a, MatrixView t, Index first,
                           Index count) noexcept {
    LORAKIT_ASSERT(x.cols() == a.rows && t.rows() == x.rows() && t.cols() == a.cols);
    LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= x.rows());
    const Index r = a.cols;
    if (count == 0 || r == 0) return;
    const Panel<T> panel{a.data, a.rows, r, a.stride};
    const Index in = a.rows;
    // Column chunks of A, then blocks of kDepth rows of A (a panel that stays in L2 while every
    // row block of x uses it); t accumulates across the depth blocks.
    for (Index c0 = 0; c0 < r; c0 += kVecs * kLanes) {
      const Index width = std::min(kVecs * kLanes, r - c0);
      for (Index k0 = 0; k0 < std::max<Index>(in, 1); k0 += kDepth) {
        const Index k1 = std::min(in, k0 + kDepth);
        for (Index i = first; i < first + count; i += kRows) {
          const Index rows = std::min(kRows, first + count - i);
          project_block(x, panel, t, i, rows, c0, width, k0, k1);
        }
      }
    }
  }

  /// expand() on rows [first, first + count) of t and y only.
  template <class T>
  static void expand_rows(ConstMatrixView t, WeightView<T> b, float s, MatrixView y, Index first,
                          Index count) noexcept {
    LORAKIT_ASSERT(t.cols() == b.rows && y.rows() == t.rows() && y.cols() == b.cols);
    LORAKIT_ASSERT(first >= 0 && count >= 0 && first + count <= t.rows());
    const Index out = b.cols;
    if (count == 0 || out == 0 || b.rows == 0) return;
    const Panel<T> panel{b.data, b.rows, out, b.stride};
    if (t.rows() <= kRows || b.rows > kStripRank) {
      expand_streamed(t, panel, s, y, first, count);
      return;
    }
    // Few rows of B and many rows of y: column strips of B (r <= kStripRank rows, few enough to
    // share L1 sets) with each [r, strip] panel used by every row block, sums in registers, each
    // the same chain over k that expand_streamed builds.
    for (Index c0 = 0; c0 < out; c0 += kStripVecs * kLanes) {
      const Index width = std::min(kStripVecs * kLanes, out - c0);
      for (Index i = first; i < first + count; i += kRows) {
        const Index rows = std::min(kRows, first + count - i);
        expand_block(t, panel, s, y, i, rows, c0, width);
      }
    }
  }

 private:
  // Widens kLanes elements of T at p to a float batch.
  template <class T>
  static Batch load_full(const T* p) noexcept {
    if constexpr (std::is_same_v<T, float>) {
      return Batch::load_unaligned(p);
    } else {
#if defined(__AVX512F__)
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        if constexpr (std::is_same_v<T, BFloat16>) {
          return Batch(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
        } else {
          return Batch(_mm512_cvtph_ps(h));
        }
      }
#endif
#if defined(__AVX2__)
      if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        if constexpr (std::is_same_v<T, BFloat16>) {
          return Batch(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
        }
#if defined(__F16C__)
        if constexpr (std::is_same_v<T, Float16>) return Batch(_mm256_cvtph_ps(h));
#endif
      }
#endif
#if defined(__SSE2__)
      if constexpr (std::is_same_v<T, BFloat16> && Batch::size == 4 &&
                    std::is_base_of_v<xsimd::sse2, Arch>) {
        const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        return Batch(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));
      }
#endif
      alignas(64) float tmp[Batch::size];
      for (std::size_t l = 0; l < Batch::size; ++l) tmp[l] = to_float(p[l]);
      return Batch::load_aligned(tmp);
    }
  }

  // A row-major matrix of T being streamed: rows of `cols` elements, `stride` apart.
  template <class T>
  struct Panel {
    const T* data;
    Index rows;
    Index cols;
    Index stride;
    // The batch at row k, columns [c, c + n) (n <= kLanes); lanes past n are unspecified.
    [[nodiscard]] Batch load(Index k, Index c, Index n) const noexcept {
      const T* p = data + k * stride + c;
      const T* last = data + (rows - 1) * stride + cols;  // one past the last element
      if (n == kLanes || p + kLanes <= last) return load_full(p);
      T tmp[Batch::size] = {};
      std::memcpy(tmp, p, static_cast<std::size_t>(n) * sizeof(T));
      return load_full(static_cast<const T*>(tmp));
    }
  };

  static void store_partial(float* dst, const Batch& v, Index n) noexcept {
    if (n == kLanes) {
      v.store_unaligned(dst);
      return;
    }
    alignas(64) float tmp[Batch::size];
    v.store_aligned(tmp);
    std::memcpy(dst, tmp, static_cast<std::size_t>(n) * sizeof(float));
  }

  static Batch load_partial(const float* src, Index n) noexcept {
    if (n == kLanes) return Batch::load_unaligned(src);
    alignas(64) float tmp[Batch::size] = {};
    std::memcpy(tmp, src, static_cast<std::size_t>(n) * sizeof(float));
    return Batch::load_aligned(tmp);
  }

  // t[i..i+rows, c0..c0+width) = x[i..i+rows, :] * a[:, c0..c0+width)
  template <class T>
  static void project_block(ConstMatrixView x, const Panel<T>& a, MatrixView t, Index i, Index rows,
                            Index c0, Index width, Index k0, Index k1) noexcept {
    const Index vecs = (width + kLanes - 1) / kLanes;
    dispatch(rows, vecs,
             [&]<Index R, Index V>() { project_micro<R, V, T>(x, a, t, i, c0, width, k0, k1); });
  }

  template <class T>
  static void expand_block(ConstMatrixView t, const Panel<T>& b, float s, MatrixView y, Index i,
                           Index rows, Index c0, Index width) noexcept {
    const Index vecs = (width + kLanes - 1) / kLanes;
    dispatch<kStripVecs>(
        rows, vecs, [&]<Index R, Index V>() { expand_micro<R, V, T>(t, b, s, y, i, c0, width); });
  }

  // Calls f.template operator()<R, V>() for runtime rows in [1, kRows], vecs in [1, MaxV].
  template <Index MaxV = kVecs, class F>
  static void dispatch(Index rows, Index vecs, F&& f) noexcept {
    auto by_vecs = [&]<Index R>() {
      if constexpr (MaxV >= 4) {
        if (vecs == 4) return f.template operator()<R, 4>();
      }
      if constexpr (MaxV >= 3) {
        if (vecs == 3) return f.template operator()<R, 3>();
      }
      if (vecs == 2) return f.template operator()<R, 2>();
      return f.template operator()<R, 1>();
    };
    switch (rows) {
      case 4: return by_vecs.template operator()<4>();
      case 3: return by_vecs.template operator()<3>();
      case 2: return by_vecs.template operator()<2>();
      default: return by_vecs.template operator()<1>();
    }
  }

  // R rows of V batches of accumulators.
  template <Index R, Index V>
  using Acc = Batch[static_cast<std::size_t>(R)][static_cast<std::size_t>(V)];

  // Independent accumulator sets that keep more FMAs in flight when a strip of A is narrow
  // (project only). It depends on V only, never on how many rows share the block, so a row's
  // result does not depend on how rows are grouped (row ranges give the same bits as one call).
  template <Index V>
  static constexpr Index kUnroll = V == 1 ? 4 : (V == 2 ? 2 : 1);

  // The row (of A or B) up to which every batch of a V-batch strip starting at column c0 can be
  // read with full-width loads without leaving the matrix.
  template <Index V, class T>
  static Index full_rows(const Panel<T>& m, Index c0, Index k_end) noexcept {
    const Index room = (m.rows - 1) * m.stride + m.cols - c0 - V * kLanes;
    return room < 0 ? 0 : std::min(k_end, room / m.stride + 1);
  }

  // full_rows() for the same shape stored with rows packed (stride == cols), the smallest
  // value any stride gives: depends on the shape only.
  template <Index V, class T>
  static Index packed_full_rows(const Panel<T>& m, Index c0, Index k_end) noexcept {
    const Index short_by = c0 + V * kLanes - m.cols;  // floats a full strip reads past a row
    const Index rows_out = short_by <= 0 ? 0 : (short_by + m.cols - 1) / m.cols;
    return std::min(k_end, m.rows - rows_out);
  }

  // acc[q][v] += rows[q][col] * batch v of row k of the strip (V batches at columns c0...),
  // every batch loaded full width (possibly reading lanes past the strip's width, still inside
  // the matrix, whose results are discarded). Forced inline: the accumulators must stay in
  // registers across the loop that calls it.
  template <Index R, Index V, bool Prefetch, class T>
  [[gnu::always_inline]] static void step(const Panel<T>& m, Index k, Index c0,
                                          const float* const* rows, Index col,
                                          Acc<R, V>& acc) noexcept {
    Batch mv[static_cast<std::size_t>(V)];
    const T* p = m.data + k * m.stride + c0;
    if constexpr (Prefetch) {
      // B is walked in column strips, one row at a time: fetch this row's next strip now, so
      // the walk over many rows reads each row sequentially (A's rows are consecutive anyway).
      for (Index v = 0; v < V; ++v) {
        __builtin_prefetch(p + (V + v) * kLanes);
      }
    }
    for (Index v = 0; v < V; ++v) mv[v] = load_full(p + v * kLanes);
    for (Index q = 0; q < R; ++q) {
      const Batch xb(rows[q][col]);
      for (Index v = 0; v < V; ++v) acc[q][v] = xsimd::fma(xb, mv[v], acc[q][v]);
    }
  }

  // step() for the last rows of the matrix, where a full-width load would leave it: every
  // batch goes through Panel::load (the last one `tail` columns wide).
  template <Index R, Index V, class T>
  static void step_padded(const Panel<T>& m, Index k, Index c0, Index tail,
                          const float* const* rows, Index col, Acc<R, V>& acc) noexcept {
    Batch mv[static_cast<std::size_t>(V)];
    for (Index v = 0; v < V; ++v) mv[v] = m.load(k, c0 + v * kLanes, v + 1 < V ? kLanes : tail);
    for (Index q = 0; q < R; ++q) {
      const Batch xb(rows[q][col]);
      for (Index v = 0; v < V; ++v) acc[q][v] = xsimd::fma(xb, mv[v], acc[q][v]);
    }
  }

  // sum over k in [k0, k1) of rows[q][k] * m[k, c0 .. c0 + width), into out[R][V], in U
  // interleaved partial sums, added in order at the end. Rows go to sums 0 .. U-1 in whole
  // groups of U from k0 up to a row set by the shape alone (not by the row stride, which
  // decides where full-width loads stay inside the matrix), and the rows after it to sum 0.
  // Each sum is one fma chain in k order from zero, so the bits depend on the values and the
  // shape only, whichever load reads a row. With U = 1 this is exactly the chain
  // expand_stream builds. Forced inline into the micro-kernels, as step() is: left to GCC 12,
  // whether an instantiation is outlined (its sums then passed through memory) depends on what
  // else the translation unit instantiates.
  template <Index R, Index V, Index U, bool Prefetch, class T>
  [[gnu::always_inline]] static void accumulate(const Panel<T>& m, const float* const* rows,
                                                Index k0, Index k1, Index c0, Index width,
                                                Acc<R, V>& out) noexcept {
    Batch acc[static_cast<std::size_t>(U)][static_cast<std::size_t>(R)]
             [static_cast<std::size_t>(V)];
    for (auto& set : acc) {
      for (auto& row : set) {
        for (auto& b : row) b = Batch(0.0f);
      }
    }
    const Index tail = width - (V - 1) * kLanes;
    const Index fast_end = std::max(k0, full_rows<V>(m, c0, k1));
    const Index group_end = U == 1 ? fast_end : std::max(k0, packed_full_rows<V>(m, c0, k1));
    Index k = k0;
    for (; k + U <= group_end; k += U) {
      for (Index u = 0; u < U; ++u) step<R, V, Prefetch>(m, k + u, c0, rows, k + u, acc[u]);
    }
    for (; k < fast_end; ++k) step<R, V, Prefetch>(m, k, c0, rows, k, acc[0]);
    for (; k < k1; ++k) step_padded<R, V>(m, k, c0, tail, rows, k, acc[0]);
    for (Index u = 1; u < U; ++u) {
      for (Index q = 0; q < R; ++q) {
        for (Index v = 0; v < V; ++v) acc[0][q][v] += acc[u][q][v];
      }
    }
    for (Index q = 0; q < R; ++q) {
      for (Index v = 0; v < V; ++v) out[q][v] = acc[0][q][v];
    }
  }

  // t[i..i+R, c0..c0+width) (+)= x[i..i+R, k0..k1) * a[k0..k1, c0..c0+width)
  template <Index R, Index V, class T>
  static void project_micro(ConstMatrixView x, const Panel<T>& a, MatrixView t, Index i, Index c0,
                            Index width, Index k0, Index k1) noexcept {
    const float* xr[static_cast<std::size_t>(R)];
    for (Index q = 0; q < R; ++q) xr[q] = x.data() + (i + q) * x.outerStride();
    Batch acc[static_cast<std::size_t>(R)][static_cast<std::size_t>(V)];
    accumulate<R, V, kUnroll<V>, false>(a, xr, k0, k1, c0, width, acc);
    const Index tail = width - (V - 1) * kLanes;
    for (Index q = 0; q < R; ++q) {
      float* tr = t.data() + (i + q) * t.outerStride() + c0;
      for (Index v = 0; v < V; ++v) {
        const Index n = v + 1 < V ? kLanes : tail;
        if (k0 > 0) acc[q][v] += load_partial(tr + v * kLanes, n);
        store_partial(tr + v * kLanes, acc[q][v], n);
      }
    }
  }

  // y[i..i+R, c0..c0+width) += s * t[i..i+R, :] * b[:, c0..c0+width), one pass over y.
  template <Index R, Index V, class T>
  static void expand_micro(ConstMatrixView t, const Panel<T>& b, float s, MatrixView y, Index i,
                           Index c0, Index width) noexcept {
    const float* tr[static_cast<std::size_t>(R)];
    for (Index q = 0; q < R; ++q) tr[q] = t.data() + (i + q) * t.outerStride();
    Batch acc[static_cast<std::size_t>(R)][static_cast<std::size_t>(V)];
    accumulate<R, V, 1, true>(b, tr, 0, t.cols(), c0, width, acc);
    const Batch sb(s);
    const Index tail = width - (V - 1) * kLanes;
    for (Index q = 0; q < R; ++q) {
      float* yr = y.data() + (i + q) * y.outerStride() + c0;
      for (Index v = 0; v < V; ++v) {
        const Index n = v + 1 < V ? kLanes : tail;
        store_partial(yr + v * kLanes, xsimd::fma(sb, acc[q][v], load_partial(yr + v * kLanes, n)),
                      n);
      }
    }
  }

  // expand() for decode (n <= kRows) and for ranks too large to keep in registers: blocks of
  // kOutBlock columns, B's rows read whole across the block (long sequential runs; walking down
  // a power-of-two row stride would pile every row into one cache set), the block's
  // [r, kOutBlock] panel reused by every row block from L2.
  template <class T>
  static void expand_streamed(ConstMatrixView t, const Panel<T>& b, float s, MatrixView y,
                              Index first, Index count) noexcept {
    for (Index c0 = 0; c0 < b.cols; c0 += kOutBlock) {
      const Index width = std::min(kOutBlock, b.cols - c0);
      for (Index i = first; i < first + count; i += kRows) {
        switch (std::min(kRows, first + count - i)) {
          case 4: expand_stream<4>(t, b, s, y, i, c0, width); break;
          case 3: expand_stream<3>(t, b, s, y, i, c0, width); break;
          case 2: expand_stream<2>(t, b, s, y, i, c0, width); break;
          default: expand_stream<1>(t, b, s, y, i, c0, width); break;
        }
      }
    }
  }

  // y[i..i+R, c0..c0+width) += s * t[i..i+R, :] * b[:, c0..c0+width), one pass over y.
  // The sums acc[q][c] = sum over k (in order) of t[q][k] * b[k][c] are built in an L1 block on
  // the stack, kGroup rows of B at a time: each group's t values stay broadcast in registers
  // while its rows of B stream by, so a row's bits do not depend on how rows are grouped.
  template <Index R, class T>
  static void expand_stream(ConstMatrixView t, const Panel<T>& b, float s, MatrixView y, Index i,
                            Index c0, Index width) noexcept {
    alignas(64) float acc[static_cast<std::size_t>(R)][static_cast<std::size_t>(kOutBlock)];
    const float* tr[static_cast<std::size_t>(R)];
    for (Index q = 0; q < R; ++q) tr[q] = t.data() + (i + q) * t.outerStride();
    const Index r = b.rows;
    for (Index k0 = 0; k0 < r; k0 += kGroup) {
      const bool first = k0 == 0;
      switch (std::min(kGroup, r - k0)) {
        case 4: expand_group<R, 4>(b, tr, k0, c0, width, first, acc); break;
        case 3: expand_group<R, 3>(b, tr, k0, c0, width, first, acc); break;
        case 2: expand_group<R, 2>(b, tr, k0, c0, width, first, acc); break;
        default: expand_group<R, 1>(b, tr, k0, c0, width, first, acc); break;
      }
    }
    const Batch sb(s);
    for (Index q = 0; q < R; ++q) {
      float* yr = y.data() + (i + q) * y.outerStride() + c0;
      for (Index c = 0; c < width; c += kLanes) {
        const Index n = std::min(kLanes, width - c);
        const Batch sum = Batch::load_aligned(&acc[q][c]);
        store_partial(yr + c, xsimd::fma(sb, sum, load_partial(yr + c, n)), n);
      }
    }
  }

  // acc[q][c] (+)= sum over j < G of t[q][k0 + j] * b[k0 + j][c0 + c], for c < width.
  template <Index R, Index G, class T>
  static void expand_group(
      const Panel<T>& b, const float* const* tr, Index k0, Index c0, Index width, bool first,
      float (&acc)[static_cast<std::size_t>(R)][static_cast<std::size_t>(kOutBlock)]) noexcept {
    Batch tb[static_cast<std::size_t>(R)][static_cast<std::size_t>(G)];
    for (Index q = 0; q < R; ++q) {
      for (Index j = 0; j < G; ++j) tb[q][j] = Batch(tr[q][k0 + j]);
    }
    const T* rows[static_cast<std::size_t>(G)];
    for (Index j = 0; j < G; ++j) rows[j] = b.data + (k0 + j) * b.stride + c0;
    // Columns [0, full) load full width from every row of the group without leaving B.
    const Index room = (b.rows - 1) * b.stride + b.cols - ((k0 + G - 1) * b.stride + c0);
    const Index full = std::clamp<Index>(room / kLanes * kLanes, 0, width);
    auto column = [&](Index c, auto load) {
      Batch bv[static_cast<std::size_t>(G)];
      for (Index j = 0; j < G; ++j) bv[j] = load(j, c);
      for (Index q = 0; q < R; ++q) {
        Batch a = first ? Batch(0.0f) : Batch::load_aligned(&acc[q][c]);
        for (Index j = 0; j < G; ++j) a = xsimd::fma(tb[q][j], bv[j], a);
        a.store_aligned(&acc[q][c]);
      }
    };
    Index c = 0;
    for (; c + kLanes <= full; c += kLanes) {
      column(c, [&](Index j, Index col) { return load_full(rows[j] + col); });
    }
    for (; c < width; c += kLanes) {
      const Index n = std::min(kLanes, width - c);
      column(c, [&](Index j, Index col) { return b.load(k0 + j, c0 + col, n); });
    }
  }
};

}  // namespace lorakit::kernels

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
