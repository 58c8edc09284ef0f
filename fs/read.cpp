// read: entries are answered straight from the segment. The reply is a buffer vector of file
// ranges of the segment's fd, so libfuse splices the pages to the kernel: no copy in the daemon
// and no buffer allocated per request. The entry's read lock is held across the reply (which
// never waits for another request) so its blocks cannot be truncated away meanwhile.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {
namespace {

void readControl(fuse_req_t req, ControlHandle* h, size_t size, off_t off) {
    if (h->rebase) {  // the answer to a write starts at the offset of the first read after it
        h->rebase = false;
        h->base = static_cast<uint64_t>(off);
    }
    const uint64_t pos = static_cast<uint64_t>(off) >= h->base ? off - h->base : UINT64_MAX;
    if (pos >= h->content.size()) return (void)fuse_reply_buf(req, nullptr, 0);
    const size_t n = std::min(size, h->content.size() - static_cast<size_t>(pos));
    fuse_reply_buf(req, h->content.data() + pos, n);
}

}  // namespace

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    guarded(req, "read", [&] {
        const NodeRef ref = splitIno(ino);
        if (ref.local > kPoolRootId && ref.local < kFirstEntryId)
            return readControl(req, reinterpret_cast<ControlHandle*>(fi->fh), size, off);
        auto slot = poolOf(req, ino);
        if (!slot) return (void)fuse_reply_err(req, ENOENT);
        Pool& pool = *slot->pool;
        auto plan = pool.planRead(ref.local, static_cast<uint64_t>(off), size);
        if (!plan) return replyError(req, plan.error(), "read");
        const int fd = pool.segment().fd();
        // Most reads cover one or a few extents: a buffer vector on the stack.
        constexpr size_t kInline = 16;
        const size_t n = plan->pieces.size();
        std::array<char, sizeof(fuse_bufvec) + kInline * sizeof(fuse_buf)> stack{};
        std::vector<char> heap;
        char* mem = stack.data();
        if (n > kInline) {
            heap.resize(sizeof(fuse_bufvec) + n * sizeof(fuse_buf));
            mem = heap.data();
        }
        auto* bv = reinterpret_cast<fuse_bufvec*>(mem);
        bv->count = std::max<size_t>(n, 1);
        bv->idx = 0;
        bv->off = 0;
        if (n == 0) {
            bv->buf[0] = fuse_buf{};
            bv->buf[0].size = 0;
        }
        for (size_t i = 0; i < n; ++i) {
            fuse_buf& b = bv->buf[i];
            b = fuse_buf{};
            b.size = plan->pieces[i].len;
            b.flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
            b.fd = fd;
            b.pos = static_cast<off_t>(plan->pieces[i].file_offset);
        }
        fuse_reply_data(req, bv, static_cast<fuse_buf_copy_flags>(0));
    });
}

}  // namespace kvc::fs
