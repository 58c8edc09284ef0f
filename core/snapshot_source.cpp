// Taking a snapshot image of a pool through a SnapshotSource (see core/snapshot_source.h).
#include "core/snapshot_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/parse_number.h"
#include "core/xattr_rules.h"

namespace kvc {
namespace {

// Entries a running or interrupted restore is writing (core/snapshot_restore.h).
constexpr std::string_view kRestoreTempPrefix = ".kvcrestore.";

bool startsWith(std::string_view s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

std::string join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
}

// Mode, owner and times.
void attributesOf(const SourceStat& sx, SnapshotRecord& rec) {
    rec.mode = sx.mode;
    rec.uid = sx.uid;
    rec.gid = sx.gid;
    rec.atime_ns = sx.atime_ns;
    rec.mtime_ns = sx.mtime_ns;
    rec.ctime_ns = sx.ctime_ns;
}

struct Candidate {
    std::string path;
    int64_t last_access_ns = 0;
    uint64_t size = 0;
};

class Snapshotter {
  public:
    Snapshotter(SnapshotSource& source, SnapshotWriter& writer, const SnapshotOptions& options)
        : source_(source), writer_(writer), options_(options), buffer_(options.read_bytes) {}

    Result<SnapshotReport> run() {
        std::vector<SnapshotRecord> dirs;
        std::vector<Candidate> entries;
        std::vector<std::string> nodes;
        if (auto st = walk("", dirs, entries, nodes); !st) return st.error();
        std::stable_sort(entries.begin(), entries.end(),
                         [](const Candidate& a, const Candidate& b) {
                             return a.last_access_ns < b.last_access_ns;
                         });
        for (const SnapshotRecord& d : dirs) {
            if (auto st = writer_.beginRecord(d); !st) return st.error();
            if (auto st = writer_.endRecord(); !st) return st.error();
        }
        report_.directories = dirs.size() - 1;
        for (const std::string& path : nodes)
            if (auto st = storeNode(path); !st) return st.error();
        uint64_t total = 0;
        for (const Candidate& c : entries) total += c.size;
        if (options_.walked) options_.walked(total);
        for (const Candidate& c : entries)
            if (auto st = store(c); !st) return st.error();
        return std::move(report_);
    }

  private:
    // Directory records (parents first) and the entries to read.
    Status walk(const std::string& rel, std::vector<SnapshotRecord>& dirs,
                std::vector<Candidate>& entries, std::vector<std::string>& nodes) {
        auto dir = source_.readDirectory(rel, !rel.empty());
        if (!dir) {
            if (dir.code() == ENOENT && !rel.empty()) return {};  // removed while we walk
            return dir.error();
        }
        SnapshotRecord d = std::move(dir->record);
        d.kind = SnapshotKind::Directory;
        d.path = rel;
        std::erase_if(d.xattrs,
                      [](const auto& kv) { return startsWith(kv.first, kKvcacheXattrPrefix); });
        dirs.push_back(std::move(d));

        std::vector<SourceChild>& children = dir->children;
        std::sort(children.begin(), children.end(),
                  [](const SourceChild& a, const SourceChild& b) { return a.name < b.name; });
        for (const SourceChild& child : children) {
            const std::string path = join(rel, child.name);
            if (child.kind == SourceKind::Directory) {
                if (auto s = walk(path, dirs, entries, nodes); !s) return s;
            } else if (child.kind == SourceKind::Node) {
                nodes.push_back(path);
            } else if (child.kind == SourceKind::Entry) {
                if (startsWith(child.name, kRestoreTempPrefix)) {
                    report_.skipped.push_back(path);  // a restore's unfinished entry
                    continue;
                }
                Candidate c{path, 0, child.size};
                if (auto v = source_.entryAttribute(path, "user.kvcache.last_access"); v)
                    c.last_access_ns = parseAttributeTime(*v).value_or(0);
                entries.push_back(std::move(c));
            }
        }
        return {};
    }

