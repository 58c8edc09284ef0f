// Control files: the table of names, their content, and what a write to each one does.
#include "fs/control_files.h"

#include <array>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/control_requests.h"
#include "core/names.h"
#include "core/reject_log.h"
#include "core/size.h"
#include "core/text.h"
#include "fs/filesystem.h"
#include "fs/log.h"
#include "fs/metrics.h"

namespace kvc::fs {
namespace {

constexpr std::array<ControlFile, 8> kControls{{
    {".stats", ControlKind::RootStats, 2, 0444, true},
    {".metrics", ControlKind::RootMetrics, 3, 0444, true},
    {".stats", ControlKind::Stats, 2, 0444, false},
    {".policy", ControlKind::Policy, 3, 0644, false},
    {".evict", ControlKind::Evict, 4, 0644, false},
    {".size", ControlKind::Size, 5, 0644, false},
    {".match", ControlKind::Match, 6, 0666, false},
    {".errors", ControlKind::Errors, 7, 0444, false},
}};

// Every control file of a pool is a name core/ keeps free of entries.
constexpr bool poolNamesReserved() {
    for (const auto& c : kControls) {
        if (c.root_level) continue;
        bool reserved = false;
        for (std::string_view n : kPoolControlNames) reserved = reserved || n == c.name;
        if (!reserved) return false;
    }
    return true;
}
static_assert(poolNamesReserved(), "a pool control file's name is missing in kPoolControlNames");

std::string evictReport(const EvictReport& r) {
    return fmt::format("evicted_entries {}\nevicted_bytes {}\n", r.entries, r.bytes);
}

}  // namespace

const ControlFile* findControl(bool root_level, std::string_view name) {
    for (const auto& c : kControls)
        if (c.root_level == root_level && c.name == name) return &c;
    return nullptr;
}

const ControlFile* controlByLocal(bool root_level, EntryId local) {
    for (const auto& c : kControls)
        if (c.root_level == root_level && c.local == local) return &c;
    return nullptr;
}

Result<std::string> Filesystem::controlContent(uint32_t pool, const ControlFile& file) {
    if (file.root_level) {
        std::vector<PoolStats> all;
        std::vector<std::pair<std::string, TierStats>> tiers;
        for (const auto& slot : pools()) {
            all.push_back(slot->pool->stats());
            if (slot->tiers) tiers.emplace_back(slot->name, slot->tiers->stats());
        }
        if (file.kind == ControlKind::RootMetrics) return formatMetrics(all, tiers);
        PoolStats total;
        for (const auto& s : all) total = sumStats(total, s);
        // Pools whose segments were refused at start: `refused.NAME ERRNO` (the log says why).
        std::string refused = fmt::format("pools_refused {}\n", refusedPools().size());
        for (const RefusedPool& r : refusedPools())
            refused += fmt::format("refused.{} {}\n", r.name,
                                   strerrorname_np(r.code) ? strerrorname_np(r.code) : "EIO");
        return fmt::format("pools {}\n", all.size()) + refused + formatStats(total);
    }
    auto slot = poolByIndex(pool);
    if (!slot) return makeError(ENOENT, "pool was deleted");
    Pool& p = *slot->pool;
    switch (file.kind) {
        case ControlKind::Stats:
            return formatStats(p.stats()) +
                   (slot->tiers ? formatTierStats(slot->tiers->stats()) : std::string());
        case ControlKind::Policy:
            return p.policyName() + "\n";
        case ControlKind::Evict:
            return evictReport(p.lastEviction());
        case ControlKind::Size:
            return fmt::format("{}\n", p.capacityBytes());
        case ControlKind::Match:
            return std::string();
        case ControlKind::Errors:
            return formatRejections(slot->rejects.recent(), slot->rejects.total());
        default:
            return std::string();
    }
}

Result<std::string> Filesystem::controlWrite(uint32_t pool, const ControlFile& file,
                                             std::string_view data) {
    auto slot = poolByIndex(pool);
    if (file.root_level || !slot) return makeError(EACCES, "read-only control file");
    Pool& p = *slot->pool;
    // `.policy` and `.size`: a word or a size with surrounding whitespace (`echo` adds a
    // newline).
    const std::string_view v = trim(data);
    switch (file.kind) {
        case ControlKind::Policy: {
            if (auto st = p.setPolicy(v); !st) return st.error();
            log(LogLevel::Info, "pool {}: policy is now {}", slot->name, p.policyName());
            return p.policyName() + "\n";
        }
        case ControlKind::Evict: {
            auto req = parseEvictRequest(data);
            if (!req) return req.error();
            auto r = req->by_percent ? p.evictPercent(req->percent) : p.evictUntilFree(req->bytes);
            if (!r) return r.error();
            log(LogLevel::Info, "pool {}: evicted {} entries ({} bytes) on request", slot->name,
                r->entries, r->bytes);
            return evictReport(*r);
        }
        case ControlKind::Size: {
            auto bytes = parseSize(v);
            if (!bytes) return bytes.error();
            if (auto st = p.resize(*bytes); !st) return st.error();
            log(LogLevel::Info, "pool {}: capacity is now {}", slot->name, p.capacityBytes());
            return fmt::format("{}\n", p.capacityBytes());
        }
        default:
            return makeError(EACCES, "read-only control file");
    }
}

Result<std::string> Filesystem::matchAnswer(uint32_t pool,
                                            const std::vector<std::string_view>& names) {
    auto slot = poolByIndex(pool);
    if (!slot) return makeError(ENOENT, "the pool is gone");
    auto r = slot->pool->match(kPoolRootId, names);
    if (!r) return r.error();
    std::string out = fmt::format("{}\n", r->leading);
    for (size_t i = 0; i < r->cached.size(); ++i) out += r->cached[i] ? '1' : '0';
    out += '\n';
    return out;
}

ControlHandles::~ControlHandles() {
    for (ControlHandle* h : live_) delete h;
}

ControlHandle* ControlHandles::add(std::unique_ptr<ControlHandle> h) {
    std::lock_guard lk(mutex_);
    live_.insert(h.get());
    return h.release();
}

void ControlHandles::remove(ControlHandle* h) {
    {
        std::lock_guard lk(mutex_);
        live_.erase(h);
    }
    delete h;
}

}  // namespace kvc::fs
