// tests/support/random.hpp — seeded random matrices shared by the test binaries.
#pragma once

#include <Eigen/Core>

#include <random>

namespace lowbit_test {

// r × c row-major matrix of N(0, sd²) samples of type T from std::mt19937(seed), drawn row by
// row. Golden values and thresholds of the tests depend on this exact stream: do not reorder.
template <class T = float>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> randn(Eigen::Index r, Eigen::Index c, unsigned seed,
                                                                        double sd = 1.0) {
  std::mt19937 g(seed);
  std::normal_distribution<T> n(T(0), T(sd));
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> m(r, c);
  for (Eigen::Index i = 0; i < r; ++i)
    for (Eigen::Index j = 0; j < c; ++j) m(i, j) = n(g);
  return m;
}

}  // namespace lowbit_test
