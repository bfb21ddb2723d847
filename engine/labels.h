// Training labels: for each tick of one instrument, the forward mid log-return in basis points over a
// horizon of h ticks or h seconds (OutputSpec). NaN where the horizon runs past the end of the data.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/feature_spec.h"

namespace tickrt {

// times [T] event times (ns, non-decreasing), mids [T] the mid after each tick; writes y [T, H] row-major with
// H = outputs.size(), starting at column 0 with row stride `stride` (>= H).
void compute_labels(const std::vector<int64_t>& times, const std::vector<double>& mids,
                    const std::vector<OutputSpec>& outputs, float* y, int64_t stride);

}  // namespace tickrt
