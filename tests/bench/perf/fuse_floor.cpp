// fuse_floor: the cheapest FUSE filesystem that meets the kernel exactly as kvcachefs does, for the
// performance suite (tests/bench/perf/run.sh). It mounts with the same options
// (default_permissions, allow_other), negotiates the same INIT (no writeback cache,
// no automatic invalidation, 1 MiB writes and read-ahead), opens files with keep_cache, gives
// names and attributes kvcachefs's one-hour timeouts, answers the write privilege check's
// GETXATTR as kvcachefs does, and runs the same multithreaded loop, but it stores nothing:
// a write is acknowledged once libfuse has received its bytes (one copy out of /dev/fuse, the
// least any daemon that keeps data pays), a read is answered from a buffer of zeros (the
// kernel's one copy into the page cache, as for kvcachefs's replies from the segment), and
// files are a name, a size and a mode in a map.
//
// Whatever kvcachefs/tmpfs ratio this reaches in the same run bounds what any FUSE daemon can
// reach on that machine with libfuse 3.14; a target above it is out of FUSE's reach.
//
// Usage: fuse_floor MOUNTPOINT [-f] [-o OPTIONS] [--direct-io]   (one flat directory; unmount
// with fusermount3 -u MOUNTPOINT). --direct-io opens files as kvcachefs -o direct_io does.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/readahead.h"

namespace {

constexpr double kTimeout = 3600.0;  // kvcachefs's default `timeout`
constexpr size_t kMaxIo = 1u << 20;

struct Node {
    std::string name;
    mode_t mode = 0;
    off_t size = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    timespec mtime{};
};

struct Floor {
    std::string mountpoint;
    std::mutex lock;
    std::map<std::string, fuse_ino_t> names;  // ordered, for readdir offsets
    std::unordered_map<fuse_ino_t, Node> nodes;
    fuse_ino_t next_ino = FUSE_ROOT_ID + 1;
    std::vector<char> zeros = std::vector<char>(kMaxIo, 0);
    bool direct_io = false;
};

Floor& floorOf(fuse_req_t req) {
    return *static_cast<Floor*>(fuse_req_userdata(req));
}

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

struct stat statOf(fuse_ino_t ino, const Node& n) {
    struct stat st {};
    st.st_ino = ino;
    st.st_mode = n.mode;
    st.st_nlink = S_ISDIR(n.mode) ? 2 : 1;
    st.st_size = n.size;
    st.st_blocks = (n.size + 511) / 512;
    st.st_blksize = 4096;
    st.st_uid = n.uid;
    st.st_gid = n.gid;
    st.st_mtim = st.st_ctim = st.st_atim = n.mtime;
    return st;
}

// As kvcachefs: entries keep their page cache across opens, or bypass it with direct_io.
void setCaching(fuse_req_t req, fuse_file_info* fi) {
    if (floorOf(req).direct_io)
        fi->direct_io = 1;
    else
        fi->keep_cache = 1;
}

void replyEntry(fuse_req_t req, fuse_ino_t ino, const Node& n, fuse_file_info* fi = nullptr) {
    fuse_entry_param e{};
    e.ino = ino;
    e.attr = statOf(ino, n);
    e.attr_timeout = e.entry_timeout = kTimeout;
    if (fi) {
        setCaching(req, fi);
        fuse_reply_create(req, &e, fi);
    } else {
        fuse_reply_entry(req, &e);
    }
}

void opInit(void* userdata, fuse_conn_info* conn) {
    conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA);
    conn->max_write = kMaxIo;
    conn->max_readahead = kvc::fs::kReadaheadKiB << 10;
    const auto why =
        kvc::fs::raiseReadahead(static_cast<Floor*>(userdata)->mountpoint, kvc::fs::kReadaheadKiB);
    if (!why.empty()) std::fprintf(stderr, "fuse_floor: read-ahead not raised: %s\n", why.c_str());
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = parent == FUSE_ROOT_ID ? f.names.find(name) : f.names.end();
    if (it == f.names.end()) return (void)fuse_reply_err(req, ENOENT);
    replyEntry(req, it->second, f.nodes.at(it->second));
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = f.nodes.find(ino);
    if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
    const struct stat st = statOf(ino, it->second);
    fuse_reply_attr(req, &st, kTimeout);
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = f.nodes.find(ino);
    if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
    Node& n = it->second;
    if (to_set & FUSE_SET_ATTR_SIZE) n.size = attr->st_size;
    if (to_set & FUSE_SET_ATTR_MODE) n.mode = (n.mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID) n.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) n.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_MTIME) n.mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) n.mtime = now();
    const struct stat st = statOf(ino, n);
    fuse_reply_attr(req, &st, kTimeout);
}

void opCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
    Floor& f = floorOf(req);
    if (parent != FUSE_ROOT_ID) return (void)fuse_reply_err(req, ENOENT);
    std::lock_guard lk(f.lock);
    if (f.names.count(name)) return (void)fuse_reply_err(req, EEXIST);
    const fuse_ino_t ino = f.next_ino++;
    const fuse_ctx* ctx = fuse_req_ctx(req);
    Node n{name, S_IFREG | (mode & 07777 & ~ctx->umask), 0, ctx->uid, ctx->gid, now()};
    f.names.emplace(name, ino);
    replyEntry(req, ino, f.nodes.emplace(ino, std::move(n)).first->second, fi);
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = f.nodes.find(ino);
    if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
    if (fi->flags & O_TRUNC) it->second.size = 0;
    setCaching(req, fi);
    fuse_reply_open(req, fi);
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    Floor& f = floorOf(req);
    off_t file_size;
    {
        std::lock_guard lk(f.lock);
        auto it = f.nodes.find(ino);
        if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
        file_size = it->second.size;
    }
    const size_t n =
        off >= file_size ? 0 : std::min<size_t>({size, kMaxIo, size_t(file_size - off)});
    fuse_reply_buf(req, f.zeros.data(), n);
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char*, size_t size, off_t off, fuse_file_info*) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = f.nodes.find(ino);
    if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
    it->second.size = std::max<off_t>(it->second.size, off + off_t(size));
    it->second.mtime = now();
    fuse_reply_write(req, size);
}

