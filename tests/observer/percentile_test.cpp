#include <lowbit/observer/percentile.hpp>

#include <doctest/doctest.h>

#include "golden.hpp"

using namespace lowbit;

TEST_CASE("observer/percentile: numpy.quantile (linear) golden values, symmetric and both tails") {
  const golden::table t = golden::load("percentile.txt");
  const std::vector<float> x = golden::as_float(t.at("pct.x"));
  for (const char* tag : {"99_9", "90_0", "50_0", "100_0"}) {
    CAPTURE(tag);
    const double p = std::stod(std::string(tag).replace(std::string(tag).find('_'), 1, "."));
    const value_range s = percentile_range(x.data(), Eigen::Index(x.size()), p, true);
    const value_range a = percentile_range(x.data(), Eigen::Index(x.size()), p, false);
    CHECK(s.hi == float(t.at(std::string("pct.sym.") + tag)[0]));
    CHECK(s.lo == -s.hi);
    CHECK(a.lo == float(t.at(std::string("pct.lo.") + tag)[0]));
    CHECK(a.hi == float(t.at(std::string("pct.hi.") + tag)[0]));
  }
}

TEST_CASE("observer/percentile: hand cases and bad input") {
  const float x[5] = {5, 1, 4, 2, 3};
  CHECK(percentile_range(x, 5, 50.0, false).hi == 3.0f);
  CHECK(percentile_range(x, 5, 50.0, false).lo == 3.0f);
  CHECK(percentile_range(x, 5, 87.5, false).hi == 4.5f);  // h = 3.5 -> 4 + 0.5
  CHECK(percentile_range(x, 5, 100.0, true).hi == 5.0f);
  const float one = -2.5f;
  CHECK(percentile_range(&one, 1, 10.0, true).hi == 2.5f);
  CHECK(percentile_range(x, 0, 10.0, true).hi == 0.0f);
  CHECK_THROWS_AS(percentile_range(x, 5, 0.0, true), lowbit::error);
  CHECK_THROWS_AS(percentile_range(x, 5, 101.0, true), lowbit::error);
}
