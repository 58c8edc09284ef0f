// Counters of a pool's lower tiers, and how `.stats` prints them.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace kvc {

// One tier's counters; updated from any thread.
struct TierCounters {
    std::atomic<uint64_t> hits{0};        // promotions asked of this tier that found the entry
    std::atomic<uint64_t> misses{0};      // ... that did not
    std::atomic<uint64_t> errors{0};      // failures: a node down or slow, a full disk tier
    std::atomic<uint64_t> corrupt{0};     // values that failed their checks (deleted)
    std::atomic<uint64_t> promotions{0};  // entries copied up into the pool from here
    std::atomic<uint64_t> demotions{0};   // entries stored here
    std::atomic<uint64_t> dropped{0};     // demotions dropped (queue full, or a failed store)
    std::atomic<uint64_t> retries{0};     // erases tried again after a failure
    std::atomic<uint64_t> stale{0};       // puts not stored: the tier holds a newer version
    std::atomic<uint64_t> bytes_up{0};
    std::atomic<uint64_t> bytes_down{0};
};

// A copy for reporting.
struct TierSnapshot {
    uint64_t hits = 0, misses = 0, errors = 0, corrupt = 0, promotions = 0, demotions = 0,
             dropped = 0, retries = 0, stale = 0, bytes_up = 0, bytes_down = 0;
    // Disk tier: its pool; remote: unused.
    uint64_t entries = 0, used_bytes = 0, capacity_bytes = 0;
};

TierSnapshot snapshotOf(const TierCounters& c);

struct TierStats {
    bool has_disk = false;
    bool has_remote = false;
    TierSnapshot disk;
    TierSnapshot remote;
    uint64_t queue_entries = 0;  // demotions (and removals) waiting or being stored
    uint64_t queue_bytes = 0;
    uint64_t queue_limit_bytes = 0;
    uint64_t queue_hits = 0;    // promotions served from the queue itself
    uint64_t tombstones = 0;    // removals kept in the pool's segment until the tiers confirm
    uint64_t remote_nodes = 0;  // masters the remote tier knows
};

// `tier.<name>.<field> value` lines (nothing when the pool has no lower tier).
std::string formatTierStats(const TierStats& s);

}  // namespace kvc
