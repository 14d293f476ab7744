#include <lowbit/algo/channel_reduction.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/error_of.hpp"
#include "support/random.hpp"

using namespace lowbit;
using namespace lowbit_test;

namespace {
struct running_min {
  double operator()(double m, double v) const { return std::min(m, v); }
};
struct count_negative {
  double operator()(double n, double v) const { return n + (v < 0 ? 1.0 : 0.0); }
};
}  // namespace

TEST_CASE("algo/channel_reduction: acc_j = op over every row of every batch, starting at 0") {
  // Batches of 3, 1 and 5 rows (odd shapes); float and double inputs, column-major too.
  const auto a = randn(3, 7, 1);
  const auto b = randn<double>(1, 7, 2);
  const Eigen::MatrixXf c = randn(5, 7, 3);
  channel_reduction<running_min> lo;
  channel_reduction<count_negative> neg;
  lo.update(a);
  neg.update(a);
  lo.update(b);
  neg.update(b);
  lo.update(c);
  neg.update(c);
  CHECK(lo.rows() == 9);
  CHECK(neg.rows() == 9);
  REQUIRE(lo.value().size() == 7);
  for (Eigen::Index j = 0; j < 7; ++j) {
    std::vector<double> col;  // channel j of every row, in order
    for (Eigen::Index i = 0; i < 3; ++i) col.push_back(a(i, j));
    col.push_back(b(0, j));
    for (Eigen::Index i = 0; i < 5; ++i) col.push_back(c(i, j));
    CHECK(lo.value()(j) == std::min(0.0, *std::min_element(col.begin(), col.end())));  // starts at 0
    CHECK(neg.value()(j) == double(std::count_if(col.begin(), col.end(), [](double v) { return v < 0; })));
  }
}

TEST_CASE("algo/channel_reduction: bad batches throw lowbit::error naming the caller") {
  channel_reduction<running_min> r;
  CHECK(r.value().size() == 0);
  CHECK(error_of([&] { r.update(Eigen::MatrixXd(0, 3)); }).find("channel_reduction::update: empty batch (0 x 3)") !=
        std::string::npos);
  CHECK(r.rows() == 0);
  r.update(randn(2, 4, 1), "mine");
  CHECK(error_of([&] { r.update(randn(2, 5, 1), "mine"); }).find("mine: batch has 5 channels, earlier batches had 4") !=
        std::string::npos);
  Eigen::MatrixXf x = Eigen::MatrixXf::Zero(2, 4);
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK(error_of([&] { r.update(x); }).find("channel_reduction::update: non-finite value nan") != std::string::npos);
  CHECK(error_of([&] { r.update(x); }).find("at (1, 2)") != std::string::npos);
  x(1, 2) = -std::numeric_limits<float>::infinity();
  CHECK(error_of([&] { r.update(x); }).find("non-finite value -inf") != std::string::npos);
}

TEST_CASE("algo/channel_reduction: a batch that throws leaves the statistic as it was") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  channel_reduction<running_min> r;
  Eigen::MatrixXd first(2, 3);
  first << -5, -6, -7, -1, nan, -1;  // the bad value comes after a row that would lower every min
  CHECK(!error_of([&] { r.update(first); }).empty());
  CHECK(r.rows() == 0);
  CHECK(r.value().size() == 0);  // still nothing seen: the next batch may set the channel count
  r.update(Eigen::MatrixXd::Constant(1, 4, -1.0));
  Eigen::MatrixXd bad(3, 4);
  bad << -9, -9, -9, -9, -8, -8, -8, -8, 0, 0, nan, 0;  // two rows below -1, then a NaN
  CHECK(error_of([&] { r.update(bad); }).find("at (2, 2)") != std::string::npos);
  CHECK(r.rows() == 1);
  CHECK(r.value() == Eigen::VectorXd::Constant(4, -1.0));
}
