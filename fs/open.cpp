// create, open, flush, release and fsync. Entries are opened with
// the page cache kept across opens (the daemon invalidates what it changes itself); control
// files with direct I/O and a ControlHandle holding their content.
#include <fcntl.h>
#include <sys/stat.h>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {
namespace {

// What fi->fh holds for an entry (a control file's holds its ControlHandle): whether this open
// counts as a writer, so that its release does too.
constexpr uint64_t kReadHandle = 0;
constexpr uint64_t kWriteHandle = 1;

bool forWrite(const fuse_file_info* fi) {
    return (fi->flags & O_ACCMODE) != O_RDONLY;
}

// What open(2)'s flags ask of the core.
Access accessOf(const fuse_file_info* fi) {
    return forWrite(fi) ? Access::Write : Access::Read;
}

Truncate truncationOf(const fuse_file_info* fi) {
    return (fi->flags & O_TRUNC) ? Truncate::Yes : Truncate::No;
}

IfExists ifExistsOf(const fuse_file_info* fi) {
    if (fi->flags & O_EXCL) return IfExists::Fail;
    return (fi->flags & O_TRUNC) ? IfExists::Truncate : IfExists::Open;
}

void setEntryCaching(fuse_req_t req, fuse_file_info* fi) {
    if (!fsOf(req).options().direct_io)
        fi->keep_cache = 1;
    else
        fi->direct_io = 1;
}

// With atomic O_TRUNC the entry is truncated here and the kernel sends no SETATTR, so nothing
// clears the setuid and setgid bits as a truncate(2) or write(2) by the same caller would. Clear
// them as the kernel's FUSE module does for those (setgid only with group execute), unless the
// caller is root (taken to have CAP_FSETID). The kernel re-reads the mode before it decides
// whether the truncation must clear them, so it sees the new mode at once.
void clearSetIdOnTruncate(fuse_req_t req, Pool& pool, EntryId id) {
    if (fuse_req_ctx(req)->uid == 0) return;
    auto a = pool.getattr(id);
    if (!a) return;
    uint32_t mode = a->mode & 07777;
    if (mode & S_ISUID) mode &= ~S_ISUID;
    if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) mode &= ~S_ISGID;
    if (mode == (a->mode & 07777)) return;
    AttrChange c;
    c.mode = mode;
    (void)pool.setattr(id, c);
}

}  // namespace

void opCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
    guarded(req, "create", [&] {
        const NodeRef ref = splitIno(parent);
        if (parent == FUSE_ROOT_ID) {
            // The root holds pools only.
            if (findControl(true, name)) return replyError(req, EEXIST);
            return replyError(req, EPERM);
        }
        if (ref.local == kPoolRootId && findControl(false, name)) return replyError(req, EEXIST);
        auto slot = poolOf(req, parent);
        if (!slot || isControlInode(parent)) return replyError(req, ENOENT);
        const fuse_ctx* ctx = fuse_req_ctx(req);
        auto dir = slot->pool->getattr(ref.local);
        if (!dir) return replyError(req, dir.error(), "create");
        uint32_t gid = ctx->gid, m = mode & 07777;
        inheritFromDir(*dir, false, gid, m);
        auto a = slot->pool->create(ref.local, name, m, ctx->uid, gid, ifExistsOf(fi));
        if (!a) return replyError(req, a.error(), "create");
        // create always opens for writing in the core; a read-only create is rare (O_CREAT|
        // O_RDONLY) and is released as a writer, so remember that in fh.
        fi->fh = kWriteHandle;
        setEntryCaching(req, fi);
        fuse_entry_param e{};
        e.ino = makeIno(ref.pool, a->id);
        e.generation = a->generation;
        e.attr = fsOf(req).toStat(ref.pool, *a);
        e.attr_timeout = e.entry_timeout = fsOf(req).timeout();
        if (fuse_reply_create(req, &e, fi) != 0) {
            // The opener is gone (interrupted): undo its open and its lookup.
            slot->pool->release(a->id, Access::Write);
            slot->pool->forget(a->id, 1);
        }
    });
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "open", [&] {
        const NodeRef ref = splitIno(ino);
        if (isControlInode(ino)) {
            const ControlFile* c = controlByLocal(ref.pool == 0, ref.local);
            if (!c) return replyError(req, ENOENT);
            awaitOwnCloses(req);  // the content follows this thread's closes
            auto content = fsOf(req).controlContent(ref.pool, *c);
            if (!content) return replyError(req, content.error(), "open");
            auto handle = std::make_unique<ControlHandle>();
            handle->file = c;
            handle->content = std::move(*content);
            ControlHandle* h = fsOf(req).controlHandles().add(std::move(handle));
            fi->fh = reinterpret_cast<uint64_t>(h);
            fi->direct_io = 1;
            if (fuse_reply_open(req, fi) != 0) fsOf(req).controlHandles().remove(h);
            return;
        }
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        // An open by name of an entry that has no name left (evicted while the kernel still
        // cached its name) must not reach the old inode: ESTALE makes the kernel look the
        // name up again, so O_CREAT makes a new entry instead of writing into a removed one.
        if (auto a = slot->pool->getattr(ref.local); a && a->nlink == 0 && !S_ISDIR(a->mode))
            return replyError(req, ESTALE);
        auto st = slot->pool->open(ref.local, accessOf(fi), truncationOf(fi));
        if (!st) return replyError(req, st.error(), "open");
        if (fi->flags & O_TRUNC) clearSetIdOnTruncate(req, *slot->pool, ref.local);
        fi->fh = forWrite(fi) ? kWriteHandle : kReadHandle;
        setEntryCaching(req, fi);
        if (fuse_reply_open(req, fi) != 0) slot->pool->release(ref.local, accessOf(fi));
    });
}

void opFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "flush", [&] {
        // The RELEASE that follows a close(2) is asynchronous: the thread's next request on a
        // control file waits for it (fs/close_order.h).
        if (!isControlInode(ino)) fsOf(req).closeOrder().flushed(ino, fuse_req_ctx(req)->pid);
        // Writes are in the segment as soon as they are answered; what close(2) adds is the
        // commit of an entry whose last writer this is (Pool::flush).
        if (!isControlInode(ino) && fi->fh == kWriteHandle)
            if (auto slot = poolOf(req, ino))
                if (auto st = slot->pool->flush(splitIno(ino).local); !st)
                    return replyError(req, st.error(), "flush");  // close(2) says ENOSPC
        replyOk(req);
    });
}

void opRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "release", [&] {
        if (isControlInode(ino)) {
            fsOf(req).controlHandles().remove(reinterpret_cast<ControlHandle*>(fi->fh));
        } else if (auto slot = poolOf(req, ino)) {
            slot->pool->release(splitIno(ino).local,
                                fi->fh == kWriteHandle ? Access::Write : Access::Read);
        }
        fsOf(req).closeOrder().released(ino);
        replyOk(req);
    });
}

void opFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    guarded(req, "fsync", [&] {
        if (isControlInode(ino)) return replyOk(req);
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        if (auto st = slot->pool->fsync(splitIno(ino).local); !st)
            return replyError(req, st.error(), "fsync");
        replyOk(req);
    });
}

}  // namespace kvc::fs
