// Proof of lowbit/kernel/cast.hpp: encode_array and decode_array are bit-identical to the
// scalar lowbit::encode / lowbit::decode (the specification) for every format, rounding and
// overflow policy, on every code, midpoint, special and random input, at every length and
// alignment (tails), for float, bf16, fp16 and double input, and with stochastic rounding
// independent of how the array is split.
#include <lowbit/kernel/cast.hpp>
#include <lowbit/lowbit.hpp>

#include <thread>

#include "../format/format_oracle.hpp"

using namespace lowbit;
using namespace lowbit_test;
using lowbit::kernel::decode_array;
using lowbit::kernel::encode_array;

namespace {
constexpr auto sat = overflow::saturate;
constexpr auto prop = overflow::propagate;
namespace lb = lowbit;  // CUDA's global int2/int4/... vector types shadow the short names

// Inputs: every code and midpoint of F (±1 ulp), specials, every bf16 bit pattern as a float
// (every exponent, NaN payloads, denormals), random floats; shuffled so that neighbouring
// lanes hold unrelated values.
template <class F>
std::vector<float> cast_inputs(std::size_t n_random, std::uint64_t seed) {
  std::vector<float> v = boundary_inputs<F>();
  for (unsigned b = 0; b < 65536; ++b) v.push_back(f32(b << 16));
  const std::vector<float> r = random_floats(n_random, F::max_value, seed);
  v.insert(v.end(), r.begin(), r.end());
  std::mt19937_64 g(seed);
  std::shuffle(v.begin(), v.end(), g);
  return v;
}

template <class F, class R, overflow Ov, class T>
mismatches array_vs_scalar(const std::vector<T>& xs) {
  std::vector<typename F::storage> out(xs.size() + 1, 0xA5);
  encode_array<F, R, Ov>(xs.data(), out.data(), xs.size());
  mismatches m;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const unsigned want = lowbit::encode<F, R, Ov>(xs[i]);
    if (out[i] != want)
      m.add("element " + std::to_string(i) + " input " + show(double(xs[i])) + ": array " + hex(out[i]) + ", scalar " + hex(want));
  }
  if (out[xs.size()] != 0xA5) m.add("wrote past the end");
  return m;
}

template <class F, class T>
void check_every_policy(const std::vector<T>& xs) {
  auto one = [&](auto r) {
    using R = decltype(r);
    INFO(std::string(rounding_name<R>()));
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<F, R, sat>(xs)));
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<F, R, prop>(xs)));
  };
  one(round_nearest_even{});
  one(round_half_away{});
  one(round_toward_zero{});
  one(round_down{});
  one(round_up{});
}

template <class F>
void check_encode_format(std::uint64_t seed) {
  INFO(std::string(F::name));
  check_every_policy<F>(cast_inputs<F>(std::size_t(1) << 17, seed));
}

// Every length from 0 to 3 lanes + 1 and every start offset within 4 bytes: the tail path and
// unaligned pointers give the scalar result and write nothing outside [out, out + n).
template <class F>
void check_lengths_and_offsets() {
  INFO(std::string(F::name));
  const std::vector<float> xs = cast_inputs<F>(4096, 99);
  constexpr std::size_t lanes = kernel::cast_detail::lanes;
  std::vector<std::uint8_t> out(3 * lanes + 16);
  std::vector<float> dec(3 * lanes + 16);
  mismatches m;
  for (std::size_t off = 0; off < 4; ++off) {
    for (std::size_t n = 0; n <= 3 * lanes + 1; ++n) {
      std::fill(out.begin(), out.end(), 0xA5);
      const float* in = xs.data() + 17 * n + off;
      encode_array<F>(in, out.data() + off, n);
      for (std::size_t i = 0; i < out.size(); ++i) {
        const bool inside = i >= off && i < off + n;
        if (inside && out[i] != lowbit::encode<F>(in[i - off])) m.add("encode n " + std::to_string(n) + " i " + std::to_string(i));
        if (!inside && out[i] != 0xA5) m.add("encode wrote outside, n " + std::to_string(n));
      }
      std::fill(dec.begin(), dec.end(), -7.0f);
      decode_array<F>(out.data() + off, dec.data() + off, n);
      for (std::size_t i = 0; i < dec.size(); ++i) {
        const bool inside = i >= off && i < off + n;
        if (inside && bits(dec[i]) != bits(lowbit::decode<F>(out[i]))) m.add("decode n " + std::to_string(n));
        if (!inside && dec[i] != -7.0f) m.add("decode wrote outside, n " + std::to_string(n));
      }
    }
  }
  LOWBIT_CHECK_NO_MISMATCH(m);
}

template <class F>
mismatches decode_vs_scalar() {
  // Every byte value (bits above F::bits included), several times over at odd offsets.
  std::vector<std::uint8_t> codes;
  for (int rep = 0; rep < 3; ++rep)
    for (unsigned c = 0; c < 256; ++c) codes.push_back(std::uint8_t(c * 37 + rep));  // a permutation
  codes.push_back(0x7F);
  std::vector<float> out(codes.size());
  decode_array<F>(codes.data(), out.data(), codes.size());
  mismatches m;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const float want = lowbit::decode<F>(codes[i]);
    if (bits(out[i]) != bits(want)) m.add("code " + hex(codes[i]) + ": array " + show(out[i]) + ", scalar " + show(want));
  }
  return m;
}
}  // namespace

