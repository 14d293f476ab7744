// GCC 12 reports a false -Wuninitialized inside its own AVX-512 intrinsics (avx512fintrin.h,
// reached through Eigen's GEMM packets) in -O2 sanitizer builds; it must be silenced before
// Eigen is first included, so this stays the first line of the translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "../../examples/tinyllama/eval.hpp"
#include "../../examples/tinyllama/forward.hpp"
#include "../../examples/tinyllama/model.hpp"
#include "../../examples/tinyllama/tokenizer.hpp"

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq.hpp>
#include <lowbit/algo/hessian.hpp>
#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/nf4.hpp>
#include <lowbit/format/scale.hpp>

#include <Eigen/Eigenvalues>

#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "support/lcg.hpp"
#include "support/random.hpp"

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

using lowbit_test::lcg;
using lowbit_test::randn;

// A correlated Hessian 2/T·XᵀX from T tokens X = Z·M (shared factors) with varied channel scales.
Eigen::MatrixXf correlated_hessian(Eigen::Index K, Eigen::Index T, unsigned seed) {
  const Mat Z = randn(T, K, seed);
  const Mat M = randn(K, K, seed + 1, 0.3f) + Mat::Identity(K, K);
  Mat X = Z * M;
  for (Eigen::Index k = 0; k < K; ++k) X.col(k) *= 0.5f + float(k % 7);
  hessian_accumulator<float> h(K, hessian_count::tokens);
  h.add_batch(X);
  return h.matrix();
}

template <class Codes>
double agreement(const Codes& a, const Codes& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  Eigen::Index same = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) same += a(i, j) == b(i, j);
  return double(same) / double(a.size());
}

// ---- the golden inputs, re-implemented from make_gptq_golden.py --------------------------------
constexpr Eigen::Index GN = 64, GK = 256, GT = 512, GDEAD = 5;

void golden_inputs(Mat& W, Eigen::MatrixXf& H) {
  lcg g{2023};
  W.resize(GN, GK);
  for (Eigen::Index n = 0; n < GN; ++n)
    for (Eigen::Index k = 0; k < GK; ++k) W(n, k) = float(double(g.integer(-1000, 1000)) / 1024.0);
  std::vector<long> c(GK), m(GK);
  for (Eigen::Index k = 0; k < GK; ++k) c[std::size_t(k)] = g.integer(-3, 3);
  for (Eigen::Index k = 0; k < GK; ++k) m[std::size_t(k)] = 4 + (k % 13) * 3;
  Eigen::MatrixXd X(GT, GK);
  for (Eigen::Index t = 0; t < GT; ++t) {
    const long u = g.integer(-8, 8);
    for (Eigen::Index k = 0; k < GK; ++k) {
      const long v = g.integer(-m[std::size_t(k)], m[std::size_t(k)]);
      X(t, k) = k == GDEAD ? 0.0 : double(u * c[std::size_t(k)] + v) / 16.0;
    }
  }
  const Eigen::MatrixXd Hd = (2.0 / double(GT)) * (X.transpose() * X);  // exact (dyadic)
  H = Hd.cast<float>();
}

struct golden_config {
  std::string name;
  int bits = 4, sym = 0, group = -1, act = 0, stat = 0, mse = 0;
  double loss = 0;
  std::vector<Eigen::Index> gidx;
  std::vector<std::string> codes;
  std::vector<std::vector<float>> scale, zero;
};

std::vector<golden_config> read_golden() {
  const std::string path = std::string(LOWBIT_TEST_DATA_DIR) + "/../tests/algo/data/gptq_golden.txt";
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "missing ", path);
  std::vector<golden_config> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string key;
    is >> key;
    if (key == "config") {
      golden_config c;
      std::string k;
      is >> c.name >> k >> c.bits >> k >> c.sym >> k >> c.group >> k >> c.act >> k >> c.stat >> k >> c.mse;
      out.push_back(c);
    } else if (key == "loss") {
      is >> out.back().loss;
    } else if (key == "gidx") {
      Eigen::Index v;
      while (is >> v) out.back().gidx.push_back(v);
    } else if (key == "codes") {
      std::string s;
      is >> s;
      out.back().codes.push_back(s);
    } else if (key == "scale" || key == "zero") {
      std::vector<float> row;
      std::string tok;
      while (is >> tok) row.push_back(std::strtof(tok.c_str(), nullptr));  // hex floats are exact
      (key == "scale" ? out.back().scale : out.back().zero).push_back(row);
    }
  }
  return out;
}

