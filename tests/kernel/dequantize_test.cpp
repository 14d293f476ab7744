// tests/kernel/dequantize_test.cpp — kernel::dequantize / dequantize_packed against
// quantizer::dequantize (the spec) bit for bit: every code of every format (NaN and inf codes
// included), every fast-path granularity, strides, packed codes, thread counts, bad input.
#include <lowbit/format/float4.hpp>
#include <lowbit/format/float8.hpp>
#include <lowbit/format/int.hpp>
#include <lowbit/format/scale.hpp>
#include <lowbit/kernel/dequantize.hpp>
#include <lowbit/kernel/quantize.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;
using Index = Eigen::Index;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

Mat random_matrix(Index r, Index c, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Mat m(r, c);
  for (Index i = 0; i < r; ++i) {
    const float s = std::exp(2.0f * n(g));
    for (Index j = 0; j < c; ++j) m(i, j) = n(g) * s;
  }
  return m;
}

// Bitwise equality of two float arrays (NaN payload and sign included); the first mismatch fails.
Index count_mismatches(const float* got, Index ld_got, const Mat& ref) {
  Index bad = 0;
  for (Index i = 0; i < ref.rows(); ++i)
    for (Index j = 0; j < ref.cols(); ++j) {
      const float a = got[i * ld_got + j], b = ref(i, j);
      if (std::memcmp(&a, &b, 4) != 0 && bad++ == 0)
        FAIL_CHECK("first mismatch (" << i << ", " << j << "): kernel " << a << " scalar " << b);
    }
  return bad;
}

// Parameters fitted to random data, codes replaced by uniformly random codes of the format
// (every bit pattern, NaN/inf codes included): kernel == scalar.
template <class A = xsimd::default_arch, class Q>
void check_paths(const Q& q, const std::string& what, std::initializer_list<int> threads = {1}) {
  using F = typename Q::format;
  CHECK(kernel::has_fast_dequantize(q));
  unsigned seed = 11;
  for (auto shape : {std::pair<Index, Index>{1, 1}, {3, 17}, {5, 33}, {37, 300}, {130, 260}, {4, 1000}}) {
    const Index rows = shape.first, cols = shape.second;  // not bindings: INFO captures them
    INFO(what, " ", rows, "x", cols);
    auto qx = q.quantize(random_matrix(rows, cols, seed));
    std::mt19937 g(seed++);
    const unsigned mask = (1u << F::bits) - 1u;
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) qx.codes(i, j) = typename F::storage(g() & mask);
    const Mat ref = q.dequantize(qx);
    for (int th : threads) {
      const Index ld = cols + 5;
      std::vector<float> out(std::size_t(rows * ld), -7.0f);
      kernel::dequantize<A>(q, qx, out.data(), ld, {th});
      CHECK(count_mismatches(out.data(), ld, ref) == 0);
      Index touched = 0;
      for (Index i = 0; i < rows; ++i)
        for (Index j = cols; j < ld; ++j) touched += out[std::size_t(i * ld + j)] != -7.0f;
      CHECK(touched == 0);
      const Mat y = kernel::dequantize<A>(q, qx, kernel::kernel_options{th});
      CHECK(count_mismatches(y.data(), cols, ref) == 0);
      if constexpr (F::bits <= 4) {
        const Index ldp = (cols + 1) / 2 + 2;
        std::vector<std::uint8_t> packed(std::size_t(rows * ldp), 0xFF);
        for (Index i = 0; i < rows; ++i)
          for (Index j = 0; j < cols; ++j) {
            std::uint8_t& b = packed[std::size_t(i * ldp + j / 2)];
            if (j % 2 == 0) b = std::uint8_t(qx.codes(i, j) & 0xF);
            else b = std::uint8_t(b | ((qx.codes(i, j) & 0xF) << 4));
          }
        std::vector<float> outp(std::size_t(rows * cols));
        kernel::dequantize_packed<A>(q, packed.data(), ldp, qx.params, outp.data(), cols, {th});
        CHECK(count_mismatches(outp.data(), cols, ref) == 0);
      }
    }
  }
}

}  // namespace

