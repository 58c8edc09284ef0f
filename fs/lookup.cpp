// lookup, forget, getattr and setattr.
#include <sys/stat.h>

#include <cstring>

#include "core/clock.h"
#include "core/layout.h"
#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {

// A pool's control files belong to the pool's owner, which a chown of the pool directory changes
// without the kernel knowing. The attributes of those only the owner may write (.policy, .evict,
// .size) are not cached, so the kernel checks each open against the current owner: cached, they
// let a former owner go on changing the pool after the chown.
static double controlAttrTimeout(const Filesystem& fs, const ControlFile& c) {
    return !c.root_level && (c.mode & 0222) == 0200 ? 0.0 : fs.timeout();
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    guarded(req, "lookup", [&] {
        Filesystem& fs = fsOf(req);
        const NodeRef ref = splitIno(parent);
        if (parent == FUSE_ROOT_ID) {
            if (const ControlFile* c = findControl(true, name))
                return replyEntry(req, fs.controlAttr(0, *c), 0, controlAttrTimeout(fs, *c));
            if (std::strlen(name) > kMaxNameBytes) return replyError(req, ENAMETOOLONG);
            auto slot = fs.poolByName(name);
            if (!slot) return replyError(req, ENOENT);
            auto a = slot->pool->getattr(kPoolRootId);
            if (!a) return replyError(req, a.error(), "lookup");
            return replyPoolEntry(req, slot->index, *a);
        }
        auto slot = poolOf(req, parent);
        if (!slot) return replyError(req, ref.pool ? ENOENT : ENOTDIR);
        if (ref.local == kPoolRootId)
            if (const ControlFile* c = findControl(false, name))
                return replyEntry(req, fs.controlAttr(ref.pool, *c), 0, controlAttrTimeout(fs, *c));
        if (ref.local < kFirstEntryId && ref.local != kPoolRootId) return replyError(req, ENOTDIR);
        auto a = slot->pool->lookup(ref.local, name);  // a lower tier's copy comes up first
        if (!a) return replyError(req, a.error(), "lookup");
        replyPoolEntry(req, ref.pool, *a);
    });
}

static void forgetOne(Filesystem& fs, fuse_ino_t ino, uint64_t n) {
    const NodeRef ref = splitIno(ino);
    if (ref.pool == 0 || ref.local < kFirstEntryId) return;  // virtual nodes are not counted
    if (auto slot = fs.poolByIndex(ref.pool); slot && !slot->pool->forget(ref.local, n))
        log(LogLevel::Error,
            "pool {}: the kernel forgot {} references of entry {}, more than it was given (a "
            "lookup count is wrong; please report it)",
            slot->name, n, ref.local);
}

void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    try {
        forgetOne(fsOf(req), ino, nlookup);
    } catch (const std::exception& e) {
        log(LogLevel::Error, "forget: internal error: {}", e.what());
    }
    fuse_reply_none(req);
}

void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    try {
        for (size_t i = 0; i < count; ++i) forgetOne(fsOf(req), forgets[i].ino, forgets[i].nlookup);
    } catch (const std::exception& e) {
        log(LogLevel::Error, "forget: internal error: {}", e.what());
    }
    fuse_reply_none(req);
}

// Attributes of any inode: the root, a control file, a pool directory or a pool's node.
static Result<struct stat> statOf(fuse_req_t req, fuse_ino_t ino) {
    Filesystem& fs = fsOf(req);
    if (ino == FUSE_ROOT_ID) return fs.rootAttr();
    const NodeRef ref = splitIno(ino);
    if (isControlNode(ref)) {
        const ControlFile* c = controlByLocal(ref.pool == 0, ref.local);
        if (!c || (ref.pool && !fs.poolByIndex(ref.pool))) return makeError(ENOENT, "no such file");
        return fs.controlAttr(ref.pool, *c);
    }
    auto slot = poolOf(req, ino);
    if (!slot) return makeError(ENOENT, "pool was deleted");
    auto a = slot->pool->getattr(ref.local);
    if (!a) return a.error();
    return fs.toStat(ref.pool, *a);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    guarded(req, "getattr", [&] {
        auto stat_result = statOf(req, ino);
        if (!stat_result) return replyError(req, stat_result.error(), "getattr");
        const NodeRef ref = splitIno(ino);
        const bool control = isControlNode(ref);
        const ControlFile* c = control ? controlByLocal(ref.pool == 0, ref.local) : nullptr;
        fuse_reply_attr(req, &*stat_result,
                        c ? controlAttrTimeout(fsOf(req), *c) : fsOf(req).timeout());
    });
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    guarded(req, "setattr", [&] {
        const NodeRef ref = splitIno(ino);
        if (ino == FUSE_ROOT_ID) return replyError(req, EPERM);
        if (isControlNode(ref)) {
            // `echo x > .evict` truncates before writing: truncation of a control file is
            // accepted and does nothing; other changes are refused.
            if (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                           FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME))
                return replyError(req, EPERM);
            auto stat_result = statOf(req, ino);
            if (!stat_result) return replyError(req, stat_result.error(), "setattr");
            return (void)fuse_reply_attr(req, &*stat_result, 0);
        }
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        AttrChange c;
        if (to_set & FUSE_SET_ATTR_MODE) c.mode = attr->st_mode;
        if (to_set & FUSE_SET_ATTR_UID) c.uid = attr->st_uid;
        if (to_set & FUSE_SET_ATTR_GID) c.gid = attr->st_gid;
        if (to_set & FUSE_SET_ATTR_SIZE) c.size = static_cast<uint64_t>(attr->st_size);
        const int64_t now = nowNs();
        if (to_set & FUSE_SET_ATTR_ATIME_NOW)
            c.atime_ns = now;
        else if (to_set & FUSE_SET_ATTR_ATIME)
            c.atime_ns = clampedNsOf(attr->st_atim.tv_sec, attr->st_atim.tv_nsec);
        if (to_set & FUSE_SET_ATTR_MTIME_NOW)
            c.mtime_ns = now;
        else if (to_set & FUSE_SET_ATTR_MTIME)
            c.mtime_ns = clampedNsOf(attr->st_mtim.tv_sec, attr->st_mtim.tv_nsec);
        auto a = slot->pool->setattr(ref.local, c);
        if (!a) return replyError(req, a.error(), "setattr");  // a truncate told the tiers
        struct stat new_stat = fsOf(req).toStat(ref.pool, *a);
        fuse_reply_attr(req, &new_stat, fsOf(req).timeout());
    });
}

}  // namespace kvc::fs
