#include <lowbit/algo/hadamard.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/quantize/quantizer.hpp>

#include <cmath>
#include <random>
#include <string>

#include <doctest/doctest.h>

#include "support/compare.hpp"
#include "support/error_of.hpp"
#include "support/random.hpp"

using namespace lowbit;
using namespace lowbit_test;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
// Sylvester S_{2^m} by the recursion S_2k = [[S, S], [S, -S]] (independent of the library's
// popcount formula and butterflies).
MatD sylvester(Eigen::Index n) {
  MatD s = MatD::Ones(1, 1);
  while (s.rows() < n) {
    const Eigen::Index k = s.rows();
    MatD t(2 * k, 2 * k);
    t << s, s, s, -s;
    s = t;
  }
  return s;
}

MatD kron(const MatD& a, const MatD& b) {
  MatD k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

}  // namespace

TEST_CASE("algo/hadamard: every stored matrix is +-1 with H.H^T = n.I exactly") {
  const detail::hadamard_table_entry* t = detail::hadamard_table();
  REQUIRE(detail::hadamard_table_size == 12);
  for (int e = 0; e < detail::hadamard_table_size; ++e) {
    const int n = t[e].order;
    CAPTURE(n);
    CHECK(std::string(t[e].sloane_name).rfind("had." + std::to_string(n), 0) == 0);
    const MatD h = detail::known_hadamard<double>(n);
    CHECK((h.array().abs() == 1.0).all());
    const MatD g = h * h.transpose();  // integers < 2^53: exact
    CHECK(g == double(n) * MatD::Identity(n, n));
  }
}

TEST_CASE("algo/hadamard: sizes factor as QuaRot's get_hadK does, the rest are rejected") {
  struct c { Eigen::Index n, k, p; };
  for (const c x : {c{1, 1, 1}, c{64, 1, 64}, c{4096, 1, 4096}, c{172, 172, 1}, c{11008, 172, 64}, c{13824, 108, 128},
                    c{14336, 28, 512}, c{28672, 28, 1024}, c{5120, 40, 128}, c{40, 40, 1}, c{80, 40, 2}, c{20, 20, 1},
                    c{12, 12, 1}, c{24, 12, 2}, c{88, 44, 2}, c{344, 172, 2}}) {
    CAPTURE(x.n);
    const hadamard_size f = hadamard_factor(x.n);
    CHECK(f.n == x.n);
    CHECK(f.k == x.k);
    CHECK(f.pow2 == x.p);
  }
  for (Eigen::Index n : {0, -4, 3, 6, 22, 68, 100, 136, 172 * 3, 11008 * 3}) {
    CAPTURE(n);
    CHECK_FALSE(hadamard_supported(n));
    const std::string msg = error_of([&] { hadamard_factor(n); });
    CHECK(msg.find("no Hadamard matrix of size " + std::to_string(n)) != std::string::npos);
    CHECK(msg.find("K in {172") != std::string::npos);
  }
}

TEST_CASE("algo/hadamard: dense H_n equals kron(H_K, Sylvester) and is orthogonal") {
  for (Eigen::Index n : {1, 2, 4, 16, 12, 24, 40, 44, 172, 344}) {
    CAPTURE(n);
    const hadamard_size f = hadamard_factor(n);
    const MatD h = hadamard_matrix<double>(n);
    CHECK(h == kron(detail::known_hadamard<double>(f.k), sylvester(f.pow2)));
    CHECK(h * h.transpose() == double(n) * MatD::Identity(n, n));
  }
  MatD s2(2, 2);
  s2 << 1, 1, 1, -1;
  CHECK(hadamard_matrix<double>(2) == s2);
}

