// Pool data path: open/release accounting, writes (allocating and evicting as needed), read
// plans over the segment, truncation.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include <unistd.h>

#include <fmt/format.h>

#include "core/bulk_copy.h"
#include "core/clock.h"
#include "core/extent_map.h"
#include "core/lower_tiers.h"
#include "core/pool.h"
#include "core/xxh3.h"

namespace kvc {
namespace {

// Calls fn(address, segment_file_offset, length) for each contiguous piece of the byte range
// [offset, offset+len) of an entry, which must lie within its size. A hole (a hole extent, or
// past the last extent) is a piece with address nullptr and offset UINT64_MAX: zeros.
template <class Fn>
void walkExtents(Segment& seg, const std::vector<Extent>& extents, uint64_t offset, uint64_t len,
                 Fn&& fn) {
    const uint64_t bs = seg.blockSize();
    uint64_t ext_begin = 0;  // byte offset in the entry where this extent starts
    for (const Extent& e : extents) {
        if (len == 0) break;
        const uint64_t ext_end = ext_begin + e.count * bs;
        if (offset < ext_end) {
            const uint64_t in = offset - ext_begin;
            const uint64_t n = std::min<uint64_t>(len, ext_end - offset);
            if (isHole(e))
                fn(static_cast<char*>(nullptr), UINT64_MAX, n);
            else
                fn(seg.blockAddress(e.start) + in, seg.blockFileOffset(e.start) + in, n);
            offset += n;
            len -= n;
        }
        ext_begin = ext_end;
    }
    if (len > 0) fn(static_cast<char*>(nullptr), UINT64_MAX, len);  // the implicit hole
}

bool allZero(const char* p, size_t n) {
    return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

// `holes` without the blocks in which a write of `len` bytes from `src` at `offset` writes only
// zeros: a hole reads as zeros already, so they can stay holes (a block the write covers in
// part too: an image copied in pieces need not be cut at block boundaries).
std::vector<BlockRange> withoutZeroBlocks(const std::vector<BlockRange>& holes, uint64_t bs,
                                          uint64_t offset, const char* src, uint64_t len) {
    std::vector<BlockRange> out;
    const uint64_t end = offset + len;
    for (const BlockRange& h : holes) {
        for (uint64_t b = h.first; b < h.first + h.count; ++b) {
            const uint64_t from = std::max(b * bs, offset), to = std::min((b + 1) * bs, end);
            if (allZero(src + (from - offset), to - from)) continue;
            if (!out.empty() && out.back().first + out.back().count == b)
                out.back().count++;
            else
                out.push_back({b, 1});
        }
    }
    return out;
}

// All `len` bytes of a pread or pwrite of the segment's file at `at` (`io` is one of them, with
// its buffer bound), past EINTR and short transfers; `what` names it in the error.
template <class Io>
Status segmentIo(Io io, size_t len, uint64_t at, const char* what) {
    for (size_t done = 0; done < len;) {
        const ssize_t n = io(done, len - done, static_cast<off_t>(at + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            return makeError(err, fmt::format("cannot {} the segment: {}", what, strerror(err)));
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

Status pwriteAll(int fd, const char* src, size_t len, uint64_t at) {
    return segmentIo(
        [&](size_t done, size_t n, off_t off) { return ::pwrite(fd, src + done, n, off); }, len, at,
        "write to");
}

// Through the file, not the mapping, as writes are (see Pool::read).
Status preadAll(int fd, char* dst, size_t len, uint64_t at) {
    return segmentIo(
        [&](size_t done, size_t n, off_t off) { return ::pread(fd, dst + done, n, off); }, len, at,
        "read");
}

// A checksum reads an entry's bytes in pieces of this size, each hashed while in the cache.
constexpr uint64_t kChecksumPieceBytes = 256 << 10;

}  // namespace

Status Pool::open(EntryId id, Access access, Truncate truncation) {
    const bool for_write = access == Access::Write;
    const bool truncate = truncation == Truncate::Yes;
    if (auto st = openCounted(id, for_write, truncate); !st) return st;
    // Emptied by a reader (O_RDONLY | O_TRUNC): committed now, and no writer's release follows.
    if (truncate && !for_write)
        if (LowerTiers* tiers = tiers_.load()) tiers->written(id);
    if (for_write || truncate || !verify_reads_) return {};
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino || ino->isDir()) return {};
    if (auto st = verifyBeforeRead(ino); !st) {
        release(id, Access::Read);
        return st;
    }
    return {};
}

// The open is counted, so the blocks stay; the data lock keeps writers out while the bytes are
// read without meta_, and meta_ is taken again only to act on the answer.
Status Pool::verifyBeforeRead(const std::shared_ptr<Inode>& ino) {
    std::shared_lock data(ino->data_mutex);
    uint64_t expected = 0;
    {
        std::lock_guard lk(meta_);
        if (!ino->has_data_checksum || ino->dirty || ino->nlink == 0) return {};
        expected = ino->data_checksum;
    }
    const uint64_t sum = dataChecksum(*ino);
    std::lock_guard lk(meta_);
    if (sum == expected || ino->data_checksum != expected || ino->dirty || ino->nlink == 0)
        return {};
    counters_.checksum_failures++;
    counters_.hits--;  // counted by the open: it is a miss
    counters_.misses++;
    forgetEntry(ino.get());
    return makeError(ENOENT, fmt::format("pool {}: entry {} failed its checksum and was dropped",
                                         name_, ino->id));
}

Status Pool::openCounted(EntryId id, bool for_write, bool truncate) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    std::unique_lock<std::shared_mutex> data;
    if (truncate) data = std::unique_lock(ino->data_mutex);
    std::lock_guard lk(meta_);
    if (ino->isDir() && for_write) return makeError(EISDIR, "is a directory");
    // The kernel opens FIFOs, sockets and devices itself and follows links: only a descriptor
    // passed to the data path (or O_PATH) reaches a node, and a node has no bytes to give.
    if (ino->isSymlink()) return makeError(ELOOP, "a symbolic link is not opened");
    if (ino->isNode()) return makeError(ENXIO, "a special file has no data in the pool");
    // Removed while the caller held only a lookup, and closed by everyone: its blocks are gone,
    // and it must not open as an empty file. ESTALE makes the kernel look the name up again.
    if (!ino->isDir() && ino->nlink == 0 && ino->opens == 0)
        return makeError(ESTALE, fmt::format("entry {} in pool {} was removed", id, name_));
    // Evicted while a reader kept it open, and reached again through a lookup made before: a
    // write or truncate would change bytes no name shows, and report success while the name
    // gives back the version before it. ESTALE: the kernel looks the name up again and opens
    // what it names now.
    if (ino->evicted && (for_write || truncate))
        return makeError(ESTALE, fmt::format("entry {} in pool {} was evicted", id, name_));
    ino->opens++;
    if (for_write) {
        ino->write_opens++;
        candidates_->refresh(ino.get());
    } else if (!ino->isDir()) {
        counters_.hits++;
        // The engine loading what the latest .match reported is part of that request.
        const bool loading = ino->matched_in && ino->matched_in == match_serial_;
        ino->matched_in = 0;
        candidates_->touch(ino.get(), !loading);
    }
    if (truncate && ino->size > 0) (void)truncateBlocks(ino.get(), 0);  // cannot fail
    if (truncate && ino->dirty && ino->write_opens == 0) {
        // Truncated by a reader (O_RDONLY | O_TRUNC): no writer's release will commit it, and
        // an empty entry is complete. Left dirty it would never be matched nor evicted, and a
        // restart would drop it.
        (void)commit(ino.get());  // an empty entry's metadata fits in its record
        candidates_->refresh(ino.get());
    }
    return {};
}

void Pool::release(EntryId id, Access access) {
    const bool for_write = access == Access::Write;
    // The last writer's commit hashes the entry outside meta_ (flush does it), so a truncate,
    // an fallocate or a close that came without FLUSH does not stop the pool for that long.
    if (for_write) (void)flush(id);
    releaseHere(id, for_write);
    // A new version (or the same bytes rewritten): the lower copies of its name are older.
    if (for_write)
        if (LowerTiers* tiers = tiers_.load()) tiers->written(id);
}

// The data lock is taken, and let go, before the open goes: a read through this open that
// still holds the entry's read lock (the front end replies to a read under it) has finished
// with the blocks before the last close can free them. The kernel may send the close as soon
// as the reply's bytes are copied, before the replying thread is out of its system call.
void Pool::releaseHere(EntryId id, bool for_write) {
    if (std::shared_ptr<Inode> held = sharedInode(id)) std::unique_lock(held->data_mutex).unlock();
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino || ino->opens == 0) return;
    ino->opens--;
    if (for_write && ino->write_opens > 0) {
        ino->write_opens--;
        if (ino->write_opens == 0 && ino->dirty) {
            // The last writer closed it: the entry is complete and survives a crash from now on
            // (unless not even its metadata finds room: then it stays uncommitted, as
            // user.kvcache.committed says, and a restart drops it).
            (void)commit(ino);
        }
    }
    candidates_->refresh(ino);
    maybeFree(ino);
}

Status Pool::flush(EntryId id) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return {};
    {
        std::lock_guard lk(meta_);
        if (ino->write_opens != 1 || !ino->dirty) return {};
    }
    // The checksum is computed with writers kept out by the data lock but without meta_, so a
    // large entry's commit does not stop the rest of the pool; meta_ is taken under the data
    // lock (the documented order), so the bytes cannot change before the commit.
    std::shared_lock data(ino->data_mutex);
    const uint64_t sum = dataChecksum(*ino);
    std::lock_guard lk(meta_);
    if (ino->write_opens != 1 || !ino->dirty) return {};
    // Another descriptor sharing this open (a dup, a forked child) may still write: that write
    // marks the entry dirty again and the next flush or the release commits it again.
    Status st = commit(ino.get(), sum);
    candidates_->refresh(ino.get());
    return st;
}

Status Pool::commitWritten(EntryId id, uint64_t checksum) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    std::shared_lock data(ino->data_mutex);
    std::lock_guard lk(meta_);
    if (ino->write_opens != 1 || !ino->dirty) return {};
    Status st = commit(ino.get(), checksum);
    candidates_->refresh(ino.get());
    return st;
}

namespace {

// Calls fn(part, stale) for the parts of `e` in order, `stale` telling whether a part lies in
// `stale_sorted` (disjoint extents, by start).
template <typename Fn>
void splitByStale(Extent e, const std::vector<Extent>& stale_sorted, Fn&& fn) {
    uint64_t at = e.start;
    const uint64_t end = e.start + e.count;
    auto it = std::lower_bound(stale_sorted.begin(), stale_sorted.end(), at,
                               [](const Extent& s, uint64_t b) { return s.start + s.count <= b; });
    for (; at < end && it != stale_sorted.end() && it->start < end; ++it) {
        const uint64_t s = std::max(it->start, at), s_end = std::min(it->start + it->count, end);
        if (s > at) fn(Extent{at, s - at}, false);
        fn(Extent{s, s_end - s}, true);
        at = s_end;
    }
    if (at < end) fn(Extent{at, end - at}, false);
}

// Pool blocks `blocks` placed at entry block `at`.
struct Placed {
    uint64_t at;
    Extent blocks;
};

// Where the blocks `got` go, in order, to fill `holes` (as many blocks in all).
std::vector<Placed> placeInHoles(const std::vector<BlockRange>& holes,
                                 const std::vector<Extent>& got) {
    std::vector<Placed> placed;
    size_t gi = 0;       // extent of `got` being placed
    uint64_t taken = 0;  // blocks of got[gi] placed
    for (const BlockRange& h : holes) {
        for (uint64_t at = h.first, left = h.count; left > 0;) {
            const uint64_t n = std::min(left, got[gi].count - taken);
            placed.push_back({at, Extent{got[gi].start + taken, n}});
            at += n;
            left -= n;
            taken += n;
            if (taken == got[gi].count) {
                ++gi;
                taken = 0;
            }
        }
    }
    return placed;
}

}  // namespace

void Pool::mapInBackground(bool on) {
    std::lock_guard lk(meta_);
    if (!on) {
        warmer_.reset();
    } else if (!warmer_ && segment_->location().dir.empty()) {
        warmer_ = std::make_unique<BlockWarmer>(*segment_, last_copy_ns_);
    }
}

void Pool::settleMapping() {
    BlockWarmer* w = nullptr;
    {
        std::lock_guard lk(meta_);
        w = warmer_.get();
    }
    if (w) w->settle();
}

void Pool::freeData(Extent e) {
    allocator_->free(e, Freed::Stale);
}

void Pool::zeroBlocks(const std::vector<Extent>& blocks) {
    for (const Extent& e : blocks) {
        segment_->releaseBlocks(e);
        (void)segment_->backBlocks(e);  // unbacked, a hole reads as zeros too
    }
}

Status Pool::fillHoles(Inode* ino, const std::vector<BlockRange>& holes, uint64_t offset,
                       uint64_t len, std::vector<Extent>* reused) {
    uint64_t count = 0;
    for (const BlockRange& h : holes) count += h.count;
    if (count == 0) return {};
    if (ino->pinned && pin_budget_ && pinnedBytes() + count * blockSize() > pin_budget_)
        return makeError(EDQUOT, fmt::format("pool {}: growing a pinned entry past the pin "
                                             "budget of {} bytes",
                                             name_, pin_budget_));
    if (auto st = makeRoom(count, ino); !st) return st;
    std::vector<Extent> got, stale;
    // Right after the data extent before the first hole, so that an entry that grows stays
    // contiguous.
    uint64_t hint = UINT64_MAX, pos = 0;
    for (const Extent& e : ino->extents) {
        if (pos >= holes.front().first) break;
        if (!isHole(e)) hint = e.start + e.count;
        pos += e.count;
    }
    if (!allocator_->allocateReusing(count, got, stale, hint))
        return makeError(ENOSPC, fmt::format("pool {} is full", name_));
    std::sort(stale.begin(), stale.end(),
              [](const Extent& a, const Extent& b) { return a.start < b.start; });
    // The entry blocks the caller overwrites whole; a stale block anywhere else (the partial
    // first or last block of a write, every block of an allocation) is zeroed, never read.
    const uint64_t bs = blockSize();
    const uint64_t whole_first = len ? offset / bs + (offset % bs != 0) : 0;
    const uint64_t whole_end = len ? (offset + len) / bs : 0;
    std::vector<Extent> back, kept;  // blocks to back (fresh or zeroed), stale ones overwritten
    const std::vector<Placed> placed = placeInHoles(holes, got);
    for (const Placed& p : placed) {
        splitByStale(p.blocks, stale, [&](Extent part, bool is_stale) {
            if (!is_stale) return back.push_back(part);
            const uint64_t entry_first = p.at + (part.start - p.blocks.start);
            const uint64_t entry_end = entry_first + part.count;
            const uint64_t a = std::clamp(whole_first, entry_first, entry_end);
            const uint64_t b = std::clamp(whole_end, a, entry_end);
            const Extent head{part.start, a - entry_first};
            const Extent whole{head.start + head.count, b - a};
            const Extent tail{whole.start + whole.count, entry_end - b};
            if (whole.count) kept.push_back(whole);
            for (const Extent& z : {head, tail}) {
                if (z.count == 0) continue;
                segment_->releaseBlocks(z);
                back.push_back(z);
            }
        });
    }
    for (const Extent& e : back) {
        if (auto st = segment_->backBlocks(e); !st) {
            for (const Extent& g : got) {
                segment_->releaseBlocks(g);
                allocator_->free(g);
            }
            return makeError(ENOSPC, fmt::format("pool {}: the host cannot back more memory ({})",
                                                 name_, st.error().message));
        }
    }
    for (const Placed& p : placed) (void)replaceBlocks(ino->extents, p.at, p.blocks);  // holes
    // Reused blocks are mapped already (a block stays mapped until punched): only the others
    // wake the warmer.
    for (const Extent& g : got)
        if (segment_->wantMapped(g) && warmer_) warmer_->add(g);
    ino->blocks += count;
    if (reused) reused->insert(reused->end(), kept.begin(), kept.end());
    return {};
}

// Requires the inode's data_mutex exclusively and meta_. Bytes past the new size in its last
// block are zeroed, so a later extension reads zeros there. Extending makes a hole (no block),
// so it fails only past the largest size (EFBIG).
Status Pool::truncateBlocks(Inode* ino, uint64_t new_size) {
    const uint64_t bs = blockSize();
    const uint64_t old_size = ino->size;
    if (new_size > kMaxEntryBytes)
        return makeError(EFBIG,
                         fmt::format("pool {}: size {} is past the largest", name_, new_size));
    markUncommitted(ino);
    if (new_size < old_size) {
        const uint64_t keep = blocksFor(new_size);
        if (new_size % bs) {
            const uint64_t tail = std::min<uint64_t>(keep * bs, old_size) - new_size;
            walkExtents(*segment_, ino->extents, new_size, tail, [](char* p, uint64_t, uint64_t n) {
                if (p) std::memset(p, 0, n);  // a hole's tail reads as zeros already
            });
        }
        for (const Extent& freed : keepBlocks(ino->extents, keep)) {
            freeData(freed);
            ino->blocks -= freed.count;
        }
    }
    ino->size = new_size;
    const int64_t now = nowNs();
    ino->mtime_ns = now;
    ino->ctime_ns = now;
    return {};
}

Result<size_t> Pool::write(EntryId id, uint64_t offset, const void* data, size_t len, Zeros zeros,
                           Xxh3Stream* bulk_sum) {
    LatencyTimer timed(latency_.write);
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (!ino->isFile()) return makeError(ino->isDir() ? EISDIR : EINVAL, "not an entry");
    if (len == 0) return size_t{0};
    // As Linux: no byte at or past the largest size (EFBIG), checked without overflow.
    if (offset >= kMaxEntryBytes || len > kMaxEntryBytes - offset)
        return makeError(EFBIG, "write past the largest size of an entry");
    const uint64_t end = offset + len;
    const uint64_t bs = blockSize();
    const char* src = static_cast<const char*>(data);
    std::vector<Extent> reused;  // stale blocks this write overwrites (fillHoles)
    std::unique_lock data_lock(ino->data_mutex);
    {
        std::lock_guard lk(meta_);
        // Without a writer the entry may be a policy candidate, evicted under this write.
        if (ino->write_opens == 0)
            return makeError(EBADF, fmt::format("entry {} is not open for writing", id));
        markUncommitted(ino.get());
        // Only the blocks written that are holes take new blocks: a write far past the end
        // needs (and may evict for) no more than the blocks it writes.
        const uint64_t first = offset / bs;
        std::vector<BlockRange> holes = holesIn(ino->extents, {first, blocksFor(end) - first});
        if (zeros == Zeros::KeepHoles) holes = withoutZeroBlocks(holes, bs, offset, src, len);
        if (auto st = fillHoles(ino.get(), holes, offset, len, &reused); !st) return st.error();
    }
    // Through the mapping where this process has the blocks mapped (core/block_warmer.h), else
    // through the segment's fd: the kernel copies straight into the backed pages, without a
    // page fault per 4 KiB here. Blocks reused stale are pages the host has given already: the
    // copy is all it costs to write them.
    // A piece still a hole is a block of zeros left as a hole (Zeros::KeepHoles).
    Status copied;
    last_copy_ns_.store(steadyNs(), std::memory_order_relaxed);
    walkExtents(*segment_, ino->extents, offset, len, [&](char* p, uint64_t at, uint64_t n) {
        if (!copied) return;
        if (p && segment_->isMapped(at, n)) {
            if (bulk_sum)
                storeAndHash(p, src, n, *bulk_sum);
            else
                copyInPieces(p, src, n);
        } else {
            for (uint64_t done = 0; done < n && copied;) {
                const size_t k = static_cast<size_t>(std::min<uint64_t>(n - done, kCopyHashPiece));
                if (p) copied = pwriteAll(segment_->fd(), src + done, k, at + done);
                if (bulk_sum) bulk_sum->update(src + done, k);
                done += k;
            }
        }
        src += n;
    });
    if (!copied) {
        zeroBlocks(reused);  // their old bytes must not show where the copy did not reach
        return copied.error();
    }
    if (end > ino->size) ino->size = end;
    const int64_t now = nowNs();
    ino->mtime_ns = now;
    ino->ctime_ns = now;
    return len;
}

// Before the first change of an entry's blocks since its last commit: its record says Dirty, so
// that a crash in the middle drops the entry instead of bringing back blocks it no longer owns.
void Pool::markUncommitted(Inode* ino) {
    if (ino->dirty) return;
    ino->dirty = true;
    persist(ino, Changed::Blocks);
}

// fallocate's ranges (`what`: "allocation", "hole"): an entry's, not empty, below the largest
// size, checked without overflow.
Status Pool::checkRange(const Inode& ino, uint64_t offset, uint64_t len, std::string_view what) {
    if (!ino.isFile()) return makeError(ino.isDir() ? EISDIR : EINVAL, "not an entry");
    if (len == 0) return makeError(EINVAL, fmt::format("{} of no bytes", what));
    if (offset > kMaxEntryBytes || len > kMaxEntryBytes - offset)
        return makeError(EFBIG, fmt::format("{} past the largest size of an entry", what));
    return {};
}

Status Pool::allocate(EntryId id, uint64_t offset, uint64_t len) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (auto st = checkRange(*ino, offset, len, "allocation"); !st) return st;
    const uint64_t end = offset + len;
    // As a writer for the duration (as setattr's truncate): a grown entry is committed by the
    // last writer's release, this one's if the caller holds no write open of its own.
    if (auto st = open(id, Access::Write); !st) return st;
    Status st;
    {
        std::unique_lock data_lock(ino->data_mutex);
        std::lock_guard lk(meta_);
        const uint64_t first = offset / blockSize();
        const std::vector<BlockRange> holes =
            holesIn(ino->extents, {first, blocksFor(end) - first});
        if (!holes.empty() || end > ino->size) {
            markUncommitted(ino.get());
            st = fillHoles(ino.get(), holes);  // backed when allocated
            if (st && end > ino->size) {
                ino->size = end;
                const int64_t now = nowNs();
                ino->mtime_ns = now;
                ino->ctime_ns = now;
            }
        }
    }
    release(id, Access::Write);
    return st;
}

