// lowbit/quantize/metrics.hpp — how far a quantized tensor is from its reference.
//
// Over n = rows·cols elements of a reference x and an approximation y (any Eigen dense
// expressions of equal shape; accumulated in double):
//   mse              Σ (x − y)² / n
//   sqnr_db          10·log10(Σ x² / Σ (x − y)²)      +inf when y = x exactly, −inf when x = 0 ≠ y
//   cosine           Σ x·y / (‖x‖·‖y‖)                  1 when both are all-zero, 0 when only one is
//   mean_abs_error   Σ |x − y| / n
//   max_abs_error    max |x − y|
// error_report bundles them with the three-tier health bands of the Quantize-Qwen3.5 FP8
// toolkit (seed 003, README "Three-tier health bands", and quantize_fp8.py MetricBands):
//                 cosine sim          mean abs err       max abs err
//     GOOD        >= 0.9997           <= 0.0008          <= 0.01
//     WARN        [0.9995, 0.9997)    (0.0008, 0.001]    (0.01, 0.02]
//     FAIL        < 0.9995            > 0.001            > 0.02
// The overall band is the worst of the three. The toolkit's script relaxes cosine to
// GOOD >= 0.9995 / WARN >= 0.995 for heavy-tailed MoE finetunes: health_bands::qwen35_script().
// The absolute-error bands are calibrated for bf16 LLM weights (|w| ~ 0.01-0.1); pass your own
// health_bands for other data.
//
// Bad input throws lowbit::error: empty inputs, shapes that differ, a non-finite reference.
// A non-finite approximation is reported, not thrown: its metrics are NaN/inf and every band FAIL.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "../error.hpp"

namespace lowbit {

enum class health { good, warn, fail };

inline const char* to_string(health h) {
  switch (h) {
    case health::good: return "GOOD";
    case health::warn: return "WARN";
    case health::fail: return "FAIL";
  }
  return "?";
}

struct health_bands {
  double cosine_good = 0.9997, cosine_warn = 0.9995;  // higher is better
  double mae_good = 0.0008, mae_warn = 0.001;         // lower is better
  double max_good = 0.01, max_warn = 0.02;            // lower is better

  static health_bands qwen35_readme() { return {}; }
  static health_bands qwen35_script() { return {0.9995, 0.995, 0.0008, 0.001, 0.01, 0.02}; }

  static health higher_better(double v, double good, double warn) {
    if (v >= good) return health::good;  // NaN fails every comparison -> FAIL
    if (v >= warn) return health::warn;
    return health::fail;
  }
  static health lower_better(double v, double good, double warn) {
    if (v <= good) return health::good;
    if (v <= warn) return health::warn;
    return health::fail;
  }
};

struct error_report {
  Eigen::Index n = 0;
  double mse = 0, sqnr_db = 0, cosine = 0, mean_abs_error = 0, max_abs_error = 0;
  health cosine_band = health::fail, mae_band = health::fail, max_band = health::fail, overall = health::fail;

  // One line: "GOOD  cos 0.999812 (GOOD)  mae 6.120e-04 (GOOD)  max 9.240e-03 (GOOD)  sqnr 35.21 dB  mse 1.2e-07  n 16384"
  std::string summary() const {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s  cos %.6f (%s)  mae %.3e (%s)  max %.3e (%s)  sqnr %.2f dB  mse %.3e  n %lld",
                  to_string(overall), cosine, to_string(cosine_band), mean_abs_error, to_string(mae_band),
                  max_abs_error, to_string(max_band), sqnr_db, mse, static_cast<long long>(n));
    return buf;
  }
};

namespace detail {
struct error_sums {
  Eigen::Index n = 0;
  double xx = 0, yy = 0, xy = 0, ee = 0, abs = 0, max = 0;
  bool finite = true;
};

template <class A, class B>
error_sums error_sums_of(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y, const char* where) {
  LOWBIT_CHECK(x.rows() == y.rows() && x.cols() == y.cols(), where, ": shapes differ (", x.rows(), " x ", x.cols(),
               " vs ", y.rows(), " x ", y.cols(), ")");
  LOWBIT_CHECK(x.size() > 0, where, ": empty input");
  error_sums s;
  s.n = x.size();
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      const double a = static_cast<double>(x(i, j)), b = static_cast<double>(y(i, j));
      LOWBIT_CHECK(std::isfinite(a), where, ": non-finite reference value ", a, " at (", i, ", ", j, ")");
      if (!std::isfinite(b)) s.finite = false;
      const double d = a - b;
      s.xx += a * a;
      s.yy += b * b;
      s.xy += a * b;
      s.ee += d * d;
      s.abs += std::fabs(d);
      s.max = std::fabs(d) > s.max || std::isnan(d) ? std::fabs(d) : s.max;
    }
  return s;
}

inline double sqnr_from(double signal, double noise) {
  if (noise == 0.0) return std::numeric_limits<double>::infinity();
  if (signal == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}
inline double cosine_from(double xx, double yy, double xy) {
  if (xx == 0.0 && yy == 0.0) return 1.0;
  if (xx == 0.0 || yy == 0.0) return 0.0;
  return xy / (std::sqrt(xx) * std::sqrt(yy));
}
}  // namespace detail

template <class A, class B>
double mse(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y) {
  const auto s = detail::error_sums_of(x, y, "mse");
  return s.ee / double(s.n);
}
template <class A, class B>
double sqnr_db(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y) {
  const auto s = detail::error_sums_of(x, y, "sqnr_db");
  return s.finite ? detail::sqnr_from(s.xx, s.ee) : std::numeric_limits<double>::quiet_NaN();
}
template <class A, class B>
double cosine_similarity(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y) {
  const auto s = detail::error_sums_of(x, y, "cosine_similarity");
  return s.finite ? detail::cosine_from(s.xx, s.yy, s.xy) : std::numeric_limits<double>::quiet_NaN();
}
template <class A, class B>
double mean_abs_error(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y) {
  const auto s = detail::error_sums_of(x, y, "mean_abs_error");
  return s.abs / double(s.n);
}
template <class A, class B>
double max_abs_error(const Eigen::DenseBase<A>& x, const Eigen::DenseBase<B>& y) {
  return detail::error_sums_of(x, y, "max_abs_error").max;
}

// Every metric and its health band, in one pass.
template <class A, class B>
error_report compare(const Eigen::DenseBase<A>& reference, const Eigen::DenseBase<B>& approx,
                     const health_bands& bands = {}) {
  const auto s = detail::error_sums_of(reference, approx, "compare");
  error_report r;
  r.n = s.n;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.mse = s.finite ? s.ee / double(s.n) : nan;
  r.sqnr_db = s.finite ? detail::sqnr_from(s.xx, s.ee) : nan;
  r.cosine = s.finite ? detail::cosine_from(s.xx, s.yy, s.xy) : nan;
  r.mean_abs_error = s.finite ? s.abs / double(s.n) : nan;
  r.max_abs_error = s.finite ? s.max : nan;
  r.cosine_band = health_bands::higher_better(r.cosine, bands.cosine_good, bands.cosine_warn);
  r.mae_band = health_bands::lower_better(r.mean_abs_error, bands.mae_good, bands.mae_warn);
  r.max_band = health_bands::lower_better(r.max_abs_error, bands.max_good, bands.max_warn);
  r.overall = r.cosine_band;
  for (health h : {r.mae_band, r.max_band})
    if (int(h) > int(r.overall)) r.overall = h;
  return r;
}

}  // namespace lowbit
