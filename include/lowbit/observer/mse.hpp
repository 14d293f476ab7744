// lowbit/observer/mse.hpp — search the clipping range that minimises the quantization error.
//
// Candidates shrink the block's base range symmetrically, both ends by the same factor
// (IST-DASLab/gptq quant.py, Quantizer.find_params with mse=True):
//   for i = 0 .. floor(max_shrink·grid) − 1:   p = 1 − i/grid  (double, then float32)
//       candidate [p·lo, p·hi]  (float32 products)
//   error(range) = Σ_k w_k |x_k − x̂_k|^norm, x̂ = the block quantized with that range by the
//   caller's quantizer (the same scale rounding and convention as the final encode)
//   keep the first candidate with the strictly lowest error (p = 1 wins ties).
// Base range: symmetric [−max|x|, max|x|]; asymmetric [min x, max x]; the quantizer's
// convention then widens to include 0 where it does (GPTQ, lowbit).
//   mse_observer()        grid 100, max_shrink 0.8, norm 2   (activation-weighted when the
//                                                              quantizer is given channel weights)
//   gptq_clip_observer()  grid 100, max_shrink 0.8, norm 2.4 (GPTQ's defaults exactly)
#pragma once

#include <Eigen/Core>
#include <limits>

#include "absmax.hpp"
#include "minmax.hpp"

namespace lowbit {

// Best range among the shrunk candidates of `base`. ErrFn: double(value_range, double norm).
template <class ErrFn>
value_range search_clip_range(value_range base, int grid, double max_shrink, double norm, ErrFn&& err) {
  const int steps = int(max_shrink * double(grid));
  value_range best_r = base;
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < steps; ++i) {
    const float p = float(1.0 - double(i) / double(grid));
    const value_range r{p * base.lo, p * base.hi};
    const double e = err(r, norm);
    if (e < best) {
      best = e;
      best_r = r;
    }
  }
  return best_r;
}

// MSE-searched range of n contiguous values.
template <class ErrFn>
value_range mse_range(const float* x, Eigen::Index n, bool symmetric, int grid, double max_shrink, double norm,
                      ErrFn&& err) {
  const value_range base = symmetric ? absmax_range(x, n) : minmax_range(x, n);
  return search_clip_range(base, grid, max_shrink, norm, err);
}

}  // namespace lowbit
