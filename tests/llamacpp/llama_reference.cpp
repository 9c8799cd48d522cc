// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The reference forward pass and its bounds.
//
// llama.cpp evaluates the model in F32 (unit roundoff u = 2^-24). Write every operation's result
// as the exact result plus an error e_k. To first order a centred logit c = l_i - mean_j l_j then
// moves by sum_k g_k e_k, where g_k = dc/dy_k is its sensitivity to the intermediate y_k; one
// backward pass per position through the reference computes g for every intermediate and every
// vocabulary entry at once. With the bounds |e_k| <= b_k of the table below:
//
//   worst        |c_llama - c| <= sum_k |g_k| b_k.
//   statistical  each e_k is a sum of elementary errors, one per rounding, each at most a_kj.
//                If roundings are independent with mean zero (the model of Higham and Mary, "A
//                new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput.
//                41(5), 2019), Azuma-Hoeffding gives |sum_kj g_k e_kj| <= kLambda sqrt(sum_kj
//                (g_k a_kj)^2) but with probability 2 exp(-kLambda^2 / 2) (3e-8 for 6). Errors
//                that are not independent roundings count at their worst: ggml_v_expf's
//                approximation, RoPE's angles, judge.mjs's log-softmax, and a relative error
//                common to a row or block (rms_norm's scale, soft_max's sum, a Q8_0 block's d),
//                which counts once with the exact signed sum of its row's g y.
//
// Both are doubled (kSafety) for the second-order terms the linearisation drops, smaller than
// the first-order ones by about the largest relative perturbation (1/254, a Q8_0 step).
//
//   operation (ggml CPU)            b_k, and its elementary errors
//   dot product of length n         gamma_n sum|w||x| (gamma_n = nu / (1 - nu)); n products
//   (mul_mat, KQ, KQV)              and n - 1 partial sums of at most u sum|w||x| each:
//                                   sqrt(n) u sum|w||x|. Any order of summation, FMA or not.
//   rms_norm(x) * w                 per row, the scale 1/sqrtf(mean + eps): mean, + eps,
//                                   sqrtf, 1/x and the squares (summed in double): 3.5u;
//                                   per element x * scale, * w: 2u
//   add, scale, KQ * 1/sqrt(hd)     u |y|
//   rope                            2 products and a sum; theta_i = p * powf(base, -2/n_rot)^i,
//                                   i F32 products of a 1-ulp powf, so 3 i u theta, and cosf,
//                                   sinf 2u: the angles at their worst
//   soft_max                        s - max (u |s - max|) and ggml_v_expf (4u, at worst) move s;
//                                   the row sum (float lane sums: gamma_15) and 1/sum (u) scale
//                                   the row; the product by 1/sum, u p. Masked entries are 0.
//   swiglu                          1 + e, division, product: 3u; ggml_v_expf 4u at worst
//   lora path (adapter run)         x rounded to lora_a's vec_dot type before A x: F16 2^-11 |x|;
//                                   Q8_0 half a step d/2 of its block of 32 (d = max|x| / 127)
//                                   and, per block, d rounded to F16 (2^-11 relative); A x
//                                   likewise for lora_b; then the products, scale and add
//   merged model file (plain run)   its weights fl32(W + s B A): |fl32(W') - W'| |x|
//   judge.mjs's log-softmax         l - max, expf, division: u |l - max| + 3u at worst; the row
//                                   sum's rounding is common to the row and cancels in the
//                                   centring
//
// Exact: embedding rows, the F32 KV cache, reshapes, the mask add (0 or -inf). The table follows
// the ggml CPU source that node-llama-cpp 3.21.1 bundles (llama.cpp 80fb11a). A llama.cpp that
// computed something else (not merely rounded otherwise) would fail the "base model" test case
// first, which compares llama.cpp with this reference alone. Measured on the test's files, the
// largest |diff| / tolerance is about 0.01 for F32 runs and 0.13 for F16 and Q8_0 adapters.
#include "llama_reference.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace lorakit::test::llama {
namespace {

using VecD = Eigen::VectorXd;

constexpr double kU = 0x1p-24;
constexpr double kSafety = 2.0;

double gamma(Index n) {
  const double nu = static_cast<double>(n) * kU;
  return nu / (1.0 - nu);
}

// A source of error at one intermediate y (whose cotangent the backward pass computes).
struct Term {
  enum class Kind { independent, at_worst, shared };
  Kind kind = Kind::independent;
  MatD worst;        // independent, at_worst: bound on |error|, per element
  MatD rms;          // independent: sqrt(sum of the squared bounds of its elementary errors)
  MatD y;            // shared: the values one relative error per group multiplies
  Index group = 0;   // shared: columns per group (0: the whole row)
  double rho = 0.0;  // shared: bound on the relative error
};
using Terms = std::vector<Term>;

Term independent(MatD worst, MatD rms) {
  Term t;
  t.worst = std::move(worst);
  t.rms = std::move(rms);
  return t;
}
Term independent(const MatD& both) { return independent(both, both); }
Term at_worst(MatD worst) {
  Term t;
  t.kind = Term::Kind::at_worst;
  t.worst = std::move(worst);
  return t;
}
Term shared(MatD y, Index group, double rho) {
  Term t;
  t.kind = Term::Kind::shared;
  t.y = std::move(y);
  t.group = group;
  t.rho = rho;
  return t;
}

// Per output (a centred logit): sum |c| over every error, the same over the errors counted at
// their worst (sys), and sum c^2 over the independent ones.
struct Acc {
  VecD worst, sys, sq;
  explicit Acc(Index n) : worst(VecD::Zero(n)), sys(VecD::Zero(n)), sq(VecD::Zero(n)) {}
};

// Adds the contributions of `t` for output i, whose cotangent of y is `g` (positions x width;
// the term's matrices may have more rows and columns: later positions and masked keys).
void apply(const Term& t, const MatD& g, Index i, Acc& acc) {
  const Index rows = g.rows();
  const Index cols = g.cols();
  switch (t.kind) {
    case Term::Kind::independent:
      acc.worst(i) += g.cwiseAbs().cwiseProduct(t.worst.topLeftCorner(rows, cols)).sum();
      acc.sq(i) += g.cwiseProduct(t.rms.topLeftCorner(rows, cols)).squaredNorm();
      break;
    case Term::Kind::at_worst: {
      const double w = g.cwiseAbs().cwiseProduct(t.worst.topLeftCorner(rows, cols)).sum();
      acc.worst(i) += w;
      acc.sys(i) += w;
      break;
    }
    case Term::Kind::shared: {
      const Index size = t.group == 0 ? cols : t.group;
      for (Index r = 0; r < rows; ++r) {
        for (Index c0 = 0; c0 < cols; c0 += size) {
          const double c = std::abs(g.row(r).segment(c0, size).dot(t.y.row(r).segment(c0, size)));
          acc.worst(i) += c * t.rho;
          acc.sys(i) += c * t.rho;
        }
      }
      break;
    }
  }
}

// The same for every output: g stacks `n` blocks of `tp` positions.
void apply(const Terms& terms, const MatD& g, Index n, Index tp, Acc& acc) {
  for (const Term& t : terms) {
    for (Index i = 0; i < n; ++i) apply(t, g.middleRows(i * tp, tp), i, acc);
  }
}

// Errors of converting x (rows) to the vec_dot type of a weight of `type` before a product.
Terms conversion(const MatD& x, io::GgmlType type) {
  constexpr double kF16 = 0x1p-11;     // F16 rounding, relative
  constexpr double kF16Sub = 0x1p-25;  // below F16's normal range, absolute
  switch (type) {
    case io::GgmlType::f32: return {};
    case io::GgmlType::f16:
      return {independent(((kF16 * x.cwiseAbs()).array() + kF16Sub).matrix())};
    case io::GgmlType::q8_0: {
      MatD e(x.rows(), x.cols());
      for (Index r = 0; r < x.rows(); ++r) {
        for (Index b = 0; b < x.cols(); b += 32) {
          const double d = x.row(r).segment(b, 32).cwiseAbs().maxCoeff() / 127.0;
          // q = round(x * fl(1/d)): half a step, plus x / d's own rounding (127 * 2u of a step)
          e.row(r).segment(b, 32).setConstant(d * (0.5 + 254 * kU) + 127 * kF16Sub);
        }
      }
      return {independent(e), shared(x, 32, kF16 + kU)};  // d: F32, then F16
    }
    default: throw std::invalid_argument("no conversion bound for this ggml type");
  }
}

Terms norm_terms(const MatD& y) {
  return {shared(y, 0, 3.5 * kU),
          independent(gamma(2) * y.cwiseAbs(), std::sqrt(2.0) * kU * y.cwiseAbs())};
}

Terms dot_terms(const MatD& m, Index n) {  // m = sum |w||x| per output
  return {independent(gamma(n) * m, std::sqrt(static_cast<double>(n)) * kU * m)};
}

struct Lora {
  MatD a, b;  // A:(in, r), B:(r, out)
  double scale = 1.0;
  Terms z, t, x;  // at B(Ax) (cotangent s G_y), at A x (times B^T), at x (times A^T)
};

struct Site {
  MatD base, exact, f32;  // (out, in): the base's weights, with the delta merged, rounded
  Terms plain, adapter;   // at the output, per run
  std::optional<Lora> lora;
};

struct Block {
  VecD attn_norm, ffn_norm;
  std::array<Site, 7> site;  // by Proj
  MatD x, h1, q, k, v, qr, kr, o, xm, h2, gate, up, act;
  VecD r1, r2;
  std::vector<MatD> p;  // per head (T, T), causal
  Terms at_h1, at_qr, at_kr, at_o, at_xm, at_h2, at_act, at_xo;
  std::vector<Terms> at_s, at_p;  // per head
};

class Model {
 public:
  Model(const Weights& base, const std::vector<LoraPath>& adapter, const std::vector<int>& tokens)
      : c_(base.config), tokens_(tokens) {
    auto to_d = [](const std::vector<float>& v) {
      return VecD(
          Eigen::Map<const Eigen::VectorXf>(v.data(), static_cast<Index>(v.size())).cast<double>());
    };
    embd_ = base.token_embd.cast<double>();
    out_w_ = base.output.cast<double>();
    out_norm_ = to_d(base.output_norm);
    for (const Layer& layer : base.layers) {
      Block& blk = blocks_.emplace_back();
      blk.attn_norm = to_d(layer.attn_norm);
      blk.ffn_norm = to_d(layer.ffn_norm);
      for (std::size_t p = 0; p < layer.w.size(); ++p) {
        blk.site[p].base = layer.w[p].cast<double>();
        blk.site[p].exact = blk.site[p].base;
      }
    }
    std::vector<std::vector<const LoraPath*>> paths(blocks_.size(),
                                                    std::vector<const LoraPath*>(7, nullptr));
    for (const LoraPath& path : adapter) {
      Site& s =
          blocks_[static_cast<std::size_t>(path.layer)].site[static_cast<std::size_t>(path.proj)];
      s.exact += path.scale * (path.a * path.b).transpose();
      paths[static_cast<std::size_t>(path.layer)][static_cast<std::size_t>(path.proj)] = &path;
    }
    for (Block& blk : blocks_) {
      for (Site& s : blk.site) s.f32 = s.exact.cast<float>().cast<double>();
    }
    forward(paths);
  }

