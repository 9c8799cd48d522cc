// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Int8Linear: a non-owning view of per-row symmetric int8 weights, their scales and an optional
// bias as a LinearBase, and the quantizer that writes that format.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>
#include <xsimd/xsimd.hpp>

#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE4_1__)
#include <smmintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "lorakit/config.hpp"
#include "lorakit/core/types.hpp"
#include "lorakit/error.hpp"

// GCC 12 reports the AVX-512 conversion intrinsics' internal _mm*_undefined_* values as
// "may be used uninitialized" once they are inlined here; the values are fully written.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lorakit {

/// A read-only view of row-major int8 values with a row stride (outer stride) >= cols: the
/// quantized weights q:(out,in) of an Int8Linear.
using Int8MatrixView =
    Eigen::Map<const Eigen::Matrix<std::int8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
               Eigen::Unaligned, Eigen::OuterStride<>>;

/// Owned weights in Int8Linear's format, as Int8Linear::quantize returns them:
/// W(o,k) ≈ scale[o] * q(o,k), q packed row-major (row stride in_features).
struct Int8Weights {
  Index in_features = 0;
  Index out_features = 0;
  std::vector<std::int8_t> q;  ///< q:(out,in), values in [-127, 127]
  std::vector<float> scale;    ///< scale:(out)
};

/// y = x * (diag(scale) * q)^T + b over int8 weights the host owns: per-output-row symmetric
/// quantization, W(o,k) ≈ scale[o] * q(o,k) with q in [-127, 127] (-128 is read as -128, but
/// quantize() never writes it). q:(out,in) is row-major and its rows may be strided; scale has
/// out floats, the bias none or out. The host keeps all three alive while the Int8Linear is
/// used. A LinearBase only: it offers no float W, so it is neither a MergeableBase (merge does
/// not compile) nor a ReadableWeightsBase (DoRA does not compile).
///
/// Arch is the xsimd architecture forward() runs on; Int8Linear is the one the compiler flags
/// allow (as DefaultKernel is), so translation units built with different -m flags name
/// different types.
template <class Arch = xsimd::default_arch>
class BasicInt8Linear {
  using Batch = xsimd::batch<float, Arch>;

 public:
  /// The xsimd architecture forward() runs on.
  using arch_type = Arch;
  /// Floats per SIMD batch: the column step of forward()'s sums.
  static constexpr Index kLanes = static_cast<Index>(Batch::size);

  /// A view of packed weights: out*in int8 values (row o at q + o*in), out scales, and out bias
  /// values or nullptr for no bias.
  /// @throws lorakit::Error (Errc::bad_config) for negative sizes, or a null q or scale with a
  ///   size.
  BasicInt8Linear(const std::int8_t* q, const float* scale, Index in_features, Index out_features,
                  const float* bias = nullptr)
      : BasicInt8Linear(checked_view(q, scale, in_features, out_features),
                        span_of(scale, out_features), span_of(bias, out_features)) {}

  /// A view of (possibly strided) weights q:(out,in), with scale:(out) and an optional
  /// bias:(out).
  /// @throws lorakit::Error (Errc::bad_config) for a row stride below in_features or a null q
  ///   with a size; (Errc::shape_mismatch) when scale is not out long, or the bias neither empty
  ///   nor out long.
  BasicInt8Linear(Int8MatrixView q, std::span<const float> scale, std::span<const float> bias = {})
      : q_(q), scale_(scale), bias_(bias) {
    const Index out = q_.rows();
    const Index in = q_.cols();
    if (q_.data() == nullptr && q_.size() != 0) {
      throw Error(Errc::bad_config, ErrorContext{.slot = "q", .actual = Shape{out, in}},
                  "Int8Linear needs non-null weights");
    }
    if (q_.outerStride() < in) {
      throw Error(
          Errc::bad_config, ErrorContext{.slot = "q", .actual = Shape{out, in}},
          "Int8Linear row stride " + std::to_string(q_.outerStride()) + " is below in_features");
    }
    if (static_cast<Index>(scale_.size()) != out || (scale_.data() == nullptr && out != 0)) {
      throw Error(Errc::shape_mismatch,
                  ErrorContext{.slot = "scale",
                               .expected = Shape{out},
                               .actual = Shape{static_cast<Index>(scale_.size())}},
                  "Int8Linear needs one scale per output row");
    }
    if (!bias_.empty() && static_cast<Index>(bias_.size()) != out) {
      throw Error(Errc::shape_mismatch,
                  ErrorContext{.slot = "bias",
                               .expected = Shape{out},
                               .actual = Shape{static_cast<Index>(bias_.size())}},
                  "Int8Linear bias length must equal out_features");
    }
  }

