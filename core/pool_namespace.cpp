// Pool namespace operations: lookup, getattr/setattr, mkdir, create, unlink, rmdir, rename,
// link and readdir, with POSIX errno semantics.
#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/lower_tiers.h"
#include "core/names.h"
#include "core/pool.h"
#include "core/record_codec.h"

namespace kvc {

Result<Inode*> Pool::newInode(uint32_t mode, uint32_t uid, uint32_t gid) {
    auto slot = records_->takeInodeSlot();
    if (!slot) return slot.error();
    auto ino = std::make_shared<Inode>();
    ino->id = *slot + kFirstEntryId;
    ino->slot = *slot;
    ino->generation = index_.newGeneration();
    ino->mode = mode;
    ino->uid = uid;
    ino->gid = gid;
    const int64_t now = nowNs();
    ino->atime_ns = ino->btime_ns = now;
    ino->mtime_ns = now;
    ino->ctime_ns = now;
    ino->last_tick = ino->made_tick = candidates_->nextTick();
    return index_.add(std::move(ino));
}

Status Pool::addName(Inode* dir, std::string_view name, Inode* target) {
    auto taken = records_->takeNameSlot();
    if (!taken) return taken.error();
    const uint64_t slot = *taken;
    dir->by_slot.emplace(slot, DirSlot{std::string(name), target->id});
    dir->by_name.emplace(std::string(name), NameSlot{slot, target->id});
    target->names.emplace_back(dir->id, slot);
    target->nlink++;
    nameChanged(dir->id, name);
    if (!target->isDir()) target->name_hash = hashBytes(name.data(), name.size());
    records_->writeName(slot, dir->id, target->id, name);
    candidates_->bindChain(dir->id, name, target, true);
    const int64_t now = nowNs();
    dir->mtime_ns = now;
    dir->ctime_ns = now;
    return {};
}

void Pool::dropName(Inode* dir, std::string_view name, bool notify_front) {
    auto it = dir->by_name.find(name);
    if (it == dir->by_name.end()) return;
    const uint64_t slot = it->second.slot;
    Inode* target = index_.find(it->second.inode);
    candidates_->bindChain(dir->id, name, target, false);
    records_->freeName(slot);
    dir->by_slot.erase(slot);
    dir->by_name.erase(it);
    std::erase(target->names, std::pair<EntryId, uint64_t>{dir->id, slot});
    target->nlink--;
    nameChanged(dir->id, name);
    const int64_t now = nowNs();
    dir->mtime_ns = now;
    dir->ctime_ns = now;
    target->ctime_ns = now;
    if (!target->isDir() && target->nlink == 0) candidates_->dropChainRef(target);
    if (notify_front) notify(Invalidation{dir->id, std::string(name), target->id});
}

// Gives back what an inode holds once nothing needs it: its blocks when it has no name and no
// open, its slot (which its id is made of) when the front end also forgot it.
void Pool::maybeFree(Inode* ino) {
    if (ino->id == kPoolRootId || ino->nlink > 0) return;
    index_.markRemoved(*ino);  // no entry of the pool from here on, though it lives on a while
    // A nameless entry is no candidate even while open: evicting it would free nothing now and
    // count an eviction of something already gone.
    candidates_->leave(ino);
    if (ino->opens) return;
    for (const Extent& e : ino->extents)
        if (!isHole(e)) freeData(e);
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
    candidates_->untrackPin(*ino);
    ino->pinned = false;
    records_->clearInode(ino->slot);
    if (ino->lookups) return;
    eraseInode(ino);
}

void Pool::eraseInode(Inode* ino) {
    records_->reuseInodeSlot(ino->slot);
    index_.erase(*ino);
}

Result<EntryAttr> Pool::lookup(EntryId dir_id, std::string_view name, Below below) {
    auto a = lookupHere(dir_id, name);
    // Not in shared memory: a lower tier may have it, copied up whole before the name is given.
    if (!a && a.code() == ENOENT && below == Below::Ask && promoteBelow(dir_id, name))
        a = lookupHere(dir_id, name);
    return a;
}

bool Pool::promoteBelow(EntryId dir_id, std::string_view name) {
    LowerTiers* tiers = tiers_.load();
    return tiers && tiers->promote(dir_id, name);
}

Result<EntryAttr> Pool::lookupHere(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateEntryName(name); !st) return st.error();
    auto child = index_.child(*dir, name);
    if (!child) {
        counters_.misses++;
        return child.error();
    }
    (*child)->lookups++;
    return attrOf(**child);
}

