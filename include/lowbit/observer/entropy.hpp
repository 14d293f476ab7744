// lowbit/observer/entropy.hpp — histogram calibration of |x| seen batch by batch, as
// TensorRT / ModelOpt's HistogramCalibrator (modelopt/torch/quantization/calib/histogram.py),
// with amax chosen by entropy (KL divergence), percentile or MSE. Per tensor.
//
// Collection. The first batch with a nonzero max m fixes the bin width w = m / num_bins
// (double); element |x| falls in bin b = min(nbins − 1, floor(|x| / w)). A later batch whose
// max exceeds nbins·w appends bins of the same width, nbins = ceil(max / w), and never re-bins
// (ModelOpt's torch path). Edges are e_k = float(k·w), k = 0..nbins. While every value seen is
// 0 the zeros are counted in bin 0 and the width is not yet fixed. skip_zeros drops exact zeros.
// More than max_bins bins (a later batch 10^6× larger than the first) is a lowbit::error.
//
// amax from a histogram h[0..n) with edges e[0..n]:
//   percentile  cdf_k = Σ_{j<=k} h_j / total (summed in that order, float64);
//               idx = first k with cdf_k >= p/100; amax = e[idx] (the LEFT edge of that bin)
//   entropy     (TensorRT "entropy calibration", nb = 2^(num_bits − 1 + unsigned) levels)
//               h' = h with h'[0] = h'[1] (a copy: ModelOpt's numpy path mutates its stored
//               histogram here, lowbit does not); for each i = start_bin, start_bin + stride,
//               … <= n:
//                 P = h'[0..i), P[i−1] += Σ h'[i..n)           (outliers folded into the edge)
//                 level(k) = floor(k·nb / i); Q[k] = (Σ of non-empty h'[k'] in k's level) /
//                            (number of non-empty bins in that level) for non-empty k, else 0
//                 KL = Σ p_k log(p_k / q_k) over normalised P, Q (0 where p_k = 0, +inf where
//                      q_k = 0 < p_k; NaN when Q is all zero, which numpy's argmin picks)
//               amax = e[i*] for the LAST i* with the minimum KL
//   mse         centres c_k = (e_k + e_{k+1})/2 (float32); for i = start_bin, …, < n:
//               s = qmax / c_i, c'_k = clamp(RNE(c_k·s), −qmax−1, qmax) / s (float32, qmax =
//               2^(num_bits−1+unsigned) − 1); loss_i = mean_k h_k (c'_k − c_k)² (float64);
//               amax = c_{i*} for the FIRST minimum
// An all-zero (or never filled) histogram gives amax = 0 (the quantizer then uses a unit scale).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../error.hpp"
#include "absmax.hpp"

