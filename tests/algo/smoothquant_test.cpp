#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/compare.hpp"
#include "support/error_of.hpp"
#include "support/random.hpp"

using namespace lowbit;
using namespace lowbit_test;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
MatD rmsnorm(const MatD& v, const Eigen::VectorXd& gamma) {
  MatD r = v;
  for (Eigen::Index i = 0; i < v.rows(); ++i) r.row(i) /= std::sqrt(v.row(i).squaredNorm() / double(v.cols()) + 1e-5);
  for (Eigen::Index j = 0; j < v.cols(); ++j) r.col(j) *= gamma(j);
  return r;
}
// Activations with a few outlier channels, as in LLM residual streams.
MatD outlier_activations(Eigen::Index T, Eigen::Index K, unsigned seed) {
  MatD x = randn<double>(T, K, seed);
  for (Eigen::Index j : {Eigen::Index(3), K / 2, K - 2}) x.col(j) *= 40.0;
  return x;
}
}  // namespace

TEST_CASE("algo/smoothquant: scales follow smooth.py on a hand-computed example") {
  // Two linears sharing the input; column maxima over both: [1, 0.5, 3]
  MatD w1(2, 3), w2(1, 3);
  w1 << 1.0, -0.25, 3.0, 0.5, 0.5, -1.0;
  w2 << -0.75, 0.1, 2.0;
  const std::vector<MatD> ws{w1, w2};
  const Eigen::VectorXd wsc = smoothquant_weight_scales(ws);
  CHECK(wsc(0) == 1.0);
  CHECK(wsc(1) == 0.5);
  CHECK(wsc(2) == 3.0);
  Eigen::VectorXd act(3);
  act << 4.0, 1.0, 9.0;
  const Eigen::VectorXd s05 = smoothquant_scales_for(act, ws, {0.5});  // sqrt(a)/sqrt(w)
  CHECK(s05(0) == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(s05(1) == doctest::Approx(std::sqrt(2.0)).epsilon(1e-15));
  CHECK(s05(2) == doctest::Approx(std::sqrt(3.0)).epsilon(1e-15));
  const Eigen::VectorXd s0 = smoothquant_scales(act, wsc, {0.0});  // 1 / w
  CHECK(s0(0) == 1.0);
  CHECK(s0(1) == 2.0);
  CHECK(s0(2) == doctest::Approx(1.0 / 3.0).epsilon(1e-15));
  const Eigen::VectorXd s1 = smoothquant_scales(act, wsc, {1.0});  // a
  CHECK(s1 == act);
  // Pointers work as a range too
  const std::vector<const MatD*> ptrs{&w1, &w2};
  CHECK(smoothquant_weight_scales(ptrs) == wsc);
  // Clamps: a zero weight column -> 1e-5; a tiny s -> 1e-5
  MatD wz = w1;
  wz.col(1).setZero();
  CHECK(smoothquant_weight_scales(std::vector<MatD>{wz})(1) == 1e-5);
  Eigen::VectorXd tiny(3);
  tiny << 1e-12, 1.0, 1.0;
  CHECK(smoothquant_scales(tiny, wsc, {1.0})(0) == 1e-5);
}

TEST_CASE("algo/smoothquant: folding into RMSNorm/LayerNorm and q/k/v is exact in float64") {
  const Eigen::Index T = 16, K = 48;
  const MatD x = outlier_activations(T, K, 1);
  const Eigen::VectorXd gamma = (randn<double>(K, 1, 2).col(0).array().abs() + 0.2).matrix();
  const std::vector<MatD> qkv{randn<double>(32, K, 3), randn<double>(16, K, 4), randn<double>(16, K, 5)};
  const MatD xn = rmsnorm(x, gamma);
  const Eigen::VectorXd act = channel_absmax_of(xn);
  for (double alpha : {0.0, 0.3, 0.5, 0.65, 0.85, 1.0}) {
    CAPTURE(alpha);
    const Eigen::VectorXd s = smoothquant_scales_for(act, qkv, {alpha});
    const Eigen::VectorXd g2 = smooth_fold_norm(gamma, s);
    const MatD xn2 = rmsnorm(x, g2);
    CHECK(max_rel(xn2, smooth_activations(xn, s)) < 1e-14);
    for (const MatD& w : qkv) CHECK(max_rel(xn2 * smooth_fold_linear(w, s).transpose(), xn * w.transpose()) < 1e-13);
  }
  // LayerNorm: (n.gamma + beta)/s = n.(gamma/s) + beta/s
  const Eigen::VectorXd beta = randn<double>(K, 1, 6).col(0);
  const Eigen::VectorXd s = smoothquant_scales_for(act, qkv, {0.5});
  const MatD n = randn<double>(T, K, 7);
  MatD ln = n, ln2 = n;
  for (Eigen::Index j = 0; j < K; ++j) {
    ln.col(j) = ln.col(j) * gamma(j) + Eigen::VectorXd::Constant(T, beta(j));
    ln2.col(j) = ln2.col(j) * smooth_fold_norm(gamma, s)(j) + Eigen::VectorXd::Constant(T, smooth_fold_norm(beta, s)(j));
  }
  CHECK(max_rel(ln2 * smooth_fold_linear(qkv[0], s).transpose(), ln * qkv[0].transpose()) < 1e-13);
}

TEST_CASE("algo/smoothquant: alpha = 0, 1 and 1/2 give the documented limits") {
  const Eigen::Index T = 32, K = 24;
  const MatD x = outlier_activations(T, K, 11);
  const std::vector<MatD> ws{randn<double>(8, K, 12), randn<double>(8, K, 13, 3.0)};
  const Eigen::VectorXd act = channel_absmax_of(x);
  auto col_max = [&](const Eigen::VectorXd& s) {
    Eigen::VectorXd m = Eigen::VectorXd::Zero(K);
    for (const MatD& w : ws) m = m.cwiseMax(smooth_fold_linear(w, s).cwiseAbs().colwise().maxCoeff().transpose());
    return m;
  };
  // alpha = 0: every folded weight column peaks at exactly 1 across the linears
  const Eigen::VectorXd s0 = smoothquant_scales_for(act, ws, {0.0});
  CHECK((col_max(s0).array() - 1.0).abs().maxCoeff() < 1e-15);
  // alpha = 1: every smoothed activation channel peaks at exactly 1
  const Eigen::VectorXd s1 = smoothquant_scales_for(act, ws, {1.0});
  CHECK((channel_absmax_of(smooth_activations(x, s1)).array() - 1.0).abs().maxCoeff() < 1e-15);
  // alpha = 1/2: activation and weight peaks meet at sqrt(act . w)
  const Eigen::VectorXd sh = smoothquant_scales_for(act, ws, {0.5});
  const Eigen::VectorXd xa = channel_absmax_of(smooth_activations(x, sh)), wa = col_max(sh);
  const Eigen::VectorXd geo = (act.array() * smoothquant_weight_scales(ws).array()).sqrt().matrix();
  CHECK(((xa - wa).array().abs() / geo.array()).maxCoeff() < 1e-14);
  CHECK(((xa - geo).array().abs() / geo.array()).maxCoeff() < 1e-14);
}

TEST_CASE("algo/smoothquant: channel_absmax is a running max over batches") {
  const MatD a = randn<double>(10, 6, 21), b = randn<double>(7, 6, 22, 4.0);
  channel_absmax m;
  m.update(a);
  m.update(b.cast<float>());
  MatD ab(17, 6);
  ab << a, b;
  CHECK(m.rows() == 17);
  CHECK((m.value() - ab.cwiseAbs().colwise().maxCoeff().transpose()).cwiseAbs().maxCoeff() < 1e-6);
  CHECK(error_of([&] { m.update(randn<double>(2, 5, 1)); }).find("batch has 5 channels, earlier batches had 6") !=
        std::string::npos);
  MatD bad = a;
  bad(4, 2) = std::nan("");
  CHECK(error_of([&] { channel_absmax_of(bad); }).find("non-finite value nan at (4, 2)") != std::string::npos);
}

TEST_CASE("algo/smoothquant: alpha search beats plain int8 and reports the argmin") {
  const Eigen::Index T = 96, K = 64;
  const MatD x = outlier_activations(T, K, 31);
  const std::vector<MatF> ws{randn<double>(48, K, 32).cast<float>(), randn<double>(24, K, 33).cast<float>()};
  const quantizer<int8> xq({per_tensor()}), wq({per_channel(0)});
  const Eigen::VectorXd act = channel_absmax_of(x);
  const smoothquant_search_result r = smoothquant_search(x, act, ws, xq, wq);
  REQUIRE(r.status == info::success);
  REQUIRE(r.errors.size() == 21);
  std::size_t arg = 0;
  for (std::size_t i = 1; i < r.errors.size(); ++i)
    if (r.errors[i] < r.errors[arg]) arg = i;
  CHECK(r.alpha == r.alphas[arg]);
  CHECK(r.scales == smoothquant_scales_for(act, ws, {r.alpha}));

  // Independent scoring of plain int8 (no smoothing) and of the chosen alpha.
  const MatF xf = x.cast<float>();
  auto score = [&](const Eigen::VectorXd& s) {
    double e = 0, ref = 0;
    const MatD xqd = xq.fake_quantize(smooth_activations(xf, s)).cast<double>();
    for (const MatF& w : ws) {
      const MatD y = x * w.cast<double>().transpose();
      e += (xqd * wq.fake_quantize(smooth_fold_linear(w, s)).cast<double>().transpose() - y).squaredNorm();
      ref += y.squaredNorm();
    }
    return e / ref;
  };
  const double plain = score(Eigen::VectorXd::Ones(K));
  CHECK(r.errors[arg] == doctest::Approx(score(r.scales)).epsilon(1e-9));
  CAPTURE(plain);
  CAPTURE(r.errors[arg]);
  CAPTURE(r.alpha);
  CHECK(r.errors[arg] < plain / 4);  // per-tensor int8 with 40x outliers: smoothing is a big win
  CHECK(r.alpha > 0.0);
  CHECK(r.alpha < 1.0);
}

TEST_CASE("algo/smoothquant: search reports numerical_issue when every alpha overflows float") {
  MatD x = MatD::Constant(4, 2, 1e36);
  const std::vector<MatF> ws{MatF::Constant(2, 2, 1e36f)};
  const quantizer<int8> q({per_tensor()});
  smoothquant_search_options o;
  o.alphas = {0.0, 1.0};  // s = max(1e-36, 1e-5) (X' = 1e41) or s = 1e36 (W' = 1e72): float overflows
  const auto r = smoothquant_search(x, channel_absmax_of(x), ws, q, q, o);
  CHECK(r.status == info::numerical_issue);
  CHECK(r.alpha == -1.0);
  CHECK(r.scales == Eigen::VectorXd::Ones(2));
  CHECK(std::isinf(r.errors[0]));
  CHECK(std::isinf(r.errors[1]));
  o.alphas = {0.0, 0.5, 1.0};  // s = 1 at alpha = 1/2 is fine
  const auto r2 = smoothquant_search(x, channel_absmax_of(x), ws, q, q, o);
  CHECK(r2.status == info::success);
  CHECK(r2.alpha == 0.5);
}

TEST_CASE("algo/smoothquant: bad input") {
  const Eigen::VectorXd act = Eigen::VectorXd::Ones(4), wsc = Eigen::VectorXd::Ones(4);
  for (double a : {-0.1, 1.5, std::nan("")}) {
    CAPTURE(a);
    CHECK(error_of([&] { smoothquant_scales(act, wsc, {a}); }).find("alpha must be in [0, 1]") != std::string::npos);
  }
  // zero activation channel: error by default, identity or reference clamp on request
  Eigen::VectorXd act0 = act;
  act0(2) = 0.0;
  CHECK(error_of([&] { smoothquant_scales(act0, wsc, {0.5}); }).find("activation channel 2 is all zero") !=
        std::string::npos);
  CHECK(smoothquant_scales(act0, wsc, {0.5, 1e-5, zero_channel::identity})(2) == 1.0);
  CHECK(smoothquant_scales(act0, wsc, {0.5, 1e-5, zero_channel::reference})(2) == 1e-5);
  Eigen::VectorXd actn = act;
  actn(1) = -1.0;
  CHECK(error_of([&] { smoothquant_scales(actn, wsc); }).find("activation scale of channel 1 is -1") != std::string::npos);
  CHECK(error_of([&] { smoothquant_scales(act, Eigen::VectorXd::Ones(3)); }).find("4 activation scales but 3 weight scales") !=
        std::string::npos);
  CHECK(error_of([&] { smoothquant_weight_scales(std::vector<MatD>{}); }).find("no linears given") != std::string::npos);
  CHECK(error_of([&] { smoothquant_weight_scales(std::vector<MatD>{randn<double>(2, 4, 1), randn<double>(2, 5, 1)}); })
            .find("linear 1 has 5 input channels, linear 0 has 4") != std::string::npos);
  CHECK(error_of([&] { smooth_fold_linear(randn<double>(2, 5, 1), wsc); }).find("4 smoothing scales for 5 channels") !=
        std::string::npos);
  Eigen::VectorXd sz = wsc;
  sz(0) = 0.0;
  CHECK(error_of([&] { smooth_fold_norm(wsc, sz); }).find("smoothing scale 0 is 0") != std::string::npos);
  const quantizer<int8> q({per_tensor()});
  smoothquant_search_options o;
  o.alphas = {0.5, 2.0};
  CHECK(error_of([&] { smoothquant_search(randn<double>(3, 4, 1), act, std::vector<MatD>{randn<double>(2, 4, 1)}, q, q, o); })
            .find("alpha must be in [0, 1], got 2") != std::string::npos);
  CHECK(error_of([&] { smoothquant_search(randn<double>(3, 5, 1), act, std::vector<MatD>{randn<double>(2, 4, 1)}, q, q); })
            .find("sample has 5 channels, act_scales has 4") != std::string::npos);
}
