// Pool namespace operations: lookup, getattr/setattr, mkdir, create, unlink, rmdir, rename,
// link and readdir, with POSIX errno semantics.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/lower_tiers.h"
#include "core/names.h"
#include "core/pool.h"
#include "core/record_codec.h"

namespace kvc {

Result<Inode*> Pool::findDir(EntryId dir) {
    Inode* d = find(dir);
    if (!d) return makeError(ENOENT, fmt::format("no directory {} in pool {}", dir, name_));
    if (!d->isDir()) return makeError(ENOTDIR, "not a directory");
    if (d->nlink == 0) return makeError(ENOENT, "directory was removed");
    return d;
}

Result<Inode*> Pool::childOf(Inode* dir, std::string_view name) {
    auto it = dir->by_name.find(name);
    if (it == dir->by_name.end())
        return makeError(ENOENT, fmt::format("no entry \"{}\" in pool {}", name, name_));
    return find(it->second.inode);
}

Result<Inode*> Pool::newInode(uint32_t mode, uint32_t uid, uint32_t gid) {
    auto slot = takeInodeSlot();
    if (!slot) return slot.error();
    auto ino = std::make_shared<Inode>();
    ino->id = *slot + kFirstEntryId;
    ino->slot = *slot;
    ino->generation = next_generation_++;
    ino->mode = mode;
    ino->uid = uid;
    ino->gid = gid;
    const int64_t now = nowNs();
    ino->atime_ns = ino->btime_ns = now;
    ino->mtime_ns = now;
    ino->ctime_ns = now;
    ino->last_tick = ++tick_;
    Inode* raw = ino.get();
    inodes_.emplace(raw->id, std::move(ino));
    return raw;
}

Status Pool::addName(Inode* dir, std::string_view name, Inode* target) {
    auto taken = takeDirentSlot();
    if (!taken) return taken.error();
    const uint64_t slot = *taken;
    dir->by_slot.emplace(slot, DirSlot{std::string(name), target->id});
    dir->by_name.emplace(std::string(name), NameSlot{slot, target->id});
    target->names.emplace_back(dir->id, slot);
    target->nlink++;
    nameChanged(dir->id, name);
    if (!target->isDir()) target->name_hash = hashBytes(name.data(), name.size());
    persistDirent(slot, dir->id, target->id, name);
    bindChain(dir->id, name, target, true);
    const int64_t now = nowNs();
    dir->mtime_ns = now;
    dir->ctime_ns = now;
    return {};
}

void Pool::dropName(Inode* dir, std::string_view name, bool notify_front) {
    auto it = dir->by_name.find(name);
    if (it == dir->by_name.end()) return;
    const uint64_t slot = it->second.slot;
    Inode* target = find(it->second.inode);
    bindChain(dir->id, name, target, false);
    clearDirent(slot);
    free_dirent_slots_.push_back(slot);
    dir->by_slot.erase(slot);
    dir->by_name.erase(it);
    std::erase(target->names, std::pair<EntryId, uint64_t>{dir->id, slot});
    target->nlink--;
    nameChanged(dir->id, name);
    const int64_t now = nowNs();
    dir->mtime_ns = now;
    dir->ctime_ns = now;
    target->ctime_ns = now;
    if (!target->isDir() && target->nlink == 0) dropChainRef(target);
    if (notify_front) notify(Invalidation{dir->id, std::string(name), target->id});
}

// Gives back what an inode holds once nothing needs it: its blocks when it has no name and no
// open, its slot (which its id is made of) when the front end also forgot it.
void Pool::maybeFree(Inode* ino) {
    if (ino->id == kPoolRootId || ino->nlink > 0) return;
    if (!ino->removed) {  // no entry of the pool from here on, though it lives on a while
        ino->removed = true;
        removed_inodes_++;
    }
    // A nameless entry is no candidate even while open: evicting it would free nothing now and
    // count an eviction of something already gone.
    if (ino->in_policy) {
        policy_->remove(ino->id);
        ino->in_policy = false;
    }
    if (ino->opens) return;
    for (const Extent& e : ino->extents) {
        allocator_->free(e);
        segment_->releaseBlocks(e);
    }
    ino->extents.clear();
    ino->blocks = 0;
    // The inode may live on while the front end holds a lookup: it must read as empty, not
    // claim bytes it no longer has.
    ino->size = 0;
    if (!ino->aux.empty()) {
        for (const Extent& e : ino->aux) {
            allocator_->free(e);
            segment_->releaseBlocks(e);
        }
        ino->aux.clear();
    }
    if (ino->pinned && ino->pin_expires_ns) pin_expiry_.erase({ino->pin_expires_ns, ino->id});
    ino->pinned = false;
    segment_->clearInodeRecord(ino->slot);
    if (ino->lookups) return;
    eraseInode(ino);
}

void Pool::eraseInode(Inode* ino) {
    if (ino->removed) removed_inodes_--;
    free_inode_slots_.push_back(ino->slot);
    inodes_.erase(ino->id);
}

Result<EntryAttr> Pool::lookup(EntryId dir_id, std::string_view name) {
    auto a = lookupHere(dir_id, name);
    // Not in shared memory: a lower tier may have it, copied up whole before the name is given.
    if (!a && a.code() == ENOENT)
        if (LowerTiers* tiers = tiers_.load(); tiers && tiers->promote(dir_id, name))
            a = lookupHere(dir_id, name);
    return a;
}

Result<EntryAttr> Pool::lookupHere(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateEntryName(name); !st) return st.error();
    auto child = childOf(*dir, name);
    if (!child) {
        counters_.misses++;
        return child.error();
    }
    (*child)->lookups++;
    return attrOf(**child);
}