template <class F>
void check_golden(const golden_config& c, const Mat& W, const Eigen::MatrixXf& H) {
  quant_options o;
  o.gran = c.group < 0 ? per_channel(0) : per_group(c.group);
  o.map = c.sym ? mapping::symmetric : mapping::asymmetric;
  o.conv = convention::gptq;
  o.obs = c.sym ? absmax_observer() : minmax_observer();
  quantizer<F> q(o);
  gptq_options go;
  go.act_order = c.act;
  go.static_groups = c.stat;
  go.clip_search = c.mse;
  go.mode = gptq_mode::reference;
  const gptq_result<F> r = gptq(W, H, q, go);
  CHECK(r.status == info::success);
  CHECK(r.dead_columns == 1);
  Eigen::Index same = 0, total = 0;
  for (Eigen::Index n = 0; n < GN; ++n)
    for (Eigen::Index k = 0; k < GK; ++k) {
      const int ref = std::stoi(c.codes[std::size_t(n)].substr(std::size_t(k), 1), nullptr, 16);
      same += int(F::to_int(r.weight.codes(n, k))) == ref;
      ++total;
    }
  const double agree = double(same) / double(total);
  MESSAGE(c.name, ": identical codes ", same, " / ", total, ", loss ", r.loss, " vs reference ", c.loss);
  CHECK(agree >= 0.999);
  CHECK(r.g_idx == c.gidx);
  Eigen::Index sp = 0, sp_same = 0;
  for (Eigen::Index n = 0; n < GN; ++n)
    for (std::size_t g = 0; g < c.scale[std::size_t(n)].size(); ++g) {
      ++sp;
      // groups fitted after error feedback see W through a different float summation order
      const float s = r.weight.params.scale(n, Eigen::Index(g)), rs = c.scale[std::size_t(n)][g];
      sp_same += std::fabs(s - rs) <= 1e-4f * rs && r.weight.params.zero(n, Eigen::Index(g)) == c.zero[std::size_t(n)][g];
    }
  CHECK(double(sp_same) / double(sp) >= 0.99);
  CHECK(r.loss == doctest::Approx(c.loss).epsilon(1e-3));
  // The loss identity ‖E‖² − λ‖W'−Q‖² equals the direct trace.
  CHECK(r.loss == doctest::Approx(layer_loss(W, r.Q, H)).epsilon(1e-4));
}

}  // namespace

TEST_CASE("algo/gptq: golden outputs of the reference fasterquant (torch), >= 99.9% identical codes") {
  Mat W;
  Eigen::MatrixXf H;
  golden_inputs(W, H);
  const auto configs = read_golden();
  REQUIRE(configs.size() == 7);
  for (const auto& c : configs) {
    CAPTURE(c.name);
    if (c.bits == 4) check_golden<uint4>(c, W, H);
    else check_golden<uint3>(c, W, H);
  }
}

TEST_CASE("algo/gptq: diagonal H gives exactly round-to-nearest, for every format") {
  const Mat W = randn(24, 96, 3);
  Eigen::MatrixXf H = Eigen::MatrixXf::Zero(96, 96);
  std::mt19937 g(4);
  std::uniform_real_distribution<float> u(0.1f, 5.0f);
  for (int k = 0; k < 96; ++k) H(k, k) = u(g);
  auto same_as_rtn = [&](const auto& q, gptq_options o = {}) {
    const auto r = gptq(W, H, q, o);
    const auto rtn = q.quantize(W);
    CHECK(r.status == info::success);
    CHECK(agreement(r.weight.codes, rtn.codes) == 1.0);
    CHECK(r.weight.params.scale == rtn.params.scale);
    CHECK(r.Q == q.dequantize(rtn));
  };
  same_as_rtn(quantizer<uint4>({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()}));
  same_as_rtn(quantizer<uint4>({per_channel(0), mapping::symmetric, convention::gptq}));
  same_as_rtn(quantizer<int8>({per_channel(0)}));
  same_as_rtn(quantizer<int3>({per_group(16)}));
  same_as_rtn(quantizer<float8_e4m3fn>({per_channel(0)}));
  same_as_rtn(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}));    // MXFP4
  same_as_rtn(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}));   // NVFP4 (tensor scale)
  same_as_rtn(quantizer<nf4>({per_group(64)}));
  gptq_options st;
  st.act_order = true;
  st.static_groups = true;  // static groups keep RTN's grid even in act order
  same_as_rtn(quantizer<uint4>({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()}), st);
}

