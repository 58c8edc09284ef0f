// Pool side of the tiers: entries leaving on eviction as images (demotion), entries copied out
// (promotion from a lower tier, write-through) and images stored back as complete entries.
#include <fmt/format.h>

#include "core/clock.h"
#include "core/lower_tiers.h"
#include "core/names.h"
#include "core/pool.h"
#include "core/record_codec.h"

namespace kvc {

void Pool::setLowerTiers(LowerTiers* tiers) {
    tiers_.store(tiers);
}

void Pool::setDemotionSink(uint32_t min_reads, std::function<bool(EntryImage&&)> sink) {
    std::lock_guard lk(meta_);
    demote_min_reads_ = min_reads;
    demotion_sink_ = std::move(sink);
}

EntryImage Pool::imageOf(const Inode& ino, std::string path) const {
    EntryImage img;
    img.path = std::move(path);
    copyImageMeta(img, ino);
    img.version = ino.version;
    img.parent = ino.parent;
    img.reads = ino.access_count;
    return img;
}

// Called by evictOne before the names go: the victim is committed and has no writer, so its
// bytes are stable under meta_.
// An image holds an entry's bytes, holes included: a sparse entry larger than the pool could
// hold stays out of images (not demoted, not exported), so that no copy needs more memory than
// the pool's capacity.
bool Pool::fitsAnImage(const Inode& ino) const {
    return ino.size <= allocator_->blockCount() * uint64_t(blockSize());
}

void Pool::offerDemotion(const Inode& ino) {
    if (!demotion_sink_ || ino.access_count < demote_min_reads_ || ino.names.empty()) return;
    if (!fitsAnImage(ino)) return;
    EntryImage img = imageOf(ino, index_.pathOf(ino));
    copyBytes(ino, img.data);
    demotion_sink_(std::move(img));
}

Result<std::string> Pool::entryPath(EntryId dir, std::string_view name) {
    std::lock_guard lk(meta_);
    if (auto d = index_.dir(dir); !d) return d.error();
    if (auto st = validateEntryName(name); !st) return st.error();
    return index_.pathOf(dir, name);
}

Result<std::string> Pool::entryPath(EntryId id, Version* version) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino || ino->names.empty())
        return makeError(ENOENT, fmt::format("entry {} in pool {} has no name", id, name_));
    if (version) *version = ino->version;
    return index_.pathOf(*ino);
}

bool Pool::observeVersion(const Version& v) {
    std::lock_guard lk(meta_);
    return clock_.observe(v);
}

// The inode is held by pointer, not by id: an id is reused as soon as its entry goes, and the
// path must still name this very inode once the data lock is taken, or the image would carry
// another entry's bytes under the path asked for.
Result<EntryImage> Pool::exportEntry(std::string_view path) {
    std::shared_ptr<Inode> ino;
    {
        std::lock_guard lk(meta_);
        Inode* found = index_.resolve(path);
        if (!found || found == index_.find(kPoolRootId))
            return makeError(ENOENT, fmt::format("no entry {} in pool {}", path, name_));
        ino = index_.shared(found->id);
    }
    return exportInode(ino, path);
}

Result<EntryImage> Pool::exportEntry(EntryId id) {
    return exportInode(sharedInode(id), {});
}

Result<EntryImage> Pool::exportInode(const std::shared_ptr<Inode>& ino, std::string_view path) {
    if (!ino) return makeError(ENOENT, fmt::format("no such entry in pool {}", name_));
    if (ino->isDir()) return makeError(EISDIR, "is a directory");
    if (ino->isNode()) return makeError(ENOENT, "not an entry: nothing cached to copy");
    // The data lock keeps writers out; meta_ keeps eviction from freeing the blocks meanwhile.
    std::shared_lock data(ino->data_mutex);
    std::lock_guard lk(meta_);
    if (ino->nlink == 0 || ino->dirty || ino->names.empty())
        return makeError(ENOENT,
                         fmt::format("entry {} in pool {} is not committed", ino->id, name_));
    if (!path.empty() && index_.resolve(path) != ino.get())
        return makeError(ENOENT, fmt::format("{} in pool {} changed meanwhile", path, name_));
    if (!fitsAnImage(*ino))
        return makeError(EFBIG, fmt::format("entry {} in pool {} is a sparse entry of {} bytes, "
                                            "larger than the pool: no image of it is made",
                                            ino->id, name_, ino->size.load()));
    EntryImage img = imageOf(*ino, path.empty() ? index_.pathOf(*ino) : std::string(path));
    copyBytes(*ino, img.data);
    return img;
}

