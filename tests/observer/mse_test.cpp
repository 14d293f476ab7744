#include <lowbit/format/int.hpp>
#include <lowbit/observer/mse.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <cmath>
#include <random>

#include <doctest/doctest.h>

#include "golden.hpp"

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
// GPTQ's error of one row under (scale, zero), in float64: Σ |s (clamp(R(x/s) + z) − z) − x|^2.4.
double gptq_err(const Mat& w, Eigen::Index i, double s, double z, int maxq) {
  double e = 0;
  for (Eigen::Index j = 0; j < w.cols(); ++j) {
    const float x = w(i, j);
    double q = std::nearbyint(double(x / float(s))) + z;
    q = std::min(std::max(q, 0.0), double(maxq));
    e += std::pow(std::fabs(double(float(float(s) * float(q - z))) - x), 2.4);
  }
  return e;
}

template <class F>
void check_gptq_golden(const golden::table& t, const Mat& w, mapping m, const std::string& tag, bool skip_positive) {
  quant_options o;
  o.gran = per_channel(0);
  o.map = m;
  o.conv = convention::gptq;
  o.obs = gptq_clip_observer();
  const qparams p = quantizer<F>(o).fit(w);
  const auto& gs = t.at("gptq." + tag + ".scale");
  const auto& gz = t.at("gptq." + tag + ".zero");
  int exact = 0;
  for (Eigen::Index i = 0; i < w.rows(); ++i) {
    if (skip_positive && i == 4) continue;
    CAPTURE(tag);
    CAPTURE(i);
    if (p.scale(i, 0) == float(gs[std::size_t(i)]) && p.zero(i, 0) == float(gz[std::size_t(i)])) {
      ++exact;
      continue;
    }
    // The reference sums |err|^2.4 in float32; a different pick is only acceptable at a near-tie.
    const double mine = gptq_err(w, i, p.scale(i, 0), p.zero(i, 0), F::max_int);
    const double ref = gptq_err(w, i, gs[std::size_t(i)], gz[std::size_t(i)], F::max_int);
    CHECK(std::fabs(mine - ref) <= 1e-5 * ref);
  }
  CHECK(exact >= int(w.rows()) - 2);
}
}  // namespace

TEST_CASE("observer/mse: GPTQ clip search matches IST-DASLab/gptq quant.py golden scales and zeros") {
  const golden::table t = golden::load("gptq_clip.txt");
  const auto& shape = t.at("gptq.shape");
  const Eigen::Index rows = Eigen::Index(shape[0]), cols = Eigen::Index(shape[1]);
  const auto& wv = t.at("gptq.w");
  Mat w(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) w(i, j) = float(wv[std::size_t(i * cols + j)]);
  check_gptq_golden<uint4>(t, w, mapping::asymmetric, "asym4", false);
  check_gptq_golden<uint2>(t, w, mapping::asymmetric, "asym2", false);
  // Row 4 is all >= 0: GPTQ's symmetric mode keeps xmin = 0 there (scale = xmax/15, zero 8,
  // clipping the top half; research/algorithms.md §9 row 15); lowbit mirrors to ±absmax.
  check_gptq_golden<uint4>(t, w, mapping::symmetric, "sym4", true);
  // The zero row gets GPTQ's [-1, 1] range: scale fl(2/15), zero round(fl(1/fl(2/15))) =
  // round(7.4999995) = 7 in float32, as the reference.
  quant_options o{per_channel(0), mapping::asymmetric, convention::gptq, gptq_clip_observer()};
  const qparams p = quantizer<uint4>(o).fit(w);
  CHECK(p.scale(3, 0) == 2.0f / 15.0f);
  CHECK(p.zero(3, 0) == 7.0f);
}

TEST_CASE("observer/mse: the searched range never loses to absmax and is the grid's argmin") {
  std::mt19937 g(11);
  std::student_t_distribution<float> st(2.5f);
  Mat x(6, 96);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j) x(i, j) = st(g);
  Eigen::VectorXf a(96);
  for (Eigen::Index j = 0; j < 96; ++j) a(j) = j < 8 ? 50.0f : 1.0f;  // eight "hot" input channels
  quant_options o;
  o.gran = per_group(32);
  o.obs = mse_observer(50, 0.6, 2.0);
  const quantizer<int4> q(o);
  quant_options oa = o;
  oa.obs = absmax_observer();
  const quantizer<int4> qa(oa);
  for (bool weighted : {false, true}) {
    const qparams p = weighted ? q.fit(x, a) : q.fit(x);
    const qparams pa = qa.fit(x);
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      for (Eigen::Index gj = 0; gj < 3; ++gj) {
        auto err = [&](const block_params& b) {
          double e = 0;
          for (Eigen::Index j = gj * 32; j < gj * 32 + 32; ++j) {
            const double d = double(x(i, j)) - q.decode_value(q.encode_value(x(i, j), b), b);
            e += (weighted ? a(j) / 50.0 : 1.0) * d * d;
          }
          return e;
        };
        const double chosen = err(q.block_at(p, i, gj * 32));
        CHECK(chosen <= err(qa.block_at(pa, i, gj * 32)));
        float amax = 0;
        for (Eigen::Index j = gj * 32; j < gj * 32 + 32; ++j) amax = std::fmax(amax, std::fabs(x(i, j)));
        for (int k = 0; k < 30; ++k) {  // brute force over the same candidates
          const float pk = float(1.0 - k / 50.0);
          CHECK(chosen <= err(q.block_from_range({-pk * amax, pk * amax})) * (1 + 1e-12));
        }
      }
  }
  // Weighting changes the pick where hot channels disagree with the rest.
  CHECK(q.fit(x, a).scale != q.fit(x).scale);
}

TEST_CASE("observer/mse: search_clip_range keeps the first of equal errors (p = 1)") {
  int calls = 0;
  const value_range r = search_clip_range({-2.0f, 4.0f}, 10, 0.5, 2.0, [&](const value_range&, double) {
    ++calls;
    return 1.0;
  });
  CHECK(calls == 5);
  CHECK(r.lo == -2.0f);
  CHECK(r.hi == 4.0f);
  const value_range s = search_clip_range({-2.0f, 4.0f}, 10, 0.5, 2.0,
                                          [&](const value_range& c, double) { return std::fabs(c.hi - 3.2); });
  CHECK(s.hi == 0.8f * 4.0f);
  CHECK(s.lo == 0.8f * -2.0f);
}