TEST_CASE("algo/gptq: scaling H by c > 0 changes nothing") {
  const Mat W = randn(32, 128, 5);
  const Eigen::MatrixXf H = correlated_hessian(128, 400, 6);
  quantizer<uint4> q({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()});
  gptq_options o;
  o.act_order = true;
  const auto r1 = gptq(W, H, q, o);
  for (float c : {4.0f, 0.0625f}) {  // powers of two: every float operation scales exactly
    const Eigen::MatrixXf Hc = H * c;
    const auto rc = gptq(W, Hc, q, o);
    CHECK(agreement(r1.weight.codes, rc.weight.codes) == 1.0);
    CHECK(rc.loss == doctest::Approx(r1.loss * c).epsilon(1e-6));
  }
  const Eigen::MatrixXf H3 = H * 3.7f;  // otherwise equal up to float rounding
  const auto r3 = gptq(W, H3, q, o);
  CHECK(agreement(r1.weight.codes, r3.weight.codes) >= 0.999);
  CHECK(r3.loss == doctest::Approx(r1.loss * 3.7).epsilon(1e-3));
}

TEST_CASE("algo/gptq: the block size changes nothing (corrected mode; reference mode when G % B == 0)") {
  const Mat W = randn(32, 192, 7);
  const Eigen::MatrixXf H = correlated_hessian(192, 500, 8);
  quantizer<uint4> q({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()});
  gptq_options o;
  o.mode = gptq_mode::corrected;
  o.block_size = 1;  // unblocked: the definition
  const auto r1 = gptq(W, H, q, o);
  for (Eigen::Index B : {7, 32, 50, 128, 192}) {
    CAPTURE(B);
    o.block_size = B;
    const auto rb = gptq(W, H, q, o);
    CHECK(agreement(r1.weight.codes, rb.weight.codes) >= 0.999);
    CHECK(rb.loss == doctest::Approx(r1.loss).epsilon(1e-3));
  }
  // Reference mode: groups of 64 are independent of B in {16, 32, 64}; G < B triggers the quirk.
  quantizer<uint4> q64({per_group(64), mapping::asymmetric, convention::gptq, minmax_observer()});
  gptq_options ro;
  ro.block_size = 1;
  const auto ref1 = gptq(W, H, q64, ro);
  for (Eigen::Index B : {16, 32, 64}) {
    ro.block_size = B;
    CHECK(agreement(ref1.weight.codes, gptq(W, H, q64, ro).weight.codes) >= 0.999);
  }
  ro.block_size = 128;  // G = 64 < B = 128: groups starting mid-block read stale weights
  const auto quirk = gptq(W, H, q64, ro);
  gptq_options co = ro;
  co.mode = gptq_mode::corrected;
  const auto fixed = gptq(W, H, q64, co);
  CHECK(agreement(quirk.weight.codes, fixed.weight.codes) < 1.0);
  CHECK(agreement(ref1.weight.codes, fixed.weight.codes) >= 0.999);
}

TEST_CASE("algo/gptq: a dead input column gives a zero weight column") {
  Mat W = randn(16, 64, 9);
  Eigen::MatrixXf H = correlated_hessian(64, 200, 10);
  for (int d : {3, 40}) {
    H.row(d).setZero();
    H.col(d).setZero();
  }
  auto check_dead = [&](const auto& q) {
    gptq_options o;
    o.act_order = true;
    const auto r = gptq(W, H, q, o);
    CHECK(r.status == info::success);
    CHECK(r.dead_columns == 2);
    CHECK(r.Q.col(3).isZero(0));
    CHECK(r.Q.col(40).isZero(0));
    CHECK(r.Q.allFinite());
    CHECK(r.loss == doctest::Approx(layer_loss(W, r.Q, H)).epsilon(1e-4));
  };
  check_dead(quantizer<uint4>({per_group(16), mapping::asymmetric, convention::gptq, minmax_observer()}));
  check_dead(quantizer<nf4>({per_group(32)}));
  check_dead(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}));
}

TEST_CASE("algo/gptq: act-order groups, g_idx and dequantization through g_idx") {
  const Mat W = randn(24, 128, 11);
  const Eigen::MatrixXf H = correlated_hessian(128, 400, 12);
  quantizer<uint4> q({per_group(32), mapping::symmetric, convention::gptq});
  gptq_options o;
  o.act_order = true;
  o.static_groups = true;
  const auto st = gptq(W, H, q, o);
  bool identity = true;
  for (Eigen::Index j = 0; j < 128; ++j) {
    CHECK(st.g_idx[std::size_t(j)] == j / 32);
    identity = identity && st.perm[std::size_t(j)] == j;
  }
  CHECK_FALSE(identity);                                  // act order did permute
  CHECK(q.dequantize(st.weight) == st.Q);                 // monotonic g_idx: plain dequantize
  o.static_groups = false;
  const auto dyn = gptq(W, H, q, o);
  bool monotonic = true;
  std::vector<int> count(4, 0);
  for (Eigen::Index j = 0; j < 128; ++j) {
    const Eigen::Index k = std::find(dyn.perm.begin(), dyn.perm.end(), j) - dyn.perm.begin();
    CHECK(dyn.g_idx[std::size_t(j)] == k / 32);  // group of the permuted position
    ++count[std::size_t(dyn.g_idx[std::size_t(j)])];
    if (j > 0 && dyn.g_idx[std::size_t(j)] < dyn.g_idx[std::size_t(j - 1)]) monotonic = false;
  }
  CHECK_FALSE(monotonic);
  CHECK(count == std::vector<int>{32, 32, 32, 32});
  CHECK(gptq_dequantize(q, dyn.weight, dyn.g_idx) == dyn.Q);
  // perm sorts diag(H) descending
  for (std::size_t k = 1; k < 128; ++k) CHECK(H(dyn.perm[k - 1], dyn.perm[k - 1]) >= H(dyn.perm[k], dyn.perm[k]));
}