TEST_CASE("kernel/cast: the formats the issue names take the SIMD path") {
  if (!kernel::cast_detail::have_simd) {
    MESSAGE("skipped: xsimd found no SIMD architecture; every path is the scalar one");
    return;
  }
  MESSAGE("xsimd architecture " << std::string(kernel::cast_detail::arch::name()) << ", " << kernel::cast_detail::lanes << " lanes");
  CHECK(kernel::simd_encode_v<float8_e4m3fn>);
  CHECK(kernel::simd_encode_v<float8_e5m2>);
  CHECK(kernel::simd_encode_v<float4_e2m1fn>);
  CHECK(kernel::simd_encode_v<lb::int8>);
  CHECK(kernel::simd_encode_v<float8_e3m4, round_toward_zero>);
  CHECK(kernel::simd_encode_v<lb::uint4, round_up>);
  CHECK(kernel::simd_decode_v<float8_e4m3fn>);
  CHECK(kernel::simd_decode_v<float8_e5m2>);
  CHECK(kernel::simd_decode_v<float4_e2m1fn>);
  CHECK(kernel::simd_decode_v<lb::int8>);
  CHECK(kernel::simd_decode_v<float8_ue4m3>);
  // ... and these run the scalar code (the documented fallbacks).
  CHECK_FALSE(kernel::simd_encode_v<float8_e4m3fn, round_stochastic>);
  CHECK_FALSE(kernel::simd_encode_v<float8_ue4m3>);
  CHECK_FALSE(kernel::simd_encode_v<float8_e8m0fnu, round_up>);
  CHECK_FALSE(kernel::simd_encode_v<nf4>);
  CHECK_FALSE(kernel::simd_encode_v<float16_format>);
  CHECK_FALSE(kernel::simd_decode_v<float8_e8m0fnu>);
  CHECK_FALSE(kernel::simd_decode_v<nf4>);
}

TEST_CASE("kernel/cast: encode_array equals the scalar encode for every SIMD format, rounding and policy") {
  check_encode_format<float8_e4m3fn>(101);
  check_encode_format<float8_e5m2>(102);
  check_encode_format<float8_e3m4>(103);
  check_encode_format<float6_e2m3fn>(104);
  check_encode_format<float6_e3m2fn>(105);
  check_encode_format<float4_e2m1fn>(106);
  check_encode_format<lb::int8>(107);
  check_encode_format<lb::uint8>(108);
  check_encode_format<lb::int4>(109);
  check_encode_format<lb::uint4>(110);
  check_encode_format<lb::int3>(111);
  check_encode_format<lb::int2>(112);
  check_encode_format<lb::uint2>(113);
}

TEST_CASE("kernel/cast: encode_array equals the scalar encode on the scalar fallbacks") {
  {
    const std::vector<float> xs = cast_inputs<float8_ue4m3>(1 << 14, 121);
    check_every_policy<float8_ue4m3>(xs);
  }
  {
    const std::vector<float> xs = cast_inputs<float8_e8m0fnu>(1 << 14, 122);
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<float8_e8m0fnu, round_up, sat>(xs)));
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<float8_e8m0fnu, round_toward_zero, prop>(xs)));
  }
  {
    const std::vector<float> xs = cast_inputs<nf4>(1 << 14, 123);
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<nf4, round_nearest_even, sat>(xs)));
  }
  {
    const std::vector<float> xs = random_floats(1 << 14, 65504, 124);
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<float16_format, round_nearest_even, prop>(xs)));
    LOWBIT_CHECK_NO_MISMATCH((array_vs_scalar<bfloat16_format, round_toward_zero, sat>(xs)));
  }
}

TEST_CASE("kernel/cast: bf16, fp16 and double inputs equal the scalar encode") {
  std::vector<Eigen::bfloat16> b(65536 + 5);
  std::vector<Eigen::half> h(65536 + 5);
  for (unsigned i = 0; i < b.size(); ++i) {
    b[i] = Eigen::numext::bit_cast<Eigen::bfloat16>(std::uint16_t(i * 40503u));  // every pattern
    h[i] = Eigen::numext::bit_cast<Eigen::half>(std::uint16_t(i * 40503u));
  }
  auto both = [&](auto f) {
    using F = decltype(f);
    INFO(std::string(F::name));
    check_every_policy<F>(b);
    check_every_policy<F>(h);
  };
  both(float8_e4m3fn{});
  both(float8_e5m2{});
  both(float4_e2m1fn{});
  both(lb::int8{});
  both(float8_ue4m3{});
  const std::vector<double> d = random_doubles(1 << 16, 448, 125);
  check_every_policy<float8_e4m3fn>(d);
  check_every_policy<lb::int4>(d);
}