  [[nodiscard]] Weights merged(const Weights& base) const {
    Weights m = base;
    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      for (std::size_t p = 0; p < 7; ++p) m.layers[l].w[p] = blocks_[l].site[p].exact.cast<float>();
    }
    return m;
  }

  [[nodiscard]] MatD centred() const {
    const VecD mean = logits_.rowwise().mean();
    return logits_.colwise() - mean;
  }

  // Both runs' bounds for every position.
  void bounds(Bound& plain, Bound& adapter) const {
    for (Bound* b : {&plain, &adapter}) {
      b->worst.resize(T(), c_.vocab);
      b->statistical.resize(T(), c_.vocab);
    }
    for (Index t = 0; t < T(); ++t) {
      Acc ap(c_.vocab);
      Acc aa(c_.vocab);
      backward(t, ap, aa);
      plain.worst.row(t) = kSafety * ap.worst.transpose();
      plain.statistical.row(t) = kSafety * (kLambda * ap.sq.cwiseSqrt() + ap.sys).transpose();
      adapter.worst.row(t) = kSafety * aa.worst.transpose();
      adapter.statistical.row(t) = kSafety * (kLambda * aa.sq.cwiseSqrt() + aa.sys).transpose();
    }
  }

 private:
  [[nodiscard]] Index T() const { return static_cast<Index>(tokens_.size()); }

