// Proof of lowbit/rounding/directed.hpp: each policy's defining inequalities on random and
// edge doubles (the formats' use of them is proven in tests/format against the reference
// encoder and CUDA's toward-zero / up conversions).
#include <lowbit/rounding/directed.hpp>
#include <lowbit/rounding/traits.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <doctest/doctest.h>

using namespace lowbit;

TEST_CASE("rounding/directed: toward zero, down and up meet their definitions") {
  std::vector<double> v = {0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 0.9999999999999999, -0.9999999999999999,
                           1e-300, -1e-300, 0x1p52 + 1, -0x1p52 - 1, 1e300, -1e300};
  std::mt19937_64 g(92);
  std::uniform_real_distribution<double> u(-1000, 1000);
  for (int i = 0; i < 100000; ++i) v.push_back(u(g));
  int bad = 0;
  for (double x : v) {
    const double z = round_toward_zero::apply(x), d = round_down::apply(x), up = round_up::apply(x);
    for (double r : {z, d, up})
      if (r != std::floor(r)) ++bad;  // integer-valued
    // r + 1 and r - 1 are exact for integers below 2^52 (beyond, every double is an integer).
    const bool small = std::fabs(x) < 0x1p52;
    if (!(std::fabs(z) <= std::fabs(x) && (!small || std::fabs(x) < std::fabs(z) + 1))) ++bad;
    if (!(d <= x && (!small || x < d + 1))) ++bad;
    if (!(up >= x && (!small || up - 1 < x))) ++bad;
    if (x == std::floor(x) && !(z == x && d == x && up == x)) ++bad;  // integers stay
  }
  CHECK(bad == 0);
  CHECK(round_toward_zero::apply(-2.7) == -2.0);
  CHECK(round_down::apply(-2.2) == -3.0);
  CHECK(round_up::apply(-2.7) == -2.0);
  CHECK(round_up::apply(2.2, 0xFFFFFFFFu) == 3.0);  // random bits ignored
  CHECK(is_rounding_v<round_toward_zero>);
  CHECK(is_rounding_v<round_down>);
  CHECK(is_rounding_v<round_up>);
  CHECK_FALSE(round_up::is_stochastic);
}
