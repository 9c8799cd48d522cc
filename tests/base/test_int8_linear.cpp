// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// Int8Linear: the quantizer's bound, forward against the double oracle on every tail for every
// architecture the build allows, bits independent of rows and memory, LoRA on it, no merge.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "adapter_fixture.hpp"
#include "alloc_counter.hpp"  // this executable's only include of it: counts operator new
#include "approx.hpp"
#include "lora_fixture.hpp"
#include "lorakit/base/dense_linear.hpp"
#include "lorakit/base/int8_linear.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/layer/lora_linear.hpp"
#include "lorakit/runtime/model.hpp"
#include "lorakit/variants/dora.hpp"
#include "lorakit/variants/lora.hpp"
#include "random.hpp"
#include "reference.hpp"

using lorakit::ConstMatrixView;
using lorakit::Errc;
using lorakit::Index;
using lorakit::Int8Linear;
using lorakit::Int8MatrixView;
using lorakit::Int8Weights;
using lorakit::LoRA;
using lorakit::RowMatrix;
using namespace lorakit::test;

namespace {

// Int8Linear on every xsimd architecture this build's flags allow (SSE2 only in the baseline
// build; SSE2 to AVX-512 with -march=native), so each widening path runs.
template <class List>
struct OnEveryArch;
template <class... Archs>
struct OnEveryArch<xsimd::arch_list<Archs...>> {
  using type = std::tuple<lorakit::BasicInt8Linear<Archs>...>;
};
using EveryInt8Linear = OnEveryArch<xsimd::supported_architectures>::type;

constexpr double kU = 0x1p-24;  // unit roundoff of f32

// gamma_k = k*u / (1 - k*u): the bound on the relative error of k roundings (Higham, Lemma 3.1).
double gamma(Index k) {
  const double ku = static_cast<double>(k) * kU;
  return ku / (1.0 - ku);
}

// rows x cols values of T in a buffer exactly as long as the view's span (reading past the
// view's last element leaves the allocation, which ASan reports), rows `pad` values longer
// than cols, the first value `offset` into the buffer; everything outside the view holds
// `fill`.
template <class T>
struct Tight {
  std::vector<T> storage;
  Index rows, cols, stride, offset;
  T fill;

  Tight(Index r, Index c, Index pad, Index off, T fill_value)
      : storage(span_of(r, c, c + pad, off), fill_value),
        rows(r),
        cols(c),
        stride(c + pad),
        offset(off),
        fill(fill_value) {}
  static std::size_t span_of(Index r, Index c, Index s, Index off) {
    return static_cast<std::size_t>(r == 0 ? off : off + (r - 1) * s + c);
  }
  T* data() { return storage.data() + offset; }
  const T* data() const { return storage.data() + offset; }
  T& at(Index i, Index j) { return data()[i * stride + j]; }
  // True when every value outside the view still holds the fill (bit for bit: the fill may be
  // a NaN).
  bool padding_untouched() const {
    for (Index k = 0; k < static_cast<Index>(storage.size()); ++k) {
      const Index rel = k - offset;
      const bool inside = rel >= 0 && rel < rows * stride && rel % stride < cols;
      if (!inside && std::memcmp(&storage[static_cast<std::size_t>(k)], &fill, sizeof(T)) != 0) {
        return false;
      }
    }
    return true;
  }
};

struct FloatBuffer : Tight<float> {
  using Tight::Tight;
  ConstMatrixView cview() const { return lorakit::make_view(data(), rows, cols, stride); }
  lorakit::MatrixView view() { return lorakit::make_view(data(), rows, cols, stride); }
  void fill_with(const RowMatrix& m) {
    for (Index i = 0; i < rows; ++i) {
      for (Index j = 0; j < cols; ++j) at(i, j) = m(i, j);
    }
  }
};

struct Int8Buffer : Tight<std::int8_t> {
  using Tight::Tight;
  Int8MatrixView cview() const {
    return Int8MatrixView(data(), rows, cols, Eigen::OuterStride<>(stride));
  }
  void fill_with(const Int8Weights& w) {
    for (Index i = 0; i < rows; ++i) {
      std::memcpy(&at(i, 0), w.q.data() + i * cols, static_cast<std::size_t>(cols));
    }
  }
};

// The double-precision value of y = x * (diag(scale) q)^T + b (+ s (x A) B) and the error
// bound of an f32 computation of it, per element.
struct Expected {
  lorakit::test::DoubleMatrix value;
  lorakit::test::DoubleMatrix tolerance;
};

// The base's part. Derivation of the bound: each int8 value widens to f32 exactly, so the sum
// S = sum_k x_k q_k has `in` exact products, each rounded once (by the fma that adds it, or by
// its own multiply); they are added along the lane chains and then the hadd tree, where an
// addition with a zero-padded lane's exact 0 is exact, so each product meets at most in - 1
// other roundings: |S_hat - S| <= gamma_in * sum_k |x_k q_k|. Then y = fma(scale, S_hat, b)
// (one rounding, or two without FMA): with M = sum_k |x_k| |scale q_k|,
// |y_hat - y| <= gamma_in * M + 2u(1 + gamma_in)(1 + u) * M + u |b|
//             <= gamma_in * M + gamma_3 * (M + |b|).
// The double reference adds at most in * 2^-53 * M, far inside the second term.
Expected base_expected(ConstMatrixView x, const Int8MatrixView& q, std::span<const float> scale,
                       std::span<const float> bias) {
  const Index n = x.rows();
  const Index in = q.cols();
  const Index out = q.rows();
  Expected e{lorakit::test::DoubleMatrix::Zero(n, out), lorakit::test::DoubleMatrix::Zero(n, out)};
  for (Index i = 0; i < n; ++i) {
    for (Index o = 0; o < out; ++o) {
      const double s = scale[static_cast<std::size_t>(o)];
      const double b = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(o)];
      double sum = 0.0;
      double mag = 0.0;
      for (Index k = 0; k < in; ++k) {
        const double p = static_cast<double>(x(i, k)) * static_cast<double>(q(o, k));
        sum += p;
        mag += std::abs(p);
      }
      e.value(i, o) = b + s * sum;
      const double m = std::abs(s) * mag;
      e.tolerance(i, o) = gamma(in) * m + gamma(3) * (m + std::abs(b)) + 1e-30;
    }
  }
  return e;
}

