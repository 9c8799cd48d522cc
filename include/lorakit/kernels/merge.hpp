// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The lorakit authors
// merge_low_rank: W += s * (A * B)^T (or s * A * B for [in, out] weights) on a LowRankKernel.
#pragma once

#include "lorakit/config.hpp"
#include "lorakit/core/concepts.hpp"
#include "lorakit/core/stored_view.hpp"
#include "lorakit/core/types.hpp"

namespace lorakit::kernels {

/// The factors of a merge in the order W's layout needs, prepared (and allocated) up front so
/// that applying them cannot fail: for W:(in,out) (GPT-2 Conv1D) W += s * A * B uses float A
/// and B as they are; for W:(out,in) W += s * B^T * A^T needs both transposed (r * (in + out)
/// floats). 16-bit factors are widened (exactly) into such copies.
class MergeFactors {
 public:
  /// @pre a.cols() == b.rows()
  MergeFactors(WeightLayout layout, StoredView a, StoredView b)
      : layout_(layout), a_(float_view(a, own_a_)), b_(float_view(b, own_b_)) {
    LORAKIT_ASSERT(a.cols() == b.rows());
    if (layout == WeightLayout::out_in) {
      left_ = b_.transpose();   // (out, r): the rows of the update
      right_ = a_.transpose();  // (r, in)
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
  // m as a float view: in place for f32, else widened into `own`.
  static ConstMatrixView float_view(const StoredView& m, RowMatrix& own) {
    if (m.dtype() == DType::f32) {
      return make_view(static_cast<const float*>(m.data()), m.rows(), m.cols(), m.stride());
    }
    own.resize(m.rows(), m.cols());
    for (Index i = 0; i < m.rows(); ++i) {
      for (Index j = 0; j < m.cols(); ++j) own(i, j) = m(i, j);
    }
    return make_cview(own);
  }

  WeightLayout layout_;
  RowMatrix own_a_;
  RowMatrix own_b_;
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
void merge_low_rank(MatrixView w, WeightLayout layout, StoredView a, StoredView b, float s) {
  MergeFactors(layout, a, b).apply<Kernel>(w, s);
}

}  // namespace lorakit::kernels
