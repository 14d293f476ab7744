// tests/support/lcg.hpp — the generator of tests/algo/make_*_golden.py (class Lcg), so a test can
// rebuild the scripts' inputs bit for bit: s ← s·6364136223846793005 + 1442695040888963407 (mod 2^64),
// next = s >> 33; integer(lo, hi) = lo + next mod (hi − lo + 1).
#pragma once

#include <cstdint>

namespace lowbit_test {

struct lcg {
  std::uint64_t s;
  std::uint64_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return s >> 33;
  }
  long integer(long lo, long hi) { return lo + long(next() % std::uint64_t(hi - lo + 1)); }
};

}  // namespace lowbit_test
