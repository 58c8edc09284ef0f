// Tier counters: copies for reporting and the `.stats` lines.
#include "core/tiers/tier_stats.h"

#include <fmt/format.h>

namespace kvc {

TierSnapshot snapshotOf(const TierCounters& c) {
    TierSnapshot s;
    s.hits = c.hits;
    s.misses = c.misses;
    s.errors = c.errors;
    s.corrupt = c.corrupt;
    s.promotions = c.promotions;
    s.demotions = c.demotions;
    s.dropped = c.dropped;
    s.retries = c.retries;
    s.stale = c.stale;
    s.bytes_up = c.bytes_up;
    s.bytes_down = c.bytes_down;
    return s;
}

namespace {

void appendTier(std::string& out, std::string_view name, const TierSnapshot& t, bool sized) {
    auto line = [&](std::string_view field, uint64_t v) {
        out += fmt::format("tier.{}.{} {}\n", name, field, v);
    };
    if (sized) {
        line("entries", t.entries);
        line("used_bytes", t.used_bytes);
        line("capacity_bytes", t.capacity_bytes);
    }
    line("hits", t.hits);
    line("misses", t.misses);
    line("errors", t.errors);
    line("corrupt", t.corrupt);
    line("promotions", t.promotions);
    line("demotions", t.demotions);
    line("dropped_demotions", t.dropped);
    line("erase_retries", t.retries);
    line("stale_puts", t.stale);
    line("bytes_up", t.bytes_up);
    line("bytes_down", t.bytes_down);
}

}  // namespace

std::string formatTierStats(const TierStats& s) {
    std::string out;
    if (!s.has_disk && !s.has_remote) return out;
    out += fmt::format("tier.queue.entries {}\n", s.queue_entries);
    out += fmt::format("tier.queue.bytes {}\n", s.queue_bytes);
    out += fmt::format("tier.queue.limit_bytes {}\n", s.queue_limit_bytes);
    out += fmt::format("tier.queue.hits {}\n", s.queue_hits);
    out += fmt::format("tier.queue.tombstones {}\n", s.tombstones);
    if (s.has_disk) appendTier(out, "disk", s.disk, true);
    if (s.has_remote) {
        appendTier(out, "remote", s.remote, false);
        out += fmt::format("tier.remote.nodes {}\n", s.remote_nodes);
    }
    return out;
}

}  // namespace kvc