TEST_CASE("algo/hadamard: fast transform equals the explicit Kronecker product / sqrt(n) in float64") {
  for (Eigen::Index n : {1, 2, 8, 64, 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172, 96, 160, 688}) {
    CAPTURE(n);
    const hadamard_size f = hadamard_factor(n);
    const MatD h = kron(detail::known_hadamard<double>(f.k), sylvester(f.pow2));
    const MatD x = randn<double>(5, n, unsigned(n));
    // each row x -> H.x / sqrt(n)   <=>   Y = X.H^T / sqrt(n)
    CHECK(max_rel(hadamard_transform(x), x * h.transpose() / std::sqrt(double(n))) < 1e-13);
    CHECK(max_rel(hadamard_transform(x, true), x * h / std::sqrt(double(n))) < 1e-13);
    // inverse and isometry
    CHECK(max_rel(hadamard_transform(hadamard_transform(x), true), x) < 1e-13);
    CHECK(hadamard_transform(x).rowwise().norm().isApprox(x.rowwise().norm(), 1e-13));
  }
}

TEST_CASE("algo/hadamard: closed forms: a unit vector spreads evenly, a constant row concentrates") {
  const Eigen::Index n = 64;
  MatD e0 = MatD::Zero(1, n);
  e0(0, 0) = 1.0;
  CHECK(hadamard_transform(e0).isApprox(MatD::Constant(1, n, 1.0 / 8.0), 1e-15));
  MatF ones = MatF::Ones(2, n);
  const MatF y = hadamard_transform(ones);
  CHECK(y(1, 0) == 8.0f);  // sqrt(64) exactly; every other entry exactly 0
  CHECK(y.rightCols(n - 1).cwiseAbs().maxCoeff() == 0.0f);
  // float32 agrees with float64 to float round-off
  const MatD x = randn<double>(3, 172, 7);
  const MatF yf = hadamard_transform(MatF(x.cast<float>()));
  CHECK(max_rel(yf.cast<double>(), hadamard_transform(x)) < 1e-5);
}

TEST_CASE("algo/hadamard: rotation Q = diag(s).H^T/sqrt(n) is orthogonal; apply is X.Q") {
  for (Eigen::Index n : {32, 172, 40}) {
    CAPTURE(n);
    const hadamard_rotation r = hadamard_rotation::random(n, 1234);
    CHECK(r.signs().cwiseAbs() == Eigen::VectorXd::Ones(n));
    CHECK(r.signs().sum() != double(n));  // some signs flipped
    const MatD q = r.matrix();
    CHECK(max_rel(q.transpose() * q, MatD::Identity(n, n)) < 1e-14);
    MatD expect = hadamard_matrix<double>(n).transpose() / std::sqrt(double(n));
    for (Eigen::Index i = 0; i < n; ++i) expect.row(i) *= r.signs()(i);
    CHECK(max_rel(q, expect) < 1e-15);
    const MatD x = randn<double>(7, n, 3);
    CHECK(max_rel(r.apply(x), x * q) < 1e-13);
    CHECK(max_rel(r.apply_inverse(x), x * q.transpose()) < 1e-13);
    CHECK(max_rel(r.apply_inverse(r.apply(x)), x) < 1e-13);
  }
  // signs are a pure function of the seed
  CHECK(random_signs(256, 5) == random_signs(256, 5));
  CHECK(random_signs(256, 5) != random_signs(256, 6));
  CHECK(std::abs(random_signs(4096, 9).sum()) < 4 * 64.0);  // balanced: |sum| < 4 sigma
  CHECK(hadamard_rotation(16).signs() == Eigen::VectorXd::Ones(16));
}

