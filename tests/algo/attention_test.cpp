#include <lowbit/algo/attention.hpp>

#include <lowbit/format/float8.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

// Activations with per-channel offsets and spreads (what makes asymmetric Q/K/V pay off).
Mat qkv_like(Eigen::Index t, Eigen::Index cols, unsigned seed, float offset = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> mu(static_cast<std::size_t>(cols)), sd(static_cast<std::size_t>(cols));
  for (Eigen::Index c = 0; c < cols; ++c) {
    mu[std::size_t(c)] = offset * n(g);
    sd[std::size_t(c)] = 0.3f + 0.7f * std::fabs(n(g));
  }
  Mat x(t, cols);
  for (Eigen::Index i = 0; i < t; ++i)
    for (Eigen::Index c = 0; c < cols; ++c) x(i, c) = mu[std::size_t(c)] + sd[std::size_t(c)] * n(g);
  return x;
}

// Exact softmax attention in float64 (independent oracle), plus the per-element error bound of
// the int8 path stated in algo/attention.hpp: n/(510·max(1, ℓ − n/510)) · range of V over the
// visible keys, + a small fp32 allowance.
struct reference {
  Eigen::MatrixXd out, bound;
};

reference reference_attention(const Mat& q, const Mat& k, const Mat& v, const attention_shape& s, bool causal) {
  const Eigen::Index tq = q.rows(), tk = k.rows();
  const int d = s.head_dim;
  const double alpha = 1.0 / std::sqrt(double(d));
  reference r{Eigen::MatrixXd::Zero(tq, q.cols()), Eigen::MatrixXd::Zero(tq, q.cols())};
  std::vector<double> sc(static_cast<std::size_t>(tk));
  for (int h = 0; h < s.q_heads; ++h) {
    const int g = h / (s.q_heads / s.kv_heads);
    for (Eigen::Index i = 0; i < tq; ++i) {
      const Eigen::Index n = causal ? tk - tq + i + 1 : tk;
      double mx = -1e300;
      for (Eigen::Index j = 0; j < n; ++j) {
        double acc = 0;
        for (int c = 0; c < d; ++c) acc += double(q(i, h * d + c)) * double(k(j, g * d + c));
        sc[std::size_t(j)] = alpha * acc;
        mx = std::max(mx, sc[std::size_t(j)]);
      }
      double ell = 0;
      for (Eigen::Index j = 0; j < n; ++j) ell += (sc[std::size_t(j)] = std::exp(sc[std::size_t(j)] - mx));
      const double lhat = std::max(1.0, ell - double(n) / 510.0);
      for (int c = 0; c < d; ++c) {
        double o = 0, lo = 1e300, hi = -1e300, amax = 0;
        for (Eigen::Index j = 0; j < n; ++j) {
          const double vj = v(j, g * d + c);
          o += sc[std::size_t(j)] * vj;
          lo = std::min(lo, vj);
          hi = std::max(hi, vj);
          amax = std::max(amax, std::fabs(vj));
        }
        r.out(i, h * d + c) = o / ell;
        r.bound(i, h * d + c) = double(n) / (510.0 * lhat) * (hi - lo) + 1e-4 * (hi - lo) + 1e-5 * amax;
      }
    }
  }
  return r;
}

template <class F>
Mat deq(const quantizer<F>& q, const quantized<F>& x) {
  return q.dequantize(x);
}

