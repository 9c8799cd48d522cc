// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// What llama.cpp's answers are judged against: the tiny model's forward pass in double precision
// (Hugging Face layout, rotate-half RoPE, an adapter merged exactly) and bounds on how far
// llama.cpp's F32 evaluation of the same model can land from it. The derivation is at the top
// of llama_reference.cpp.
#pragma once

#include <Eigen/Core>
#include <vector>

#include "lorakit/io/gguf.hpp"
#include "tiny_llama.hpp"

namespace lorakit::test::llama {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One adapted projection as llama.cpp evaluates it: y = W x + scale * B(A x), with A:(in, r)
/// and B:(r, out) as the adapter file stores them (decoded), outputs in Hugging Face order, and
/// the ggml types of its lora_a and lora_b.
struct LoraPath {
  Index layer = 0;
  Proj proj = Proj::q;
  MatD a;
  MatD b;
  double scale = 1.0;
  io::GgmlType a_type = io::GgmlType::f32;
  io::GgmlType b_type = io::GgmlType::f32;
};

/// Bounds on |llama.cpp's centred logit - the exact one| for one way of running the model:
/// (positions, vocab) each.
struct Bound {
  MatD worst;        ///< deterministic: every rounding at its worst, to first order
  MatD statistical;  ///< rounding errors independent with mean zero: exceeded with probability
                     ///< at most 2 exp(-kLambda^2 / 2) per entry
};

/// The reference's answer on a token sequence.
struct Expected {
  MatD centred;    ///< (positions, vocab): the exact centred logits
  Bound plain;     ///< llama.cpp on a model file holding the merged weights in F32
  Bound adapter;   ///< llama.cpp on the base model file with the adapter attached
  Weights merged;  ///< the merged weights rounded to F32: what the merged model file holds
};

/// Standard deviations of the statistical bound.
inline constexpr double kLambda = 6.0;

/// The tiny model `base` with `adapter` merged exactly (empty: the base itself), evaluated on
/// `tokens` in double precision, with the bounds of both ways llama.cpp can run it.
Expected evaluate(const Weights& base, const std::vector<LoraPath>& adapter,
                  const std::vector<int>& tokens);

/// Entry-wise tolerance on the difference of two llama.cpp runs with bounds `x` and `y`: the
/// smaller of the two kinds of bound, each the sum of the runs' (the runs' rounding errors are
/// not assumed independent of each other).
inline MatD tolerance(const Bound& x, const Bound& y) {
  return (x.worst + y.worst).cwiseMin(x.statistical + y.statistical);
}

/// Entry-wise tolerance on one llama.cpp run against the exact logits.
inline MatD tolerance(const Bound& x) { return x.worst.cwiseMin(x.statistical); }

}  // namespace lorakit::test::llama
