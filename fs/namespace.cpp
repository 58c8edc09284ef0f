// mkdir, rmdir, unlink, rename, link, symlink, mknod and readlink. At the root, mkdir and rmdir
// create and delete pools; everything else there is refused.
#include <sys/stat.h>

#include <cstdio>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {
namespace {

// A control file's name in a pool directory cannot be taken by an entry.
bool isControlName(fuse_ino_t parent, const char* name) {
    const NodeRef ref = splitIno(parent);
    return ref.pool && ref.local == kPoolRootId && findControl(false, name);
}

}  // namespace

void opMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    guarded(req, "mkdir", [&] {
        Filesystem& fs = fsOf(req);
        const fuse_ctx* ctx = fuse_req_ctx(req);
        if (parent == FUSE_ROOT_ID) {
            if (findControl(true, name) || fs.poolByName(name)) return replyError(req, EEXIST);
            // A name declared in the config file (removed, then made again) gets its settings.
            auto slot = fs.createPool(name, fs.settingsFor(name), mode & 07777, ctx->uid, ctx->gid);
            if (!slot) {
                log(LogLevel::Warning, "mkdir of pool {} refused: {}", name, slot.error().message);
                return replyError(req, slot.error(), "mkdir");
            }
            log(LogLevel::Info, "pool {}: created by uid {}", name, ctx->uid);
            auto a = (*slot)->pool->getattr(kPoolRootId);
            return replyPoolEntry(req, (*slot)->index, *a);
        }
        if (isControlInode(parent)) return replyError(req, ENOTDIR);
        if (isControlName(parent, name)) return replyError(req, EEXIST);
        auto slot = poolOf(req, parent);
        if (!slot) return replyError(req, ENOENT);
        const NodeRef ref = splitIno(parent);
        auto dir = slot->pool->getattr(ref.local);
        if (!dir) return replyError(req, dir.error(), "mkdir");
        uint32_t gid = ctx->gid, m = mode & 07777;
        inheritFromDir(*dir, true, gid, m);
        auto a = slot->pool->mkdir(ref.local, name, m, ctx->uid, gid);
        if (!a) return replyError(req, a.error(), "mkdir");
        replyPoolEntry(req, ref.pool, *a);
    });
}

void opRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "rmdir", [&] {
        if (parent == FUSE_ROOT_ID) {
            if (findControl(true, name)) return replyError(req, ENOTDIR);
            auto st = fsOf(req).removePool(name);
            if (!st) return replyError(req, st.error(), "rmdir");
            return replyOk(req);
        }
        if (isControlName(parent, name)) return replyError(req, ENOTDIR);
        auto slot = poolOf(req, parent);
        if (!slot || isControlInode(parent)) return replyError(req, ENOENT);
        auto st = slot->pool->rmdir(splitIno(parent).local, name);
        if (!st) return replyError(req, st.error(), "rmdir");
        replyOk(req);
    });
}

void opUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "unlink", [&] {
        if (parent == FUSE_ROOT_ID) {
            if (findControl(true, name)) return replyError(req, EPERM);
            return replyError(req, fsOf(req).poolByName(name) ? EISDIR : ENOENT);
        }
        if (isControlName(parent, name)) return replyError(req, EPERM);
        auto slot = poolOf(req, parent);
        if (!slot || isControlInode(parent)) return replyError(req, ENOENT);
        auto st = slot->pool->unlink(splitIno(parent).local, name);
        if (!st) return replyError(req, st.error(), "unlink");
        replyOk(req);
    });
}

void opRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
    guarded(req, "rename", [&] {
        unsigned core_flags = 0;
        if (flags & RENAME_NOREPLACE) core_flags |= Pool::kRenameNoReplace;
        if (flags & RENAME_EXCHANGE) core_flags |= Pool::kRenameExchange;
        if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return replyError(req, EINVAL);
        // Pools are not renamed (their segments carry the name); moves between pools copy.
        if (parent == FUSE_ROOT_ID && newparent == FUSE_ROOT_ID) return replyError(req, EPERM);
        const NodeRef a = splitIno(parent), b = splitIno(newparent);
        if (parent == FUSE_ROOT_ID || newparent == FUSE_ROOT_ID || a.pool != b.pool)
            return replyError(req, EXDEV);
        if (isControlName(parent, name) || isControlName(newparent, newname))
            return replyError(req, EPERM);
        auto slot = poolOf(req, parent);
        if (!slot) return replyError(req, ENOENT);
        auto st = slot->pool->rename(a.local, name, b.local, newname, core_flags);
        if (!st) return replyError(req, st.error(), "rename");
        replyOk(req);
    });
}

void opLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    guarded(req, "link", [&] {
        const NodeRef src = splitIno(ino), dst = splitIno(newparent);
        if (isControlInode(ino) || src.local == kPoolRootId || ino == FUSE_ROOT_ID)
            return replyError(req, EPERM);
        if (newparent == FUSE_ROOT_ID) return replyError(req, EPERM);
        if (src.pool != dst.pool) return replyError(req, EXDEV);
        if (isControlName(newparent, newname)) return replyError(req, EEXIST);
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        auto a = slot->pool->link(src.local, dst.local, newname);
        if (!a) return replyError(req, a.error(), "link");
        replyPoolEntry(req, src.pool, *a);
    });
}

// symlink and mknod make a node in a pool directory: the parent's checks, the creator's owner
// and group (inheritFromDir), then `make` with them.
template <class Make>
static void makeNode(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name,
                     uint32_t mode, Make&& make) {
    guarded(req, op, [&] {
        if (parent == FUSE_ROOT_ID) return replyError(req, EPERM);  // the root holds pools
        if (isControlName(parent, name)) return replyError(req, EEXIST);
        auto slot = poolOf(req, parent);
        if (!slot || isControlInode(parent)) return replyError(req, ENOENT);
        const NodeRef ref = splitIno(parent);
        const fuse_ctx* ctx = fuse_req_ctx(req);
        auto dir = slot->pool->getattr(ref.local);
        if (!dir) return replyError(req, dir.error(), op);
        uint32_t gid = ctx->gid, m = mode;
        inheritFromDir(*dir, false, gid, m);
        Result<EntryAttr> a = make(*slot->pool, ref.local, m, ctx->uid, gid);
        if (!a) return replyError(req, a.error(), op);
        replyPoolEntry(req, ref.pool, *a);
    });
}

void opSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
    makeNode(req, "symlink", parent, name, 0777,
             [&](Pool& pool, EntryId dir, uint32_t, uint32_t uid, uint32_t gid) {
                 return pool.symlink(dir, name, link, uid, gid);
             });
}

void opMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    makeNode(req, "mknod", parent, name, mode & 07777,
             [&](Pool& pool, EntryId dir, uint32_t m, uint32_t uid, uint32_t gid) {
                 return pool.mknod(dir, name, (mode & S_IFMT) | m, rdev, uid, gid);
             });
}

void opReadlink(fuse_req_t req, fuse_ino_t ino) {
    guarded(req, "readlink", [&] {
        auto slot = poolOf(req, ino);
        if (!slot || isControlInode(ino)) return replyError(req, EINVAL);
        auto target = slot->pool->readlink(splitIno(ino).local);
        if (!target) return replyError(req, target.error(), "readlink");
        fuse_reply_readlink(req, target->c_str());
    });
}

}  // namespace kvc::fs
