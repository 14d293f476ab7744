// tests/format/format_oracle.hpp — shared by the format, rounding and kernel tests.
//
//  * bit helpers and sample generators: every code, every midpoint between neighbouring
//    codes (and the overflow midpoint above the largest) each ±1 ulp, specials, random
//    inputs (random bit patterns and random values around the format's range);
//  * reference_encode: an encoder written independently of format/minifloat.hpp (sorted
//    table of decoded values + exact midpoint comparisons) for every deterministic rounding;
//  * the ml_dtypes golden file reader (tests/format/data/ml_dtypes_golden.txt);
//  * mismatch counting over a sample or over all 2^32 float bit patterns (OpenMP if
//    available), reporting the first few mismatches instead of one CHECK per input.
#pragma once

#include <lowbit/lowbit.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#if defined(LOWBIT_HAVE_CUDA_ORACLE)
#include <cuda_fp4.h>
#include <cuda_fp6.h>
#include <cuda_fp8.h>
#endif

#if defined(_OPENMP)
#include <omp.h>
#define LOWBIT_TEST_OMP(x) _Pragma(x)
#else
#define LOWBIT_TEST_OMP(x)
#endif

namespace lowbit_test {

// Random sample sizes shrink 8x under AddressSanitizer, where the quick suite also runs.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t sample_divisor = 8;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::size_t sample_divisor = 8;
#else
constexpr std::size_t sample_divisor = 1;
#endif
#else
constexpr std::size_t sample_divisor = 1;
#endif
constexpr std::size_t samples(std::size_t n) { return n / sample_divisor; }

inline float f32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline double f64(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}
inline std::uint64_t bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
// double -> float without undefined behaviour beyond the float range (±inf there, as IEEE).
inline float to_float(double d) {
  if (d > double(FLT_MAX) * (1 + 0x1p-24)) return INFINITY;
  if (d < -double(FLT_MAX) * (1 + 0x1p-24)) return -INFINITY;
  return float(d);
}
inline float from_half_bits(std::uint16_t h) { return float(Eigen::numext::bit_cast<Eigen::half>(h)); }
inline float from_bf16_bits(std::uint16_t h) { return float(Eigen::numext::bit_cast<Eigen::bfloat16>(h)); }

inline std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}
inline std::string show(double x) {
  std::ostringstream os;
  os.precision(17);
  os << x << " (" << hex(bits(x)) << ")";
  return os.str();
}
inline std::string show(float x) {
  std::ostringstream os;
  os.precision(9);
  os << x << " (" << hex(bits(x)) << ")";
  return os.str();
}

// Codes of F as unsigned, every code 0 .. 2^bits-1.
template <class F>
constexpr unsigned code_count() {
  return 1u << F::bits;
}

