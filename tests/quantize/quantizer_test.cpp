// GCC 12 -O3 reports a false -Wnonnull inside quantizer::fit's channel-weight copy (a
// std::vector::assign it cannot prove non-empty) once the scalar fit is inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnonnull"
#endif
#include <lowbit/lowbit.hpp>

#include <random>

#include <doctest/doctest.h>

#include "support/random.hpp"

using namespace lowbit;
using lowbit_test::randn;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

TEST_CASE("quantize/quantizer: int8 per-channel symmetric error <= scale/2") {
  const Mat x = randn(7, 33, 1);
  quantizer<int8> q({per_channel(0)});
  const qparams p = q.fit(x);
  CHECK(p.scale.rows() == 7);
  CHECK(p.scale.cols() == 1);
  const Mat y = q.fake_quantize(x, p);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    CHECK(p.scale(i, 0) == doctest::Approx(x.row(i).cwiseAbs().maxCoeff() / 127.0f));
    for (Eigen::Index j = 0; j < x.cols(); ++j) CHECK(std::fabs(x(i, j) - y(i, j)) <= p.scale(i, 0) * 0.5f * 1.0001f);
  }
}

TEST_CASE("quantize/quantizer: uint4 asymmetric gptq convention, group 8 with short tail") {
  const Mat x = randn(3, 20, 2);
  quantizer<uint4> q({per_group(8), mapping::asymmetric, convention::gptq});
  const auto qx = q.quantize(x);
  CHECK(qx.params.scale.cols() == 3);
  const Mat y = q.dequantize(qx);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 20; ++j) {
      const float s = qx.params.scale(i, j / 8);
      CHECK(std::fabs(x(i, j) - y(i, j)) <= s * 0.5f * 1.0001f + 1e-7f);
    }
}

TEST_CASE("quantize/quantizer: mxfp4 scale is 2^(floor(log2 amax) - 2)") {
  Mat x = Mat::Zero(1, 64);
  x(0, 3) = 5.0f;   // block 0: amax 5 -> 2^(2-2) = 1
  x(0, 40) = 0.3f;  // block 1: amax 0.3 -> 2^(-2-2)
  quantizer<float4_e2m1fn, float8_e8m0fnu> q({mx_block(32)});
  const qparams p = q.fit(x);
  CHECK(p.scale(0, 0) == 1.0f);
  CHECK(p.scale(0, 1) == 0x1p-4f);
}

TEST_CASE("quantize/quantizer: nvfp4 two-level scales") {
  const Mat x = randn(4, 32, 3, 2.0f);
  quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const qparams p = q.fit(x);
  const float amax = x.cwiseAbs().maxCoeff();
  CHECK(p.tensor_scale == amax / (448.0f * 6.0f));
  const Mat y = q.fake_quantize(x, p);
  CHECK((x - y).cwiseAbs().maxCoeff() < amax * 0.25f);
}

TEST_CASE("quantize/quantizer: bad input") {
  quantizer<int8> q({per_group(4, tail::exact)});
  CHECK_THROWS_AS(q.fit(Mat(2, 6)), lowbit::error);
  CHECK_THROWS_AS(q.fit(Mat(0, 4)), lowbit::error);
  Mat x = Mat::Ones(2, 8);
  x(1, 2) = std::nanf("");
  CHECK_THROWS_AS(q.fit(x), lowbit::error);
  CHECK_THROWS_AS((quantizer<float8_e4m3fn>({per_tensor(), mapping::asymmetric})), lowbit::error);
}

// ---------------------------------------------------------------------------------------------
// Properties over every granularity × mapping × convention (issue 3, "Proof").
// ---------------------------------------------------------------------------------------------
#include <lowbit/format/float6.hpp>
#include <lowbit/format/half.hpp>

#include <functional>
#include <limits>

