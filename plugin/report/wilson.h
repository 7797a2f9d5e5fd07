// Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998, method 3):
// well behaved near 0 and 1 and for small n, unlike the Wald interval.
#pragma once

#include <cstdint>

namespace sdoh::report {

struct Interval {
  double low = 0;
  double high = 0;
};

inline constexpr double kZ95 = 1.959963984540054;  // two-sided 95%

// REQUIRES: n > 0 and 0 <= x <= n.
Interval WilsonInterval(int64_t x, int64_t n, double z = kZ95);

}  // namespace sdoh::report
