// lowbit/observer/observer.hpp — how a quantizer chooses each block's range.
//
// An observer maps a block's values x[0..n) (and optional per-element importance weights
// w[0..n), e.g. activation magnitudes of the input channels) to a clipping range [lo, hi].
// Symmetric mappings use max(|lo|, |hi|). Search observers (MSE, GPTQ clip) score candidate
// ranges with err(range, p) = Σ w_i |x_i − x̂_i|^p, x̂ = the block quantized with that range
// through the very same scale rounding the quantizer uses, supplied by the quantizer.
//
//   observer_kind::absmax      [−max|x|, max|x|]                           (observer/absmax.hpp)
//   observer_kind::minmax      [min x, max x]                               (observer/minmax.hpp)
//   observer_kind::rms         ±max(k·rms(x), floor·max|x|), weighted       (observer/rms.hpp)
//   observer_kind::percentile  p-th percentile of |x| (sym) or both tails   (observer/percentile.hpp)
//   observer_kind::mse         shrink grid minimising Σ w|x − x̂|^norm       (observer/mse.hpp)
//                              gptq_clip_observer(): norm 2.4, grid 100, max_shrink 0.8
// Stateful calibrators that see data batch by batch (histogram entropy/percentile/mse,
// running max, EMA) produce ranges for quantizer::from_ranges instead: observer/entropy.hpp,
// observer/running.hpp.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "../error.hpp"
#include "absmax.hpp"
#include "minmax.hpp"
#include "mse.hpp"
#include "percentile.hpp"
#include "rms.hpp"

namespace lowbit {

enum class observer_kind { absmax, minmax, rms, percentile, mse };

// The default is min/max: a symmetric mapping uses max(|min|, |max|) = absmax from it, and an
// asymmetric mapping gets its real range, so one default serves both.
struct observer {
  observer_kind kind = observer_kind::minmax;
  float rms_factor = 3.0f;   // rms: k
  float rms_floor = 0.5f;    // rms: range >= rms_floor · absmax
  double percentile = 99.9;  // percentile: p in (0, 100]
  int grid = 100;            // mse: candidates p = 1 − i/grid
  double max_shrink = 0.8;   // mse: i < max_shrink · grid
  double norm = 2.0;         // mse: error exponent (GPTQ 2.4)
};

inline observer absmax_observer() { return {observer_kind::absmax}; }
inline observer minmax_observer() { return {observer_kind::minmax}; }
inline observer rms_observer(float k = 3.0f, float floor = 0.5f) {
  observer o{observer_kind::rms};
  o.rms_factor = k;
  o.rms_floor = floor;
  return o;
}
inline observer percentile_observer(double p = 99.9) {
  observer o{observer_kind::percentile};
  o.percentile = p;
  return o;
}
inline observer mse_observer(int grid = 100, double max_shrink = 0.8, double norm = 2.0) {
  observer o{observer_kind::mse};
  o.grid = grid;
  o.max_shrink = max_shrink;
  o.norm = norm;
  return o;
}
// IST-DASLab/gptq quant.py configure(mse=True): norm 2.4, grid 100, maxshrink 0.8.
inline observer gptq_clip_observer() { return mse_observer(100, 0.8, 2.4); }

inline const char* to_string(observer_kind k) {
  switch (k) {
    case observer_kind::absmax: return "absmax";
    case observer_kind::minmax: return "minmax";
    case observer_kind::rms: return "rms";
    case observer_kind::percentile: return "percentile";
    case observer_kind::mse: return "mse";
  }
  return "?";
}

// Throws lowbit::error when an observer's parameters are out of range.
inline void check_observer(const observer& o, const char* where = "observer") {
  switch (o.kind) {
    case observer_kind::absmax:
    case observer_kind::minmax: return;
    case observer_kind::rms:
      LOWBIT_CHECK(std::isfinite(o.rms_factor) && o.rms_factor > 0.0f, where, ": rms factor k must be > 0, got ",
                   o.rms_factor);
      LOWBIT_CHECK(o.rms_floor >= 0.0f && o.rms_floor <= 1.0f, where, ": rms floor must be in [0, 1], got ",
                   o.rms_floor);
      return;
    case observer_kind::percentile:
      LOWBIT_CHECK(o.percentile > 0.0 && o.percentile <= 100.0, where, ": percentile must be in (0, 100], got ",
                   o.percentile);
      return;
    case observer_kind::mse:
      LOWBIT_CHECK(o.grid > 0, where, ": mse grid must be > 0, got ", o.grid);
      LOWBIT_CHECK(o.max_shrink > 0.0 && o.max_shrink <= 1.0 && int(o.max_shrink * o.grid) >= 1, where,
                   ": mse max_shrink must be in (0, 1] and leave at least one candidate, got ", o.max_shrink);
      LOWBIT_CHECK(std::isfinite(o.norm) && o.norm > 0.0, where, ": mse norm must be > 0, got ", o.norm);
      return;
  }
  LOWBIT_CHECK(false, where, ": unknown observer kind ", int(o.kind));
}

// Range of one block. `symmetric` tells search observers which family of ranges to try.
// ErrFn: double(value_range, double p) — the block's error Σ w_i |x_i − x̂_i|^p for a candidate range.
template <class ErrFn>
value_range observe(const observer& obs, const float* x, const float* w, Eigen::Index n, bool symmetric,
                    ErrFn&& err) {
  switch (obs.kind) {
    case observer_kind::absmax: return absmax_range(x, n);
    case observer_kind::minmax: return minmax_range(x, n);
    case observer_kind::rms: return rms_range(x, w, n, obs.rms_factor, obs.rms_floor);
    case observer_kind::percentile: return percentile_range(x, n, obs.percentile, symmetric);
    case observer_kind::mse: return mse_range(x, n, symmetric, obs.grid, obs.max_shrink, obs.norm, err);
  }
  LOWBIT_CHECK(false, "unknown observer kind ", int(obs.kind));
}

}  // namespace lowbit
