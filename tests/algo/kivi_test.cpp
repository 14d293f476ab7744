#include <lowbit/algo/kivi.hpp>

#include <lowbit/algo/attention.hpp>

#include <cmath>
#include <limits>
#include <random>

#include <doctest/doctest.h>

using namespace lowbit;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {
// Keys with per-channel offsets/outlier channels (why KIVI quantizes K per channel), values plain.
Mat kv_like(Eigen::Index t, Eigen::Index cols, unsigned seed, float offset = 2.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat x(t, cols);
  std::vector<float> mu(static_cast<std::size_t>(cols));
  for (auto& m : mu) m = offset * n(g);
  for (Eigen::Index i = 0; i < t; ++i)
    for (Eigen::Index c = 0; c < cols; ++c) x(i, c) = mu[std::size_t(c)] + n(g);
  return x;
}

// softmax(α q Kᵀ) V in float64 for one query row over all rows of K, V (any GQA grouping).
Eigen::RowVectorXd softmax_attention(const Mat& q, const Mat& k, const Mat& v, int hq, int hkv, int d) {
  Eigen::RowVectorXd out(q.cols());
  const double alpha = 1.0 / std::sqrt(double(d));
  for (int h = 0; h < hq; ++h) {
    const int g = h / (hq / hkv);
    Eigen::VectorXd s(k.rows());
    for (Eigen::Index j = 0; j < k.rows(); ++j) {
      double a = 0;
      for (int c = 0; c < d; ++c) a += double(q(0, h * d + c)) * double(k(j, g * d + c));
      s(j) = alpha * a;
    }
    s = (s.array() - s.maxCoeff()).exp();
    for (int c = 0; c < d; ++c) {
      double o = 0;
      for (Eigen::Index j = 0; j < k.rows(); ++j) o += s(j) * double(v(j, g * d + c));
      out(h * d + c) = o / s.sum();
    }
  }
  return out;
}

template <class C>
void check_same_state(const C& a, const C& b) {
  CHECK(a.size() == b.size());
  CHECK(a.key_codes() == b.key_codes());
  CHECK(a.value_codes() == b.value_codes());
  CHECK(a.key_scales() == b.key_scales());
  CHECK(a.key_offsets() == b.key_offsets());
  CHECK(a.value_scales() == b.value_scales());
  CHECK(a.value_offsets() == b.value_offsets());
  CHECK(a.residual_key_data() == b.residual_key_data());
  CHECK(a.residual_value_data() == b.residual_value_data());
}
}  // namespace

TEST_CASE("algo/kivi: streaming append equals prefill of the same tokens (T < R, T = R, T = kR + r)") {
  const kivi_options o{2, 16, 8, 32};  // Hkv=2, d=16, G=8, R=32
  const Mat q = kv_like(1, 4 * 16, 1);
  for (Eigen::Index t : {Eigen::Index(5), Eigen::Index(32), Eigen::Index(3 * 32 + 7), Eigen::Index(2 * 32)}) {
    const Mat k = kv_like(t, 32, 2), v = kv_like(t, 32, 3, 0.5f);
    kivi_cache<uint2> prefill(o), stream(o), mixed(o);
    prefill.append(k, v);
    for (Eigen::Index i = 0; i < t; ++i) stream.append(k.row(i), v.row(i));
    const Eigen::Index half = t / 2;  // a prompt then decode steps
    mixed.append(k.topRows(half), v.topRows(half));
    for (Eigen::Index i = half; i < t; ++i) mixed.append(k.row(i), v.row(i));
    check_same_state(prefill, stream);
    check_same_state(prefill, mixed);
    CHECK(prefill.attend(q, 4) == stream.attend(q, 4));
    // FIFO counts: keys quantized in whole R-blocks, values keep exactly min(N, R) in full precision.
    CHECK(prefill.quantized_keys() == (t / 32) * 32);
    CHECK(prefill.residual_keys() == t % 32);
    CHECK(prefill.residual_values() == std::min<Eigen::Index>(t, 32));
    CHECK(prefill.quantized_values() == t - std::min<Eigen::Index>(t, 32));
  }
}