// int8 attention vs the float64 attention on the dequantized Q/K/V: every element within the
// stated bound. Returns the RMS error relative to the RMS of V̂ (the scale of the outputs' inputs;
// an attention output averages V rows, so its own RMS shrinks with diffuse rows).
template <class F>
double check_int8_against_bound(const Mat& q, const Mat& k, const Mat& v, const attention_shape& s,
                                head_quant_options hq, attention_options opt) {
  const auto qk = head_quantizer<F>(s.head_dim, hq);
  const auto qvq = head_quantizer<F>(s.head_dim, {hq.map, false});
  const auto Q = qk.quantize(q), K = qk.quantize(k), V = qvq.quantize(v);
  const Mat out = attention_int8(Q, K, V, s, opt);
  const reference ref = reference_attention(deq(qk, Q), deq(qk, K), deq(qvq, V), s, opt.causal);
  long bad = 0;
  double se = 0;
  for (Eigen::Index i = 0; i < out.rows(); ++i)
    for (Eigen::Index c = 0; c < out.cols(); ++c) {
      const double e = std::fabs(double(out(i, c)) - ref.out(i, c));
      if (!(e <= ref.bound(i, c))) ++bad;
      se += e * e;
    }
  CHECK(bad == 0);
  const Mat vh = deq(qvq, V);
  return std::sqrt(se / double(out.size())) / std::sqrt(vh.squaredNorm() / double(vh.size()));
}

}  // namespace