namespace lowbit {

enum class histogram_method { entropy, percentile, mse };

struct histogram_options {
  Eigen::Index num_bins = 2048;      // bins of the first batch
  int num_bits = 8;                  // entropy / mse: target integer width
  bool is_unsigned = false;          // entropy / mse: unsigned target (one more level bit)
  Eigen::Index stride = 1;           // entropy / mse: candidate step
  Eigen::Index start_bin = 128;      // entropy / mse: first candidate
  double percentile = 99.99;         // percentile method, in (0, 100]
  bool skip_zeros = false;           // drop exact zeros when collecting
  Eigen::Index max_bins = 1 << 24;   // growth limit
};

// amax of a histogram (counts[0..n), edges[0..n]) by each method; see the header comment.
inline float histogram_amax_percentile(const std::vector<std::int64_t>& counts, const std::vector<float>& edges,
                                       double p) {
  LOWBIT_CHECK(p >= 0.0 && p <= 100.0, "histogram_amax_percentile: percentile must be in [0, 100], got ", p);
  LOWBIT_CHECK(edges.size() == counts.size() + 1, "histogram_amax_percentile: need counts.size() + 1 edges");
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0.0f;
  const double target = p / 100.0;
  double cdf = 0.0;
  std::size_t idx = counts.size();
  for (std::size_t k = 0; k < counts.size(); ++k) {
    cdf += double(counts[k]) / double(total);
    if (cdf >= target) {
      idx = k;
      break;
    }
  }
  return edges[idx];
}

inline float histogram_amax_entropy(const std::vector<std::int64_t>& counts, const std::vector<float>& edges,
                                    int num_bits = 8, bool is_unsigned = false, Eigen::Index stride = 1,
                                    Eigen::Index start_bin = 128) {
  const Eigen::Index n = Eigen::Index(counts.size());
  LOWBIT_CHECK(edges.size() == counts.size() + 1, "histogram_amax_entropy: need counts.size() + 1 edges");
  LOWBIT_CHECK(num_bits >= 2 && num_bits <= 16 && stride >= 1 && start_bin >= 1, "histogram_amax_entropy: need ",
               "2 <= num_bits <= 16, stride >= 1, start_bin >= 1");
  LOWBIT_CHECK(n >= start_bin, "histogram_amax_entropy: ", n, " bins, fewer than start_bin ", start_bin);
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0.0f;
  std::vector<double> h(counts.begin(), counts.end());
  if (n >= 2) h[0] = h[1];
  const Eigen::Index nb = Eigen::Index(1) << (num_bits - 1 + (is_unsigned ? 1 : 0));
  std::vector<double> suffix(std::size_t(n) + 1, 0.0);  // suffix[i] = Σ h[i..n)
  for (Eigen::Index k = n - 1; k >= 0; --k) suffix[std::size_t(k)] = suffix[std::size_t(k) + 1] + h[std::size_t(k)];
  std::vector<double> level_sum(static_cast<std::size_t>(nb)), level_cnt(static_cast<std::size_t>(nb));
  double best = std::numeric_limits<double>::infinity();
  bool best_nan = false;
  Eigen::Index best_i = -1;
  for (Eigen::Index i = start_bin; i <= n; i += stride) {
    std::fill(level_sum.begin(), level_sum.end(), 0.0);
    std::fill(level_cnt.begin(), level_cnt.end(), 0.0);
    for (Eigen::Index k = 0; k < i; ++k)
      if (h[std::size_t(k)] != 0.0) {
        const std::size_t l = std::size_t(k * nb / i);
        level_sum[l] += h[std::size_t(k)];
        level_cnt[l] += 1.0;
      }
    double sum_p = 0.0, sum_q = 0.0;
    for (Eigen::Index k = 0; k < i; ++k) {
      sum_p += h[std::size_t(k)];
      if (h[std::size_t(k)] != 0.0) {
        const std::size_t l = std::size_t(k * nb / i);
        sum_q += level_sum[l] / level_cnt[l];
      }
    }
    sum_p += suffix[std::size_t(i)];
    double kl = 0.0;
    for (Eigen::Index k = 0; k < i; ++k) {
      double pk = h[std::size_t(k)];
      if (k == i - 1) pk += suffix[std::size_t(i)];
      double qk = 0.0;
      if (h[std::size_t(k)] != 0.0) {
        const std::size_t l = std::size_t(k * nb / i);
        qk = level_sum[l] / level_cnt[l];
      }
      pk /= sum_p;
      qk /= sum_q;  // NaN when Q is all zero, as scipy
      if (pk > 0.0 && qk > 0.0) kl += pk * std::log(pk / qk);
      else if (pk > 0.0 && qk == 0.0) kl = std::numeric_limits<double>::infinity();
      else if (std::isnan(qk) || std::isnan(pk)) kl = std::numeric_limits<double>::quiet_NaN();
      if (std::isnan(kl)) break;
    }
    // numpy's argmin over the reversed list = the last minimum; a NaN counts as the minimum.
    if (std::isnan(kl)) {
      best_nan = true;
      best_i = i;
    } else if (!best_nan && kl <= best) {
      best = kl;
      best_i = i;
    }
  }
  if (best_i < 0) best_i = n;  // every candidate +inf: numpy picks the last
  return edges[std::size_t(best_i)];
}

inline float histogram_amax_mse(const std::vector<std::int64_t>& counts, const std::vector<float>& edges,
                                int num_bits = 8, bool is_unsigned = false, Eigen::Index stride = 1,
                                Eigen::Index start_bin = 128) {
  const Eigen::Index n = Eigen::Index(counts.size());
  LOWBIT_CHECK(edges.size() == counts.size() + 1, "histogram_amax_mse: need counts.size() + 1 edges");
  LOWBIT_CHECK(num_bits >= 2 && num_bits <= 16 && stride >= 1 && start_bin >= 0, "histogram_amax_mse: need ",
               "2 <= num_bits <= 16, stride >= 1, start_bin >= 0");
  LOWBIT_CHECK(n > start_bin, "histogram_amax_mse: ", n, " bins, need more than start_bin ", start_bin);
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  if (total == 0) return 0.0f;
  const float qmax = float((1 << (num_bits - 1 + (is_unsigned ? 1 : 0))) - 1);
  const float qmin = is_unsigned ? 0.0f : -qmax - 1.0f;
  std::vector<float> c(std::size_t(n) + 0);
  // bin centres (e_k + e_{k+1}) / 2: the float sum's rounding, without its overflow near FLT_MAX
  for (Eigen::Index k = 0; k < n; ++k)
    c[std::size_t(k)] = float((double(edges[std::size_t(k)]) + double(edges[std::size_t(k) + 1])) / 2.0);
  double best = std::numeric_limits<double>::infinity();
  Eigen::Index best_i = start_bin;
  for (Eigen::Index i = start_bin; i < n; i += stride) {
    const float amax = c[std::size_t(i)];
    const float s = qmax / amax;
    double loss = 0.0;
    for (Eigen::Index k = 0; k < n; ++k) {
      if (counts[std::size_t(k)] == 0) continue;
      float q = std::nearbyint(c[std::size_t(k)] * s);
      q = q < qmin ? qmin : (q > qmax ? qmax : q);
      const double d = double(q / s) - double(c[std::size_t(k)]);
      loss += d * d * double(counts[std::size_t(k)]);
    }
    loss /= double(n);
    if (loss < best) {
      best = loss;
      best_i = i;
    }
  }
  return c[std::size_t(best_i)];
}

// Histogram of |x| collected batch by batch (per tensor).
class histogram_calibrator {
 public:
  explicit histogram_calibrator(histogram_options o = {}) : opt_(o) {
    LOWBIT_CHECK(opt_.num_bins >= 1 && opt_.max_bins >= opt_.num_bins, "histogram_calibrator: num_bins must be in [1, ",
                 "max_bins], got ", opt_.num_bins);
    LOWBIT_CHECK(opt_.percentile > 0.0 && opt_.percentile <= 100.0,
                 "histogram_calibrator: percentile must be in (0, 100], got ", opt_.percentile);
    LOWBIT_CHECK(opt_.num_bits >= 2 && opt_.num_bits <= 16, "histogram_calibrator: num_bits must be in [2, 16], got ",
                 opt_.num_bits);
    LOWBIT_CHECK(opt_.stride >= 1 && opt_.start_bin >= 1 && opt_.start_bin < opt_.num_bins,
                 "histogram_calibrator: need stride >= 1 and 1 <= start_bin < num_bins, got stride ", opt_.stride,
                 ", start_bin ", opt_.start_bin);
  }

