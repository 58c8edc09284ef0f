// A RestoreTarget over the Pool API, for restoreIntoPool() (see core/pool_restore.h).
//
// Directories and entries are found by readdir, never by lookup, so a restore counts no misses
// in the pool's statistics. Every call that counts a lookup (create, mkdir, link) is matched by
// a forget once the restore no longer needs the id.
#include "core/pool_restore.h"

#include <unistd.h>

#include <atomic>
#include <vector>

#include <fmt/format.h>

namespace kvc {
namespace {

constexpr size_t kCopyBytes = 1 << 20;

class PoolTarget : public RestoreTarget {
  public:
    PoolTarget(Pool& pool, bool created_pool) : pool_(pool), created_pool_(created_pool) {
        dirs_.emplace("", kPoolRootId);
    }

    std::string describe(std::string_view path) const override {
        return path.empty() ? fmt::format("pool {}", pool_.name())
                            : fmt::format("pool {}: {}", pool_.name(), path);
    }

    Result<uint32_t> blockSize() override { return pool_.blockSize(); }
    Result<uint64_t> capacityBytes() override { return pool_.capacityBytes(); }

    Result<std::unordered_map<std::string, PathKind>> listTree() override {
        std::unordered_map<std::string, PathKind> out;
        auto st = walk(kPoolRootId, "", [&](const std::string& path, const DirEntry& d) -> Status {
            const bool dir = (d.mode & 0170000) == 0040000;
            out.emplace(path, dir ? PathKind::Directory : PathKind::Entry);
            if (dir) dirs_[path] = d.id;
            return {};
        });
        if (!st) return st.error();
        return out;
    }

    Result<uint64_t> removeAll() override {
        uint64_t removed = 0;
        auto st = removeUnder(kPoolRootId, "", removed);
        if (!st) return st.error();
        dirs_.clear();
        dirs_.emplace("", kPoolRootId);
        return removed;
    }

    Status makeDirectory(const SnapshotRecord& dir, bool exists) override {
        if (exists && dirs_.count(dir.path)) return {};
        auto parent = dirOf(dir.path);
        if (!parent) return parent.error();
        auto a = pool_.mkdir(*parent, baseName(dir.path), 0700, dir.uid, dir.gid);
        if (!a) return fail(dir.path, "mkdir", a.error());
        pool_.forget(a->id, 1);
        dirs_[dir.path] = a->id;
        return {};
    }

    Status putEntry(const SnapshotRecord& e, EntrySource& data) override {
        auto dir = dirOf(e.path);
        if (!dir) return dir.error();
        const std::string tmp = tempName();
        auto a = pool_.create(*dir, tmp, 0600, e.uid, e.gid, IfExists::Fail);
        if (!a) return fail(e.path, "create", a.error());
        const EntryId id = a->id;
        bool renamed = false;
        auto st = [&]() -> Status {
            buffer_.resize(kCopyBytes);
            for (uint64_t off = 0;;) {
                auto n = data.read(buffer_.data(), buffer_.size());
                if (!n) return n.error();
                if (*n == 0) break;
                // Blocks of zeros stay holes (docs/SNAPSHOT_FORMAT.md, "Sparse entries").
                auto w = pool_.write(id, off, buffer_.data(), *n, Zeros::KeepHoles);
                if (!w) return fail(e.path, "write", w.error());
                off += *n;
            }
            if (auto f = data.finish(); !f) return f;
            if (auto s = setAttributes(id, e); !s) return s;
            AttrChange change;
            change.mode = e.mode & 07777;
            change.atime_ns = e.atime_ns;
            change.mtime_ns = e.mtime_ns;
            if (auto s = pool_.setattr(id, change); !s) return fail(e.path, "setattr", s.error());
            // Committed before its name replaces another: a crash after the rename must find
            // the new version whole. Still open for writing: nothing can evict it between the
            // rename and the release.
            if (auto s = pool_.fsync(id); !s) return fail(e.path, "commit", s.error());
            if (auto s = pool_.rename(*dir, tmp, *dir, baseName(e.path), 0); !s)
                return fail(e.path, "rename", s.error());
            renamed = true;
            return {};
        }();
        if (!st && !renamed) (void)pool_.unlink(*dir, tmp);
        pool_.release(id, Access::Write);
        pool_.forget(id, 1);
        if (st) entries_[e.path] = {id, a->generation};
        return st;
    }

    Status putLink(const SnapshotRecord& l) override {
        auto dir = dirOf(l.path);
        if (!dir) return dir.error();
        // Ids are reused: the generation tells whether the id still names the entry restored.
        auto target = entries_.find(l.link_target);
        auto now = target == entries_.end() ? Result<EntryAttr>(makeError(ENOENT, "not restored"))
                                            : pool_.getattr(target->second.first);
        if (now && now->generation != target->second.second) now = makeError(ENOENT, "evicted");
        const std::string tmp = tempName();
        auto linked = now ? pool_.link(now->id, *dir, tmp) : Result<EntryAttr>(now.error());
        if (!linked) {
            // The entry was evicted by a later write of this restore (a pool smaller than the
            // image): the name cannot be made, which is what the eviction would have done.
            warn(fmt::format("{}: not linked: its entry {} is gone ({})", describe(l.path),
                             l.link_target, linked.error().message));
            return {};
        }
        pool_.forget(linked->id, 1);
        if (auto s = pool_.rename(*dir, tmp, *dir, baseName(l.path), 0); !s) {
            (void)pool_.unlink(*dir, tmp);
            return fail(l.path, "rename", s.error());
        }
        return {};
    }

