// lowbit/quantize/dynamic.hpp — activation quantizers used at run time: dynamic per-token
// scales, or one static per-tensor scale from calibrated ranges.
//
//   auto a = activation_quantizer<int8>::dynamic_per_token(mapping::asymmetric);
//   quantized<int8> qx = a.quantize(x);        // x: T × K, one scale (+ zero) per row, fitted now
//
//   range_tracker cal;                         // calibration: cal.observe(x) per batch
//   auto b = activation_quantizer<int8>::static_per_tensor(cal.range());
//   matrix y = b.fake_quantize(x);             // every call uses the same calibrated scale
//
// Dynamic per token (granularity per_token()): row i of x gets its own range, observed on the
//   call (min/max for asymmetric, absmax for symmetric) — rows never influence each other, so a
//   row quantizes the same alone or inside a batch. Symmetric int8: s_i = max|x_i·|/127;
//   asymmetric int8/uint8 (convention::lowbit): range widened to 0, s_i = (hi−lo)/255,
//   integer zero z_i = qmin + R(−lo/s_i); fp8 (symmetric only): s_i = max|x_i·|/F::max.
// Static per tensor (granularity per_tensor()): the range comes from calibration, so the
//   scale is known before the activation is; values outside the calibrated range saturate to
//   the extreme codes (that clipping is the static recipe's accuracy cost).
// Why it lives in quantize/: it is a quantizer configuration chosen at run time (no data-driven
// search, no weight rewriting), unlike the algorithms in algo/.
//
// For an int8 GEMM with asymmetric activations and symmetric weights (per channel s_w,n):
//   y_in = s_x,i · s_w,n · (Σ_k qx_ik·qw_nk − z_i · Σ_k qw_nk)      (int32 accumulation)
//
// range_tracker follows a calibration stream: running_minmax (lo = min over batches, hi = max
// over batches) or ema (lo ← m·lo + (1−m)·lo_batch, same for hi; the first batch initialises;
// float32, each product rounded to float before the sum on every compiler, the result kept
// between lo and lo_batch).
//
// Bad input throws lowbit::error: empty or non-finite activations, an asymmetric mapping on a
// float format, a static range that is non-finite or has lo > hi, reading an empty tracker,
// an EMA momentum outside [0, 1).
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../config.hpp"
#include "../detail/check_finite.hpp"
#include "../error.hpp"
#include "../format/int.hpp"
#include "../granularity/granularity.hpp"
#include "../observer/absmax.hpp"
#include "../observer/observer.hpp"
#include "../rounding/directed.hpp"  // quantizer.hpp uses round_toward_zero / round_up
#include "../rounding/nearest.hpp"
#include "mapping.hpp"
#include "qparams.hpp"
#include "quantizer.hpp"

namespace lowbit {

enum class range_update { running_minmax, ema };

// Range of a stream of calibration activations.
class range_tracker {
 public:
  explicit range_tracker(range_update rule = range_update::running_minmax, float momentum = 0.9f)
      : rule_(rule), momentum_(momentum) {
    LOWBIT_CHECK(momentum >= 0.0f && momentum < 1.0f, "range_tracker: EMA momentum must be in [0, 1), got ",
                 momentum);
  }

  // Add one batch (any Eigen dense expression).
  template <class Derived>
  void observe(const Eigen::DenseBase<Derived>& x) {
    LOWBIT_CHECK(x.rows() > 0 && x.cols() > 0, "range_tracker::observe: empty batch (", x.rows(), " x ", x.cols(),
                 ")");
    detail::check_finite(x, "range_tracker::observe");
    const auto xf = x.derived().template cast<float>();
    const float lo = xf.minCoeff(), hi = xf.maxCoeff();  // vectorised (x is finite)
    if (batches_ == 0) {
      r_ = {lo, hi};
    } else if (rule_ == range_update::running_minmax) {
      r_ = {std::fmin(r_.lo, lo), std::fmax(r_.hi, hi)};
    } else {
      // fl(fl(m·lo) + fl((1 − m)·lo_b)): the products are materialized, so no compiler contracts
      // the sum into an FMA. Kept between the old and the batch value, as the exact average is
      // (the roundings could step past them, or overflow near FLT_MAX). Every step is monotone
      // in both values, so lo <= hi stays.
      const float m = momentum_, m1 = 1.0f - m;
      auto ema = [m, m1](float old_v, float batch_v) {
        const float v = detail::materialized(m * old_v) + detail::materialized(m1 * batch_v);
        return std::fmin(std::fmax(v, std::fmin(old_v, batch_v)), std::fmax(old_v, batch_v));
      };
      r_ = {ema(r_.lo, lo), ema(r_.hi, hi)};
    }
    ++batches_;
  }

  long batches() const { return batches_; }
  value_range range() const {
    LOWBIT_CHECK(batches_ > 0, "range_tracker::range: no batch observed yet");
    return r_;
  }

 private:
  range_update rule_;
  float momentum_;
  long batches_ = 0;
  value_range r_{};
};

enum class activation_scaling { dynamic_per_token, static_per_tensor };

template <class Format = int8, class Rounding = round_nearest_even>
class activation_quantizer {
 public:
  using base_quantizer = quantizer<Format, float, Rounding>;
  using matrix = typename base_quantizer::matrix;

  // One scale (and zero) per row of each activation, fitted when it is quantized.
  static activation_quantizer dynamic_per_token(mapping m = mapping::symmetric, convention c = convention::lowbit) {
    return activation_quantizer(activation_scaling::dynamic_per_token, m, c, {});
  }

  // One scale (and zero) for every activation, from a calibrated range [lo, hi].
  static activation_quantizer static_per_tensor(value_range calibrated, mapping m = mapping::symmetric,
                                                convention c = convention::lowbit) {
    LOWBIT_CHECK(std::isfinite(calibrated.lo) && std::isfinite(calibrated.hi) && calibrated.lo <= calibrated.hi,
                 "activation_quantizer::static_per_tensor: calibrated range must be finite with lo <= hi, got [",
                 calibrated.lo, ", ", calibrated.hi, "]");
    return activation_quantizer(activation_scaling::static_per_tensor, m, c, calibrated);
  }

  activation_scaling scaling() const { return scaling_; }
  const base_quantizer& base() const { return q_; }

  // The parameters x is quantized with: fitted per row (dynamic) or the calibrated ones (static).
  template <class Derived>
  qparams params(const Eigen::DenseBase<Derived>& x) const {
    if (scaling_ == activation_scaling::dynamic_per_token) return q_.fit(x);
    Eigen::MatrixXf lo(1, 1), hi(1, 1);
    lo(0, 0) = range_.lo;
    hi(0, 0) = range_.hi;
    return q_.from_ranges(x.rows(), x.cols(), lo, hi);
  }

  template <class Derived>
  quantized<Format> quantize(const Eigen::DenseBase<Derived>& x) const {
    return q_.quantize(x, params(x));
  }
  matrix dequantize(const quantized<Format>& qx) const { return q_.dequantize(qx); }
  template <class Derived>
  matrix fake_quantize(const Eigen::DenseBase<Derived>& x) const {
    return q_.fake_quantize(x, params(x));
  }

 private:
  activation_quantizer(activation_scaling s, mapping m, convention c, value_range r)
      : scaling_(s),
        range_(r),
        q_(quant_options{s == activation_scaling::dynamic_per_token ? per_token() : per_tensor(), m, c,
                         m == mapping::symmetric ? absmax_observer() : minmax_observer()}) {}

  activation_scaling scaling_;
  value_range range_;
  base_quantizer q_;
};

}  // namespace lowbit