TEST_CASE("algo/gptq: lower layer loss than round-to-nearest for every format") {
  const Mat W = randn(48, 256, 13, 0.05f);
  const Eigen::MatrixXf H = correlated_hessian(256, 600, 14);
  auto better = [&](const auto& q, const std::string& name) {
    gptq_options o;
    o.act_order = true;
    const auto r = gptq(W, H, q, o);
    const double rtn = layer_loss(W, q.fake_quantize(W), H);
    MESSAGE(name, ": GPTQ ", r.loss, " RTN ", rtn);
    CHECK(r.status == info::success);
    CHECK(r.loss < 0.9 * rtn);
    CHECK(r.loss == doctest::Approx(layer_loss(W, r.Q, H)).epsilon(1e-3));
  };
  better(quantizer<uint4>({per_group(128), mapping::asymmetric, convention::gptq, minmax_observer()}), "INT4 g128");
  better(quantizer<int3>({per_channel(0)}), "INT3 per-channel");
  better(quantizer<int8>({per_channel(0)}), "INT8 per-channel");
  better(quantizer<float8_e4m3fn>({per_channel(0)}), "FP8 e4m3");
  better(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "MXFP4");
  better(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "NVFP4");
  better(quantizer<nf4>({per_group(64)}), "NF4 g64");
}

TEST_CASE("algo/gptq: NVFP4 holds the tensor scale of the whole W fixed") {
  const Mat W = randn(16, 64, 15);
  const Eigen::MatrixXf H = correlated_hessian(64, 200, 16);
  quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const auto r = gptq(W, H, q);
  CHECK(r.weight.params.tensor_scale == W.cwiseAbs().maxCoeff() / (448.0f * 6.0f));
  CHECK(q.dequantize(r.weight) == r.Q);
}

TEST_CASE("algo/gptq: clip search never raises the block error it minimises, and changes scales") {
  const Mat W = randn(16, 128, 17);
  const Eigen::MatrixXf H = Eigen::MatrixXf::Identity(128, 128);  // no feedback: the fit alone
  quantizer<uint4> q({per_channel(0), mapping::asymmetric, convention::gptq, minmax_observer()});
  gptq_options o;
  o.clip_search = true;
  const auto r = gptq(W, H, q, o);
  const Mat rtn = q.fake_quantize(W);
  int smaller = 0;
  for (Eigen::Index i = 0; i < 16; ++i) {
    double e_clip = 0, e_rtn = 0;
    for (Eigen::Index j = 0; j < 128; ++j) {
      e_clip += std::pow(std::fabs(double(W(i, j)) - double(r.Q(i, j))), 2.4);
      e_rtn += std::pow(std::fabs(double(W(i, j)) - double(rtn(i, j))), 2.4);
    }
    CHECK(e_clip <= e_rtn * (1 + 1e-6));
    smaller += e_clip < e_rtn;
  }
  CHECK(smaller > 8);
}

TEST_CASE("algo/gptq: symmetric gptq convention on an all-positive row (reference clipping vs corrected)") {
  Mat W = randn(4, 32, 18).cwiseAbs();
  const Eigen::MatrixXf H = Eigen::MatrixXf::Identity(32, 32);
  quantizer<uint4> q({per_channel(0), mapping::symmetric, convention::gptq});
  const auto ref = gptq(W, H, q);  // reference: [0, max] with zero 8 -> top clipped at 7/15·max
  gptq_options co;
  co.mode = gptq_mode::corrected;
  const auto fixed = gptq(W, H, q, co);
  for (Eigen::Index i = 0; i < 4; ++i) {
    const float mx = W.row(i).maxCoeff();
    CHECK(ref.weight.params.scale(i, 0) == mx / 15.0f);
    CHECK(ref.Q.row(i).maxCoeff() == doctest::Approx(7.0f / 15.0f * mx));
    CHECK(fixed.weight.params.scale(i, 0) == 2.0f * mx / 15.0f);
  }
}

