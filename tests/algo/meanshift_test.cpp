#include <lowbit/algo/meanshift.hpp>
#include <lowbit/format/float8.hpp>
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
// Causal GQA attention in float64, straight from the definition. Returns the probabilities of
// every head stacked (Hq blocks of T × S) and, optionally, per-(query, head) log-sum-exp.
// key_bias (S × Hq) is added to head h's scores of key j.
struct attn_out {
  MatD probs, out, lse;
};
attn_out attention(const MatD& q, const MatD& k, const MatD& v, Eigen::Index hq, Eigen::Index hkv, Eigen::Index d,
                   const MatD* key_bias = nullptr) {
  const Eigen::Index T = q.rows(), S = k.rows(), group = hq / hkv;
  const double scale = 1.0 / std::sqrt(double(d));
  attn_out r{MatD::Zero(hq * T, S), MatD::Zero(T, hq * d), MatD::Zero(T, hq)};
  for (Eigen::Index h = 0; h < hq; ++h) {
    const Eigen::Index g = h / group;
    for (Eigen::Index i = 0; i < T; ++i) {
      std::vector<double> s;
      double m = -INFINITY;
      for (Eigen::Index j = 0; j <= i && j < S; ++j) {  // causal
        double a = scale * q.row(i).segment(h * d, d).dot(k.row(j).segment(g * d, d));
        if (key_bias) a += (*key_bias)(j, h);
        s.push_back(a);
        m = std::max(m, a);
      }
      double z = 0;
      for (double a : s) z += std::exp(a - m);
      r.lse(i, h) = m + std::log(z);
      for (std::size_t j = 0; j < s.size(); ++j) {
        const double p = std::exp(s[j] - m) / z;
        r.probs(h * T + i, Eigen::Index(j)) = p;
        r.out.row(i).segment(h * d, d) += p * v.row(Eigen::Index(j)).segment(g * d, d);
      }
    }
  }
  return r;
}

// RoPE on pairs (2t, 2t+1) of each head, angle pos·10000^(−2t/d).
MatD rope(const MatD& x, Eigen::Index heads, Eigen::Index d) {
  MatD y = x;
  for (Eigen::Index p = 0; p < x.rows(); ++p)
    for (Eigen::Index h = 0; h < heads; ++h)
      for (Eigen::Index t = 0; t < d / 2; ++t) {
        const double a = double(p) * std::pow(10000.0, -2.0 * double(t) / double(d));
        const double u = x(p, h * d + 2 * t), w = x(p, h * d + 2 * t + 1);
        y(p, h * d + 2 * t) = u * std::cos(a) - w * std::sin(a);
        y(p, h * d + 2 * t + 1) = u * std::sin(a) + w * std::cos(a);
      }
  return y;
}
}  // namespace