bool Pool::forget(EntryId id, uint64_t count) {
    std::lock_guard lk(meta_);
    Inode* ino = find(id);
    if (!ino || id == kPoolRootId) return true;
    const bool held = count <= ino->lookups;
    if (!held) counters_.lookup_underflows++;
    ino->lookups -= std::min(ino->lookups, count);
    if (ino->lookups == 0 && ino->nlink == 0 && ino->opens == 0) eraseInode(ino);
    return held;
}

Result<EntryAttr> Pool::getattr(EntryId id) {
    std::lock_guard lk(meta_);
    Inode* ino = find(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    return attrOf(*ino);
}

Result<EntryAttr> Pool::setattr(EntryId id, const AttrChange& change) {
    if (change.size) {
        std::shared_ptr<Inode> ino = sharedInode(id);
        if (!ino) return makeError(ENOENT, "no such entry");
        if (ino->isDir()) return makeError(EISDIR, "cannot truncate a directory");
        if (auto st = open(id, true, false); !st) return st.error();
        Status st;
        {
            std::unique_lock data(ino->data_mutex);
            std::lock_guard lk(meta_);
            if (*change.size > allocator_->blockCount() * uint64_t(blockSize()))
                st = makeError(EFBIG,
                               fmt::format("size {} is larger than pool {}", *change.size, name_));
            else
                st = truncateBlocks(ino.get(), *change.size);  // its errno: ENOSPC, EDQUOT
        }
        release(id, true);
        if (!st) return st.error();
    }
    std::lock_guard lk(meta_);
    Inode* ino = find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    const int64_t now = nowNs();
    if (change.mode) ino->mode = (ino->mode & 0170000) | (*change.mode & 07777);
    if (change.uid) ino->uid = *change.uid;
    if (change.gid) ino->gid = *change.gid;
    if (change.atime_ns) ino->atime_ns = *change.atime_ns;
    if (change.mtime_ns) ino->mtime_ns = *change.mtime_ns;
    if (change.mode || change.uid || change.gid || change.atime_ns || change.mtime_ns) {
        ino->ctime_ns = now;
        persist(ino);
    }
    return attrOf(*ino);
}

Result<EntryAttr> Pool::mkdir(EntryId dir_id, std::string_view name, uint32_t mode, uint32_t uid,
                              uint32_t gid) {
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateNewName(name, dir_id == kPoolRootId); !st) return st.error();
    if ((*dir)->by_name.contains(name))
        return makeError(EEXIST, fmt::format("\"{}\" exists", name));
    auto ino = addDir(*dir, name, mode, uid, gid);
    if (!ino) return ino.error();
    (*ino)->lookups++;
    return attrOf(**ino);
}