namespace {
struct gran_case {
  const char* name;
  granularity g;
};
std::vector<gran_case> granularities() {
  return {{"per_tensor", per_tensor()},         {"per_channel(0)", per_channel(0)},
          {"per_channel(1)", per_channel(1)},   {"per_token", per_token()},
          {"per_group(8)", per_group(8)},       {"per_group(8,pad)", per_group(8, tail::pad)},
          {"per_head(4)", per_head(4)},         {"per_token_head(4)", per_token_head(4)},
          {"block(3,5)", block(3, 5)},          {"block(3,5,pad)", block(3, 5, tail::pad)}};
}

// Test data: 7 × 20 with exact zeros, an all-zero row-block, a constant group and a mixed scale.
Mat property_data(unsigned seed) {
  Mat x = randn(7, 20, seed);
  x(0, 3) = 0.0f;
  x(2, 11) = 0.0f;
  x.row(4).setZero();                          // all-zero row
  x.block(5, 8, 2, 4).setConstant(0.625f);     // a constant patch
  x.row(6) *= 1e-3f;                           // a row of much smaller magnitude
  return x;
}

// Check the properties for one quantizer over every granularity.
template <class F, class SF = float>
void check_properties(const char* tag, mapping m, convention c, bool zero_exact, bool constant_exact) {
  for (const gran_case& gc : granularities()) {
    CAPTURE(tag);
    CAPTURE(gc.name);
    quant_options o{gc.g, m, c, m == mapping::asymmetric ? minmax_observer() : absmax_observer()};
    const quantizer<F, SF> q(o);
    const Mat x = property_data(17);
    const qparams p = q.fit(x);
    // Scale grid shape = ceil(rows / block_rows) × ceil(cols / block_cols).
    const Eigen::Index br = gc.g.block_rows ? gc.g.block_rows : 7, bc = gc.g.block_cols ? gc.g.block_cols : 20;
    REQUIRE(p.scale.rows() == (7 + br - 1) / br);
    REQUIRE(p.scale.cols() == (20 + bc - 1) / bc);
    if (p.zeros != zero_kind::none) REQUIRE(p.zero.rows() == p.scale.rows());
    const auto qx = q.quantize(x, p);
    const Mat y = q.dequantize(qx);
    CHECK(y == q.fake_quantize(x, p));
    for (Eigen::Index gi = 0; gi < p.scale.rows(); ++gi)
      for (Eigen::Index gj = 0; gj < p.scale.cols(); ++gj) {
        // finite, positive scales, exactly representable in the scale format
        const float s = p.scale(gi, gj);
        REQUIRE(std::isfinite(s));
        REQUIRE(s > 0.0f);
        if constexpr (!std::is_same_v<SF, float>) CHECK(decode<SF>(encode<SF>(s)) == s);
        if (p.zeros != zero_kind::none) CHECK(std::isfinite(p.zero(gi, gj)));
      }
    for (Eigen::Index i = 0; i < 7; ++i)
      for (Eigen::Index j = 0; j < 20; ++j) {
        CAPTURE(i);
        CAPTURE(j);
        const block_params b = q.block_at(p, i, j);
        REQUIRE(std::isfinite(y(i, j)));
        // Representable interval of the block: the decodes of the extreme codes.
        const float e0 = q.decode_value(F::from_int(F::min_int), b), e1 = q.decode_value(F::from_int(F::max_int), b);
        const float lo = std::fmin(e0, e1), hi = std::fmax(e0, e1);
        const float v = x(i, j);
        if (v >= lo && v <= hi) {
          CHECK(std::fabs(v - y(i, j)) <= 0.5f * b.eff * (1 + 1e-5f) + 1e-30f);  // within the range: <= s/2
        } else {
          CHECK(y(i, j) == (v < lo ? lo : hi));  // outside: saturates to the nearest end
        }
        if (v == 0.0f && zero_exact) CHECK(y(i, j) == 0.0f);
      }
    // All-zero row 4: exact zeros whenever the row is its own block or every block holds zeros only.
    if (gc.g.block_rows == 1)
      for (Eigen::Index j = 0; j < 20; ++j) CHECK(y(4, j) == 0.0f);
    // Constant patch rows 5-6, cols 8-11: a per-group(4)-like block -> exact for KIVI.
    if (constant_exact) {
      quant_options oc = o;
      oc.gran = per_group(4);
      const quantizer<F, SF> qc(oc);
      const Mat yc = qc.fake_quantize(x);
      for (Eigen::Index j = 8; j < 12; ++j) CHECK(yc(5, j) == 0.625f);
    }
  }
}
}  // namespace