// Finite decoded values of F, sorted and unique as doubles (+0 and -0 collapse).
template <class F>
std::vector<double> finite_values() {
  std::vector<double> v;
  for (unsigned c = 0; c < code_count<F>(); ++c) {
    const float x = lowbit::decode<F>(typename F::storage(c));
    if (std::isfinite(x)) v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// The value one ulp above max_value if the exponent range went on (the overflow boundary
// lies halfway to it): max + 2^(emax - M) for minifloats, 2·max for e8m0, max + 1 for ints.
template <class F>
double virtual_next_above_max() {
  if constexpr (F::kind == lowbit::format_kind::minifloat)
    return F::max_value + std::ldexp(1.0, F::max_exponent - F::mantissa_bits);
  else if constexpr (F::kind == lowbit::format_kind::power_of_two)
    return 2.0 * F::max_value;
  else
    return F::max_value + 1.0;
}

// Inputs where rounding decides: every value, every midpoint between neighbours (both signs),
// the overflow midpoint, each exactly and one ulp of T either side; then specials.
template <class F, class T = float>
std::vector<T> boundary_inputs() {
  std::vector<double> v = finite_values<F>();
  const std::size_t n = v.size();
  for (std::size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::vector<double> pts = v;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) pts.push_back((v[i] + v[i + 1]) / 2);
  const double top = virtual_next_above_max<F>();
  pts.push_back((F::max_value + top) / 2);
  pts.push_back(-(F::max_value + top) / 2);
  pts.push_back(top);
  pts.push_back(-top);
  std::vector<T> out;
  constexpr T inf = std::numeric_limits<T>::infinity();
  for (double p : pts) {
    T t;
    if constexpr (std::is_same_v<T, float>) t = to_float(p);
    else t = T(p);
    if (double(t) != p) continue;  // not representable in T (never for float or double)
    out.push_back(t);
    out.push_back(std::nextafter(t, inf));
    out.push_back(std::nextafter(t, -inf));
  }
  for (T s : {T(0), T(-0.0), inf, -inf, std::numeric_limits<T>::quiet_NaN(),
              -std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::denorm_min(),
              -std::numeric_limits<T>::denorm_min(), std::numeric_limits<T>::min(),
              -std::numeric_limits<T>::min(), std::numeric_limits<T>::max(),
              -std::numeric_limits<T>::max(), T(1e30), T(-1e30)})
    out.push_back(s);
  if constexpr (std::is_same_v<T, float>) {
    for (std::uint32_t u : {0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0xFFC00001u, 0x007FFFFFu, 0x80400000u})
      out.push_back(f32(u));  // signalling NaNs, a NaN payload, denormals
  }
  return out;
}

// n random float inputs (n/8 under sanitizers): half uniform bit patterns (every class: NaN, inf, denormals, huge),
// half uniform values in [-2·max, 2·max] (dense where the format has codes).
inline std::vector<float> random_floats(std::size_t n, double max_value, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-2.0 * max_value, 2.0 * max_value);
  n = samples(n);
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = (i & 1) ? to_float(u(g)) : f32(std::uint32_t(g()));
  return out;
}

// Random doubles the same way, plus log-uniform magnitudes over the format's whole range
// (so that subnormals and every binade are hit with 53-bit mantissas).
inline std::vector<double> random_doubles(std::size_t n, double max_value, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-2.0 * max_value, 2.0 * max_value);
  std::uniform_real_distribution<double> lg(std::log2(max_value) - 40.0, std::log2(max_value) + 2.0);
  n = samples(n);
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0: out[i] = f64(g()); break;
      case 1: out[i] = u(g); break;
      default: out[i] = ((g() & 1) ? -1.0 : 1.0) * std::exp2(lg(g)); break;
    }
  }
  return out;
}

// ---- mismatch counting -------------------------------------------------------------------

struct mismatches {
  std::uint64_t count = 0;
  std::vector<std::string> first;  // up to 8 described mismatches
  void add(std::string what) {
    ++count;
    if (first.size() < 8) first.push_back(std::move(what));
  }
  std::string describe() const {
    std::string s = std::to_string(count) + " mismatches";
    for (const auto& f : first) s += "\n    " + f;
    return s;
  }
};

// Compares got(x) with want(x) (both integer codes) for every x of xs.
template <class T, class Got, class Want>
mismatches compare_codes(const std::vector<T>& xs, Got got, Want want) {
  mismatches m;
  for (const T& x : xs) {
    const unsigned g = unsigned(got(x)), w = unsigned(want(x));
    if (g != w) m.add("input " + show(x) + ": lowbit " + hex(g) + ", oracle " + hex(w));
  }
  return m;
}

