// Pool nodes that are neither entries nor directories: symbolic links, FIFOs, sockets and device
// nodes (Inode::isNode). They are metadata only: a record with the mode, owner, times, a link's
// target or a device number, and names like any entry's. No blocks, no version of cached bytes,
// never an eviction candidate, never handed to the lower tiers.
#include <sys/stat.h>

#include <fmt/format.h>

#include "core/names.h"
#include "core/pool.h"

namespace kvc {

Result<EntryAttr> Pool::symlink(EntryId dir, std::string_view name, std::string_view target,
                                uint32_t uid, uint32_t gid) {
    if (auto st = validateSymlinkTarget(target); !st) return st.error();
    // A link's permission bits are not used (lchmod is refused): 0777, as on every Linux
    // filesystem.
    return addNode(dir, name, S_IFLNK | 0777, 0, target, uid, gid);
}

Result<EntryAttr> Pool::mknod(EntryId dir, std::string_view name, uint32_t mode, uint64_t rdev,
                              uint32_t uid, uint32_t gid) {
    switch (mode & S_IFMT) {
        case S_IFREG: {
            // An empty entry, committed at once: as a create whose writer closes it unwritten.
            auto a = create(dir, name, mode & 07777, uid, gid, IfExists::Fail);
            if (!a) return a;
            release(a->id, Access::Write);
            auto now = getattr(a->id);
            return now ? now : a;
        }
        case S_IFIFO:
        case S_IFSOCK:
            return addNode(dir, name, mode & (S_IFMT | 07777), 0, {}, uid, gid);
        case S_IFCHR:
        case S_IFBLK:
            return addNode(dir, name, mode & (S_IFMT | 07777), rdev, {}, uid, gid);
        default:
            return makeError(EINVAL, fmt::format("mknod of file type {:o}", mode & S_IFMT));
    }
}

Result<EntryAttr> Pool::addNode(EntryId dir_id, std::string_view name, uint32_t mode, uint64_t rdev,
                                std::string_view target, uint32_t uid, uint32_t gid) {
    std::lock_guard lk(meta_);
    auto dir = dirWithFreeName(dir_id, name);
    if (!dir) return dir.error();
    auto ino = newInode(mode, uid, gid);
    if (!ino) return ino.error();
    Inode* node = *ino;
    node->rdev = rdev;
    node->target = std::string(target);
    node->size = target.size();
    // A target too long for the record goes to a chain of blocks, which eviction makes room for
    // first: refused, the node goes again as if never made.
    if (auto st = roomForBlob(RecordStore::blobOf(*node), node); !st) {
        maybeFree(node);
        return st.error();
    }
    // The name first, then the record: a crash in between leaves a name whose inode record is
    // free, which attach drops (as for mkdir).
    if (auto st = addName(*dir, name, node); !st) {
        maybeFree(node);
        return st.error();
    }
    if (!persist(node)) {  // no block for the target after all
        dropName(*dir, name, false);
        persist(*dir);
        maybeFree(node);
        return makeError(ENOSPC, fmt::format("pool {} has no room for the link's target", name_));
    }
    persist(*dir);
    node->lookups++;
    return attrOf(*node);
}

Result<std::string> Pool::readlink(EntryId id) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (!ino->isSymlink()) return makeError(EINVAL, "not a symbolic link");
    return ino->target;
}

}  // namespace kvc