TEST_CASE("quantize/quantizer: properties for every granularity x mapping x convention") {
  // symmetric
  check_properties<int8>("int8 sym lowbit (QuaRot, bitsandbytes)", mapping::symmetric, convention::lowbit, true, false);
  check_properties<int8>("int8 sym smoothquant", mapping::symmetric, convention::smoothquant, true, false);
  check_properties<int8>("int8 sym awq", mapping::symmetric, convention::awq, true, false);
  check_properties<int4>("int4 sym lowbit", mapping::symmetric, convention::lowbit, true, false);
  check_properties<uint4>("uint4 sym gptq", mapping::symmetric, convention::gptq, true, false);
  check_properties<int8, bfloat16_format>("int8 sym, bf16 scales", mapping::symmetric, convention::lowbit, true, false);
  check_properties<int8, float16_format>("int8 sym, fp16 scales", mapping::symmetric, convention::lowbit, true, false);
  // asymmetric: integer zero points include 0 exactly (lowbit, gptq); AWQ's range is not
  // widened to 0, so it promises no exact zero; KIVI uses a float offset (exact constants).
  check_properties<uint4>("uint4 asym lowbit", mapping::asymmetric, convention::lowbit, true, false);
  check_properties<uint4>("uint4 asym gptq", mapping::asymmetric, convention::gptq, true, false);
  check_properties<uint8>("uint8 asym lowbit", mapping::asymmetric, convention::lowbit, true, false);
  check_properties<uint4>("uint4 asym awq", mapping::asymmetric, convention::awq, false, false);
  check_properties<uint4>("uint4 asym kivi", mapping::asymmetric, convention::kivi, false, true);
  check_properties<uint2>("uint2 asym kivi", mapping::asymmetric, convention::kivi, false, true);
  check_properties<int4>("int4 asym kivi (signed codes)", mapping::asymmetric, convention::kivi, false, true);
  check_properties<int8>("int8 asym lowbit", mapping::asymmetric, convention::lowbit, true, false);
  check_properties<uint4, bfloat16_format>("uint4 asym gptq, bf16 scales", mapping::asymmetric, convention::gptq, true,
                                           false);
}

TEST_CASE("quantize/quantizer: float formats keep zeros exact, stay within half a grid step") {
  for (const gran_case& gc : granularities()) {
    CAPTURE(gc.name);
    const Mat x = property_data(23);
    const quantizer<float8_e4m3fn> q({gc.g});
    const Mat y = q.fake_quantize(x);
    const qparams p = q.fit(x);
    for (Eigen::Index i = 0; i < 7; ++i)
      for (Eigen::Index j = 0; j < 20; ++j) {
        if (x(i, j) == 0.0f) CHECK(y(i, j) == 0.0f);
        // e4m3: relative error <= 2^-4 for normals, absolute <= 2^-10 · s for subnormals
        CHECK(std::fabs(x(i, j) - y(i, j)) <= std::fmax(std::fabs(x(i, j)) * 0x1p-4f, 0x1p-10f * q.block_at(p, i, j).eff));
      }
  }
}

TEST_CASE("quantize/quantizer: all-zero and constant groups give finite scales everywhere (no 0/0)") {
  const Mat z = Mat::Zero(4, 32), c = Mat::Constant(4, 32, -3.0f);
  auto finite = [](const qparams& p) {
    return p.scale.allFinite() && (p.scale.array() > 0).all() && (p.zeros == zero_kind::none || p.zero.allFinite());
  };
  for (const Mat* x : {&z, &c}) {
    CHECK(finite(quantizer<int8>({per_group(8)}).fit(*x)));
    CHECK(finite(quantizer<uint4>({per_group(8), mapping::asymmetric, convention::gptq, minmax_observer()}).fit(*x)));
    CHECK(finite(quantizer<uint4>({per_group(8), mapping::asymmetric, convention::awq, minmax_observer()}).fit(*x)));
    CHECK(finite(quantizer<uint4>({per_group(8), mapping::asymmetric, convention::kivi, minmax_observer()}).fit(*x)));
    CHECK(finite(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}).fit(*x)));
    CHECK(finite(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}).fit(*x)));
    CHECK(finite(quantizer<nf4>({per_group(16)}).fit(*x)));
    CHECK(finite(quantizer<int8>({per_group(8), mapping::symmetric, convention::lowbit, rms_observer()}).fit(*x)));
    CHECK(finite(quantizer<int8>({per_group(8), mapping::symmetric, convention::lowbit, gptq_clip_observer()}).fit(*x)));
    CHECK(finite(quantizer<int8>({per_group(8), mapping::symmetric, convention::lowbit, percentile_observer()}).fit(*x)));
    // all zeros reconstruct exactly; KIVI reconstructs a constant exactly
    CHECK(quantizer<uint4>({per_group(8), mapping::asymmetric, convention::kivi, minmax_observer()}).fake_quantize(*x) == *x);
  }
  CHECK(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}).fake_quantize(z) == z);
  CHECK(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}).fake_quantize(z) == z);
}

