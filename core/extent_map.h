// An entry's extent list with holes: which pool blocks hold which blocks of the entry.
//
// `Inode::extents` lists the entry's blocks in file order. An extent with start == kHoleStart is
// a hole: `count` blocks of the entry that take no pool block and read as zeros. Blocks past the
// last extent, up to the entry's size, are a hole too (implicit). A list is kept normal: no
// empty extent, no two adjacent holes, no two adjacent data extents that are contiguous in the
// pool, no hole at the end (that one is implicit). docs/ARCHITECTURE.md, "Sparse entries".
//
// Pure functions over the list (no segment, no allocator), so they are unit tested alone
// (tests/core/extent_map_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/layout.h"

namespace kvc {

inline bool isHole(const Extent& e) {
    return e.start == kHoleStart;
}

// The largest size of an entry: off_t's largest value, as tmpfs (MAX_LFS_FILESIZE).
inline constexpr uint64_t kMaxEntryBytes = INT64_MAX;

// A run of an entry's blocks [file_block, file_block + count).
struct BlockRange {
    uint64_t first = 0;
    uint64_t count = 0;
    bool operator==(const BlockRange&) const = default;
};

// Blocks the list covers (data and holes, without the implicit trailing hole).
uint64_t coveredBlocks(const std::vector<Extent>& extents);
// Pool blocks the list holds (data extents only).
uint64_t dataBlocks(const std::vector<Extent>& extents);

// The hole runs of the entry's blocks in `range`, in order (past the list's end counts as a
// hole).
std::vector<BlockRange> holesIn(const std::vector<Extent>& extents, BlockRange range);

// Puts `with` (a data extent, or a hole: Extent{kHoleStart, n}) at entry block `first`,
// replacing what was there; returns the data extents it replaced (to free). The list stays
// normal; it grows with a hole if `first` is past its end.
std::vector<Extent> replaceBlocks(std::vector<Extent>& extents, uint64_t first, Extent with);

// Keeps the first `keep` entry blocks; returns the data extents past them (to free).
std::vector<Extent> keepBlocks(std::vector<Extent>& extents, uint64_t keep);

// The first entry block at or after `block` that holds data (nullopt: none) / is a hole
// (always one: the implicit hole past the end).
std::optional<uint64_t> nextDataBlock(const std::vector<Extent>& extents, uint64_t block);
uint64_t nextHoleBlock(const std::vector<Extent>& extents, uint64_t block);

// Whether a list read from a record can be an entry's of `size` bytes in blocks of `block_size`:
// no empty extent, no hole at the end, the blocks covered within blocksFor(size) (all sums
// overflow-checked). Blocks inside the pool are checked by the allocator.
bool extentsFitSize(const std::vector<Extent>& extents, uint64_t size, uint64_t block_size);

}  // namespace kvc
