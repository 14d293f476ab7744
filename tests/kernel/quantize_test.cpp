// tests/kernel/quantize_test.cpp — kernel::quantize / quantize_packed against the scalar
// quantizer (quantizer::fit + quantize, the spec): codes, scales and tensor scale bit for bit,
// for every fast path, float32 and bfloat16 input, odd shapes, strides, special values,
// several thread counts and several xsimd architectures.
// GCC 12 -O3 reports a false -Wnonnull inside quantizer::fit's channel-weight copy (a
// std::vector::assign it cannot prove non-empty) once the scalar fit is inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wnonnull"
#endif
#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/half.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/quantize.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;
using Index = Eigen::Index;

namespace {

template <class T>
using RowMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                          Eigen::OuterStride<>>;

// A rows × cols matrix stored with leading dimension ld (float and its bf16 rounding). The
// padding columns hold NaN: a kernel that reads them fails with "non-finite".
struct input {
  Index rows = 0, cols = 0, ld = 0;
  std::vector<float> f;
  std::vector<Eigen::bfloat16> h;
};

float random_finite_bits(std::mt19937& g) {
  for (;;) {
    const std::uint32_t u = g();
    if (((u >> 23) & 0xFF) != 0xFF) {
      float v;
      std::memcpy(&v, &u, 4);
      return v;
    }
  }
}

// kind 0: normal data, one random magnitude per row. kind 1: special values — zeros and
// signed zeros, subnormals, huge values, exact ties of the common grids, random finite bit
// patterns (40 orders of magnitude inside one block), all-zero rows and column ranges.
input make_input(Index rows, Index cols, Index ld, unsigned seed, int kind) {
  static const float table[] = {0.0f,  -0.0f, 1e-45f, -1e-45f, 1e-40f, 1.17549435e-38f, 3e38f, -3.4e38f,
                                1e30f, -1e-30f, 448.0f, 464.0f, -464.0f, 480.0f, 6.0f, 0.25f, 0.75f, -2.5f,
                                127.5f, -126.5f, 0.5f, 1.5f, 3.5f, 5.0f, 57344.0f, 61440.0f, 1.0f, -4.0f};
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  input in;
  in.rows = rows;
  in.cols = cols;
  in.ld = ld;
  in.f.assign(std::size_t(rows * ld), std::numeric_limits<float>::quiet_NaN());
  for (Index i = 0; i < rows; ++i) {
    const float row_scale = std::exp(2.0f * nd(g));
    const bool zero_row = kind == 1 && g() % 7 == 0;
    for (Index j = 0; j < cols; ++j) {
      float v = nd(g) * row_scale;
      if (kind == 1) {
        const unsigned c = g() % 10;
        if (c < 3) v = table[g() % (sizeof(table) / sizeof(table[0]))];
        else if (c < 5) v = random_finite_bits(g);
        else if (c < 6) v = float(int(g() % 512) - 256) * 0.5f;  // halves: RNE ties for power-of-two scales
        if (zero_row || (j >= 16 && j < 48)) v = (g() % 2) ? 0.0f : -0.0f;
      }
      in.f[std::size_t(i * ld + j)] = v;
    }
  }
  in.h.resize(in.f.size());
  for (std::size_t k = 0; k < in.f.size(); ++k) {
    in.h[k] = Eigen::bfloat16(in.f[k]);  // RNE; values that round up to inf are truncated instead
    if (std::isinf(float(in.h[k])) && !std::isinf(in.f[k])) {
      std::uint32_t u;
      std::memcpy(&u, &in.f[k], 4);
      in.h[k] = to_bfloat16(std::uint16_t(u >> 16));
    }
  }
  return in;
}

template <class T>
const T* data_of(const input& in);
template <>
const float* data_of<float>(const input& in) {
  return in.f.data();
}
template <>
const Eigen::bfloat16* data_of<Eigen::bfloat16>(const input& in) {
  return in.h.data();
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// Kernel result == scalar result, bit for bit (or both throw).
template <class A, class T, class Q>
void check_same(const Q& q, const input& in, const std::string& what, kernel::kernel_options o = {}) {
  const T* x = data_of<T>(in);
  INFO(what, " rows=", in.rows, " cols=", in.cols, " ld=", in.ld, " bf16=", std::is_same_v<T, Eigen::bfloat16>,
       " threads=", o.threads);
  using Qz = decltype(q.quantize(RowMap<T>(x, in.rows, in.cols, Eigen::OuterStride<>(in.ld))));
  Qz ref;
  bool ref_threw = false;
  try {
    ref = q.quantize(RowMap<T>(x, in.rows, in.cols, Eigen::OuterStride<>(in.ld)));
  } catch (const lowbit::error&) {
    ref_threw = true;
  }
  if (ref_threw) {
    CHECK_THROWS_AS(kernel::quantize<A>(q, x, in.rows, in.cols, in.ld, o), lowbit::error);
    return;
  }
  const auto got = kernel::quantize<A>(q, x, in.rows, in.cols, in.ld, o);
  REQUIRE(got.codes.rows() == in.rows);
  REQUIRE(got.codes.cols() == in.cols);
  REQUIRE(got.params.scale.rows() == ref.params.scale.rows());
  REQUIRE(got.params.scale.cols() == ref.params.scale.cols());
  CHECK(got.params.gran == ref.params.gran);
  CHECK(got.params.zeros == ref.params.zeros);
  CHECK(same_bits(got.params.tensor_scale, ref.params.tensor_scale));
  Index bad_scales = 0, bad_codes = 0;
  for (Index i = 0; i < ref.params.scale.rows(); ++i)
    for (Index j = 0; j < ref.params.scale.cols(); ++j)
      if (!same_bits(got.params.scale(i, j), ref.params.scale(i, j)) && bad_scales++ == 0)
        FAIL_CHECK("first scale mismatch (" << i << ", " << j << "): kernel " << got.params.scale(i, j)
                                            << " scalar " << ref.params.scale(i, j));
  for (Index i = 0; i < in.rows; ++i)
    for (Index j = 0; j < in.cols; ++j)
      if (got.codes(i, j) != ref.codes(i, j) && bad_codes++ == 0)
        FAIL_CHECK("first code mismatch (" << i << ", " << j << ") x=" << float(x[i * in.ld + j]) << ": kernel "
                                           << int(got.codes(i, j)) << " scalar " << int(ref.codes(i, j)));
  if (ref.params.zeros != zero_kind::none) {
    REQUIRE(got.params.zero.rows() == ref.params.zero.rows());
    REQUIRE(got.params.zero.cols() == ref.params.zero.cols());
    for (Index i = 0; i < ref.params.zero.rows(); ++i)
      for (Index j = 0; j < ref.params.zero.cols(); ++j)
        if (!same_bits(got.params.zero(i, j), ref.params.zero(i, j)) && bad_scales++ == 0)
          FAIL_CHECK("first zero-point mismatch (" << i << ", " << j << "): kernel " << got.params.zero(i, j)
                                                   << " scalar " << ref.params.zero(i, j));
  }
  CHECK(bad_scales == 0);
  CHECK(bad_codes == 0);
}

struct shape {
  Index rows, cols, ld;
};
// Shapes around the SIMD width (16 / 8), MX/NVFP4 blocks, 128-blocks and odd leading dimensions.
const shape shapes[] = {{1, 1, 1},     {1, 7, 9},     {3, 17, 17},    {5, 33, 40},   {2, 100, 103},
                        {37, 300, 301}, {130, 260, 260}, {129, 129, 131}, {4, 1000, 1024}};

template <class A = xsimd::default_arch, class Q>
void check_paths(const Q& q, const std::string& what, std::initializer_list<int> threads = {1}) {
  CHECK(kernel::has_fast_path(q));
  unsigned seed = 1;
  for (const shape& s : shapes)
    for (int kind = 0; kind < 2; ++kind) {
      const input in = make_input(s.rows, s.cols, s.ld, seed++, kind);
      for (int th : threads) {
        check_same<A, float>(q, in, what, {th});
        check_same<A, Eigen::bfloat16>(q, in, what, {th});
      }
    }
}

}  // namespace

TEST_CASE("kernel/quantize: int8 per-channel and per-token equal the scalar quantizer") {
  check_paths(quantizer<int8>({per_channel(0)}), "int8 per_channel(0)");
  check_paths(quantizer<int8>({per_token()}), "int8 per_token");
  check_paths(quantizer<int8>({per_channel(1)}), "int8 per_channel(1)");  // one scale per column
  quant_options awq{per_channel(0)};
  awq.conv = convention::awq;
  check_paths(quantizer<int8>(awq), "int8 awq floor 1e-5");
  quant_options sq{per_token()};
  sq.conv = convention::smoothquant;
  check_paths(quantizer<int8>(sq), "int8 smoothquant");
  quant_options mm{per_token()};
  mm.obs = minmax_observer();  // symmetric: the same range as absmax
  check_paths(quantizer<int8>(mm), "int8 minmax symmetric");
}

TEST_CASE("kernel/quantize: e4m3fn per-tensor and 128x128 blocks equal the scalar quantizer") {
  check_paths(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per_tensor");
  check_paths(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn block 128x128");
  check_paths(quantizer<float8_e4m3fn>({block(1, 128)}), "e4m3fn block 1x128");
  check_paths(quantizer<float8_e5m2>({block(128, 128)}), "e5m2 block 128x128");
  check_paths(quantizer<float8_e4m3fn>({block(3, 5)}), "e4m3fn block 3x5");
  check_paths(quantizer<float8_e4m3fn>({per_head(20)}), "e4m3fn per_head 20 (tail::exact)");
}

TEST_CASE("kernel/quantize: MX (e8m0 block 32) equals the scalar quantizer, every scale rule") {
  check_paths(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8 e4m3");
  check_paths(quantizer<float8_e5m2, float8_e8m0fnu>({mx_block(32)}), "mxfp8 e5m2");
  check_paths(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4");
  check_paths(quantizer<int8, float8_e8m0fnu>({mx_block(32)}), "mxint8");
  for (mx_scale_rule r : {mx_scale_rule::ceil, mx_scale_rule::even, mx_scale_rule::rceil}) {
    quant_options o{mx_block(32)};
    o.mx_rule = r;
    check_paths(quantizer<float4_e2m1fn, float8_e8m0fnu>(o), "mxfp4 rule " + std::to_string(int(r)));
  }
}

TEST_CASE("kernel/quantize: NVFP4 (ue4m3 block 16 + fp32 tensor scale) equals the scalar quantizer") {
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  quant_options fixed{nvfp4_block(16)};
  fixed.fixed_tensor_scale = 0.013f;
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>(fixed), "nvfp4 fixed tensor scale");
  quant_options one{nvfp4_block(16)};
  one.two_level = false;
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>(one), "nvfp4 single level");
  check_paths(quantizer<float4_e2m1fn, float8_e4m3fn>({nvfp4_block(16)}), "e2m1 + e4m3fn scale");
}

TEST_CASE("kernel/quantize: int4 per-group equals the scalar quantizer") {
  check_paths(quantizer<int4>({per_group(128)}), "int4 g128");
  check_paths(quantizer<int4>({per_group(32)}), "int4 g32");
  check_paths(quantizer<int4>({per_group(100, tail::pad)}), "int4 g100 pad");
  check_paths(quantizer<int4>({per_group(7)}), "int4 g7");
  check_paths(quantizer<int4, bfloat16_format>({per_group(64)}), "int4 g64 bf16 scales (scalar scale path)");
  check_paths(quantizer<int2>({per_group(16)}), "int2 g16");
}

TEST_CASE("kernel/quantize: integer zero points (asymmetric, GPTQ symmetric) equal the scalar quantizer") {
  auto asym = [](granularity g, convention c = convention::lowbit) {
    quant_options o{g, mapping::asymmetric};
    o.conv = c;
    return o;
  };
  check_paths(quantizer<uint4>(asym(per_group(128))), "uint4 asym g128");
  check_paths(quantizer<uint4>(asym(per_group(32))), "uint4 asym g32");
  check_paths(quantizer<uint4>(asym(per_group(7))), "uint4 asym g7");
  check_paths(quantizer<uint4>(asym(per_group(128), convention::awq)), "uint4 awq g128");
  check_paths(quantizer<uint4>(asym(per_group(100, tail::pad), convention::awq)), "uint4 awq g100 pad (zeros in range)");
  check_paths(quantizer<uint4>(asym(per_group(64), convention::gptq)), "uint4 gptq asym g64");
  quant_options gsym{per_group(128)};
  gsym.conv = convention::gptq;  // symmetric, with the zero point at 2^(b-1)
  check_paths(quantizer<uint4>(gsym), "uint4 gptq symmetric g128");
  check_paths(quantizer<uint8>(asym(per_token())), "uint8 asym per-token");
  check_paths(quantizer<int8>(asym(per_token())), "int8 asym per-token", {1, 3});
  check_paths(quantizer<int4>(asym(block(3, 5))), "int4 asym block 3x5");
  check_paths(quantizer<uint2>(asym(per_group(16))), "uint2 asym g16");
  check_paths(quantizer<uint8, bfloat16_format>(asym(per_group(64))), "uint8 asym g64 bf16 scales");
  quant_options amx = asym(per_group(32));
  amx.obs = absmax_observer();  // range [-a, a]
  check_paths(quantizer<uint4>(amx), "uint4 asym absmax g32");
#if XSIMD_WITH_AVX2
  check_paths<xsimd::avx2>(quantizer<uint4>(asym(per_group(128))), "uint4 asym g128 avx2");
#endif
  // groups whose span hi − lo exceeds FLT_MAX: the scalar span in double, not an inf scale
  {
    input in = make_input(7, 200, 203, 77, 0);
    for (Index i = 0; i < 7; i += 2)
      for (Index j = 5 * i; j < 200; j += 37) {
        in.f[std::size_t(i * 203 + j)] = (j % 2 ? 3.0e38f : -2.9e38f);
        in.h[std::size_t(i * 203 + j)] = Eigen::bfloat16(in.f[std::size_t(i * 203 + j)]);
      }
    in.f[2 * 203 + 40] = 3.3e38f, in.f[2 * 203 + 41] = -3.3e38f;
    in.h[2 * 203 + 40] = Eigen::bfloat16(3.3e38f), in.h[2 * 203 + 41] = Eigen::bfloat16(-3.3e38f);
    for (const convention c : {convention::lowbit, convention::gptq, convention::awq}) {
      const std::string what = "span > FLT_MAX, convention " + std::to_string(int(c));
      check_same<xsimd::default_arch, float>(quantizer<uint4>(asym(per_group(32), c)), in, what);
      check_same<xsimd::default_arch, Eigen::bfloat16>(quantizer<uint4>(asym(per_group(32), c)), in, what);
      check_same<xsimd::default_arch, float>(quantizer<int8>(asym(per_token(), c)), in, what);
    }
    const auto r = kernel::quantize(quantizer<uint4>(asym(per_group(32))), in.f.data(), 7, 200, 203);
    CHECK(r.params.scale.allFinite());
  }
  // NaN / ±inf in a min/max fit: -inf and -NaN show only in the block minimum's key
  {
    std::vector<float> v(std::size_t(9 * 70));
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = float(int(k % 23) - 11) * 0.25f;
    const quantizer<uint4> qa({per_group(32), mapping::asymmetric});
    const quantizer<int8> qt({per_token(), mapping::asymmetric});
    for (float special : {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN()}) {
      std::vector<float> w = v;
      w[std::size_t(6 * 70 + 45)] = special;
      INFO("special ", special);
      CHECK_THROWS_WITH_AS(kernel::quantize(qa, w.data(), 9, 70, 70), doctest::Contains("at (6, 45)"), lowbit::error);
      CHECK_THROWS_WITH_AS(kernel::quantize(qt, w.data(), 9, 70, 70), doctest::Contains("at (6, 45)"), lowbit::error);
      std::vector<Eigen::bfloat16> h(w.begin(), w.end());
      CHECK_THROWS_WITH_AS(kernel::quantize(qa, h.data(), 9, 70, 70), doctest::Contains("at (6, 45)"), lowbit::error);
    }
  }
}

TEST_CASE("kernel/quantize: results do not depend on the thread count") {
  check_paths(quantizer<int8>({per_channel(0)}), "int8 per_channel(0)", {1, 3});
  check_paths(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per_tensor", {1, 3});
  check_paths(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128", {1, 3});
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4", {1, 3});
}

// Long rows (several 4N groups and prefetch lines per block, odd lengths) and several panels
// per block row and per thread (2-D tiles wider than a panel, a short last block row).
TEST_CASE("kernel/quantize: long rows and several panels per thread equal the scalar quantizer") {
  const shape big[] = {{5, 2501, 2504}, {131, 2200, 2203}, {3, 4096, 4096}};
  auto check = [&](const auto& q, const char* what) {
    CHECK(kernel::has_fast_path(q));
    unsigned seed = 100;
    for (const shape& s : big)
      for (int kind = 0; kind < 2; ++kind) {
        const input in = make_input(s.rows, s.cols, s.ld, seed++, kind);
        for (int th : {1, 3}) {
          check_same<xsimd::default_arch, float>(q, in, what, {th});
          check_same<xsimd::default_arch, Eigen::bfloat16>(q, in, what, {th});
        }
      }
  };
  check(quantizer<int8>({per_token()}), "int8 per_token (blocks longer than a chunk)");
  check(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128 (several panels per block row)");
  check(quantizer<float8_e4m3fn>({block(3, 5)}), "e4m3fn block 3x5");
  check(quantizer<int8>({block(4, 1)}), "int8 block 4x1 (one scale per column of 4 rows)");
  check(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8");
  check(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  check(quantizer<int4>({per_group(128)}), "int4 g128");
  check(quantizer<uint4>({per_group(128), mapping::asymmetric, convention::awq}), "uint4 awq g128");
  check(quantizer<int8>({per_token(), mapping::asymmetric}), "int8 asym per_token (min/max)");
  // packed nibbles, rows of odd length
  for (const shape& s : big) {
    const input in = make_input(s.rows, s.cols, s.ld, 7, 1);
    auto packed = [&](const auto& q, const char* what) {
      INFO(what, " ", s.rows, "x", s.cols);
      const auto ref = q.quantize(RowMap<float>(in.f.data(), s.rows, s.cols, Eigen::OuterStride<>(s.ld)));
      const Index ldp = (s.cols + 1) / 2;
      std::vector<std::uint8_t> out(std::size_t(s.rows * ldp));
      const qparams p = kernel::quantize_packed(q, in.f.data(), s.rows, s.cols, s.ld, out.data(), ldp, {3});
      CHECK(p.scale == ref.params.scale);
      Index bad = 0;
      for (Index i = 0; i < s.rows; ++i)
        for (Index j = 0; j < s.cols; ++j)
          bad += ((out[std::size_t(i * ldp + j / 2)] >> (4 * (j % 2))) & 0xF) != (ref.codes(i, j) & 0xF);
      CHECK(bad == 0);
    };
    packed(quantizer<int4>({per_token()}), "int4 per_token packed");
    packed(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4 packed");
  }
}

TEST_CASE("kernel/quantize: narrower xsimd architectures give the same codes") {
#if XSIMD_WITH_AVX2
  check_paths<xsimd::avx2>(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 avx2");
  check_paths<xsimd::avx2>(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8 avx2");
  check_paths<xsimd::avx2>(quantizer<int8>({per_channel(1)}), "int8 per column avx2");
  check_paths<xsimd::avx2>(quantizer<int4>({per_group(128)}), "int4 g128 avx2");
#endif
#if XSIMD_WITH_SSE4_2
  check_paths<xsimd::sse4_2>(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128 sse4.2");
  check_paths<xsimd::sse4_2>(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4 sse4.2");
#endif
}

TEST_CASE("kernel/quantize: the Eigen overload takes matrices, maps and expressions") {
  const input in = make_input(9, 70, 70, 5, 0);
  const RowMap<float> x(in.f.data(), 9, 70, Eigen::OuterStride<>(70));
  quantizer<float8_e4m3fn, float8_e8m0fnu> q({mx_block(32)});
  const auto ref = q.quantize(x);
  const Eigen::MatrixXf colmajor = x;  // evaluated through a row-major copy
  CHECK(kernel::quantize(q, x).codes == ref.codes);
  CHECK(kernel::quantize(q, colmajor).codes == ref.codes);
  CHECK(kernel::quantize(q, x * 1.0f).codes == ref.codes);
}

TEST_CASE("kernel/quantize: packed 4-bit output is the scalar codes, low nibble first") {
  auto run = [](const auto& q, Index rows, Index cols, unsigned seed, const char* what) {
    INFO(std::string(what), " ", rows, "x", cols);
    const input in = make_input(rows, cols, cols + 3, seed, int(seed % 2));
    const auto ref = q.quantize(RowMap<float>(in.f.data(), rows, cols, Eigen::OuterStride<>(cols + 3)));
    const Index ldp = (cols + 1) / 2 + 5;
    std::vector<std::uint8_t> out(std::size_t(rows * ldp), 0xAB);
    const qparams p = kernel::quantize_packed(q, in.f.data(), rows, cols, cols + 3, out.data(), ldp);
    CHECK(p.scale == ref.params.scale);
    CHECK(same_bits(p.tensor_scale, ref.params.tensor_scale));
    Index bad = 0;
    for (Index i = 0; i < rows; ++i) {
      for (Index k = 0; k < (cols + 1) / 2; ++k) {
        const unsigned lo = ref.codes(i, 2 * k), hi = 2 * k + 1 < cols ? ref.codes(i, 2 * k + 1) : 0u;
        bad += out[std::size_t(i * ldp + k)] != std::uint8_t((lo & 0xF) | ((hi & 0xF) << 4));
      }
      for (Index k = (cols + 1) / 2; k < ldp; ++k) bad += out[std::size_t(i * ldp + k)] != 0xAB;  // untouched
    }
    CHECK(bad == 0);
    // bf16 input, packed
    std::vector<std::uint8_t> out2(out.size(), 0xAB);
    const auto refh = q.quantize(RowMap<Eigen::bfloat16>(in.h.data(), rows, cols, Eigen::OuterStride<>(cols + 3)));
    kernel::quantize_packed(q, in.h.data(), rows, cols, cols + 3, out2.data(), ldp);
    Index badh = 0;
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) badh += ((out2[std::size_t(i * ldp + j / 2)] >> (4 * (j % 2))) & 0xF) != refh.codes(i, j);
    CHECK(badh == 0);
  };
  for (unsigned s = 0; s < 2; ++s) {
    for (auto [r, c] : {std::pair<Index, Index>{1, 1}, {3, 31}, {7, 33}, {5, 250}, {130, 300}}) {
      run(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), r, c, s, "nvfp4");
      run(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), r, c, s + 2, "mxfp4");
      run(quantizer<int4>({per_group(128)}), r, c, s + 4, "int4 g128");
      run(quantizer<int4>({per_group(7)}), r, c, s + 6, "int4 g7 (odd groups: unpacked then packed)");
      run(quantizer<int4>({per_tensor()}), r, c, s + 8, "int4 per tensor");
      run(quantizer<int4>({per_channel(1)}), r, c, s + 10, "int4 per column");
      quant_options asym{per_group(32), mapping::asymmetric};
      run(quantizer<uint4>(asym), r, c, s + 12, "uint4 asymmetric (scalar fallback)");
    }
  }
}

TEST_CASE("kernel/quantize: quantizers without a fast path run the scalar code") {
  quant_options asym{per_channel(1), mapping::asymmetric};  // zero points with blocks spanning all rows
  quantizer<uint4> a(asym);
  CHECK_FALSE(kernel::has_fast_path(a));
  quant_options kv{per_group(32), mapping::asymmetric};
  kv.conv = convention::kivi;  // float offsets
  quantizer<uint4> k(kv);
  CHECK_FALSE(kernel::has_fast_path(k));
  quantizer<int8, float, round_stochastic> st({per_token()});
  CHECK_FALSE(kernel::has_fast_path(st));
  quant_options pct{per_token()};
  pct.obs.kind = observer_kind::percentile;
  quantizer<int8> pq(pct);
  CHECK_FALSE(kernel::has_fast_path(pq));
  quantizer<float8_e4m3fn, float, round_half_away> ha({per_tensor()});
  CHECK_FALSE(kernel::has_fast_path(ha));
  const input in = make_input(6, 70, 72, 9, 0);
  for (int kind = 0; kind < 1; ++kind) {
    const RowMap<float> x(in.f.data(), 6, 70, Eigen::OuterStride<>(72));
    CHECK(kernel::quantize(a, in.f.data(), 6, 70, 72).codes == a.quantize(x).codes);
    CHECK(kernel::quantize(k, in.f.data(), 6, 70, 72).codes == k.quantize(x).codes);
    CHECK(kernel::quantize(st, in.f.data(), 6, 70, 72).codes == st.quantize(x).codes);
    CHECK(kernel::quantize(pq, in.f.data(), 6, 70, 72).codes == pq.quantize(x).codes);
    CHECK(kernel::quantize(ha, in.f.data(), 6, 70, 72).codes == ha.quantize(x).codes);
  }
}

TEST_CASE("kernel/quantize: bad input throws lowbit::error saying what and where") {
  quantizer<float8_e4m3fn> q({block(128, 128)});
  std::vector<float> x(64 * 40, 1.0f);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, x.data(), 0, 40, 40), doctest::Contains("empty input"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, x.data(), 4, 0, 40), doctest::Contains("empty input"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, x.data(), 4, 40, 39), doctest::Contains("leading dimension 39"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, static_cast<const float*>(nullptr), 4, 40, 40),
                       doctest::Contains("null"), lowbit::error);
  quantizer<int4> qe({per_group(16, tail::exact)});
  CHECK_THROWS_WITH_AS(kernel::quantize(qe, x.data(), 4, 40, 40), doctest::Contains("tail::exact"), lowbit::error);

  // NaN / inf in every engine: panels, blocks spanning all rows, the NVFP4 tensor pass.
  std::vector<float> bad = x;
  bad[std::size_t(2 * 40 + 5)] = std::numeric_limits<float>::quiet_NaN();
  bad[std::size_t(7 * 40 + 1)] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(kernel::quantize(q, bad.data(), 64, 40, 40), doctest::Contains("non-finite value nan at (2, 5)"),
                       lowbit::error);
  quantizer<float8_e4m3fn> qt({per_tensor()});
  CHECK_THROWS_WITH_AS(kernel::quantize(qt, bad.data(), 64, 40, 40), doctest::Contains("at (2, 5)"), lowbit::error);
  quantizer<int8> qc({per_channel(1)});
  CHECK_THROWS_WITH_AS(kernel::quantize(qc, bad.data(), 64, 40, 40), doctest::Contains("at (2, 5)"), lowbit::error);
  quantizer<float4_e2m1fn, float8_ue4m3> qn({nvfp4_block(16)});
  CHECK_THROWS_WITH_AS(kernel::quantize(qn, bad.data(), 64, 40, 40), doctest::Contains("at (2, 5)"), lowbit::error);
  std::vector<Eigen::bfloat16> badh(bad.size());
  for (std::size_t k = 0; k < bad.size(); ++k) badh[k] = Eigen::bfloat16(bad[k]);
  badh[std::size_t(2 * 40 + 5)] = Eigen::bfloat16(1.0f);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, badh.data(), 64, 40, 40), doctest::Contains("non-finite value inf at (7, 1)"),
                       lowbit::error);
  // a NaN in the padding beyond cols is never read
  std::vector<float> padded(8 * 20, std::numeric_limits<float>::quiet_NaN());
  for (Index i = 0; i < 8; ++i)
    for (Index j = 0; j < 17; ++j) padded[std::size_t(i * 20 + j)] = float(i - j);
  CHECK_NOTHROW(kernel::quantize(qn, padded.data(), 8, 17, 20));

  // packed: stride, pointer; on error the payload is zero, the rest untouched
  std::vector<std::uint8_t> out(64 * 24, 0xAB);
  CHECK_THROWS_WITH_AS(kernel::quantize_packed(qn, x.data(), 64, 40, 40, out.data(), 19),
                       doctest::Contains("output stride 19"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize_packed(qn, x.data(), 64, 40, 40, static_cast<std::uint8_t*>(nullptr), 24),
                       doctest::Contains("null"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize_packed(qn, bad.data(), 64, 40, 40, out.data(), 24),
                       doctest::Contains("at (2, 5)"), lowbit::error);
  Index wrong = 0;
  for (Index i = 0; i < 64; ++i)
    for (Index k = 0; k < 24; ++k) wrong += out[std::size_t(i * 24 + k)] != (k < 20 ? 0 : 0xAB);
  CHECK(wrong == 0);
}

TEST_CASE("kernel/quantize: quantize_into writes the same codes into caller storage") {
  const input in = make_input(37, 300, 301, 21, 1);
  auto check = [&](const auto& q) {
    using S = typename std::decay_t<decltype(q)>::storage;
    const auto ref = q.quantize(RowMap<float>(in.f.data(), 37, 300, Eigen::OuterStride<>(301)));
    std::vector<S> out(std::size_t(37 * 310), S(0xAB));
    const qparams p = kernel::quantize_into(q, in.f.data(), 37, 300, 301, out.data(), 310);
    CHECK(p.scale == ref.params.scale);
    Index bad = 0;
    for (Index i = 0; i < 37; ++i) {
      for (Index j = 0; j < 300; ++j) bad += out[std::size_t(i * 310 + j)] != ref.codes(i, j);
      for (Index j = 300; j < 310; ++j) bad += out[std::size_t(i * 310 + j)] != S(0xAB);
    }
    CHECK(bad == 0);
  };
  check(quantizer<float8_e4m3fn>({block(128, 128)}));
  check(quantizer<int8>({per_token()}));
  quant_options asym{per_group(32), mapping::asymmetric};
  check(quantizer<uint4>(asym));  // scalar fallback
  std::vector<float> bad(4 * 40, 1.0f);
  bad[50] = std::numeric_limits<float>::infinity();
  std::vector<std::uint8_t> out(4 * 40, 0xAB);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(quantizer<float8_e4m3fn>({per_tensor()}), bad.data(), 4, 40, 40,
                                             out.data(), 40),
                       doctest::Contains("non-finite value inf at (1, 10)"), lowbit::error);
  Index nonzero = 0;
  for (std::uint8_t b : out) nonzero += b != 0;
  CHECK(nonzero == 0);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(quantizer<float8_e4m3fn>({per_tensor()}), bad.data(), 4, 40, 40,
                                             out.data(), 39),
                       doctest::Contains("output stride 39"), lowbit::error);
}

// ---- quantize with given qparams (static / delayed scales) -----------------------------------

namespace {

// kernel::quantize(q, p, x) and quantize_into / quantize_packed == q.quantize(x, p).codes, for p
// fitted on other data (`calib`, a quarter of the magnitude: many values saturate) and on x.
template <class A = xsimd::default_arch, class T, class Q>
void check_given_one(const Q& q, const qparams& p, const input& in, const std::string& what, int threads) {
  const T* x = data_of<T>(in);
  INFO(what, " rows=", in.rows, " cols=", in.cols, " ld=", in.ld, " bf16=", std::is_same_v<T, Eigen::bfloat16>,
       " threads=", threads);
  const auto ref = q.quantize(RowMap<T>(x, in.rows, in.cols, Eigen::OuterStride<>(in.ld)), p);
  const auto got = kernel::quantize<A>(q, p, x, in.rows, in.cols, in.ld, {threads});
  CHECK((got.params.scale.array() == p.scale.array() || (got.params.scale.array().isNaN() && p.scale.array().isNaN()))
            .all());
  Index bad = 0;
  for (Index i = 0; i < in.rows; ++i)
    for (Index j = 0; j < in.cols; ++j)
      if (got.codes(i, j) != ref.codes(i, j) && bad++ == 0)
        FAIL_CHECK("first code mismatch (" << i << ", " << j << ") x=" << float(x[i * in.ld + j]) << ": kernel "
                                           << int(got.codes(i, j)) << " scalar " << int(ref.codes(i, j)));
  CHECK(bad == 0);
  using F = typename Q::format;
  if constexpr (F::bits <= 4) {
    const Index ob = (in.cols + 1) / 2 + 3;
    std::vector<std::uint8_t> out(std::size_t(in.rows * ob), 0xAB);
    kernel::quantize_packed<A>(q, p, x, in.rows, in.cols, in.ld, out.data(), ob, {threads});
    Index wrong = 0;
    for (Index i = 0; i < in.rows; ++i) {
      for (Index j = 0; j < in.cols; ++j)
        wrong += ((out[std::size_t(i * ob + j / 2)] >> (4 * (j % 2))) & 0xF) != (ref.codes(i, j) & 0xF);
      if (in.cols % 2) wrong += (out[std::size_t(i * ob + in.cols / 2)] >> 4) != 0;
      for (Index k = (in.cols + 1) / 2; k < ob; ++k) wrong += out[std::size_t(i * ob + k)] != 0xAB;
    }
    CHECK(wrong == 0);
  }
}

template <class A = xsimd::default_arch, class Q>
void check_given(const Q& q, const std::string& what) {
  unsigned seed = 101;
  for (const shape& s : shapes)
    for (int kind = 0; kind < 2; ++kind) {
      const input in = make_input(s.rows, s.cols, s.ld, seed++, kind);
      input calib = make_input(s.rows, s.cols, s.ld, seed++, kind);
      for (float& v : calib.f) v *= 0.25f;
      const qparams fitted_here = q.fit(RowMap<float>(in.f.data(), in.rows, in.cols, Eigen::OuterStride<>(in.ld)));
      const qparams fitted_elsewhere =
          q.fit(RowMap<float>(calib.f.data(), in.rows, in.cols, Eigen::OuterStride<>(in.ld)));
      for (const qparams* p : {&fitted_here, &fitted_elsewhere})
        for (int th : {1, 3}) {
          check_given_one<A, float>(q, *p, in, what, th);
          check_given_one<A, Eigen::bfloat16>(q, *p, in, what, th);
        }
    }
}

}  // namespace

// Corrupt given scales (zero, negative, NaN, a zero tensor scale): the kernels give the scalar
// quantizer's codes (0/0 is NaN's code, x/0 saturates), through its path.
TEST_CASE("kernel/quantize: given qparams with zero, negative or NaN scales give q.quantize(x, p)'s codes") {
  const input in = make_input(37, 70, 72, 5, 1);
  auto check = [&](const auto& q, const char* what) {
    qparams p = q.fit(RowMap<float>(in.f.data(), in.rows, in.cols, Eigen::OuterStride<>(in.ld)));
    p.scale(0, 0) = 0.0f;
    p.scale(p.scale.rows() - 1, p.scale.cols() - 1) = std::numeric_limits<float>::quiet_NaN();
    check_given_one<xsimd::default_arch, float>(q, p, in, what, 1);
    check_given_one<xsimd::default_arch, Eigen::bfloat16>(q, p, in, what, 1);
    p.scale(0, 0) = -p.scale(p.scale.rows() / 2, 0);
    check_given_one<xsimd::default_arch, float>(q, p, in, what, 1);
    p = q.fit(RowMap<float>(in.f.data(), in.rows, in.cols, Eigen::OuterStride<>(in.ld)));
    p.tensor_scale = 0.0f;
    check_given_one<xsimd::default_arch, float>(q, p, in, what, 1);
  };
  check(quantizer<float8_e4m3fn>({block(8, 16)}), "e4m3fn 8x16");
  check(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  check(quantizer<int8>({per_token()}), "int8 per_token");
}

TEST_CASE("kernel/quantize: given qparams (static scales) give q.quantize(x, p)'s codes, saturating") {
  check_given(quantizer<int8>({per_token()}), "int8 per_token");
  check_given(quantizer<float8_e4m3fn, float8_e8m0fnu>({per_token()}), "e4m3fn per_token, e8m0 scales (x · 2^-e)");
  check_given(quantizer<int8>({per_channel(1)}), "int8 per_channel(1)");
  check_given(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per_tensor");
  check_given(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128");
  check_given(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8");
  check_given(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4");
  check_given(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  check_given(quantizer<int4>({per_group(128)}), "int4 g128");
  check_given(quantizer<int4>({per_group(100, tail::pad)}), "int4 g100 pad");
  quant_options pct{per_token()};
  pct.obs.kind = observer_kind::percentile;  // the observer plays no part once p is given
  check_given(quantizer<int8>(pct), "int8 percentile-fitted p");
  quant_options asym{per_group(32), mapping::asymmetric};
  check_given(quantizer<uint4>(asym), "uint4 asymmetric g32");
  quant_options asym8{per_token(), mapping::asymmetric};
  check_given(quantizer<int8>(asym8), "int8 asymmetric per-token");
  quant_options kv{per_group(32), mapping::asymmetric};
  kv.conv = convention::kivi;
  check_given(quantizer<uint4>(kv), "uint4 kivi offsets (scalar fallback)");
  check_given(quantizer<float8_e4m3fn, float, round_half_away>({per_tensor()}), "half-away (scalar fallback)");
#if XSIMD_WITH_AVX2
  check_given<xsimd::avx2>(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 avx2");
  check_given<xsimd::avx2>(quantizer<int8>({per_channel(1)}), "int8 per column avx2");
#endif
#if XSIMD_WITH_SSE4_2
  check_given<xsimd::sse4_2>(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4 sse4.2");
#endif
}

TEST_CASE("kernel/quantize: given qparams: bad input and mismatched qparams throw, payload left zero") {
  quantizer<float8_e4m3fn> q({per_tensor()});
  std::vector<float> x(6 * 40, 1.0f);
  const qparams p = q.fit(RowMap<float>(x.data(), 6, 40, Eigen::OuterStride<>(40)));
  std::vector<std::uint8_t> out(6 * 40, 0xAB);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, x.data(), 5, 40, 40, out.data(), 40),
                       doctest::Contains("qparams were fitted for 6 x 40, input is 5 x 40"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, x.data(), 6, 40, 39, out.data(), 40),
                       doctest::Contains("leading dimension 39"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, static_cast<const float*>(nullptr), 6, 40, 40, out.data(), 40),
                       doctest::Contains("null"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, x.data(), 6, 40, 40, out.data(), 39),
                       doctest::Contains("output stride 39"), lowbit::error);
  qparams torn = p;  // p carries its granularity; its scale grid must match it
  torn.scale.resize(2, 1);
  CHECK_THROWS_WITH_AS(kernel::quantize(q, torn, x.data(), 6, 40, 40), doctest::Contains("scale grid is 2 x 1"),
                       lowbit::error);
  quantizer<int8> qc({per_channel(1)});
  quant_options asym{per_tensor(), mapping::asymmetric};
  CHECK_THROWS_WITH_AS(kernel::quantize(quantizer<uint8>(asym), p, x.data(), 6, 40, 40),
                       doctest::Contains("zero kind"), lowbit::error);
  CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xAB; }));  // checked before writing
  std::vector<float> bad = x;
  bad[std::size_t(4 * 40 + 33)] = -std::numeric_limits<float>::infinity();
  bad[std::size_t(5 * 40 + 1)] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, bad.data(), 6, 40, 40, out.data(), 40),
                       doctest::Contains("kernel::quantize_into: non-finite value -inf at (4, 33)"), lowbit::error);
  CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }));
  quantizer<float4_e2m1fn, float8_ue4m3> qn({nvfp4_block(16)});
  const qparams pn = qn.fit(RowMap<float>(x.data(), 6, 40, Eigen::OuterStride<>(40)));
  std::vector<std::uint8_t> packed(6 * 24, 0xAB);
  CHECK_THROWS_WITH_AS(kernel::quantize_packed(qn, pn, bad.data(), 6, 40, 40, packed.data(), 24),
                       doctest::Contains("at (4, 33)"), lowbit::error);
  Index wrong = 0;
  for (Index i = 0; i < 6; ++i)
    for (Index k = 0; k < 24; ++k) wrong += packed[std::size_t(i * 24 + k)] != (k < 20 ? 0 : 0xAB);
  CHECK(wrong == 0);
  std::vector<Eigen::bfloat16> badh(bad.size());
  for (std::size_t k = 0; k < bad.size(); ++k) badh[k] = Eigen::bfloat16(bad[k]);
  CHECK_THROWS_WITH_AS(kernel::quantize(qc, qc.fit(RowMap<float>(x.data(), 6, 40, Eigen::OuterStride<>(40))),
                                        badh.data(), 6, 40, 40),
                       doctest::Contains("at (4, 33)"), lowbit::error);
}

namespace {

// With given qparams the kernel has no fit to see a NaN / ±inf, and the integer encoders find
// them only through a failing certificate (row_encode then takes the group's |x| max): every
// value class at every position class (inside a 4-vector group, a per-column group, the rest
// of a row, the ragged end) must still throw, naming the first, with the payload left zero.
template <class Q>
void check_given_nonfinite(const Q& q, const char* what, bool packed) {
  const Index rows = 3, cols = 300;  // 4 groups of 64 (f32 and bf16 alike), then 44 elements
  std::vector<float> x(std::size_t(rows * cols));
  std::mt19937 g(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : x) v = nd(g);
  const qparams p = q.fit(RowMap<float>(x.data(), rows, cols, Eigen::OuterStride<>(cols)));
  const Index out_ld = packed ? (cols + 1) / 2 : cols;
  for (Index j : {Index(0), Index(17), Index(63), Index(64), Index(130), Index(255), Index(256), Index(271),
                  Index(299)}) {
    for (float v : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
      std::vector<float> bad = x;
      bad[std::size_t(1 * cols + j)] = v;
      std::vector<Eigen::bfloat16> badh(bad.size());
      for (std::size_t k = 0; k < bad.size(); ++k) badh[k] = Eigen::bfloat16(bad[k]);
      const std::string at = "at (1, " + std::to_string(j) + ")";
      INFO(what, " x(1, ", j, ") = ", v);
      std::vector<std::uint8_t> out(std::size_t(rows * out_ld), 0xAB);
      if constexpr (Q::format::bits <= 4) {
        if (packed) {
          CHECK_THROWS_WITH_AS(kernel::quantize_packed(q, p, bad.data(), rows, cols, cols, out.data(), out_ld),
                               doctest::Contains(at.c_str()), lowbit::error);
          CHECK_THROWS_WITH_AS(kernel::quantize_packed(q, p, badh.data(), rows, cols, cols, out.data(), out_ld),
                               doctest::Contains(at.c_str()), lowbit::error);
          CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }));
          continue;
        }
      }
      auto* codes = reinterpret_cast<typename Q::format::storage*>(out.data());
      CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, bad.data(), rows, cols, cols, codes, out_ld),
                           doctest::Contains(at.c_str()), lowbit::error);
      CHECK_THROWS_WITH_AS(kernel::quantize_into(q, p, badh.data(), rows, cols, cols, codes, out_ld),
                           doctest::Contains(at.c_str()), lowbit::error);
      CHECK(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0; }));
    }
  }
}

}  // namespace

