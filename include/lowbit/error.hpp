// lowbit/error.hpp — how lowbit reports failures.
//
//  * impossible policy combination -> static_assert("lowbit: ...")
//  * bad runtime input (shape, empty, NaN/Inf, corrupt file) -> throws lowbit::error
//    whose message says what failed and where (function, file:line)
//  * numerical outcome of an algorithm -> lowbit::info in its result, never a silent NaN
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lowbit {

// Thrown for bad runtime input. what() = "lowbit: <where>: <message>".
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error("lowbit: " + message) {}
};

// Outcome of a numerical routine (Eigen's ComputationInfo style).
enum class info {
  success,             // computed as asked
  fallback,            // a documented fallback was taken (see the routine's docs)
  numerical_issue,     // could not be computed; outputs hold the documented fallback
};

inline const char* to_string(info i) {
  switch (i) {
    case info::success: return "success";
    case info::fallback: return "fallback";
    case info::numerical_issue: return "numerical_issue";
  }
  return "unknown";
}

namespace detail {
template <class... Args>
[[noreturn]] inline void throw_error(const char* func, const char* file, int line, const Args&... args) {
  std::ostringstream os;
  os << func << ": ";
  (os << ... << args);
  os << " [" << file << ":" << line << "]";
  throw error(os.str());
}
}  // namespace detail
}  // namespace lowbit

// LOWBIT_CHECK(cond, message parts...) — throws lowbit::error naming the calling function.
#define LOWBIT_CHECK(cond, ...)                                                       \
  do {                                                                                \
    if (!(cond)) ::lowbit::detail::throw_error(__func__, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