// Calls pred(u) for every 32-bit pattern u (in parallel where OpenMP is available) and
// collects the patterns where it is false. pred must be thread-safe.
template <class Pred>
mismatches all_u32(Pred pred) {
  mismatches m;
  std::uint64_t count = 0;
  std::vector<std::uint32_t> firsts;
  LOWBIT_TEST_OMP("omp parallel for schedule(dynamic, 16) reduction(+ : count)")
  for (std::int64_t hi = 0; hi < 65536; ++hi) {
    std::vector<std::uint32_t> local;
    for (std::uint32_t lo = 0; lo < 65536; ++lo) {
      const std::uint32_t u = (std::uint32_t(hi) << 16) | lo;
      if (!pred(u)) {
        ++count;
        if (local.size() < 8) local.push_back(u);
      }
    }
    if (!local.empty()) {
      LOWBIT_TEST_OMP("omp critical")
      firsts.insert(firsts.end(), local.begin(), local.end());
    }
  }
  std::sort(firsts.begin(), firsts.end());
  for (std::size_t i = 0; i < firsts.size() && i < 8; ++i) m.first.push_back("input bits " + hex(firsts[i]));
  m.count = count;
  return m;
}

#define LOWBIT_CHECK_NO_MISMATCH(expr)                     \
  do {                                                     \
    const ::lowbit_test::mismatches m_ = (expr);           \
    CHECK_MESSAGE(m_.count == 0, m_.describe());           \
  } while (0)

// ---- an independent reference encoder ------------------------------------------------------
//
// Finite x only. Works on |x| against the sorted table of F's non-negative finite values
// (from decode) extended by the virtual value above max (virtual_next_above_max): lo <= |x| <
// hi are the neighbours; the policy picks one by exact comparisons with (lo + hi)/2; ties to
// even pick the even code. Landing on the virtual value is overflow. Then the sign.

enum class ref_mode { nearest_even, half_away, toward_zero, down, up };

template <class R>
constexpr ref_mode mode_of() {
  if constexpr (std::is_same_v<R, lowbit::round_nearest_even>) return ref_mode::nearest_even;
  else if constexpr (std::is_same_v<R, lowbit::round_half_away>) return ref_mode::half_away;
  else if constexpr (std::is_same_v<R, lowbit::round_toward_zero>) return ref_mode::toward_zero;
  else if constexpr (std::is_same_v<R, lowbit::round_down>) return ref_mode::down;
  else return ref_mode::up;
}

template <class R>
const char* rounding_name() {
  switch (mode_of<R>()) {
    case ref_mode::nearest_even: return "round_nearest_even";
    case ref_mode::half_away: return "round_half_away";
    case ref_mode::toward_zero: return "round_toward_zero";
    case ref_mode::down: return "round_down";
    case ref_mode::up: return "round_up";
  }
  return "?";
}

template <class F>
struct value_table {
  std::vector<double> value;   // ascending, non-negative, plus the virtual value last
  std::vector<unsigned> code;  // matching codes; the virtual one is max_code + 1
  value_table() {
    std::map<double, unsigned> m;
    for (unsigned c = 0; c < code_count<F>(); ++c) {
      const float v = lowbit::decode<F>(typename F::storage(c));
      if (std::isfinite(v) && !std::signbit(v) && !m.count(v)) m[v] = c;
    }
    for (auto& [v, c] : m) {
      value.push_back(v);
      code.push_back(c);
    }
    value.push_back(virtual_next_above_max<F>());
    code.push_back(code.back() + 1);
  }
  static const value_table& get() {
    static const value_table t;
    return t;
  }
};

// Returns the code, or -1 for overflow (the caller applies the overflow policy).
template <class F>
long reference_magnitude(double a, bool neg, ref_mode mode) {
  const auto& t = value_table<F>::get();
  const auto& v = t.value;
  if (a >= v.back()) return -1;
  const std::size_t i = std::size_t(std::upper_bound(v.begin(), v.end(), a) - v.begin()) - 1;  // v[i] <= a
  if (v[i] == a) return long(t.code[i]);
  const std::size_t j = i + 1;  // a < v[j]
  const double mid = (v[i] + v[j]) / 2;  // exact: few significant bits
  bool up = false;
  switch (mode) {
    case ref_mode::nearest_even: up = a > mid || (a == mid && (t.code[j] & 1u) == 0); break;
    case ref_mode::half_away: up = a >= mid; break;
    case ref_mode::toward_zero: up = false; break;
    case ref_mode::down: up = neg; break;   // toward -inf: larger magnitude when negative
    case ref_mode::up: up = !neg; break;
  }
  const std::size_t k = up ? j : i;
  if (k == v.size() - 1) return -1;
  return long(t.code[k]);
}

