// Pool cache control: making room for writes, eviction on request, policy switching, resizing,
// `.match`, stats. Which entries are candidates is CandidateSet's (core/candidate_set.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/excerpt.h"
#include "core/lower_tiers.h"
#include "core/pool.h"
#include "core/record_codec.h"

namespace kvc {

void Pool::settleChains() {
    for (Inode* ino : candidates_->settleChains()) persist(ino);
}

void Pool::expirePins() {
    for (Inode* ino : candidates_->expirePins(nowNs())) persist(ino);
}

uint64_t Pool::pinnedBytes() const {
    uint64_t bytes = 0;
    for (const auto& [id, ino] : index_)
        if (ino->pinned) bytes += ino->blocks * segment_->blockSize();
    return bytes;
}

// Evicts the policy's next victim: its names go at once (the front end is told), its blocks
// when the last open of it closes.
bool Pool::evictOne(EvictReport& report) {
    Inode* ino = candidates_->takeVictim();
    if (!ino) return false;
    offerDemotion(*ino);
    // What it gave back: a sparse entry's holes took no room (docs/ARCHITECTURE.md).
    const uint64_t bytes = std::min<uint64_t>(ino->size, ino->blocks * blockSize());
    counters_.evictions++;
    counters_.evicted_bytes += bytes;
    report.entries++;
    report.bytes += bytes;
    forgetEntry(ino);
    return true;
}

void Pool::forgetEntry(Inode* ino) {
    ino->evicted = true;
    const std::vector<std::pair<EntryId, uint64_t>> names = ino->names;
    for (auto [dir_id, slot] : names) {
        Inode* dir = index_.find(dir_id);
        const std::string name = dir->by_slot.at(slot).name;
        dropName(dir, name, true);
        persist(dir);
    }
    records_->clearInode(ino->slot);
    maybeFree(ino);
}

Status Pool::makeRoom(uint64_t blocks, Inode* requester) {
    expirePins();
    if (blocks > allocator_->blockCount())
        return makeError(ENOSPC, fmt::format("pool {}: {} blocks requested, the pool has {}", name_,
                                             blocks, allocator_->blockCount()));
    if (allocator_->freeBlocks() >= blocks) return {};
    LatencyTimer timed(latency_.evict);
    // The requester is usually open for writing and so no candidate, but not always (a large
    // xattr on a closed entry): keep it out of the policy while evicting, or it could evict
    // itself and leave the caller with a nameless, possibly freed inode.
    const bool was_candidate = requester && requester->in_policy;
    if (was_candidate) candidates_->leave(requester);
    EvictReport report;
    Status st;
    while (allocator_->freeBlocks() < blocks) {
        if (!evictOne(report)) {
            st = makeError(ENOSPC, fmt::format("pool {} is full and nothing can be evicted "
                                               "(pinned, open for writing or chain parents)",
                                               name_));
            break;
        }
    }
    if (was_candidate) candidates_->refresh(requester);
    return st;
}

std::string Pool::policyName() {
    std::lock_guard lk(meta_);
    return std::string(candidates_->policy().name());
}

Status Pool::setPolicy(std::string_view name) {
    auto next = makePolicy(name);
    if (!next) return makeError(EINVAL, "unknown policy " + excerpt(name));
    std::lock_guard lk(meta_);
    candidates_->replacePolicy(std::move(next));
    const std::string stored(candidates_->policy().name());
    segment_->updateSuper(
        [&](Superblock& sb) { std::snprintf(sb.policy, sizeof sb.policy, "%s", stored.c_str()); });
    return {};
}

Result<EvictReport> Pool::evictPercent(double percent) {
    if (!(percent >= 0 && percent <= 100))
        return makeError(EINVAL, fmt::format("percent {} is not within 0-100", percent));
    std::lock_guard lk(meta_);
    LatencyTimer timed(latency_.evict);
    expirePins();
    uint64_t files = 0;
    for (auto& [id, ino] : index_)
        if (ino->isFile() && ino->nlink > 0) files++;
    const auto want = static_cast<uint64_t>(std::ceil(files * percent / 100.0 - 1e-9));
    EvictReport report;
    while (report.entries < want && evictOne(report)) {
    }
    last_eviction_ = report;
    return report;
}

Result<EvictReport> Pool::evictUntilFree(uint64_t bytes) {
    std::lock_guard lk(meta_);
    const uint64_t capacity = allocator_->blockCount() * uint64_t(blockSize());
    if (bytes > capacity)
        return makeError(EINVAL, fmt::format("{} bytes is more than pool {} holds ({})", bytes,
                                             name_, capacity));
    LatencyTimer timed(latency_.evict);
    expirePins();
    EvictReport report;
    while (allocator_->freeBlocks() * blockSize() < bytes && evictOne(report)) {
    }
    last_eviction_ = report;
    return report;
}

EvictReport Pool::lastEviction() {
    std::lock_guard lk(meta_);
    return last_eviction_;
}

uint64_t Pool::capacityBytes() {
    std::lock_guard lk(meta_);
    return allocator_->blockCount() * uint64_t(blockSize());
}

Status Pool::resize(uint64_t bytes) {
    const uint64_t bs = blockSize();
    const uint64_t want = bytes / bs;
    if (want == 0)
        return makeError(EINVAL, fmt::format("size {} is smaller than one block ({})", bytes, bs));
    std::lock_guard lk(meta_);
    const uint64_t have = allocator_->blockCount();
    if (want == have) return {};
    if (want > have) {
        if (auto st = segment_->grow(want); !st) return st;
        allocator_->resize(want);
        segment_->updateSuper([&](Superblock& sb) { sb.capacity_blocks = want; });
        return {};
    }
    if (auto st = checkShrink(want, bytes); !st) return st;
    EvictReport report;
    while (allocator_->usedBlocks() > want && evictOne(report)) {
    }
    if (allocator_->usedBlocks() > want)
        return makeError(ENOSPC, fmt::format("pool {}: could not evict enough to shrink to {} "
                                             "bytes",
                                             name_, bytes));
    // Fence off the part that goes, then move the entries that still live there.
    std::vector<Extent> fence = fenceFreeBlocksFrom(want);
    for (auto& [id, ino] : index_) {
        if (!relocateBelow(*ino, want, fence)) {
            // Not expected: eviction above left room for everything past the cut.
            for (const Extent& f : fence) allocator_->free(f);
            return makeError(EBUSY, fmt::format("pool {}: not enough room to move entries "
                                                "out of the part to remove; try again",
                                                name_));
        }
    }
    for (const Extent& e : fence) allocator_->free(e);
    if (!allocator_->resize(want)) throw std::logic_error("shrink left blocks in use");
    if (auto st = segment_->shrink(want); !st) return st;
    segment_->updateSuper([&](Superblock& sb) { sb.capacity_blocks = want; });
    return {};
}

// A shrink to `want` blocks can succeed only if what cannot be evicted (pinned, open,
// directories' metadata) fits, and nothing open sits in the part that goes away.
Status Pool::checkShrink(uint64_t want, uint64_t bytes) {
    uint64_t fixed = 0;
    for (auto& [id, ino] : index_) {
        const bool movable = ino->opens == 0;
        if (ino->pinned || !movable) fixed += ino->blocks;
        fixed += ino->auxBlocks();
        if (!movable)
            for (const Extent& e : ino->extents)
                if (!isHole(e) && e.start + e.count > want)
                    return makeError(EBUSY, fmt::format("pool {}: an open entry holds blocks "
                                                        "beyond {} bytes; close it first",
                                                        name_, bytes));
    }
    if (fixed > want)
        return makeError(ENOSPC, fmt::format("pool {}: {} bytes are pinned or open, more than {}",
                                             name_, fixed * blockSize(), bytes));
    return {};
}

// Takes every free block at or past `want`, so that nothing moved lands there.
std::vector<Extent> Pool::fenceFreeBlocksFrom(uint64_t want) {
    std::vector<Extent> fence;
    for (const Extent& e : allocator_->freeList()) {
        const uint64_t s = std::max(e.start, want), end = e.start + e.count;
        if (s < end) {
            allocator_->reserve({s, end - s});
            fence.push_back({s, end - s});
        }
    }
    return fence;
}

// All of an entry's blocks past the cut move at once, and their new home is taken first: if
// that fails (false), this entry is untouched (its old blocks neither freed nor punched) and
// the ones moved before it are complete, so the shrink can stop cleanly. The old blocks join
// the fence (still allocated, still holding the bytes): a crash before the record is written
// must find them as they were.
bool Pool::relocateBelow(Inode& ino, uint64_t want, std::vector<Extent>& fence) {
    const uint64_t bs = blockSize();
    uint64_t beyond = 0;
    for (const Extent& e : ino.extents)
        if (!isHole(e) && e.start + e.count > want) beyond += e.count;
    std::vector<Extent> dst;
    if (beyond > 0 && !allocator_->allocate(beyond, dst)) return false;
    std::vector<Extent> moved;
    std::vector<Extent> vacated;  // punched only once the record points at the copies
    size_t di = 0;                // destination extent being filled
    uint64_t filled = 0;          // blocks of dst[di] already used
    for (const Extent& e : ino.extents) {
        if (isHole(e) || e.start + e.count <= want) {  // a hole stays a hole
            moved.push_back(e);
            continue;
        }
        for (uint64_t from = e.start, left = e.count; left > 0;) {
            const uint64_t n = std::min(left, dst[di].count - filled);
            const Extent piece{dst[di].start + filled, n};
            (void)segment_->backBlocks(piece);
            std::memcpy(segment_->blockAddress(piece.start), segment_->blockAddress(from), n * bs);
            if (!moved.empty() && !isHole(moved.back()) &&
                moved.back().start + moved.back().count == piece.start)
                moved.back().count += n;
            else
                moved.push_back(piece);
            from += n;
            left -= n;
            filled += n;
            if (filled == dst[di].count) {
                ++di;
                filled = 0;
            }
        }
        vacated.push_back(e);
        fence.push_back(e);
    }
    const bool aux_beyond = std::any_of(ino.aux.begin(), ino.aux.end(),
                                        [&](const Extent& e) { return e.start + e.count > want; });
    if (beyond == 0 && !aux_beyond) return true;
    ino.extents = std::move(moved);
    if (aux_beyond) {
        // Forgotten here so that persist() writes the blob to new blocks below the cut (it
        // would keep an unchanged blob in place); the old blocks stay allocated as part of the
        // fence until the cut.
        for (const Extent& e : ino.aux) fence.push_back(e);
        ino.aux.clear();
    }
    persist(&ino, Changed::Blocks);
    for (const Extent& e : vacated) segment_->releaseBlocks(e);
    notify(Invalidation{0, {}, ino.id});
    return true;
}

Inode* Pool::cachedChild(Inode* dir, std::string_view name) {
    auto it = dir->by_name.find(name);
    if (it == dir->by_name.end()) return nullptr;
    Inode* ino = index_.find(it->second.inode);
    return ino && ino->isFile() && !ino->dirty ? ino : nullptr;
}

Result<MatchResult> Pool::match(EntryId dir_id, const std::vector<std::string_view>& names) {
    LatencyTimer timed(latency_.match);
    std::vector<bool> below;
    if (LowerTiers* tiers = tiers_.load()) {
        auto cached = cachedNames(dir_id, names);
        if (!cached) return cached.error();
        below = std::move(*cached);
        for (size_t i = 0; i < names.size(); ++i) {
            if (below[i]) continue;
            if (!tiers->promote(dir_id, names[i])) break;
            below[i] = true;
        }
    }
    return countMatch(dir_id, names, below);
}

// `below`: one flag per name (or none) for names a lower tier holds: they count as cached too.
Result<MatchResult> Pool::countMatch(EntryId dir_id, const std::vector<std::string_view>& names,
                                     const std::vector<bool>& below) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    MatchResult r;
    r.cached.reserve(names.size());
    bool leading = true;
    uint64_t hits = 0;
    for (size_t i = 0; i < names.size(); ++i) {
        Inode* ino = cachedChild(*dir, names[i]);
        const bool here = ino != nullptr;
        const bool cached = here || (i < below.size() && below[i]);
        r.cached.push_back(cached);
        hits += cached;
        if (cached && leading) {
            r.leading++;
            if (here) {
                candidates_->touch(ino);  // the engine is about to read it
                ino->matched_in = match_serial_ + 1;
            }
        } else {
            leading = false;
        }
    }
    counters_.match_requests++;
    match_serial_++;
    counters_.match_blocks += names.size();
    counters_.match_hits += hits;
    counters_.match_leading += r.leading;
    counters_.hits += hits;
    counters_.misses += names.size() - hits;
    return r;
}

