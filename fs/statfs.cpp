// statfs: a pool reports its own capacity and free space; the root the sum over pools.
#include <sys/statvfs.h>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {

void opStatfs(fuse_req_t req, fuse_ino_t ino) {
    guarded(req, "statfs", [&] {
        PoolStats s;
        uint64_t bsize = 4096;
        if (auto slot = poolOf(req, ino)) {
            s = slot->pool->stats();
            bsize = s.block_size;
        } else {
            for (const auto& p : fsOf(req).pools()) s = sumStats(s, p->pool->stats());
        }
        struct statvfs st {};
        st.f_bsize = bsize;
        st.f_frsize = bsize;
        st.f_blocks = s.capacity_bytes / bsize;
        st.f_bfree = s.free_bytes / bsize;
        st.f_bavail = st.f_bfree;
        st.f_files = s.max_entries;
        st.f_ffree = s.max_entries - std::min(s.max_entries, s.entries + s.directories);
        st.f_favail = st.f_ffree;
        st.f_namemax = 255;
        fuse_reply_statfs(req, &st);
    });
}

}  // namespace kvc::fs
