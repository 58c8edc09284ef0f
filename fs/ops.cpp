// The FUSE low-level callback table, session setup (init/destroy) and shared reply helpers.
// The callbacks themselves live one family per file: lookup.cpp, namespace.cpp, open.cpp,
// read.cpp, write.cpp, readdir.cpp, xattr.cpp, statfs.cpp.
#include <sys/stat.h>

#include "fs/ops.h"
#include "fs/readahead.h"
#include "fs/reply.h"

namespace kvc::fs {

void replyEntry(fuse_req_t req, const struct stat& st, uint64_t generation, double attr_timeout) {
    fuse_entry_param e{};
    e.ino = st.st_ino;
    e.generation = generation;
    e.attr = st;
    e.attr_timeout = attr_timeout;
    e.entry_timeout = fsOf(req).timeout();
    fuse_reply_entry(req, &e);
}

void replyPoolEntry(fuse_req_t req, uint32_t pool, const EntryAttr& a) {
    replyEntry(req, fsOf(req).toStat(pool, a), a.generation, fsOf(req).timeout());
}

std::shared_ptr<PoolSlot> poolOf(fuse_req_t req, fuse_ino_t ino) {
    const NodeRef ref = splitIno(ino);
    return ref.pool ? fsOf(req).poolByIndex(ref.pool) : nullptr;
}

void inheritFromDir(const EntryAttr& dir, bool is_dir, uint32_t& gid, uint32_t& mode) {
    if (dir.mode & S_ISGID) {
        gid = dir.gid;
        if (is_dir) mode |= S_ISGID;
    }
}

namespace {

void opInit(void* userdata, fuse_conn_info* conn) {
    // Replies point the kernel at the segment's mapping (fs/read.cpp), so no splice is needed.
    // The writeback cache made large writes barely faster and small-entry operations slower
    // here, and would make the kernel, not the pool, the owner of sizes and times.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    // The daemon is the only writer and invalidates what it changes itself (DECISIONS.md, D7), so
    // the kernel need not drop an entry's cached pages whenever its mtime moves: with this on,
    // every write emptied the entry's page cache and the next read went to the daemon.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_write = 1u << 20;
    conn->max_readahead = kReadaheadKiB << 10;
    const auto& mountpoint = static_cast<Filesystem*>(userdata)->options().mountpoint;
    if (auto why = raiseReadahead(mountpoint, kReadaheadKiB); !why.empty())
        log(LogLevel::Info, "read-ahead stays at the kernel's default: {}", why);
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    // A link's target never changes (a new target is a new inode): the kernel may keep it.
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

void opDestroy(void* userdata) {
    static_cast<Filesystem*>(userdata)->detachAll();
}

fuse_lowlevel_ops makeOps() {
    fuse_lowlevel_ops ops{};
    ops.init = opInit;
    ops.destroy = opDestroy;
    ops.lookup = opLookup;
    ops.forget = opForget;
    ops.forget_multi = opForgetMulti;
    ops.getattr = opGetattr;
    ops.setattr = opSetattr;
    ops.mkdir = opMkdir;
    ops.rmdir = opRmdir;
    ops.unlink = opUnlink;
    ops.rename = opRename;
    ops.link = opLink;
    ops.symlink = opSymlink;
    ops.mknod = opMknod;
    ops.readlink = opReadlink;
    ops.create = opCreate;
    ops.open = opOpen;
    ops.read = opRead;
    ops.write = opWrite;
    ops.fallocate = opFallocate;
    ops.lseek = opLseek;
    ops.flush = opFlush;
    ops.release = opRelease;
    ops.fsync = opFsync;
    ops.opendir = opOpendir;
    ops.readdir = opReaddir;
    ops.releasedir = opReleasedir;
    ops.fsyncdir = opFsyncdir;
    ops.statfs = opStatfs;
    ops.setxattr = opSetxattr;
    ops.getxattr = opGetxattr;
    ops.listxattr = opListxattr;
    ops.removexattr = opRemovexattr;
    return ops;
}

}  // namespace

const fuse_lowlevel_ops& lowlevelOps() {
    static const fuse_lowlevel_ops ops = makeOps();
    return ops;
}

}  // namespace kvc::fs
