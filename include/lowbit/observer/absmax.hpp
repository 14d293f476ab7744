// lowbit/observer/absmax.hpp — the symmetric range [−max|x|, max|x|].
#pragma once

#include <Eigen/Core>
#include <cmath>

namespace lowbit {

struct value_range {
  float lo = 0.0f;
  float hi = 0.0f;
};

// absmax over n contiguous values: {−a, a}, a = max_i |x_i| (0 for n = 0).
inline value_range absmax_range(const float* x, Eigen::Index n) {
  float a = 0.0f;
  for (Eigen::Index i = 0; i < n; ++i) a = std::fmax(a, std::fabs(x[i]));
  return {-a, a};
}

}  // namespace lowbit
