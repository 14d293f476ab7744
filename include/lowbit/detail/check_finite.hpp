// lowbit/detail/check_finite.hpp — the NaN/Inf check of an input matrix, shared by the
// quantizer and the algorithms.
//
//   detail::check_finite(x, "gptq", "weight");         // float
//   detail::check_finite<double>(x, "awq_search_clip (X)");
// Reads every x(i, j) as As (the type the caller computes in: a double too large for float is
// non-finite to a float caller) and throws lowbit::error naming the first NaN/±inf in
// row-major order: "<where>: non-finite <what> <v> at (<i>, <j>)<after>". One vectorised
// pass when x is finite (Eigen's allFinite), the row-major search only to name the culprit.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../error.hpp"

namespace lowbit {
namespace detail {

template <class As = float, class Derived>
void check_finite(const Eigen::DenseBase<Derived>& x, const char* where, const char* what = "value",
                  const char* after = "") {
  if (x.derived().template cast<As>().allFinite()) return;
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) {
      const As v = static_cast<As>(x(i, j));
      LOWBIT_CHECK(std::isfinite(v), where, ": non-finite ", what, " ", v, " at (", i, ", ", j, ")", after);
    }
}

}  // namespace detail
}  // namespace lowbit
