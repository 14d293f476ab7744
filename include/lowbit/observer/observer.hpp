// lowbit/observer/observer.hpp — how a quantizer chooses each block's range.
//
// An observer maps a block's values x[0..n) (and optional per-element importance weights
// w[0..n), e.g. activation magnitudes of the input channels) to a clipping range [lo, hi].
// Symmetric mappings use max(|lo|, |hi|). Search observers (MSE, GPTQ clip) score candidate
// ranges with err(range, p) = Σ w_i |x_i − x̂_i|^p, x̂ = the block quantized with that range
// through the very same scale rounding the quantizer uses, supplied by the quantizer.
//
//   observer_kind::absmax   [−max|x|, max|x|]                    (observer/absmax.hpp)
//   observer_kind::minmax   [min x, max x]                        (observer/minmax.hpp)
#pragma once

#include <Eigen/Core>

#include "../error.hpp"
#include "absmax.hpp"
#include "minmax.hpp"

namespace lowbit {

enum class observer_kind { absmax, minmax };

struct observer {
  observer_kind kind = observer_kind::absmax;
};

inline observer absmax_observer() { return {observer_kind::absmax}; }
inline observer minmax_observer() { return {observer_kind::minmax}; }

// Range of one block. `symmetric` tells search observers which family of ranges to try.
// ErrFn: double(value_range, double p) — the block's error Σ w_i |x_i − x̂_i|^p for a candidate range.
template <class ErrFn>
value_range observe(const observer& obs, const float* x, const float* /*w*/, Eigen::Index n,
                    bool /*symmetric*/, ErrFn&& /*err*/) {
  switch (obs.kind) {
    case observer_kind::absmax: return absmax_range(x, n);
    case observer_kind::minmax: return minmax_range(x, n);
  }
  LOWBIT_CHECK(false, "unknown observer kind ", int(obs.kind));
}

}  // namespace lowbit
