// `kvcachefs restore [--replace] FILE POOLDIR`: verifies a snapshot image whole, then writes it
// into a mounted pool through the mount, with the caller's rights. The semantics (merge or
// replace, temporary names and renames, smaller pools) are restoreImage()'s, in
// core/snapshot_restore.h; this file is the RestoreTarget made of system calls.
//
// POOLDIR may be absent if its parent is a kvcachefs mount: the pool is then made with mkdir
// (the mount's default size and block size; the image's policy is written to its .policy; the
// image's mode and, as root, owner of the pool directory at the end), and removed again if the
// restore fails before anything was written into it.
// Owners are restored when the caller is root; otherwise entries belong to the caller.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "cli/command_util.h"
#include "cli/progress.h"
#include "cli/restore_command.h"
#include "core/clock.h"
#include "core/fd_io.h"
#include "core/snapshot_format.h"
#include "core/snapshot_restore.h"

namespace kvc::cli {
namespace {

constexpr size_t kWriteBytes = 1 << 20;

class MountTarget : public RestoreTarget {
  public:
    MountTarget(std::string pool_dir, bool created_pool, TemporaryPath& temp)
        : pool_dir_(std::move(pool_dir)),
          created_pool_(created_pool),
          temp_(temp),
          as_root_(geteuid() == 0),
          buffer_(kWriteBytes) {}

    std::string describe(std::string_view path) const override { return full(path); }

    Result<uint32_t> blockSize() override {
        auto info = readPoolInfo(pool_dir_);
        if (!info) return info.error();
        return info->block_size;
    }

    Result<uint64_t> capacityBytes() override {
        auto info = readPoolInfo(pool_dir_);
        if (!info) return info.error();
        return info->capacity_bytes;
    }

    Result<std::unordered_map<std::string, PathKind>> listTree() override {
        std::unordered_map<std::string, PathKind> out;
        if (auto st = walk("", out); !st) return st.error();
        return out;
    }

    Result<uint64_t> removeAll() override {
        uint64_t removed = 0;
        if (auto st = removeUnder("", removed); !st) return st.error();
        return removed;
    }

