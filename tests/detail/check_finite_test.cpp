#include <lowbit/detail/check_finite.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include "support/error_of.hpp"

using namespace lowbit;
using namespace lowbit_test;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

TEST_CASE("detail/check_finite: all_finite finds every NaN/Inf, wherever it is") {
  // Every finite class stays finite, and the sum of x·0 cannot overflow.
  MatF x(37, 53);  // odd sizes: vector bodies and scalar tails of the reduction
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      x(i, j) = float((i * 53 + j) % 11 - 5) * 1e37f;  // up to ±5e37, sums far past FLT_MAX
  x(0, 0) = std::numeric_limits<float>::max();
  x(0, 1) = -std::numeric_limits<float>::max();
  x(0, 2) = std::numeric_limits<float>::denorm_min();
  x(0, 3) = -0.0f;
  CHECK(detail::all_finite(x));
  CHECK(detail::all_finite<double>(x));
  MatF xb = x;
  xb(0, 0) = 1e38f;
  xb(0, 1) = -1e38f;
  CHECK(detail::all_finite(xb.cast<Eigen::bfloat16>()));
  CHECK(detail::all_finite(MatF(0, 4)));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()})
    for (Eigen::Index i : {0, 17, 36})
      for (Eigen::Index j : {0, 15, 16, 52}) {  // first, vector edges, last
        MatF y = x;
        y(i, j) = bad;
        CHECK_FALSE(detail::all_finite(y));
        CHECK_FALSE(detail::all_finite<double>(y));  // tested as float: a float is finite as double
        MatF yb = y;  // ±FLT_MAX would round to ±inf in bf16
        yb(0, 0) = (i == 0 && j == 0) ? bad : 1e38f;
        yb(0, 1) = -1e38f;
        CHECK_FALSE(detail::all_finite(yb.cast<Eigen::bfloat16>()));
        CHECK_FALSE(detail::all_finite(y.transpose()));
        CHECK(detail::all_finite(y.row(i == 0 ? 1 : 0)));  // a clean row
        CHECK_FALSE(detail::all_finite(y.row(i)));
      }
  // Strided blocks see only their entries.
  MatF z = x;
  z(5, 50) = std::numeric_limits<float>::quiet_NaN();
  CHECK(detail::all_finite(z.block(0, 0, 37, 50)));
  CHECK_FALSE(detail::all_finite(z.block(4, 40, 3, 11)));
  // As: a double beyond FLT_MAX is non-finite to a float caller, finite to a double one.
  Eigen::MatrixXd d = Eigen::MatrixXd::Ones(3, 3);
  d(2, 1) = 1e300;
  CHECK_FALSE(detail::all_finite<float>(d));
  CHECK(detail::all_finite<double>(d));
}

TEST_CASE("detail/check_finite: names the first NaN/Inf in row-major order") {
  MatF x = MatF::Constant(4, 6, 2.0f);
  CHECK(error_of([&] { detail::check_finite(x, "here"); }).empty());
  x(3, 0) = -std::numeric_limits<float>::infinity();
  x(1, 5) = std::numeric_limits<float>::quiet_NaN();
  CHECK(error_of([&] { detail::check_finite(x, "here", "weight", " of W"); })
            .find("here: non-finite weight nan at (1, 5) of W") != std::string::npos);
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(2, 2);
  d(1, 0) = -1e39;
  CHECK(error_of([&] { detail::check_finite(d, "f"); }).find("f: non-finite value -inf at (1, 0)") != std::string::npos);
  CHECK(error_of([&] { detail::check_finite<double>(d, "f"); }).empty());
}