TEST_CASE("kernel/cast: every length and unaligned start, encode and decode") {
  check_lengths_and_offsets<float8_e4m3fn>();
  check_lengths_and_offsets<float8_e5m2>();
  check_lengths_and_offsets<float4_e2m1fn>();
  check_lengths_and_offsets<lb::int8>();
  check_lengths_and_offsets<float8_e8m0fnu>();
}

TEST_CASE("kernel/cast: decode_array equals the scalar decode for every byte") {
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float8_e4m3fn>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float8_e5m2>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float8_e3m4>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float6_e2m3fn>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float6_e3m2fn>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float4_e2m1fn>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float8_ue4m3>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<float8_e8m0fnu>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<nf4>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::int8>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::uint8>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::int4>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::uint4>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::int2>());
  LOWBIT_CHECK_NO_MISMATCH(decode_vs_scalar<lb::uint2>());
  // 16-bit formats: every code.
  std::vector<std::uint16_t> c(65536);
  for (unsigned i = 0; i < 65536; ++i) c[i] = std::uint16_t(i);
  std::vector<float> out(c.size());
  decode_array<float16_format>(c.data(), out.data(), c.size());
  std::size_t bad = 0;
  for (unsigned i = 0; i < 65536; ++i) bad += bits(out[i]) != bits(lowbit::decode<float16_format>(c[i]));
  CHECK(bad == 0);
}

TEST_CASE("kernel/cast: stochastic encode_array is the scalar rule and independent of the split") {
  const std::vector<float> xs = cast_inputs<float8_e4m3fn>(1 << 16, 131);
  const std::size_t n = xs.size();
  const std::uint64_t seed = 7;
  std::vector<std::uint8_t> whole(n);
  encode_array<float8_e4m3fn, round_stochastic>(xs.data(), whole.data(), n, seed);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i)
    bad += whole[i] != lowbit::encode<float8_e4m3fn, round_stochastic>(xs[i], stochastic_bits(seed, i));
  CHECK(bad == 0);
  for (unsigned threads : {2u, 3u, 8u}) {  // chunks on threads, each passing its first index
    std::vector<std::uint8_t> split(n);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const std::size_t b = n * t / threads, e = n * (t + 1) / threads;
        encode_array<float8_e4m3fn, round_stochastic>(xs.data() + b, split.data() + b, e - b, seed, b);
      });
    for (auto& th : pool) th.join();
    CHECK(split == whole);
  }
  // Deterministic policies ignore the seed.
  std::vector<std::uint8_t> a(n), b(n);
  encode_array<lb::int8, round_nearest_even>(xs.data(), a.data(), n, seed, 123);
  encode_array<lb::int8>(xs.data(), b.data(), n);
  CHECK(a == b);
  // e8m0 with stochastic rounding (a scale format), same rule.
  std::vector<std::uint8_t> e(n);
  encode_array<float8_e8m0fnu, round_stochastic, prop>(xs.data(), e.data(), n, seed, 5);
  bad = 0;
  for (std::size_t i = 0; i < n; ++i)
    bad += e[i] != lowbit::encode<float8_e8m0fnu, round_stochastic, prop>(xs[i], stochastic_bits(seed, 5 + i));
  CHECK(bad == 0);
}

TEST_CASE("kernel/cast: all 2^32 floats, SIMD encode equals the scalar encode" * doctest::test_suite("slow")) {
  auto all = [](auto f, auto ov) {
    using F = decltype(f);
    constexpr overflow Ov = decltype(ov)::value;
    std::uint64_t bad = 0;
    LOWBIT_TEST_OMP("omp parallel for schedule(dynamic, 16) reduction(+ : bad)")
    for (std::int64_t hi = 0; hi < 65536; ++hi) {
      std::vector<float> in(65536);
      std::vector<std::uint8_t> out(65536);
      for (std::uint32_t lo = 0; lo < 65536; ++lo) in[lo] = f32((std::uint32_t(hi) << 16) | lo);
      encode_array<F, round_nearest_even, Ov>(in.data(), out.data(), 65536);
      for (std::uint32_t lo = 0; lo < 65536; ++lo) bad += out[lo] != lowbit::encode<F, round_nearest_even, Ov>(in[lo]);
    }
    return bad;
  };
  using S = std::integral_constant<overflow, sat>;
  using P = std::integral_constant<overflow, prop>;
  CHECK(all(float8_e4m3fn{}, S{}) == 0);
  CHECK(all(float8_e4m3fn{}, P{}) == 0);
  CHECK(all(float8_e5m2{}, S{}) == 0);
  CHECK(all(float8_e5m2{}, P{}) == 0);
  CHECK(all(float4_e2m1fn{}, S{}) == 0);
  CHECK(all(float8_e3m4{}, S{}) == 0);
  CHECK(all(float6_e2m3fn{}, S{}) == 0);
  CHECK(all(float6_e3m2fn{}, S{}) == 0);
  CHECK(all(lb::int8{}, S{}) == 0);
}
