#include "cli/status_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/command_util.h"
#include "cli/progress.h"
#include "core/parse_number.h"
#include "core/policy/eviction_policy.h"

namespace kvc::cli {
namespace {

struct Pool {
    std::string dir;
    StatsLines stats;
    // From .errors (absent before daemons had it): refused control writes since the daemon
    // started, and the latest one's line.
    uint64_t rejected = 0;
    std::string last_rejected;

    std::string get(std::string_view key) const {
        for (const auto& [k, v] : stats)
            if (k == key) return v;
        return {};
    }
    uint64_t num(std::string_view key) const { return parseNumber<uint64_t>(get(key)).value_or(0); }
};

// A pool at `dir` with its .stats, and what its .errors says.
Pool readPool(const std::string& dir, StatsLines stats) {
    Pool p{dir, std::move(stats), 0, {}};
    auto errors = readWhole(dir + "/.errors");
    if (!errors) return p;
    const StatsLines lines = statsLines(*errors);
    for (const auto& [k, v] : lines)
        if (k == "rejected_total") p.rejected = parseNumber<uint64_t>(v).value_or(0);
    std::string_view text = *errors;
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    const size_t nl = text.rfind('\n');
    if (nl != std::string_view::npos) p.last_rejected = std::string(text.substr(nl + 1));
    return p;
}

// The pools PATH shows: every pool of a mount's root, or the pool PATH is.
Result<std::vector<Pool>> poolsAt(const std::string& path) {
    std::vector<Pool> pools;
    if (isMountRoot(path)) {
        auto names = listDir(path);
        if (!names) return names.error();
        for (const DirName& n : *names) {
            if (!n.is_dir) continue;
            auto stats = readStats(path + "/" + n.name);
            if (!stats) continue;  // removed since the listing
            pools.push_back(readPool(path + "/" + n.name, std::move(*stats)));
        }
        return pools;
    }
    auto stats = readStats(path);
    Pool p{path, stats ? std::move(*stats) : StatsLines{}, 0, {}};
    if (!stats || p.get("pool").empty())
        return makeError(EINVAL,
                         fmt::format("{} is neither a kvcachefs mount nor one of its pools", path));
    pools.push_back(readPool(path, std::move(p.stats)));
    return pools;
}

std::string percent(double ratio) {
    return fmt::format("{:.1f}%", ratio * 100);
}

std::string jsonString(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += fmt::format("\\{}", c);
        else if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else
            out += c;
    }
    return out + "\"";
}

// Every .stats line as a JSON member: numbers as numbers, anything else as a string.
std::string jsonPool(const Pool& p) {
    std::string out = "{\"dir\": " + jsonString(p.dir);
    for (const auto& [k, v] : p.stats) {
        const auto n = parseNumber<double>(v);
        const bool number = n && std::isfinite(*n);
        out += ", " + jsonString(k) + ": " + (number ? v : jsonString(v));
    }
    out += fmt::format(", \"rejected_writes\": {}", p.rejected);
    if (!p.last_rejected.empty()) out += ", \"last_rejected\": " + jsonString(p.last_rejected);
    return out + "}";
}

void printTable(const std::vector<Pool>& pools) {
    std::vector<std::vector<std::string>> rows = {{"POOL", "POLICY", "TIER", "SIZE", "USED", "FREE",
                                                   "USE%", "ENTRIES", "HIT%", "PREFIX%",
                                                   "EVICTED"}};
    for (const Pool& p : pools) {
        const uint64_t cap = p.num("capacity_bytes"), used = p.num("used_bytes");
        rows.push_back({p.get("pool"), p.get("policy"), p.get("tier"), humanBytes(cap),
                        humanBytes(used), humanBytes(p.num("free_bytes")),
                        percent(cap ? static_cast<double>(used) / static_cast<double>(cap) : 0),
                        p.get("entries"),
                        percent(parseNumber<double>(p.get("hit_ratio")).value_or(0)),
                        percent(parseNumber<double>(p.get("prefix_hit_ratio")).value_or(0)),
                        p.get("evictions")});
    }
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            // Names left-aligned, figures right-aligned.
            line += i < 3 ? fmt::format("{:<{}}", r[i], width[i])
                          : fmt::format("{:>{}}", r[i], width[i]);
            if (i + 1 < r.size()) line += "  ";
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        std::printf("%s\n", line.c_str());
    }
    // Why an `echo > .size` or a `setfattr` failed: the latest refusal of each pool.
    for (const Pool& p : pools)
        if (p.rejected)
            std::printf("%s\n", fmt::format("{}: {} refused write{}, the last: {}", p.get("pool"),
                                            p.rejected, p.rejected == 1 ? "" : "s", p.last_rejected)
                                    .c_str());
}

}  // namespace

int runStatus(const std::string& path, bool json) {
    auto pools = poolsAt(withoutTrailingSlash(path));
    if (!pools) return fail("status", pools.error().message);
    if (json) {
        std::string out = "{\"pools\": [";
        for (size_t i = 0; i < pools->size(); ++i) out += (i ? ", " : "") + jsonPool((*pools)[i]);
        std::printf("%s]}\n", out.c_str());
        return 0;
    }
    if (pools->empty()) {
        std::printf("%s: no pools (mkdir %s/NAME makes one)\n", path.c_str(), path.c_str());
        return 0;
    }
    printTable(*pools);
    return 0;
}

int runPolicies() {
    size_t width = 0;
    for (const PolicyUse& p : policyUses()) width = std::max(width, p.name.size());
    for (const PolicyUse& p : policyUses())
        std::printf("%s\n", fmt::format("{:<{}}  {}", p.name, width, p.use).c_str());
    return 0;
}

}  // namespace kvc::cli