  // y = w * x / sqrt(mean(x^2) + eps), row by row; r holds the denominators.
  MatD rms(const MatD& x, const VecD& w, VecD& r) const {
    const auto eps = static_cast<double>(c_.rms_eps);
    r.resize(x.rows());
    MatD y(x.rows(), x.cols());
    for (Index t = 0; t < x.rows(); ++t) {
      r(t) = std::sqrt(x.row(t).squaredNorm() / static_cast<double>(x.cols()) + eps);
      y.row(t) = x.row(t).cwiseProduct(w.transpose()) / r(t);
    }
    return y;
  }

  // The cotangent of rms's input from its output's (rows: output * tp + position).
  static MatD rms_back(const MatD& gy, const MatD& x, const VecD& r, const VecD& w, Index tp) {
    MatD gx(gy.rows(), gy.cols());
    const auto n = static_cast<double>(x.cols());
    for (Index row = 0; row < gy.rows(); ++row) {
      const Index t = row % tp;
      const double dot = gy.row(row).cwiseProduct(w.transpose()).dot(x.row(t));
      gx.row(row) = gy.row(row).cwiseProduct(w.transpose()) / r(t) -
                    x.row(t) * (dot / (n * r(t) * r(t) * r(t)));
    }
    return gx;
  }

  // y = x W^T, recording each run's terms in the site.
  static MatD linear(Site& s, const MatD& x, const LoraPath* path) {
    const MatD y = x * s.exact.transpose();
    const MatD ax = x.cwiseAbs();
    const Index n = x.cols();
    s.plain = dot_terms(ax * s.f32.cwiseAbs().transpose(), n);
    const MatD dw = s.f32 - s.exact;
    if (!dw.isZero(0.0)) {
      s.plain.push_back(independent(ax * dw.cwiseAbs().transpose(),
                                    (x.cwiseAbs2() * dw.cwiseAbs2().transpose()).cwiseSqrt()));
    }
    if (path == nullptr) {
      s.adapter = s.plain;
      return y;
    }
    const MatD t = x * path->a;
    const MatD sz = path->scale * (t * path->b);
    s.adapter = dot_terms(ax * s.base.cwiseAbs().transpose(), n);
    s.adapter.push_back(independent(kU * (sz.cwiseAbs() + y.cwiseAbs()),
                                    kU * (sz.cwiseAbs2() + y.cwiseAbs2()).cwiseSqrt()));
    Lora& l = s.lora.emplace();
    l.a = path->a;
    l.b = path->b;
    l.scale = path->scale;
    l.z = dot_terms(t.cwiseAbs() * path->b.cwiseAbs(), path->b.rows());
    l.t = dot_terms(ax * path->a.cwiseAbs(), n);
    for (Term& e : conversion(t, path->b_type)) l.t.push_back(std::move(e));
    l.x = conversion(x, path->a_type);
    return y;
  }

