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
//   tinyllama::calibration_recorder rec;            // or rec.max_sample_rows = 4096;
//   tinyllama::hooks h;  h.observe = std::ref(rec);
//   for (const auto& w : data.calibration_windows()) tinyllama::forward(model, w, h);
//   const auto& s = rec.at({3, tinyllama::linear_kind::w2});   // s.hessian() is K×K
#pragma once

#include "forward.hpp"

#include <lowbit/error.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <map>

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

}  // namespace tinyllama