TEST_CASE("quantize/quantizer: fp16 scale overflow and underflow saturate to finite scales (§9 row 12)") {
  Mat x(2, 4);
  x << 1e7f, -2e6f, 3.0f, 1.0f,  //
      1e-9f, -2e-9f, 0.0f, 5e-10f;
  const quantizer<int8, float16_format> q({per_channel(0)});
  const qparams p = q.fit(x);
  CHECK(p.scale(0, 0) == 65504.0f);                           // 1e7/127 > fp16 max: saturates
  CHECK(p.scale(1, 0) == float(float16_format::min_positive)); // 2e-9/127 rounds to 0 -> min subnormal
  CHECK(q.fake_quantize(x, p).allFinite());
}

// A span hi − lo beyond FLT_MAX used to give an inf scale: every x̂ of the block NaN.
TEST_CASE("quantize/quantizer: ranges spanning more than FLT_MAX keep finite scales (zero-point conventions)") {
  Mat x(1, 6);
  x << 3.0e38f, -3.0e38f, 0.0f, 1.0e37f, -2.5e38f, 1.0f;
  auto check = [&](const auto& q, const char* what) {
    INFO(std::string(what));
    const auto qx = q.quantize(x);
    const float s = qx.params.scale(0, 0);
    CHECK(std::isfinite(s));
    CHECK(s > 0.0f);
    const Mat y = q.dequantize(qx);
    CHECK(y.allFinite());
    // half a step, and the rounding of s itself at the clamped end (x / s = 127.5 (1 ± 2^-23))
    for (Eigen::Index j = 0; j < x.cols(); ++j) CHECK(std::fabs(double(x(0, j)) - double(y(0, j))) <= 0.5001 * s);
  };
  check(quantizer<uint4>({per_token(), mapping::asymmetric}), "uint4 asymmetric lowbit");
  check(quantizer<uint4>({per_token(), mapping::asymmetric, convention::gptq}), "uint4 asymmetric gptq");
  check(quantizer<uint4>({per_token(), mapping::asymmetric, convention::awq}), "uint4 asymmetric awq");
  check(quantizer<uint4>({per_token(), mapping::asymmetric, convention::kivi}), "uint4 kivi");
  check(quantizer<uint8>({per_token(), mapping::symmetric, convention::gptq}), "uint8 gptq symmetric");
  check(quantizer<int8>({per_token(), mapping::asymmetric}), "int8 asymmetric");
}

// GPTQ's symmetric convention with e8m0 / ue4m3 scales took s = amax / 15 (or the MX rule on
// amax) while keeping z = 8: codes covered [−amax/2, amax/2]. Zero points under a two-level
// tensor scale sized t for amax / 15 while spans reach 2·amax: block scales saturated at 448.
TEST_CASE("quantize/quantizer: GPTQ symmetric and zero points keep half-step error with e8m0 and ue4m3 scales") {
  Mat x(1, 7);
  x << -1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f;
  auto check = [&](const auto& q, const char* what, float tol = 0.5001f) {
    INFO(std::string(what));
    const auto qx = q.quantize(x);
    const Mat y = q.dequantize(qx);
    const Eigen::Index bc = qx.params.gran.cols_per_block(x.cols());
    CHECK(y(0, 2) == 0.0f);
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      CHECK(std::fabs(x(0, j) - y(0, j)) <= tol * qx.params.scale(0, j / bc) * qx.params.tensor_scale);
  };
  quant_options g{per_tensor(), mapping::symmetric, convention::gptq};
  g.two_level = false;
  check(quantizer<uint4, float8_ue4m3>(g), "uint4 gptq symmetric, ue4m3 scale");
  g.two_level = true;
  check(quantizer<uint4, float8_ue4m3>(g), "uint4 gptq symmetric, ue4m3 scale, two levels");
  for (mx_scale_rule r : {mx_scale_rule::floor, mx_scale_rule::ceil, mx_scale_rule::even, mx_scale_rule::rceil}) {
    g.mx_rule = r;
    check(quantizer<uint4, float8_e8m0fnu>(g), "uint4 gptq symmetric, e8m0 scale");
  }
  for (convention c : {convention::lowbit, convention::gptq, convention::awq}) {
    quant_options a{per_tensor(), mapping::asymmetric, c};
    check(quantizer<uint4, float8_ue4m3>(a), "uint4 asymmetric, ue4m3 scale, two levels");
    check(quantizer<int8, float8_ue4m3>(a), "int8 asymmetric, ue4m3 scale, two levels");
    // groups under one tensor scale: ue4m3's RN can round a scale down by 1/16 and clip the top
    // code by up to 15/16 of a step (AWQ's zero point clamps groups that exclude 0 by design)
    a.gran = per_group(2);
    if (c != convention::awq) check(quantizer<uint4, float8_ue4m3>(a), "uint4 asymmetric g2, ue4m3 scale", 1.5f);
  }
  // the same scale as float scales would give, up to ue4m3's rounding: 2 · 1 / 15
  g.two_level = false;
  CHECK(quantizer<uint4, float8_ue4m3>(g).fit(x).scale(0, 0) == doctest::Approx(2.0 / 15.0).epsilon(0.07));
}