  /// A view of quantize()'s result (which must outlive this view), with an optional bias.
  /// @throws lorakit::Error as the view constructor does, and (Errc::shape_mismatch) when w.q
  ///   does not hold out*in values.
  explicit BasicInt8Linear(const Int8Weights& w, std::span<const float> bias = {})
      : BasicInt8Linear(checked_view(w), w.scale, bias) {}

  /// A temporary's storage would dangle: keep the Int8Weights alive and view it.
  BasicInt8Linear(Int8Weights&&, std::span<const float> = {}) = delete;

  [[nodiscard]] Index in_features() const noexcept { return q_.cols(); }
  [[nodiscard]] Index out_features() const noexcept { return q_.rows(); }
  /// The quantized weights q:(out,in) as the host stores them.
  [[nodiscard]] Int8MatrixView quantized() const noexcept {
    return Int8MatrixView(q_.data(), q_.rows(), q_.cols(), Eigen::OuterStride<>(q_.outerStride()));
  }
  /// scale:(out), one per output row.
  [[nodiscard]] std::span<const float> scales() const noexcept { return scale_; }
  /// bias:(out), or empty.
  [[nodiscard]] std::span<const float> bias() const noexcept { return bias_; }

  /// y:(n,out) = x:(n,in) * (diag(scale) * q)^T + b, in f32 on batches of Arch. Never
  /// allocates; reads nothing outside the views.
  ///
  /// Maths and bits, exactly: y(i,o) = fma(scale[o], S(i,o), bias[o]) (bias 0 without one), where
  /// S(i,o) = hadd(acc) and acc is one chain acc = fma(x(i, b), float(q(o, b)), acc) from zero
  /// over the column batches b = 0, 1, ... of kLanes columns in order, the last one zero-padded
  /// (x and q alike) when kLanes does not divide in; fma and hadd are xsimd's for Arch (fma
  /// rounds once on FMA architectures). Each int8 value is widened to f32 exactly. So y(i,o)
  /// depends only on x's row i, q's row o, scale[o], bias[o], in and Arch: never on the other
  /// rows of the call (a host splitting rows across calls or threads gets the same bits), on
  /// how outputs are grouped, or on where x, y and q sit in memory (strides, alignment). Bits
  /// differ between Arch (the lane count shapes the chain) and from forward_reference().
  ///
  /// Blocking: tiles of 8 output rows, and in each tile groups of up to 4 rows of x. A pass
  /// shares every widened batch of q among its rows of x and every batch of x among its output
  /// rows: 8 output rows for one row of x, 4 for two, and 4 (AVX-512) or 2 (16 registers) for
  /// three or four, so at least 8 independent chains are in flight in full groups.
  /// @pre x.cols() == in_features(), y.cols() == out_features(), y.rows() == x.rows()
  void forward(ConstMatrixView x, MatrixView y) const noexcept {
    LORAKIT_ASSERT(x.cols() == in_features() && y.cols() == out_features() && y.rows() == x.rows());
    const Index n = x.rows();
    const Index out = out_features();
    for (Index o0 = 0; o0 < out; o0 += kTile) {
      const Index width = std::min(kTile, out - o0);
      for (Index i = 0; i < n; i += kRows) {
        switch (std::min(kRows, n - i)) {
          case 4: tile<4>(x, y, i, o0, width); break;
          case 3: tile<3>(x, y, i, o0, width); break;
          case 2: tile<2>(x, y, i, o0, width); break;
          default: tile<1>(x, y, i, o0, width); break;
        }
      }
    }
  }

