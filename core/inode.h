// Inode: the in-memory state of one entry or directory of a pool.
//
// Which lock guards what (see Pool for the lock order):
//   - `data_mutex` (shared: readers of the bytes; exclusive: anything that changes extents or
//     copies bytes in) serialises data access of this inode.
//   - the pool's `meta_` mutex guards every other field, and is also taken by whoever changes
//     `extents`, so metadata code (persist, evict, stat) may read them under `meta_` alone.
//   - `size`, `mtime_ns` and `ctime_ns` are atomics: a writer updates them under `data_mutex`
//     while stat reads them under `meta_`.
//   - `mode` is atomic: the data path checks the file type without `meta_` while setattr
//     changes the permission bits under it.
// Blocks of an inode are touched only by holders of an open (opens > 0); they are freed only
// when nothing holds it open and no name is left (under `meta_`). A close takes `data_mutex`
// exclusively before its open goes, so reads still under the shared lock end first.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/extent_map.h"
#include "core/layout.h"
#include "core/policy/eviction_policy.h"
#include "core/version.h"

namespace kvc {

// Pool-local ids. 1 is the pool's directory; 2..15 are left to front ends (control files).
inline constexpr EntryId kPoolRootId = 1;
inline constexpr EntryId kFirstEntryId = 16;

struct DirSlot {
    std::string name;
    EntryId inode = 0;
};

// A directory's index by name: the dirent slot and the inode, so that resolving a name (lookup,
// `.match`) is one hash probe, with no search of `by_slot`.
struct NameSlot {
    uint64_t slot = 0;
    EntryId inode = 0;
};

// Hashes std::string and std::string_view alike, so a lookup by a view builds no string.
struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using NameIndex = std::unordered_map<std::string, NameSlot, NameHash, std::equal_to<>>;

struct Inode {
    EntryId id = 0;
    uint64_t generation = 0;
    uint64_t slot = 0;     // inode record slot (unused for the pool root)
    bool removed = false;  // lost its last name; counted in Pool::removed_inodes_

    std::atomic<uint32_t> mode{0};
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t nlink = 0;
    int64_t atime_ns = 0;
    int64_t btime_ns = 0;
    std::atomic<int64_t> mtime_ns{0};
    std::atomic<int64_t> ctime_ns{0};
    std::atomic<uint64_t> size{0};
    // Nodes other than entries and directories (isNode): what a device node names, and what a
    // symbolic link holds (its size is the target's length). Metadata only: no blocks.
    uint64_t rdev = 0;
    std::string target;

    // In file order, with holes (core/extent_map.h); blocks past the last one up to `size` are
    // a hole.
    std::vector<Extent> extents;
    uint64_t blocks = 0;  // pool blocks held: the counts of the data extents (not holes)
    // xxh3 of the bytes as last committed (has_data_checksum false: committed by a version
    // that kept none). Checked at attach after a crash, and at open with -o verify_reads.
    uint64_t data_checksum = 0;
    bool has_data_checksum = false;
    // The committed version of its bytes under its names (core/version.h): set at every commit
    // and whenever a name comes to hold it (rename, link), kept from the copy it was promoted
    // from.
    Version version;
    // Blocks holding the metadata blob when it does not fit inline (core/aux_chain.h), in chain
    // order; aux_chained false for one raw extent a version-1 segment wrote.
    std::vector<Extent> aux;
    bool aux_chained = true;
    uint64_t auxBlocks() const {
        uint64_t n = 0;
        for (const Extent& e : aux) n += e.count;
        return n;
    }

    // KV-cache metadata (user.kvcache.*).
    int32_t priority = 0;
    bool pinned = false;
    int64_t pin_expires_ns = 0;
    int64_t layer = -1;
    int64_t seq_len = -1;
    std::string parent;  // chain parent, a name in the same directory
    uint64_t access_count = 0;
    uint64_t last_tick = 0;  // pool's logical clock at the last access
    uint64_t made_tick = 0;  // pool's logical clock when it was made (or loaded): FIFO's order
    uint64_t name_hash = 0;
    std::map<std::string, std::string> xattrs;  // other user.* attributes, verbatim

    // Run-time state, not persisted.
    uint64_t lookups = 0;  // references the front end holds (FUSE lookup count)
    uint32_t opens = 0;
    uint32_t write_opens = 0;
    uint32_t chain_children = 0;  // cached entries naming this one as their parent
    bool had_children = false;    // chain_children was non-zero at some point
    bool dirty = false;           // record says Dirty: changed since the last commit
    // Evicted while a reader held it open: its name shows whatever the tiers give back now, so
    // a new open for writing (through a stale lookup) must not change these bytes instead.
    bool evicted = false;
    // Made under a name no lower tier can hold (a data-path store's temporary, Below::Skip):
    // while it keeps that name, changes of it make no removals for the tiers. Cleared when the
    // entry is renamed or linked.
    bool name_never_below = false;
    bool in_policy = false;
    uint64_t matched_in = 0;  // the .match request that last reported it cached (0: none)

    // Where this inode's names are: (directory, dirent slot). A directory has exactly one.
    std::vector<std::pair<EntryId, uint64_t>> names;

    // Directories: names by dirent slot (readdir order, stable under unlink) and by name.
    std::map<uint64_t, DirSlot> by_slot;
    NameIndex by_name;

    std::shared_mutex data_mutex;

    bool isDir() const { return (mode & 0170000) == 0040000; }
    // An entry: a regular file, the only kind with blocks, versions and a place in the policy.
    bool isFile() const { return (mode & 0170000) == 0100000; }
    bool isSymlink() const { return (mode & 0170000) == 0120000; }
    // A symbolic link, FIFO, socket or device node: a name with attributes and nothing cached.
    bool isNode() const { return !isDir() && !isFile(); }
};

}  // namespace kvc
