// BlockAllocator: which blocks of a pool's data region are free.
//
// Free space is kept as extents in two ordered indexes (by start, to coalesce on free; by length,
// for best fit), so allocation and free cost O(log e) per extent handed out or returned, never a
// scan of the map. An allocation larger than every hole is served from several holes: a
// fragmented pool never refuses a request while enough blocks are free.
//
// The allocator is in memory only: at attach it is rebuilt from the extents of committed entries.
// Not thread-safe: the pool calls it under its metadata lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/layout.h"

namespace kvc {

class BlockAllocator {
  public:
    explicit BlockAllocator(uint64_t block_count);

    // Allocates `count` blocks, appending the extents to `out`. When `hint` starts a free extent,
    // blocks are taken from there first (so an entry that grows stays contiguous). Returns false
    // and changes nothing if fewer than `count` blocks are free.
    bool allocate(uint64_t count, std::vector<Extent>& out, uint64_t hint = UINT64_MAX);
    // Returns an extent; it must be allocated (checked: throws std::logic_error otherwise).
    void free(Extent e);
    // Marks an extent used without allocating (rebuild at attach); false if any block is free
    // no longer (overlap) or out of range.
    bool reserve(Extent e);
    // Changes the number of blocks. Shrinking requires the cut blocks to be free (false if not).
    bool resize(uint64_t block_count);

    uint64_t blockCount() const { return block_count_; }
    uint64_t freeBlocks() const { return free_blocks_; }
    uint64_t usedBlocks() const { return block_count_ - free_blocks_; }
    size_t freeExtents() const { return by_start_.size(); }
    uint64_t largestFreeExtent() const;
    // True when every block in [start, start+count) is allocated.
    bool isAllocated(Extent e) const;
    // Throws std::logic_error naming the broken invariant.
    void verify() const;

  private:
    void insertFree(uint64_t start, uint64_t count);
    void eraseFree(std::map<uint64_t, uint64_t>::iterator it);
    void takeFrom(std::map<uint64_t, uint64_t>::iterator it, uint64_t count,
                  std::vector<Extent>& out);

    uint64_t block_count_;
    uint64_t free_blocks_ = 0;
    std::map<uint64_t, uint64_t> by_start_;            // start -> count
    std::set<std::pair<uint64_t, uint64_t>> by_size_;  // (count, start)
};

}  // namespace kvc