Result<Inode*> Pool::addDir(Inode* dir, std::string_view name, uint32_t mode, uint32_t uid,
                            uint32_t gid) {
    auto ino = newInode(0040000 | (mode & 07777), uid, gid);
    if (!ino) return ino.error();
    (*ino)->nlink = 1;  // "." ; the name below makes 2
    if (auto st = addName(dir, name, *ino); !st) {
        (*ino)->nlink = 0;
        maybeFree(*ino);
        return st.error();
    }
    dir->nlink++;
    persist(*ino);
    persist(dir);
    return *ino;
}

Result<EntryAttr> Pool::create(EntryId dir_id, std::string_view name, uint32_t mode, uint32_t uid,
                               uint32_t gid, bool exclusive, bool truncate) {
    EntryId existing = 0;
    {
        std::lock_guard lk(meta_);
        auto dir = findDir(dir_id);
        if (!dir) return dir.error();
        if (auto st = validateNewName(name, dir_id == kPoolRootId); !st) return st.error();
        if (auto child = childOf(*dir, name); child) {
            if (exclusive) return makeError(EEXIST, fmt::format("\"{}\" exists", name));
            if ((*child)->isDir())
                return makeError(EISDIR, fmt::format("\"{}\" is a directory", name));
            existing = (*child)->id;
            (*child)->lookups++;
        } else {
            auto ino = newInode(0100000 | (mode & 07777), uid, gid);
            if (!ino) return ino.error();
            (*ino)->dirty = true;  // uncommitted until its writer closes it
            if (auto st = addName(*dir, name, *ino); !st) {
                maybeFree(*ino);
                return st.error();
            }
            (*ino)->lookups++;
            (*ino)->opens = 1;
            (*ino)->write_opens = 1;
            persist(*ino);
            persist(*dir);
            return attrOf(**ino);
        }
    }
    if (auto st = open(existing, true, truncate); !st) {
        forget(existing, 1);
        return st.error();
    }
    return getattr(existing);
}

Status Pool::unlink(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateEntryName(name); !st) return st;
    auto child = childOf(*dir, name);
    if (!child) return child.error();
    if ((*child)->isDir()) return makeError(EISDIR, fmt::format("\"{}\" is a directory", name));
    removeEntryName(*dir, name, *child, false);
    if (LowerTiers* tiers = tiers_.load()) tiers->obsolete(chainKey(dir_id, name));
    return {};
}

void Pool::removeEntryName(Inode* dir, std::string_view name, Inode* ino, bool notify_front) {
    dropName(dir, name, notify_front);
    persist(dir);
    if (ino->nlink == 0) {
        // An open entry stays readable until its last close; its record goes now, so a crash
        // does not bring it back.
        segment_->clearInodeRecord(ino->slot);
        maybeFree(ino);
    } else {
        refreshCandidate(ino);
        persist(ino);
    }
}

Status Pool::rmdir(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    if (name == ".") return makeError(EINVAL, "cannot remove \".\"");
    if (name == "..") return makeError(ENOTEMPTY, "cannot remove \"..\"");
    if (auto st = validateEntryName(name); !st) return st;
    auto child = childOf(*dir, name);
    if (!child) return child.error();
    Inode* d = *child;
    if (!d->isDir()) return makeError(ENOTDIR, fmt::format("\"{}\" is not a directory", name));
    if (!d->by_slot.empty()) return makeError(ENOTEMPTY, fmt::format("\"{}\" is not empty", name));
    dropName(*dir, name, false);
    (*dir)->nlink--;
    d->nlink = 0;
    persist(*dir);
    maybeFree(d);
    return {};
}

Status Pool::rename(EntryId dir_id, std::string_view name, EntryId new_dir_id,
                    std::string_view new_name, unsigned flags) {
    std::string to_path;
    if (auto st = renameHere(dir_id, name, new_dir_id, new_name, flags, to_path); !st) return st;
    if (LowerTiers* tiers = tiers_.load(); tiers && !to_path.empty()) tiers->renamed(to_path);
    return {};
}