// As kvcachefs: mode 0 grows the file (there is nothing to reserve), other modes are refused.
void opFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info*) {
    if (mode != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = f.nodes.find(ino);
    if (it == f.nodes.end()) return (void)fuse_reply_err(req, ENOENT);
    it->second.size = std::max<off_t>(it->second.size, offset + length);
    fuse_reply_err(req, 0);
}

void opUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Floor& f = floorOf(req);
    std::lock_guard lk(f.lock);
    auto it = parent == FUSE_ROOT_ID ? f.names.find(name) : f.names.end();
    if (it == f.names.end()) return (void)fuse_reply_err(req, ENOENT);
    // The inode stays until the kernel forgets it (an open file may still use it).
    f.names.erase(it);
    fuse_reply_err(req, 0);
}

void opForget(fuse_req_t req, fuse_ino_t, uint64_t) {
    fuse_reply_none(req);
}

void opOk(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    fuse_reply_err(req, 0);
}

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (ino != FUSE_ROOT_ID) return (void)fuse_reply_err(req, ENOTDIR);
    fuse_reply_open(req, fi);
}

void opFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
    fuse_reply_err(req, 0);
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    Floor& f = floorOf(req);
    if (ino != FUSE_ROOT_ID) return (void)fuse_reply_err(req, ENOTDIR);
    std::vector<char> buf(size);
    size_t used = 0;
    std::lock_guard lk(f.lock);
    off_t i = 0;
    for (const auto& [name, child] : f.names) {
        if (i++ < off) continue;
        struct stat st {};
        st.st_ino = child;
        st.st_mode = f.nodes.at(child).mode;
        const size_t len =
            fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, i);
        if (len > size - used) break;
        used += len;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void opStatfs(fuse_req_t req, fuse_ino_t) {
    struct statvfs s {};
    s.f_bsize = s.f_frsize = 4096;
    s.f_blocks = s.f_bfree = s.f_bavail = 64ull << 20;  // 256 GiB
    s.f_files = s.f_ffree = 1u << 30;
    s.f_namemax = 255;
    fuse_reply_statfs(req, &s);
}

// As kvcachefs: an entry has no security.* attributes, so the kernel's privilege check before
// each write (security.capability) gets ENODATA and asks again next time.
void opGetxattr(fuse_req_t req, fuse_ino_t, const char*, size_t) {
    fuse_reply_err(req, ENODATA);
}

void opListxattr(fuse_req_t req, fuse_ino_t, size_t size) {
    if (size == 0) return (void)fuse_reply_xattr(req, 0);
    fuse_reply_buf(req, nullptr, 0);
}

}  // namespace

int main(int argc, char* argv[]) {
    Floor floor;
    fuse_args args = FUSE_ARGS_INIT(0, nullptr);
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--direct-io") == 0)
            floor.direct_io = true;
        else
            fuse_opt_add_arg(&args, argv[i]);
    }
    // kvcachefs's mount options: the kernel checks permissions (and so refreshes a changed
    // directory's attributes before the next lookup in it); root mounts for every user.
    fuse_opt_add_arg(&args, "-odefault_permissions");
    if (geteuid() == 0) fuse_opt_add_arg(&args, "-oallow_other");
    fuse_cmdline_opts opts{};
    if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) {
        std::fprintf(stderr, "usage: %s MOUNTPOINT [-f] [-o OPTIONS] [--direct-io]\n", argv[0]);
        return 2;
    }
    floor.mountpoint = opts.mountpoint;
    floor.nodes.emplace(FUSE_ROOT_ID, Node{"", S_IFDIR | 0755, 0, getuid(), getgid(), now()});

    fuse_lowlevel_ops ops{};
    ops.init = opInit;
    ops.lookup = opLookup;
    ops.forget = opForget;
    ops.getattr = opGetattr;
    ops.setattr = opSetattr;
    ops.create = opCreate;
    ops.open = opOpen;
    ops.read = opRead;
    ops.write = opWrite;
    ops.fallocate = opFallocate;
    ops.flush = opOk;
    ops.release = opOk;
    ops.fsync = opFsync;
    ops.unlink = opUnlink;
    ops.opendir = opOpendir;
    ops.readdir = opReaddir;
    ops.releasedir = opOk;
    ops.statfs = opStatfs;
    ops.getxattr = opGetxattr;
    ops.listxattr = opListxattr;

    int rc = 1;
    fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), &floor);
    if (se && fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, opts.mountpoint) == 0) {
            fuse_daemonize(opts.foreground);
            fuse_loop_config* cfg = fuse_loop_cfg_create();
            fuse_loop_cfg_set_max_threads(cfg, 16);  // kvcachefs's default max_threads
            fuse_loop_cfg_set_idle_threads(cfg, 4);
            rc = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;
            fuse_loop_cfg_destroy(cfg);
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    if (se) fuse_session_destroy(se);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return rc;
}
