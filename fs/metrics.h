// The root `.metrics` file: pool statistics in the Prometheus text exposition format.
#pragma once

#include <string>
#include <vector>

#include "core/stats.h"

namespace kvc::fs {

std::string formatMetrics(const std::vector<PoolStats>& pools);

}  // namespace kvc::fs
