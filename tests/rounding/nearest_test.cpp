// Proof of lowbit/rounding/nearest.hpp against the C library (nearbyint in the default
// environment, round), over ties, near-ties and random doubles, and in every rounding mode
// of the floating-point environment.
#include <lowbit/rounding/nearest.hpp>
#include <lowbit/rounding/traits.hpp>

#include <cfenv>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;

namespace {
std::vector<double> nearest_inputs() {
  std::vector<double> v = {0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994,
                           -0.49999999999999994, 0.5000000000000001, 1e-300, -1e-300, 4.9e-324,
                           0x1p52, 0x1p52 + 1, 0x1p52 - 0.5, -0x1p52 - 1, 0x1p53 + 2, 1e300, -1e300};
  for (int k = -4096; k <= 4096; ++k) {
    const double t = k + 0.5;
    v.push_back(t);
    v.push_back(std::nextafter(t, 1e9));
    v.push_back(std::nextafter(t, -1e9));
  }
  std::mt19937_64 g(91);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  std::uniform_real_distribution<double> small(-4, 4);
  for (int i = 0; i < 200000; ++i) {
    v.push_back(u(g));
    v.push_back(small(g));
    std::uint64_t b = g();
    double d;
    std::memcpy(&d, &b, 8);
    if (std::isfinite(d)) v.push_back(d);
  }
  return v;
}

// Counts inputs where round_nearest_even differs from nearbyint (evaluated in the default
// mode) or round_half_away from std::round; the policies run in the current mode.
int count_differences(const std::vector<double>& v, const std::vector<double>& rne, const std::vector<double>& rha) {
  int bad = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (round_nearest_even::apply(v[i]) != rne[i]) ++bad;
    if (round_half_away::apply(v[i]) != rha[i]) ++bad;
  }
  return bad;
}
}  // namespace

TEST_CASE("rounding/nearest: nearest-even is nearbyint and half-away is std::round, for every double") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  const std::vector<double> v = nearest_inputs();
  std::vector<double> rne(v.size()), rha(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    rne[i] = std::nearbyint(v[i]);
    rha[i] = std::round(v[i]);
  }
  CHECK(count_differences(v, rne, rha) == 0);
  // Hand-worked: ties, and the largest double below one half (where floor(|v| + 0.5) fails).
  CHECK(round_nearest_even::apply(2.5) == 2.0);
  CHECK(round_nearest_even::apply(3.5) == 4.0);
  CHECK(round_nearest_even::apply(-2.5) == -2.0);
  CHECK(round_half_away::apply(2.5) == 3.0);
  CHECK(round_half_away::apply(-2.5) == -3.0);
  CHECK(round_half_away::apply(0.49999999999999994) == 0.0);
  CHECK(round_half_away::apply(-0.49999999999999994) == 0.0);
  CHECK(round_nearest_even::apply(-0.49999999999999994) == 0.0);
  CHECK(round_half_away::apply(0x1p52 + 1) == 0x1p52 + 1);
  // Both ignore the random bits.
  CHECK(round_nearest_even::apply(2.5, 0xFFFFFFFFu) == 2.0);
  CHECK(round_half_away::apply(2.4, 0xFFFFFFFFu) == 2.0);
  CHECK_FALSE(round_nearest_even::is_stochastic);
  CHECK(is_rounding_v<round_nearest_even>);
  CHECK(is_rounding_v<round_half_away>);
  CHECK_FALSE(is_rounding_v<int>);
}

TEST_CASE("rounding/nearest: the result does not depend on the floating-point rounding mode") {
  const std::vector<double> v = nearest_inputs();
  std::vector<double> rne(v.size()), rha(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    rne[i] = std::nearbyint(v[i]);
    rha[i] = std::round(v[i]);
  }
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    REQUIRE(std::fesetround(mode) == 0);
    const int bad = count_differences(v, rne, rha);
    std::fesetround(FE_TONEAREST);
    CHECK_MESSAGE(bad == 0, "mode " << mode);
  }
}