bool Pool::forget(EntryId id, uint64_t count) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino || id == kPoolRootId) return true;
    const bool held = count <= ino->lookups;
    if (!held) counters_.lookup_underflows++;
    ino->lookups -= std::min(ino->lookups, count);
    if (ino->lookups == 0 && ino->nlink == 0 && ino->opens == 0) eraseInode(ino);
    return held;
}

Result<EntryAttr> Pool::getattr(EntryId id) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, fmt::format("no entry {} in pool {}", id, name_));
    if (ino->evicted && ino->nlink == 0 && ino->opens == 0)
        return makeError(ESTALE, fmt::format("entry {} in pool {} was evicted", id, name_));
    return attrOf(*ino);
}

Result<EntryAttr> Pool::setattr(EntryId id, const AttrChange& change) {
    if (change.size) {
        std::shared_ptr<Inode> ino = sharedInode(id);
        if (!ino) return makeError(ENOENT, "no such entry");
        if (ino->isDir()) return makeError(EISDIR, "cannot truncate a directory");
        if (ino->isNode()) return makeError(EINVAL, "only an entry has a size to change");
        if (auto st = open(id, Access::Write); !st) return st.error();
        Status st;
        {
            std::unique_lock data(ino->data_mutex);
            std::lock_guard lk(meta_);
            // Growing makes a hole: any size up to kMaxEntryBytes (EFBIG past it).
            st = truncateBlocks(ino.get(), *change.size);
        }
        release(id, Access::Write);
        if (!st) return st.error();
    }
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    // A link's mode is not used and does not change, as on Linux (lchmod).
    if (change.mode && ino->isSymlink())
        return makeError(EOPNOTSUPP, "the mode of a symbolic link does not change");
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

Result<Inode*> Pool::dirWithFreeName(EntryId dir_id, std::string_view name) {
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateNewName(name, dir_id == kPoolRootId); !st) return st.error();
    if ((*dir)->by_name.contains(name))
        return makeError(EEXIST, fmt::format("\"{}\" exists", name));
    return dir;
}

