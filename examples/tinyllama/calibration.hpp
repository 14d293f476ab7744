// examples/tinyllama/calibration.hpp — statistics of the inputs of every linear, gathered through
// hooks::observe while the model runs over calibration windows.
//
// Per site (layer, linear) with K input channels and n rows (tokens) seen:
//   xtx      Σ xᵀx, K×K, in double   -> GPTQ Hessian H = 2·xtx / n
//   absmax   max |x_k|                -> SmoothQuant migration scales
//   abs_sum  Σ |x_k|                  -> AWQ activation magnitude (abs_sum / n)
//   sum      Σ x_k                    -> means (MeanShift, asymmetric ranges)
//   samples  the first `max_sample_rows` rows of X, verbatim (AWQ's scale/clip search)
// wq/wk/wv share one input, and so do w1/w3: their statistics are equal (recorded for each).
//
//   const auto rec = tinyllama::calibrate(model, text.calibration());   // or (…, base hooks, 4096 sample rows)
//   const auto& s = rec.at({3, tinyllama::linear_kind::w2});           // s.hessian() is K×K
// calibrate() runs the model over the windows (logits of the last row only) and records every
// transformer linear (not the classifier); a recorder can also be set as hooks::observe directly.
#pragma once

#include "eval.hpp"
#include "forward.hpp"

#include <lowbit/error.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <map>
#include <vector>

namespace tinyllama {

struct linear_stats {
  Eigen::Index rows = 0;
  Eigen::MatrixXd xtx;
  Eigen::VectorXf absmax;
  Eigen::VectorXd abs_sum, sum;
  matrix samples;  // at most max_sample_rows × K

  Eigen::MatrixXd hessian() const { return rows ? Eigen::MatrixXd(2.0 * xtx / static_cast<double>(rows)) : xtx; }
  Eigen::VectorXd mean_abs() const { return rows ? Eigen::VectorXd(abs_sum / static_cast<double>(rows)) : abs_sum; }
  Eigen::VectorXd mean() const { return rows ? Eigen::VectorXd(sum / static_cast<double>(rows)) : sum; }
};

struct calibration_recorder {
  bool record_xtx = true;           // K×K per site; switch off when only ranges are needed
  Eigen::Index max_sample_rows = 0;  // raw rows kept per site
  std::map<linear_site, linear_stats> stats;

  void operator()(const linear_site& site, const matrix& x) {
    LOWBIT_CHECK(x.allFinite(), "calibration input of ", to_string(site.kind), " in layer ", site.layer,
                 " contains NaN or Inf");
    linear_stats& s = stats[site];
    const Eigen::Index K = x.cols();
    if (s.rows == 0) {
      s.xtx = Eigen::MatrixXd::Zero(record_xtx ? K : 0, record_xtx ? K : 0);
      s.absmax = Eigen::VectorXf::Zero(K);
      s.abs_sum = s.sum = Eigen::VectorXd::Zero(K);
      s.samples.resize(0, K);
    }
    LOWBIT_CHECK(s.absmax.size() == K, "calibration input of ", to_string(site.kind), " changed width");
    const Eigen::MatrixXd xd = x.cast<double>();
    if (record_xtx) s.xtx.noalias() += xd.transpose() * xd;
    s.absmax = s.absmax.cwiseMax(x.cwiseAbs().colwise().maxCoeff().transpose());
    s.abs_sum += xd.cwiseAbs().colwise().sum().transpose();
    s.sum += xd.colwise().sum().transpose();
    const Eigen::Index keep = std::min(max_sample_rows - s.samples.rows(), x.rows());
    if (keep > 0) {
      s.samples.conservativeResize(s.samples.rows() + keep, K);
      s.samples.bottomRows(keep) = x.topRows(keep);
    }
    s.rows += x.rows();
  }

  const linear_stats& at(const linear_site& site) const {
    const auto it = stats.find(site);
    LOWBIT_CHECK(it != stats.end(), "no calibration data for ", to_string(site.kind), " of layer ", site.layer);
    return it->second;
  }
};

// Statistics of every transformer-linear input of m over `windows`, run with `base` hooks (their
// observe is called first; linear / qkv / attention act as usual). sample_rows: rows of X kept
// verbatim per site; xtx: whether to accumulate Σ xᵀx.
inline calibration_recorder calibrate(const model& m, const std::vector<window>& windows, const hooks& base = {},
                                      Eigen::Index sample_rows = 0, bool xtx = true) {
  LOWBIT_CHECK(!windows.empty(), "calibrate: no calibration windows");
  calibration_recorder rec;
  rec.record_xtx = xtx;
  rec.max_sample_rows = sample_rows;
  hooks h = base;
  h.observe = [&rec, &base](const linear_site& s, const matrix& x) {
    if (base.observe) base.observe(s, x);
    if (s.kind != linear_kind::cls) rec(s, x);
  };
  for (const window& w : windows) forward(m, w, h, logits_rows::last);
  return rec;
}

}  // namespace tinyllama