// Reference code for finite x in a signed minifloat or an unsigned one with x >= 0.
template <class F, class R, lowbit::overflow Ov>
unsigned reference_encode(double x) {
  const bool neg = std::signbit(x);
  const long c = reference_magnitude<F>(std::fabs(x), neg, mode_of<R>());
  unsigned mag;
  if (c >= 0) mag = unsigned(c);
  else if (Ov == lowbit::overflow::saturate || !F::has_nan) mag = F::max_code;
  else mag = F::has_inf ? F::inf_code : F::magnitude_mask;
  return mag | (neg ? F::sign_mask : 0u);
}

// ---- generic checks shared by the format test files ---------------------------------------

template <class F, class R, lowbit::overflow Ov, class T>
mismatches reference_mismatches(const std::vector<T>& xs) {
  mismatches m;
  for (const T& x : xs) {
    if (!std::isfinite(x)) continue;
    if (!F::is_signed && std::signbit(x)) continue;  // unsigned formats: own rule, own test
    const unsigned got = lowbit::encode<F, R, Ov>(x), want = reference_encode<F, R, Ov>(double(x));
    if (got != want) m.add("input " + show(x) + ": lowbit " + hex(got) + ", reference " + hex(want));
  }
  return m;
}

// encode == reference_encode for every deterministic rounding and both overflow policies.
template <class F, class T>
void check_every_rounding_against_reference(const std::vector<T>& xs) {
  using namespace lowbit;
  auto both = [&](auto r) {
    using R = decltype(r);
    INFO(std::string(rounding_name<R>()));
    LOWBIT_CHECK_NO_MISMATCH((reference_mismatches<F, R, overflow::saturate>(xs)));
    LOWBIT_CHECK_NO_MISMATCH((reference_mismatches<F, R, overflow::propagate>(xs)));
  };
  both(round_nearest_even{});
  both(round_half_away{});
  both(round_toward_zero{});
  both(round_down{});
  both(round_up{});
}

// The spec card of a minifloat agrees with its own decode: max, min subnormal, min normal,
// strictly increasing magnitudes, sign symmetry, and the number of NaN / inf codes.
template <class F>
void check_minifloat_card(unsigned nan_codes, unsigned inf_codes) {
  using namespace lowbit;
  using S = typename F::storage;
  CHECK(decode<F>(S(F::max_code)) == F::max_value);
  CHECK(decode<F>(S(1)) == F::min_positive);
  CHECK(decode<F>(S(1u << F::mantissa_bits)) == F::min_normal);
  CHECK(F::min_positive == std::ldexp(1.0, 1 - F::bias - F::mantissa_bits));
  CHECK(decode<F>(S(unsigned(F::emax_pow2 + F::bias) << F::mantissa_bits)) == std::ldexp(1.0, F::emax_pow2));
  unsigned nans = 0, infs = 0;
  float prev = -1.0f;
  for (unsigned c = 0; c < code_count<F>(); ++c) {
    const float v = decode<F>(S(c));
    if (std::isnan(v)) ++nans;
    if (std::isinf(v)) ++infs;
    const unsigned mag = c & F::magnitude_mask;
    if (F::is_signed && (c & F::sign_mask)) {
      const float p = decode<F>(S(mag));
      CHECK((std::isnan(v) ? std::isnan(p) : bits(v) == (bits(p) | 0x80000000u)));
    } else if (mag <= F::max_code) {
      CHECK_MESSAGE(v > prev, "code " << hex(c));  // codes ascend with their values
      prev = v;
    }
  }
  CHECK(nans == nan_codes);
  CHECK(infs == inf_codes);
}

