// examples/tinyllama/parse_int.hpp — an integer command-line value, checked.
#pragma once

#include <lowbit/error.hpp>

#include <cstdlib>
#include <string>

namespace tinyllama {

// The integer s, which must lie in lo..hi; otherwise a lowbit::error naming `flag`.
inline int parse_int(const std::string& flag, const char* s, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  LOWBIT_CHECK(end != s && *end == '\0' && v >= lo && v <= hi, flag, " expects an integer in ", lo, "..", hi,
               ", got '", s, "'");
  return static_cast<int>(v);
}

}  // namespace tinyllama
