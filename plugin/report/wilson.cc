#include "plugin/report/wilson.h"

#include <algorithm>
#include <cmath>

namespace sdoh::report {

Interval WilsonInterval(int64_t x, int64_t n, double z) {
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(x) / nn;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double center = (p + z2 / (2.0 * nn)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

}  // namespace sdoh::report