  /// The oracle: y(i,o) = float(bias[o] + scale[o] * sum_k x(i,k) * q(o,k)), the sum and the
  /// rest evaluated in double and rounded once. Plain loops, for tests.
  /// @pre as forward()
  void forward_reference(ConstMatrixView x, MatrixView y) const noexcept {
    LORAKIT_ASSERT(x.cols() == in_features() && y.cols() == out_features() && y.rows() == x.rows());
    for (Index i = 0; i < x.rows(); ++i) {
      for (Index o = 0; o < out_features(); ++o) {
        double sum = 0.0;
        for (Index k = 0; k < in_features(); ++k) {
          sum += static_cast<double>(x(i, k)) * static_cast<double>(q_(o, k));
        }
        const double b = bias_.empty() ? 0.0 : static_cast<double>(bias_[index(o)]);
        y(i, o) = static_cast<float>(b + static_cast<double>(scale_[index(o)]) * sum);
      }
    }
  }

  /// Quantizes float weights W:(out,in) row by row: scale[o] = max_k |W(o,k)| / 127 (in f32;
  /// a row of zeros gets scale 0 and q 0), q(o,k) = W(o,k) / scale[o] (in double) rounded to
  /// nearest, halves away from zero (std::round, as llama.cpp's Q8_0 does), clamped to
  /// [-127, 127]. So |W(o,k) - scale[o] * q(o,k)| <= scale[o] / 2 whenever scale[o] is a normal
  /// float (max_k |W(o,k)| >= 127 * 2^-126); rows tinier than that lose precision, down to
  /// scale 0 and q 0.
  /// @throws lorakit::Error (Errc::non_finite) for a NaN or infinite weight.
  [[nodiscard]] static Int8Weights quantize(ConstMatrixView w_out_in) {
    Int8Weights r{.in_features = w_out_in.cols(), .out_features = w_out_in.rows()};
    r.q.resize(index(w_out_in.rows() * w_out_in.cols()));
    r.scale.resize(index(w_out_in.rows()));
    quantize(w_out_in, r.q.data(), w_out_in.cols(), r.scale);
    return r;
  }

  /// quantize() into caller memory: row o of q at q + o*q_stride, out scales. Checks every
  /// weight before writing anything.
  /// @throws lorakit::Error (Errc::bad_config) for a null q with a size or q_stride below in;
  ///   (Errc::shape_mismatch) when scale is not out long; (Errc::non_finite) for a NaN or
  ///   infinite weight.
  static void quantize(ConstMatrixView w_out_in, std::int8_t* q, Index q_stride,
                       std::span<float> scale) {
    const Index out = w_out_in.rows();
    const Index in = w_out_in.cols();
    if ((q == nullptr && out * in != 0) || q_stride < in) {
      throw Error(Errc::bad_config, ErrorContext{.slot = "q", .actual = Shape{out, in}},
                  "Int8Linear::quantize needs non-null output rows of at least in_features "
                  "values (row stride " +
                      std::to_string(q_stride) + ")");
    }
    if (static_cast<Index>(scale.size()) != out) {
      throw Error(Errc::shape_mismatch,
                  ErrorContext{.slot = "scale",
                               .expected = Shape{out},
                               .actual = Shape{static_cast<Index>(scale.size())}},
                  "Int8Linear::quantize needs one scale per output row");
    }
    for (Index o = 0; o < out; ++o) {
      for (Index k = 0; k < in; ++k) {
        if (!std::isfinite(w_out_in(o, k))) {
          throw Error(Errc::non_finite, ErrorContext{.actual = Shape{out, in}},
                      "weight (" + std::to_string(o) + ", " + std::to_string(k) +
                          ") is not finite; Int8Linear::quantize needs finite weights");
        }
      }
    }
    for (Index o = 0; o < out; ++o) {
      float amax = 0.0f;
      for (Index k = 0; k < in; ++k) amax = std::max(amax, std::abs(w_out_in(o, k)));
      const float s = amax / 127.0f;
      scale[index(o)] = s;
      if (in == 0) continue;  // q may be null
      std::int8_t* row = q + o * q_stride;
      for (Index k = 0; k < in; ++k) {
        const double v =
            s == 0.0f ? 0.0
                      : std::round(static_cast<double>(w_out_in(o, k)) / static_cast<double>(s));
        row[k] = static_cast<std::int8_t>(std::clamp(v, -127.0, 127.0));
      }
    }
  }