  const histogram_options& options() const { return opt_; }

  // Add n values to the histogram. NaN/Inf are a lowbit::error (nothing is added).
  void collect(const float* x, Eigen::Index n) {
    float m = 0.0f;
    for (Eigen::Index k = 0; k < n; ++k) {
      LOWBIT_CHECK(std::isfinite(x[k]), "histogram_calibrator::collect: non-finite value ", x[k], " at ", k);
      m = std::fmax(m, std::fabs(x[k]));
    }
    if (width_ == 0.0 && m > 0.0f) {  // first nonzero batch fixes the width; earlier zeros stay in bin 0
      width_ = double(m) / double(opt_.num_bins);
      counts_.resize(std::size_t(opt_.num_bins), 0);
    } else if (width_ > 0.0 && double(m) > width_ * double(counts_.size())) {
      const double need = std::ceil(double(m) / width_);
      LOWBIT_CHECK(need <= double(opt_.max_bins), "histogram_calibrator::collect: a batch max of ", m,
                   " needs ", need, " bins of width ", width_, " (max_bins ", opt_.max_bins,
                   "); calibrate with a representative first batch");
      counts_.resize(std::size_t(need), 0);
    }
    if (counts_.empty()) counts_.resize(1, 0);
    const std::size_t last = counts_.size() - 1;
    for (Eigen::Index k = 0; k < n; ++k) {
      const float a = std::fabs(x[k]);
      if (opt_.skip_zeros && a == 0.0f) continue;
      std::size_t b = 0;
      if (width_ > 0.0) {
        const double f = std::floor(double(a) / width_);
        b = f >= double(last) ? last : std::size_t(f);
      }
      ++counts_[b];
    }
    seen_ += n;
  }