TEST_CASE("algo/kivi: the residual window holds exactly the last R tokens' values, bit for bit") {
  const kivi_options o{1, 8, 4, 16};
  kivi_cache<uint4> cache(o);
  const Mat k = kv_like(100, 8, 4), v = kv_like(100, 8, 5);
  for (Eigen::Index i = 0; i < 100; ++i) {
    cache.append(k.row(i), v.row(i));
    const Eigen::Index n = i + 1, r = std::min<Eigen::Index>(n, 16);
    REQUIRE(cache.residual_values() == r);
    const Mat vals = cache.values(), keys = cache.keys();
    CHECK(vals.bottomRows(r) == v.middleRows(n - r, r));
    CHECK(keys.bottomRows(n % 16) == k.middleRows(n - n % 16, n % 16));
  }
}

TEST_CASE("algo/kivi: fp32 scales reproduce the reference formula (KIVI new_pack.py) code for code") {
  // scale = (mx − mn)/(2^b − 1), q = clamp(round((x − mn)/scale), 0, 2^b − 1), x̂ = q·scale + mn;
  // keys per channel over G tokens, values per token over the head.
  const int G = 8, R = 16, d = 8;
  const kivi_options o{2, d, G, R};
  kivi_cache<uint2, float> cache(o);
  const Mat k = kv_like(R + 3, 2 * d, 6), v = kv_like(R + 3, 2 * d, 7);
  cache.append(k, v);
  const Mat kh = cache.keys(), vh = cache.values();
  for (int blk = 0; blk < R / G; ++blk)
    for (int c = 0; c < 2 * d; ++c) {
      const auto col = k.col(c).segment(blk * G, G);
      const float mn = col.minCoeff(), s = (col.maxCoeff() - mn) / 3.0f;
      CHECK(cache.key_scales()[std::size_t(blk * 2 * d + c)] == s);
      for (int j = 0; j < G; ++j) {
        const float qv = std::min(3.0f, std::max(0.0f, std::nearbyint((col(j) - mn) / s)));
        CHECK(kh(blk * G + j, c) == qv * s + mn);
      }
    }
  for (int t = 0; t < 3; ++t)  // the 3 oldest values were quantized per token and head
    for (int h = 0; h < 2; ++h) {
      const auto seg = v.row(t).segment(h * d, d);
      const float mn = seg.minCoeff(), s = (seg.maxCoeff() - mn) / 3.0f;
      for (int c = 0; c < d; ++c) {
        const float qv = std::min(3.0f, std::max(0.0f, std::nearbyint((seg(c) - mn) / s)));
        CHECK(vh(t, h * d + c) == qv * s + mn);
      }
    }
}

TEST_CASE("algo/kivi: fp16 scales — error <= s/2 everywhere, offsets below the group minimum, exact in fp16") {
  const kivi_options o{2, 16, 32, 64};
  kivi_cache<uint2> c2(o);
  kivi_cache<uint4> c4(o);
  const Mat k = kv_like(200, 32, 8), v = kv_like(200, 32, 9);
  c2.append(k, v);
  c4.append(k, v);
  auto check = [&](const auto& c, int levels) {
    const Mat kh = c.keys(), vh = c.values();
    for (Eigen::Index blk = 0; blk < c.quantized_keys() / 32; ++blk)
      for (int ch = 0; ch < 32; ++ch) {
        const std::size_t i = std::size_t(blk * 32 + ch);
        const float s = c.key_scales()[i], m = c.key_offsets()[i];
        CHECK(decode<float16_format>(encode<float16_format>(s)) == s);
        CHECK(decode<float16_format>(encode<float16_format>(m)) == m);
        CHECK(m <= k.col(ch).segment(blk * 32, 32).minCoeff());
        for (int j = 0; j < 32; ++j) {
          const float err = std::fabs(kh(blk * 32 + j, ch) - k(blk * 32 + j, ch));
          CHECK(err <= 0.5f * s * (1.0f + float(levels) * 1e-3f) + 1e-6f);
        }
      }
    for (Eigen::Index t = 0; t < c.quantized_values(); ++t)
      for (int ch = 0; ch < 32; ++ch) {
        const float s = c.value_scales()[std::size_t(t * 2 + ch / 16)];
        CHECK(std::fabs(vh(t, ch) - v(t, ch)) <= 0.5f * s * (1.0f + float(levels) * 1e-3f) + 1e-6f);
      }
  };
  check(c2, 3);
  check(c4, 15);
  // 4-bit is finer than 2-bit.
  CHECK((c4.keys() - k).squaredNorm() < 0.1 * (c2.keys() - k).squaredNorm());
}