 private:
  static constexpr Index kRows = 4;  // rows of x per pass
  static constexpr Index kTile = 8;  // output rows per tile
  // Output rows per pass for R rows of x: at least 8 accumulator chains, and with 16 vector
  // registers (lanes < 16) few enough that R*O accumulators, R batches of x and one of q fit.
  template <Index R>
  static constexpr Index kOuts = R == 1 ? 8 : (R == 2 || kLanes >= 16 ? 4 : 2);
  // Room for the sums of one row of a pass, a whole number of batches.
  static constexpr Index kSums = kTile > kLanes ? kTile : kLanes;

  static std::size_t index(Index i) noexcept { return static_cast<std::size_t>(i); }

  static std::span<const float> span_of(const float* p, Index n) noexcept {
    return p == nullptr || n <= 0 ? std::span<const float>() : std::span<const float>(p, index(n));
  }

  static Int8MatrixView checked_view(const std::int8_t* q, const float* scale, Index in,
                                     Index out) {
    if (in < 0 || out < 0 || (q == nullptr && in * out != 0) || (scale == nullptr && out != 0)) {
      throw Error(Errc::bad_config, ErrorContext{.actual = Shape{out, in}},
                  "Int8Linear needs non-negative sizes and non-null weights and scales");
    }
    return Int8MatrixView(q, out, in, Eigen::OuterStride<>(in));
  }

  static Int8MatrixView checked_view(const Int8Weights& w) {
    const Index in = w.in_features;
    const Index out = w.out_features;
    if (in < 0 || out < 0 || static_cast<Index>(w.q.size()) != in * out) {
      throw Error(Errc::shape_mismatch,
                  ErrorContext{.slot = "q",
                               .expected = Shape{out * in},
                               .actual = Shape{static_cast<Index>(w.q.size())}},
                  "Int8Weights holds " + std::to_string(w.q.size()) + " values for [" +
                      std::to_string(out) + ", " + std::to_string(in) + "] weights");
    }
    return Int8MatrixView(w.q.data(), out, in, Eigen::OuterStride<>(in));
  }

  // kLanes int8 values at p widened exactly to f32 (reads exactly kLanes bytes).
  [[gnu::always_inline]] static Batch widen(const std::int8_t* p) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      return Batch(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)));
    }
#endif
#if defined(__AVX2__)
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      return Batch(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
    }
#endif
#if defined(__AVX__)
    if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      const __m128i lo = _mm_cvtepi8_epi32(b);
      const __m128i hi = _mm_cvtepi8_epi32(_mm_srli_si128(b, 4));
      return Batch(_mm256_cvtepi32_ps(_mm256_set_m128i(hi, lo)));
    }
#endif
#if defined(__SSE2__)
    if constexpr (Batch::size == 4 && std::is_base_of_v<xsimd::sse2, Arch>) {
      std::int32_t bits;
      std::memcpy(&bits, p, sizeof bits);
      const __m128i b = _mm_cvtsi32_si128(bits);
#if defined(__SSE4_1__)
      if constexpr (std::is_base_of_v<xsimd::sse4_1, Arch>) {
        return Batch(_mm_cvtepi32_ps(_mm_cvtepi8_epi32(b)));
      }
#endif
      // Each byte into the top of a 32-bit lane, then an arithmetic shift back down.
      const __m128i bytes = _mm_unpacklo_epi8(b, b);
      const __m128i words = _mm_unpacklo_epi16(bytes, bytes);
      return Batch(_mm_cvtepi32_ps(_mm_srai_epi32(words, 24)));
    }
