// read: entries are answered straight from the segment's mapping (holes of sparse entries from a
// static zero buffer); lseek's SEEK_DATA/SEEK_HOLE asks the pool. The reply points the kernel at
// the mapped extents (one writev to /dev/fuse), so the bytes are copied once, by the kernel, into
// the page cache: no copy in the daemon and, for an entry in one extent, no allocation. The entry's
// read lock is held across the reply (which never waits for another request) so its blocks cannot
// be truncated away meanwhile.
//
// Measured (docs/PERFORMANCE.md): this beats splicing from the shm fd, which costs three system
// calls per reply and, with 1 MiB read-ahead, a pipe larger than an unprivileged daemon may have
// (libfuse then falls back to allocating and copying every reply).
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {
namespace {

// The bytes a read of a control file gets, taken under the handle's lock. No reply is sent
// under it (see ControlHandle).
Result<std::string> readControl(fuse_req_t req, uint32_t pool, ControlHandle* h, size_t size,
                                off_t off) {
    std::lock_guard lk(h->lock);
    if (h->rebase) {  // the answer to a write starts at the offset of the first read after it
        h->rebase = false;
        h->base = static_cast<uint64_t>(off);
        if (h->file->kind == ControlKind::Match) {
            auto names = h->match.names();
            if (!names) return names.error();
            auto answer = fsOf(req).matchAnswer(pool, *names);
            if (!answer) return answer.error();
            h->content = std::move(*answer);
        }
    }
    const uint64_t pos = static_cast<uint64_t>(off) >= h->base ? off - h->base : UINT64_MAX;
    if (pos >= h->content.size()) return std::string();
    return h->content.substr(static_cast<size_t>(pos), size);
}

// Zeros for the holes of sparse entries: pieces of a hole point here (static, so the pages are
// the kernel's shared zero page until something writes them, which nothing does).
constexpr size_t kZeroBytes = 128 << 10;
char zeros[kZeroBytes];

// A read that meets a hole: an iovec per data piece and per kZeroBytes of each hole.
void replyWithHoles(fuse_req_t req, const std::vector<Pool::ReadPiece>& pieces) {
    std::vector<iovec> iov;
    for (const Pool::ReadPiece& p : pieces) {
        if (p.address) {
            iov.push_back(iovec{const_cast<char*>(p.address), p.len});
            continue;
        }
        for (size_t left = p.len; left > 0;) {
            const size_t n = std::min(left, kZeroBytes);
            iov.push_back(iovec{zeros, n});
            left -= n;
        }
    }
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
}

}  // namespace

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    guarded(req, "read", [&] {
        const NodeRef ref = splitIno(ino);
        if (isControlNode(ref)) {
            awaitOwnCloses(req);
            auto bytes =
                readControl(req, ref.pool, reinterpret_cast<ControlHandle*>(fi->fh), size, off);
            if (!bytes) return replyError(req, bytes.error(), "read");
            return (void)fuse_reply_buf(req, bytes->data(), bytes->size());
        }
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        Pool& pool = *slot->pool;
        LatencyTimer timed(pool.latency().read);  // to the reply, which copies the bytes
        auto plan = pool.planRead(ref.local, static_cast<uint64_t>(off), size);
        if (!plan) return replyError(req, plan.error(), "read");
        const std::vector<Pool::ReadPiece>& pieces = plan->pieces;
        const bool hole = std::any_of(pieces.begin(), pieces.end(),
                                      [](const Pool::ReadPiece& p) { return !p.address; });
        if (hole) return replyWithHoles(req, pieces);
        if (pieces.size() <= 1) {
            // The common case: libfuse sends a single memory buffer as it is.
            fuse_bufvec one = FUSE_BUFVEC_INIT(plan->total);
            one.buf[0].mem = pieces.empty() ? nullptr : const_cast<char*>(pieces[0].address);
            fuse_reply_data(req, &one, FUSE_BUF_NO_SPLICE);
            return;
        }
        // A fragmented entry: an iovec per extent (libfuse allocates a copy of the array with
        // room for its header: the only allocation on this path).
        constexpr size_t kInline = 16;
        std::array<iovec, kInline> stack;
        std::vector<iovec> heap;
        iovec* iov = stack.data();
        if (pieces.size() > kInline) {
            heap.resize(pieces.size());
            iov = heap.data();
        }
        for (size_t i = 0; i < pieces.size(); ++i)
            iov[i] = iovec{const_cast<char*>(pieces[i].address), pieces[i].len};
        fuse_reply_iov(req, iov, static_cast<int>(pieces.size()));
    });
}

// SEEK_DATA and SEEK_HOLE (the kernel answers the other whences itself); the rule is the pool's.
void opLseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) {
    guarded(req, "lseek", [&] {
        const NodeRef ref = splitIno(ino);
        if (whence != SEEK_DATA && whence != SEEK_HOLE) return replyError(req, EINVAL);
        // A control file's content is made at each read: no data to seek, as past the end.
        if (isControlNode(ref) || off < 0) return replyError(req, ENXIO);
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        auto at = slot->pool->seek(ref.local, static_cast<uint64_t>(off),
                                   whence == SEEK_DATA ? Seek::Data : Seek::Hole);
        if (!at) return replyError(req, at.error(), "lseek");
        fuse_reply_lseek(req, static_cast<off_t>(*at));
    });
}

}  // namespace kvc::fs