// The directory holding `dirs` ("a/b"), made as needed with the image's owner.
Result<Inode*> Pool::makeDirs(std::string_view dirs, const EntryImage& owner) {
    Inode* cur = index_.find(kPoolRootId);
    while (!dirs.empty()) {
        const size_t slash = dirs.find('/');
        const std::string_view part = dirs.substr(0, slash);
        if (auto child = index_.child(cur, part); child) {
            if (!(*child)->isDir())
                return makeError(ENOTDIR, fmt::format("\"{}\" is not a directory", part));
            cur = *child;
        } else {
            auto made = addDir(cur, part, 0755, owner.uid, owner.gid);
            if (!made) return made.error();
            cur = *made;
        }
        if (slash == std::string_view::npos) break;
        dirs.remove_prefix(slash + 1);
    }
    return cur;
}

void Pool::nameChanged(EntryId dir, std::string_view name) {
    if (watched_names_.empty()) return;  // the usual case: no promotion in flight
    if (auto it = watched_names_.find(index_.pathOf(dir, name)); it != watched_names_.end())
        it->second.changes++;
}

// A directory went or moved: every watched name below it changed (a copy fetched for one of
// them must not make the directory again with an entry of the old one in it).
void Pool::treeChanged(const std::string& dir_path) {
    const std::string prefix = dir_path + "/";
    for (auto& [path, watch] : watched_names_)
        if (path.compare(0, prefix.size(), prefix) == 0) watch.changes++;
}

Removal Pool::removalAhead(std::string path, const Version& version, bool tree) {
    if (!tiers_.load()) return Removal{std::move(path), version, 0, tree};
    return keptRemoval(std::move(path), version, tree);
}

void Pool::tell(const Removal& r) {
    if (r.tree) treeChanged(r.path);
    LowerTiers* tiers = tiers_.load();
    if (!tiers) return;
    if (r.tree)
        tiers->obsoleteTree(r);
    else
        tiers->obsolete(r);
}

void Pool::forgetRemoval(const Removal& r) {
    if (r.record == 0 || segment_->inodeRecord(r.record - 1).state != RecordState::Tombstone)
        return;
    records_->clearInode(r.record - 1);
    records_->reuseInodeSlot(r.record - 1);
    tombstone_records_--;
}

// The durable tombstone of a removal (made ahead of a change of names or a commit,
// removalAhead), given back by dropTombstone once every tier confirmed it.
Removal Pool::keptRemoval(std::string path, const Version& version, bool tree) {
    Removal r{std::move(path), version, 0, tree};
    RecordStore::Tombstone t{0, r.path, version, tree};
    while (t.path.size() > kInlineBlobBytes) {  // forgetting more is allowed; less is not
        const size_t slash = t.path.rfind('/');
        if (slash == std::string::npos) return r;
        t.path.resize(slash);
        t.tree = true;
    }
    if (tombstone_records_ >= segment_->super().inode_slots / 4) return r;  // told, not kept
    auto slot = records_->takeInodeSlot();
    if (!slot) return r;  // no free slot: told, but not kept
    t.slot = *slot;
    records_->writeTombstone(t);
    tombstone_records_++;
    r.record = *slot + 1;
    return r;
}

bool Pool::whileCurrent(const std::string& path, const Version& version,
                        const std::function<void()>& fn) {
    std::lock_guard lk(meta_);
    const Inode* ino = index_.resolve(path);
    if (!ino || !ino->isFile() || ino->dirty || ino->version != version) return false;
    fn();
    return true;
}

uint64_t Pool::keptTombstones() {
    std::lock_guard lk(meta_);
    return tombstone_records_;
}

void Pool::dropTombstone(uint64_t record) {
    if (record == 0) return;
    std::lock_guard lk(meta_);
    // Only a tombstone's slot: never an entry's, whatever a caller got wrong.
    if (record - 1 >= records_->inodeSlotsInUse()) return;
    forgetRemoval(Removal{{}, {}, record, false});
}