// Checks |actual - expected| <= tolerance elementwise; on failure prints the shape and the worst
// element's index, expected and actual values and tolerance.
void check_within(const Expected& e, ConstMatrixView actual, const std::string& what) {
  REQUIRE(actual.rows() == e.value.rows());
  REQUIRE(actual.cols() == e.value.cols());
  double worst = 0.0;
  Index wi = -1;
  Index wj = -1;
  for (Index i = 0; i < actual.rows(); ++i) {
    for (Index j = 0; j < actual.cols(); ++j) {
      const double got = actual(i, j);
      const double ratio = std::isfinite(got) ? std::abs(got - e.value(i, j)) / e.tolerance(i, j)
                                              : std::numeric_limits<double>::infinity();
      if (ratio > worst || wi < 0) {
        worst = ratio;
        wi = i;
        wj = j;
      }
    }
  }
  std::ostringstream msg;
  msg.precision(9);
  msg << what << ": shape [" << actual.rows() << ", " << actual.cols() << "]";
  if (wi >= 0) {
    msg << ", worst at [" << wi << ", " << wj << "]: expected " << e.value(wi, wj) << ", actual "
        << actual(wi, wj) << ", tolerance " << e.tolerance(wi, wj)
        << " (error / tolerance = " << worst << ")";
  }
  INFO(msg.str());
  CHECK(worst <= 1.0);
}

// The largest |W(o,k) - scale[o] q(o,k)| / scale[o] (in double, exact for these values).
double worst_rounding(const RowMatrix& w, const Int8Weights& qw) {
  double worst = 0.0;
  for (Index o = 0; o < w.rows(); ++o) {
    const double s = qw.scale[static_cast<std::size_t>(o)];
    for (Index k = 0; k < w.cols(); ++k) {
      const double q = qw.q[static_cast<std::size_t>(o * w.cols() + k)];
      const double err = std::abs(static_cast<double>(w(o, k)) - s * q);
      worst = std::max(worst, s == 0.0 ? (err == 0.0 ? 0.0 : HUGE_VAL) : err / s);
    }
  }
  return worst;
}

template <class L>
concept CanMerge = requires(L& l) {
  l.merge("a");
};
template <class L>
concept CanUnmerge = requires(L& l) {
  l.unmerge("a");
};