  // Rotate-half RoPE on (T, heads * hd) in Hugging Face order: the pair (i, i + hd/2) of a head
  // turns by p * base^(-2i/hd), as llama.cpp's "norm" rope turns (2i, 2i + 1) of permuted rows.
  MatD rope(const MatD& x, Index heads, Terms& terms) const {
    const Index hd = c_.head_dim();
    MatD y(x.rows(), x.cols());
    MatD worst(x.rows(), x.cols());
    MatD rms(x.rows(), x.cols());
    MatD angles(x.rows(), x.cols());
    for (Index t = 0; t < x.rows(); ++t) {
      for (Index h = 0; h < heads; ++h) {
        for (Index i = 0; i < hd / 2; ++i) {
          const Index a = h * hd + i;
          const Index b = a + hd / 2;
          const double c = cos_(t, i);
          const double s = sin_(t, i);
          const double x0 = x(t, a);
          const double x1 = x(t, b);
          y(t, a) = x0 * c - x1 * s;
          y(t, b) = x0 * s + x1 * c;
          worst(t, a) = gamma(2) * (std::abs(x0 * c) + std::abs(x1 * s));
          worst(t, b) = gamma(2) * (std::abs(x0 * s) + std::abs(x1 * c));
          rms(t, a) = kU * std::sqrt(x0 * c * x0 * c + x1 * s * x1 * s + y(t, a) * y(t, a));
          rms(t, b) = kU * std::sqrt(x0 * s * x0 * s + x1 * c * x1 * c + y(t, b) * y(t, b));
          const double coef = 3.0 * static_cast<double>(i) * kU * theta_(t, i) + 2 * kU;
          angles(t, a) = angles(t, b) = coef * (std::abs(x0) + std::abs(x1));
        }
      }
    }
    terms = {independent(worst, rms), at_worst(angles)};
    return y;
  }