Status Pool::punchHole(EntryId id, uint64_t offset, uint64_t len) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (auto st = checkRange(*ino, offset, len, "hole"); !st) return st;
    // As a writer for the duration, as allocate().
    if (auto st = open(id, Access::Write); !st) return st;
    {
        std::unique_lock data_lock(ino->data_mutex);
        std::lock_guard lk(meta_);
        const uint64_t bs = blockSize(), size = ino->size;
        const uint64_t end = std::min(offset + len, size);
        if (offset < end) {
            markUncommitted(ino.get());
            // Whole blocks go; a block the hole ends in at the size goes too (past the size
            // its bytes are zeros already).
            const uint64_t first = blocksFor(offset);
            const uint64_t last = end == size ? blocksFor(size) : end / bs;
            auto zero = [&](uint64_t from, uint64_t to) {
                if (from < to)
                    walkExtents(*segment_, ino->extents, from, to - from,
                                [](char* p, uint64_t, uint64_t n) {
                                    if (p) std::memset(p, 0, n);
                                });
            };
            const uint64_t head_end = std::min(end, first * bs);
            zero(offset, head_end);
            zero(std::max(head_end, last * bs), end);
            if (first < last)
                for (const Extent& freed :
                     replaceBlocks(ino->extents, first, Extent{kHoleStart, last - first})) {
                    freeData(freed);
                    ino->blocks -= freed.count;
                }
            const int64_t now = nowNs();
            ino->mtime_ns = now;
            ino->ctime_ns = now;
        }
    }
    release(id, Access::Write);
    return {};
}