    Status putNode(const SnapshotRecord& n) override {
        auto dir = dirOf(n.path);
        if (!dir) return dir.error();
        const std::string tmp = tempName();
        auto a = n.kind == SnapshotKind::Symlink
                     ? pool_.symlink(*dir, tmp, n.link_target, n.uid, n.gid)
                     : pool_.mknod(*dir, tmp, n.mode, n.rdev, n.uid, n.gid);
        if (!a)
            return fail(n.path, n.kind == SnapshotKind::Symlink ? "symlink" : "mknod", a.error());
        const EntryId id = a->id;
        auto st = [&]() -> Status {
            AttrChange change;
            if (n.kind != SnapshotKind::Symlink) change.mode = n.mode & 07777;
            change.atime_ns = n.atime_ns;
            change.mtime_ns = n.mtime_ns;
            if (auto s = pool_.setattr(id, change); !s) return fail(n.path, "setattr", s.error());
            if (auto s = pool_.rename(*dir, tmp, *dir, baseName(n.path), 0); !s)
                return fail(n.path, "rename", s.error());
            return {};
        }();
        if (!st) (void)pool_.unlink(*dir, tmp);
        pool_.forget(id, 1);
        if (st) entries_[n.path] = {id, a->generation};
        return st;
    }

    Status finishDirectory(const SnapshotRecord& d) override {
        if (d.path.empty()) {
            if (!created_pool_) return {};
            AttrChange change;
            change.mode = d.mode & 07777;
            change.uid = d.uid;
            change.gid = d.gid;
            if (auto s = pool_.setattr(kPoolRootId, change); !s)
                return fail("", "setattr", s.error());
            return {};
        }
        auto it = dirs_.find(d.path);
        if (it == dirs_.end()) return makeError(ENOENT, describe(d.path) + ": directory is gone");
        for (const auto& [k, v] : d.xattrs)
            if (auto s = pool_.setxattr(it->second, k, v, 0); !s)
                return fail(d.path, fmt::format("setxattr {}", k), s.error());
        AttrChange change;
        change.mode = d.mode & 07777;
        change.uid = d.uid;
        change.gid = d.gid;
        change.atime_ns = d.atime_ns;
        change.mtime_ns = d.mtime_ns;
        if (auto s = pool_.setattr(it->second, change); !s)
            return fail(d.path, "setattr", s.error());
        return {};
    }

  private:
    Error fail(std::string_view path, std::string_view what, const Error& e) const {
        return makeError(e.code, fmt::format("{}: {}: {}", describe(path), what, e.message));
    }

    std::string tempName() { return fmt::format(".kvcrestore.{}.{}", ::getpid(), counter_++); }

    Result<EntryId> dirOf(std::string_view path) {
        auto it = dirs_.find(parentPath(path));
        if (it == dirs_.end())
            return makeError(ENOENT, describe(path) + ": its directory was not restored");
        return it->second;
    }

    Status setAttributes(EntryId id, const SnapshotRecord& e) {
        for (const auto& [k, v] : entryAttributes(e)) {
            auto s = pool_.setxattr(id, k, v, 0);
            if (!s && s.code() == EDQUOT && isPinAttribute(k)) {
                warn(fmt::format("{}: restored unpinned: {}", describe(e.path), s.error().message));
                continue;
            }
            if (!s) return fail(e.path, fmt::format("setxattr {}", k), s.error());
        }
        return {};
    }

    // Every entry of `dir`, read in batches.
    Result<std::vector<DirEntry>> entriesOf(EntryId dir) {
        std::vector<DirEntry> all;
        for (uint64_t cookie = 0;;) {
            auto batch = pool_.readdir(dir, cookie, 256);
            if (!batch) return batch.error();
            if (batch->empty()) return all;
            cookie = batch->back().cookie;
            for (DirEntry& d : *batch) all.push_back(std::move(d));
        }
    }

    // Calls fn(path, entry) for everything below `dir`, parents before children.
    template <class Fn>
    Status walk(EntryId dir, const std::string& prefix, Fn&& fn) {
        auto all = entriesOf(dir);
        if (!all) return all.error();
        for (const DirEntry& d : *all) {
            const std::string path = prefix.empty() ? d.name : prefix + "/" + d.name;
            if (auto st = fn(path, d); !st) return st;
            if ((d.mode & 0170000) == 0040000)
                if (auto st = walk(d.id, path, fn); !st) return st;
        }
        return {};
    }

    Status removeUnder(EntryId dir, const std::string& prefix, uint64_t& removed) {
        auto all = entriesOf(dir);
        if (!all) return all.error();
        for (const DirEntry& d : *all) {
            const std::string path = prefix.empty() ? d.name : prefix + "/" + d.name;
            if ((d.mode & 0170000) == 0040000) {
                if (auto st = removeUnder(d.id, path, removed); !st) return st;
                if (auto st = pool_.rmdir(dir, d.name); !st) return fail(path, "rmdir", st.error());
            } else {
                auto st = pool_.unlink(dir, d.name);
                // An entry evicted meanwhile is as good as removed.
                if (!st && st.code() != ENOENT) return fail(path, "unlink", st.error());
                removed++;
            }
        }
        return {};
    }

    Pool& pool_;
    bool created_pool_;
    std::unordered_map<std::string, EntryId> dirs_;  // restored or found directories
    // Restored entries and nodes (id, generation), for links.
    std::unordered_map<std::string, std::pair<EntryId, uint64_t>> entries_;
    std::vector<char> buffer_;
    uint64_t counter_ = 0;
};

}  // namespace

Result<RestoreReport> restoreIntoPool(Pool& pool, SnapshotReader& image,
                                      const PoolRestoreOptions& options) {
    PoolTarget target(pool, options.created_pool);
    return restoreImage(image, target, options.restore);
}

}  // namespace kvc