bool has_code(const lorakit::Error& e, Errc code) { return e.code() == code; }

// max |m(i,j)| (a plain loop: Eigen's AVX-512 reduction trips GCC 12's -Wmaybe-uninitialized).
float max_abs(ConstMatrixView m) {
  float v = 0.0f;
  for (Index i = 0; i < m.rows(); ++i) {
    for (Index j = 0; j < m.cols(); ++j) v = std::max(v, std::abs(m(i, j)));
  }
  return v;
}

}  // namespace

TEST_CASE("Int8Linear::quantize: per-row scale max|W|/127, q within half a step of W/scale",
          "[base][int8]") {
  const Index out = GENERATE(1, 5, 33);
  const Index in = GENERATE(1, 7, 100);
  CAPTURE(out, in);
  RowMatrix w = random_matrix(out, in, 40, 3.0f);
  if (out > 1) w.row(1).setZero();  // a row of zeros gets scale 0 and q 0
  if (out > 2) w(2, 0) = -1e3f;     // one large value: the rest of its row quantizes coarsely
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(w));
  REQUIRE(qw.in_features == in);
  REQUIRE(qw.out_features == out);
  REQUIRE(qw.q.size() == static_cast<std::size_t>(out * in));
  REQUIRE(qw.scale.size() == static_cast<std::size_t>(out));
  for (Index o = 0; o < out; ++o) {
    CAPTURE(o);
    const float amax = max_abs(lorakit::row_range(lorakit::make_cview(w), o, 1));
    CHECK(qw.scale[static_cast<std::size_t>(o)] == amax / 127.0f);
    int largest = 0;
    for (Index k = 0; k < in; ++k) {
      const int q = qw.q[static_cast<std::size_t>(o * in + k)];
      CHECK(q >= -127);
      CHECK(q <= 127);
      largest = std::max(largest, std::abs(q));
    }
    CHECK(largest == (amax == 0.0f ? 0 : 127));  // the largest |W| maps to +-127
  }
  CHECK(worst_rounding(w, qw) <= 0.5);

  // Into caller memory with a row stride: the same values, the padding untouched.
  Int8Buffer q(out, in, 3, 1, std::int8_t{-128});
  std::vector<float> scale(static_cast<std::size_t>(out), -1.0f);
  Int8Linear::quantize(lorakit::make_cview(w), q.data(), q.stride, scale);
  CHECK(scale == qw.scale);
  for (Index o = 0; o < out; ++o) {
    CHECK(std::memcmp(&q.at(o, 0), qw.q.data() + o * in, static_cast<std::size_t>(in)) == 0);
  }
  CHECK(q.padding_untouched());
}

TEST_CASE("Int8Linear::quantize: rounds to nearest with halves away from zero", "[base][int8]") {
  // max |W| = 127 gives scale 1 exactly, so q is W rounded.
  RowMatrix w(1, 7);
  w << 127.0f, 2.5f, -2.5f, 0.5f, -0.49f, 3.4999f, -126.5f;
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(w));
  REQUIRE(qw.scale[0] == 1.0f);
  CHECK(qw.q == std::vector<std::int8_t>{127, 3, -3, 1, 0, 3, -127});
}