PoolStats Pool::stats() {
    std::lock_guard lk(meta_);
    expirePins();
    PoolStats s;
    s.name = name_;
    s.policy = candidates_->policy().name();
    s.tier = segment_->location().dir.empty() ? "cpu" : "disk";
    s.block_size = blockSize();
    s.blocks_total = allocator_->blockCount();
    s.blocks_used = allocator_->usedBlocks();
    s.capacity_bytes = s.blocks_total * s.block_size;
    s.used_bytes = s.blocks_used * s.block_size;
    s.free_bytes = s.capacity_bytes - s.used_bytes;
    for (auto& [id, ino] : index_) {
        if (id == kPoolRootId || ino->nlink == 0) continue;
        if (ino->isDir()) {
            s.directories++;
        } else if (ino->isSymlink()) {
            s.symlinks++;
        } else if (ino->isNode()) {
            s.special_files++;
        } else {
            s.entries++;
            if (ino->pinned) s.pinned_bytes += ino->blocks * s.block_size;
        }
        if (ino->opens) s.open_entries++;
    }
    s.max_entries = max_entries_;
    s.pin_budget_bytes = pin_budget_;
    s.resident_bytes = segment_->residentBytes();
    s.retained_bytes = allocator_->staleBlocks() * uint64_t(blockSize());
    s.mapped_bytes = segment_->mappedBlocks() * uint64_t(blockSize());
    s.counters = counters_;
    s.latency = {latency_.read.snapshot(), latency_.write.snapshot(), latency_.match.snapshot(),
                 latency_.evict.snapshot()};
    return s;
}

}  // namespace kvc
