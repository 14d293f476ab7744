// GCC 12 reports a false -Wuninitialized inside its own AVX-512 intrinsics (avx512fintrin.h,
// reached through Eigen's GEMM packets) in -O2 sanitizer builds; it must be silenced before
// Eigen is first included, so this stays the first line of the translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <lowbit/algo/awq.hpp>
#include <lowbit/format/float4.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/nf4.hpp>
#include <lowbit/format/scale.hpp>

#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "support/lcg.hpp"
#include "support/random.hpp"

using namespace lowbit;
using namespace lowbit_test;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

// Activations with a few salient channels (what AWQ exploits).
Mat salient_acts(Eigen::Index T, Eigen::Index K, unsigned seed) {
  Mat x = randn(T, K, seed);
  for (Eigen::Index k = 0; k < K; k += 9) x.col(k) *= 20.0f;
  return x;
}

// make_awq_golden.py inputs
void golden_inputs(Mat& W, Mat& X) {
  const Eigen::Index N = 64, K = 256, T = 1024;
  lcg g{77};
  W.resize(N, K);
  for (Eigen::Index n = 0; n < N; ++n)
    for (Eigen::Index k = 0; k < K; ++k) W(n, k) = float(double(g.integer(-1000, 1000)) / 1024.0);
  const int mags[] = {1, 1, 1, 2, 2, 4, 8, 16, 32};
  std::vector<int> mag(K);
  for (Eigen::Index k = 0; k < K; ++k) mag[std::size_t(k)] = mags[g.integer(0, 8)];
  X.resize(T, K);
  for (Eigen::Index t = 0; t < T; ++t)
    for (Eigen::Index k = 0; k < K; ++k) X(t, k) = float(double(g.integer(-16, 16)) / 16.0 * mag[std::size_t(k)]);
}

std::vector<float> parse_floats(std::istringstream& is) {
  std::vector<float> v;
  std::string tok;
  while (is >> tok) v.push_back(std::strtof(tok.c_str(), nullptr));
  return v;
}

const auto linear = [](const Mat& x, const std::vector<Mat>& w) -> Mat { return x * w[0].transpose(); };

template <class F>
using qz = quantizer<F>;

}  // namespace

TEST_CASE("algo/awq: golden outputs of the llm-awq scale and clip search (torch)") {
  Mat W, X;
  golden_inputs(W, X);
  const std::string path = std::string(LOWBIT_TEST_DATA_DIR) + "/../tests/algo/data/awq_golden.txt";
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "missing ", path);
  double ratio = -1;
  std::vector<float> losses, scales;
  std::vector<std::vector<float>> clip;
  std::vector<std::string> codes;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string key;
    is >> key;
    if (key == "ratio") is >> ratio;
    else if (key == "losses") losses = parse_floats(is);
    else if (key == "scales") scales = parse_floats(is);
    else if (key == "clip") clip.push_back(parse_floats(is));
    else if (key == "codes") {
      std::string s;
      is >> s;
      codes.push_back(s);
    }
  }
  REQUIRE(losses.size() == 20);
  REQUIRE(codes.size() == 64);
  quantizer<uint4> q({per_group(64), mapping::asymmetric, convention::awq, minmax_observer()});
  const awq_result<uint4> r = awq_linear(X, W, q);
  CHECK(r.status == info::success);
  CHECK(r.search.ratio == doctest::Approx(ratio).epsilon(1e-12));
  for (std::size_t i = 0; i < 20; ++i) CHECK(r.search.losses[i] == doctest::Approx(losses[i]).epsilon(1e-4));
  for (Eigen::Index k = 0; k < 256; ++k) CHECK(r.search.scale(k) == doctest::Approx(scales[std::size_t(k)]).epsilon(1e-5));
  Eigen::Index clip_same = 0;
  for (Eigen::Index n = 0; n < 64; ++n)
    for (Eigen::Index g = 0; g < 4; ++g)
      clip_same += std::fabs(r.clip(n, g) - clip[std::size_t(n)][std::size_t(g)]) <= 1e-5f * clip[std::size_t(n)][std::size_t(g)];
  MESSAGE("clip values equal: ", clip_same, " / 256");
  CHECK(clip_same >= 253);
  Eigen::Index same = 0;
  for (Eigen::Index n = 0; n < 64; ++n)
    for (Eigen::Index k = 0; k < 256; ++k)
      same += int(uint4::to_int(r.weight.codes(n, k))) == std::stoi(codes[std::size_t(n)].substr(std::size_t(k), 1), nullptr, 16);
  MESSAGE("identical codes: ", same, " / 16384");
  CHECK(double(same) / 16384.0 >= 0.999);
}

