#include <lowbit/format/int.hpp>
#include <lowbit/observer/observer.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <doctest/doctest.h>

using namespace lowbit;

namespace {
const auto no_err = [](const value_range&, double) { return 0.0; };
}

TEST_CASE("observer/observer: each kind dispatches to its range function") {
  const float x[6] = {0.5f, -2.0f, 3.0f, -4.0f, 1.0f, 0.0f};
  const value_range a = observe(absmax_observer(), x, nullptr, 6, true, no_err);
  CHECK(a.lo == -4.0f);
  CHECK(a.hi == 4.0f);
  const value_range m = observe(minmax_observer(), x, nullptr, 6, false, no_err);
  CHECK(m.lo == -4.0f);
  CHECK(m.hi == 3.0f);
  // rms = sqrt((0.25 + 4 + 9 + 16 + 1) / 6) = 2.245; k = 1 beats the floor 0.5 * 4 = 2
  const value_range r = observe(rms_observer(1.0f, 0.5f), x, nullptr, 6, true, no_err);
  CHECK(r.hi == doctest::Approx(std::sqrt(30.25 / 6.0)));
  const value_range p = observe(percentile_observer(100.0), x, nullptr, 6, false, no_err);
  CHECK(p.lo == -4.0f);
  CHECK(p.hi == 3.0f);
  int calls = 0;
  auto err = [&](const value_range& c, double norm) {
    ++calls;
    CHECK(norm == 2.4);
    return std::fabs(double(c.hi) - 3.0);  // minimum at p = 0.75
  };
  const value_range s = observe(gptq_clip_observer(), x, nullptr, 6, true, err);
  CHECK(calls == 80);
  CHECK(s.hi == 3.0f);
}

TEST_CASE("observer/observer: bad parameters are a lowbit::error, at quantizer construction too") {
  CHECK_THROWS_AS(check_observer(percentile_observer(0.0)), lowbit::error);
  CHECK_THROWS_AS(check_observer(percentile_observer(100.5)), lowbit::error);
  CHECK_THROWS_AS(check_observer(rms_observer(0.0f)), lowbit::error);
  CHECK_THROWS_AS(check_observer(rms_observer(3.0f, 1.5f)), lowbit::error);
  CHECK_THROWS_AS(check_observer(mse_observer(0)), lowbit::error);
  CHECK_THROWS_AS(check_observer(mse_observer(100, 0.0)), lowbit::error);
  CHECK_THROWS_AS(check_observer(mse_observer(100, 0.8, -1.0)), lowbit::error);
  CHECK_THROWS_AS(check_observer(mse_observer(3, 0.2)), lowbit::error);  // int(0.6) = 0 candidates
  CHECK_NOTHROW(check_observer(gptq_clip_observer()));
  quant_options o;
  o.obs = percentile_observer(-1.0);
  CHECK_THROWS_AS(quantizer<int8>{o}, lowbit::error);
}

TEST_CASE("observer/observer: channel weights are checked and normalised by the quantizer") {
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(4, 8);
  quant_options o;
  o.gran = per_channel(0);
  o.obs = rms_observer();
  quantizer<int8> q(o);
  Eigen::VectorXf w = Eigen::VectorXf::Ones(8);
  const qparams p1 = q.fit(x, w);
  Eigen::VectorXf w2 = w * 37.0f;  // normalised by max -> identical
  const qparams p2 = q.fit(x, w2);
  CHECK(p1.scale == p2.scale);
  CHECK(p1.scale == q.fit(x).scale);  // unit weights = unweighted
  Eigen::VectorXf shortw = Eigen::VectorXf::Ones(7);
  CHECK_THROWS_AS(q.fit(x, shortw), lowbit::error);
  w(3) = -1.0f;
  CHECK_THROWS_AS(q.fit(x, w), lowbit::error);
  w(3) = NAN;
  CHECK_THROWS_AS(q.fit(x, w), lowbit::error);
}