std::vector<Removal> Pool::takeKeptTombstones() {
    std::lock_guard lk(meta_);
    return std::exchange(kept_tombstones_, {});
}

uint64_t Pool::watchName(std::string_view path) {
    std::lock_guard lk(meta_);
    NameWatch& w = watched_names_[std::string(path)];
    w.watchers++;
    return w.changes;
}

void Pool::unwatchName(std::string_view path) {
    std::lock_guard lk(meta_);
    auto it = watched_names_.find(std::string(path));
    if (it != watched_names_.end() && --it->second.watchers == 0) watched_names_.erase(it);
}

Status Pool::importEntry(const EntryImage& image, std::optional<uint64_t> epoch) {
    const size_t slash = image.path.rfind('/');
    const std::string name = slash == std::string::npos ? image.path : image.path.substr(slash + 1);
    const std::string dirs = slash == std::string::npos ? "" : image.path.substr(0, slash);
    // The whole path is checked before any directory is made: a bad path changes nothing.
    if (auto st = validatePoolPath(image.path, "entry path"); !st) return st;
    if (!image.parent.empty())
        if (auto st = validateParentPath(image.parent); !st) return st;
    // A nameless inode, open for writing (so no policy candidate), filled, then named: until it
    // has its name nobody can find it, and a crash in between leaves no record (persist skips
    // inodes without a name).
    // Under meta_: the name changed since the copy was fetched (checked before any directory
    // is made for it: a directory removed meanwhile is not made again around an old copy).
    auto stale = [&] {
        if (!epoch) return false;
        auto watch = watched_names_.find(image.path);
        return watch == watched_names_.end() || watch->second.changes != *epoch;
    };
    auto staleError = [&] {
        return makeError(ESTALE, fmt::format("\"{}\" in pool {} changed while its copy was "
                                             "fetched",
                                             image.path, name_));
    };
    auto exists = [&] {
        const Inode* d = index_.resolve(dirs);
        return d && d->isDir() && d->by_name.count(name) > 0;
    };
    EntryId id = 0;
    {
        std::lock_guard lk(meta_);
        if (!exists() && stale()) return staleError();
        // Its version stays with it: what this pool commits afterwards must come later.
        if (!clock_.observe(image.version))
            return makeError(EINVAL, fmt::format("the copy of \"{}\" has a version from the "
                                                 "future (clock {:#x}); not installed",
                                                 image.path, image.version.hlc));
        auto dir = makeDirs(dirs, image);
        if (!dir) return dir.error();
        if ((*dir)->by_name.count(name))
            return makeError(EEXIST, fmt::format("\"{}\" exists in pool {}", image.path, name_));
        auto ino = newInode(0100000 | (image.mode & 07777), image.uid, image.gid);
        if (!ino) return ino.error();
        (*ino)->opens = 1;
        (*ino)->write_opens = 1;
        (*ino)->dirty = true;
        id = (*ino)->id;
    }
    auto discard = [&] {
        std::lock_guard lk(meta_);
        if (Inode* ino = index_.find(id)) {
            ino->opens = ino->write_opens = 0;
            maybeFree(ino);
        }
    };
    if (!image.data.empty())
        // Blocks of zeros stay holes: a sparse entry needs no room for them here either.
        if (auto wrote = write(id, 0, image.data.data(), image.data.size(), Zeros::KeepHoles);
            !wrote) {
            discard();
            return wrote.error();
        }
    // Of what was stored, holes and all (Pool::dataChecksum), before meta_; nobody else has it.
    uint64_t checksum = 0;
    if (std::shared_ptr<Inode> written = sharedInode(id)) {
        std::shared_lock data(written->data_mutex);
        checksum = dataChecksum(*written);
    }
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!exists() && stale()) {
        ino->opens = ino->write_opens = 0;
        maybeFree(ino);
        return staleError();
    }
    auto dir = makeDirs(dirs, image);  // again: the directory may have gone meanwhile
    if (!dir || (*dir)->by_name.count(name)) {
        ino->opens = ino->write_opens = 0;
        maybeFree(ino);
        if (!dir) return dir.error();
        return makeError(EEXIST, fmt::format("\"{}\" exists in pool {}", image.path, name_));
    }
    ino->priority = image.priority;
    ino->layer = image.layer;
    ino->seq_len = image.seq_len;
    ino->parent = image.parent;
    if (image.mtime_ns) ino->mtime_ns = image.mtime_ns;
    ino->opens = ino->write_opens = 0;
    if (auto st = addName(*dir, name, ino); !st) {
        maybeFree(ino);
        return st;
    }
    candidates_->addChainRef(ino);
    settleChains();
    persist(*dir);
    // Committed like a written entry; without room for its metadata it is no entry at all.
    if (auto st = commit(ino, checksum, image.version); !st) {
        removeEntryName(*dir, name, ino, false);
        return st;
    }
    candidates_->refresh(ino);
    return {};
}