// KIVI's offsets: x − m beyond FLT_MAX saturated the code (x̂ of 1e38 was 3e38).
TEST_CASE("quantize/quantizer: KIVI offsets of rows spanning more than FLT_MAX stay within half a step") {
  Mat x(1, 4);
  x << -3.0e38f, 1.0e38f, 0.0f, 3.0e38f;
  const quantizer<uint4> q({per_token(), mapping::asymmetric, convention::kivi});
  const auto qx = q.quantize(x);
  const Mat y = q.dequantize(qx);
  const float s = qx.params.scale(0, 0);
  CHECK(y.allFinite());
  for (Eigen::Index j = 0; j < 4; ++j) CHECK(std::fabs(double(x(0, j)) - double(y(0, j))) <= 0.5001 * s);
}

// A tensor amax below 448 · 6 · 2^-126 made t = amax / 2688 subnormal, s_eff = s · t rounded to
// 0 in blocks whose scale is small, and x / s_eff inf or 0/0 = NaN: zeros got the code of +6.
TEST_CASE("quantize/quantizer: NVFP4 of a subnormal tensor keeps zeros and finite divisors (t >= 2^-126)") {
  Mat x = Mat::Zero(3, 16);
  x(0, 1) = std::ldexp(1.0f, -148);  // 2 · 2^-149: a block of tiny scale
  x(1, 0) = std::ldexp(15.0f, -137);  // the tensor amax: t = 15 · 2^-137 / 2688 < 2^-126
  x(2, 5) = -std::ldexp(3.0f, -149);
  for (bool nv : {true, false}) {
    const qparams p = nv ? quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}).fit(x)
                         : quantizer<float4_e2m1fn, float8_e4m3fn>({nvfp4_block(16)}).fit(x);
    CHECK(p.tensor_scale == std::numeric_limits<float>::min());
    for (Eigen::Index i = 0; i < 3; ++i) CHECK(p.scale(i, 0) * p.tensor_scale > 0.0f);
  }
  const quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const auto qx = q.quantize(x);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 16; ++j)
      if (x(i, j) == 0.0f) CHECK(int(qx.codes(i, j)) == 0);  // +0 -> code 0, never NaN's saturation
  const Mat y = q.dequantize(qx);
  CHECK(y.allFinite());
  CHECK(y(0, 0) == 0.0f);
  // an all-zero tensor keeps t = 1
  CHECK(q.fit(Mat::Zero(2, 16)).tensor_scale == 1.0f);
  // fixed tensor scales: 0 (derive it) or a normal float
  quant_options o{nvfp4_block(16)};
  for (float bad : {-1.0f, std::ldexp(1.0f, -130), NAN, INFINITY}) {
    o.fixed_tensor_scale = bad;
    CHECK_THROWS_WITH_AS((quantizer<float4_e2m1fn, float8_ue4m3>(o)), doctest::Contains("fixed_tensor_scale"),
                         lowbit::error);
  }
  o.fixed_tensor_scale = std::numeric_limits<float>::min();
  CHECK_NOTHROW(quantizer<float4_e2m1fn, float8_ue4m3>(o).fit(x));
}

TEST_CASE("quantize/quantizer: Map, Ref, blocks and column-major inputs give the row-major codes") {
  const Mat x = randn(9, 40, 31);
  const quantizer<int4> q({per_group(16)});
  const auto ref = q.quantize(x);
  const Eigen::MatrixXf cm = x;  // column-major copy
  CHECK(q.quantize(cm).codes == ref.codes);
  Eigen::Map<const Mat> m(x.data(), 9, 40);
  CHECK(q.quantize(m).codes == ref.codes);
  const Eigen::Ref<const Eigen::MatrixXf> r(cm);
  CHECK(q.quantize(r).codes == ref.codes);
  Eigen::MatrixXf big = Eigen::MatrixXf::Zero(20, 60);
  big.block(3, 7, 9, 40) = x;
  CHECK(q.quantize(big.block(3, 7, 9, 40)).codes == ref.codes);
  Mat bigr = Mat::Zero(15, 50);
  bigr.block(2, 5, 9, 40) = x;
  CHECK(q.quantize(bigr.block(2, 5, 9, 40)).codes == ref.codes);
  Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> strided(big.data() + 7 * 20 + 3, 9, 40,
                                                                     Eigen::OuterStride<>(20));
  CHECK(q.quantize(strided).codes == ref.codes);
  CHECK(q.fake_quantize(cm) == q.fake_quantize(x));
  // the transpose of a column-major matrix is a row-major expression of the same values
  const Eigen::MatrixXf xt = x.transpose();
  CHECK(q.quantize(xt.transpose()).codes == ref.codes);
}

