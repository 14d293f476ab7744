#include <lowbit/format/int.hpp>
#include <lowbit/observer/entropy.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <limits>

#include <doctest/doctest.h>

#include "golden.hpp"

using namespace lowbit;

TEST_CASE("observer/entropy: ModelOpt HistogramCalibrator golden amax (entropy, percentile, mse)") {
  const golden::table t = golden::load("histogram.txt");
  histogram_calibrator cal;
  for (const char* b : {"hist.batch0", "hist.batch1", "hist.batch2"}) {
    const std::vector<float> x = golden::as_float(t.at(b));
    cal.collect(x.data(), Eigen::Index(x.size()));
  }
  const auto& gc = t.at("hist.counts");
  REQUIRE(cal.counts().size() == gc.size());
  CHECK(cal.counts().size() > 2048);  // grown twice with the first batch's width
  for (std::size_t k = 0; k < gc.size(); ++k) REQUIRE(cal.counts()[k] == std::int64_t(gc[k]));
  const std::vector<float> e = cal.edges();
  const auto& ge = t.at("hist.edges");
  for (std::size_t k = 0; k < ge.size(); ++k) REQUIRE(e[k] == float(ge[k]));

  CHECK(cal.compute_amax(histogram_method::entropy) == float(t.at("hist.entropy8")[0]));
  CHECK(histogram_amax_entropy(cal.counts(), e, 4) == float(t.at("hist.entropy4")[0]));
  for (const char* p : {"99_99", "99_9", "99_0", "100_0"}) {
    CAPTURE(p);
    std::string s(p);
    s[s.find('_')] = '.';
    CHECK(histogram_amax_percentile(cal.counts(), e, std::stod(s)) == float(t.at(std::string("hist.percentile.") + p)[0]));
  }
  CHECK(cal.compute_amax(histogram_method::percentile) == float(t.at("hist.percentile.99_99")[0]));
  CHECK(cal.compute_amax(histogram_method::mse) == float(t.at("hist.mse8")[0]));
  // The calibrated range feeds a static per-tensor quantizer.
  const value_range r = cal.range();
  quantizer<int8> q({per_tensor()});
  const Eigen::MatrixXf lo = Eigen::MatrixXf::Constant(1, 1, r.lo), hi = Eigen::MatrixXf::Constant(1, 1, r.hi);
  CHECK(q.from_ranges(4, 4, lo, hi).scale(0, 0) == r.hi / 127.0f);
}

TEST_CASE("observer/entropy: edge cases of ModelOpt's calibrator (research/algorithms.md §9 row 13)") {
  histogram_calibrator cal;
  CHECK_THROWS_AS(cal.compute_amax(), lowbit::error);  // nothing collected
  const float zeros[5] = {0, 0, 0, 0, 0};
  cal.collect(zeros, 5);
  CHECK(cal.compute_amax(histogram_method::entropy) == 0.0f);  // all-zero tensor: amax 0, no 0/0
  CHECK(cal.compute_amax(histogram_method::percentile) == 0.0f);
  const float one = 3.0f;  // a later nonzero batch fixes the width; the zeros stay in bin 0
  cal.collect(&one, 1);
  CHECK(cal.counts().size() == 2048);
  CHECK(cal.counts()[0] == 5);
  CHECK(cal.counts()[2047] == 1);
  CHECK(histogram_amax_percentile(cal.counts(), cal.edges(), 50.0) == 0.0f);  // 5/6 of the mass in bin 0
  CHECK(cal.compute_amax(histogram_method::percentile) == cal.edges()[2047]);  // 99.99% needs the 3
  CHECK(histogram_amax_percentile(cal.counts(), cal.edges(), 100.0) == cal.edges()[2047]);  // left edge
  CHECK(std::isfinite(cal.compute_amax(histogram_method::entropy)));  // NaN KL candidates handled
  CHECK(std::isfinite(cal.compute_amax(histogram_method::mse)));
  {  // data near FLT_MAX: the top edge k·w and the bin centres stay finite (were inf: entropy gave
     // amax = inf, mse scored every candidate inf and kept start_bin, clipping the range to 1/8)
    histogram_calibrator big;
    const float v[4] = {3.0e38f, 2.9e38f, std::numeric_limits<float>::max(), 1.0e38f};
    big.collect(v, 4);
    CHECK(big.edges().back() == std::numeric_limits<float>::max());
    CHECK(std::isfinite(big.compute_amax(histogram_method::entropy)));
    CHECK(big.compute_amax(histogram_method::mse) > 2.9e38f);
    Eigen::MatrixXf lo(1, 1), hi(1, 1);
    lo(0, 0) = big.range(histogram_method::entropy).lo;
    hi(0, 0) = big.range(histogram_method::entropy).hi;
    CHECK_NOTHROW(quantizer<int8>().from_ranges(2, 2, lo, hi));
  }

  histogram_calibrator single;  // a single value
  single.collect(&one, 1);
  CHECK(single.compute_amax(histogram_method::percentile) == single.edges()[2047]);
  CHECK(single.compute_amax(histogram_method::entropy) > 0.0f);

  histogram_options so;
  so.skip_zeros = true;
  histogram_calibrator skip(so);
  const float some[4] = {0, 0, 1, -2};
  skip.collect(some, 4);
  std::int64_t total = 0;
  for (auto c : skip.counts()) total += c;
  CHECK(total == 2);

  histogram_calibrator grow;
  const float small = 1e-3f, huge = 1e6f;
  grow.collect(&small, 1);
  CHECK_THROWS_AS(grow.collect(&huge, 1), lowbit::error);  // 2^24-bin limit
  const float bad[2] = {1.0f, NAN};
  CHECK_THROWS_AS(grow.collect(bad, 2), lowbit::error);
  CHECK(grow.counts().size() == 2048);  // unchanged by the failed batches
  histogram_options bo;
  bo.start_bin = 4096;
  CHECK_THROWS_AS(histogram_calibrator{bo}, lowbit::error);
  bo = {};
  bo.percentile = 0.0;
  CHECK_THROWS_AS(histogram_calibrator{bo}, lowbit::error);
}
