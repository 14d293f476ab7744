// lowbit/rounding/traits.hpp — the Rounding concept.
//
// A rounding policy is an empty tag type R with
//   static constexpr bool is_stochastic;
//   static LOWBIT_HOST_DEVICE double apply(double v, uint32_t random_bits);
// apply() maps a real v (|v| < 2^52) to an integer-valued double. Formats call it on
// v = x / ulp(x), the input measured in units of the target's last place, so one policy
// serves every format. Deterministic policies ignore random_bits; stochastic ones use them
// (32 uniform bits, see stochastic.hpp for how callers derive them from a counter).
#pragma once

#include <cstdint>
#include <type_traits>

#include "../config.hpp"

namespace lowbit {

template <class R, class = void>
struct is_rounding : std::false_type {};
template <class R>
struct is_rounding<R, std::void_t<decltype(R::is_stochastic),
                                 decltype(R::apply(0.0, std::uint32_t{0}))>> : std::true_type {};
template <class R>
inline constexpr bool is_rounding_v = is_rounding<R>::value;

#if defined(LOWBIT_HAS_CONCEPTS)
template <class R>
concept Rounding = is_rounding_v<R>;
#endif

}  // namespace lowbit
