// Latency histograms of a pool's operations (read, write, .match, eviction), kept in the
// daemon's memory since the pool was attached, for `.metrics` (Prometheus histograms).
//
// Recording is lock-free: one relaxed atomic add for the bucket and one for the sum, after two
// reads of the monotonic clock (about 25 ns each here).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>

namespace kvc {

// Upper bounds of the buckets, in nanoseconds (1-2.5-5 steps from 1 µs to 2.5 s); samples above
// the last fall in +Inf.
inline constexpr std::array<uint64_t, 19> kLatencyBoundsNs{
    1'000,      2'500,       5'000,       10'000,        25'000,       50'000,     100'000,
    250'000,    500'000,     1'000'000,   2'500'000,     5'000'000,    10'000'000, 25'000'000,
    50'000'000, 100'000'000, 250'000'000, 1'000'000'000, 2'500'000'000};

// A copy of one histogram: per-bucket counts (not cumulative; the last is +Inf), the sum of the
// samples in nanoseconds and their number.
struct LatencySnapshot {
    std::array<uint64_t, kLatencyBoundsNs.size() + 1> buckets{};
    uint64_t sum_ns = 0;
    uint64_t count = 0;
};

class LatencyHistogram {
  public:
    void record(uint64_t ns);
    LatencySnapshot snapshot() const;

  private:
    std::array<std::atomic<uint64_t>, kLatencyBoundsNs.size() + 1> buckets_{};
    std::atomic<uint64_t> sum_ns_{0};
};

// The operations a pool times.
struct PoolLatency {
    LatencyHistogram read;   // a read of an entry's bytes (FUSE read, data path load)
    LatencyHistogram write;  // a write of an entry's bytes (FUSE write, data path store)
    LatencyHistogram match;  // a .match request (or a data path existence check)
    LatencyHistogram evict;  // an eviction pass: room made for a write, or an .evict request
};

struct PoolLatencySnapshot {
    LatencySnapshot read, write, match, evict;
};

inline uint64_t monotonicNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Records the time from its construction to its destruction.
class LatencyTimer {
  public:
    explicit LatencyTimer(LatencyHistogram& h) : h_(h), start_(monotonicNs()) {}
    ~LatencyTimer() { h_.record(monotonicNs() - start_); }
    LatencyTimer(const LatencyTimer&) = delete;
    LatencyTimer& operator=(const LatencyTimer&) = delete;

  private:
    LatencyHistogram& h_;
    uint64_t start_;
};

}  // namespace kvc