TEST_CASE("Int8Linear::quantize: non-finite weights and bad storage are refused before writing",
          "[base][int8]") {
  RowMatrix w = random_matrix(3, 4, 41);
  std::vector<std::int8_t> q(12, 9);
  std::vector<float> scale(3, -1.0f);
  w(2, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_MATCHES(Int8Linear::quantize(lorakit::make_cview(w), q.data(), 4, scale),
                       lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>([](const lorakit::Error& e) {
                         return e.code() == Errc::non_finite &&
                                std::string(e.what()).find("(2, 3)") != std::string::npos;
                       }));
  CHECK(q == std::vector<std::int8_t>(12, 9));
  CHECK(scale == std::vector<float>(3, -1.0f));
  w(2, 3) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_MATCHES(Int8Linear::quantize(lorakit::make_cview(w)), lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>(
                           [](const lorakit::Error& e) { return has_code(e, Errc::non_finite); }));
  w(2, 3) = 1.0f;
  CHECK_THROWS_MATCHES(Int8Linear::quantize(lorakit::make_cview(w), q.data(), 3, scale),
                       lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>(
                           [](const lorakit::Error& e) { return has_code(e, Errc::bad_config); }));
  CHECK_THROWS_MATCHES(Int8Linear::quantize(lorakit::make_cview(w), nullptr, 4, scale),
                       lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>(
                           [](const lorakit::Error& e) { return has_code(e, Errc::bad_config); }));
  std::vector<float> short_scale(2);
  CHECK_THROWS_MATCHES(
      Int8Linear::quantize(lorakit::make_cview(w), q.data(), 4, short_scale), lorakit::Error,
      Catch::Matchers::Predicate<lorakit::Error>([](const lorakit::Error& e) {
        return e.code() == Errc::shape_mismatch &&
               std::string(e.what()).find("expected [3], got [2]") != std::string::npos;
      }));
}

TEMPLATE_LIST_TEST_CASE("Int8Linear: forward matches the double oracle on odd shapes and strides",
                        "[base][int8]", EveryInt8Linear) {
  using Base = TestType;
  const Index in = GENERATE(1, 3, 7, 17, 33, 100, 257);
  const Index out = GENERATE(1, 3, 7, 17, 33, 100, 257);
  const Index n = GENERATE(0, 1, 2, 3, 5, 9);  // 3: a group of three rows
  const bool with_bias = GENERATE(false, true);
  const bool strided = GENERATE(false, true);
  const std::string arch = Base::arch_type::name();
  CAPTURE(arch, n, in, out, with_bias, strided);

  const RowMatrix w = random_matrix(out, in, 50, 2.0f);
  const Int8Weights qw = Base::quantize(lorakit::make_cview(w));
  const RowMatrix bias_values = random_matrix(1, out, 51);
  const std::span<const float> bias =
      with_bias ? std::span<const float>(bias_values.data(), static_cast<std::size_t>(out))
                : std::span<const float>();
  // Padding a NaN in x (any read of it would poison a sum) and an int8 value quantize never
  // writes in q; the buffers end where the views end.
  const Index pad = strided ? 1 : 0;
  Int8Buffer q(out, in, 5 * pad, 3 * pad, std::int8_t{-128});
  q.fill_with(qw);
  FloatBuffer x(n, in, 3 * pad, pad, std::numeric_limits<float>::quiet_NaN());
  x.fill_with(random_matrix(n, in, 52));
  FloatBuffer y(n, out, 2 * pad, pad, StridedBuffer::kSentinel);

  const Base base(q.cview(), qw.scale, bias);
  CHECK(base.in_features() == in);
  CHECK(base.out_features() == out);
  base.forward(x.cview(), y.view());
  const Expected expected = base_expected(x.cview(), q.cview(), qw.scale, bias);
  check_within(expected, y.cview(), "Int8Linear::forward");
  CHECK(y.padding_untouched());

  // The oracle meets the same bound (it is the exact sum, rounded once).
  FloatBuffer y_ref(n, out, 0, 0, 0.0f);
  base.forward_reference(x.cview(), y_ref.view());
  check_within(expected, y_ref.cview(), "Int8Linear::forward_reference");
}

TEMPLATE_LIST_TEST_CASE(
    "Int8Linear: a row's bits do not depend on the other rows, the row split or the memory",
    "[base][int8][bits]", EveryInt8Linear) {
  using Base = TestType;
  const Index in = GENERATE(5, 33, 100, 257);
  const Index out = GENERATE(3, 17);
  const Index n = 9;
  const std::string arch = Base::arch_type::name();
  CAPTURE(arch, in, out);
  const Int8Weights qw = Base::quantize(lorakit::make_cview(random_matrix(out, in, 60)));
  const RowMatrix bias = random_matrix(1, out, 61);
  const std::span<const float> b(bias.data(), static_cast<std::size_t>(out));
  const RowMatrix x = random_matrix(n, in, 62);

  const Base packed(qw, b);
  RowMatrix all(n, out);
  packed.forward(lorakit::make_cview(x), lorakit::make_view(all));

  SECTION("each row alone") {
    for (Index i = 0; i < n; ++i) {
      CAPTURE(i);
      RowMatrix one(1, out);
      packed.forward(lorakit::row_range(lorakit::make_cview(x), i, 1), lorakit::make_view(one));
      check_identical(lorakit::row_range(lorakit::make_cview(all), i, 1), lorakit::make_cview(one),
                      "row alone vs all rows");
    }
  }
  SECTION("row ranges of every length") {
    for (Index first = 0; first < n; ++first) {
      for (Index count = 1; first + count <= n; ++count) {
        CAPTURE(first, count);
        RowMatrix part(count, out);
        packed.forward(lorakit::row_range(lorakit::make_cview(x), first, count),
                       lorakit::make_view(part));
        check_identical(lorakit::row_range(lorakit::make_cview(all), first, count),
                        lorakit::make_cview(part), "row range vs all rows");
      }
    }
  }
  SECTION("strided, unaligned x, y and q") {
    for (Index off : {1, 2, 3}) {
      CAPTURE(off);
      Int8Buffer q(out, in, off + 1, off, std::int8_t{0});
      q.fill_with(qw);
      FloatBuffer xs(n, in, off, off, 0.0f);
      xs.fill_with(x);
      FloatBuffer ys(n, out, off, off, 0.0f);
      const Base strided(q.cview(), qw.scale, b);
      strided.forward(xs.cview(), ys.view());
      check_identical(lorakit::make_cview(all), ys.cview(), "strided vs packed");
    }
  }
}

TEST_CASE("Int8Linear: degenerate shapes: no rows, no inputs (y = bias), no outputs",
          "[base][int8]") {
  const std::vector<float> scale = {0.5f, 2.0f, 1.0f};
  const std::vector<float> bias = {1.0f, -2.0f, 3.0f};
  const Int8Linear no_inputs(static_cast<const std::int8_t*>(nullptr), scale.data(), 0, 3,
                             bias.data());
  RowMatrix y = RowMatrix::Constant(2, 3, 7.0f);
  const RowMatrix x(2, 0);
  no_inputs.forward(lorakit::make_cview(x), lorakit::make_view(y));
  for (Index i = 0; i < 2; ++i) {
    for (Index o = 0; o < 3; ++o) CHECK(y(i, o) == bias[static_cast<std::size_t>(o)]);
  }
  const std::vector<std::int8_t> q(6, 1);
  const Int8Linear base(q.data(), scale.data(), 2, 3);
  const RowMatrix none(0, 2);
  RowMatrix y0(0, 3);
  base.forward(lorakit::make_cview(none), lorakit::make_view(y0));
  const Int8Linear no_outputs(q.data(), static_cast<const float*>(nullptr), 2, 0);
  RowMatrix x1 = RowMatrix::Ones(1, 2);
  RowMatrix y1(1, 0);
  no_outputs.forward(lorakit::make_cview(x1), lorakit::make_view(y1));
  CHECK(no_outputs.out_features() == 0);
}

TEST_CASE("Int8Linear: forward allocates nothing", "[base][int8]") {
  const Index in = GENERATE(7, 4096);
  const Index n = GENERATE(1, 7, 64);
  const Index out = 67;
  CAPTURE(in, n);
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(random_matrix(out, in, 70)));
  const Int8Linear base(qw);
  const RowMatrix x = random_matrix(n, in, 71);
  RowMatrix y(n, out);
  const long before = allocation_count.load();
  base.forward(lorakit::make_cview(x), lorakit::make_view(y));
  CHECK(allocation_count.load() == before);
}