TEST_CASE("algo/awq: ratio 0 is round-to-nearest exactly") {
  const Mat X = salient_acts(128, 64, 1), W = randn(16, 64, 2);
  quantizer<uint4> q({per_group(32), mapping::asymmetric, convention::awq, minmax_observer()});
  awq_options o;
  o.n_grid = 1;  // only ratio 0
  o.clip_search = false;
  const auto r = awq_linear(X, W, q, o);
  CHECK(r.search.ratio == 0.0);
  CHECK(r.search.scale == Eigen::VectorXf::Ones(64));
  CHECK(r.Q == q.fake_quantize(W));
  const Mat rtn_out = X * q.fake_quantize(W).transpose(), org = X * W.transpose();
  CHECK(r.search.rtn_loss == doctest::Approx((rtn_out - org).cast<double>().squaredNorm() / double(org.size())));
  CHECK(awq_scales(awq_activation_mean(X), 0.0) == Eigen::VectorXf::Ones(64));
}

TEST_CASE("algo/awq: the chosen loss is <= round-to-nearest, for every format and for a multi-weight block") {
  const Mat X = salient_acts(256, 128, 3), W = randn(32, 128, 4, 0.05f);
  auto check = [&](const auto& q, const std::string& name) {
    const auto r = awq_linear(X, W, q);
    MESSAGE(name, ": ratio ", r.search.ratio, " AWQ ", r.search.loss, " RTN ", r.search.rtn_loss);
    CHECK(r.search.loss <= r.search.rtn_loss);
    CHECK(r.search.loss < r.search.rtn_loss);  // salient channels: scaling really helps
    CHECK(r.Q.allFinite());
  };
  check(qz<uint4>({per_group(32), mapping::asymmetric, convention::awq, minmax_observer()}), "INT4 g32 (awq)");
  check(qz<int3>({per_group(64)}), "INT3 g64");
  check(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "MXFP4");
  check(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "NVFP4");
  check(qz<nf4>({per_group(64)}), "NF4 g64");
  // An MLP-like block silu(x·W1ᵀ) ⊙ (x·W3ᵀ) scoring two weights that share the input.
  const Mat W1 = randn(48, 128, 5, 0.05f), W3 = randn(48, 128, 6, 0.05f);
  auto mlp = [](const Mat& x, const std::vector<Mat>& w) -> Mat {
    const Mat a = x * w[0].transpose(), b = x * w[1].transpose();
    return (a.array() / (1.0f + (-a.array()).exp()) * b.array()).matrix();
  };
  qz<uint4> q({per_group(32), mapping::asymmetric, convention::awq, minmax_observer()});
  const auto s = awq_search_scale(X, {W1, W3}, q, mlp);
  CHECK(s.status == info::success);
  CHECK(s.loss <= s.rtn_loss);
  CHECK(s.losses.size() == 20);
  CHECK(s.loss == *std::min_element(s.losses.begin(), s.losses.end()));
}

TEST_CASE("algo/awq: folding the scales into the preceding norm or linear is exact in float64") {
  using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const MatD x = randn(20, 64, 7).cast<double>();
  Eigen::VectorXd gamma = (randn(64, 1, 8).cast<double>().array() + 2.0).matrix();
  MatD W = randn(16, 64, 9).cast<double>();
  const Eigen::VectorXf s = awq_scales(awq_activation_mean(salient_acts(64, 64, 10)), 0.5);
  auto rmsnorm = [](const MatD& v, const Eigen::VectorXd& g) {
    MatD y = v;
    for (Eigen::Index t = 0; t < v.rows(); ++t) y.row(t) = v.row(t) / std::sqrt(v.row(t).squaredNorm() / double(v.cols()) + 1e-5);
    return MatD(y * g.asDiagonal());
  };
  const MatD y0 = rmsnorm(x, gamma) * W.transpose();
  Eigen::VectorXd g2 = gamma;
  MatD W2 = W;
  awq_fold_into_norm(g2, s);
  awq_scale_columns(W2, s);
  const MatD y1 = rmsnorm(x, g2) * W2.transpose();
  CHECK((y1 - y0).norm() <= 1e-13 * y0.norm());
  // linear -> linear (v_proj -> o_proj): the preceding linear's last len(s) rows / s.
  MatD Wv = randn(64, 32, 11).cast<double>();
  MatD Wo = randn(24, 64, 12).cast<double>();
  const MatD h = randn(10, 32, 13).cast<double>();
  const MatD z0 = (h * Wv.transpose()) * Wo.transpose();
  awq_fold_into_linear(Wv, s);
  awq_scale_columns(Wo, s);
  const MatD z1 = (h * Wv.transpose()) * Wo.transpose();
  CHECK((z1 - z0).norm() <= 1e-13 * z0.norm());
  // power-of-two scales fold bit-exactly even in float
  Eigen::VectorXf p2(64);
  for (int k = 0; k < 64; ++k) p2(k) = std::ldexp(1.0f, k % 5 - 2);
  Mat Wf = randn(8, 64, 14), Wf2 = Wf;
  Eigen::VectorXf gf = Eigen::VectorXf::Ones(64) * 1.5f, gf2 = gf;
  awq_fold_into_norm(gf2, p2);
  awq_scale_columns(Wf2, p2);
  const Mat xf = randn(4, 64, 15);
  CHECK(Mat(xf * gf.asDiagonal() * Wf.transpose()) == Mat(xf * gf2.asDiagonal() * Wf2.transpose()));
}