// ---------------------------------------------------------------------------------------------
// MX and NVFP4 against independent float64 reimplementations (research/formats.md §3, §4).
// ---------------------------------------------------------------------------------------------
namespace {
// Every finite value of format F (decoding all codes), for nearest-value searches.
template <class F>
std::vector<std::pair<double, unsigned>> grid_of() {
  std::vector<std::pair<double, unsigned>> g;
  for (unsigned c = 0; c < (1u << F::bits); ++c) {
    const float v = decode<F>(typename F::storage(c));
    if (std::isfinite(v)) g.push_back({double(v), c});
  }
  return g;
}
// Nearest grid value to v (saturating at ±max), ties to the even code (LSB 0), +0 before −0.
// near_tie: the runner-up is within tol·|v| of the winner (float32 vs float64 may then differ).
template <class F>
double rne_oracle(double v, bool* near_tie = nullptr, double tol = 0.0) {
  static const auto g = grid_of<F>();
  double best = std::numeric_limits<double>::quiet_NaN(), bd = std::numeric_limits<double>::infinity();
  double second = std::numeric_limits<double>::infinity();
  for (const auto& [val, code] : g) {
    if (val == best) continue;  // −0 after +0
    const double d = std::fabs(val - v);
    if (d < bd || (d == bd && (code & 1u) == 0)) {
      second = bd;
      bd = d;
      best = val;
    } else if (d < second) {
      second = d;
    }
  }
  if (near_tie) *near_tie = second - bd <= tol * std::max(std::fabs(v), 1e-30);
  return best;
}
int floor_log2(double a) {
  int e;
  std::frexp(a, &e);
  return e - 1;
}

// OCP MX scale exponent by rule, from the block amax, in float64 (torchao semantics).
template <class F>
int mx_exponent_oracle(float amax, mx_scale_rule r) {
  if (amax == 0.0f) return -127;
  const int fl = floor_log2(amax);
  const double m = double(amax) / std::ldexp(1.0, fl);  // [1, 2)
  int e;
  switch (r) {
    case mx_scale_rule::floor: e = fl - F::emax_pow2; break;
    case mx_scale_rule::ceil: e = (m > 1.0 ? fl + 1 : fl) - F::emax_pow2; break;
    case mx_scale_rule::even: {  // round the mantissa to the element's width (half up), then floor
      const double scaled = m * std::ldexp(1.0, F::mantissa_bits);
      const double rm = std::floor(scaled + 0.5) / std::ldexp(1.0, F::mantissa_bits);
      e = (rm >= 2.0 ? fl + 1 : fl) - F::emax_pow2;
      break;
    }
    case mx_scale_rule::rceil:
    default: {  // ceil(log2(fl32(amax / max)))
      const double qv = double(float(amax / float(F::max_value)));
      const int f2 = floor_log2(qv);
      e = qv > std::ldexp(1.0, f2) ? f2 + 1 : f2;
      break;
    }
  }
  return std::max(-127, std::min(127, e));
}

template <class F>
void check_mx_against_oracle(mx_scale_rule rule, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n;
  std::uniform_int_distribution<int> mag(-30, 30);
  Mat x(16, 96);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float s = std::ldexp(1.0f, mag(g));
    for (Eigen::Index j = 0; j < x.cols(); ++j) x(i, j) = n(g) * s;
  }
  x.row(3).segment(32, 32).setZero();
  x(5, 7) = 6.0f * 0.25f;  // exact powers / boundaries
  x(6, 0) = std::nextafter(6.0f, 7.0f) * 4.0f;
  quant_options o{mx_block(32)};
  o.mx_rule = rule;
  const quantizer<F, float8_e8m0fnu> q(o);
  const qparams p = q.fit(x);
  const Mat y = q.fake_quantize(x, p);
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index b = 0; b < 3; ++b) {
      float amax = 0;
      for (Eigen::Index j = b * 32; j < b * 32 + 32; ++j) amax = std::fmax(amax, std::fabs(x(i, j)));
      const int e = mx_exponent_oracle<F>(amax, rule);
      REQUIRE(p.scale(i, b) == std::ldexp(1.0f, e));
      const double X = std::ldexp(1.0, e);
      for (Eigen::Index j = b * 32; j < b * 32 + 32; ++j) {
        const double want = rne_oracle<F>(double(x(i, j)) / X) * X;  // V/X exact, RNE, clamp to max
        CHECK(double(y(i, j)) == want);
      }
    }
}
}  // namespace