TEST_CASE("algo/hadamard: offline folding leaves the float64 output unchanged") {
  // x -> RMSNorm(x).gamma -> W1 (hidden x dim) + b1 -> W2 (out x hidden)
  const Eigen::Index T = 9, dim = 40, hidden = 172, out = 12;
  const MatD x = randn<double>(T, dim, 11) * 3.0;
  const MatD w1 = randn<double>(hidden, dim, 12), w2 = randn<double>(out, hidden, 13);
  const Eigen::VectorXd b1 = randn<double>(hidden, 1, 14).col(0);
  const Eigen::VectorXd gamma = (randn<double>(dim, 1, 15).col(0).array().abs() + 0.5).matrix();
  auto rmsnorm = [](const MatD& v) {
    MatD r = v;
    for (Eigen::Index i = 0; i < v.rows(); ++i) r.row(i) /= std::sqrt(v.row(i).squaredNorm() / double(v.cols()) + 1e-5);
    return r;
  };
  MatD ref_n = rmsnorm(x);
  for (Eigen::Index j = 0; j < dim; ++j) ref_n.col(j) *= gamma(j);
  const MatD h_ref = (ref_n * w1.transpose()).rowwise() + b1.transpose();
  const MatD y_ref = h_ref * w2.transpose();

  // Residual stream rotated by Q1 (dim), hidden activations by Q2 (hidden, K = 172).
  const hadamard_rotation q1 = hadamard_rotation::random(dim, 1), q2 = hadamard_rotation::random(hidden, 2);
  const MatD w1f = q2.fold_into_output(q1.fold_into_input(fuse_norm_into_linear(w1, gamma)));
  const Eigen::VectorXd b1f = q2.fold_bias_into_output(b1);
  const MatD w2f = q2.fold_into_input(w2);
  // RMSNorm without weight commutes with Q1: rmsnorm(x.Q1) = rmsnorm(x).Q1
  const MatD xr = q1.apply(x);
  CHECK(max_rel(rmsnorm(xr), q1.apply(rmsnorm(x))) < 1e-13);
  const MatD h_rot = (rmsnorm(xr) * w1f.transpose()).rowwise() + b1f.transpose();
  CHECK(max_rel(h_rot, q2.apply(h_ref)) < 1e-13);  // the hidden activations are rotated ...
  CHECK(max_rel(h_rot * w2f.transpose(), y_ref) < 1e-13);  // ... and the output is unchanged

  // Same with dense matrices: W.Q and Q^T.W
  CHECK(max_rel(q1.fold_into_input(w1), w1 * q1.matrix()) < 1e-13);
  CHECK(max_rel(q2.fold_into_output(w1), q2.matrix().transpose() * w1) < 1e-13);

  // LayerNorm bias: b' = b + W.beta
  const Eigen::VectorXd beta = randn<double>(dim, 1, 16).col(0);
  const MatD n0 = randn<double>(3, dim, 17);
  const MatD lhs = ((n0.rowwise() + beta.transpose()) * w1.transpose()).rowwise() + b1.transpose();
  const MatD rhs = (n0 * w1.transpose()).rowwise() + fuse_norm_bias_into_linear(w1, b1, beta).transpose();
  CHECK(max_rel(lhs, rhs) < 1e-13);
}

TEST_CASE("algo/hadamard: rotation spreads an outlier channel, int4 per-token error drops") {
  // Activations with one channel 50x larger: per-token int4 absmax wastes the grid on it.
  const Eigen::Index T = 64, K = 172;
  MatD x = randn<double>(T, K, 21);
  x.col(17) *= 50.0;
  const MatF xf = x.cast<float>();
  quantizer<int4> q({per_token()});
  const MatF plain = q.fake_quantize(xf);
  const hadamard_rotation r = hadamard_rotation::random(K, 3);
  const MatF rot = r.apply_inverse(q.fake_quantize(r.apply(xf)));
  const double s_plain = sqnr_db(xf, plain), s_rot = sqnr_db(xf, rot);
  CAPTURE(s_plain);
  CAPTURE(s_rot);
  CHECK(s_rot > s_plain + 3.0);
}

