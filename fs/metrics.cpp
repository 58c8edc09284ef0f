// Prometheus text format (version 0.0.4): one HELP/TYPE block per metric, one sample per pool.
#include "fs/metrics.h"

#include <functional>

#include <fmt/format.h>

#include "core/clock.h"

namespace kvc::fs {
namespace {

struct Metric {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const PoolStats&)> value;
};

// The process's start, taken when the daemon's statics are made.
const int64_t kStartNs = nowNs();

// Per pool and tier: kvcachefs_tier_*{pool="...",tier="disk"|"remote"}.
std::string formatTierMetrics(const std::vector<std::pair<std::string, TierStats>>& tiers) {
    struct TierMetric {
        const char* name;
        const char* type;
        const char* help;
        uint64_t TierSnapshot::*field;
    };
    const TierMetric metrics[] = {
        {"kvcachefs_tier_entries", "gauge", "Entries in the tier (disk only).",
         &TierSnapshot::entries},
        {"kvcachefs_tier_used_bytes", "gauge", "Bytes used in the tier (disk only).",
         &TierSnapshot::used_bytes},
        {"kvcachefs_tier_hits_total", "counter",
         "Promotions asked of the tier that found the entry.", &TierSnapshot::hits},
        {"kvcachefs_tier_misses_total", "counter", "Promotions asked of the tier that did not.",
         &TierSnapshot::misses},
        {"kvcachefs_tier_errors_total", "counter",
         "Failed tier operations (node down or slow, full).", &TierSnapshot::errors},
        {"kvcachefs_tier_corrupt_total", "counter", "Values that failed their checks (deleted).",
         &TierSnapshot::corrupt},
        {"kvcachefs_tier_promotions_total", "counter", "Entries copied up from the tier.",
         &TierSnapshot::promotions},
        {"kvcachefs_tier_demotions_total", "counter", "Entries stored in the tier.",
         &TierSnapshot::demotions},
        {"kvcachefs_tier_dropped_demotions_total", "counter",
         "Demotions to the tier dropped (queue full or store failed).", &TierSnapshot::dropped},
        {"kvcachefs_tier_erase_retries_total", "counter",
         "Erases of obsolete lower copies tried again after a failure.", &TierSnapshot::retries},
        {"kvcachefs_tier_stale_puts_total", "counter",
         "Copies not stored: the tier held a newer version.", &TierSnapshot::stale},
        {"kvcachefs_tier_bytes_up_total", "counter", "Bytes promoted from the tier.",
         &TierSnapshot::bytes_up},
        {"kvcachefs_tier_bytes_down_total", "counter", "Bytes demoted to the tier.",
         &TierSnapshot::bytes_down},
    };
    std::string out;
    if (tiers.empty()) return out;
    for (const TierMetric& m : metrics) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const auto& [pool, t] : tiers) {
            if (t.has_disk)
                out += fmt::format("{}{{pool=\"{}\",tier=\"disk\"}} {}\n", m.name, pool,
                                   t.disk.*m.field);
            if (t.has_remote)
                out += fmt::format("{}{{pool=\"{}\",tier=\"remote\"}} {}\n", m.name, pool,
                                   t.remote.*m.field);
        }
    }
    out +=
        "# HELP kvcachefs_tier_queue_bytes Demotions waiting, in bytes.\n"
        "# TYPE kvcachefs_tier_queue_bytes gauge\n";
    for (const auto& [pool, t] : tiers)
        out += fmt::format("kvcachefs_tier_queue_bytes{{pool=\"{}\"}} {}\n", pool, t.queue_bytes);
    out +=
        "# HELP kvcachefs_tier_queue_entries Demotions and removals waiting or being stored.\n"
        "# TYPE kvcachefs_tier_queue_entries gauge\n";
    for (const auto& [pool, t] : tiers)
        out +=
            fmt::format("kvcachefs_tier_queue_entries{{pool=\"{}\"}} {}\n", pool, t.queue_entries);
    return out;
}

// The `le` label of a bucket bound: seconds, shortest exact form ("1e-06", "0.0025", "1").
std::string boundLabel(uint64_t ns) {
    return fmt::format("{}", double(ns) / 1e9);
}

// Per pool: kvcachefs_<op>_duration_seconds histograms.
std::string formatLatencyMetrics(const std::vector<PoolStats>& pools) {
    struct Histogram {
        const char* name;
        const char* help;
        LatencySnapshot PoolLatencySnapshot::*field;
    };
    const Histogram histograms[] = {
        {"kvcachefs_read_duration_seconds",
         "Time to serve a read of an entry's bytes (FUSE read to its reply, data path load).",
         &PoolLatencySnapshot::read},
        {"kvcachefs_write_duration_seconds",
         "Time to take a write of an entry's bytes (FUSE write, data path store).",
         &PoolLatencySnapshot::write},
        {"kvcachefs_match_duration_seconds",
         "Time to answer a .match request, lower-tier promotions included.",
         &PoolLatencySnapshot::match},
        {"kvcachefs_eviction_duration_seconds",
         "Time of an eviction pass: room made for a write, or an .evict request.",
         &PoolLatencySnapshot::evict},
    };
    std::string out;
    for (const Histogram& h : histograms) {
        out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", h.name, h.help, h.name);
        for (const PoolStats& s : pools) {
            const LatencySnapshot& l = s.latency.*h.field;
            uint64_t cumulative = 0;
            for (size_t i = 0; i < kLatencyBoundsNs.size(); ++i) {
                cumulative += l.buckets[i];
                out += fmt::format("{}_bucket{{pool=\"{}\",le=\"{}\"}} {}\n", h.name, s.name,
                                   boundLabel(kLatencyBoundsNs[i]), cumulative);
            }
            out +=
                fmt::format("{}_bucket{{pool=\"{}\",le=\"+Inf\"}} {}\n", h.name, s.name, l.count);
            out +=
                fmt::format("{}_sum{{pool=\"{}\"}} {}\n", h.name, s.name, double(l.sum_ns) / 1e9);
            out += fmt::format("{}_count{{pool=\"{}\"}} {}\n", h.name, s.name, l.count);
        }
    }
    return out;
}

}  // namespace

