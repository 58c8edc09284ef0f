// write: entry data is copied once, from libfuse's request buffer into the segment. A write to
// a control file is one command; its answer is what the next read on that descriptor returns.
// fallocate: mode 0 backs the holes of a range with blocks, FALLOC_FL_PUNCH_HOLE makes holes;
// other modes are not supported.
// `.match` is the exception: the writes since the last read are one request (a buffered writer
// may flush a long one in pieces), checked at each write and answered at the next read.
#include <fcntl.h>
#include <linux/falloc.h>

#include "core/clock.h"
#include "core/control_requests.h"
#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {

namespace {

// A control write refused: logged, and kept for the pool's .errors (an `echo` sees only EINVAL).
Error rejected(fuse_req_t req, uint32_t pool, const ControlFile& file, Error error) {
    log(LogLevel::Info, "write to {}: {}", file.name, error.message);
    if (auto slot = fsOf(req).poolByIndex(pool)) slot->rejects.add(file.name, error, nowNs());
    return error;
}

// A write to a control file, done under the handle's lock: the bytes it takes, or the error to
// answer. No reply is sent under it (see ControlHandle).
Result<size_t> writeControl(fuse_req_t req, uint32_t pool, ControlHandle* h, const char* buf,
                            size_t size) {
    std::lock_guard lk(h->lock);
    const std::string_view piece(buf, size);
    if (h->file->kind == ControlKind::Match) {
        // The writes since the last read are one request, answered by the next read.
        if (!h->rebase) h->match.clear();
        if (auto st = h->match.append(piece); !st) return rejected(req, pool, *h->file, st.error());
        h->content.clear();
        h->rebase = true;
        return size;
    }
    auto answer = fsOf(req).controlWrite(pool, *h->file, piece);
    if (!answer) return rejected(req, pool, *h->file, answer.error());
    // Names the command removed are gone for the caller once its write returns (the kernel
    // holds only this control file's lock here).
    fsOf(req).drainNotifications();
    h->content = std::move(*answer);
    h->rebase = true;
    return size;
}

}  // namespace

void opWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
    guarded(req, "write", [&] {
        const NodeRef ref = splitIno(ino);
        if (isControlNode(ref)) {
            awaitOwnCloses(req);
            auto n =
                writeControl(req, ref.pool, reinterpret_cast<ControlHandle*>(fi->fh), buf, size);
            if (!n) return replyError(req, n.error(), "write");
            return (void)fuse_reply_write(req, *n);
        }
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        auto n = slot->pool->write(ref.local, static_cast<uint64_t>(off), buf, size);
        if (!n) {
            log(LogLevel::Debug, "pool {}: write of {} bytes: {}", slot->name, size,
                n.error().message);
            return replyError(req, n.error(), "write");
        }
        fuse_reply_write(req, *n);
    });
}

void opFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info*) {
    guarded(req, "fallocate", [&] {
        const NodeRef ref = splitIno(ino);
        // Mode 0 and hole punching (which Linux takes only with FALLOC_FL_KEEP_SIZE).
        constexpr int kPunch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        if ((mode != 0 && mode != kPunch) || isControlNode(ref)) return replyError(req, EOPNOTSUPP);
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        const auto at = static_cast<uint64_t>(offset), len = static_cast<uint64_t>(length);
        auto st = mode == kPunch ? slot->pool->punchHole(ref.local, at, len)
                                 : slot->pool->allocate(ref.local, at, len);
        if (!st) return replyError(req, st.error(), "fallocate");
        replyOk(req);
    });
}

}  // namespace kvc::fs