  template <class Derived>
  void collect(const Eigen::DenseBase<Derived>& x) {
    std::vector<float> buf(std::size_t(x.size()));
    std::size_t k = 0;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index j = 0; j < x.cols(); ++j) buf[k++] = static_cast<float>(x(i, j));
    collect(buf.data(), Eigen::Index(buf.size()));
  }

  void reset() {
    counts_.clear();
    width_ = 0.0;
    seen_ = 0;
  }

  Eigen::Index values_seen() const { return seen_; }
  double bin_width() const { return width_; }
  const std::vector<std::int64_t>& counts() const { return counts_; }
  std::vector<float> edges() const {
    std::vector<float> e(counts_.size() + 1);
    // k·w in float; the top edge of a histogram reaching FLT_MAX stays FLT_MAX (not inf)
    const double top = double(std::numeric_limits<float>::max());
    for (std::size_t k = 0; k < e.size(); ++k) e[k] = float(std::fmin(double(k) * width_, top));
    return e;
  }

  // amax by the given method (options' num_bits, unsigned, stride, start_bin, percentile).
  float compute_amax(histogram_method m = histogram_method::entropy) const {
    LOWBIT_CHECK(seen_ > 0, "histogram_calibrator::compute_amax: no data collected");
    if (width_ == 0.0) return 0.0f;  // all zeros so far
    const std::vector<float> e = edges();
    switch (m) {
      case histogram_method::percentile: return histogram_amax_percentile(counts_, e, opt_.percentile);
      case histogram_method::entropy:
        return histogram_amax_entropy(counts_, e, opt_.num_bits, opt_.is_unsigned, opt_.stride, opt_.start_bin);
      case histogram_method::mse:
        return histogram_amax_mse(counts_, e, opt_.num_bits, opt_.is_unsigned, opt_.stride, opt_.start_bin);
    }
    LOWBIT_CHECK(false, "histogram_calibrator::compute_amax: unknown method ", int(m));
  }

  // Symmetric range [−amax, amax] for quantizer::from_ranges (per-tensor grid).
  value_range range(histogram_method m = histogram_method::entropy) const {
    const float a = compute_amax(m);
    return {-a, a};
  }

 private:
  histogram_options opt_;
  std::vector<std::int64_t> counts_;
  double width_ = 0.0;
  Eigen::Index seen_ = 0;
};

}  // namespace lowbit