TEST_CASE("algo/meanshift: channel_mean is the float64 mean over all batches") {
  const MatD a = randn<double>(10, 5, 1), b = randn<double>(6, 5, 2, 3.0);
  channel_mean m;
  m.update(a);
  m.update(b.cast<float>());
  MatD ab(16, 5);
  ab << a, b.cast<float>().cast<double>();
  CHECK(m.rows() == 16);
  CHECK((m.value() - ab.colwise().mean().transpose()).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(error_of([&] { m.update(randn<double>(1, 4, 3)); }).find("batch has 4 channels, earlier batches had 5") != std::string::npos);
  CHECK(error_of([&] { channel_mean().value(); }).find("no rows seen") != std::string::npos);
  MatD bad = a;
  bad(2, 3) = INFINITY;
  CHECK(error_of([&] { channel_mean_of(bad); }).find("non-finite value inf at (2, 3)") != std::string::npos);
}

TEST_CASE("algo/meanshift: folding the input mean into the bias is exact in float64") {
  const Eigen::Index T = 20, C = 32, N = 24;
  MatD x = randn<double>(T, C, 5);
  for (Eigen::Index j = 0; j < C; ++j) x.col(j).array() += 10.0 * std::sin(double(j));  // channel offsets
  const MatD w = randn<double>(N, C, 6);
  const Eigen::VectorXd b = randn<double>(N, 1, 7).col(0), mu = channel_mean_of(x);
  const MatD ref = (x * w.transpose()).rowwise() + b.transpose();
  const MatD shifted = (meanshift_apply(x, mu) * w.transpose()).rowwise() + meanshift_fold_bias(w, b, mu).transpose();
  CHECK(max_rel(shifted, ref) < 1e-14);
  // no bias: b' = W.mu
  CHECK(max_rel((meanshift_apply(x, mu) * w.transpose()).rowwise() + meanshift_fold_bias(w, mu).transpose(),
                MatD(x * w.transpose())) < 1e-14);
  // the shifted input has zero mean; mu = 0 is a no-op
  CHECK(channel_mean_of(meanshift_apply(x, mu)).cwiseAbs().maxCoeff() < 1e-13);
  const Eigen::VectorXd zero = Eigen::VectorXd::Zero(C);
  CHECK(meanshift_apply(x, zero) == x);
  CHECK(meanshift_fold_bias(w, b, zero) == b);
  // LayerNorm bias: beta' = beta - mu emits x - mu
  const Eigen::VectorXd beta = randn<double>(C, 1, 8).col(0);
  CHECK((meanshift_fold_norm_bias(beta, mu) - (beta - mu)).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("algo/meanshift: removing channel offsets improves symmetric FP8 and int8 output SQNR") {
  const Eigen::Index T = 64, C = 64, N = 32;
  MatD x = randn<double>(T, C, 9);
  for (Eigen::Index j = 0; j < C; ++j) x.col(j).array() += (j % 4 == 0 ? 12.0 : 1.0);  // skewed, as Q/K inputs are
  const MatD w = randn<double>(N, C, 10, 0.1);
  const MatD ref = x * w.transpose();
  const Eigen::VectorXd mu = channel_mean_of(x);
  const MatF wq8 = quantizer<float8_e4m3fn>({per_channel(0)}).fake_quantize(w.cast<float>());
  const MatF wqi = quantizer<int8>({per_channel(0)}).fake_quantize(w.cast<float>());
  auto run = [&](auto xq, const MatF& wq) {
    const double plain = sqnr_db(ref, xq.fake_quantize(x.cast<float>()).template cast<double>() * wq.cast<double>().transpose());
    const MatD shifted = (xq.fake_quantize(meanshift_apply(x, mu).cast<float>()).template cast<double>() *
                          wq.cast<double>().transpose())
                             .rowwise() +
                         meanshift_fold_bias(w, mu).transpose();
    return std::make_pair(plain, sqnr_db(ref, shifted));
  };
  const auto fp8 = run(quantizer<float8_e4m3fn>({per_tensor()}), wq8);
  const auto i8 = run(quantizer<int8>({per_tensor()}), wqi);
  CAPTURE(fp8.first);
  CAPTURE(fp8.second);
  CAPTURE(i8.first);
  CAPTURE(i8.second);
  CHECK(fp8.second > fp8.first + 3.0);
  CHECK(i8.second > i8.first + 3.0);
}

TEST_CASE("algo/meanshift: a K shift after RoPE leaves softmax unchanged (GQA, causal)") {
  const Eigen::Index T = 12, hq = 4, hkv = 2, d = 8;
  const MatD q = rope(randn<double>(T, hq * d, 11), hq, d);
  MatD k = randn<double>(T, hkv * d, 12);
  for (Eigen::Index j = 0; j < k.cols(); ++j) k.col(j).array() += 3.0 * std::cos(double(j));
  k = rope(k, hkv, d);
  const MatD v = randn<double>(T, hkv * d, 13);
  const Eigen::VectorXd mu_k = channel_mean_of(k);
  const attn_out ref = attention(q, k, v, hq, hkv, d);
  const attn_out sh = attention(q, meanshift_apply(k, mu_k), v, hq, hkv, d);
  CHECK((sh.probs - ref.probs).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(max_rel(sh.out, ref.out) < 1e-13);
  // the log-sum-exp moves by exactly scale.q.mu_k
  const Eigen::MatrixXd c = meanshift_key_lse_correction(q, mu_k, hq, hkv, d, 1.0 / std::sqrt(double(d)));
  CHECK((MatD(sh.lse + c) - ref.lse).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((sh.lse - ref.lse).cwiseAbs().maxCoeff() > 1e-3);
}

TEST_CASE("algo/meanshift: K shifted before RoPE and Q shifts are not invariant; the key bias restores Q") {
  const Eigen::Index T = 12, hq = 4, hkv = 2, d = 8;
  MatD q0 = randn<double>(T, hq * d, 21), k0 = randn<double>(T, hkv * d, 22);
  for (Eigen::Index j = 0; j < q0.cols(); ++j) q0.col(j).array() += 2.0;
  for (Eigen::Index j = 0; j < k0.cols(); ++j) k0.col(j).array() += 2.0;
  const MatD v = randn<double>(T, hkv * d, 23);
  const attn_out ref = attention(rope(q0, hq, d), rope(k0, hkv, d), v, hq, hkv, d);
  // K shifted before RoPE (k_proj bias): probabilities change
  const attn_out pre = attention(rope(q0, hq, d), rope(meanshift_apply(k0, channel_mean_of(k0)), hkv, d), v, hq, hkv, d);
  CHECK((pre.probs - ref.probs).cwiseAbs().maxCoeff() > 1e-3);
  // Q shifted (after RoPE): probabilities change, the per-key bias puts them back
  const MatD q = rope(q0, hq, d), k = rope(k0, hkv, d);
  const Eigen::VectorXd mu_q = channel_mean_of(q);
  const attn_out qs = attention(meanshift_apply(q, mu_q), k, v, hq, hkv, d);
  CHECK((qs.probs - ref.probs).cwiseAbs().maxCoeff() > 1e-3);
  const Eigen::MatrixXd bias = meanshift_query_key_bias(k, mu_q, hq, hkv, d, 1.0 / std::sqrt(double(d)));
  const MatD bias_rm = bias;
  const attn_out fixed = attention(meanshift_apply(q, mu_q), k, v, hq, hkv, d, &bias_rm);
  CHECK((fixed.probs - ref.probs).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("algo/meanshift: a V shift moves the output by mu_v, folded into the o_proj bias") {
  const Eigen::Index T = 10, hq = 6, hkv = 2, d = 4, N = 7;
  const MatD q = randn<double>(T, hq * d, 31), k = randn<double>(T, hkv * d, 32);
  MatD v = randn<double>(T, hkv * d, 33);
  v.array() += 5.0;
  const MatD wo = randn<double>(N, hq * d, 34);
  const Eigen::VectorXd bo = randn<double>(N, 1, 35).col(0), mu_v = channel_mean_of(v);
  const MatD ref = (attention(q, k, v, hq, hkv, d).out * wo.transpose()).rowwise() + bo.transpose();
  const Eigen::VectorXd mu_o = expand_kv_heads(mu_v, hq, hkv, d);
  const MatD sh =
      (attention(q, k, meanshift_apply(v, mu_v), hq, hkv, d).out * wo.transpose()).rowwise() + meanshift_fold_bias(wo, bo, mu_o).transpose();
  CHECK(max_rel(sh, ref) < 1e-13);
  // GQA expansion: head h takes K/V head h / 3
  CHECK(mu_o.segment(2 * d, d) == mu_v.segment(0, d));
  CHECK(mu_o.segment(3 * d, d) == mu_v.segment(d, d));
}

TEST_CASE("algo/meanshift: bad input") {
  const MatD q = randn<double>(3, 4 * 8, 1), k = randn<double>(3, 3 * 8, 2);
  // mismatched head counts
  CHECK(error_of([&] { meanshift_key_lse_correction(q, Eigen::VectorXd::Zero(24), 4, 3, 8, 1.0); })
            .find("mismatched head counts: 4 query heads is not a multiple of 3 key/value heads") != std::string::npos);
  CHECK(error_of([&] { meanshift_query_key_bias(k, Eigen::VectorXd::Zero(32), 4, 2, 8, 1.0); })
            .find("K has 24 columns, expected heads (2) x head_dim (8) = 16") != std::string::npos);
  CHECK(error_of([&] { meanshift_key_lse_correction(q, Eigen::VectorXd::Zero(8), 4, 2, 8, 1.0); })
            .find("the K shift has 8 columns, expected heads (2) x head_dim (8) = 16") != std::string::npos);
  CHECK(error_of([&] { expand_kv_heads(Eigen::VectorXd::Zero(16), 4, 0, 8); }).find("mismatched head counts") !=
        std::string::npos);
  // shift shape and values
  CHECK(error_of([&] { meanshift_apply(q, Eigen::VectorXd::Zero(5)); }).find("shift has 5 entries for 32 channels") !=
        std::string::npos);
  Eigen::VectorXd nan = Eigen::VectorXd::Zero(32);
  nan(3) = std::nan("");
  CHECK(error_of([&] { meanshift_fold_bias(randn<double>(2, 32, 1), nan); }).find("shift contains NaN or Inf") != std::string::npos);
  CHECK(error_of([&] { meanshift_fold_bias(randn<double>(2, 32, 1), Eigen::VectorXd::Zero(3), Eigen::VectorXd::Zero(32)); })
            .find("bias has 3 entries, the linear has 2 outputs") != std::string::npos);
}