std::string formatMetrics(const std::vector<PoolStats>& pools,
                          const std::vector<std::pair<std::string, TierStats>>& tiers) {
    // Series carry the pool alone: what may change (the policy) or never does (the tier) is in
    // kvcachefs_pool_info, so that switching a pool's policy starts no new series. Ratios are
    // left to queries over the counters (an all-time ratio hides what happens now).
    const Metric metrics[] = {
        {"kvcachefs_capacity_bytes", "gauge", "Pool capacity.",
         [](const PoolStats& s) { return double(s.capacity_bytes); }},
        {"kvcachefs_used_bytes", "gauge", "Bytes of the pool's blocks in use.",
         [](const PoolStats& s) { return double(s.used_bytes); }},
        {"kvcachefs_resident_bytes", "gauge", "Memory (or disk) the pool's segment really uses.",
         [](const PoolStats& s) { return double(s.resident_bytes); }},
        {"kvcachefs_retained_bytes", "gauge",
         "Free blocks the segment keeps backed, for the next writes to reuse.",
         [](const PoolStats& s) { return double(s.retained_bytes); }},
        {"kvcachefs_mapped_bytes", "gauge",
         "Blocks the daemon has mapped, which it copies at memory speed.",
         [](const PoolStats& s) { return double(s.mapped_bytes); }},
        {"kvcachefs_entries", "gauge", "Entries in the pool.",
         [](const PoolStats& s) { return double(s.entries); }},
        {"kvcachefs_open_entries", "gauge", "Entries open or mapped somewhere.",
         [](const PoolStats& s) { return double(s.open_entries); }},
        {"kvcachefs_pinned_bytes", "gauge", "Bytes held by pinned entries.",
         [](const PoolStats& s) { return double(s.pinned_bytes); }},
        {"kvcachefs_hits_total", "counter", "Reads and .match names found in the pool.",
         [](const PoolStats& s) { return double(s.counters.hits); }},
        {"kvcachefs_misses_total", "counter", "Lookups and .match names not found.",
         [](const PoolStats& s) { return double(s.counters.misses); }},
        {"kvcachefs_match_requests_total", "counter", ".match requests answered.",
         [](const PoolStats& s) { return double(s.counters.match_requests); }},
        {"kvcachefs_match_blocks_total", "counter", "Names asked in .match requests.",
         [](const PoolStats& s) { return double(s.counters.match_blocks); }},
        {"kvcachefs_match_blocks_hit_total", "counter", "Names .match found cached.",
         [](const PoolStats& s) { return double(s.counters.match_hits); }},
        {"kvcachefs_match_prefix_blocks_total", "counter",
         "Names in the leading cached run of .match requests (the prefix hit).",
         [](const PoolStats& s) { return double(s.counters.match_leading); }},
        {"kvcachefs_checksum_failures_total", "counter",
         "Entries dropped because their bytes failed their checksum.",
         [](const PoolStats& s) { return double(s.counters.checksum_failures); }},
        {"kvcachefs_evictions_total", "counter", "Entries evicted.",
         [](const PoolStats& s) { return double(s.counters.evictions); }},
        {"kvcachefs_evicted_bytes_total", "counter", "Bytes of entries evicted.",
         [](const PoolStats& s) { return double(s.counters.evicted_bytes); }},
    };
    std::string out = fmt::format(
        "# HELP kvcachefs_build_info The daemon's version.\n"
        "# TYPE kvcachefs_build_info gauge\n"
        "kvcachefs_build_info{{version=\"{}\"}} 1\n"
        "# HELP kvcachefs_start_time_seconds When the daemon started, in seconds since the "
        "epoch.\n"
        "# TYPE kvcachefs_start_time_seconds gauge\n"
        "kvcachefs_start_time_seconds {:.3f}\n",
        KVCACHEFS_VERSION, double(kStartNs) / 1e9);
    out +=
        "# HELP kvcachefs_pool_info A pool's eviction policy and tier (always 1).\n"
        "# TYPE kvcachefs_pool_info gauge\n";
    for (const PoolStats& s : pools)
        out += fmt::format("kvcachefs_pool_info{{pool=\"{}\",policy=\"{}\",tier=\"{}\"}} 1\n",
                           s.name, s.policy, s.tier);
    for (const Metric& m : metrics) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const PoolStats& s : pools)
            out += fmt::format("{}{{pool=\"{}\"}} {}\n", m.name, s.name, m.value(s));
    }
    return out + formatLatencyMetrics(pools) + formatTierMetrics(tiers);
}

}  // namespace kvc::fs
