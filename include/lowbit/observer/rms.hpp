// lowbit/observer/rms.hpp — RMS × k with an absmax floor (the Quantize-Qwen3.5 FP8 toolkit's
// default calibration, quantize_fp8.py `_compute_scales`, calib_mode "rms").
//
//   rms   = sqrt( Σ_i w_i x_i² / n )          (w_i = 1 without weights; n counts every element,
//                                              padded zeros included, as the toolkit's mean)
//   r     = max( k · rms, floor · max_i |x_i| )            k = 3, floor = 0.5 by default
//   range = [−r, r]
// k approximates a Gaussian block's peak-to-RMS ratio: values beyond k·rms saturate instead of
// stretching the scale. The floor keeps the largest value within 1/floor × the format's max
// (the toolkit: "never let any value clip by more than 2×FP8_MAX"). With activation weights
// the toolkit normalises the per-input-channel magnitudes by their maximum first; the
// quantizer does the same before calling this (quantize/quantizer.hpp, fit()).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>

#include "absmax.hpp"

namespace lowbit {

// RMS×k range of n contiguous values; w (nullable) are per-element weights >= 0.
inline value_range rms_range(const float* x, const float* w, Eigen::Index n, float k = 3.0f, float floor = 0.5f) {
  if (n == 0) return {0.0f, 0.0f};
  double ss = 0.0;
  float amax = 0.0f;
  for (Eigen::Index i = 0; i < n; ++i) {
    const double v = double(x[i]) * double(x[i]);
    ss += w ? double(w[i]) * v : v;
    amax = std::fmax(amax, std::fabs(x[i]));
  }
  const float rms = float(std::sqrt(ss / double(n)));
  // k · rms can pass FLT_MAX for data near it: the range then stops at FLT_MAX (not inf).
  const float r = std::fmin(std::fmax(k * rms, floor * amax), std::numeric_limits<float>::max());
  return {-r, r};
}

}  // namespace lowbit
