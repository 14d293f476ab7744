// tests/support/error_of.hpp — the message of the lowbit::error a call throws.
#pragma once

#include <lowbit/error.hpp>

#include <string>

namespace lowbit_test {

// What f() throws as lowbit::error, or "" when it returns (other exceptions propagate).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const lowbit::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace lowbit_test
