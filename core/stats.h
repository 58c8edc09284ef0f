// PoolStats: what `.stats` and `.metrics` report for a pool, and how it is printed.
#pragma once

#include <cstdint>
#include <string>

#include "core/latency.h"

namespace kvc {

// Counters kept since the pool was attached.
struct PoolCounters {
    uint64_t hits = 0;    // opens for reading and .match names found
    uint64_t misses = 0;  // lookups and .match names not found
    uint64_t evictions = 0;
    uint64_t evicted_bytes = 0;
    uint64_t match_requests = 0;     // .match calls
    uint64_t match_blocks = 0;       // names asked in .match
    uint64_t match_hits = 0;         // names found cached in .match
    uint64_t match_leading = 0;      // names in the leading cached run of .match
    uint64_t checksum_failures = 0;  // entries dropped: their bytes failed their checksum
    uint64_t lookup_underflows = 0;  // forget() of more references than were held (a bug)
};

struct PoolStats {
    std::string name;
    std::string policy;
    std::string tier;  // where the segment lives: "cpu" (shared memory) or "disk" (a file)
    uint64_t capacity_bytes = 0;
    uint64_t used_bytes = 0;
    uint64_t free_bytes = 0;
    uint32_t block_size = 0;
    uint64_t blocks_total = 0;
    uint64_t blocks_used = 0;
    uint64_t entries = 0;
    uint64_t directories = 0;
    uint64_t symlinks = 0;
    uint64_t special_files = 0;  // FIFOs, sockets, device nodes
    uint64_t max_entries = 0;
    uint64_t pinned_bytes = 0;
    uint64_t pin_budget_bytes = 0;
    uint64_t open_entries = 0;
    uint64_t resident_bytes = 0;  // memory (or disk) the segment really uses
    uint64_t retained_bytes = 0;  // free blocks still backed, kept for the next writes
    uint64_t mapped_bytes = 0;    // blocks the daemon has mapped: copied at memory speed
    PoolCounters counters;
    PoolLatencySnapshot latency;  // for .metrics, not in .stats
};

// `name value` lines, one per field, in a fixed order.
std::string formatStats(const PoolStats& s);
// Sum over pools (the root `.stats`).
PoolStats sumStats(const PoolStats& a, const PoolStats& b);

}  // namespace kvc