TEST_CASE("algo/gptq: bad input is a clear error") {
  const Mat W = randn(8, 32, 19);
  const Eigen::MatrixXf H = correlated_hessian(32, 100, 20);
  quantizer<uint4> q({per_group(16), mapping::asymmetric, convention::gptq, minmax_observer()});
  auto throws_with = [](auto&& f, const char* text) {
    try {
      f();
      FAIL("no error, expected: ", text);
    } catch (const lowbit::error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
    }
  };
  const Eigen::MatrixXf H31 = H.topLeftCorner(31, 31);
  throws_with([&] { gptq(W, H31, q); }, "H is 31 x 31");
  Eigen::MatrixXf Hn = H;
  Hn(3, 4) = std::numeric_limits<float>::quiet_NaN();
  throws_with([&] { gptq(W, Hn, q); }, "non-finite Hessian entry nan at (3, 4)");
  Mat Wn = W;
  Wn(2, 7) = std::numeric_limits<float>::infinity();
  throws_with([&] { gptq(Wn, H, q); }, "non-finite weight inf at (2, 7)");
  quantizer<uint4> q64({per_group(64), mapping::asymmetric, convention::gptq, minmax_observer()});
  throws_with([&] { gptq(W, H, q64); }, "group size 64 is larger than K = 32");
  quantizer<uint4> qx({per_group(24, tail::exact), mapping::asymmetric, convention::gptq, minmax_observer()});
  throws_with([&] { gptq(W, H, qx); }, "does not divide");
  hessian_accumulator<float> empty(32);
  throws_with([&] { gptq(W, empty, q); }, "zero calibration samples");
  throws_with([&] { empty.add_batch(Mat(4, 31)); }, "batch has 31 columns");
  Mat xb = randn(4, 32, 21);
  xb(1, 2) = std::numeric_limits<float>::quiet_NaN();
  throws_with([&] { empty.add_batch(xb); }, "non-finite value nan at (1, 2)");
  gptq_options bad;
  bad.block_size = 0;
  throws_with([&] { gptq(W, H, q, bad); }, "block_size must be > 0");
  bad = {};
  bad.max_percdamp = std::numeric_limits<double>::quiet_NaN();
  throws_with([&] { gptq(W, H, q, bad); }, "max_percdamp must be finite and >= 0");
  bad.max_percdamp = -1.0;
  throws_with([&] { gptq(W, H, q, bad); }, "max_percdamp must be finite and >= 0");
  bad = {};
  bad.damp_increment = 1e-20;  // 1e20 Cholesky retries on a failing H: refused up front
  throws_with([&] { gptq(W, H, q, bad); }, "takes more than 10000 retries");
  // finite activations whose products overflow fp32: H names the entry instead of holding inf
  hessian_accumulator<float> big(4);
  big.add_batch(Mat::Constant(2, 4, 1e20f));
  throws_with([&] { big.matrix(); }, "entry (0, 0) of H is inf");
  hessian_accumulator<double> wide(4);  // the documented way out: accumulate in double
  wide.add_batch(Mat::Constant(2, 4, 1e18f));
  CHECK(std::isfinite(wide.matrix()(3, 3)));
}

TEST_CASE("algo/gptq: rank-deficient, indefinite and negative-definite H take the documented path") {
  const Mat W = randn(8, 32, 22);
  quantizer<uint4> q({per_group(16), mapping::asymmetric, convention::gptq, minmax_observer()});
  // Fewer tokens than columns, and a duplicated input channel: rank-deficient, damping suffices.
  Mat X = randn(10, 32, 23);
  X.col(9) = X.col(4);
  hessian_accumulator<float> h(32);
  h.add_batch(X);
  const auto rd = gptq(W, h, q);
  CHECK(rd.status == info::success);
  CHECK(rd.Q.allFinite());
  CHECK(rd.percdamp == 0.01);
  // Indefinite: smallest eigenvalue −1.5% of mean diag -> 1% damping fails, 2% succeeds.
  const Eigen::MatrixXf H0 = correlated_hessian(32, 100, 24);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(H0.cast<double>());
  const double mean = H0.diagonal().cast<double>().mean();
  Eigen::MatrixXd Hi = H0.cast<double>();
  Hi.diagonal().array() -= es.eigenvalues()(0) + 0.015 * mean;
  const Eigen::MatrixXf Hf = Hi.cast<float>();
  const auto ind = gptq(W, Hf, q);
  CHECK(ind.status == info::fallback);
  CHECK(ind.percdamp > 0.015);
  CHECK(ind.percdamp < 0.035);
  CHECK(ind.Q.allFinite());
  // A step below half an ulp of percdamp (but few enough retries to pass the up-front check)
  // cannot move it: no retry, round-to-nearest (it looped forever before).
  gptq_options stuck;
  stuck.max_percdamp = std::nextafter(0.01, 1.0);
  stuck.damp_increment = 1e-19;
  const auto st = gptq(W, Hf, q, stuck);
  CHECK(st.status == info::numerical_issue);
  CHECK(st.Q == q.fake_quantize(W));
  // Negative definite: no damping helps -> round-to-nearest, status numerical_issue.
  const Eigen::MatrixXf Hneg = -H0;
  const auto neg = gptq(W, Hneg, q);
  CHECK(neg.status == info::numerical_issue);
  CHECK(neg.Q == q.fake_quantize(W));
  CHECK(std::isfinite(neg.loss));
  // All-zero H: every column dead -> zero weights, no failure.
  const auto zero = gptq(W, Eigen::MatrixXf::Zero(32, 32), q);
  CHECK(zero.status == info::success);
  CHECK(zero.dead_columns == 32);
  CHECK(zero.Q.isZero(0));
}

