// The root `.metrics` file: pool statistics in the Prometheus text exposition format.
#pragma once

#include <string>
#include <vector>

#include "core/stats.h"
#include "core/tiers/tier_stats.h"

namespace kvc::fs {

// `tiers`: the lower tiers of the pools that have them, by pool name.
std::string formatMetrics(const std::vector<PoolStats>& pools,
                          const std::vector<std::pair<std::string, TierStats>>& tiers);

}  // namespace kvc::fs
