// The FUSE low-level callback table, session setup (init/destroy) and shared reply helpers.
// The callbacks themselves live one family per file: lookup.cpp, namespace.cpp, open.cpp,
// read.cpp, write.cpp, readdir.cpp, xattr.cpp, statfs.cpp.
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "fs/ops.h"
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

// Read-ahead window of entries, and so the size of read requests (at most max_write's 1 MiB).
constexpr unsigned kReadaheadKiB = 1024;

// A mountinfo field with its octal escapes (\040 for a space, ...) undone.
std::string unescapeMountinfo(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        auto octal = [&](size_t k) { return k < field.size() && field[k] >= '0' && field[k] <= '7'; };
        if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
            out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                     (field[i + 3] - '0'));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

// The kernel gives every FUSE mount 128 KiB of read-ahead, and INIT can only lower it. With
// 1 MiB, sequential reads and the page faults of a mapped entry become 1 MiB requests instead
// of 128 KiB ones (4 KiB ones for a mapping advised MADV_SEQUENTIAL): cold mmap reads ran 10x
// faster (docs/PERFORMANCE.md). The window lives in sysfs under the mount's device number,
// which /proc/self/mountinfo gives without touching the mountpoint (decision 12). Needs root;
// otherwise the 128 KiB stays.
void raiseReadahead(const std::string& mountpoint, unsigned kib) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line, device;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, major_minor, root, point;
        fields >> id >> parent >> major_minor >> root >> point;
        if (unescapeMountinfo(point) == mountpoint) device = major_minor;  // the topmost wins
    }
    if (device.empty()) {
        log(LogLevel::Info, "read-ahead stays at the kernel's default: {} not in mountinfo",
            mountpoint);
        return;
    }
    std::ofstream knob("/sys/class/bdi/" + device + "/read_ahead_kb");
    knob << kib << '\n';
    knob.flush();
    if (!knob)
        log(LogLevel::Info, "read-ahead stays at the kernel's default: cannot write "
            "/sys/class/bdi/{}/read_ahead_kb (not root?)", device);
}

void opInit(void* userdata, fuse_conn_info* conn) {
    // Replies point the kernel at the segment's mapping (fs/read.cpp), so no splice is needed.
    // The writeback cache made large writes barely faster and small-entry operations slower
    // here, and would make the kernel, not the pool, the owner of sizes and times.
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    // The daemon is the only writer and invalidates what it changes itself (decision 14), so
    // the kernel need not drop an entry's cached pages whenever its mtime moves: with this on,
    // every write emptied the entry's page cache and the next read went to the daemon.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_write = 1u << 20;
    conn->max_readahead = kReadaheadKiB << 10;
    raiseReadahead(static_cast<Filesystem*>(userdata)->options().mountpoint, kReadaheadKiB);
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