TEST_CASE("algo/kivi: a constant group reconstructs exactly (no 0/0), attention stays finite") {
  const kivi_options o{1, 8, 4, 8};
  Mat k = kv_like(23, 8, 10), v = kv_like(23, 8, 11);
  k.topRows(8).setZero();  // zero padding tokens: constant per channel over both key groups
  v.topRows(8).setZero();
  k.middleRows(8, 4).setConstant(1.5f);  // fp16-representable constant
  v.row(9).setConstant(-2.25f);
  const float odd = 0.1f;  // not representable in fp16: exact only with fp32 scales
  k.middleRows(12, 4).setConstant(odd);
  v.row(10).setConstant(odd);
  kivi_cache<uint2> c16(o);
  kivi_cache<uint2, float> c32(o);
  c16.append(k, v);
  c32.append(k, v);
  REQUIRE(c16.quantized_keys() == 16);
  REQUIRE(c16.quantized_values() == 15);
  const Mat k16 = c16.keys(), v16 = c16.values(), k32 = c32.keys(), v32 = c32.values();
  CHECK(k16.topRows(12) == k.topRows(12));
  CHECK(v16.topRows(8) == v.topRows(8));
  CHECK(v16.row(9) == v.row(9));
  CHECK(k32.topRows(16) == k.topRows(16));  // fp32 scales: any constant, 0.1 included
  CHECK(v32.row(10) == v.row(10));
  CHECK(k16.middleRows(12, 4) != k.middleRows(12, 4));  // fp16 offsets cannot hold 0.1f exactly
  CHECK(c16.key_scales()[0] == 1.0f);
  CHECK(k16.allFinite());
  CHECK(c16.attend(kv_like(1, 8, 12), 1).allFinite());
}

TEST_CASE("algo/kivi: attend equals float64 softmax attention over the dequantized cache (GQA)") {
  const kivi_options o{2, 16, 8, 16};
  kivi_cache<uint2> cache(o);
  const Mat k = kv_like(77, 32, 13), v = kv_like(77, 32, 14), q = kv_like(2, 64, 15);
  cache.append(k, v);
  const Mat kh = cache.keys(), vh = cache.values();
  const Mat out = cache.attend(q, 4);
  for (Eigen::Index r = 0; r < 2; ++r) {
    const Eigen::RowVectorXd ref = softmax_attention(q.row(r), kh, vh, 4, 2, 16);
    CHECK((out.row(r).cast<double>() - ref).cwiseAbs().maxCoeff() < 1e-5 * (1.0 + vh.cwiseAbs().maxCoeff()));
  }
}

TEST_CASE("algo/kivi: decode follows the reference order (attend before the flush)") {
  const kivi_options o{1, 8, 4, 8};
  kivi_cache<uint2> cache(o);
  const Mat k = kv_like(16, 8, 16), v = kv_like(16, 8, 17), q = kv_like(1, 16, 18);
  cache.append(k.topRows(15), v.topRows(15));  // 8 keys quantized, 7 in the residual; 8 values full
  REQUIRE(cache.residual_keys() == 7);
  Mat kprev(16, 8), vprev(16, 8);
  kprev << cache.keys(), k.row(15);
  vprev << cache.values(), v.row(15);
  // Reference: the 16th key joins the residual (8 full keys), the values hold 9 full tokens.
  const Mat out = cache.decode(q, k.row(15), v.row(15), 2);
  const Eigen::RowVectorXd ref = softmax_attention(q, kprev, vprev, 2, 1, 8);
  CHECK((out.cast<double>() - ref).cwiseAbs().maxCoeff() < 1e-5 * (1.0 + vprev.cwiseAbs().maxCoeff()));
  CHECK(cache.residual_keys() == 0);  // ... then the R-block is quantized
  CHECK(cache.quantized_keys() == 16);
  CHECK(cache.residual_values() == 8);
}