namespace {

// The reference's factor in float64: U upper with H⁻¹ = UᵀU (torch cholesky, cholesky_inverse,
// cholesky upper=True).
Eigen::MatrixXd reference_U(const Eigen::MatrixXd& H) {
  const Eigen::Index K = H.rows();
  const Eigen::MatrixXd L = H.llt().matrixL();
  const Eigen::MatrixXd Linv = L.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(K, K));
  const Eigen::MatrixXd Hinv = Linv.transpose() * Linv;
  return Hinv.llt().matrixU();
}

// IST-DASLab fasterquant transcribed in float64 with the reference's U route: W4 asymmetric
// (gptq convention) groups of G, lazy blocks of B; dynamic group parameters fitted on the
// global W (reference: lacks the current block's updates) or on the fully updated columns.
Eigen::MatrixXi reference_loop(const Mat& Wf, const Eigen::MatrixXf& Hf, Eigen::Index G, Eigen::Index B,
                               bool global_fit) {
  const Eigen::Index N = Wf.rows(), K = Wf.cols();
  Eigen::MatrixXd W = Wf.cast<double>(), H = Hf.cast<double>();
  H.diagonal().array() += 0.01 * H.diagonal().mean();
  const Eigen::MatrixXd U = reference_U(H);
  Eigen::MatrixXi C(N, K);
  Eigen::VectorXd scale(N), zero(N);
  Eigen::MatrixXd Err(N, B);
  for (Eigen::Index i1 = 0; i1 < K; i1 += B) {
    const Eigen::Index i2 = std::min(K, i1 + B);
    Eigen::MatrixXd W1 = W.middleCols(i1, i2 - i1);
    for (Eigen::Index k = i1; k < i2; ++k) {
      if (k % G == 0) {
        const Eigen::Index kend = std::min(K, k + G);
        Eigen::MatrixXd X = W.middleCols(k, kend - k);
        if (!global_fit) {  // every update of the columns j < k
          X.leftCols(std::min(kend, i2) - k) = W1.middleCols(k - i1, std::min(kend, i2) - k);
          if (kend > i2)
            X.rightCols(kend - i2) -= Err.leftCols(k - i1) * U.block(i1, i2, k - i1, kend - i2);
        }
        for (Eigen::Index n = 0; n < N; ++n) {  // float32 parameters, as the reference stores them
          const float lo = float(std::min(0.0, X.row(n).minCoeff())), hi = float(std::max(0.0, X.row(n).maxCoeff()));
          const float s = lo == 0.0f && hi == 0.0f ? 2.0f / 15.0f : (hi - lo) / 15.0f;
          scale(n) = s;
          zero(n) = std::nearbyint(lo == 0.0f && hi == 0.0f ? 1.0f / s : -lo / s);
        }
      }
      for (Eigen::Index n = 0; n < N; ++n) {
        const double w = W1(n, k - i1);
        const double c = std::clamp(std::nearbyint(float(w) / float(scale(n))) + zero(n), 0.0, 15.0);
        C(n, k) = int(c);
        Err(n, k - i1) = (w - scale(n) * (c - zero(n))) / U(k, k);
      }
      W1.rightCols(i2 - k - 1) -= Err.col(k - i1) * U.block(k, k + 1, 1, i2 - k - 1);
    }
    W.rightCols(K - i2) -= Err.leftCols(i2 - i1) * U.block(i1, i2, i2 - i1, K - i2);
  }
  return C;
}

}  // namespace

