#include "core/latency.h"

#include <algorithm>

namespace kvc {

void LatencyHistogram::record(uint64_t ns) {
    const auto at = std::lower_bound(kLatencyBoundsNs.begin(), kLatencyBoundsNs.end(), ns);
    buckets_[static_cast<size_t>(at - kLatencyBoundsNs.begin())].fetch_add(
        1, std::memory_order_relaxed);
    sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

LatencySnapshot LatencyHistogram::snapshot() const {
    LatencySnapshot s;
    // The count is the buckets' total, so that it always equals the +Inf bucket; the sum may
    // miss or hold a sample recorded meanwhile.
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < buckets_.size(); ++i) {
        s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
        s.count += s.buckets[i];
    }
    return s;
}

}  // namespace kvc
