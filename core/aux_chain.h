// Metadata blobs too large for their inode record (many extents, large user.* xattrs) live in a
// chain of extents: each extent starts with a 16-byte link to the next one ({0, 0} at the end),
// and the blob is what follows the links, in order. A chain takes any free blocks, so a
// fragmented pool stores an entry's metadata whatever its size (one contiguous run used to be
// needed, and without one a commit was silently lost).
//
// Version-1 segments kept such a blob raw in one extent, without links (InodeRecord::aux_chained
// 0); those are still read, and written back as chains.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layout.h"

namespace kvc {

class Segment;

inline constexpr size_t kAuxLinkBytes = sizeof(Extent);

// Blocks a chain holding `bytes` needs at most (each block its own extent).
uint64_t auxChainBlocks(uint64_t bytes, uint32_t block_size);

// How many of `extents` (in order, the last one cut to the blocks it needs) hold `bytes`: the
// caller gives back the rest. The result is what writeAuxChain takes.
std::vector<Extent> trimAuxChain(const std::vector<Extent>& extents, uint64_t bytes,
                                 uint32_t block_size, std::vector<Extent>& unused);

// Writes `bytes` into `chain` (allocated and backed), linking the extents in order.
void writeAuxChain(Segment& seg, const std::vector<Extent>& chain, std::string_view bytes);

// Whether `chain` (chained, or one raw legacy extent) holds exactly `bytes`.
bool auxChainHolds(Segment& seg, const std::vector<Extent>& chain, bool chained,
                   std::string_view bytes);

// Reads `bytes` of blob from the chain starting at `first`, within the first `blocks` blocks of
// the data region: the blob and the chain's extents, or nullopt when a link leaves the region
// or the chain ends early (a damaged record; its checksum would not match anyway).
struct AuxRead {
    std::string blob;
    std::vector<Extent> chain;
};
std::optional<AuxRead> readAuxChain(Segment& seg, Extent first, uint64_t bytes, bool chained,
                                    uint64_t blocks);

}  // namespace kvc