// xxh3 of the entry's bytes, streamed from its blocks; the caller keeps writers out (the
// entry's data_mutex, or meta_ with no writer open). A hole is hashed as a marker with its
// length, not as its zeros, so that the cost follows the blocks held, never the size (a write
// at 2^63 - 2 must not take ages to commit): an entry without holes hashes as its bytes, as
// before holes existed and as a writer of every byte (commitWritten) hashes it.
//
// Blocks mapped in this process are hashed in place; the others are read through the segment's
// file into a small buffer: mapping a page this process never touched (or whose block was
// punched since) costs a fault, about 10 us on some VMs, far more than copying it. That made a
// FUSE store's commit (and verify_reads) spend most of its time here.
uint64_t Pool::dataChecksum(const Inode& ino) const {
    Xxh3Stream sum;
    const uint64_t size = ino.size.load();
    const auto piece = std::make_unique_for_overwrite<char[]>(
        static_cast<size_t>(std::clamp<uint64_t>(size, 1, kChecksumPieceBytes)));
    walkExtents(*segment_, ino.extents, 0, size, [&](char* p, uint64_t at, uint64_t n) {
        if (!p) {
            const uint64_t marker[2] = {kHoleStart, n};
            return sum.update(marker, sizeof marker);
        }
        if (segment_->isMapped(at, n)) return sum.update(p, n);
        for (uint64_t done = 0; done < n;) {
            const size_t k = static_cast<size_t>(std::min(n - done, kChecksumPieceBytes));
            // A failed read (not seen) hashes through the mapping: the same bytes.
            const bool read = preadAll(segment_->fd(), piece.get(), k, at + done).ok();
            sum.update(read ? piece.get() : p + done, k);
            done += k;
        }
    });
    return sum.digest();
}