TEST_CASE("Int8Linear: accessors show the host's storage", "[base][int8]") {
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(random_matrix(4, 6, 80)));
  const std::vector<float> bias = {1.0f, 2.0f, 3.0f, 4.0f};
  const Int8Linear base(qw, bias);
  CHECK(base.quantized().data() == qw.q.data());
  CHECK(base.quantized().rows() == 4);
  CHECK(base.quantized().cols() == 6);
  CHECK(base.quantized().outerStride() == 6);
  CHECK(base.scales().data() == qw.scale.data());
  CHECK(base.scales().size() == 4);
  CHECK(base.bias().data() == bias.data());
  CHECK(Int8Linear(qw).bias().empty());
  CHECK(base.quantized()(2, 5) == qw.q[2 * 6 + 5]);
}

TEST_CASE("Int8Linear: bad sizes, null pointers and short scales or bias are refused",
          "[base][int8]") {
  const std::vector<std::int8_t> q(12, 1);
  const std::vector<float> scale(4, 1.0f);
  auto code_is = [](Errc code) {
    return Catch::Matchers::Predicate<lorakit::Error>(
        [code](const lorakit::Error& e) { return e.code() == code; },
        "an Error with code " + std::string(lorakit::to_string(code)));
  };
  // The pointer form: packed [4, 3].
  CHECK_NOTHROW(Int8Linear(q.data(), scale.data(), 3, 4));
  CHECK_THROWS_MATCHES(Int8Linear(q.data(), scale.data(), -3, 4), lorakit::Error,
                       code_is(Errc::bad_config));
  CHECK_THROWS_MATCHES(Int8Linear(q.data(), scale.data(), 3, -4), lorakit::Error,
                       code_is(Errc::bad_config));
  CHECK_THROWS_MATCHES(Int8Linear(nullptr, scale.data(), 3, 4), lorakit::Error,
                       code_is(Errc::bad_config));
  CHECK_THROWS_MATCHES(Int8Linear(q.data(), nullptr, 3, 4), lorakit::Error,
                       code_is(Errc::bad_config));
  // The view form.
  const Int8MatrixView packed(q.data(), 4, 3, Eigen::OuterStride<>(3));
  const Int8MatrixView overlapping(q.data(), 4, 3, Eigen::OuterStride<>(2));
  CHECK_THROWS_MATCHES(Int8Linear(overlapping, scale), lorakit::Error, code_is(Errc::bad_config));
  const Int8MatrixView null_rows(nullptr, 4, 3, Eigen::OuterStride<>(3));
  CHECK_THROWS_MATCHES(Int8Linear(null_rows, scale), lorakit::Error, code_is(Errc::bad_config));
  CHECK_THROWS_MATCHES(Int8Linear(packed, std::span<const float>(scale.data(), 3)), lorakit::Error,
                       code_is(Errc::shape_mismatch));
  const std::vector<float> bias(5, 0.0f);
  CHECK_THROWS_MATCHES(Int8Linear(packed, scale, bias), lorakit::Error,
                       Catch::Matchers::Predicate<lorakit::Error>([](const lorakit::Error& e) {
                         return e.code() == Errc::shape_mismatch && e.context().slot == "bias" &&
                                std::string(e.what()).find("expected [4], got [5]") !=
                                    std::string::npos;
                       }));
  // Owned weights whose vectors no longer match their shape.
  Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(random_matrix(4, 3, 90)));
  CHECK_NOTHROW(Int8Linear(qw));
  qw.q.pop_back();
  CHECK_THROWS_MATCHES(Int8Linear(qw), lorakit::Error, code_is(Errc::shape_mismatch));
  qw.q.push_back(0);
  qw.scale.pop_back();
  CHECK_THROWS_MATCHES(Int8Linear(qw), lorakit::Error, code_is(Errc::shape_mismatch));
  // A temporary Int8Weights would dangle.
  STATIC_REQUIRE_FALSE(std::is_constructible_v<Int8Linear, Int8Weights&&>);
  STATIC_REQUIRE(std::is_constructible_v<Int8Linear, const Int8Weights&>);
}

