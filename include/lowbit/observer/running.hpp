// lowbit/observer/running.hpp — ranges of activations seen batch by batch (static
// calibration), for quantizer::from_ranges.
//
// Each batch is a T × K matrix (T tokens, any number per batch; K fixed). The granularity
// must share scales across all rows (block_rows = 0: per_tensor(), per_channel(1), per_head(d),
// block(0-row) tilings), because the token count changes between batches; the tracked grid is
// 1 × grid_cols(K). Per block b of a batch, with batch range [m_b, M_b] (min and max):
//   running_mode::max  lo ← min(lo, m_b), hi ← max(hi, M_b)         (ModelOpt MaxCalibrator,
//                                                                      torch MinMaxObserver)
//   running_mode::ema  lo ← lo + c·(m_b − lo), hi ← hi + c·(M_b − hi)  (torch
//                      MovingAverageMinMaxObserver, averaging constant c = 0.01); the first
//                      batch initialises lo, hi. float32 with a rounding after each operation,
//                      as torch's three tensor ops (never fused into an FMA, whatever the
//                      compiler's -ffp-contract); in double where m_b − lo overflows. Those
//                      roundings can leave lo above hi by an ulp or two where the two were
//                      nearly equal (torch then asserts in calculate_qparams): hi is raised
//                      to lo there, so the ranges always satisfy lo <= hi.
// tensor_amax() is the running max of |x| over everything seen (for two-level NVFP4 scales).
// Bad input (empty batch, K changing, NaN/Inf, a per-row granularity) throws lowbit::error and
// leaves the state unchanged.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "../config.hpp"
#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../granularity/granularity.hpp"

namespace lowbit {

enum class running_mode { max, ema };

class running_range {
 public:
  explicit running_range(granularity g = per_tensor(), running_mode mode = running_mode::max,
                         float averaging_constant = 0.01f)
      : gran_(g), mode_(mode), c_(averaging_constant) {
    LOWBIT_CHECK(g.block_rows == 0, "running_range: the granularity must share scales over all rows (block_rows = 0; ",
                 "per_tensor, per_channel(1), per_head), got block_rows ", g.block_rows);
    LOWBIT_CHECK(c_ > 0.0f && c_ <= 1.0f, "running_range: averaging constant must be in (0, 1], got ", c_);
  }

  template <class Derived>
  void update(const Eigen::DenseBase<Derived>& x) {
    const Eigen::Index rows = x.rows(), cols = x.cols();
    gran_.check(rows, cols, "running_range::update");
    LOWBIT_CHECK(batches_ == 0 || cols == cols_, "running_range::update: batch has ", cols, " columns, earlier ones ",
                 cols_);
    const Eigen::Index gc = gran_.grid_cols(cols), bc = gran_.cols_per_block(cols);
    detail::check_finite(x, "running_range::update");  // before the state changes
    // Row vectors (a 1 × n MatrixXf is not a vector to Eigen at compile time: its element-wise
    // min over rows of 4096 ran 7x slower, unvectorised)
    Eigen::RowVectorXf blo = Eigen::RowVectorXf::Constant(gc, INFINITY), bhi = Eigen::RowVectorXf::Constant(gc, -INFINITY);
    for (Eigen::Index i = 0; i < rows; ++i) {  // row by row, vectorised along the row (x is finite)
      const auto r = x.derived().row(i).template cast<float>();
      if (bc == 1) {
        blo.array() = blo.array().min(r.array());
        bhi.array() = bhi.array().max(r.array());
        continue;
      }
      for (Eigen::Index b = 0; b < gc; ++b) {
        const auto seg = r.segment(b * bc, std::min(bc, cols - b * bc));
        blo(0, b) = std::min(blo(0, b), seg.minCoeff());
        bhi(0, b) = std::max(bhi(0, b), seg.maxCoeff());
      }
    }
    const float amax = std::max(std::fabs(blo.minCoeff()), std::fabs(bhi.maxCoeff()));  // max |x|
    if (gran_.tail_rule == tail::pad && cols % bc != 0) {  // the padded zeros join the last block
      blo(0, gc - 1) = std::fmin(blo(0, gc - 1), 0.0f);
      bhi(0, gc - 1) = std::fmax(bhi(0, gc - 1), 0.0f);
    }
    if (batches_ == 0) {
      lo_ = blo;
      hi_ = bhi;
      cols_ = cols;
    } else if (mode_ == running_mode::max) {
      lo_ = lo_.cwiseMin(blo);
      hi_ = hi_.cwiseMax(bhi);
    } else {
      // x += c·(batch − x) in float32 (torch's EMA observer); in double where batch − x overflows.
      // c·d is materialized, so the compiler cannot contract the update into one FMA rounding.
      const float c = c_;
      auto ema = [c](float a, float b) {
        const float d = b - a;
        if (!std::isfinite(d)) return float(double(a) + double(c) * (double(b) - double(a)));
        return a + detail::materialized(c * d);
      };
      lo_ = lo_.binaryExpr(blo, ema);
      hi_ = hi_.binaryExpr(bhi, ema).cwiseMax(lo_);
    }
    amax_ = std::fmax(amax_, amax);
    ++batches_;
  }

  Eigen::Index batches() const { return batches_; }
  Eigen::Index cols() const { return cols_; }
  // 1 × grid_cols(K) ranges; lowbit::error before any batch.
  const Eigen::MatrixXf& lo() const {
    LOWBIT_CHECK(batches_ > 0, "running_range::lo: no batch seen");
    return lo_;
  }
  const Eigen::MatrixXf& hi() const {
    LOWBIT_CHECK(batches_ > 0, "running_range::hi: no batch seen");
    return hi_;
  }
  float tensor_amax() const { return amax_; }
  const granularity& gran() const { return gran_; }

  // Parameters for a rows × K input: q.from_ranges(rows, K, lo(), hi(), tensor_amax()).
  template <class Quantizer>
  auto params(const Quantizer& q, Eigen::Index rows) const {
    LOWBIT_CHECK(q.options().gran == gran_, "running_range::params: the quantizer's granularity differs from the ",
                 "tracked one");
    return q.from_ranges(rows, cols_, lo(), hi(), amax_);
  }

  void reset() {
    batches_ = 0;
    cols_ = 0;
    amax_ = 0.0f;
    lo_.resize(0, 0);
    hi_.resize(0, 0);
  }

 private:
  granularity gran_;
  running_mode mode_;
  float c_;
  Eigen::Index batches_ = 0, cols_ = 0;
  float amax_ = 0.0f;
  Eigen::MatrixXf lo_, hi_;
};

}  // namespace lowbit
