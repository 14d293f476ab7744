// lowbit/algo/hessian.hpp — streaming GPTQ Hessian H = (2/N) · Σ_batches XᵀX.
//
//   hessian_accumulator h(K);                 // K = input channels of the layer
//   for (batch : calibration) h.add_batch(X); // X: T × K, one row per token
//   Eigen::MatrixXf H = h.matrix();           // K × K, symmetric, fp32
//
// Counting convention (research/algorithms.md §1.1), chosen at construction:
//   hessian_count::sequences  IST-DASLab/gptq add_batch: N = number of sequences; each call
//                             adds `sequences` (default 1, the reference feeds one sequence
//                             of 2048 tokens per call, so N = 128 for its calibration set)
//   hessian_count::tokens     GPTQModel: N = number of token rows seen
// The reference keeps a running mean (H ← H·n/(n+b) + (2/(n+b))·XᵀX); here the raw sum
// S = Σ XᵀX is accumulated (Scalar, fp32 by default as in every reference) and scaled by
// 2/N once in matrix(); the two are equal in exact arithmetic. The scale of H never changes
// the GPTQ result (only its reported loss), so the convention matters for the loss only.
//
// Bad input: a batch of the wrong width or with NaN/Inf, a negative sequence count,
// matrix() before any sample (zero calibration samples), and matrix() when S or H overflows
// the Scalar / fp32 (activations near 1e19 and beyond: the error names the entry) throw
// lowbit::error.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../detail/check_finite.hpp"
#include "../error.hpp"

namespace lowbit {

enum class hessian_count { sequences, tokens };

template <class Scalar = float>
class hessian_accumulator {
 public:
  using matrix_type = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  explicit hessian_accumulator(Eigen::Index channels, hessian_count count = hessian_count::sequences)
      : count_(count) {
    LOWBIT_CHECK(channels > 0, "hessian_accumulator: channel count must be > 0, got ", channels);
    sum_.setZero(channels, channels);
  }

  Eigen::Index channels() const { return sum_.rows(); }
  hessian_count counting() const { return count_; }
  // N of H = (2/N)·S in the chosen counting, and the token rows seen.
  Eigen::Index samples() const { return count_ == hessian_count::tokens ? tokens_ : sequences_; }
  Eigen::Index tokens() const { return tokens_; }

  // Add one batch X (T × K, rows = tokens) holding `sequences` sequences.
  template <class Derived>
  void add_batch(const Eigen::MatrixBase<Derived>& x, Eigen::Index sequences = 1) {
    LOWBIT_CHECK(x.cols() == channels(), "hessian_accumulator::add_batch: batch has ", x.cols(),
                 " columns, the Hessian is ", channels(), " x ", channels());
    LOWBIT_CHECK(sequences >= 0, "hessian_accumulator::add_batch: negative sequence count ", sequences);
    if (x.rows() == 0) return;
    const matrix_type xs = x.template cast<Scalar>();
    detail::check_finite<Scalar>(xs, "hessian_accumulator::add_batch", "value", " of the batch");
    sum_.template selfadjointView<Eigen::Lower>().rankUpdate(xs.transpose());
    tokens_ += x.rows();
    sequences_ += sequences;
  }

  // S = Σ XᵀX (full symmetric matrix).
  matrix_type sum() const {
    matrix_type s = sum_.template selfadjointView<Eigen::Lower>();
    return s;
  }

  // H = (2/N)·S, fp32 (the precision GPTQ runs in).
  Eigen::MatrixXf matrix() const {
    LOWBIT_CHECK(samples() > 0, "hessian_accumulator::matrix: zero calibration samples (",
                 count_ == hessian_count::tokens ? "tokens" : "sequences", " counted: 0)");
    const matrix_type s = sum();
    Eigen::MatrixXf h = (s * (Scalar(2) / Scalar(samples()))).template cast<float>();
    if (!detail::all_finite(h))  // h is symmetric: the lower triangle names the entry
      for (Eigen::Index j = 0; j < h.cols(); ++j)
        for (Eigen::Index i = j; i < h.rows(); ++i)
          LOWBIT_CHECK(std::isfinite(h(i, j)), "hessian_accumulator::matrix: entry (", i, ", ", j, ") of H is ",
                       h(i, j), ": (2/N)·Σ x_i·x_j over the calibration tokens overflows fp32");
    return h;
  }

 private:
  matrix_type sum_;  // lower triangle holds S
  Eigen::Index tokens_ = 0, sequences_ = 0;
  hessian_count count_;
};

}  // namespace lowbit