    // Reads one entry into the image (see the header comment for the checks).
    Status store(const Candidate& c) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto opened = source_.openEntry(c.path);
            if (!opened) {
                if (opened.code() == ENOENT) {
                    report_.gone++;
                    return {};
                }
                return opened.error();
            }
            SourceEntry& f = **opened;
            auto c1 = committed(f);
            if (!c1) return c1.error();
            if (!*c1) {
                report_.skipped.push_back(c.path);
                return {};
            }
            auto v1 = f.stat();
            if (!v1) return v1.error();
            if (v1->nlink > 1) {
                auto it = linked_.find(v1->ino);
                if (it != linked_.end()) return storeLink(c.path, it->second, *v1);
            }
            SnapshotRecord rec;
            if (auto st = describeEntry(f, c.path, *v1, rec); !st) return st;
            rec.path = c.path;
            if (c.last_access_ns) rec.atime_ns = c.last_access_ns;  // before our open touched it
            if (auto st = writer_.beginRecord(rec); !st) return st;
            bool whole = true;
            for (uint64_t got = 0; got < rec.data_len;) {
                auto hole = f.skipHole(rec.data_len - got);
                if (!hole) return hole.error();
                if (*hole > 0) {
                    if (auto st = writer_.appendZeros(*hole); !st) return st;
                    got += *hole;
                    done_ += *hole;
                    if (options_.progress) options_.progress(done_);
                    continue;
                }
                const size_t want =
                    static_cast<size_t>(std::min<uint64_t>(buffer_.size(), rec.data_len - got));
                auto n = f.read(buffer_.data(), want);
                if (!n) return n.error();
                if (*n == 0) {  // shorter than it was a moment ago: truncated meanwhile
                    whole = false;
                    break;
                }
                if (auto st = writer_.appendData(buffer_.data(), *n); !st) return st;
                got += *n;
                done_ += *n;
                if (options_.progress) options_.progress(done_);
            }
            if (whole) {
                auto c2 = committed(f);
                if (!c2) return c2.error();
                // The path, asked again: the same inode gives its version after the read;
                // another inode means the entry was replaced meanwhile.
                auto v2 = f.statPath();
                if (!v2) return v2.error();
                whole = *c2 && sameVersion(*v1, *v2);
            }
            if (whole) {
                if (auto st = writer_.endRecord(); !st) return st;
                report_.entries++;
                report_.bytes += rec.data_len;
                if (v1->nlink > 1) linked_.emplace(v1->ino, c.path);
                return {};
            }
            if (auto st = writer_.abandonRecord(); !st) return st;
        }
        report_.skipped.push_back(c.path);  // changed while read, twice
        return {};
    }

    static Result<bool> committed(SourceEntry& f) {
        auto v = f.attribute("user.kvcache.committed");
        if (!v) return v.error();
        return !(!v->empty() && (*v)[0] == '0');
    }

    // Attributes and kvcache metadata of an open entry.
    Status describeEntry(SourceEntry& f, const std::string& rel, const SourceStat& sx,
                         SnapshotRecord& rec) {
        rec.kind = SnapshotKind::Entry;
        attributesOf(sx, rec);
        rec.data_len = sx.size;
        // committed is checked around the read; last_access was taken before our own open.
        auto x = f.attributes({"user.kvcache.committed", "user.kvcache.last_access"},
                              {"user.kvcache.access_count", "user.kvcache.created"});
        if (!x) return x.error();
        auto bad = [&](const std::string& k, const std::string& v) {
            return makeError(
                EIO, fmt::format("{}: unexpected value {:?} of {}", source_.describe(rel), v, k));
        };
        for (const auto& kv : *x) {
            // Named references, not structured bindings: clang 14 cannot capture those.
            const std::string& k = kv.first;
            const std::string& v = kv.second;
            if (!startsWith(k, kKvcacheXattrPrefix)) {
                rec.xattrs.emplace_back(k, v);
                continue;
            }
            const std::string key = k.substr(kKvcacheXattrPrefix.size());
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
                rec.btime_ns = parseAttributeTime(v).value_or(0);
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

    // A symbolic link or special file, or a link record to the first name of its inode.
    Status storeNode(const std::string& path) {
        auto node = source_.readNode(path);
        if (!node) {
            if (node.code() != ENOENT) return node.error();
            report_.gone++;
            return {};
        }
        const SourceStat& sx = node->stat;
        if (sx.nlink > 1) {
            auto it = linked_.find(sx.ino);
            if (it != linked_.end()) return storeLink(path, it->second, sx);
        }
        SnapshotRecord rec;
        rec.kind = S_ISLNK(sx.mode) ? SnapshotKind::Symlink : SnapshotKind::Special;
        rec.path = path;
        attributesOf(sx, rec);
        if (S_ISCHR(sx.mode) || S_ISBLK(sx.mode)) rec.rdev = sx.rdev;
        rec.link_target = std::move(node->target);
        if (auto st = writer_.beginRecord(rec); !st) return st;
        if (auto st = writer_.endRecord(); !st) return st;
        report_.nodes++;
        if (sx.nlink > 1) linked_.emplace(sx.ino, path);
        return {};
    }

    Status storeLink(const std::string& rel, const std::string& target, const SourceStat& sx) {
        SnapshotRecord rec;
        rec.kind = SnapshotKind::Link;
        rec.path = rel;
        rec.link_target = target;
        rec.mode = sx.mode;
        rec.uid = sx.uid;
        rec.gid = sx.gid;
        rec.mtime_ns = sx.mtime_ns;
        if (auto st = writer_.beginRecord(rec); !st) return st;
        if (auto st = writer_.endRecord(); !st) return st;
        report_.links++;
        return {};
    }

    SnapshotSource& source_;
    SnapshotWriter& writer_;
    const SnapshotOptions& options_;
    std::vector<char> buffer_;
    std::unordered_map<uint64_t, std::string> linked_;  // inode -> first path stored
    SnapshotReport report_;
    uint64_t done_ = 0;
};

}  // namespace

bool sameVersion(const SourceStat& a, const SourceStat& b) {
    return a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns &&
           a.ctime_ns == b.ctime_ns;
}

std::optional<int64_t> parseAttributeTime(std::string_view text) {
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
    return nsOf(*secs, ns);
}

Result<SnapshotReport> takeSnapshot(SnapshotSource& source, SnapshotWriter& writer,
                                    const SnapshotOptions& options) {
    return Snapshotter(source, writer, options).run();
}

}  // namespace kvc