TEST_CASE("quantize/quantizer: MX (all four scale rules) equals a float64 reimplementation of OCP MX / torchao") {
  for (mx_scale_rule r : {mx_scale_rule::floor, mx_scale_rule::ceil, mx_scale_rule::even, mx_scale_rule::rceil}) {
    CAPTURE(int(r));
    check_mx_against_oracle<float4_e2m1fn>(r, 1);
    check_mx_against_oracle<float8_e4m3fn>(r, 2);
    check_mx_against_oracle<float8_e5m2>(r, 3);
    check_mx_against_oracle<float6_e2m3fn>(r, 4);
    check_mx_against_oracle<float6_e3m2fn>(r, 5);
  }
}

TEST_CASE("quantize/quantizer: NVFP4 hand-worked block (research/formats.md §4.1)") {
  // tensor amax 12: s_dec = 12/2688 = 1/224; block amax 3: 3/6 · 224 = 112 = e4m3 1.75·2^6 (exact);
  // elements x / (112/224) = 2x: 1 -> 2, 0.3 -> 0.6 -> 0.5, -3 -> -6, 0.8 -> 1.6 -> 1.5
  Mat x = Mat::Zero(1, 32);
  x(0, 0) = 1.0f;
  x(0, 1) = 0.3f;
  x(0, 2) = -3.0f;
  x(0, 3) = 0.8f;
  x(0, 16) = 12.0f;
  const quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const qparams p = q.fit(x);
  CHECK(p.tensor_scale == 12.0f / 2688.0f);
  CHECK(p.scale(0, 0) == 112.0f);
  CHECK(p.scale(0, 1) == 448.0f);  // 12/6 · 224
  const Mat y = q.fake_quantize(x, p);
  CHECK(y(0, 0) == 2.0f * 112.0f * p.tensor_scale);
  CHECK(y(0, 1) == 0.5f * 112.0f * p.tensor_scale);
  CHECK(y(0, 2) == -6.0f * 112.0f * p.tensor_scale);  // x̂ = (e2m1 · s) · t, left to right
  CHECK(y(0, 3) == 1.5f * 112.0f * p.tensor_scale);
  CHECK(y(0, 16) == doctest::Approx(12.0f));
}

TEST_CASE("quantize/quantizer: NVFP4 equals a float64 reimplementation on random data (near-ties excepted)") {
  std::mt19937 g(77);
  std::normal_distribution<float> n;
  std::uniform_real_distribution<float> u(-12.0f, 3.0f);
  Mat x(32, 128);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const float s = std::exp2(u(g));
    for (Eigen::Index j = 0; j < x.cols(); ++j) x(i, j) = n(g) * s;
  }
  const quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const qparams p = q.fit(x);
  const Mat y = q.fake_quantize(x, p);
  const double amax_t = x.cwiseAbs().maxCoeff();
  const double s_dec = amax_t / 2688.0;
  CHECK(double(p.tensor_scale) == doctest::Approx(s_dec).epsilon(1e-7));
  int scale_ties = 0, elem_ties = 0, checked = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index b = 0; b < 8; ++b) {
      double amax_b = 0;
      for (Eigen::Index j = b * 16; j < b * 16 + 16; ++j) amax_b = std::max(amax_b, double(std::fabs(x(i, j))));
      bool tie = false;
      double s = rne_oracle<float8_ue4m3>(amax_b / 6.0 / s_dec, &tie, 1e-6);
      if (s == 0.0) s = float8_ue4m3::min_positive;
      if (tie) {
        ++scale_ties;
        continue;
      }
      REQUIRE(double(p.scale(i, b)) == s);
      const double se = double(float(s) * p.tensor_scale);
      for (Eigen::Index j = b * 16; j < b * 16 + 16; ++j) {
        bool et = false;
        const double want = rne_oracle<float4_e2m1fn>(double(x(i, j)) / se, &et, 1e-6);
        if (et) {
          ++elem_ties;
          continue;
        }
        ++checked;
        CHECK(double(y(i, j)) == doctest::Approx(want * s * p.tensor_scale).epsilon(1e-7));
      }
    }
  CHECK(checked > 3800);
  CHECK(scale_ties + elem_ties < 40);
}

