// FUSE inode numbers: the pool's index in the upper bits, the pool-local id in the lower 40.
//
//   ino 1                     the mount's root (FUSE_ROOT_ID)
//   pool 0, local 2..15       control files of the root (.stats, .metrics)
//   pool p>0, local 1         the pool's directory
//   pool p>0, local 2..15     the pool's control files
//   pool p>0, local >=16      entries and directories of the pool (core ids)
// Pool indexes are never reused within one mount, so an inode number names one thing for the
// life of the connection (together with the generation of core ids).
#pragma once

#include <cstdint>

#include "core/inode.h"

namespace kvc::fs {

inline constexpr int kPoolShift = 40;
inline constexpr uint64_t kLocalMask = (uint64_t{1} << kPoolShift) - 1;

struct NodeRef {
    uint32_t pool = 0;  // 0: the root level; else a pool index
    EntryId local = 0;
};

inline uint64_t makeIno(uint32_t pool, EntryId local) {
    return (uint64_t{pool} << kPoolShift) | local;
}
inline NodeRef splitIno(uint64_t ino) {
    return NodeRef{static_cast<uint32_t>(ino >> kPoolShift), ino & kLocalMask};
}
// A control file of the root or of a pool (locals 2..15; the root itself is local 1 of pool 0).
inline bool isControlNode(const NodeRef& ref) {
    return ref.local > kPoolRootId && ref.local < kFirstEntryId;
}
inline bool isControlInode(uint64_t ino) {
    return isControlNode(splitIno(ino));
}

}  // namespace kvc::fs
