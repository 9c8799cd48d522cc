// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// The dense double-precision reference y = x*W^T + b + sum_k s_k*(x*A_k)*B_k, with error bounds.
#pragma once

#include <cmath>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "lorakit/core/types.hpp"

namespace lorakit::test {

using DoubleMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One adapter term of the reference: s * (x*A) * B.
struct RefAdapter {
  ConstMatrixView a;  // (in, r)
  ConstMatrixView b;  // (r, out)
  double scale;
};

/// The exact result (to double precision) and, per element, the sum of magnitudes of every
/// product that contributes to it. A float computation that adds up k terms differs from the
/// exact value by at most about k * 2^-24 times that magnitude (the standard bound for recursive
/// summation, gamma_k * sum |terms|), whatever the order of the additions.
struct Reference {
  DoubleMatrix value;
  DoubleMatrix magnitude;
  Index terms = 0;  // the longest chain of roundings an element goes through

  /// Per-element tolerance for a float computation of `value`: 2 * terms * 2^-24 * magnitude.
  [[nodiscard]] double tolerance(Index i, Index j) const {
    return 2.0 * static_cast<double>(terms + 2) * 0x1p-24 * magnitude(i, j) + 1e-30;
  }
};

/// W is (out,in) when w_out_in, else (in,out).
inline Reference dense_reference(ConstMatrixView x, ConstMatrixView w, bool w_out_in,
                                 std::span<const float> bias,
                                 const std::vector<RefAdapter>& adapters) {
  const Index n = x.rows();
  const Index in = x.cols();
  const Index out = w_out_in ? w.rows() : w.cols();
  Reference ref;
  ref.value = DoubleMatrix::Zero(n, out);
  ref.magnitude = DoubleMatrix::Zero(n, out);
  Index max_rank = 0;
  for (const RefAdapter& ad : adapters) max_rank = std::max(max_rank, ad.a.cols());
  ref.terms = in + max_rank + 1;
  for (Index i = 0; i < n; ++i) {
    for (Index o = 0; o < out; ++o) {
      double v = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(o)];
      double m = std::abs(v);
      for (Index k = 0; k < in; ++k) {
        const double p =
            static_cast<double>(x(i, k)) * static_cast<double>(w_out_in ? w(o, k) : w(k, o));
        v += p;
        m += std::abs(p);
      }
      ref.value(i, o) = v;
      ref.magnitude(i, o) = m;
    }
    for (const RefAdapter& ad : adapters) {
      const Index r = ad.a.cols();
      for (Index j = 0; j < r; ++j) {
        double t = 0.0;
        double t_mag = 0.0;
        for (Index k = 0; k < in; ++k) {
          const double p = static_cast<double>(x(i, k)) * static_cast<double>(ad.a(k, j));
          t += p;
          t_mag += std::abs(p);
        }
        for (Index o = 0; o < out; ++o) {
          const double bj = static_cast<double>(ad.b(j, o));
          ref.value(i, o) += ad.scale * t * bj;
          ref.magnitude(i, o) += std::abs(ad.scale) * t_mag * std::abs(bj);
        }
      }
    }
  }
  return ref;
}

}  // namespace lorakit::test
