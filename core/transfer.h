// The data path's operations on a pool: what a client does through the mount to store or load
// a KV block, done in one call on the client's behalf, with the same pool operations in the same
// order, so that every rule (eviction, pins, chains, tiers, versions, checksums) and every
// counter (hits, misses, prefix statistics) is the mount's. fs/data_service.cpp is their front
// end; it maps a client's descriptors to pools and ids and its buffers to memory.
//
// Permissions are checked here with the client's credentials (core/access.h), as the kernel
// checks them for the mount: `who` acts as that user would through the mount.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/access.h"
#include "core/pool.h"

namespace kvc {

// One entry to store, with the attributes a chain store sets on it.
struct StoreItem {
    std::string_view name;
    const char* data = nullptr;
    size_t len = 0;
    uint32_t mode = 0644;             // permission bits of the new entry
    std::string_view parent;          // user.kvcache.parent (empty: none)
    std::optional<int32_t> priority;  // user.kvcache.priority
    bool replace = true;              // false: EEXIST when the name exists
    // More extended attributes (user.*, user.kvcache.* hints), set as setxattr(2) sets them.
    std::vector<std::pair<std::string_view, std::string_view>> xattrs;
};

// Stores `item` as the committed entry `item.name` of directory `dir`, as a client of the mount
// stores a block atomically: a temporary name is created (counting the lookup that misses it),
// written, given its attributes and committed, then renamed over the name. A reader of the name
// sees the previous entry or the new one whole; a failure removes the temporary. A crash before
// the commit leaves an uncommitted temporary that attach drops; between the commit and the
// rename, a whole entry under the temporary name, which eviction takes as any other. `tmp_name`
// must be unique among concurrent stores (the caller numbers them); no lower tier is asked for
// it or told of it (Below::Skip).
// EACCES: `who` may not write `dir` (or, in a sticky directory, replace the entry); EISDIR: the
// name is a directory; EEXIST: it exists and !replace; ENOSPC, EDQUOT, EFBIG as a write.
// `replaced` (if given) tells whether an entry had the name before.
Result<EntryAttr> storeEntry(Pool& pool, EntryId dir, const StoreItem& item,
                             std::string_view tmp_name, const Credentials& who,
                             bool* replaced = nullptr);

// Loads the whole committed entry `name` of `dir` into `out`, as open + read + close through the
// mount: the lookup counts a miss or promotes from a lower tier, the open counts a hit and
// touches the policy. Returns the entry's size.
// ENOENT: not cached (an entry still being written is not served); EACCES: `who` may not read
// it or search `dir`; EISDIR; EOVERFLOW: larger than `capacity` (nothing is copied, no hit).
Result<uint64_t> loadEntry(Pool& pool, EntryId dir, std::string_view name, char* out,
                           size_t capacity, const Credentials& who);

// Where each name of a chain is loaded to.
struct LoadSlot {
    char* out = nullptr;
    size_t capacity = 0;
};
struct ChainLoad {
    size_t loaded = 0;            // leading names loaded, in order
    std::vector<uint64_t> sizes;  // of each loaded name
    MatchResult match;            // what the pool answered (as `.match`)
    int stopped_by = 0;           // errno of the name after the loaded run, if it failed to load
};
// The leading cached run of `names` (Pool::match: counted and promoted as `.match` counts them),
// each loaded as loadEntry loads it, in the same call. A name of the run that cannot be loaded
// (evicted since the match, too large for its slot) ends the run there. EACCES: `who` may not
// search `dir`.
Result<ChainLoad> loadChain(Pool& pool, EntryId dir, const std::vector<std::string_view>& names,
                            const std::vector<LoadSlot>& slots, const Credentials& who);

// What `stat` of `name` in `dir` finds (a lookup, counted as the mount counts it).
Result<EntryAttr> statName(Pool& pool, EntryId dir, std::string_view name, const Credentials& who);

// Reads and writes at an offset of an entry the caller holds open with the right access mode
// (the data path: a descriptor the client opened through the mount). A write keeps the entry
// uncommitted until that descriptor's last close, as write(2) does.
Result<size_t> readAt(Pool& pool, EntryId id, uint64_t offset, char* out, size_t len);
Result<size_t> writeAt(Pool& pool, EntryId id, uint64_t offset, const char* in, size_t len);

}  // namespace kvc