  MatD rope_back(const MatD& gy, Index heads, Index tp) const {
    const Index hd = c_.head_dim();
    MatD gx(gy.rows(), gy.cols());
    for (Index row = 0; row < gy.rows(); ++row) {
      const Index t = row % tp;
      for (Index h = 0; h < heads; ++h) {
        for (Index i = 0; i < hd / 2; ++i) {
          const Index a = h * hd + i;
          const Index b = a + hd / 2;
          gx(row, a) = gy(row, a) * cos_(t, i) + gy(row, b) * sin_(t, i);
          gx(row, b) = -gy(row, a) * sin_(t, i) + gy(row, b) * cos_(t, i);
        }
      }
    }
    return gx;
  }

  void forward(const std::vector<std::vector<const LoraPath*>>& paths) {
    const Index hd = c_.head_dim();
    const Index group = c_.heads / c_.kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    theta_.resize(T(), hd / 2);
    cos_.resize(T(), hd / 2);
    sin_.resize(T(), hd / 2);
    for (Index t = 0; t < T(); ++t) {
      for (Index i = 0; i < hd / 2; ++i) {
        theta_(t, i) = static_cast<double>(t) *
                       std::pow(static_cast<double>(c_.rope_base),
                                -2.0 * static_cast<double>(i) / static_cast<double>(hd));
        cos_(t, i) = std::cos(theta_(t, i));
        sin_(t, i) = std::sin(theta_(t, i));
      }
    }
    auto add_terms = [](const MatD& y) { return Terms{independent(kU * y.cwiseAbs())}; };
    MatD x(T(), c_.embd);
    for (Index t = 0; t < T(); ++t) x.row(t) = embd_.row(tokens_[static_cast<std::size_t>(t)]);

    for (std::size_t l = 0; l < blocks_.size(); ++l) {
      Block& b = blocks_[l];
      auto lin = [&](Proj p, const MatD& in) {
        const auto k = static_cast<std::size_t>(p);
        return linear(b.site[k], in, paths[l][k]);
      };
      b.x = x;
      b.h1 = rms(b.x, b.attn_norm, b.r1);
      b.at_h1 = norm_terms(b.h1);
      b.q = lin(Proj::q, b.h1);
      b.k = lin(Proj::k, b.h1);
      b.v = lin(Proj::v, b.h1);
      b.qr = rope(b.q, c_.heads, b.at_qr);
      b.kr = rope(b.k, c_.kv_heads, b.at_kr);
      b.o = MatD::Zero(T(), c_.q_out());
      MatD pv_abs = MatD::Zero(T(), c_.q_out());
      b.p.assign(static_cast<std::size_t>(c_.heads), MatD::Zero(T(), T()));
      b.at_s.assign(static_cast<std::size_t>(c_.heads), {});
      b.at_p.assign(static_cast<std::size_t>(c_.heads), {});
      for (Index h = 0; h < c_.heads; ++h) {
        const auto hs = static_cast<std::size_t>(h);
        const Index kv = h / group;
        MatD s = MatD::Zero(T(), T());
        MatD s_worst = MatD::Zero(T(), T());
        MatD s_rms = MatD::Zero(T(), T());
        MatD s_exp = MatD::Zero(T(), T());
        MatD& p = b.p[hs];
        for (Index t = 0; t < T(); ++t) {
          const auto q = b.qr.row(t).segment(h * hd, hd);
          double max = -std::numeric_limits<double>::infinity();
          for (Index j = 0; j <= t; ++j) {
            const auto k = b.kr.row(j).segment(kv * hd, hd);
            s(t, j) = scale * q.dot(k);
            max = std::max(max, s(t, j));
          }
          double sum = 0.0;
          for (Index j = 0; j <= t; ++j) sum += std::exp(s(t, j) - max);
          for (Index j = 0; j <= t; ++j) {
            p(t, j) = std::exp(s(t, j) - max) / sum;
            const double qk = scale * q.cwiseAbs().dot(b.kr.row(j).segment(kv * hd, hd).cwiseAbs());
            const double shift = std::abs(s(t, j) - max);
            s_worst(t, j) = gamma(hd) * qk + kU * std::abs(s(t, j)) + kU * shift;
            s_rms(t, j) = std::hypot(std::sqrt(static_cast<double>(hd)) * kU * qk,
                                     kU * std::abs(s(t, j)), kU * shift);
            s_exp(t, j) = 4 * kU;
          }
        }
        b.at_s[hs] = {independent(s_worst, s_rms), at_worst(s_exp)};
        b.at_p[hs] = {independent(kU * p), shared(p, 0, gamma(15) + kU)};
        const auto v = b.v.middleCols(kv * hd, hd);
        b.o.middleCols(h * hd, hd) = p * v;
        pv_abs.middleCols(h * hd, hd) = p * v.cwiseAbs();
      }
      MatD o_worst(T(), c_.q_out());
      MatD o_rms(T(), c_.q_out());
      for (Index t = 0; t < T(); ++t) {
        o_worst.row(t) = gamma(t + 1) * pv_abs.row(t);
        o_rms.row(t) = std::sqrt(static_cast<double>(t + 1)) * kU * pv_abs.row(t);
      }
      b.at_o = {independent(o_worst, o_rms)};
      const MatD a = lin(Proj::o, b.o);
      b.xm = b.x + a;
      b.at_xm = add_terms(b.xm);
      b.h2 = rms(b.xm, b.ffn_norm, b.r2);
      b.at_h2 = norm_terms(b.h2);
      b.gate = lin(Proj::gate, b.h2);
      b.up = lin(Proj::up, b.h2);
      b.act =
          b.gate.unaryExpr([](double z) { return z / (1.0 + std::exp(-z)); }).cwiseProduct(b.up);
      b.at_act = {independent(gamma(3) * b.act.cwiseAbs(), std::sqrt(3.0) * kU * b.act.cwiseAbs()),
                  at_worst(4 * kU * b.act.cwiseAbs())};
      const MatD d = lin(Proj::down, b.act);
      x = b.xm + d;
      b.at_xo = add_terms(x);
    }
    xf_ = x;
    hf_ = rms(xf_, out_norm_, rf_);
    at_hf_ = norm_terms(hf_);
    logits_ = hf_ * out_w_.transpose();
    at_logits_ = dot_terms(hf_.cwiseAbs() * out_w_.cwiseAbs().transpose(), c_.embd);
    MatD judge(T(), c_.vocab);
    for (Index t = 0; t < T(); ++t) {
      const double max = logits_.row(t).maxCoeff();
      judge.row(t) = (kU * (logits_.row(t).array() - max).abs() + 3 * kU).matrix();
    }
    at_logits_.push_back(at_worst(judge));
  }