// The whole entry's bytes; the caller holds meta_ and keeps writers out (an open, or a state in
// which no writer can exist).
void Pool::copyBytes(const Inode& ino, std::string& out) const {
    out.assign(ino.size, '\0');
    char* dst = out.data();
    walkExtents(*segment_, ino.extents, 0, out.size(), [&](char* p, uint64_t, uint64_t n) {
        if (p) std::memcpy(dst, p, n);
        dst += n;
    });
}

Result<Pool::ReadPlan> Pool::planRead(EntryId id, uint64_t offset, size_t len) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (!ino->isFile()) return makeError(ino->isDir() ? EISDIR : EINVAL, "not an entry");
    ReadPlan plan;
    plan.keep = ino;
    plan.lock = std::shared_lock(ino->data_mutex);
    const uint64_t size = ino->size;
    if (offset >= size) return plan;
    len = static_cast<size_t>(std::min<uint64_t>(len, size - offset));
    walkExtents(*segment_, ino->extents, offset, len, [&](char* p, uint64_t off, uint64_t n) {
        plan.pieces.push_back(ReadPiece{off, p, static_cast<size_t>(n)});
        plan.total += n;
    });
    return plan;
}

Result<uint64_t> Pool::seek(EntryId id, uint64_t offset, Seek whence) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (!ino->isFile()) return makeError(ino->isDir() ? EISDIR : EINVAL, "not an entry");
    std::shared_lock data(ino->data_mutex);
    const uint64_t size = ino->size, bs = blockSize();
    // As Linux: an offset at or past the end has neither data nor a hole to find.
    if (offset >= size) return makeError(ENXIO, "offset at or past the end of the entry");
    if (whence == Seek::Hole) {
        const uint64_t block = nextHoleBlock(ino->extents, offset / bs);
        return std::min(size, std::max(offset, block * bs));  // the end is a hole too
    }
    const std::optional<uint64_t> block = nextDataBlock(ino->extents, offset / bs);
    if (!block) return makeError(ENXIO, "no data past the offset");
    return std::max(offset, *block * bs);
}