TEST_CASE("algo/attention: fp32 blocked online-softmax attention equals float64 softmax attention (GQA, causal)") {
  const attention_shape s{8, 2, 16};
  for (bool causal : {true, false}) {
    const Eigen::Index tq = causal ? 77 : 5, tk = 77;
    const Mat q = qkv_like(tq, 8 * 16, 1), k = qkv_like(tk, 2 * 16, 2), v = qkv_like(tk, 2 * 16, 3);
    attention_options o;
    o.causal = causal;
    o.key_block = 16;  // several online-softmax steps
    o.query_block = 10;
    const Mat out = attention(q, k, v, s, o);
    const reference ref = reference_attention(q, k, v, s, causal);
    CHECK((out.cast<double>() - ref.out).cwiseAbs().maxCoeff() <= 1e-5 * (1.0 + v.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("algo/attention: int8 asymmetric per-head attention within the stated bound of float attention on dequantized Q/K/V") {
  const attention_shape s{8, 2, 32};
  const Eigen::Index t = 300;  // not a multiple of the blocks: partial query and key blocks
  const Mat q = qkv_like(t, 8 * 32, 11, 2.0f), k = qkv_like(t, 2 * 32, 12, 2.0f), v = qkv_like(t, 2 * 32, 13);
  attention_options o;
  o.key_block = 64;
  o.query_block = 48;
  const double rel = check_int8_against_bound<int8>(q, k, v, s, {mapping::asymmetric, false}, o);
  MESSAGE("int8 asym per-head, T=300: RMS error / RMS(V) vs float on dequantized Q/K/V = ", rel);
  CHECK(rel < 1e-2);
  // uint8 codes, symmetric mapping and dynamic per-token Q/K go through the same arithmetic.
  CHECK(check_int8_against_bound<uint8>(q, k, v, s, {mapping::asymmetric, true}, o) < 1e-2);
  CHECK(check_int8_against_bound<int8>(q, k, v, s, {mapping::symmetric, false}, o) < 1e-2);
  CHECK(check_int8_against_bound<int8>(q, k, v, s, {mapping::symmetric, true}, o) < 1e-2);
  // Non-causal, fewer queries than keys.
  o.causal = false;
  CHECK(check_int8_against_bound<int8>(q.topRows(17), k, v, s, {mapping::asymmetric, false}, o) < 1e-2);
}

TEST_CASE("algo/attention: int8 decode (1 query) over 4096 keys with GQA within the stated bound") {
  const attention_shape s{4, 2, 64};
  const Mat q = qkv_like(1, 4 * 64, 21, 2.0f), k = qkv_like(4096, 2 * 64, 22, 2.0f), v = qkv_like(4096, 2 * 64, 23);
  const double rel = check_int8_against_bound<int8>(q, k, v, s, {mapping::asymmetric, false}, {});
  MESSAGE("int8 decode over 4096 keys: RMS error / RMS(V) = ", rel);
  CHECK(rel < 1e-2);
}

TEST_CASE("algo/attention: int8 hard attention reproduces the selected V row (zero-point corrections exact)") {
  // Query i matches key i by a score margin of >= 12 after α, so every other key has
  // 255·e^-12 < 0.5 → P code 0, and the output is v̂_i. Keys carry a +5 offset with distinct row
  // sums, so any error in the zero-point terms (−zb·Σqa − za·Σqb + d·za·zb) moves scores per key.
  const int d = 16;
  const attention_shape s{1, 1, d};
  std::mt19937 g(5);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  Mat q(d, d), k(d, d);
  for (int i = 0; i < d; ++i)
    for (int c = 0; c < d; ++c) {
      q(i, c) = (i == c ? 14.0f : 0.0f) + 3.0f;
      k(i, c) = (i == c ? 14.0f : 0.0f) + 5.0f + u(g);
    }
  const Mat v = qkv_like(d, d, 6);
  attention_options o;
  o.causal = false;
  o.key_block = 5;
  const auto hq = head_quantizer<int8>(d);
  const auto Q = hq.quantize(q), K = hq.quantize(k), V = hq.quantize(v);
  CHECK(K.params.zero(0, 0) == -128.0f);  // all-positive keys: range widened to 0, zero at the bottom code
  const Mat out = attention_int8(Q, K, V, s, o);
  const Mat vhat = hq.dequantize(V);
  for (int i = 0; i < d; ++i)
    for (int c = 0; c < d; ++c) CHECK(out(i, c) == doctest::Approx(vhat(i, c)).epsilon(1e-6));
}

TEST_CASE("algo/attention: int8 rows are the same computed one by one (decode loops) or together (GEMM kernel)") {
  const attention_shape s{4, 2, 16};
  const Mat q = qkv_like(17, 64, 91, 2.0f), k = qkv_like(200, 32, 92, 2.0f), v = qkv_like(200, 32, 93);
  const auto hq = head_quantizer<int8>(16, {mapping::asymmetric, true});
  const auto hv = head_quantizer<int8>(16);
  const auto Q = hq.quantize(q), K = hq.quantize(k), V = hv.quantize(v);
  attention_options o;
  o.causal = false;
  o.key_block = 48;
  const Mat all = attention_int8(Q, K, V, s, o);  // 17 queries: packed VNNI/portable kernel path
  for (Eigen::Index i = 0; i < 17; ++i) {
    const Mat one = attention_int8(hq.quantize(q.row(i)), K, V, s, o);  // 1 query: direct loops
    CHECK(one == all.row(i));
  }
}

TEST_CASE("algo/attention: GQA — K/V scales replicated to query heads give identical results") {
  const attention_shape gqa{6, 2, 8}, mha{6, 6, 8};
  const Mat q = qkv_like(40, 48, 31), k = qkv_like(40, 16, 32), v = qkv_like(40, 16, 33);
  const auto hq = head_quantizer<int8>(8);
  const auto Q = hq.quantize(q), K = hq.quantize(k), V = hq.quantize(v);
  // Quantizing the replicated K equals replicating the quantized K (same codes, scales, zeros).
  const auto Krep = repeat_kv(K, gqa);
  const auto Kq_of_rep = hq.quantize(repeat_kv(k, gqa));
  CHECK(Krep.codes == Kq_of_rep.codes);
  CHECK(Krep.params.scale == Kq_of_rep.params.scale);
  CHECK(Krep.params.zero == Kq_of_rep.params.zero);
  for (int h = 0; h < 6; ++h) CHECK(Krep.params.scale(0, h) == K.params.scale(0, h / 3));
  // int8 and float attention: GQA mapping == MHA on the replicated K/V, bit for bit.
  const Mat a = attention_int8(Q, K, V, gqa), b = attention_int8(Q, Krep, repeat_kv(V, gqa), mha);
  CHECK(a == b);
  CHECK(attention(q, k, v, gqa) == attention(q, repeat_kv(k, gqa), repeat_kv(v, gqa), mha));
}

TEST_CASE("algo/attention: causal rows never read later keys (int8 and fp32)") {
  const attention_shape s{2, 1, 8};
  const Mat q = qkv_like(50, 16, 41), k = qkv_like(50, 8, 42), v = qkv_like(50, 8, 43);
  const auto hk = head_quantizer<int8>(8, {mapping::asymmetric, true});  // per-token Q/K
  const auto hv = head_quantizer<int8>(8);
  const auto Q = hk.quantize(q), K = hk.quantize(k), V = hv.quantize(v);
  auto K2 = K;
  auto V2 = V;
  for (Eigen::Index j = 30; j < 50; ++j) {  // scramble the codes of keys/values 30..49
    K2.codes.row(j).setConstant(std::uint8_t(0x7F));
    V2.codes.row(j).setConstant(std::uint8_t(0x80));
  }
  const Mat a = attention_int8(Q, K, V, s), b = attention_int8(Q, K2, V2, s);
  CHECK(a.topRows(30) == b.topRows(30));
  CHECK(a.bottomRows(20) != b.bottomRows(20));
  Mat k3 = k, v3 = v;
  k3.bottomRows(20).setConstant(9.0f);
  v3.bottomRows(20).setConstant(-9.0f);
  CHECK(attention(q, k, v, s).topRows(30) == attention(q, k3, v3, s).topRows(30));
  // Decode-style: 3 queries at the end of 50 keys, causal: row 0 sees keys 0..47.
  const Mat qd = q.bottomRows(3);
  const reference ref = reference_attention(qd, k, v, s, true);
  CHECK((attention(qd, k, v, s).cast<double>() - ref.out).cwiseAbs().maxCoeff() < 1e-5);
}

TEST_CASE("algo/attention: fake_quantize_qkv is per-head quantize-dequantize with each head's own range") {
  const attention_shape s{4, 2, 8};
  Mat q = qkv_like(20, 32, 51, 3.0f), k = qkv_like(20, 16, 52, 3.0f), v = qkv_like(20, 16, 53);
  const Mat q0 = q, k0 = k, v0 = v;
  fake_quantize_qkv<int8>(q, k, v, s);
  const auto hq = head_quantizer<int8>(8);
  CHECK(q == hq.fake_quantize(q0));
  CHECK(v == hq.fake_quantize(v0));
  const qparams p = hq.fit(k0);
  for (int h = 0; h < 2; ++h) {
    const auto head = k0.middleCols(h * 8, 8);
    const double lo = std::min(0.0f, head.minCoeff()), hi = std::max(0.0f, head.maxCoeff());
    CHECK(p.scale(0, h) == doctest::Approx((hi - lo) / 255.0).epsilon(1e-6));
    CHECK((k.middleCols(h * 8, 8) - head).cwiseAbs().maxCoeff() <= 0.5f * p.scale(0, h) * 1.0001f);
  }
  // fp8 per-head Q/K/V (the FP8 recipe) goes through the same call.
  Mat q8 = q0, k8 = k0, v8 = v0;
  fake_quantize_qkv<float8_e4m3fn>(q8, k8, v8, s, {mapping::symmetric, false});
  CHECK(q8 == head_quantizer<float8_e4m3fn>(8, {mapping::symmetric, false}).fake_quantize(q0));
}

TEST_CASE("algo/attention: bad shapes and parameters are clear errors") {
  const Mat q = qkv_like(10, 32, 61), k = qkv_like(10, 16, 62), v = qkv_like(10, 16, 63);
  CHECK_THROWS_WITH_AS(attention(q, k, v, {4, 3, 8}), doctest::Contains("multiple of kv heads"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention(q, k, v, {4, 1, 8}), doctest::Contains("K has 16 columns"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention(q, k, v, {2, 2, 8}), doctest::Contains("Q has 32 columns"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention(q, k, v.topRows(9), {4, 2, 8}), doctest::Contains("V has 9"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention(q, k.topRows(5), v.topRows(5), {4, 2, 8}),
                       doctest::Contains("more queries (10) than keys (5)"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention_int8(q, k, v, {4, 2, 8}, {}, {true, 0.0f, 0, 64}), doctest::Contains("key_block"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(attention_int8(q, k, v, {4, 0, 8}), doctest::Contains("must be > 0"), lowbit::error);
}

TEST_CASE("algo/attention: NaN/Inf inputs and fp32 overflow are errors, never NaN output") {
  const attention_shape sh{4, 2, 8};
  const Mat q = qkv_like(10, 32, 64), k = qkv_like(10, 16, 65), v = qkv_like(10, 16, 66);
  Mat bad = k;
  bad(3, 5) = NAN;
  CHECK_THROWS_WITH_AS(attention(q, bad, v, sh), doctest::Contains("attention: non-finite value nan at (3, 5) of K"),
                       lowbit::error);
  bad = v;
  bad(9, 0) = -INFINITY;
  CHECK_THROWS_WITH_AS(attention(q, k, bad, sh), doctest::Contains("-inf at (9, 0) of V"), lowbit::error);
  // finite Q and K whose scores overflow: exp(inf − inf) gave NaN rows before
  const Mat qh = q * 1e20f, kh = k * 1e20f;
  CHECK_THROWS_WITH_AS(attention(qh, kh, v, sh), doctest::Contains("overflows fp32"), lowbit::error);
  CHECK_THROWS_WITH_AS(attention_int8(qh, kh, v, sh), doctest::Contains("of query row 0, head 0 overflows fp32"),
                       lowbit::error);
  // finite V near FLT_MAX: the weighted sum overflows
  const Mat vh = Mat::Constant(10, 16, 3e38f);
  CHECK_THROWS_WITH_AS(attention(q, k, vh, sh), doctest::Contains("the output of query rows from 0, head 0"),
                       lowbit::error);
  // inputs just inside the range still work
  const Mat out = attention(q * 1e8f, k * 1e8f, v, sh);
  CHECK(out.allFinite());
}

TEST_CASE("algo/attention: int8 path rejects qparams that are not per-head, or per-token V") {
  const attention_shape s{4, 2, 8};
  const Mat q = qkv_like(10, 32, 71), k = qkv_like(10, 16, 72), v = qkv_like(10, 16, 73);
  const auto hq = head_quantizer<int8>(8);
  const auto Q = hq.quantize(q), K = hq.quantize(k), V = hq.quantize(v);
  const auto Vtok = head_quantizer<int8>(8, {mapping::asymmetric, true}).quantize(v);
  CHECK_THROWS_WITH_AS(attention_int8(Q, K, Vtok, s), doctest::Contains("V must share one scale per head"),
                       lowbit::error);
  const auto Qrow = quantizer<int8>({per_token()}).quantize(q);
  CHECK_THROWS_WITH_AS(attention_int8(Qrow, K, V, s), doctest::Contains("Q must be quantized per_head(8)"),
                       lowbit::error);
  const auto Kd4 = head_quantizer<int8>(4).quantize(k);
  CHECK_THROWS_WITH_AS(attention_int8(Q, Kd4, V, s), doctest::Contains("K must be quantized per_head(8)"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(attention_int8(Q, K, V, attention_shape{4, 1, 8}), doctest::Contains("K has 16 columns"),
                       lowbit::error);
}

TEST_SUITE("slow") {
  TEST_CASE("algo/attention: int8 GQA causal prefill of 4096 tokens within the stated bound") {
    const attention_shape s{4, 2, 64};
    const Eigen::Index t = 4096;
    const Mat q = qkv_like(t, 4 * 64, 81, 2.0f), k = qkv_like(t, 2 * 64, 82, 2.0f), v = qkv_like(t, 2 * 64, 83);
    const double rel = check_int8_against_bound<int8>(q, k, v, s, {mapping::asymmetric, false}, {});
    MESSAGE("int8 causal prefill T=4096: RMS error / RMS(V) = ", rel);
    CHECK(rel < 1e-2);
  }
}
