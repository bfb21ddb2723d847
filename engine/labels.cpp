#include "engine/labels.h"

#include <cmath>
#include <limits>

namespace tickrt {

void compute_labels(const std::vector<int64_t>& times, const std::vector<double>& mids,
                    const std::vector<OutputSpec>& outputs, float* y, int64_t stride) {
  const int64_t T = static_cast<int64_t>(mids.size());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t h = 0; h < outputs.size(); ++h) {
    const OutputSpec& o = outputs[h];
    if (o.units == HorizonUnits::ticks) {
      const int64_t n = static_cast<int64_t>(o.horizon);
      for (int64_t t = 0; t < T; ++t)
        y[t * stride + h] = t + n < T ? static_cast<float>(1e4 * std::log(mids[t + n] / mids[t])) : nan;
    } else {
      // Mid at the last tick with time <= t + horizon; NaN when the data ends before t + horizon.
      const int64_t horizon_ns = static_cast<int64_t>(o.horizon * 1e9);
      int64_t j = 0;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t target = times[t] + horizon_ns;
        if (j < t) j = t;
        while (j + 1 < T && times[j + 1] <= target) ++j;
        y[t * stride + h] = times[T - 1] >= target ? static_cast<float>(1e4 * std::log(mids[j] / mids[t])) : nan;
      }
    }
  }
}

}  // namespace tickrt
