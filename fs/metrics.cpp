// Prometheus text format (version 0.0.4): one HELP/TYPE block per metric, one sample per pool.
#include "fs/metrics.h"

#include <functional>

#include <fmt/format.h>

namespace kvc::fs {
namespace {

struct Metric {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const PoolStats&)> value;
};

double ratio(uint64_t a, uint64_t b) { return b ? double(a) / double(b) : 0.0; }

}  // namespace

std::string formatMetrics(const std::vector<PoolStats>& pools) {
    const Metric metrics[] = {
        {"kvcachefs_capacity_bytes", "gauge", "Pool capacity.",
         [](const PoolStats& s) { return double(s.capacity_bytes); }},
        {"kvcachefs_used_bytes", "gauge", "Bytes of the pool's blocks in use.",
         [](const PoolStats& s) { return double(s.used_bytes); }},
        {"kvcachefs_entries", "gauge", "Entries in the pool.",
         [](const PoolStats& s) { return double(s.entries); }},
        {"kvcachefs_pinned_bytes", "gauge", "Bytes held by pinned entries.",
         [](const PoolStats& s) { return double(s.pinned_bytes); }},
        {"kvcachefs_hits_total", "counter", "Reads and .match names found in the pool.",
         [](const PoolStats& s) { return double(s.counters.hits); }},
        {"kvcachefs_misses_total", "counter", "Lookups and .match names not found.",
         [](const PoolStats& s) { return double(s.counters.misses); }},
        {"kvcachefs_hit_ratio", "gauge", "hits / (hits + misses).",
         [](const PoolStats& s) {
             return ratio(s.counters.hits, s.counters.hits + s.counters.misses);
         }},
        {"kvcachefs_prefix_hit_ratio", "gauge",
         "Blocks in the leading cached run of .match requests / blocks requested.",
         [](const PoolStats& s) { return ratio(s.counters.match_leading, s.counters.match_blocks); }},
        {"kvcachefs_evictions_total", "counter", "Entries evicted.",
         [](const PoolStats& s) { return double(s.counters.evictions); }},
        {"kvcachefs_evicted_bytes_total", "counter", "Bytes of entries evicted.",
         [](const PoolStats& s) { return double(s.counters.evicted_bytes); }},
    };
    std::string out;
    for (const Metric& m : metrics) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const PoolStats& s : pools)
            out += fmt::format("{}{{pool=\"{}\",policy=\"{}\"}} {}\n", m.name, s.name, s.policy,
                               m.value(s));
    }
    return out;
}

}  // namespace kvc::fs
