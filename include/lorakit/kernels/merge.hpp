// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// merge_low_rank: W += s * (A * B)^T (or s * A * B for [in, out] weights) on a LowRankKernel.
#pragma once

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit::kernels {

/// Adds s times the low-rank product of A:(in,r) and B:(r,out) to base weights W stored in
/// `layout`: W:(out,in) += s * B^T * A^T, or W:(in,out) += s * A * B (GPT-2 Conv1D). Runs on
/// Kernel::expand, so every element is W + s * (sum over r in order), the same rounding as the
/// forward path. Allocates r * (in + out) floats of transposed factors for the [out, in] layout
/// (merge is not on the hot path).
/// @pre a.cols() == b.rows(), W's shape matches the layout
template <LowRankKernel Kernel>
void merge_low_rank(MatrixView w, WeightLayout layout, ConstMatrixView a, ConstMatrixView b,
                    float s) {
  LORAKIT_ASSERT(a.cols() == b.rows());
  if (layout == WeightLayout::in_out) {
    LORAKIT_ASSERT(w.rows() == a.rows() && w.cols() == b.cols());
    Kernel::expand(a, b, s, w);
    return;
  }
  LORAKIT_ASSERT(w.rows() == b.cols() && w.cols() == a.rows());
  const RowMatrix bt = b.transpose();  // (out, r): the "rows" of the update
  const RowMatrix at = a.transpose();  // (r, in)
  Kernel::expand(make_cview(bt), make_cview(at), s, w);
}

}  // namespace lorakit::kernels
