// BlockAllocator: which blocks of a pool's data region are free.
//
// Free space is kept as extents in two ordered indexes (by start, to coalesce on free; by length,
// for best fit), so allocation and free cost O(log e) per extent handed out or returned, never a
// scan of the map. An allocation larger than every hole is served from several holes: a
// fragmented pool never refuses a request while enough blocks are free.
//
// Free blocks are holes (they read as zeros and cost the host no memory) unless freed as *stale*:
// still backed, holding the bytes of whatever had them. The pool frees an entry's blocks stale so
// that the next write reuses pages the host already gave it instead of having them zeroed and
// faulted in again (docs/PERFORMANCE.md). A stale block never reaches anyone who would read it:
// only allocateReusing() hands stale blocks out, to a caller that overwrites or zeroes them;
// every other way of taking blocks (allocate, reserve, a shrink) first zeroes them with the
// allocator's Zeroer.
//
// The allocator is in memory only: at attach it is rebuilt from the extents of committed entries
// (the pool then punches every free block, so nothing is stale).
// Not thread-safe: the pool calls it under its metadata lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/layout.h"

namespace kvc {

// What a freed extent holds.
enum class Freed {
    Zeros,  // nothing: a hole, or zeroed
    Stale,  // the bytes it had: never to be read before it is overwritten or zeroed
};

class BlockAllocator {
  public:
    // Makes stale blocks read as zeros (the pool punches them). Called for every stale block
    // taken other than by allocateReusing().
    using Zeroer = std::function<void(Extent)>;

    explicit BlockAllocator(uint64_t block_count, Zeroer zero = {});

    // Allocates `count` blocks, appending the extents to `out`, every block reading as zeros or
    // a hole. When `hint` starts a free extent, blocks are taken from there first (so an entry
    // that grows stays contiguous). Returns false and changes nothing if fewer than `count`
    // blocks are free.
    bool allocate(uint64_t count, std::vector<Extent>& out, uint64_t hint = UINT64_MAX);
    // As allocate(), but takes stale blocks first (after the hint) and hands them out as they
    // are, listing them in `stale` too: the caller must overwrite or zero every one before
    // anything can read it.
    bool allocateReusing(uint64_t count, std::vector<Extent>& out, std::vector<Extent>& stale,
                         uint64_t hint = UINT64_MAX);
    // Returns an extent; it must be allocated (checked: throws std::logic_error otherwise).
    void free(Extent e, Freed holds = Freed::Zeros);
    // Marks an extent used without allocating (rebuild at attach); false if any block is free
    // no longer (overlap) or out of range. Stale blocks in it are zeroed.
    bool reserve(Extent e);
    // Changes the number of blocks. Shrinking requires the cut blocks to be free (false if not).
    bool resize(uint64_t block_count);

    uint64_t blockCount() const { return block_count_; }
    uint64_t freeBlocks() const { return free_blocks_; }
    uint64_t usedBlocks() const { return block_count_ - free_blocks_; }
    size_t freeExtents() const { return by_start_.size(); }
    // Free blocks that are stale (Freed::Stale and not taken since).
    uint64_t staleBlocks() const { return stale_blocks_; }
    // The free extents, in block order.
    std::vector<Extent> freeList() const;
    uint64_t largestFreeExtent() const;
    // True when every block in [start, start+count) is allocated.
    bool isAllocated(Extent e) const;
    // Throws std::logic_error naming the broken invariant.
    void verify() const;

  private:
    bool allocateFrom(uint64_t count, std::vector<Extent>& out, uint64_t hint,
                      std::vector<Extent>* stale);
    void insertFree(uint64_t start, uint64_t count);
    void eraseFree(std::map<uint64_t, uint64_t>::iterator it);
    void takeFrom(std::map<uint64_t, uint64_t>::iterator it, uint64_t count,
                  std::vector<Extent>& out, std::vector<Extent>* stale);
    // Takes [e.start, e.start + e.count), which must lie within one free extent.
    void takeRange(Extent e);
    void addStale(Extent e);
    // Forgets that blocks of `e` are stale: lists them in `stale`, or zeroes them if null.
    void unstale(Extent e, std::vector<Extent>* stale);

    uint64_t block_count_;
    uint64_t free_blocks_ = 0;
    std::map<uint64_t, uint64_t> by_start_;            // start -> count
    std::set<std::pair<uint64_t, uint64_t>> by_size_;  // (count, start)
    std::map<uint64_t, uint64_t> stale_;               // start -> count, within free extents
    uint64_t stale_blocks_ = 0;
    Zeroer zero_;
};

}  // namespace kvc
