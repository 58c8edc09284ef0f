#include "core/inode_index.h"

#include <fmt/format.h>

namespace kvc {

Inode* InodeIndex::find(EntryId id) const {
    auto it = inodes_.find(id);
    return it == inodes_.end() ? nullptr : it->second.get();
}

std::shared_ptr<Inode> InodeIndex::shared(EntryId id) const {
    auto it = inodes_.find(id);
    return it == inodes_.end() ? nullptr : it->second;
}

Result<Inode*> InodeIndex::dir(EntryId id) const {
    Inode* d = find(id);
    if (!d) return makeError(ENOENT, fmt::format("no directory {} in pool {}", id, pool_name_));
    if (!d->isDir()) return makeError(ENOTDIR, "not a directory");
    if (d->nlink == 0) return makeError(ENOENT, "directory was removed");
    return d;
}

Result<Inode*> InodeIndex::child(const Inode* dir, std::string_view name) const {
    auto it = dir->by_name.find(name);
    if (it == dir->by_name.end())
        return makeError(ENOENT, fmt::format("no entry \"{}\" in pool {}", name, pool_name_));
    return find(it->second.inode);
}

Inode* InodeIndex::resolve(std::string_view path) const {
    Inode* cur = find(kPoolRootId);
    while (cur && !path.empty()) {
        const size_t slash = path.find('/');
        auto it = cur->by_name.find(path.substr(0, slash));
        cur = it == cur->by_name.end() ? nullptr : find(it->second.inode);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return cur;
}

std::string InodeIndex::pathOf(EntryId dir, std::string_view name) const {
    std::string path(name);
    for (EntryId cur = dir; cur != kPoolRootId;) {
        const Inode* d = find(cur);
        if (!d || d->names.empty()) break;
        auto [parent, slot] = d->names.front();
        path = find(parent)->by_slot.at(slot).name + "/" + path;
        cur = parent;
    }
    return path;
}

std::string InodeIndex::pathOf(const Inode& ino) const {
    const auto [dir, slot] = ino.names.front();
    return pathOf(dir, find(dir)->by_slot.at(slot).name);
}

bool InodeIndex::isInside(const Inode* ancestor, const Inode* node) const {
    for (const Inode* cur = node; cur && cur->id != kPoolRootId;) {
        if (cur == ancestor) return true;
        cur = cur->names.empty() ? nullptr : find(cur->names.front().first);
    }
    return false;
}

Inode* InodeIndex::add(std::shared_ptr<Inode> ino) {
    Inode* raw = ino.get();
    inodes_.emplace(raw->id, std::move(ino));
    return raw;
}

void InodeIndex::markRemoved(Inode& ino) {
    if (ino.removed) return;
    ino.removed = true;
    removed_++;
}

void InodeIndex::erase(const Inode& ino) {
    auto it = inodes_.find(ino.id);
    if (it != inodes_.end()) erase(it);
}

InodeIndex::Map::iterator InodeIndex::erase(Map::iterator it) {
    if (it->second->removed) removed_--;
    return inodes_.erase(it);
}

}  // namespace kvc