// Every finite code is a fixed point of encode(decode(.)) under every rounding and policy.
template <class F>
void check_codes_round_trip() {
  using namespace lowbit;
  mismatches m;
  for (unsigned c = 0; c < code_count<F>(); ++c) {
    const float v = decode<F>(typename F::storage(c));
    if (!std::isfinite(v)) continue;
    const unsigned r[] = {encode<F, round_nearest_even>(v), encode<F, round_half_away>(v),
                          encode<F, round_toward_zero>(v), encode<F, round_down>(v), encode<F, round_up>(v),
                          encode<F, round_nearest_even, overflow::propagate>(v),
                          encode<F, round_stochastic>(v, 0xFFFFFFFFu), encode<F>(double(v))};
    for (unsigned x : r)
      if (x != c) m.add("code " + hex(c) + " -> " + show(v) + " -> " + hex(x));
  }
  LOWBIT_CHECK_NO_MISMATCH(m);
}

// ---- ml_dtypes golden file -----------------------------------------------------------------

struct golden_format {
  int bits = 0;
  std::vector<std::uint32_t> decode;                           // float bits per code
  std::vector<std::pair<std::uint32_t, unsigned>> encode;      // (float bits, code)
};

inline std::string golden_path() {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of("/\\")) + "/data/ml_dtypes_golden.txt";
}

inline const std::map<std::string, golden_format>& golden() {
  static const std::map<std::string, golden_format> g = [] {
    std::map<std::string, golden_format> out;
    std::ifstream in(golden_path());
    REQUIRE_MESSAGE(in.good(), "cannot read " << golden_path());
    std::string line, cur;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "format") {
        ls >> cur;
        ls >> out[cur].bits;
      } else if (tag == "decode") {
        std::string w;
        while (ls >> w) out[cur].decode.push_back(std::uint32_t(std::stoul(w, nullptr, 16)));
      } else if (tag == "encode") {
        std::string w;
        while (ls >> w) {
          const auto colon = w.find(':');
          out[cur].encode.emplace_back(std::uint32_t(std::stoul(w.substr(0, colon), nullptr, 16)),
                                       unsigned(std::stoul(w.substr(colon + 1), nullptr, 16)));
        }
      }
    }
    return out;
  }();
  return g;
}

inline const golden_format& golden(const std::string& name) {
  const auto& g = golden();
  const auto it = g.find(name);
  REQUIRE_MESSAGE(it != g.end(), "format " << name << " missing from " << golden_path());
  REQUIRE(it->second.decode.size() == (1u << it->second.bits));
  REQUIRE(it->second.encode.size() > 100);
  return it->second;
}

// Decodes of every code agree with ml_dtypes (NaN: both NaN).
template <class F>
mismatches golden_decode_mismatches(const std::string& name) {
  const golden_format& g = golden(name);
  mismatches m;
  for (unsigned c = 0; c < g.decode.size(); ++c) {
    const float got = lowbit::decode<F>(typename F::storage(c)), want = f32(g.decode[c]);
    const bool same = std::isnan(want) ? std::isnan(got) : bits(got) == bits(want);
    if (!same) m.add("code " + hex(c) + ": lowbit " + show(got) + ", ml_dtypes " + show(want));
  }
  return m;
}

// Encodes agree with ml_dtypes for every golden input that skip(x) does not set aside (the
// documented differences, each tested on its own); counts the inputs compared in *compared.
template <class F, class R, lowbit::overflow Ov, class Skip>
mismatches golden_encode_mismatches(const std::string& name, Skip skip, std::size_t* compared) {
  const golden_format& g = golden(name);
  mismatches m;
  *compared = 0;
  for (const auto& [u, want] : g.encode) {
    const float x = f32(u);
    if (skip(x)) continue;
    ++*compared;
    const unsigned got = lowbit::encode<F, R, Ov>(x);
    if (got != want) m.add("input " + show(x) + ": lowbit " + hex(got) + ", ml_dtypes " + hex(want));
  }
  return m;
}