Result<EntryAttr> Pool::mkdir(EntryId dir_id, std::string_view name, uint32_t mode, uint32_t uid,
                              uint32_t gid) {
    std::lock_guard lk(meta_);
    auto dir = dirWithFreeName(dir_id, name);
    if (!dir) return dir.error();
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
                               uint32_t gid, IfExists if_exists, Below below) {
    const bool exclusive = if_exists == IfExists::Fail;
    const bool truncate = if_exists == IfExists::Truncate;
    EntryId existing = 0;
    {
        std::lock_guard lk(meta_);
        auto dir = index_.dir(dir_id);
        if (!dir) return dir.error();
        if (auto st = validateNewName(name, dir_id == kPoolRootId); !st) return st.error();
        if (auto child = index_.child(*dir, name); child) {
            if (exclusive) return makeError(EEXIST, fmt::format("\"{}\" exists", name));
            if ((*child)->isDir())
                return makeError(EISDIR, fmt::format("\"{}\" is a directory", name));
            if ((*child)->isNode())  // the kernel opens those itself, or follows the link
                return makeError(EEXIST, fmt::format("\"{}\" is no entry", name));
            existing = (*child)->id;
            (*child)->lookups++;
        } else {
            auto ino = newInode(0100000 | (mode & 07777), uid, gid);
            if (!ino) return ino.error();
            (*ino)->dirty = true;  // uncommitted until its writer closes it
            (*ino)->name_never_below = below == Below::Skip;
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
    if (auto st = open(existing, Access::Write, truncate ? Truncate::Yes : Truncate::No); !st) {
        forget(existing, 1);
        return st.error();
    }
    return getattr(existing);
}

Status Pool::unlink(EntryId dir_id, std::string_view name) {
    Status st = unlinkHere(dir_id, name);
    if (!st && st.code() == ENOENT && promoteBelow(dir_id, name)) st = unlinkHere(dir_id, name);
    return st;
}

Status Pool::unlinkHere(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    if (auto st = validateEntryName(name); !st) return st;
    auto child = index_.child(*dir, name);
    if (!child) return child.error();
    if ((*child)->isDir()) return makeError(EISDIR, fmt::format("\"{}\" is a directory", name));
    std::optional<Removal> removal;
    if (!(*child)->name_never_below)
        removal = removalAhead(index_.pathOf(dir_id, name), clock_.tick(), false);
    removeEntryName(*dir, name, *child, false);
    if (removal) tell(*removal);
    return {};
}

void Pool::removeEntryName(Inode* dir, std::string_view name, Inode* ino, bool notify_front) {
    dropName(dir, name, notify_front);
    persist(dir);
    if (ino->nlink == 0) {
        // An open entry stays readable until its last close; its record goes now, so a crash
        // does not bring it back.
        records_->clearInode(ino->slot);
        maybeFree(ino);
    } else {
        candidates_->refresh(ino);
        persist(ino);
    }
}

Status Pool::rmdir(EntryId dir_id, std::string_view name) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    if (name == ".") return makeError(EINVAL, "cannot remove \".\"");
    if (name == "..") return makeError(ENOTEMPTY, "cannot remove \"..\"");
    if (auto st = validateEntryName(name); !st) return st;
    auto child = index_.child(*dir, name);
    if (!child) return child.error();
    Inode* d = *child;
    if (!d->isDir()) return makeError(ENOTDIR, fmt::format("\"{}\" is not a directory", name));
    if (!d->by_slot.empty()) return makeError(ENOTEMPTY, fmt::format("\"{}\" is not empty", name));
    // Lower copies of entries that lived below it must not come back under a new one.
    const Removal removal = removalAhead(index_.pathOf(dir_id, name), clock_.tick(), true);
    dropName(*dir, name, false);
    (*dir)->nlink--;
    d->nlink = 0;
    persist(*dir);
    maybeFree(d);
    tell(removal);
    return {};
}

Status Pool::rename(EntryId dir_id, std::string_view name, EntryId new_dir_id,
                    std::string_view new_name, unsigned flags) {
    std::string to_path;
    Status st = renameHere(dir_id, name, new_dir_id, new_name, flags, to_path);
    if (!st && st.code() == ENOENT) {
        // The source (or an exchange's other end) may be below only.
        const bool up = promoteBelow(dir_id, name);
        const bool other_up = (flags & kRenameExchange) && promoteBelow(new_dir_id, new_name);
        if (up || other_up) st = renameHere(dir_id, name, new_dir_id, new_name, flags, to_path);
    }
    if (!st) return st;
    if (LowerTiers* tiers = tiers_.load(); tiers && !to_path.empty()) tiers->renamed(to_path);
    return {};
}

Result<Pool::RenamePlan> Pool::planRename(EntryId dir_id, std::string_view name, EntryId new_dir_id,
                                          std::string_view new_name, unsigned flags) {
    if ((flags & kRenameNoReplace) && (flags & kRenameExchange))
        return makeError(EINVAL, "RENAME_NOREPLACE and RENAME_EXCHANGE together");
    if (flags & ~(kRenameNoReplace | kRenameExchange))
        return makeError(EINVAL, "unsupported rename flags");
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    auto new_dir = index_.dir(new_dir_id);
    if (!new_dir) return new_dir.error();
    if (auto st = validateEntryName(name); !st) return st.error();
    if (auto st = validateNewName(new_name, new_dir_id == kPoolRootId); !st) return st.error();
    auto src = index_.child(*dir, name);
    if (!src) return src.error();
    auto dst = index_.child(*new_dir, new_name);
    RenamePlan plan{
        *dir, name, *new_dir, new_name, *src, dst ? *dst : nullptr, (flags & kRenameExchange) != 0};
    Inode* s = plan.src;
    Inode* d = plan.dst;
    if (plan.exchange) {
        if (!d) return dst.error();
    } else if (d && (flags & kRenameNoReplace)) {
        return makeError(EEXIST, fmt::format("\"{}\" exists", new_name));
    }
    if (s == d) return plan;  // two names of one entry: POSIX says do nothing
    if (s->isDir() && index_.isInside(s, plan.to_dir))
        return makeError(EINVAL, "cannot move a directory into itself");
    if (plan.exchange && d->isDir() && index_.isInside(d, plan.from_dir))
        return makeError(EINVAL, "cannot move a directory into itself");
    if (d && !plan.exchange) {
        if (s->isDir() && !d->isDir()) return makeError(ENOTDIR, "target is not a directory");
        if (!s->isDir() && d->isDir()) return makeError(EISDIR, "target is a directory");
        if (d->isDir() && !d->by_slot.empty()) return makeError(ENOTEMPTY, "target not empty");
    }
    return plan;
}

Status Pool::renameHere(EntryId dir_id, std::string_view name, EntryId new_dir_id,
                        std::string_view new_name, unsigned flags, std::string& to_path) {
    std::lock_guard lk(meta_);
    auto plan = planRename(dir_id, name, new_dir_id, new_name, flags);
    if (!plan) return plan.error();
    Inode* s = plan->src;
    Inode* d = plan->dst;
    if (s == d) return {};
    Inode* dir = plan->from_dir;
    Inode* new_dir = plan->to_dir;
    // Known now: a replaced entry may be freed below.
    const bool moves_tree = s->isDir() || (d && d->isDir());
    // Both names will hold something the lower tiers' copies are older than: those go, with a
    // version of their own (before the versions the moved entries get below). For a directory,
    // every name below them goes too.
    const std::string from_path = index_.pathOf(dir_id, name);
    const std::string dest_path = index_.pathOf(new_dir_id, new_name);
    std::vector<Removal> removals;
    const Version removed = clock_.tick();
    if (tiers_.load()) {
        to_path = dest_path;
        // A name no tier can hold (a data-path temporary moved into place) needs none.
        if (!s->name_never_below || plan->exchange)
            removals.push_back(removalAhead(from_path, removed, false));
        removals.push_back(removalAhead(dest_path, removed, false));
    }
    s->name_never_below = false;
    if (d) d->name_never_below = false;
    if (moves_tree) {
        removals.push_back(removalAhead(from_path, clock_.tick(), true));
        removals.push_back(removalAhead(dest_path, clock_.tick(), true));
    }

    // The names change together (a crash leaves the old names or the new ones), and only then
    // does a replaced entry go: write the new state, switch the records, free the old.
    const int64_t now = nowNs();
    {
        RecordStore::NameBatch names(*records_);
        if (plan->exchange) {
            exchangeNames(*plan);
            d->ctime_ns = now;
        } else {
            if (d) {
                dropName(new_dir, new_name, false);
                if (d->isDir()) {
                    new_dir->nlink--;
                    d->nlink = 0;
                }
            }
            candidates_->bindSubtree(s, false);
            moveName(dir, name, new_dir, new_name);
            candidates_->bindSubtree(s, true);
        }
        names.commit();
    }
    settleChains();
    if (d && !plan->exchange) {
        if (d->nlink == 0) {
            records_->clearInode(d->slot);
            maybeFree(d);
        } else {
            persist(d);
        }
    }
    s->ctime_ns = now;
    dir->mtime_ns = dir->ctime_ns = now;
    new_dir->mtime_ns = new_dir->ctime_ns = now;
    persist(dir);
    if (new_dir != dir) persist(new_dir);
    // An entry a name came to hold is that name's newest version.
    if (!s->isDir()) s->version = clock_.tick();
    if (plan->exchange && !d->isDir()) d->version = clock_.tick();
    // The moved inodes' ctime and version changed too: without this a restart brings back the
    // old ones.
    persist(s);
    if (plan->exchange) persist(d);
    for (const Removal& r : removals) tell(r);
    return {};
}

// Moves one name from (from_dir, from_name) to (to_dir, to_name), keeping its name slot so
// that a readdir in progress sees an untouched entry exactly once.
void Pool::moveName(Inode* from_dir, std::string_view from_name, Inode* to_dir,
                    std::string_view to_name) {
    auto from = from_dir->by_name.find(from_name);
    const uint64_t slot = from->second.slot;
    Inode* t = index_.find(from->second.inode);
    candidates_->bindChain(from_dir->id, from_name, t, false);
    from_dir->by_name.erase(from);
    from_dir->by_slot.erase(slot);
    to_dir->by_slot.emplace(slot, DirSlot{std::string(to_name), t->id});
    to_dir->by_name.emplace(std::string(to_name), NameSlot{slot, t->id});
    for (auto& n : t->names)
        if (n.second == slot) n.first = to_dir->id;
    if (!t->isDir()) t->name_hash = hashBytes(to_name.data(), to_name.size());
    records_->writeName(slot, to_dir->id, t->id, to_name);
    candidates_->bindChain(to_dir->id, to_name, t, true);
    if (t->isDir() && from_dir != to_dir) {
        from_dir->nlink--;
        to_dir->nlink++;
    }
}

// RENAME_EXCHANGE: each name keeps its slot and takes the other's inode.
void Pool::exchangeNames(const RenamePlan& plan) {
    Inode* dir = plan.from_dir;
    Inode* new_dir = plan.to_dir;
    Inode* s = plan.src;
    Inode* d = plan.dst;
    NameSlot& s_name = dir->by_name.find(plan.from_name)->second;
    NameSlot& d_name = new_dir->by_name.find(plan.to_name)->second;
    const uint64_t s_slot = s_name.slot;
    const uint64_t d_slot = d_name.slot;
    candidates_->bindChain(dir->id, plan.from_name, s, false);
    candidates_->bindChain(new_dir->id, plan.to_name, d, false);
    candidates_->bindSubtree(s, false);
    candidates_->bindSubtree(d, false);
    dir->by_slot[s_slot].inode = s_name.inode = d->id;
    new_dir->by_slot[d_slot].inode = d_name.inode = s->id;
    for (auto& n : s->names)
        if (n.second == s_slot) n = {new_dir->id, d_slot};
    for (auto& n : d->names)
        if (n.second == d_slot) n = {dir->id, s_slot};
    if (s->isDir() != d->isDir() && dir != new_dir) {
        Inode* gains = s->isDir() ? new_dir : dir;
        Inode* loses = s->isDir() ? dir : new_dir;
        gains->nlink++;
        loses->nlink--;
    }
    if (!s->isDir()) s->name_hash = hashBytes(plan.to_name.data(), plan.to_name.size());
    if (!d->isDir()) d->name_hash = hashBytes(plan.from_name.data(), plan.from_name.size());
    records_->writeName(s_slot, dir->id, d->id, plan.from_name);
    records_->writeName(d_slot, new_dir->id, s->id, plan.to_name);
    candidates_->bindChain(dir->id, plan.from_name, d, true);
    candidates_->bindChain(new_dir->id, plan.to_name, s, true);
    candidates_->bindSubtree(s, true);
    candidates_->bindSubtree(d, true);
}

Result<EntryAttr> Pool::link(EntryId id, EntryId new_dir_id, std::string_view new_name) {
    std::string to_path;
    auto a = linkHere(id, new_dir_id, new_name, to_path);
    if (LowerTiers* tiers = tiers_.load(); tiers && a) tiers->renamed(to_path);
    return a;
}

Result<EntryAttr> Pool::linkHere(EntryId id, EntryId new_dir_id, std::string_view new_name,
                                 std::string& to_path) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    if (ino->isDir()) return makeError(EPERM, "hard links to directories are not allowed");
    if (ino->nlink == 0) return makeError(ENOENT, "entry was removed");
    auto dir = dirWithFreeName(new_dir_id, new_name);
    if (!dir) return dir.error();
    // The new name will hold the entry: lower copies of it are older, and the entry is its
    // newest version. (An eviction demotes the entry under its first name only, so an older
    // copy of this one would come back.)
    const std::string dest_path = index_.pathOf(new_dir_id, new_name);
    const Removal removal = removalAhead(dest_path, clock_.tick(), false);
    if (auto st = addName(*dir, new_name, ino); !st) {
        forgetRemoval(removal);
        return st.error();
    }
    settleChains();
    ino->name_never_below = false;  // a name the tiers may hold (or will) now points at it
    ino->ctime_ns = nowNs();
    ino->lookups++;
    ino->version = clock_.tick();
    persist(ino);
    persist(*dir);
    if (tiers_.load()) to_path = dest_path;
    tell(removal);
    return attrOf(*ino);
}

Result<std::vector<DirEntry>> Pool::readdir(EntryId dir_id, uint64_t cookie, size_t max) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    std::vector<DirEntry> out;
    for (auto it = (*dir)->by_slot.lower_bound(cookie);
         it != (*dir)->by_slot.end() && out.size() < max; ++it) {
        Inode* t = index_.find(it->second.inode);
        out.push_back(DirEntry{it->second.name, t->id, t->mode, it->first + 1});
    }
    return out;
}

}  // namespace kvc
