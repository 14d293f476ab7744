// lowbit/observer/percentile.hpp — clip at a percentile of the block's values.
//
// quantile(v, q) over n sorted values v_(0) <= … <= v_(n−1) with linear interpolation
// (numpy.quantile / torch.quantile default "linear"):
//   h = q·(n − 1),  lo = floor(h),  t = h − lo
//   quantile = v_(lo) + t·(v_(lo+1) − v_(lo))      (computed in double, rounded to float once)
// This is numpy.quantile of the values as float64, rounded to float (the golden data of
// tests/observer). numpy 2 on a float32 array interpolates in float32 (v_(lo+1) − d·(1 − t) for
// t >= 0.5) and torch.quantile uses float32 ranks and a fused lerp: each can differ by an ulp
// (numpy float32: 0.6 % of random cases).
// Ranges, p in (0, 100]:
//   symmetric  : r = quantile(|x|, p/100), range [−r, r]       (the Quantize-Qwen3.5 toolkit's
//                                                                 "percentile" mode, p = 99.9)
//   asymmetric : [quantile(x, 1 − p/100), quantile(x, p/100)]
// p = 100 gives absmax / min-max. O(n) expected (two nth_element selections).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "absmax.hpp"

namespace lowbit {

namespace detail {
// Linear-interpolated quantile q in [0, 1] of v[0..n); reorders v.
inline float quantile_inplace(float* v, Eigen::Index n, double q) {
  const double h = q * double(n - 1);
  Eigen::Index lo = Eigen::Index(std::floor(h));
  if (lo >= n - 1) lo = n - 1;
  std::nth_element(v, v + lo, v + n);
  const double a = v[lo];
  if (lo == n - 1) return float(a);
  const double b = *std::min_element(v + lo + 1, v + n);
  const double t = h - double(lo);
  return float(a + materialized(t * (b - a)));  // as numpy's separate float64 ops, never an FMA
}
}  // namespace detail

// Percentile range of n contiguous values (scratch is reused between calls).
inline value_range percentile_range(const float* x, Eigen::Index n, double p, bool symmetric,
                                    std::vector<float>& scratch) {
  LOWBIT_CHECK(p > 0.0 && p <= 100.0, "percentile_range: percentile must be in (0, 100], got ", p);
  if (n == 0) return {0.0f, 0.0f};
  scratch.assign(x, x + n);
  if (symmetric) {
    for (float& v : scratch) v = std::fabs(v);
    const float r = detail::quantile_inplace(scratch.data(), n, p / 100.0);
    return {-r, r};
  }
  const float hi = detail::quantile_inplace(scratch.data(), n, p / 100.0);
  const float lo = detail::quantile_inplace(scratch.data(), n, 1.0 - p / 100.0);
  return {lo, hi};
}

inline value_range percentile_range(const float* x, Eigen::Index n, double p, bool symmetric) {
  std::vector<float> scratch;
  return percentile_range(x, n, p, symmetric, scratch);
}

}  // namespace lowbit
