// EntryImage: one entry's bytes and cache metadata, detached from any pool. It is what moves
// between the tiers of a pool (shared memory, disk, a remote store): an evicted entry leaves its
// pool as an image, and a promoted one comes back from one.
#pragma once

#include <cstdint>
#include <string>

#include "core/version.h"

namespace kvc {

struct EntryImage {
    std::string path;  // pool-relative: "blk-01", or "llama/blk-01" below a directory
    std::string data;
    uint32_t mode = 0100644;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int32_t priority = 0;
    int64_t layer = -1;
    int64_t seq_len = -1;
    int64_t mtime_ns = 0;
    std::string parent;  // chain parent (user.kvcache.parent), empty when none
    uint64_t reads = 0;  // access count when it left its pool
    Version version;     // of the entry's bytes under this path: a copy never goes back in time

    // What an image costs in a queue: its bytes, and at least a page for the metadata.
    uint64_t footprint() const { return data.size() + path.size() + parent.size() + 4096; }
};

// The metadata fields an image carries, copied between the structures that hold them (an
// Inode, an EntryImage, the remote value's header): one list, so none is forgotten.
template <class To, class From>
void copyImageMeta(To& to, const From& from) {
    to.mode = from.mode;
    to.uid = from.uid;
    to.gid = from.gid;
    to.priority = from.priority;
    to.layer = from.layer;
    to.seq_len = from.seq_len;
    to.mtime_ns = from.mtime_ns;
}

}  // namespace kvc
