// tests/support/compare.hpp — how far a result is from its reference, in float64.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace lowbit_test {

// max |a − ref| / max |ref| (the denominator floored at 1e-300).
template <class A, class B>
double max_rel(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& ref) {
  return (a - ref).cwiseAbs().maxCoeff() / std::max(1e-300, ref.cwiseAbs().maxCoeff());
}

// SQNR in dB: 10·log10(Σ ref² / Σ (ref − approx)²), sums in float64.
template <class A, class B>
double sqnr_db(const Eigen::MatrixBase<A>& ref, const Eigen::MatrixBase<B>& approx) {
  const double s = ref.template cast<double>().squaredNorm();
  const double e = (ref - approx).template cast<double>().squaredNorm();
  return 10.0 * std::log10(s / e);
}

}  // namespace lowbit_test
