#include "core/transfer.h"

#include <fmt/format.h>

#include "core/bulk_copy.h"
#include "core/names.h"
#include "core/xxh3.h"

namespace kvc {
namespace {

// The directory `dir`, which `who` must be allowed `want` in.
Result<EntryAttr> checkDir(Pool& pool, EntryId dir, const Credentials& who, unsigned want) {
    auto a = pool.getattr(dir);
    if (!a) return a.error();
    if (!isDirMode(a->mode)) return makeError(ENOTDIR, "not a directory");
    if (!mayAccess(a->mode, a->uid, a->gid, who, want))
        return makeError(
            EACCES, fmt::format("pool {}: permission denied on directory {}", pool.name(), dir));
    return a;
}

// A lookup's reference, given back when the holder goes.
class Looked {
  public:
    Looked(Pool& pool, EntryAttr attr) : pool_(pool), attr_(attr) {}
    ~Looked() { pool_.forget(attr_.id, 1); }
    Looked(const Looked&) = delete;
    Looked& operator=(const Looked&) = delete;
    const EntryAttr& attr() const { return attr_; }

  private:
    Pool& pool_;
    EntryAttr attr_;
};

// The bytes of a new entry, and their checksum, hashed from the client's buffer rather than read
// back from the segment (whose pages the copy may have reached through the file). A large entry
// is hashed a piece at a time as it is copied, while each piece is in the cache; a small one in
// one call after its copy (a stream's state costs more than it saves there).
Result<uint64_t> writeAndHash(Pool& pool, EntryId id, const char* data, size_t len) {
    if (len <= kCopyHashPiece) {
        if (len > 0)
            if (auto w = pool.write(id, 0, data, len); !w) return w.error();
        return XXH3_64bits(data, len);
    }
    Xxh3Stream sum;
    if (auto w = pool.write(id, 0, data, len, Zeros::Fill, &sum); !w) return w.error();
    return sum.digest();
}

// The temporary's steps after create: bytes, attributes, commit, then the name. Returns the
// entry's attributes once it is in place.
Result<EntryAttr> fillAndPublish(Pool& pool, EntryId dir, const StoreItem& item,
                                 std::string_view tmp_name, EntryId id, const EntryAttr& dir_attr,
                                 const Credentials& who, bool& replaced) {
    auto checksum = writeAndHash(pool, id, item.data, item.len);
    if (!checksum) return checksum.error();
    if (!item.parent.empty())
        if (auto st = pool.setxattr(id, "user.kvcache.parent", item.parent, 0); !st)
            return st.error();
    if (item.priority)
        if (auto st = pool.setxattr(id, "user.kvcache.priority", std::to_string(*item.priority), 0);
            !st)
            return st.error();
    for (const auto& [name, value] : item.xattrs)
        if (auto st = pool.setxattr(id, name, value, 0); !st) return st.error();
    // Committed before its name replaces another: a crash after the rename finds it whole.
    if (auto st = pool.commitWritten(id, *checksum); !st) return st.error();
    // The rename's lookup of the name, as the kernel makes it, but a copy of the name in a lower
    // tier comes up only when its entry matters: with !replace (EEXIST) and in a sticky
    // directory (whose entry it is). Otherwise the rename replaces it where it is: the new
    // version makes the lower copies obsolete, and promoting one first (a network round trip
    // with a remote tier) would only copy up bytes about to go.
    const bool needs_below = !item.replace || (dir_attr.mode & kModeSticky);
    auto there = pool.lookup(dir, item.name, needs_below ? Below::Ask : Below::Skip);
    if (there) {
        Looked held(pool, *there);
        if (isDirMode(there->mode))
            return makeError(EISDIR, fmt::format("{} is a directory", item.name));
        if (!item.replace) return makeError(EEXIST, fmt::format("{} exists", item.name));
        if (!mayUnlinkFrom(dir_attr.mode, dir_attr.uid, there->uid, who))
            return makeError(EACCES, fmt::format("{}: sticky directory", item.name));
        replaced = true;
    } else if (there.code() != ENOENT) {
        return there.error();
    }
    const unsigned flags = item.replace ? 0 : Pool::kRenameNoReplace;
    if (auto st = pool.rename(dir, tmp_name, dir, item.name, flags); !st) return st.error();
    return pool.getattr(id);
}

}  // namespace

Result<EntryAttr> storeEntry(Pool& pool, EntryId dir, const StoreItem& item,
                             std::string_view tmp_name, const Credentials& who, bool* replaced) {
    if (item.len > 0 && !item.data) return makeError(EFAULT, "no bytes to store");
    auto dir_attr = checkDir(pool, dir, who, kMayWrite | kMayExec);
    if (!dir_attr) return dir_attr.error();
    // The names are checked before anything is made (EINVAL, ENAMETOOLONG).
    if (auto st = validateNewName(item.name, dir == kPoolRootId); !st) return st.error();
    // open(O_CREAT | O_EXCL) of the temporary: the kernel looks the name up first (a miss, as
    // it counts). No lower tier holds a temporary: it is committed only while open for writing,
    // so never evicted under its own name, and the tiers are not asked.
    if (auto a = pool.lookup(dir, tmp_name, Below::Skip); a) {
        pool.forget(a->id, 1);
        return makeError(EEXIST, fmt::format("temporary {} exists", tmp_name));
    } else if (a.code() != ENOENT) {
        return a.error();
    }
    // A name no tier holds, nor will: its commit and rename make no removals for the tiers.
    auto made = pool.create(dir, tmp_name, kModeRegular | (item.mode & 07777), who.uid, who.gid,
                            IfExists::Fail, Below::Skip);
    if (!made) return made.error();
    const EntryId id = made->id;
    bool was_there = false;
    auto done = fillAndPublish(pool, dir, item, tmp_name, id, *dir_attr, who, was_there);
    if (replaced) *replaced = done.ok() && was_there;
    if (!done) (void)pool.unlink(dir, tmp_name);
    pool.release(id, Access::Write);  // the tiers learn of the new version here
    pool.forget(id, 1);
    return done;
}

Result<uint64_t> loadEntry(Pool& pool, EntryId dir, std::string_view name, char* out,
                           size_t capacity, const Credentials& who) {
    if (auto d = checkDir(pool, dir, who, kMayExec); !d) return d.error();
    auto a = pool.lookup(dir, name);
    if (!a) return a.error();
    Looked held(pool, *a);
    if (isDirMode(a->mode)) return makeError(EISDIR, fmt::format("{} is a directory", name));
    if (!a->committed)
        return makeError(ENOENT, fmt::format("{} is being written: not cached yet", name));
    if (!mayAccess(a->mode, a->uid, a->gid, who, kMayRead))
        return makeError(EACCES, fmt::format("{}: permission denied", name));
    if (a->size > capacity)
        return makeError(EOVERFLOW, fmt::format("{} holds {} bytes, more than the {} given", name,
                                                a->size, capacity));
    if (auto st = pool.open(a->id, Access::Read); !st) return st.error();
    // The open keeps the blocks; the read plan's lock keeps writers out while they are copied.
    auto n = pool.read(a->id, 0, out, capacity, CopyOut::Bulk);
    pool.release(a->id, Access::Read);
    if (!n) return n.error();
    return static_cast<uint64_t>(*n);
}

Result<ChainLoad> loadChain(Pool& pool, EntryId dir, const std::vector<std::string_view>& names,
                            const std::vector<LoadSlot>& slots, const Credentials& who) {
    if (slots.size() != names.size()) return makeError(EINVAL, "one slot per name");
    if (auto d = checkDir(pool, dir, who, kMayExec); !d) return d.error();
    auto m = pool.match(dir, names);
    if (!m) return m.error();
    ChainLoad r;
    r.match = std::move(*m);
    r.sizes.reserve(r.match.leading);
    for (size_t i = 0; i < r.match.leading; ++i) {
        auto n = loadEntry(pool, dir, names[i], slots[i].out, slots[i].capacity, who);
        if (!n) {
            r.stopped_by = n.code();
            break;
        }
        r.sizes.push_back(*n);
        r.loaded++;
    }
    return r;
}

Result<EntryAttr> statName(Pool& pool, EntryId dir, std::string_view name, const Credentials& who) {
    if (auto d = checkDir(pool, dir, who, kMayExec); !d) return d.error();
    auto a = pool.lookup(dir, name);
    if (!a) return a.error();
    pool.forget(a->id, 1);
    return a;
}

Result<size_t> readAt(Pool& pool, EntryId id, uint64_t offset, char* out, size_t len) {
    return pool.read(id, offset, out, len, CopyOut::Bulk);
}

Result<size_t> writeAt(Pool& pool, EntryId id, uint64_t offset, const char* in, size_t len) {
    return pool.write(id, offset, in, len);
}

}  // namespace kvc
