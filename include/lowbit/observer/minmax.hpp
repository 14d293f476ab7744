// lowbit/observer/minmax.hpp — the asymmetric range [min x, max x].
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "absmax.hpp"

namespace lowbit {

// {min_i x_i, max_i x_i} over n contiguous values ({0, 0} for n = 0).
inline value_range minmax_range(const float* x, Eigen::Index n) {
  if (n == 0) return {0.0f, 0.0f};
  float lo = x[0], hi = x[0];
  for (Eigen::Index i = 1; i < n; ++i) {
    lo = std::fmin(lo, x[i]);
    hi = std::fmax(hi, x[i]);
  }
  return {lo, hi};
}

}  // namespace lowbit