// Every 16-bit pattern of bf16 (IsBf16) or fp16 as an encode input, against oracle(bits).
template <class F, class R, lowbit::overflow Ov, bool IsBf16, class Oracle>
mismatches all_16bit_inputs(Oracle oracle) {
  mismatches m;
  for (unsigned b = 0; b < 65536; ++b) {
    unsigned got;
    if constexpr (IsBf16) got = lowbit::encode<F, R, Ov>(Eigen::numext::bit_cast<Eigen::bfloat16>(std::uint16_t(b)));
    else got = lowbit::encode<F, R, Ov>(Eigen::numext::bit_cast<Eigen::half>(std::uint16_t(b)));
    const unsigned want = unsigned(oracle(std::uint16_t(b)));
    if (got != want)
      m.add(std::string(IsBf16 ? "bf16 " : "fp16 ") + hex(b) + ": lowbit " + hex(got) + ", oracle " + hex(want));
  }
  return m;
}

// One conversion against an oracle that takes float (of), double (od), bf16 bits (ob) and
// fp16 bits (oh); pass nullptr for an input type the oracle lacks. Inputs: every code and
// boundary (float and double, so ±1 double ulp too), specials, n_random random floats and
// n_random/4 random doubles, every bf16 and fp16 pattern.
template <class F, class R, lowbit::overflow Ov, class OF, class OD, class OB, class OH>
void check_against_oracle(OF of, OD od, OB ob, OH oh, std::size_t n_random, std::uint64_t seed) {
  auto enc = [](auto x) { return lowbit::encode<F, R, Ov>(x); };
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(boundary_inputs<F>(), enc, of));
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(random_floats(n_random, F::max_value, seed), enc, of));
  // Double NaN inputs are left out: CUDA's double paths keep the NaN's sign (and for e5m2 a
  // payload bit), unlike its float paths; lowbit gives every NaN the one code of the float
  // path (tested in each format's "special inputs" case).
  auto no_nan = [](std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double d) { return std::isnan(d); }), v.end());
    return v;
  };
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(no_nan(boundary_inputs<F, double>()), enc, od));
  LOWBIT_CHECK_NO_MISMATCH(compare_codes(no_nan(random_doubles(n_random / 4, F::max_value, seed + 1)), enc, od));
  if constexpr (!std::is_same_v<OB, std::nullptr_t>) LOWBIT_CHECK_NO_MISMATCH((all_16bit_inputs<F, R, Ov, true>(ob)));
  if constexpr (!std::is_same_v<OH, std::nullptr_t>) LOWBIT_CHECK_NO_MISMATCH((all_16bit_inputs<F, R, Ov, false>(oh)));
}

// All 2^32 float inputs against a float oracle.
template <class F, class R, lowbit::overflow Ov, class OF>
mismatches all_floats_against(OF of) {
  return all_u32([&](std::uint32_t u) {
    const float x = f32(u);
    return unsigned(lowbit::encode<F, R, Ov>(x)) == unsigned(of(x));
  });
}

#if defined(LOWBIT_HAVE_CUDA_ORACLE)
// CUDA's host conversions, one code per call.
inline unsigned cuda_fp8(float x, __nv_saturation_t s, __nv_fp8_interpretation_t i) {
  return __nv_cvt_float_to_fp8(x, s, i);
}
inline float cuda_fp8_decode(unsigned c, __nv_fp8_interpretation_t i) {
  return from_half_bits(__half_raw(__nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(c), i)).x);
}
inline __half_raw half_raw(std::uint16_t b) {
  __half_raw r;
  r.x = b;
  return r;
}
inline __nv_bfloat16_raw bf16_raw(std::uint16_t b) {
  __nv_bfloat16_raw r;
  r.x = b;
  return r;
}
#endif

}  // namespace lowbit_test

// In the #else branch of a CUDA-oracle test: says why it checked nothing (it still passes).
#define LOWBIT_NO_CUDA_ORACLE() \
  MESSAGE("skipped: cuda_fp8.h/cuda_fp6.h/cuda_fp4.h not found, no CUDA host-conversion oracle")