Status Pool::renameHere(EntryId dir_id, std::string_view name, EntryId new_dir_id,
                        std::string_view new_name, unsigned flags, std::string& to_path) {
    if ((flags & kRenameNoReplace) && (flags & kRenameExchange))
        return makeError(EINVAL, "RENAME_NOREPLACE and RENAME_EXCHANGE together");
    if (flags & ~(kRenameNoReplace | kRenameExchange))
        return makeError(EINVAL, "unsupported rename flags");
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    auto new_dir = findDir(new_dir_id);
    if (!new_dir) return new_dir.error();
    if (auto st = validateEntryName(name); !st) return st;
    if (auto st = validateNewName(new_name, new_dir_id == kPoolRootId); !st) return st;
    auto src = childOf(*dir, name);
    if (!src) return src.error();
    auto dst = childOf(*new_dir, new_name);
    Inode* s = *src;
    Inode* d = dst ? *dst : nullptr;
    if (flags & kRenameExchange) {
        if (!d) return dst.error();
    } else if (d && (flags & kRenameNoReplace)) {
        return makeError(EEXIST, fmt::format("\"{}\" exists", new_name));
    }
    if (s == d) return {};  // two names of one entry: POSIX says do nothing
    // A directory may not move into its own subtree.
    auto inside = [&](Inode* maybe_ancestor, Inode* node) {
        for (Inode* cur = node; cur && cur->id != kPoolRootId;) {
            if (cur == maybe_ancestor) return true;
            cur = cur->names.empty() ? nullptr : find(cur->names.front().first);
        }
        return false;
    };
    if (s->isDir() && inside(s, *new_dir))
        return makeError(EINVAL,
                         "cannot move a directory "
                         "into itself");
    if ((flags & kRenameExchange) && d->isDir() && inside(d, *dir))
        return makeError(EINVAL, "cannot move a directory into itself");
    if (d && !(flags & kRenameExchange)) {
        if (s->isDir() && !d->isDir()) return makeError(ENOTDIR, "target is not a directory");
        if (!s->isDir() && d->isDir()) return makeError(EISDIR, "target is a directory");
        if (d->isDir() && !d->by_slot.empty()) return makeError(ENOTEMPTY, "target not empty");
    }

    // Move one name: from (from_dir, from_name) to (to_dir, to_name), keeping its dirent slot
    // so readdir in progress sees an untouched entry exactly once.
    auto move_name = [&](Inode* from_dir, std::string_view from_name, Inode* to_dir,
                         std::string_view to_name) {
        auto from = from_dir->by_name.find(from_name);
        const uint64_t slot = from->second.slot;
        Inode* t = find(from->second.inode);
        bindChain(from_dir->id, from_name, t, false);
        from_dir->by_name.erase(from);
        from_dir->by_slot.erase(slot);
        to_dir->by_slot.emplace(slot, DirSlot{std::string(to_name), t->id});
        to_dir->by_name.emplace(std::string(to_name), NameSlot{slot, t->id});
        for (auto& n : t->names)
            if (n.second == slot) n.first = to_dir->id;
        if (!t->isDir()) t->name_hash = hashBytes(to_name.data(), to_name.size());
        persistDirent(slot, to_dir->id, t->id, to_name);
        bindChain(to_dir->id, to_name, t, true);
        if (t->isDir() && from_dir != to_dir) {
            from_dir->nlink--;
            to_dir->nlink++;
        }
    };

    const int64_t now = nowNs();
    // The names change together (a crash leaves the old names or the new ones), and only then
    // does a replaced entry go: write the new state, switch the records, free the old.
    NameBatch names(*this);
    if (flags & kRenameExchange) {
        // Park the source under its own slot while the target moves over.
        NameSlot& s_name = (*dir)->by_name.find(name)->second;
        NameSlot& d_name = (*new_dir)->by_name.find(new_name)->second;
        const uint64_t s_slot = s_name.slot;
        const uint64_t d_slot = d_name.slot;
        bindChain(dir_id, name, s, false);
        bindChain(new_dir_id, new_name, d, false);
        bindSubtree(s, false);
        bindSubtree(d, false);
        (*dir)->by_slot[s_slot].inode = s_name.inode = d->id;
        (*new_dir)->by_slot[d_slot].inode = d_name.inode = s->id;
        for (auto& n : s->names)
            if (n.second == s_slot) n = {new_dir_id, d_slot};
        for (auto& n : d->names)
            if (n.second == d_slot) n = {dir_id, s_slot};
        if (s->isDir() != d->isDir() && *dir != *new_dir) {
            Inode* gains = s->isDir() ? *new_dir : *dir;
            Inode* loses = s->isDir() ? *dir : *new_dir;
            gains->nlink++;
            loses->nlink--;
        }
        if (!s->isDir()) s->name_hash = hashBytes(new_name.data(), new_name.size());
        if (!d->isDir()) d->name_hash = hashBytes(name.data(), name.size());
        persistDirent(s_slot, dir_id, d->id, name);
        persistDirent(d_slot, new_dir_id, s->id, new_name);
        bindChain(dir_id, name, d, true);
        bindChain(new_dir_id, new_name, s, true);
        bindSubtree(s, true);
        bindSubtree(d, true);
        d->ctime_ns = now;
    } else {
        if (d) {
            dropName(*new_dir, new_name, false);
            if (d->isDir()) {
                (*new_dir)->nlink--;
                d->nlink = 0;
            }
        }
        bindSubtree(s, false);
        move_name(*dir, name, *new_dir, new_name);
        bindSubtree(s, true);
    }
    names.commit();
    settleChains();
    if (d && !(flags & kRenameExchange)) {
        if (d->nlink == 0) {
            segment_->clearInodeRecord(d->slot);
            maybeFree(d);
        } else {
            persist(d);
        }
    }
    s->ctime_ns = now;
    (*dir)->mtime_ns = (*dir)->ctime_ns = now;
    (*new_dir)->mtime_ns = (*new_dir)->ctime_ns = now;
    persist(*dir);
    if (*new_dir != *dir) persist(*new_dir);
    // The moved inodes' ctime changed too: without this a restart brings back the old one.
    persist(s);
    if (flags & kRenameExchange) persist(d);
    // Both names now hold something the lower tiers' copies are older than.
    if (LowerTiers* tiers = tiers_.load()) {
        tiers->obsolete(chainKey(dir_id, name));
        tiers->obsolete(to_path = chainKey(new_dir_id, new_name));
    }
    return {};
}