Status Pool::removePath(std::string_view path, const VersionFilter& which) {
    std::lock_guard lk(meta_);
    const size_t slash = path.rfind('/');
    Inode* dir = slash == std::string_view::npos ? index_.find(kPoolRootId)
                                                 : index_.resolve(path.substr(0, slash));
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (!dir || !dir->isDir()) return makeError(ENOENT, fmt::format("no entry {}", path));
    auto child = index_.child(dir, name);
    if (!child) return child.error();
    if ((*child)->isDir() || (*child)->dirty)
        return makeError(EBUSY, fmt::format("{} is a directory or being written", path));
    // A node holds no cached bytes: what a lower tier removes is a copy of an entry.
    if ((*child)->isNode()) return makeError(EEXIST, fmt::format("{} is no entry: it stays", path));
    if (which && !which((*child)->version))
        return makeError(EEXIST, fmt::format("{} holds a version that stays", path));
    removeEntryName(dir, name, *child, true);
    return {};
}

Status Pool::removeTree(std::string_view dir_path, const VersionFilter& which) {
    std::vector<std::string> files;
    std::vector<std::pair<std::string, std::string>> dirs;  // (parent path, name), deepest last
    {
        std::lock_guard lk(meta_);
        Inode* top = index_.resolve(dir_path);
        if (!top || top->id == kPoolRootId)
            return makeError(ENOENT, fmt::format("no directory {}", dir_path));
        if (!top->isDir()) return makeError(ENOTDIR, fmt::format("{} is no directory", dir_path));
        std::vector<std::pair<Inode*, std::string>> stack{{top, std::string(dir_path)}};
        while (!stack.empty()) {
            auto [d, path] = std::move(stack.back());
            stack.pop_back();
            for (const auto& [slot, ds] : d->by_slot) {
                Inode* t = index_.find(ds.inode);
                if (t->isDir()) {
                    dirs.emplace_back(path, ds.name);
                    stack.emplace_back(t, path + "/" + ds.name);
                } else {
                    files.push_back(path + "/" + ds.name);
                }
            }
        }
    }
    Status st;
    for (const std::string& f : files)
        if (auto r = removePath(f, which); !r && r.code() != ENOENT && r.code() != EEXIST) st = r;
    // Deepest first; a directory something was put in meanwhile stays (with its new contents).
    const size_t slash = dir_path.rfind('/');
    dirs.insert(
        dirs.begin(),
        {std::string(slash == std::string_view::npos ? std::string_view()
                                                     : dir_path.substr(0, slash)),
         std::string(slash == std::string_view::npos ? dir_path : dir_path.substr(slash + 1))});
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        std::optional<EntryId> parent = kPoolRootId;
        if (!it->first.empty()) {
            std::lock_guard lk(meta_);
            Inode* p = index_.resolve(it->first);
            parent = p ? std::optional<EntryId>(p->id) : std::nullopt;
        }
        if (!parent) continue;
        if (auto r = rmdir(*parent, it->second); !r && r.code() != ENOENT && r.code() != ENOTEMPTY)
            st = r;
    }
    return st;
}

Result<std::vector<bool>> Pool::cachedNames(EntryId dir_id,
                                            const std::vector<std::string_view>& names) {
    std::lock_guard lk(meta_);
    auto dir = index_.dir(dir_id);
    if (!dir) return dir.error();
    std::vector<bool> out;
    out.reserve(names.size());
    for (const std::string_view n : names) out.push_back(cachedChild(*dir, n) != nullptr);
    return out;
}

}  // namespace kvc