TEST_CASE("algo/kivi: kivi_attention rows before the first flush equal exact causal attention") {
  const attention_shape s{4, 2, 8};
  const kivi_options o{2, 8, 8, 16};
  const Mat q = kv_like(40, 32, 19), k = kv_like(40, 16, 20), v = kv_like(40, 16, 21);
  const Mat kv = kivi_attention<uint2>(q, k, v, 4, o);
  const Mat ref = attention(q, k, v, s);
  CHECK((kv.topRows(16) - ref.topRows(16)).cwiseAbs().maxCoeff() < 1e-5f);
  CHECK((kv.bottomRows(24) - ref.bottomRows(24)).cwiseAbs().maxCoeff() > 1e-4f);  // quantized from then on
  CHECK((kv.bottomRows(24) - ref.bottomRows(24)).norm() < 0.3f * ref.bottomRows(24).norm());
}

TEST_CASE("algo/kivi: memory for 2-bit, G=32, R=128 at 4096 tokens is within 5% of the analytic figure") {
  const int hkv = 4, d = 64, C = hkv * d;
  const kivi_options o{hkv, d, 32, 128};
  kivi_cache<uint2> cache(o);
  cache.append(kv_like(4096, C, 22), kv_like(4096, C, 23));
  // Analytic: 4096 keys quantized (4096 % 128 == 0) at 2 bits + one fp16 (scale, min) pair per
  // channel per 32 tokens; 3968 values quantized at 2 bits + one fp16 pair per token and head;
  // 128 fp32 residual values.
  const double codes = (4096.0 + 3968.0) * C * 2 / 8;
  const double scales = (4096.0 / 32 * C + 3968.0 * hkv) * 2 * 2;
  const double residual = 128.0 * C * 4;
  const double analytic = codes + scales + residual;
  MESSAGE("KIVI-2 bytes at 4096 tokens: ", cache.bytes(), " (analytic ", analytic, "; fp16 cache ",
          2.0 * 4096 * C * 2, ")");
  CHECK(std::fabs(double(cache.bytes()) - analytic) <= 0.05 * analytic);
  CHECK(cache.memory().codes == std::size_t(codes));
  CHECK(cache.memory().scales == std::size_t(scales));
  CHECK(cache.memory().residual == std::size_t(residual));
  CHECK(cache.key_codes().size() + cache.value_codes().size() == std::size_t(codes));  // really packed
}

TEST_CASE("algo/kivi: bad configurations and inputs are clear errors, the cache is left unchanged") {
  CHECK_THROWS_WITH_AS(kivi_cache<uint2>({2, 16, 32, 100}), doctest::Contains("multiple of group_size"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(kivi_cache<uint2>({2, 16, 8, 32, 6}), doctest::Contains("must divide head_dim"),
                       lowbit::error);
  CHECK_THROWS_AS(kivi_cache<uint2>({0, 16, 8, 32}), lowbit::error);
  kivi_cache<uint2> cache({2, 8, 4, 8});
  CHECK_THROWS_WITH_AS(cache.attend(Mat::Ones(1, 16), 2), doctest::Contains("empty"), lowbit::error);
  cache.append(kv_like(3, 16, 24), kv_like(3, 16, 25));
  CHECK_THROWS_WITH_AS(cache.append(Mat::Ones(1, 24), Mat::Ones(1, 24)), doctest::Contains("expected T x Hkv"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(cache.append(Mat::Ones(2, 16), Mat::Ones(1, 16)), doctest::Contains("k has 2 tokens"),
                       lowbit::error);
  Mat bad = Mat::Ones(1, 16);
  bad(0, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(cache.append(Mat::Ones(1, 16), bad), doctest::Contains("non-finite"), lowbit::error);
  CHECK(cache.size() == 3);  // nothing written half-way
  CHECK_THROWS_WITH_AS(cache.attend(Mat::Ones(1, 24), 3), doctest::Contains("multiple of kv heads"), lowbit::error);
  CHECK_THROWS_WITH_AS(cache.attend(Mat::Ones(1, 24), 2), doctest::Contains("q is 1 x 24"), lowbit::error);
  CHECK_THROWS_AS(cache.decode(Mat::Ones(1, 24), Mat::Ones(1, 16), Mat::Ones(1, 16), 2), lowbit::error);
  CHECK(cache.size() == 3);
}