// A renamed directory changes the path of every entry below it, and chain parents are named
// by path: unbind them all under the old paths before the move and bind them again after.
void Pool::bindSubtree(Inode* top, bool bind) {
    if (!top->isDir() || chain_refs_.empty()) return;
    std::vector<Inode*> stack{top};
    while (!stack.empty()) {
        Inode* d = stack.back();
        stack.pop_back();
        for (auto& [slot, ds] : d->by_slot) {
            Inode* t = find(ds.inode);
            if (t->isDir())
                stack.push_back(t);
            else
                bindChain(d->id, ds.name, t, bind);
        }
    }
}

Result<EntryAttr> Pool::link(EntryId id, EntryId new_dir_id, std::string_view new_name) {
    std::lock_guard lk(meta_);
    Inode* ino = find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    if (ino->isDir()) return makeError(EPERM, "hard links to directories are not allowed");
    if (ino->nlink == 0) return makeError(ENOENT, "entry was removed");
    auto dir = findDir(new_dir_id);
    if (!dir) return dir.error();
    if (auto st = validateNewName(new_name, new_dir_id == kPoolRootId); !st) return st.error();
    if ((*dir)->by_name.contains(new_name))
        return makeError(EEXIST, fmt::format("\"{}\" exists", new_name));
    if (auto st = addName(*dir, new_name, ino); !st) return st.error();
    settleChains();
    ino->ctime_ns = nowNs();
    ino->lookups++;
    persist(ino);
    persist(*dir);
    return attrOf(*ino);
}

Result<std::vector<DirEntry>> Pool::readdir(EntryId dir_id, uint64_t cookie, size_t max) {
    std::lock_guard lk(meta_);
    auto dir = findDir(dir_id);
    if (!dir) return dir.error();
    std::vector<DirEntry> out;
    for (auto it = (*dir)->by_slot.lower_bound(cookie);
         it != (*dir)->by_slot.end() && out.size() < max; ++it) {
        Inode* t = find(it->second.inode);
        out.push_back(DirEntry{it->second.name, t->id, t->mode, it->first + 1});
    }
    return out;
}

}  // namespace kvc