TEST_CASE("kernel/dequantize: every fast path equals quantizer::dequantize bit for bit") {
  check_paths(quantizer<int8>({per_channel(0)}), "int8 per channel");
  check_paths(quantizer<int8>({per_channel(1)}), "int8 per column");
  check_paths(quantizer<float8_e4m3fn>({per_tensor()}), "e4m3fn per tensor");
  check_paths(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128");
  check_paths(quantizer<float8_e5m2>({block(1, 128)}), "e5m2 1x128");
  check_paths(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8");
  check_paths(quantizer<float4_e2m1fn, float8_e8m0fnu>({mx_block(32)}), "mxfp4");
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  check_paths(quantizer<int4>({per_group(128)}), "int4 g128");
  check_paths(quantizer<int4>({per_group(7)}), "int4 g7");
  check_paths(quantizer<int2>({per_group(16)}), "int2 g16");
}

TEST_CASE("kernel/dequantize: thread counts and narrower architectures give the same floats") {
  check_paths(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4", {1, 3});
  check_paths(quantizer<float8_e4m3fn>({block(128, 128)}), "e4m3fn 128x128", {1, 3});
#if XSIMD_WITH_AVX2
  check_paths<xsimd::avx2>(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8 avx2");
  check_paths<xsimd::avx2>(quantizer<int4>({per_group(128)}), "int4 avx2");
  check_paths<xsimd::avx2>(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 avx2 (two vectors per block)");
#endif
#if XSIMD_WITH_SSE4_2
  check_paths<xsimd::sse4_2>(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4 sse4.2");
#endif
}

// Outputs of >= 4 MiB: vectors on a 64-byte boundary go out with streaming stores. Rows at
// every alignment (odd leading dimension, pointer off the allocation's alignment) and all rows
// aligned (64-byte aligned buffer, leading dimension a multiple of 16); columns past cols untouched.
TEST_CASE("kernel/dequantize: outputs of >= 4 MiB (streaming stores) equal quantizer::dequantize") {
  const Index rows = 257, cols = 4100;
  auto check = [&](const auto& q, const char* what) {
    using F = typename std::decay_t<decltype(q)>::format;
    INFO(what);
    auto qx = q.quantize(random_matrix(rows, cols, 5));
    std::mt19937 g(9);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) qx.codes(i, j) = typename F::storage(g() & ((1u << F::bits) - 1u));
    const Mat ref = q.dequantize(qx);
    for (int th : {1, 3})
      for (const Index ld : {cols + 3, cols + 12}) {
        std::vector<float, Eigen::aligned_allocator<float>> buf(std::size_t(rows * ld + 16), -7.0f);
        float* out = buf.data() + (ld % 16 == 0 ? 0 : 1);  // all rows 64-byte aligned, or every phase
        kernel::dequantize(q, qx, out, ld, {th});
        CHECK(count_mismatches(out, ld, ref) == 0);
        Index touched = out != buf.data() && buf[0] != -7.0f;
        for (Index i = 0; i < rows; ++i)
          for (Index j = cols; j < ld; ++j) touched += out[i * ld + j] != -7.0f;
        CHECK(touched == 0);
      }
  };
  check(quantizer<float8_e4m3fn, float8_e8m0fnu>({mx_block(32)}), "mxfp8");
  check(quantizer<int8>({per_token()}), "int8 per token");
  check(quantizer<int8>({per_channel(1)}), "int8 per column");
  check(quantizer<float4_e2m1fn, float8_ue4m3>({nvfp4_block(16)}), "nvfp4");
  check(quantizer<uint4>({per_group(128), mapping::asymmetric}), "uint4 asymmetric g128");
}

TEST_CASE("kernel/dequantize: round trip equals fake_quantize") {
  const Mat x = random_matrix(33, 257, 3);
  quantizer<float4_e2m1fn, float8_ue4m3> q({nvfp4_block(16)});
  const Mat ref = q.fake_quantize(x);
  const Mat y = kernel::dequantize(q, kernel::quantize(q, x));
  CHECK(count_mismatches(y.data(), y.cols(), ref) == 0);
}

TEST_CASE("kernel/dequantize: integer zero points equal quantizer::dequantize bit for bit") {
  // Random codes against fitted zero points: (code − zero) · (scale · tensor_scale).
  auto asym = [](granularity g, convention c = convention::lowbit) {
    quant_options o{g, mapping::asymmetric};
    o.conv = c;
    return o;
  };
  check_paths(quantizer<uint4>(asym(per_group(128))), "uint4 asym g128", {1, 3});
  check_paths(quantizer<uint4>(asym(per_group(7), convention::awq)), "uint4 awq g7");
  check_paths(quantizer<int8>(asym(per_token())), "int8 asym per token");
  check_paths(quantizer<uint8>(asym(per_channel(1))), "uint8 asym per column");
  quant_options gsym{per_group(64)};
  gsym.conv = convention::gptq;
  check_paths(quantizer<uint4>(gsym), "uint4 gptq symmetric g64");
  check_paths(quantizer<uint4>(asym(per_group(32))), "uint4 asym g32 (two AVX-512 vectors per block)");
#if XSIMD_WITH_AVX2
  check_paths<xsimd::avx2>(quantizer<uint4>(asym(per_group(32))), "uint4 asym g32 avx2");
#endif
}

TEST_CASE("kernel/dequantize: KIVI's float offsets run the scalar code") {
  quant_options kv{per_group(32), mapping::asymmetric};
  kv.conv = convention::kivi;
  quantizer<uint4> q(kv);
  CHECK_FALSE(kernel::has_fast_dequantize(q));
  const Mat x = random_matrix(5, 70, 4);
  const auto qx = q.quantize(x);
  const Mat ref = q.dequantize(qx);
  CHECK(count_mismatches(kernel::dequantize(q, qx).data(), 70, ref) == 0);
  std::vector<std::uint8_t> packed(5 * 35);
  kernel::quantize_packed(q, x.data(), 5, 70, 70, packed.data(), 35);
  std::vector<float> out(5 * 70);
  kernel::dequantize_packed(q, packed.data(), 35, qx.params, out.data(), 70);
  CHECK(count_mismatches(out.data(), 70, ref) == 0);
}

TEST_CASE("kernel/dequantize: bad input throws lowbit::error") {
  quantizer<int4> q({per_group(16)});
  const Mat x = random_matrix(4, 40, 5);
  auto qx = q.quantize(x);
  std::vector<float> out(4 * 40);
  CHECK_THROWS_WITH_AS(kernel::dequantize(q, qx, out.data(), 39), doctest::Contains("leading dimension 39"),
                       lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::dequantize(q, qx, static_cast<float*>(nullptr), 40), doctest::Contains("null"),
                       lowbit::error);
  auto wrong_shape = qx;
  wrong_shape.params.rows = 3;
  CHECK_THROWS_WITH_AS(kernel::dequantize(q, wrong_shape, out.data(), 40), doctest::Contains("fitted for 3 x 40"),
                       lowbit::error);
  auto wrong_grid = qx;
  wrong_grid.params.scale.resize(4, 2);
  CHECK_THROWS_WITH_AS(kernel::dequantize(q, wrong_grid, out.data(), 40), doctest::Contains("scale grid"),
                       lowbit::error);
  auto wrong_zero = qx;
  wrong_zero.params.zeros = zero_kind::integer;
  CHECK_THROWS_WITH_AS(kernel::dequantize(q, wrong_zero, out.data(), 40), doctest::Contains("zero kind"),
                       lowbit::error);
  std::vector<std::uint8_t> packed(4 * 20);
  CHECK_THROWS_WITH_AS(kernel::dequantize_packed(q, packed.data(), 19, qx.params, out.data(), 40),
                       doctest::Contains("code stride 19"), lowbit::error);
  CHECK_THROWS_WITH_AS(kernel::dequantize_packed(q, packed.data(), 20, wrong_shape.params, out.data(), 40),
                       doctest::Contains("scale grid is 4 x 3, granularity needs 3 x 3"), lowbit::error);
}