TEST_CASE("algo/gptq: the reversed Cholesky factor R (H = R·Rᵀ) is the inverse of the reference's U") {
  const Eigen::Index K = 96;
  Eigen::MatrixXf well = correlated_hessian(K, 400, 30);
  well.diagonal().array() += 0.01f * well.diagonal().mean();
  // Ill-conditioned: nearly collinear channels (cond(H) ≈ 1e7).
  Mat X = randn(300, K, 31);
  for (Eigen::Index k = 1; k < K; ++k) X.col(k) = X.col(0) + 1e-3f * X.col(k);
  hessian_accumulator<float> h(K);
  h.add_batch(X);
  Eigen::MatrixXf ill = h.matrix();
  ill.diagonal().array() += 1e-5f * ill.diagonal().mean();
  for (const auto* Hp : {&well, &ill}) {
    const Eigen::MatrixXd Hd = Hp->cast<double>();
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(Hd);
    const double cond = svd.singularValues()(0) / svd.singularValues()(K - 1);
    CAPTURE(cond);
    const Eigen::MatrixXd U = reference_U(Hd);
    for (bool dbl : {true, false}) {
      CAPTURE(dbl);
      Eigen::MatrixXf Rs;
      Eigen::VectorXf rd;
      REQUIRE((dbl ? detail::reversed_cholesky<double>(*Hp, Rs, rd) : detail::reversed_cholesky<float>(*Hp, Rs, rd)));
      CHECK(Rs.diagonal().isOnes(0));
      CHECK(Rs.triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0));
      const Eigen::MatrixXd R = Rs.cast<double>() * rd.cast<double>().asDiagonal();
      const Eigen::MatrixXd Rref = U.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(K, K));
      const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(K, K);
      // Float storage of the exact R is the floor: ‖fl(R) − R‖ and ‖U·fl(R) − I‖.
      const Eigen::MatrixXd Rfl = Rref.cast<float>().cast<double>();
      const double rel = (R - Rref).norm() / Rref.norm(), floor_rel = (Rfl - Rref).norm() / Rref.norm();
      const double res = (U * R - I).norm(), floor_res = (U * Rfl - I).norm();
      MESSAGE("cond(H) ", cond, (dbl ? " float64" : " float32"), " factor: |R - U^-1|/|U^-1| ", rel, " (floor ", floor_rel,
              "), |U R - I| ", res, " (floor ", floor_res, ")");
      CHECK((R * R.transpose() - Hd).norm() <= 1e-6 * Hd.norm());
      if (dbl) {  // float64: the route adds float64 round-off only (cond(H)·1e-16 ≤ 1e-8)
        CHECK(rel <= 2 * floor_rel + 1e-8);
        CHECK(res <= 2 * floor_res + 1e-8 * std::sqrt(cond));
      } else {    // float32: errors grow with cond(H)·2^-24 (why float64 is the default)
        CHECK(rel <= 2 * floor_rel + 1e-7 * cond);
      }
    }
  }
  Eigen::MatrixXf Rs;
  Eigen::VectorXf rd;
  const Eigen::MatrixXf neg = -well;
  CHECK_FALSE(detail::reversed_cholesky<double>(neg, Rs, rd));
}

TEST_CASE("algo/gptq: equals the reference loop through U (float64 transcription), incl. group fits mid-block") {
  const Mat W = randn(40, 192, 32, 0.5f);
  const Eigen::MatrixXf H = correlated_hessian(192, 500, 33);
  quantizer<uint4> q({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()});
  quantizer<uint4> q64({per_group(64), mapping::asymmetric, convention::gptq, minmax_observer()});
  gptq_options o;
  auto codes = [](const auto& r) {
    Eigen::MatrixXi c(r.weight.codes.rows(), r.weight.codes.cols());
    for (Eigen::Index i = 0; i < c.rows(); ++i)
      for (Eigen::Index j = 0; j < c.cols(); ++j) c(i, j) = int(uint4::to_int(r.weight.codes(i, j)));
    return c;
  };
  for (gptq_mode mode : {gptq_mode::reference, gptq_mode::corrected})
    for (Eigen::Index B : {128, 64, 48, 32}) {
      o.mode = mode;
      o.block_size = B;
      CAPTURE(int(mode));
      CAPTURE(B);
      const bool global = mode == gptq_mode::reference;
      CHECK(agreement(codes(gptq(W, H, q, o)), reference_loop(W, H, 32, B, global)) >= 0.999);
      CHECK(agreement(codes(gptq(W, H, q64, o)), reference_loop(W, H, 64, B, global)) >= 0.999);
    }
}