    Status makeDirectory(const SnapshotRecord& d, bool exists) override {
        if (exists) return {};
        // Writable by us until finishDirectory gives it the image's mode.
        if (::mkdir(full(d.path).c_str(), 0700) != 0) {
            struct stat st {};
            if (errno == EEXIST && ::stat(full(d.path).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
                return {};
            return sysError("mkdir", full(d.path));
        }
        return {};
    }

    Status putEntry(const SnapshotRecord& e, EntrySource& data) override {
        const std::string path = full(e.path);
        const std::string tmp = tempFor(e.path);
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return sysError("create", tmp);
        temp_.set(tmp);  // only once it is ours
        bool renamed = false;
        auto st = [&]() -> Status {
            // Blocks of zeros stay holes (docs/SNAPSHOT_FORMAT.md, "Sparse entries"): a sparse
            // entry needs no more room than it took in its pool.
            struct stat fst {};
            if (fstat(fd, &fst) != 0) return sysError("stat", tmp);
            const uint64_t block = fst.st_blksize > 0 ? uint64_t(fst.st_blksize) : 4096;
            uint64_t off = 0;
            for (;;) {
                auto n = data.read(buffer_.data(), buffer_.size());
                if (!n) return n.error();
                if (*n == 0) break;
                if (!pwriteKeepingHoles(fd, buffer_.data(), *n, off, block))
                    return sysError("write", path);
                off += *n;
            }
            if (ftruncate(fd, static_cast<off_t>(off)) != 0) return sysError("truncate", path);
            // Only bytes that still match the image's checksum become visible.
            if (auto f = data.finish(); !f) return f;
            for (const auto& [k, v] : entryAttributes(e)) {
                if (fsetxattr(fd, k.c_str(), v.data(), v.size(), 0) == 0) continue;
                if (errno == EDQUOT && isPinAttribute(k)) {
                    warn(fmt::format("{}: restored unpinned: the pool's pin budget is used up",
                                     path));
                    continue;
                }
                return sysError("setxattr " + k, path);
            }
            if (auto s = setOwner(fd, e, path); !s) return s;
            if (fchmod(fd, e.mode & 07777) != 0) return sysError("chmod", path);
            const timespec times[2] = {timespecOf(e.atime_ns), timespecOf(e.mtime_ns)};
            if (futimens(fd, times) != 0) return sysError("utimens", path);
            // Committed (fsync) before its name replaces another, so that a daemon killed after
            // the rename finds the new version whole; renamed while still open for writing, so
            // the pool cannot evict it in between.
            if (fsync(fd) != 0) return sysError("fsync", path);
            if (::rename(tmp.c_str(), path.c_str()) != 0) return sysError("rename", path);
            renamed = true;
            return {};
        }();
        if (!st && !renamed) ::unlink(tmp.c_str());
        temp_.release();
        if (::close(fd) != 0 && st) return sysError("close", path);
        return st;
    }

    Status putLink(const SnapshotRecord& l) override {
        const std::string path = full(l.path);
        const std::string tmp = tempFor(l.path);
        if (::link(full(l.link_target).c_str(), tmp.c_str()) != 0) {
            if (errno != ENOENT) return sysError("link to " + full(l.link_target), tmp);
            // Evicted by a later write of this restore (a pool smaller than the image).
            warn(fmt::format("{}: not linked: {} was evicted", path, full(l.link_target)));
            return {};
        }
        if (::rename(tmp.c_str(), path.c_str()) != 0) {
            auto err = sysError("rename", path);
            ::unlink(tmp.c_str());
            return err;
        }
        return {};
    }

    Status putNode(const SnapshotRecord& n) override {
        const std::string path = full(n.path);
        const std::string tmp = tempFor(n.path);
        const bool symlink = n.kind == SnapshotKind::Symlink;
        if (symlink ? ::symlink(n.link_target.c_str(), tmp.c_str()) != 0
                    : ::mknod(tmp.c_str(), n.mode & (S_IFMT | 0700), n.rdev) != 0) {
            if (errno == EPERM && !symlink && (S_ISCHR(n.mode) || S_ISBLK(n.mode)) && !as_root_) {
                warn(fmt::format("{}: device node not restored: only root can make one", path));
                return {};
            }
            return sysError(symlink ? "symlink" : "mknod", tmp);
        }
        temp_.set(tmp);  // only once it is ours
        auto st = [&]() -> Status {
            if (as_root_ && lchown(tmp.c_str(), n.uid, n.gid) != 0) return sysError("chown", path);
            if (!symlink && ::chmod(tmp.c_str(), n.mode & 07777) != 0)
                return sysError("chmod", path);
            const timespec times[2] = {timespecOf(n.atime_ns), timespecOf(n.mtime_ns)};
            if (utimensat(AT_FDCWD, tmp.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
                return sysError("utimens", path);
            if (::rename(tmp.c_str(), path.c_str()) != 0) return sysError("rename", path);
            return {};
        }();
        if (!st) ::unlink(tmp.c_str());
        temp_.release();
        return st;
    }

    Status finishDirectory(const SnapshotRecord& d) override {
        const std::string path = full(d.path);
        if (d.path.empty() && !created_pool_) return {};  // an existing pool keeps its own
        if (!d.path.empty()) {
            for (const auto& [k, v] : d.xattrs)
                if (lsetxattr(path.c_str(), k.c_str(), v.data(), v.size(), 0) != 0)
                    return sysError("setxattr " + k, path);
        }
        if (as_root_ && lchown(path.c_str(), d.uid, d.gid) != 0) return sysError("chown", path);
        if (::chmod(path.c_str(), d.mode & 07777) != 0) return sysError("chmod", path);
        if (d.path.empty()) return {};
        const timespec times[2] = {timespecOf(d.atime_ns), timespecOf(d.mtime_ns)};
        if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
            return sysError("utimens", path);
        return {};
    }

  private:
    std::string full(std::string_view rel) const {
        return rel.empty() ? pool_dir_ : pool_dir_ + "/" + std::string(rel);
    }

    // Not a control file's name (those are refused at a pool's top), and recognisable by the
    // snapshot command, which skips such names.
    std::string tempFor(std::string_view rel) {
        const std::string dir = parentPath(rel);
        return full(dir) + fmt::format("/.kvcrestore.{}.{}", getpid(), counter_++);
    }

    Status setOwner(int fd, const SnapshotRecord& e, const std::string& path) {
        if (as_root_) {
            if (fchown(fd, e.uid, e.gid) != 0) return sysError("chown", path);
            return {};
        }
        if (!owner_warned_ && (e.uid != getuid() || e.gid != getgid())) {
            owner_warned_ = true;
            warn(
                fmt::format("owners are not restored (only root can give files away): entries "
                            "belong to uid {} gid {}",
                            getuid(), getgid()));
        }
        return {};
    }

    Status walk(const std::string& rel, std::unordered_map<std::string, PathKind>& out) {
        auto names = listDir(full(rel));
        if (!names) return names.error();
        for (const auto& [name, is_dir] : *names) {
            const std::string child = rel.empty() ? name : rel + "/" + name;
            out.emplace(child, is_dir ? PathKind::Directory : PathKind::Entry);
            if (is_dir)
                if (auto st = walk(child, out); !st) return st;
        }
        return {};
    }

    Status removeUnder(const std::string& rel, uint64_t& removed) {
        auto names = listDir(full(rel));
        if (!names) return names.error();
        for (const auto& [name, is_dir] : *names) {
            const std::string child = rel.empty() ? name : rel + "/" + name;
            if (is_dir) {
                if (auto st = removeUnder(child, removed); !st) return st;
                if (::rmdir(full(child).c_str()) != 0 && errno != ENOENT)
                    return sysError("rmdir", full(child));
            } else {
                // An entry evicted meanwhile is as good as removed.
                if (::unlink(full(child).c_str()) != 0 && errno != ENOENT)
                    return sysError("unlink", full(child));
                removed++;
            }
        }
        return {};
    }

    std::string pool_dir_;
    bool created_pool_;
    TemporaryPath& temp_;
    bool as_root_;
    bool owner_warned_ = false;
    std::vector<char> buffer_;
    uint64_t counter_ = 0;
};

}  // namespace

int runRestore(const std::string& file, const std::string& pool_dir_arg, bool replace) {
    const auto start = std::chrono::steady_clock::now();
    const std::string pool_dir = withoutTrailingSlash(pool_dir_arg);
    ProgressMeter meter;

    // The whole image is verified before the pool is looked at.
    struct stat fst {};
    meter.phase(fmt::format("verify {}", file),
                ::stat(file.c_str(), &fst) == 0 ? static_cast<uint64_t>(fst.st_size) : 0);
    auto image = SnapshotReader::open(file, [&](uint64_t done) { meter.update(done); });
    if (!image) return fail("restore", image.error().message, &meter);
    const SnapshotHeader& h = (*image)->header();

    bool created = false;
    std::vector<std::string> warnings;
    struct stat pst {};
    if (::stat(pool_dir.c_str(), &pst) != 0) {
        const int e = errno;
        if (e != ENOENT)
            return fail("restore", fmt::format("{}: {}", pool_dir, std::strerror(e)), &meter);
        if (!isMountRoot(dirOf(pool_dir)))
            return fail("restore",
                        fmt::format("{}: no such pool, and {} is not a kvcachefs mount", pool_dir,
                                    dirOf(pool_dir)),
                        &meter);
        // A new pool, writable by us until the restore gives it the image's mode, with the
        // image's policy from the start, so evictions during the restore follow it.
        if (::mkdir(pool_dir.c_str(), 0700) != 0)
            return fail("restore", sysError("mkdir", pool_dir).message, &meter);
        created = true;
        const std::string policy_file = pool_dir + "/.policy";
        const std::string line = h.policy + "\n";
        const int fd = ::open(policy_file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, line.data(), line.size()) < 0)
            warnings.push_back(fmt::format("{}: policy {} not set: {}", policy_file, h.policy,
                                           std::strerror(errno)));
        if (fd >= 0) ::close(fd);
    } else if (auto info = readPoolInfo(pool_dir); !info) {
        return fail("restore", info.error().message, &meter);
    }

    TemporaryPath temp;
    MountTarget target(pool_dir, created, temp);
    RestoreOptions options;
    options.replace = replace;
    options.progress = [&](uint64_t done) { meter.update(done); };
    meter.phase(fmt::format("restore {}", pool_dir), (*image)->summary().data_bytes);
    auto report = restoreImage(**image, target, options);
    if (!report) {
        // A pool made for this restore goes again if nothing was written into it.
        if (created) ::rmdir(pool_dir.c_str());
        return fail("restore", report.error().message, &meter);
    }
    meter.clear();
    warnings.insert(warnings.end(), report->warnings.begin(), report->warnings.end());
    for (const std::string& w : warnings)
        std::fprintf(stderr, "kvcachefs restore: warning: %s\n", w.c_str());

    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string line = fmt::format(
        "kvcachefs restore: {} -> {}: {} entries, {} directories, {} ({} bytes) in {:.2f} s, {}",
        file, pool_dir, report->entries, report->directories, humanBytes(report->bytes),
        report->bytes, secs, humanRate(report->bytes, secs));
    if (report->links) line += fmt::format(", {} hard links", report->links);
    if (report->nodes) line += fmt::format(", {} symbolic links and special files", report->nodes);
    if (replace)
        line += fmt::format(", {} entries removed first", report->removed);
    else
        line += fmt::format(", {} replaced", report->replaced);
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace kvc::cli