TEST_CASE("Int8Linear: a LinearBase only: no float weights, so no merge and no DoRA",
          "[base][int8]") {
  using lorakit::LoRALinear;
  STATIC_REQUIRE(lorakit::LinearBase<Int8Linear>);
  STATIC_REQUIRE_FALSE(lorakit::MergeableBase<Int8Linear>);
  STATIC_REQUIRE_FALSE(lorakit::ReadableWeightsBase<Int8Linear>);
  STATIC_REQUIRE_FALSE(lorakit::VariantFits<lorakit::DoRA, Int8Linear>);
  STATIC_REQUIRE_FALSE(LoRALinear<Int8Linear, LoRA>::kMergeable);
  STATIC_REQUIRE_FALSE(CanMerge<LoRALinear<Int8Linear, LoRA>>);
  STATIC_REQUIRE_FALSE(CanUnmerge<LoRALinear<Int8Linear, LoRA>>);
  // The checks can be true: a writable dense base merges.
  STATIC_REQUIRE(CanMerge<LoRALinear<lorakit::DenseLinear<float>, LoRA>>);
  STATIC_REQUIRE(CanUnmerge<LoRALinear<lorakit::DenseLinear<float>, LoRA>>);
}

TEST_CASE("Int8Linear under LoRALinear: y = base(x) + s*(x*A)*B, toggled off the base bit for bit",
          "[base][int8][layer]") {
  const Index n = GENERATE(1, 7);
  const Index r = GENERATE(1, 8);
  const Index in = 37;
  const Index out = 29;
  CAPTURE(n, r);
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(random_matrix(out, in, 100)));
  const RowMatrix bias = random_matrix(1, out, 101);
  const std::span<const float> b(bias.data(), static_cast<std::size_t>(out));
  const Int8Linear base(qw, b);
  lorakit::LoRALinear<Int8Linear, LoRA> layer(base);
  const auto lora = make_lora(in, out, r, 16.0f, 102);
  const float user_scale = 0.5f;
  layer.attach("a", lora->weights(), lora->params, user_scale, lora);

  const RowMatrix x = random_matrix(n, in, 103);
  lorakit::Workspace ws(layer.workspace_floats(n));
  RowMatrix y(n, out);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(y), ws);

  // The base's bound (base_expected) plus the low-rank term's: with L = |s| sum_j (sum_k
  // |x_k A_kj|) |B_jo|, t = x*A rounds each term at most `in` times and the sum over j at most
  // r more; adding s*acc to y rounds once more, relative to |y| + |s acc|. gamma_{in+r+3}
  // (L + M + |b|) covers both.
  Expected e = base_expected(lorakit::make_cview(x), base.quantized(), qw.scale, b);
  const double s = static_cast<double>(user_scale) * 16.0 / static_cast<double>(r);
  for (Index i = 0; i < n; ++i) {
    for (Index o = 0; o < out; ++o) {
      double delta = 0.0;
      double mag = 0.0;
      for (Index j = 0; j < r; ++j) {
        double t = 0.0;
        double t_mag = 0.0;
        for (Index k = 0; k < in; ++k) {
          t += static_cast<double>(x(i, k)) * static_cast<double>(lora->a(k, j));
          t_mag += std::abs(static_cast<double>(x(i, k)) * static_cast<double>(lora->a(k, j)));
        }
        delta += t * static_cast<double>(lora->b(j, o));
        mag += t_mag * std::abs(static_cast<double>(lora->b(j, o)));
      }
      const double base_mag = std::abs(e.value(i, o)) + e.tolerance(i, o);
      e.value(i, o) += s * delta;
      e.tolerance(i, o) += gamma(in + r + 3) * (std::abs(s) * mag + base_mag);
    }
  }
  check_within(e, lorakit::make_cview(y), "LoRALinear<Int8Linear, LoRA>::forward");

  RowMatrix base_only(n, out);
  base.forward(lorakit::make_cview(x), lorakit::make_view(base_only));
  layer.set_enabled(false);
  RowMatrix off(n, out);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(off), ws);
  check_identical(lorakit::make_cview(base_only), lorakit::make_cview(off), "toggle off vs base");
  const RowMatrix change = y - base_only;
  CHECK(max_abs(lorakit::make_cview(change)) > 1e-3f);  // the adapter did change the output
}