// Through the mapping for blocks this process has mapped (core/block_warmer.h), else through the
// segment's fd, as writes are: the kernel copies from the pages whether or not this process
// ever mapped them (a first touch costs a page fault per 4 KiB).
Result<size_t> Pool::read(EntryId id, uint64_t offset, void* out, size_t len, CopyOut how) {
    LatencyTimer timed(latency_.read);
    auto plan = planRead(id, offset, len);
    if (!plan) return plan.error();
    char* dst = static_cast<char*>(out);
    last_copy_ns_.store(steadyNs(), std::memory_order_relaxed);
    for (const ReadPiece& piece : plan->pieces) {
        if (!piece.address) {  // a hole
            std::memset(dst, 0, piece.len);
            dst += piece.len;
            continue;
        }
        if (!segment_->isMapped(piece.file_offset, piece.len)) {
            if (auto st = preadAll(segment_->fd(), dst, piece.len, piece.file_offset); !st)
                return st.error();
        } else if (how == CopyOut::Bulk) {
            loadCopier().copy(dst, piece.address, piece.len);
        } else {
            std::memcpy(dst, piece.address, piece.len);
        }
        dst += piece.len;
    }
    return plan->total;
}

Status Pool::fsync(EntryId id) {
    std::shared_ptr<Inode> ino = sharedInode(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    // What was written so far is committed, as at a close by the only writer: a crash after
    // fsync returns keeps it (a later write makes the entry uncommitted again until the next
    // fsync or close).
    if (auto st = flush(id); !st) return st;
    // Shared memory needs no flush. A disk-tier segment is a file: push its pages out.
    if (!segment_->location().dir.empty()) {
        std::shared_lock lk(ino->data_mutex);
        if (fdatasync(segment_->fd()) != 0) return makeError(errno, "fdatasync failed");
    }
    return {};
}

}  // namespace kvc
