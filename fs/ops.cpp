// The FUSE low-level callback table, session setup (init/destroy) and shared reply helpers.
// The callbacks themselves live one family per file: lookup.cpp, namespace.cpp, open.cpp,
// read.cpp, write.cpp, readdir.cpp, xattr.cpp, statfs.cpp.
#include <sys/stat.h>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {

void replyEntry(fuse_req_t req, const struct stat& st, uint64_t generation) {
    fuse_entry_param e{};
    e.ino = st.st_ino;
    e.generation = generation;
    e.attr = st;
    e.attr_timeout = fsOf(req).timeout();
    e.entry_timeout = fsOf(req).timeout();
    fuse_reply_entry(req, &e);
}

void replyPoolEntry(fuse_req_t req, uint32_t pool, const EntryAttr& a) {
    replyEntry(req, fsOf(req).toStat(pool, a), a.generation);
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
    (void)userdata;
    // Reads are answered by splicing from the segment's fd: no copy in the daemon and no
    // buffer allocated per request.
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    // The writeback cache made large writes slower here, and would delay what other
    // processes see through the shared segment.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    conn->max_write = 1u << 20;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

void opDestroy(void* userdata) { static_cast<Filesystem*>(userdata)->detachAll(); }

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
    ops.create = opCreate;
    ops.open = opOpen;
    ops.read = opRead;
    ops.write = opWrite;
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
