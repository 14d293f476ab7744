// lowbit/algo/channel_reduction.hpp — a running per-channel statistic over batches of rows: the
// loop behind channel_mean (meanshift.hpp) and channel_absmax (smoothquant.hpp).
//
// Batches X[T][C] (rows = tokens, C channels fixed by the first batch), values read as float64:
//   acc_j = 0 before the first batch;  acc_j ← op(acc_j, X[t, j]) for t = 0..T−1, in row order.
// An empty batch, a changed channel count or a NaN/Inf value throws lowbit::error, the message
// starting with `who` (the caller's name), and leaves the statistic as it was: the batch is
// checked first (one vectorised pass), so op only ever sees finite values.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../detail/check_finite.hpp"
#include "../error.hpp"

namespace lowbit {

template <class Op>  // double op(double acc, double value)
class channel_reduction {
 public:
  template <class Derived>
  void update(const Eigen::MatrixBase<Derived>& x, const char* who = "channel_reduction::update") {
    LOWBIT_CHECK(x.rows() > 0 && x.cols() > 0, who, ": empty batch (", x.rows(), " x ", x.cols(), ")");
    LOWBIT_CHECK(rows_ == 0 || x.cols() == acc_.size(), who, ": batch has ", x.cols(),
                 " channels, earlier batches had ", acc_.size());
    detail::check_finite<double>(x, who);  // before the statistic changes
    if (rows_ == 0) acc_ = Eigen::VectorXd::Zero(x.cols());
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index j = 0; j < x.cols(); ++j) acc_(j) = op_(acc_(j), double(x(i, j)));
    rows_ += x.rows();
  }
  const Eigen::VectorXd& value() const { return acc_; }  // C entries (empty before any batch)
  Eigen::Index rows() const { return rows_; }

 private:
  Op op_{};
  Eigen::VectorXd acc_;
  Eigen::Index rows_ = 0;
};

}  // namespace lowbit