TEST_CASE("algo/hadamard: per-head transform is block-diagonal; bad head layouts are errors") {
  const Eigen::Index heads = 3, d = 12;
  const MatD x = randn<double>(4, heads * d, 31);
  MatD y = x;
  hadamard_transform_heads_inplace(y, heads, d);
  MatD bd = MatD::Zero(heads * d, heads * d);
  for (Eigen::Index h = 0; h < heads; ++h) bd.block(h * d, h * d, d, d) = hadamard_matrix<double>(d) / std::sqrt(double(d));
  CHECK(max_rel(y, x * bd.transpose()) < 1e-14);
  hadamard_transform_heads_inplace(y, heads, d, true);
  CHECK(max_rel(y, x) < 1e-14);

  MatD z = randn<double>(2, 48, 1);
  CHECK(error_of([&] { hadamard_transform_heads_inplace(z, 5, 8); }).find("expected num_heads (5) x head_dim (8) = 40") !=
        std::string::npos);
  MatD z6 = randn<double>(2, 36, 1);
  CHECK(error_of([&] { hadamard_transform_heads_inplace(z6, 6, 6); }).find("no Hadamard matrix of size 6") != std::string::npos);
  CHECK(error_of([&] { hadamard_transform_heads_inplace(z6, 0, 6); }).find("must be > 0") != std::string::npos);
}

TEST_CASE("algo/hadamard: bad input") {
  MatD x = randn<double>(2, 100, 1);
  CHECK(error_of([&] { hadamard_transform(x); }).find("hadamard_transform: no Hadamard matrix of size 100") != std::string::npos);
  MatD empty(0, 8);
  CHECK(error_of([&] { hadamard_transform(empty); }).find("empty input") != std::string::npos);
  Eigen::VectorXd s = Eigen::VectorXd::Ones(8);
  s(3) = 0.5;
  CHECK(error_of([&] { hadamard_rotation r(s); }).find("sign 3 is 0.5") != std::string::npos);
  const hadamard_rotation r(16);
  CHECK(error_of([&] { r.apply(randn<double>(2, 8, 1)); }).find("input has 8 columns, rotation size is 16") != std::string::npos);
  CHECK(error_of([&] { r.fold_into_output(randn<double>(8, 16, 1)); }).find("weight has 8 output rows") != std::string::npos);
  CHECK(error_of([&] { hadamard_rotation::random(6, 1); }).find("no Hadamard matrix of size 6") != std::string::npos);
  CHECK(error_of([&] { fuse_norm_into_linear(randn<double>(4, 16, 1), Eigen::VectorXd::Ones(8)); }).find("norm weight has 8") !=
        std::string::npos);

  // NaN/Inf, and finite values whose unnormalised sums could overflow (n·max|x| > FLT_MAX / 2),
  // are errors that leave x as it was, also across heads and rows.
  MatF f = randn<float>(3, 64, 2);
  const MatF f0 = f;
  f(2, 9) = NAN;
  CHECK(error_of([&] { hadamard_transform_inplace(f); }).find("hadamard_transform: non-finite value nan at (2, 9)") !=
        std::string::npos);
  f(2, 9) = 0.0f;
  f(2, 10) = 1.5e37f;  // rows of 64 (and heads of 16) could reach 9.6e38 (2.4e38)
  CHECK(error_of([&] { hadamard_transform_inplace(f); }).find("|x| reaches 1.5e+37") != std::string::npos);
  CHECK(error_of([&] { hadamard_transform_heads_inplace(f, 4, 16); }).find("hadamard_transform_heads: |x| reaches") !=
        std::string::npos);
  f(1, 3) = NAN;  // a NaN is named, also next to a value over the bound
  CHECK(error_of([&] { hadamard_transform_heads_inplace(f, 4, 16); }).find("non-finite value nan at (1, 3)") !=
        std::string::npos);
  f(1, 3) = f0(1, 3);
  f(2, 10) = -INFINITY;
  CHECK(error_of([&] { hadamard_transform_heads_inplace(f, 4, 16); }).find("non-finite value -inf at (2, 10)") !=
        std::string::npos);
  CHECK(error_of([&] { hadamard_rotation(64).apply(f); }).find("non-finite value -inf") != std::string::npos);
  f(2, 9) = f0(2, 9);
  f(2, 10) = f0(2, 10);
  CHECK(f == f0);  // rows 0 and 1 were not transformed before the throw
  f(2, 10) = 2e36f;  // 64 × 2e36 < FLT_MAX / 2: accepted, and the result is finite
  hadamard_transform_inplace(f);
  CHECK(f.allFinite());
}