TEST_CASE("quantize/quantizer: every bad input of the issue is a lowbit::error") {
  const Mat x = randn(4, 8, 9);
  const quantizer<int8> q({per_group(4)});
  CHECK_THROWS_AS(q.fit(Mat(0, 8)), lowbit::error);                   // empty
  CHECK_THROWS_AS(q.fit(Mat(4, 0)), lowbit::error);
  CHECK_THROWS_AS(q.quantize(Mat(0, 0)), lowbit::error);
  Mat bad = x;
  bad(2, 3) = INFINITY;                                                // Inf in data
  CHECK_THROWS_AS(q.fit(bad), lowbit::error);
  CHECK_THROWS_AS(q.quantize(bad, q.fit(x)), lowbit::error);
  CHECK_THROWS_AS(q.fake_quantize(bad, q.fit(x)), lowbit::error);
  bad(2, 3) = NAN;                                                     // NaN in data
  CHECK_THROWS_AS(q.fake_quantize(bad), lowbit::error);
  const qparams p = q.fit(x);                                          // mismatched shapes
  CHECK_THROWS_AS(q.quantize(randn(4, 12, 1), p), lowbit::error);
  CHECK_THROWS_AS(q.fake_quantize(randn(5, 8, 1), p), lowbit::error);
  auto qx = q.quantize(x, p);
  qx.params.scale.resize(4, 3);
  CHECK_THROWS_AS(q.dequantize(qx), lowbit::error);
  qx = q.quantize(x, p);
  qx.codes.resize(4, 9);
  CHECK_THROWS_AS(q.dequantize(qx), lowbit::error);
  const quantizer<uint4> qa({per_group(4), mapping::asymmetric, convention::lowbit, minmax_observer()});
  CHECK_THROWS_AS(qa.quantize(x, p), lowbit::error);                   // symmetric params, asym quantizer
  CHECK_THROWS_AS(per_group(0), lowbit::error);                        // group size <= 0
  CHECK_THROWS_AS(per_group(-3), lowbit::error);
  CHECK_THROWS_AS(block(0, 4), lowbit::error);
  CHECK_THROWS_AS(per_head(0), lowbit::error);
  CHECK_THROWS_AS(per_channel(2), lowbit::error);                      // axis out of range
  CHECK_THROWS_AS(per_channel(-1), lowbit::error);
  const quantizer<int8> qe({per_group(3, tail::exact)});               // tail::exact, 8 % 3 != 0
  CHECK_THROWS_AS(qe.fit(x), lowbit::error);
  CHECK_NOTHROW(quantizer<int8>({per_group(4, tail::exact)}).fit(x));
  granularity neg{-1, 4, tail::partial};                               // hand-built negative block
  CHECK_THROWS_AS(quantizer<int8>({neg}).fit(x), lowbit::error);
  const Eigen::MatrixXf lo = Eigen::MatrixXf::Constant(4, 2, -1.0f), hi = Eigen::MatrixXf::Constant(4, 2, 1.0f);
  CHECK_NOTHROW(q.from_ranges(4, 8, lo, hi));
  CHECK_THROWS_AS(q.from_ranges(4, 8, lo.leftCols(1), hi.leftCols(1)), lowbit::error);  // wrong grid shape
  CHECK_THROWS_AS(q.from_ranges(4, 8, lo, hi.topRows(3)), lowbit::error);
  Eigen::MatrixXf nanr = hi;
  nanr(1, 1) = NAN;
  CHECK_THROWS_AS(q.from_ranges(4, 8, lo, nanr), lowbit::error);
  CHECK_THROWS_AS(q.from_ranges(0, 8, lo, hi), lowbit::error);
  Eigen::MatrixXf swapped = lo;  // lo > hi in block (2, 1): an error that names it
  swapped(2, 1) = 1.5f;
  CHECK_THROWS_WITH_AS(q.from_ranges(4, 8, swapped, hi), doctest::Contains("block (2, 1) has lo 1.5 > hi 1"),
                       lowbit::error);
  CHECK_NOTHROW(q.from_ranges(4, 8, hi, hi));  // lo == hi is a (constant) range
  CHECK_THROWS_AS((quantizer<int4>({per_tensor(), mapping::symmetric, convention::kivi})), lowbit::error);
  CHECK_THROWS_AS((quantizer<uint4>({per_tensor(), mapping::symmetric})), lowbit::error);
  CHECK_THROWS_AS((quantizer<int4>({per_tensor(), mapping::symmetric, convention::gptq})), lowbit::error);
}