TEST_CASE("Int8Linear in a Model: merge is unsupported, naming the layer, and changes nothing",
          "[base][int8][runtime]") {
  const std::string name = "model.layers.0.mlp.down_proj";
  const Index d = 16;
  const Int8Weights qw = Int8Linear::quantize(lorakit::make_cview(random_matrix(d, d, 110)));
  using Layer = lorakit::LoRALinear<Int8Linear, LoRA>;
  Layer layer(Int8Linear(qw), Layer::Options{.max_rank = 8, .module = name});
  lorakit::Model model;
  model.add(name, layer);
  model.attach(make_adapter("a", {{name, d, d, 4}}, 111));

  const RowMatrix x = random_matrix(3, d, 112);
  lorakit::Workspace ws(layer.workspace_floats(3));
  RowMatrix before(3, d);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(before), ws);
  try {
    model.merge("a");
    FAIL("merged into an int8 base");
  } catch (const lorakit::Error& e) {
    CHECK(e.code() == Errc::unsupported);
    CHECK(e.context().module == name);
    CHECK_THAT(e.what(), Catch::Contains(name));
  }
  CHECK_FALSE(model.list()[0].merged);
  RowMatrix after(3, d);
  layer.forward(lorakit::make_cview(x), lorakit::make_view(after), ws);
  check_identical(lorakit::make_cview(before), lorakit::make_cview(after), "after refused merge");
}
