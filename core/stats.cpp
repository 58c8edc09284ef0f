// Printing of pool statistics as `name value` lines.
#include "core/stats.h"

#include <fmt/format.h>

namespace kvc {

std::string formatStats(const PoolStats& s) {
    const PoolCounters& c = s.counters;
    const uint64_t asked = c.hits + c.misses;
    const double hit_ratio = asked ? double(c.hits) / double(asked) : 0.0;
    const double prefix_ratio =
        c.match_blocks ? double(c.match_leading) / double(c.match_blocks) : 0.0;
    std::string out;
    auto line = [&](std::string_view k, auto v) { out += fmt::format("{} {}\n", k, v); };
    if (!s.name.empty()) line("pool", s.name);
    line("policy", s.policy.empty() ? "-" : s.policy);
    if (!s.tier.empty()) line("tier", s.tier);
    line("capacity_bytes", s.capacity_bytes);
    line("used_bytes", s.used_bytes);
    line("free_bytes", s.free_bytes);
    line("block_size", s.block_size);
    line("blocks_total", s.blocks_total);
    line("blocks_used", s.blocks_used);
    line("entries", s.entries);
    line("directories", s.directories);
    line("symlinks", s.symlinks);
    line("special_files", s.special_files);
    line("max_entries", s.max_entries);
    line("open_entries", s.open_entries);
    line("pinned_bytes", s.pinned_bytes);
    line("pin_budget_bytes", s.pin_budget_bytes);
    line("resident_bytes", s.resident_bytes);
    line("retained_bytes", s.retained_bytes);
    line("mapped_bytes", s.mapped_bytes);
    line("hits", c.hits);
    line("misses", c.misses);
    line("hit_ratio", fmt::format("{:.4f}", hit_ratio));
    line("evictions", c.evictions);
    line("evicted_bytes", c.evicted_bytes);
    line("match_requests", c.match_requests);
    line("blocks_requested", c.match_blocks);
    line("blocks_hit", c.match_hits);
    line("prefix_blocks_hit", c.match_leading);
    line("prefix_hit_ratio", fmt::format("{:.4f}", prefix_ratio));
    line("checksum_failures", c.checksum_failures);
    return out;
}

PoolStats sumStats(const PoolStats& a, const PoolStats& b) {
    PoolStats s = a;
    s.name.clear();
    s.policy.clear();
    s.tier.clear();
    s.capacity_bytes += b.capacity_bytes;
    s.used_bytes += b.used_bytes;
    s.free_bytes += b.free_bytes;
    s.block_size = 0;
    s.blocks_total += b.blocks_total;
    s.blocks_used += b.blocks_used;
    s.entries += b.entries;
    s.directories += b.directories;
    s.symlinks += b.symlinks;
    s.special_files += b.special_files;
    s.max_entries += b.max_entries;
    s.open_entries += b.open_entries;
    s.pinned_bytes += b.pinned_bytes;
    s.pin_budget_bytes += b.pin_budget_bytes;
    s.resident_bytes += b.resident_bytes;
    s.retained_bytes += b.retained_bytes;
    s.mapped_bytes += b.mapped_bytes;
    s.latency = {};  // not summed: .metrics has them per pool
    s.counters.hits += b.counters.hits;
    s.counters.misses += b.counters.misses;
    s.counters.evictions += b.counters.evictions;
    s.counters.evicted_bytes += b.counters.evicted_bytes;
    s.counters.match_requests += b.counters.match_requests;
    s.counters.match_blocks += b.counters.match_blocks;
    s.counters.match_hits += b.counters.match_hits;
    s.counters.match_leading += b.counters.match_leading;
    s.counters.checksum_failures += b.counters.checksum_failures;
    return s;
}

}  // namespace kvc