  // The first-order sums of every centred logit at position t, for both runs.
  void backward(Index t, Acc& plain, Acc& adapter) const {
    const Index tp = t + 1;
    const Index n = c_.vocab;
    const Index hd = c_.head_dim();
    const Index group = c_.heads / c_.kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    auto both = [&](const Terms& terms, const MatD& g) {
      apply(terms, g, n, tp, plain);
      apply(terms, g, n, tp, adapter);
    };
    auto at_site = [&](const Site& s, const MatD& g) {
      apply(s.plain, g, n, tp, plain);
      apply(s.adapter, g, n, tp, adapter);
      if (s.lora) {
        const MatD gz = s.lora->scale * g;
        apply(s.lora->z, gz, n, tp, adapter);
        const MatD gt = gz * s.lora->b.transpose();
        apply(s.lora->t, gt, n, tp, adapter);
        apply(s.lora->x, gt * s.lora->a.transpose(), n, tp, adapter);
      }
    };
    auto rows = [&](const MatD& m) { return m.topRows(tp); };

    // Output i is the centred logit i at position t: the cotangent e_i - 1/n there.
    MatD g = MatD::Zero(n * tp, n);
    for (Index i = 0; i < n; ++i) {
      g.row(i * tp + t).setConstant(-1.0 / static_cast<double>(n));
      g(i * tp + t, i) += 1.0;
    }
    both(at_logits_, g);
    const MatD gh = g * out_w_;
    both(at_hf_, gh);
    MatD gx = rms_back(gh, xf_, rf_, out_norm_, tp);

    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
      const Block& b = *it;
      both(b.at_xo, gx);
      at_site(b.site[6], gx);
      const MatD gact = gx * b.site[6].exact;
      both(b.at_act, gact);
      MatD ggate(gact.rows(), gact.cols());
      MatD gup(gact.rows(), gact.cols());
      for (Index row = 0; row < gact.rows(); ++row) {
        const Index j = row % tp;
        for (Index k = 0; k < gact.cols(); ++k) {
          const double z = b.gate(j, k);
          const double sig = 1.0 / (1.0 + std::exp(-z));
          ggate(row, k) = gact(row, k) * b.up(j, k) * sig * (1.0 + z * (1.0 - sig));
          gup(row, k) = gact(row, k) * z * sig;
        }
      }
      at_site(b.site[4], ggate);
      at_site(b.site[5], gup);
      const MatD gh2 = ggate * b.site[4].exact + gup * b.site[5].exact;
      both(b.at_h2, gh2);
      const MatD gxm = gx + rms_back(gh2, b.xm, b.r2, b.ffn_norm, tp);
      both(b.at_xm, gxm);
      at_site(b.site[3], gxm);
      const MatD go = gxm * b.site[3].exact;
      both(b.at_o, go);

      MatD gqr = MatD::Zero(n * tp, c_.q_out());
      MatD gkr = MatD::Zero(n * tp, c_.kv_out());
      MatD gv = MatD::Zero(n * tp, c_.kv_out());
      for (Index h = 0; h < c_.heads; ++h) {
        const auto hs = static_cast<std::size_t>(h);
        const Index kv = h / group;
        const MatD p = b.p[hs].topLeftCorner(tp, tp);
        const MatD q = rows(b.qr).middleCols(h * hd, hd);
        const MatD k = rows(b.kr).middleCols(kv * hd, hd);
        const MatD v = rows(b.v).middleCols(kv * hd, hd);
        for (Index i = 0; i < n; ++i) {
          const MatD gout = go.block(i * tp, h * hd, tp, hd);
          const MatD gp = gout * v.transpose();  // (tp, tp)
          for (const Term& e : b.at_p[hs]) {
            apply(e, gp, i, plain);
            apply(e, gp, i, adapter);
          }
          gv.block(i * tp, kv * hd, tp, hd) += p.transpose() * gout;
          const VecD rowdot = gp.cwiseProduct(p).rowwise().sum();
          const MatD gs = p.cwiseProduct(gp - rowdot.replicate(1, tp));
          for (const Term& e : b.at_s[hs]) {
            apply(e, gs, i, plain);
            apply(e, gs, i, adapter);
          }
          gqr.block(i * tp, h * hd, tp, hd) = scale * gs * k;
          gkr.block(i * tp, kv * hd, tp, hd) += scale * gs.transpose() * q;
        }
      }
      both(b.at_qr, gqr);
      both(b.at_kr, gkr);
      const MatD gq = rope_back(gqr, c_.heads, tp);
      const MatD gk = rope_back(gkr, c_.kv_heads, tp);
      at_site(b.site[0], gq);
      at_site(b.site[1], gk);
      at_site(b.site[2], gv);
      const MatD gh1 = gq * b.site[0].exact + gk * b.site[1].exact + gv * b.site[2].exact;
      both(b.at_h1, gh1);
      gx = gxm + rms_back(gh1, b.x, b.r1, b.attn_norm, tp);
    }
  }

  Config c_;
  std::vector<int> tokens_;
  MatD embd_, out_w_;
  VecD out_norm_;
  std::vector<Block> blocks_;
  MatD theta_, cos_, sin_;  // (T, hd/2)
  MatD xf_, hf_, logits_;
  VecD rf_;
  Terms at_hf_, at_logits_;
};

}  // namespace

Expected evaluate(const Weights& base, const std::vector<LoraPath>& adapter,
                  const std::vector<int>& tokens) {
  const Model model(base, adapter, tokens);
  Expected e;
  e.centred = model.centred();
  model.bounds(e.plain, e.adapter);
  e.merged = model.merged(base);
  return e;
}

}  // namespace lorakit::test::llama
