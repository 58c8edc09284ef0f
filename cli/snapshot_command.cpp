// `kvcachefs snapshot POOLDIR FILE`: writes a consistent image of a mounted pool, through the
// mount, with the caller's rights (see cli/commands.h).
//
// Consistency: the tree is walked first; then every entry is read with a check around it. An
// entry whose user.kvcache.committed is "0" (a writer has it open and has written since its last
// close) is skipped. For the others, the size, mtime, ctime and inode are taken (from the daemon,
// not the kernel's cache) before and after the bytes are read, together with the committed flag
// and the inode the name leads to: if anything changed, the record is dropped from the image and
// the entry read once more; if it changes again it is left out and counted as skipped. So an
// entry is in the image whole, as one version a writer completed, or not at all.
//
// Entries are read, and stored, least recently used first (by user.kvcache.last_access), so the
// reads this command makes leave the policy's order as it was, and a restore, which writes in
// image order, brings that order back.
#include "cli/snapshot_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "cli/command_util.h"
#include "cli/progress.h"
#include "core/clock.h"
#include "core/snapshot_format.h"

namespace kvc::cli {
namespace {

constexpr size_t kReadBytes = 128 << 10;  // cp's size: measured faster than 1 MiB reads here
constexpr std::string_view kKvPrefix = "user.kvcache.";
// Entries a running or interrupted restore is writing (core/snapshot_restore.h).
constexpr std::string_view kRestoreTempPrefix = ".kvcrestore.";

// "1700000000.000000123" (user.kvcache.created and .last_access) in nanoseconds.
std::optional<int64_t> parseTimeNs(std::string_view text) {
    const size_t dot = text.find('.');
    auto secs = parseNumber<int64_t>(text.substr(0, dot));
    if (!secs) return std::nullopt;
    int64_t ns = 0;
    if (dot != std::string_view::npos) {
        std::string frac(text.substr(dot + 1));
        if (frac.empty() || frac.size() > 9) return std::nullopt;
        frac.resize(9, '0');
        auto f = parseNumber<int64_t>(frac);
        if (!f) return std::nullopt;
        ns = *f;
    }
    return *secs * 1000000000 + ns;
}

// Every extended attribute of an open file but those in `skip`: name -> value. One call
// per name when values fit the buffer (each call is a round trip to the daemon); the size is
// asked only for larger ones.
// Every listed attribute but `skip`, and `also`, which listxattr leaves out (the read-only
// user.kvcache.* ones) and are read by name.
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

// What identifies one version of an entry, asked from the daemon (not the kernel's cache).
struct Version {
    uint64_t ino = 0, size = 0, nlink = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Version& o) const {
        return ino == o.ino && size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
    }
};

int64_t ns(const statx_timestamp& t) {
    return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

Result<Version> versionAt(int dirfd, const char* path, int flags, struct statx& sx,
                          const std::string& name) {
    if (::statx(dirfd, path, flags | AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) != 0)
        return sysError("statx", name);
    return Version{sx.stx_ino, sx.stx_size, sx.stx_nlink, ns(sx.stx_mtime), ns(sx.stx_ctime)};
}

// --- the snapshot ------------------------------------------------------------------------

struct Candidate {
    std::string path;  // pool-relative
    int64_t last_access_ns = 0;
    uint64_t size = 0;
};

struct Counts {
    uint64_t entries = 0, links = 0, bytes = 0;
    uint64_t gone = 0;  // evicted or removed between the walk and the read
    std::vector<std::string> skipped;
};

class Snapshotter {
  public:
    Snapshotter(std::string pool_dir, SnapshotWriter& writer, ProgressMeter& meter)
        : pool_dir_(std::move(pool_dir)), writer_(writer), meter_(meter), buffer_(kReadBytes) {}

    std::string full(const std::string& rel) const {
        return rel.empty() ? pool_dir_ : pool_dir_ + "/" + rel;
    }

    // Directory records (parents first) and the entries to read.
    Status walk(const std::string& rel, std::vector<SnapshotRecord>& dirs,
                std::vector<Candidate>& entries) {
        const std::string path = full(rel);
        Fd dfd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dfd.fd < 0) {
            if (errno == ENOENT && !rel.empty()) return {};  // removed while we walk
            return sysError("open", path);
        }
        struct stat st {};
        if (fstat(dfd.fd, &st) != 0) return sysError("stat", path);
        SnapshotRecord d;
        d.kind = SnapshotKind::Directory;
        d.path = rel;
        d.mode = st.st_mode;
        d.uid = st.st_uid;
        d.gid = st.st_gid;
        d.atime_ns = int64_t{st.st_atim.tv_sec} * 1000000000 + st.st_atim.tv_nsec;
        d.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
        d.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
        if (!rel.empty()) {
            auto x = readXattrs(dfd.fd, path);
            if (!x) return x.error();
            for (auto& [k, v] : *x)
                if (k.compare(0, kKvPrefix.size(), kKvPrefix) != 0) d.xattrs.emplace_back(k, v);
        }
        dirs.push_back(std::move(d));

        auto listed = listDir(dfd.fd, path);
        if (!listed) return listed.error();
        std::vector<std::string> names;
        for (DirName& n : *listed) names.push_back(std::move(n.name));
        std::sort(names.begin(), names.end());
        for (const std::string& name : names) {
            const std::string child = rel.empty() ? name : rel + "/" + name;
            struct stat cs {};
            if (fstatat(dfd.fd, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;  // evicted or removed since readdir
                return sysError("stat", full(child));
            }
            if (S_ISDIR(cs.st_mode)) {
                if (auto s = walk(child, dirs, entries); !s) return s;
            } else if (S_ISREG(cs.st_mode)) {
                if (name.compare(0, kRestoreTempPrefix.size(), kRestoreTempPrefix) == 0) {
                    counts_.skipped.push_back(child);  // a restore's unfinished entry
                    continue;
                }
                Candidate c{child, 0, static_cast<uint64_t>(cs.st_size)};
                // Asked of the daemon: the kernel's cached atime may be old.
                char value[64];
                const ssize_t n = lgetxattr(full(child).c_str(), "user.kvcache.last_access", value,
                                            sizeof value - 1);
                if (n > 0) c.last_access_ns = parseTimeNs(std::string_view(value, n)).value_or(0);
                entries.push_back(std::move(c));
            }
        }
        return {};
    }

    // Reads one entry into the image (see the file comment for the checks).
    Status store(const Candidate& c) {
        const std::string path = full(c.path);
        for (int attempt = 0; attempt < 2; ++attempt) {
            Fd f(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            if (f.fd < 0) {
                if (errno == ENOENT) {
                    counts_.gone++;
                    return {};
                }
                return sysError("open", path);
            }
            auto committed = [&]() -> Result<bool> {
                char v[8];
                const ssize_t n = fgetxattr(f.fd, "user.kvcache.committed", v, sizeof v);
                if (n < 0) return sysError("getxattr user.kvcache.committed", path);
                return !(n >= 1 && v[0] == '0');
            };
            auto c1 = committed();
            if (!c1) return c1.error();
            if (!*c1) {
                counts_.skipped.push_back(c.path);
                return {};
            }
            struct statx sx {};
            auto v1 = versionAt(f.fd, "", AT_EMPTY_PATH, sx, path);
            if (!v1) return v1.error();
            if (v1->nlink > 1) {
                auto it = linked_.find(v1->ino);
                if (it != linked_.end()) return storeLink(c.path, it->second, sx);
            }
            SnapshotRecord rec;
            if (auto st = describeEntry(f.fd, path, sx, rec); !st) return st;
            rec.path = c.path;
            if (c.last_access_ns) rec.atime_ns = c.last_access_ns;  // before our open touched it
            if (auto st = writer_.beginRecord(rec); !st) return st;
            bool whole = true;
            for (uint64_t got = 0; got < rec.data_len;) {
                const size_t want =
                    static_cast<size_t>(std::min<uint64_t>(buffer_.size(), rec.data_len - got));
                const ssize_t n = ::read(f.fd, buffer_.data(), want);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return sysError("read", path);
                if (n == 0) {  // shorter than it was a moment ago: truncated meanwhile
                    whole = false;
                    break;
                }
                if (auto st = writer_.appendData(buffer_.data(), static_cast<size_t>(n)); !st)
                    return st;
                got += static_cast<uint64_t>(n);
                done_ += static_cast<uint64_t>(n);
                meter_.update(done_);
            }
            if (whole) {
                auto c2 = committed();
                if (!c2) return c2.error();
                // The name, asked again: the same inode gives its version after the read in the
                // same round trip; another inode means the entry was replaced meanwhile.
                struct statx after {};
                auto v2 = versionAt(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, after, path);
                if (!v2 && v2.code() == ENOENT)  // evicted or removed: the open inode still reads
                    v2 = versionAt(f.fd, "", AT_EMPTY_PATH, after, path);
                if (!v2) return v2.error();
                whole = *c2 && *v1 == *v2;
            }
            if (whole) {
                if (auto st = writer_.endRecord(); !st) return st;
                counts_.entries++;
                counts_.bytes += rec.data_len;
                if (v1->nlink > 1) linked_.emplace(v1->ino, c.path);
                return {};
            }
            if (auto st = writer_.abandonRecord(); !st) return st;
        }
        counts_.skipped.push_back(c.path);  // changed while read, twice
        return {};
    }

    Counts& counts() { return counts_; }

  private:
    // Attributes and kvcache metadata of an open entry.
    Status describeEntry(int fd, const std::string& path, const struct statx& sx,
                         SnapshotRecord& rec) {
        rec.kind = SnapshotKind::Entry;
        rec.mode = sx.stx_mode;
        rec.uid = sx.stx_uid;
        rec.gid = sx.stx_gid;
        rec.atime_ns = ns(sx.stx_atime);
        rec.mtime_ns = ns(sx.stx_mtime);
        rec.ctime_ns = ns(sx.stx_ctime);
        rec.data_len = sx.stx_size;
        // committed is checked around the read; last_access was taken before our own open.
        auto x = readXattrs(fd, path, {"user.kvcache.committed", "user.kvcache.last_access"},
                            {"user.kvcache.access_count", "user.kvcache.created"});
        if (!x) return x.error();
        auto bad = [&](const std::string& k, const std::string& v) {
            return makeError(EIO, fmt::format("{}: unexpected value {:?} of {}", path, v, k));
        };
        for (const auto& [k, v] : *x) {
            if (k.compare(0, kKvPrefix.size(), kKvPrefix) != 0) {
                rec.xattrs.emplace_back(k, v);
                continue;
            }
            const std::string key = k.substr(kKvPrefix.size());
            auto integer = [&](auto& field) -> Status {
                using T = std::remove_reference_t<decltype(field)>;
                auto n = parseNumber<T>(v);
                if (!n) return bad(k, v);
                field = *n;
                return {};
            };
            Status st;
            if (key == "priority")
                st = integer(rec.priority);
            else if (key == "pinned")
                rec.pinned = v == "1";
            else if (key == "pin_ttl")
                st = integer(rec.pin_ttl_s);
            else if (key == "parent")
                rec.parent = v;
            else if (key == "layer")
                st = integer(rec.layer);
            else if (key == "seq_len")
                st = integer(rec.seq_len);
            else if (key == "access_count")
                st = integer(rec.access_count);
            else if (key == "created")
                rec.btime_ns = parseTimeNs(v).value_or(0);
            // Names a newer daemon may add are not in this format version.
            if (!st) return st;
        }
        // Our own open counted as an access; the image keeps the count the users made.
        if (rec.access_count > 0) rec.access_count--;
        // A pin with a time limit is listed as pin_ttl alone (pinned is then not listed).
        if (x->count("user.kvcache.pin_ttl")) rec.pinned = true;
        if (!rec.pinned) rec.pin_ttl_s = -1;
        return {};
    }

    Status storeLink(const std::string& rel, const std::string& target, const struct statx& sx) {
        SnapshotRecord rec;
        rec.kind = SnapshotKind::Link;
        rec.path = rel;
        rec.link_target = target;
        rec.mode = sx.stx_mode;
        rec.uid = sx.stx_uid;
        rec.gid = sx.stx_gid;
        rec.mtime_ns = ns(sx.stx_mtime);
        if (auto st = writer_.beginRecord(rec); !st) return st;
        if (auto st = writer_.endRecord(); !st) return st;
        counts_.links++;
        return {};
    }

    std::string pool_dir_;
    SnapshotWriter& writer_;
    ProgressMeter& meter_;
    std::vector<char> buffer_;
    std::unordered_map<uint64_t, std::string> linked_;  // inode -> first path stored
    Counts counts_;
    uint64_t done_ = 0;
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
    Snapshotter snap(pool_dir, **writer, meter);
    std::vector<SnapshotRecord> dirs;
    std::vector<Candidate> entries;
    if (auto st = snap.walk("", dirs, entries); !st) return fail("snapshot", st.error().message);
    std::stable_sort(entries.begin(), entries.end(), [](const Candidate& a, const Candidate& b) {
        return a.last_access_ns < b.last_access_ns;
    });
    for (const SnapshotRecord& d : dirs) {
        if (auto st = (*writer)->beginRecord(d); !st) return fail("snapshot", st.error().message);
        if (auto st = (*writer)->endRecord(); !st) return fail("snapshot", st.error().message);
    }
    uint64_t total = 0;
    for (const Candidate& c : entries) total += c.size;
    meter.phase(fmt::format("snapshot {}", pool_dir), total);
    for (const Candidate& c : entries)
        if (auto st = snap.store(c); !st) return fail("snapshot", st.error().message, &meter);
    if (auto st = (*writer)->finish(); !st) return fail("snapshot", st.error().message, &meter);
    // Durable before it takes the name, and the name durable before we say it is done.
    if (fsync(out.fd) != 0) return fail("snapshot", sysError("fsync", tmp).message, &meter);
    if (::rename(tmp.c_str(), file.c_str()) != 0)
        return fail("snapshot", sysError("rename to " + file, tmp).message, &meter);
    guard.release();
    if (fsync(dir.fd) != 0) return fail("snapshot", sysError("fsync", out_dir).message, &meter);
    meter.clear();

    const Counts& n = snap.counts();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string line = fmt::format(
        "kvcachefs snapshot: {} -> {}: {} entries, {} directories, {} ({} bytes) in {:.2f} s, {}",
        pool_dir, file, n.entries, dirs.size() - 1, humanBytes(n.bytes), n.bytes, secs,
        humanRate(n.bytes, secs));
    if (n.links) line += fmt::format(", {} hard links", n.links);
    line += fmt::format(", {} skipped", n.skipped.size());
    if (!n.skipped.empty())
        line += fmt::format(" (being written or changing: {})", listSome(n.skipped));
    if (n.gone) line += fmt::format(", {} evicted or removed meanwhile", n.gone);
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace kvc::cli