TEST_CASE("kernel/quantize: given qparams: NaN and ±inf are caught on every path, at every position") {
  check_given_nonfinite(quantizer<int8>({per_token()}), "int8 per-token", false);
  check_given_nonfinite(quantizer<int8>({per_channel(1)}), "int8 per-column", false);
  check_given_nonfinite(quantizer<int4>({per_group(32)}), "int4 g32 packed", true);
  check_given_nonfinite(quantizer<uint4>({per_group(32), mapping::asymmetric}), "uint4 asym g32 packed", true);
  check_given_nonfinite(quantizer<int8>({per_token(), mapping::asymmetric}), "int8 asym per-token", false);
  check_given_nonfinite(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per-tensor", false);
  check_given_nonfinite(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8", false);
  check_given_nonfinite(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 packed", true);
}

// ---- simd::encode_quotient and the AVX-512 minifloat encoder ---------------------------------

namespace {

template <class F, class A, bool Divide>
Index quotient_mismatches_by(const std::vector<float>& xs, float s) {
  using fb = kernel::simd::fb<A>;
  constexpr std::size_t N = fb::size;
  const float r = s >= 0x1p-125f && s <= 0x1p125f ? 1.0f / s : std::numeric_limits<float>::quiet_NaN();
  Index bad = 0;
  alignas(64) float in[N];
  alignas(64) std::int32_t out[N];
  for (std::size_t k = 0; k < xs.size(); k += N) {
    for (std::size_t l = 0; l < N; ++l) in[l] = xs[std::min(k + l, xs.size() - 1)];
    kernel::simd::encode_quotient<F, A, Divide>(fb::load_aligned(in), fb(s), fb(r)).store_aligned(out);
    for (std::size_t l = 0; l < N; ++l) {
      const unsigned want = unsigned(lowbit::encode<F>(in[l] / s)) & 0xFFu;
      if ((unsigned(out[l]) & 0xFFu) != want && bad++ == 0)
        FAIL_CHECK("x=" << in[l] << " s=" << s << ": kernel " << (out[l] & 0xFF) << " scalar " << want);
    }
  }
  return bad;
}

// Every lane of simd::encode_quotient<F>(x, s, r) == lowbit::encode<F>(x / s); r as the kernel
// passes it (RN(1/s) inside [2^-125, 2^125], NaN outside); both ways of encoding (the
// certificate and the division, LOWBIT_DIVIDE_MINIFLOAT). Returns the mismatches.
template <class F, class A = xsimd::default_arch>
Index quotient_mismatches(const std::vector<float>& xs, float s) {
  Index bad = 0;
  for (bool divide : {false, true}) {
    INFO("divide=" << divide);
    bad += divide ? quotient_mismatches_by<F, A, true>(xs, s) : quotient_mismatches_by<F, A, false>(xs, s);
  }
  return bad;
}

// Quotients on and around F's rounding midpoints (the values where x·(1/s) and x/s may round
// to different codes): x = RN(m·s) ± k ulp for every midpoint m, plus random and special x.
template <class F>
std::vector<float> quotient_inputs(float s, std::mt19937& g) {
  std::vector<float> mids;
  if constexpr (F::kind == format_kind::integer) {
    for (int c = F::min_int; c < F::max_int; ++c) mids.push_back(float(c) + 0.5f);
  } else {
    std::vector<float> v;
    for (unsigned c = 0; c <= F::magnitude_mask; ++c) {
      const float d = float(F::decode(typename F::storage(c)));
      if (std::isfinite(d)) v.push_back(d);
    }
    std::sort(v.begin(), v.end());
    for (std::size_t k = 0; k + 1 < v.size(); ++k) {
      mids.push_back(0.5f * (v[k] + v[k + 1]));
      mids.push_back(-0.5f * (v[k] + v[k + 1]));
    }
    mids.push_back(float(F::max_value) * 1.01f);
  }
  std::vector<float> xs;
  for (float m : mids) {
    float x = m * s;
    for (int k = 0; k < 3; ++k) x = std::nextafter(x, -INFINITY);
    for (int k = 0; k < 7; ++k, x = std::nextafter(x, INFINITY)) xs.push_back(x);
  }
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  for (int k = 0; k < 2000; ++k) xs.push_back(u(g) * s * float(F::max_value));
  for (int k = 0; k < 500; ++k) xs.push_back(random_finite_bits(g));
  for (float v : {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, 3.4e38f, -3.4e38f}) xs.push_back(v);
  return xs;
}

template <class F>
void check_quotients() {
  std::mt19937 g(7);
  std::vector<float> scales = {1.0f, 0.5f, 3.0f, 1.0f / 3.0f, 0.1f, 7e-3f, 1e-30f, 3e30f, 0x1p-125f, 0x1p-126f,
                               1e-40f, 0x1p125f, 0x1.8p125f, 2e38f,
                               // tiny s: x = m·s is subnormal, where y·s − x may underflow
                               0x1.000002p-125f, 0x1.3p-124f, 0x1.7p-121f, 0x1.9p-118f, 3e-37f};
  std::uniform_real_distribution<float> e(-40.0f, 40.0f);
  for (int k = 0; k < 40; ++k) scales.push_back(std::exp2(e(g)) * (1.0f + float(g() % 1000) / 1000.0f));
  for (float s : scales) {
    INFO("s=", s);
    CHECK(quotient_mismatches<F>(quotient_inputs<F>(s, g), s) == 0);
#if XSIMD_WITH_AVX2
    CHECK(quotient_mismatches<F, xsimd::avx2>(quotient_inputs<F>(s, g), s) == 0);
#endif
  }
}

// simd::encode<F> == lowbit::encode<F> on a sweep of float bit patterns (NaN and ±inf included).
template <class F>
void check_encoder_sweep() {
  using A = xsimd::default_arch;
  using fb = kernel::simd::fb<A>;
  constexpr std::size_t N = fb::size;
  alignas(64) float in[N];
  alignas(64) std::int32_t out[N];
  Index bad = 0;
  for (std::uint64_t b = 0; b < (std::uint64_t(1) << 32); b += N * 4099) {
    for (std::size_t l = 0; l < N; ++l) {
      std::uint32_t u = std::uint32_t(b + l * 257);
      if (!F::is_signed) u &= 0x7FFFFFFFu;  // unsigned scale formats only see |x|
      std::memcpy(&in[l], &u, 4);
    }
    kernel::simd::encode<F, A>(fb::load_aligned(in)).store_aligned(out);
    for (std::size_t l = 0; l < N; ++l)
      if ((unsigned(out[l]) & 0xFFu) != (unsigned(lowbit::encode<F>(in[l])) & 0xFFu) && bad++ == 0)
        FAIL_CHECK("x=" << in[l] << ": kernel " << (out[l] & 0xFF) << " scalar "
                        << (unsigned(lowbit::encode<F>(in[l])) & 0xFFu));
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("kernel/simd: encode_quotient equals encode(x / s) on every midpoint neighbourhood, any scale") {
  check_quotients<int8>();
  check_quotients<int4>();
  check_quotients<int2>();
  check_quotients<float8_e4m3fn>();
  check_quotients<float8_e5m2>();
  check_quotients<float4_e2m1fn>();
}

TEST_CASE("kernel/simd: the minifloat encoder equals lowbit::encode on a sweep of all float patterns") {
  check_encoder_sweep<float8_e4m3fn>();
  check_encoder_sweep<float8_e5m2>();
  check_encoder_sweep<float4_e2m1fn>();
  check_encoder_sweep<float8_ue4m3>();
}

TEST_CASE("kernel/quantize: outputs of >= 4 MiB (streaming stores) equal the scalar quantizer") {
  {  // bytes: rows start at every alignment (cols = 4100)
    const input in = make_input(1030, 4100, 4100, 31, 0);
    check_same<xsimd::default_arch, float>(quantizer<int8>({per_token()}), in, "int8 per_token, 4.2 MB of codes");
  }
  {  // nibbles: 2048 × 4096 -> 4 MiB packed, bf16 input
    const Index rows = 2048, cols = 4096;
    const input in = make_input(rows, cols, cols, 32, 0);
    quantizer<float4_e2m1fn, float8_e8m0fnu> q({mx_block(32)});
    const auto ref = q.quantize(RowMap<Eigen::bfloat16>(in.h.data(), rows, cols, Eigen::OuterStride<>(cols)));
    std::vector<std::uint8_t> out(std::size_t(rows * cols / 2));
    const qparams p = kernel::quantize_packed(q, in.h.data(), rows, cols, cols, out.data(), cols / 2);
    CHECK(p.scale == ref.params.scale);
    Index bad = 0;
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) bad += ((out[std::size_t(i * cols / 2 + j / 2)] >> (4 * (j % 2))) & 0xF) != ref.codes(i, j);
    CHECK(bad == 0);
  }
}

// Float inputs of >= 4 MiB are read four rows at a time (kernel/quantize.hpp,
// detail::interleaved_rows): 259 rows (a last group of three, encoded one after the other),
// 4099 columns (a short last chunk, blocks that end inside a chunk or span several), ld > cols;
// fit and given qparams, packed and bytes, 1 and 3 threads.
TEST_CASE("kernel/quantize: float inputs of >= 4 MiB (rows read together) equal the scalar quantizer") {
  const Index rows = 259, cols = 4099, ld = 4101;
  REQUIRE(rows * cols * Index(sizeof(float)) >= (Index(4) << 20));
  const input in = make_input(rows, cols, ld, 77, 1);
  auto check = [&](const auto& q, const char* what) {
    CHECK(kernel::has_fast_path(q));
    const qparams p = q.fit(RowMap<float>(in.f.data(), rows, cols, Eigen::OuterStride<>(ld)));
    for (int th : {1, 3}) {
      check_same<xsimd::default_arch, float>(q, in, what, {th});
      check_given_one<xsimd::default_arch, float>(q, p, in, what, th);
    }
  };
  check(quantizer<int8>({per_token()}), "int8 per_token (blocks of 32 chunks)");
  check(quantizer<int8>({per_channel(1)}), "int8 per_channel(1) (a scale per column)");
  check(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per_tensor");
  check(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128");
  check(quantizer<float8_e4m3fn>({block(3, 200)}), "e4m3fn block 3x200 (blocks end inside chunks)");
  // blocks that span every row, 200 columns wide: the max pass reads 8 rows at a time in chunks
  // of 64 floats (kernel max_pass_rows; 259 = 32·8 + 3), blocks ending inside chunks
  check(quantizer<float8_e4m3fn>({block(rows, 200)}), "e4m3fn block 259x200 (whole columns, across chunks)");
  check(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8");
  check(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 (tensor amax first)");
  // two-level scales whose block maxima are few (kept from one pass, then rows read together)
  check(quantizer<float4_e2m1fn, float8_ue4m3>({per_group(1024)}), "e2m1 g1024, ue4m3 + tensor scale");
  check(quantizer<float8_e4m3fn, float8_ue4m3>({per_token()}), "e4m3fn per_token, ue4m3 + tensor scale");
  check(quantizer<int4>({per_group(200, tail::pad)}), "int4 g200 pad (blocks longer than a chunk)");
  check(quantizer<int4>({per_group(64)}), "int4 g64");
  check(quantizer<uint4>({per_group(128), mapping::asymmetric, convention::awq}), "uint4 awq g128");
  check(quantizer<int8>({per_token(), mapping::asymmetric}), "int8 asym per_token (min/max)");
  check(quantizer<float8_e4m3fn, float8_e8m0fnu>({per_token()}), "e4m3fn per_token, e8m0 scales (x · 2^-e)");
  {
    // Per token and 2-D blocks, whole vectors (cols % 16 == 0): the encode of a group of rows also
    // takes the block maxima of the next task's rows (rows_encode's Ahead: trailing its prefetch,
    // the rest at the end)
    const Index c2 = 4096, l2 = 4100;
    REQUIRE(rows * c2 * Index(sizeof(float)) >= (Index(4) << 20));
    const input in2 = make_input(rows, c2, l2, 78, 0);  // normal data: one largest |x| per row
    const quantizer<int8> q2({per_token()});
    const quantizer<float8_e4m3fn, float8_e8m0fnu> q3({per_token()});
    CHECK(kernel::has_fast_path(q3));
    for (int th : {1, 3}) {
      check_same<xsimd::default_arch, float>(q2, in2, "int8 per_token, cols % 16 == 0", {th});
      check_same<xsimd::default_arch, float>(q3, in2, "e4m3fn per_token, e8m0 scales, cols % 16 == 0", {th});
      // blocks along the row, read together with whole vectors (their max pass stays separate)
      check_same<xsimd::default_arch, float>(quantizer<int4>({per_group(128)}), in2, "int4 g128", {th});
      check_same<xsimd::default_arch, float>(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), in2, "mxfp8",
                                             {th});
      check_same<xsimd::default_arch, float>(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), in2, "nvfp4",
                                             {th});
      // 2-D blocks: panels of 128 rows × 2048 columns, the next panel's block maxima (the same
      // rows, or the next band) taken in the encode of this one; the last band (3 rows) apart
      check_same<xsimd::default_arch, float>(quantizer<float8_e4m3fn>({block(128, 128)}), in2, "e4m3fn 128x128", {th});
      check_same<xsimd::default_arch, float>(quantizer<int8>({block(64, 256)}), in2, "int8 64x256", {th});
    }
    // a non-finite value in rows whose maxima were taken ahead: at the start, the middle, the end
    const quantizer<float8_e4m3fn> q4({block(128, 128)});
    for (auto [bi, bj] : {std::pair<Index, Index>{4, 0}, {5, 100}, {9, 4095}, {254, 4000}, {5, 2048}, {127, 4095},
                          {60, 4000}, {128, 0}, {200, 1000}}) {
      input bad2 = in2;
      bad2.f[std::size_t(bi * l2 + bj)] = -std::numeric_limits<float>::infinity();
      const std::string where = "(" + std::to_string(bi) + ", " + std::to_string(bj) + ")";
      for (int th : {1, 3}) {
        CHECK_THROWS_WITH_AS(kernel::quantize(q2, bad2.f.data(), rows, c2, l2, {th}), doctest::Contains(where.c_str()),
                             lowbit::error);
        CHECK_THROWS_WITH_AS(kernel::quantize(q4, bad2.f.data(), rows, c2, l2, {th}), doctest::Contains(where.c_str()),
                             lowbit::error);
      }
    }
  }
  {
    // bfloat16 per column (one divisor per column) is read four rows at a time too, from 4 MiB
    const Index cb = 8200, lb = 8203;
    REQUIRE(rows * cb * Index(sizeof(Eigen::bfloat16)) >= (Index(4) << 20));
    input in3 = make_input(rows, cb, lb, 79, 1);
    const quantizer<int8> qc({per_channel(1)});
    const qparams pc = qc.fit(RowMap<Eigen::bfloat16>(in3.h.data(), rows, cb, Eigen::OuterStride<>(lb)));
    for (int th : {1, 3}) {
      check_same<xsimd::default_arch, Eigen::bfloat16>(qc, in3, "int8 per_channel(1), bf16", {th});
      check_given_one<xsimd::default_arch, Eigen::bfloat16>(qc, pc, in3, "int8 per_channel(1), bf16", th);
      // columns of blocks of 4 and 3 rows (block rows of one group of rows read together, or fewer)
      check_same<xsimd::default_arch, Eigen::bfloat16>(quantizer<int8>({block(4, 1)}), in3, "int8 4x1, bf16", {th});
      check_same<xsimd::default_arch, Eigen::bfloat16>(quantizer<float8_e4m3fn>({block(3, 1)}), in3, "e4m3fn 3x1, bf16",
                                                       {th});
    }
    in3.h[std::size_t(257 * lb + 8199)] = Eigen::bfloat16(std::numeric_limits<float>::infinity());
    for (int th : {1, 3}) {
      CHECK_THROWS_WITH_AS(kernel::quantize(qc, in3.h.data(), rows, cb, lb, {th}), doctest::Contains("(257, 8199)"),
                           lowbit::error);
      CHECK_THROWS_WITH_AS(kernel::quantize(qc, pc, in3.h.data(), rows, cb, lb, {th}),
                           doctest::Contains("(257, 8199)"), lowbit::error);
    }
  }
  // A NaN in the last row: fit and given qparams throw, saying where
  input bad = in;
  bad.f[std::size_t((rows - 1) * ld + 4000)] = std::numeric_limits<float>::quiet_NaN();
  quantizer<int8> q({per_token()});
  const qparams p = q.fit(RowMap<float>(in.f.data(), rows, cols, Eigen::OuterStride<>(ld)));
  for (int th : {1, 3}) {
    CHECK_THROWS_WITH_AS(kernel::quantize(q, bad.f.data(), rows, cols, ld, {th}),
                         doctest::Contains("(258, 4000)"), lowbit::error);
    CHECK_THROWS_WITH_AS(kernel::quantize(q, p, bad.f.data(), rows, cols, ld, {th}),
                         doctest::Contains("(258, 4000)"), lowbit::error);
  }
}

// Random configurations, a fixed seed (the same cases every run): element format × scale format ×
// granularity × mapping and convention × magnitude (kind 2 scales a row set by 2^e, e in
// [-150, 125]: subnormal tensors, spans beyond FLT_MAX), thread count and leading dimension;
// the fit on float and bf16 input, and given qparams (the fit's scales moved by 2^k or 1.37).
namespace {
std::mt19937 cfg_rng(20261205);
Index pick(Index lo, Index hi) { return lo + Index(cfg_rng() % std::uint32_t(hi - lo + 1)); }

granularity random_granularity() {
  const tail t = pick(0, 1) ? tail::pad : tail::partial;
  switch (pick(0, 7)) {
    case 0: return per_tensor();
    case 1: return per_channel(int(pick(0, 1)));
    case 2: return per_token();
    case 3: return per_group(Index(16) << pick(0, 3), t);
    case 4: return per_group(pick(1, 300), t);
    case 5: return block(pick(1, 40), pick(1, 140), t);
    case 6: return block(128, 128);
    default: return per_head(pick(1, 64));
  }
}

template <class F, class SF>
void random_case(const quant_options& o, const std::string& name) {
  const quantizer<F, SF> q(o);
  const Index rows = pick(1, 40), cols = pick(1, 300), ld = cols + pick(0, 2);
  const int kind = int(pick(0, 2)), th = int(pick(1, 2));
  input in = make_input(rows, cols, ld, unsigned(cfg_rng()), kind == 2 ? 0 : kind);
  if (kind == 2) {
    const int e = int(pick(-150, 125));
    for (std::size_t k = 0; k < in.f.size(); ++k)
      if (!std::isnan(in.f[k])) {
        const float v = std::ldexp(in.f[k], e);
        in.f[k] = std::isinf(v) ? std::copysign(3.4e38f, v) : v;
        in.h[k] = Eigen::bfloat16(in.f[k]);
        if (std::isinf(float(in.h[k]))) in.h[k] = Eigen::bfloat16(std::copysign(3.38e38f, v));
      }
  }
  const std::string what = name + " granularity " + std::to_string(o.gran.block_rows) + "x" +
                           std::to_string(o.gran.block_cols) + " tail " + std::to_string(int(o.gran.tail_rule)) +
                           " mapping " + std::to_string(int(o.map)) + " convention " + std::to_string(int(o.conv)) +
                           " mx rule " + std::to_string(int(o.mx_rule)) + " kind " + std::to_string(kind);
  check_same<xsimd::default_arch, float>(q, in, what, {th});
  check_same<xsimd::default_arch, Eigen::bfloat16>(q, in, what, {th});
  const RowMap<float> X(in.f.data(), rows, cols, Eigen::OuterStride<>(ld));
  qparams p;
  try {
    p = q.fit(X);
  } catch (const lowbit::error&) {  // tail::exact on a shape it does not divide: check_same saw both throw
    return;
  }
  const float f = std::ldexp(pick(0, 1) ? 1.0f : 1.37f, int(pick(-3, 3)));
  p.scale = p.scale.unaryExpr([f](float s) { return detail::store_scale<SF>(s * f); });
  INFO(what, " given qparams, scales x ", f);
  CHECK(kernel::quantize(q, p, in.f.data(), rows, cols, ld, {th}).codes == q.quantize(X, p).codes);
}
}  // namespace

TEST_CASE("kernel/quantize: random configurations equal the scalar quantizer (fit and given qparams)") {
  for (int n = 0; n < 600; ++n) {
    quant_options o{random_granularity()};
    const Index c = pick(0, 13);
    if (c <= 4) {  // integer formats: symmetric or with zero points, any convention
      if (pick(0, 1)) o.map = mapping::asymmetric;
      const convention cv[] = {convention::lowbit, convention::awq, convention::gptq, convention::smoothquant};
      o.conv = cv[pick(0, 3)];
      if (pick(0, 2) == 0) o.obs = absmax_observer();
      // symmetric: signed codes, or unsigned ones under GPTQ's convention only
      if ((c == 2 || c == 3) != (o.conv == convention::gptq)) o.map = mapping::asymmetric;
    }
    if (c >= 8 && c <= 10) {  // MX: blocks of 32 or any group, every scale rule
      o.gran = pick(0, 1) ? mx_block(32) : per_group(pick(1, 64));
      o.mx_rule = mx_scale_rule(pick(0, 3));
    }
    if (c >= 11) {  // NVFP4-like: two levels, one level, or a fixed tensor scale
      if (pick(0, 1)) o.gran = nvfp4_block(16);
      if (pick(0, 3) == 0) o.two_level = false;
      if (pick(0, 3) == 0) o.fixed_tensor_scale = std::ldexp(1.3f, int(pick(-20, 10)));
    }
    switch (c) {
      case 0: random_case<int8, float>(o, "int8"); break;
      case 1: random_case<int4, float>(o, "int4"); break;
      case 2: random_case<uint4, float>(o, "uint4"); break;
      case 3: random_case<uint8, float>(o, "uint8"); break;
      case 4: random_case<int2, float>(o, "int2"); break;
      case 5: random_case<float8_e4m3fn, float>(o, "e4m3fn"); break;
      case 6: random_case<float8_e5m2, float>(o, "e5m2"); break;
      case 7: random_case<int4, bfloat16_format>(o, "int4, bf16 scales"); break;
      case 8: random_case<float4_e2m1fn, float8_e8m0fnu>(o, "mxfp4"); break;
      case 9: random_case<float8_e4m3fn, float8_e8m0fnu>(o, "mxfp8"); break;
      case 10: random_case<int8, float8_e8m0fnu>(o, "mxint8"); break;
      case 11: random_case<float4_e2m1fn, float8_ue4m3>(o, "nvfp4"); break;
      default: random_case<float4_e2m1fn, float8_e4m3fn>(o, "e2m1, e4m3fn scales"); break;
    }
  }
}