TEST_CASE("algo/hessian: streaming H = (2/N)·ΣXᵀX, both counting conventions, running-mean equal") {
  const Mat X1 = randn(30, 12, 25), X2 = randn(50, 12, 26);
  hessian_accumulator<double> seq(12), tok(12, hessian_count::tokens);
  seq.add_batch(X1, 2);  // 2 sequences of 15 tokens
  seq.add_batch(X2, 1);
  tok.add_batch(X1);
  tok.add_batch(X2);
  const Eigen::MatrixXd S = X1.cast<double>().transpose() * X1.cast<double>() +
                            X2.cast<double>().transpose() * X2.cast<double>();
  CHECK(seq.samples() == 3);
  CHECK(tok.samples() == 80);
  CHECK((seq.matrix().cast<double>() - 2.0 / 3.0 * S).norm() <= 1e-5 * S.norm());
  CHECK((tok.matrix().cast<double>() - 2.0 / 80.0 * S).norm() <= 1e-5 * S.norm());
  // The reference's running mean: H ← H·n/(n+b); n += b; H += (2/n)·XᵀX.
  Eigen::MatrixXd Hr = Eigen::MatrixXd::Zero(12, 12);
  double n = 0;
  for (auto [X, b] : {std::pair<const Mat*, double>{&X1, 2.0}, {&X2, 1.0}}) {
    Hr *= n / (n + b);
    n += b;
    const Eigen::MatrixXd x = std::sqrt(2.0 / n) * X->cast<double>();
    Hr += x.transpose() * x;
  }
  CHECK((seq.matrix().cast<double>() - Hr).norm() <= 1e-5 * Hr.norm());
}

// Real data: stories260K with TinyStories activations (examples/gptq_awq_layers.cpp prints the
// per-layer table). Loss tr((W−Q)·H_eval·(W−Q)ᵀ) on held-out tokens, summed over all 35 linears.
TEST_CASE("algo/gptq: stories260K layer loss summed over the linears: GPTQ < AWQ < RTN (INT4 g32, NVFP4)") {
  const std::string data = std::string(LOWBIT_TEST_DATA_DIR);
  const tinyllama::model m = tinyllama::load_model(data + "/stories260K/stories260K.bin");
  const tinyllama::tokenizer tok = tinyllama::tokenizer::load(data + "/stories260K/tok512.bin", m.cfg.vocab_size);
  const auto text = tinyllama::text_windows::load(tok, data + "/text/tinystories_val.txt");
  std::vector<tinyllama::window> calib = text.calibration();
  calib.resize(4);
  const auto eval = text.eval(2);
  std::map<tinyllama::linear_site, std::pair<std::vector<Mat>, std::vector<Mat>>> rec;
  bool is_calib = true;
  tinyllama::hooks h;
  h.observe = [&](const tinyllama::linear_site& s, const tinyllama::matrix& x) {
    if (s.kind != tinyllama::linear_kind::cls) (is_calib ? rec[s].first : rec[s].second).push_back(x);
  };
  for (const auto& w : calib) tinyllama::forward(m, w, h, tinyllama::logits_rows::last);
  is_calib = false;
  for (const auto& w : eval) tinyllama::forward(m, w, h, tinyllama::logits_rows::last);
  auto sums = [&](const auto& q) {
    double rtn = 0, awq = 0, gp = 0;
    for (const auto& [site, xs] : rec) {
      const Mat& W = tinyllama::weight(m, site);
      hessian_accumulator<double> hc(W.cols(), hessian_count::tokens), he(W.cols(), hessian_count::tokens);
      Mat Xc(0, W.cols());
      for (const Mat& x : xs.first) {
        hc.add_batch(x);
        Xc.conservativeResize(Xc.rows() + x.rows(), Eigen::NoChange);
        Xc.bottomRows(x.rows()) = x;
      }
      for (const Mat& x : xs.second) he.add_batch(x);
      const Eigen::MatrixXf Hc = hc.matrix(), He = he.matrix();
      rtn += layer_loss(W, q.fake_quantize(W), He);
      awq += layer_loss(W, awq_linear(Xc, W, q).Q, He);
      gptq_options o;
      o.act_order = true;
      const auto g = gptq(W, Hc, q, o);
      CHECK(g.status == info::success);
      gp += layer_loss(W, g.Q, He);
    }
    MESSAGE("RTN ", rtn, "  AWQ ", awq, "  GPTQ ", gp);
    CHECK(gp < awq);
    CHECK(awq < rtn);
  };
  REQUIRE(rec.size() == 35);
  sums(quantizer<uint4>({per_group(32), mapping::asymmetric, convention::gptq, minmax_observer()}));
  sums(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}));
}