#endif
    alignas(64) float tmp[Batch::size];
    for (std::size_t l = 0; l < Batch::size; ++l) tmp[l] = static_cast<float>(p[l]);
    return Batch::load_aligned(tmp);
  }

  // acc[r][p] = fma(x batch of row r at column k, widened q batch of row p at k, acc[r][p]).
  // Forced inline: the accumulators must stay in registers across the loop that calls it.
  template <Index R, Index O>
  using Acc = Batch[static_cast<std::size_t>(R)][static_cast<std::size_t>(O)];

  template <Index R, Index O>
  [[gnu::always_inline]] static void step(const float* const* xr, const std::int8_t* const* qr,
                                          Index k, Acc<R, O>& acc) noexcept {
    Batch xb[static_cast<std::size_t>(R)];
    for (Index r = 0; r < R; ++r) xb[r] = Batch::load_unaligned(xr[r] + k);
    for (Index p = 0; p < O; ++p) {
      const Batch qb = widen(qr[p] + k);
      for (Index r = 0; r < R; ++r) acc[r][p] = xsimd::fma(xb[r], qb, acc[r][p]);
    }
  }

  // Rows [i, i+R) of y, output rows [o0, o0+width) (width <= kTile), kOuts<R> at a time.
  template <Index R>
  void tile(ConstMatrixView x, MatrixView y, Index i, Index o0, Index width) const noexcept {
    constexpr Index O = kOuts<R>;
    for (Index o = o0; o < o0 + width; o += O) pass<R, O>(x, y, i, o, std::min(O, o0 + width - o));
  }

  // y[i..i+R, o..o+count) for count <= O output rows. Missing output rows (count < O) repeat
  // the last one (valid memory, same work) and are not stored.
  template <Index R, Index O>
  void pass(ConstMatrixView x, MatrixView y, Index i, Index o, Index count) const noexcept {
    const Index in = q_.cols();
    // With in == 0 nothing is read (and the data may be null).
    const float* xr[static_cast<std::size_t>(R)];
    for (Index r = 0; r < R; ++r) xr[r] = in == 0 ? nullptr : x.data() + (i + r) * x.outerStride();
    const std::int8_t* qr[static_cast<std::size_t>(O)];
    for (Index p = 0; p < O; ++p) {
      qr[p] = in == 0 ? nullptr : q_.data() + (o + std::min(p, count - 1)) * q_.outerStride();
    }
    Acc<R, O> acc;
    for (auto& row : acc) {
      for (auto& a : row) a = Batch(0.0f);
    }
    const Index full = in / kLanes * kLanes;
    for (Index k = 0; k < full; k += kLanes) step<R, O>(xr, qr, k, acc);
    if (full < in) {
      // The last, partial batch of columns through zero-padded copies of x and q.
      const auto tail = static_cast<std::size_t>(in - full);
      alignas(64) float xt[static_cast<std::size_t>(R)][Batch::size] = {};
      std::int8_t qt[static_cast<std::size_t>(O)][Batch::size] = {};
      const float* xp[static_cast<std::size_t>(R)];
      const std::int8_t* qp[static_cast<std::size_t>(O)];
      for (Index r = 0; r < R; ++r) {
        std::memcpy(xt[r], xr[r] + full, tail * sizeof(float));
        xp[r] = xt[r];
      }
      for (Index p = 0; p < O; ++p) {
        std::memcpy(qt[p], qr[p] + full, tail);
        qp[p] = qt[p];
      }
      step<R, O>(xp, qp, 0, acc);
    }
    // y = fma(scale, sum, bias) on whole batches of the pass's outputs; count of them stored.
    for (Index r = 0; r < R; ++r) {
      alignas(64) float sum[static_cast<std::size_t>(kSums)] = {};
      alignas(64) float sc[static_cast<std::size_t>(kSums)] = {};
      alignas(64) float bi[static_cast<std::size_t>(kSums)] = {};
      for (Index p = 0; p < count; ++p) {
        sum[p] = xsimd::hadd(acc[r][p]);
        sc[p] = scale_[index(o + p)];
        bi[p] = bias_.empty() ? 0.0f : bias_[index(o + p)];
      }
      float* yr = y.data() + (i + r) * y.outerStride() + o;
      for (Index c = 0; c < count; c += kLanes) {
        alignas(64) float res[Batch::size];
        xsimd::fma(Batch::load_aligned(sc + c), Batch::load_aligned(sum + c),
                   Batch::load_aligned(bi + c))
            .store_aligned(res);
        std::memcpy(yr + c, res, index(std::min(kLanes, count - c)) * sizeof(float));
      }
    }
  }

  Int8MatrixView q_;
  std::span<const float> scale_;
  std::span<const float> bias_;
};

/// Int8Linear on the widest architecture the translation unit's compiler flags allow.
using Int8Linear = BasicInt8Linear<>;

}  // namespace lorakit

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