TEST_CASE("algo/awq: dead and huge activation channels give finite scales; few tokens work") {
  Mat X = salient_acts(64, 32, 16);  // fewer than 512 tokens: clip stride max(1, T/512)
  X.col(3).setZero();
  X.col(4).setConstant(1e30f);
  const Mat W = randn(8, 32, 17);
  const Eigen::VectorXf m = awq_activation_mean(X);
  for (double ratio : {0.0, 0.3, 0.95}) {
    const Eigen::VectorXf s = awq_scales(m, ratio);
    CHECK(s.allFinite());
    CHECK(s.minCoeff() > 0.0f);
  }
  quantizer<uint4> q({per_group(16), mapping::asymmetric, convention::awq, minmax_observer()});
  const auto r = awq_linear(X, W, q);
  CHECK(r.search.scale.allFinite());
  CHECK(r.Q.allFinite());
  CHECK(r.clip.allFinite());
}

TEST_CASE("algo/awq: bad input is a clear error or status") {
  const Mat X = salient_acts(32, 16, 18), W = randn(4, 16, 19);
  quantizer<uint4> q({per_group(8), mapping::asymmetric, convention::awq, minmax_observer()});
  auto throws_with = [](auto&& f, const char* text) {
    try {
      f();
      FAIL("no error, expected: ", text);
    } catch (const lowbit::error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
    }
  };
  Mat Xn = X;
  Xn(5, 6) = std::numeric_limits<float>::quiet_NaN();
  throws_with([&] { awq_linear(Xn, W, q); }, "non-finite value nan at (5, 6)");
  const Mat W17 = randn(4, 17, 20);
  throws_with([&] { awq_linear(X, W17, q); }, "has 17 input channels, X has 16");
  throws_with([&] { awq_search_scale(X, {}, q, linear); }, "no weights");
  awq_options o;
  o.n_grid = 0;
  throws_with([&] { awq_search_scale(X, {W}, q, linear, o); }, "n_grid must be >= 1");
  auto wrong_shape = [](const Mat& x, const std::vector<Mat>& w) -> Mat {
    return Mat(x * w[0].transpose()).leftCols(2);
  };
  const auto org_shape_fn = [&](const Mat& x, const std::vector<Mat>& w) -> Mat {
    static int calls = 0;
    return calls++ == 0 ? linear(x, w) : wrong_shape(x, w);
  };
  throws_with([&] { awq_search_scale(X, {W}, q, org_shape_fn); }, "block output is 32 x 2");
  quantizer<uint4> q2d({block(2, 8), mapping::asymmetric, convention::awq, minmax_observer()});
  throws_with([&] { awq_search_clip(X, W, q2d); }, "one row high");
  Mat Wprev = randn(8, 4, 21);
  const Eigen::VectorXf s16 = Eigen::VectorXf::Ones(16);
  throws_with([&] { awq_fold_into_linear(Wprev, s16); }, "16 scales for a linear with 8 output rows");
  // fold scales must be finite and > 0: a zero would zero W's column and blow up γ (inf)
  Eigen::VectorXf s_bad = Eigen::VectorXf::Ones(16);
  s_bad(3) = 0.0f;
  Mat Wc = W;
  throws_with([&] { awq_scale_columns(Wc, s_bad); }, "awq_scale_columns: scale s[3] = 0 must be finite and > 0");
  CHECK(Wc == W);  // left unchanged
  Eigen::VectorXf gamma = Eigen::VectorXf::Ones(16);
  s_bad(3) = -2.0f;
  throws_with([&] { awq_fold_into_norm(gamma, s_bad); }, "scale s[3] = -2");
  s_bad(3) = std::numeric_limits<float>::infinity();
  throws_with([&] { awq_fold_into_linear(Wprev, s_bad.head(8)); }, "awq_fold_into_linear: scale s[3] = inf");
  // A block whose output is never finite: documented status, RTN scales.
  auto nan_block = [](const Mat& x, const std::vector<Mat>& w) -> Mat {
    Mat y = x * w[0].transpose();
    y(0, 0) = std::numeric_limits<float>::quiet_NaN();
    return y;
  };
  const auto s = awq_search_scale(X, {W}, q, nan_block);
  CHECK(s.status == info::numerical_issue);
  CHECK(s.scale == Eigen::VectorXf::Ones(16));
}
