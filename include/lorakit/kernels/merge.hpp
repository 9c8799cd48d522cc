// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// merge_low_rank: W += s * (A * B)^T (or s * A * B for [in, out] weights) on a LowRankKernel.
#pragma once

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit::kernels {

/// The factors of a merge in the order W's layout needs, prepared (and allocated) up front so
/// that applying them cannot fail: for W:(in,out) (GPT-2 Conv1D) W += s * A * B uses A and B as
/// they are; for W:(out,in) W += s * B^T * A^T needs both transposed (r * (in + out) floats).
class MergeFactors {
 public:
  /// @pre a.cols() == b.rows()
  MergeFactors(WeightLayout layout, ConstMatrixView a, ConstMatrixView b)
      : layout_(layout), a_(a), b_(b) {
    LORAKIT_ASSERT(a.cols() == b.rows());
    if (layout == WeightLayout::out_in) {
      left_ = b.transpose();   // (out, r): the rows of the update
      right_ = a.transpose();  // (r, in)
    }
  }

  /// W += s * (the low-rank product in W's layout), through Kernel::expand: each element is
  /// W + s * (a sum over r), rounded like the forward path's expand of the same shape.
  /// @pre W's shape matches the layout and the factors
  template <LowRankKernel Kernel>
  void apply(MatrixView w, float s) const noexcept {
    if (layout_ == WeightLayout::in_out) {
      LORAKIT_ASSERT(w.rows() == a_.rows() && w.cols() == b_.cols());
      Kernel::expand(a_, b_, s, w);
    } else {
      LORAKIT_ASSERT(w.rows() == b_.cols() && w.cols() == a_.rows());
      Kernel::expand(make_cview(left_), make_cview(right_), s, w);
    }
  }

 private:
  WeightLayout layout_;
  ConstMatrixView a_;
  ConstMatrixView b_;
  RowMatrix left_;
  RowMatrix right_;
};

/// Adds s times the low-rank product of A:(in,r) and B:(r,out) to base weights W stored in
/// `layout`: W:(out,in) += s * B^T * A^T, or W:(in,out) += s * A * B. Allocates the transposed
/// factors for the [out, in] layout (merge is not on the hot path).
/// @pre a.cols() == b.rows(), W's shape matches the layout
template <LowRankKernel Kernel>
void merge_low_rank(MatrixView w, WeightLayout layout, ConstMatrixView a, ConstMatrixView b,
                    float s) {
  MergeFactors(layout, a, b).apply<Kernel>(w, s);
}

}  // namespace lorakit::kernels
