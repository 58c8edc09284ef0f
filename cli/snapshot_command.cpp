// `kvcachefs snapshot POOLDIR FILE`: writes a consistent image of a mounted pool, through the
// mount, with the caller's rights (see cli/commands.h).
//
// What is read, in which order, and when an entry that changed under the snapshot is read again
// or left out is takeSnapshot()'s, in core/snapshot_source.h (docs/SNAPSHOT_FORMAT.md,
// "Consistency of a snapshot"); this file is the SnapshotSource made of system calls on the
// mount, and writes the image atomically next to FILE.
#include "cli/snapshot_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "cli/command_util.h"
#include "cli/progress.h"
#include "core/clock.h"
#include "core/names.h"
#include "core/snapshot_format.h"
#include "core/snapshot_source.h"

namespace kvc::cli {
namespace {

constexpr size_t kReadBytes = 128 << 10;  // cp's size: measured faster than 1 MiB reads here

// Every listed attribute of an open file but `skip`, and `also`, which listxattr leaves out
// (the read-only user.kvcache.* ones) and are read by name: name -> value. One call per name
// when values fit the buffer (each call is a round trip to the daemon); the size is asked only
// for larger ones.
Result<std::map<std::string, std::string>> readXattrs(
    int fd, const std::string& path, std::initializer_list<std::string_view> skip = {},
    std::initializer_list<std::string_view> also = {}) {
    thread_local std::vector<char> buf(65536);
    std::map<std::string, std::string> out;
    std::string names;
    for (;;) {
        const ssize_t got = flistxattr(fd, buf.data(), buf.size());
        if (got >= 0) {
            names.assign(buf.data(), static_cast<size_t>(got));
            break;
        }
        if (errno != ERANGE) return sysError("listxattr", path);
        const ssize_t len = flistxattr(fd, nullptr, 0);
        if (len < 0) return sysError("listxattr", path);
        buf.resize(static_cast<size_t>(len) + 1);
    }
    for (std::string_view name : also) names.append(name).push_back('\0');
    for (size_t at = 0; at < names.size();) {
        const std::string name = names.c_str() + at;
        at += name.size() + 1;
        if (name.empty() || std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
        for (;;) {
            const ssize_t got = fgetxattr(fd, name.c_str(), buf.data(), buf.size());
            if (got >= 0) {
                out[name].assign(buf.data(), static_cast<size_t>(got));
                break;
            }
            if (errno == ENODATA) break;  // removed meanwhile (a pin_ttl that ran out)
            if (errno != ERANGE) return sysError("getxattr " + name, path);
            const ssize_t len = fgetxattr(fd, name.c_str(), nullptr, 0);
            if (len < 0 && errno == ENODATA) break;
            if (len < 0) return sysError("getxattr " + name, path);
            buf.resize(static_cast<size_t>(len) + 1);
        }
    }
    return out;
}

int64_t ns(const statx_timestamp& t) {
    return clampedNsOf(t.tv_sec, t.tv_nsec);
}

int64_t ns(const timespec& t) {
    return clampedNsOf(t.tv_sec, t.tv_nsec);
}

// Attributes asked of the daemon (AT_STATX_FORCE_SYNC), not the kernel's cache.
Result<SourceStat> statAt(int dirfd, const char* path, int flags, const std::string& name) {
    struct statx sx {};
    if (::statx(dirfd, path, flags | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) != 0)
        return sysError("statx", name);
    SourceStat s;
    s.ino = sx.stx_ino;
    s.size = sx.stx_size;
    s.nlink = sx.stx_nlink;
    s.mode = sx.stx_mode;
    s.uid = sx.stx_uid;
    s.gid = sx.stx_gid;
    s.atime_ns = ns(sx.stx_atime);
    s.mtime_ns = ns(sx.stx_mtime);
    s.ctime_ns = ns(sx.stx_ctime);
    s.rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
    return s;
}

class MountEntry : public SourceEntry {
  public:
    MountEntry(int fd, std::string path) : f_(fd), path_(std::move(path)) {}

    Result<SourceStat> stat() override { return statAt(f_.fd, "", AT_EMPTY_PATH, path_); }

    Result<SourceStat> statPath() override {
        auto s = statAt(AT_FDCWD, path_.c_str(), AT_SYMLINK_NOFOLLOW, path_);
        if (!s && s.code() == ENOENT)  // evicted or removed: the open inode still reads
            s = statAt(f_.fd, "", AT_EMPTY_PATH, path_);
        return s;
    }

    Result<std::string> attribute(std::string_view name) override {
        const std::string key(name);
        char v[8];
        const ssize_t n = fgetxattr(f_.fd, key.c_str(), v, sizeof v);
        if (n < 0) return sysError("getxattr " + key, path_);
        return std::string(v, static_cast<size_t>(n));
    }

    Result<std::map<std::string, std::string>> attributes(
        std::initializer_list<std::string_view> skip,
        std::initializer_list<std::string_view> also) override {
        return readXattrs(f_.fd, path_, skip, also);
    }

    Result<size_t> read(void* out, size_t len) override {
        for (;;) {
            const ssize_t n = ::read(f_.fd, out, len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return sysError("read", path_);
            pos_ += static_cast<uint64_t>(n);
            return static_cast<size_t>(n);
        }
    }

    // Two lseeks per run of data (where it starts, where it ends), none per read.
    Result<uint64_t> skipHole(uint64_t max) override {
        if (pos_ < data_end_) return uint64_t{0};
        const off_t data = ::lseek(f_.fd, static_cast<off_t>(pos_), SEEK_DATA);
        uint64_t hole = 0;
        if (data < 0 && errno == ENXIO) {
            hole = max;  // a hole to the end (or the entry shrank: the version check sees it)
        } else if (data < 0) {
            data_end_ = UINT64_MAX;  // no hole information: everything is data
            return uint64_t{0};
        } else if (static_cast<uint64_t>(data) > pos_) {
            hole = std::min<uint64_t>(max, static_cast<uint64_t>(data) - pos_);
        } else {
            const off_t end = ::lseek(f_.fd, static_cast<off_t>(pos_), SEEK_HOLE);
            data_end_ = end < 0 ? UINT64_MAX : static_cast<uint64_t>(end);
            if (::lseek(f_.fd, static_cast<off_t>(pos_), SEEK_SET) < 0)
                return sysError("lseek", path_);
            return uint64_t{0};
        }
        pos_ += hole;
        if (::lseek(f_.fd, static_cast<off_t>(pos_), SEEK_SET) < 0) return sysError("lseek", path_);
        return hole;
    }

  private:
    Fd f_;
    std::string path_;
    uint64_t pos_ = 0;       // the descriptor's offset
    uint64_t data_end_ = 0;  // where the run of data at pos_ ends (0: not asked yet)
};

// A pool reached through its directory on a mount.
class MountSource : public SnapshotSource {
  public:
    explicit MountSource(std::string pool_dir) : pool_dir_(std::move(pool_dir)) {}

    std::string describe(std::string_view rel) const override {
        return rel.empty() ? pool_dir_ : pool_dir_ + "/" + std::string(rel);
    }

    Result<SourceDirectory> readDirectory(std::string_view rel, bool with_xattrs) override {
        const std::string path = describe(rel);
        Fd dfd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dfd.fd < 0) return sysError("open", path);
        struct stat st {};
        if (fstat(dfd.fd, &st) != 0) return sysError("stat", path);
        SourceDirectory out;
        SnapshotRecord& d = out.record;
        d.kind = SnapshotKind::Directory;
        d.mode = st.st_mode;
        d.uid = st.st_uid;
        d.gid = st.st_gid;
        d.atime_ns = ns(st.st_atim);
        d.mtime_ns = ns(st.st_mtim);
        d.ctime_ns = ns(st.st_ctim);
        if (with_xattrs) {
            auto x = readXattrs(dfd.fd, path);
            if (!x) return x.error();
            d.xattrs.assign(x->begin(), x->end());
        }
        auto names = listDir(dfd.fd, path);
        if (!names) return names.error();
        for (const DirName& n : *names) {
            struct stat cs {};
            if (fstatat(dfd.fd, n.name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;  // evicted or removed since readdir
                return sysError("stat", path + "/" + n.name);
            }
            SourceChild c{n.name, SourceKind::Other, 0};
            if (S_ISDIR(cs.st_mode)) {
                c.kind = SourceKind::Directory;
            } else if (S_ISREG(cs.st_mode)) {
                c.kind = SourceKind::Entry;
                c.size = static_cast<uint64_t>(cs.st_size);
            } else {
                c.kind = SourceKind::Node;
            }
            out.children.push_back(std::move(c));
        }
        return out;
    }

    std::optional<std::string> entryAttribute(std::string_view rel,
                                              std::string_view name) override {
        // Asked of the daemon: the kernel's cached atime may be old.
        char value[64];
        const ssize_t n =
            lgetxattr(describe(rel).c_str(), std::string(name).c_str(), value, sizeof value - 1);
        if (n <= 0) return std::nullopt;
        return std::string(value, static_cast<size_t>(n));
    }

    Result<SourceNode> readNode(std::string_view rel) override {
        const std::string path = describe(rel);
        auto st = statAt(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, path);
        if (!st) return st.error();
        SourceNode node{*st, {}};
        if (S_ISLNK(st->mode)) {
            std::string target(kMaxSymlinkBytes + 1, '\0');
            const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
            if (n < 0) return sysError("readlink", path);
            target.resize(static_cast<size_t>(n));
            node.target = std::move(target);
        }
        return node;
    }

    Result<std::unique_ptr<SourceEntry>> openEntry(std::string_view rel) override {
        const std::string path = describe(rel);
        const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return sysError("open", path);
        return std::unique_ptr<SourceEntry>(std::make_unique<MountEntry>(fd, path));
    }

  private:
    std::string pool_dir_;
};

std::string listSome(const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
    if (names.size() > 5) out += fmt::format(" and {} more", names.size() - 5);
    return out;
}

}  // namespace

int runSnapshot(std::string pool_dir, const std::string& file) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t started_ns = nowNs();
    pool_dir = withoutTrailingSlash(pool_dir);
    auto info = readPoolInfo(pool_dir);
    if (!info) return fail("snapshot", info.error().message);

    // The image goes next to FILE under a temporary name, never into the mount itself.
    const std::string out_dir = dirOf(file);
    Fd dir(::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.fd < 0) return fail("snapshot", sysError("open", out_dir).message);
    struct stat dst {
    }, pst{};
    if (fstat(dir.fd, &dst) != 0 || ::stat(pool_dir.c_str(), &pst) != 0)
        return fail("snapshot", sysError("stat", out_dir).message);
    if (dst.st_dev == pst.st_dev)
        return fail("snapshot", fmt::format("{} is on the kvcachefs mount: write the snapshot to "
                                            "another filesystem",
                                            file));
    const std::string base =
        file.substr(file.rfind('/') == std::string::npos ? 0 : file.rfind('/') + 1);
    if (base.empty()) return fail("snapshot", fmt::format("{} names a directory", file));
    const std::string tmp = fmt::format("{}/.{}.tmp.{}", out_dir, base, getpid());
    TemporaryPath guard;
    Fd out(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (out.fd < 0) return fail("snapshot", sysError("create", tmp).message);
    guard.set(tmp);  // only once it is ours

    SnapshotHeader h;
    h.block_size = info->block_size;
    h.pool = info->name;
    h.policy = info->policy;
    h.capacity_bytes = info->capacity_bytes;
    h.created_ns = started_ns;
    auto writer = SnapshotWriter::start(out.fd, file, h);
    if (!writer) return fail("snapshot", writer.error().message);

    ProgressMeter meter;
    MountSource source(pool_dir);
    SnapshotOptions options;
    options.read_bytes = kReadBytes;
    options.walked = [&](uint64_t total) {
        meter.phase(fmt::format("snapshot {}", pool_dir), total);
    };
    options.progress = [&](uint64_t done) { meter.update(done); };
    auto report = takeSnapshot(source, **writer, options);
    if (!report) return fail("snapshot", report.error().message, &meter);
    if (auto st = (*writer)->finish(); !st) return fail("snapshot", st.error().message, &meter);
    // Durable before it takes the name, and the name durable before we say it is done.
    if (fsync(out.fd) != 0) return fail("snapshot", sysError("fsync", tmp).message, &meter);
    if (::rename(tmp.c_str(), file.c_str()) != 0)
        return fail("snapshot", sysError("rename to " + file, tmp).message, &meter);
    guard.release();
    if (fsync(dir.fd) != 0) return fail("snapshot", sysError("fsync", out_dir).message, &meter);
    meter.clear();

    const SnapshotReport& n = *report;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string line = fmt::format(
        "kvcachefs snapshot: {} -> {}: {} entries, {} directories, {} ({} bytes) in {:.2f} s, {}",
        pool_dir, file, n.entries, n.directories, humanBytes(n.bytes), n.bytes, secs,
        humanRate(n.bytes, secs));
    if (n.links) line += fmt::format(", {} hard links", n.links);
    if (n.nodes) line += fmt::format(", {} symbolic links and special files", n.nodes);
    line += fmt::format(", {} skipped", n.skipped.size());
    if (!n.skipped.empty())
        line += fmt::format(" (being written or changing: {})", listSome(n.skipped));
    if (n.gone) line += fmt::format(", {} evicted or removed meanwhile", n.gone);
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace kvc::cli
