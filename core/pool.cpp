// Pool: creation, reattach, persistence of records, and the small helpers the other pool_*.cpp
// files share. Namespace operations are in pool_namespace.cpp, data in pool_data.cpp, eviction
// and cache control in pool_eviction.cpp, extended attributes in pool_xattr.cpp.
#include "core/pool.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/record_codec.h"

namespace kvc {

Pool::~Pool() = default;

uint64_t Pool::blocksFor(uint64_t bytes) const {
    const uint64_t bs = segment_->blockSize();
    return (bytes + bs - 1) / bs;
}

Inode* Pool::find(EntryId id) {
    auto it = inodes_.find(id);
    return it == inodes_.end() ? nullptr : it->second.get();
}

std::shared_ptr<Inode> Pool::sharedInode(EntryId id) {
    std::lock_guard lk(meta_);
    auto it = inodes_.find(id);
    return it == inodes_.end() ? nullptr : it->second;
}

// Slots below the high-water mark have been written before, so their pages are backed; a new
// slot may start a page the host has not backed yet, and must be backed before it is written.
Result<uint64_t> Pool::takeInodeSlot() {
    Superblock& sb = segment_->super();
    if (!free_inode_slots_.empty()) {
        uint64_t s = free_inode_slots_.back();
        free_inode_slots_.pop_back();
        return s;
    }
    if (sb.inode_high >= sb.inode_slots)
        return makeError(ENOSPC, fmt::format("pool {} holds its maximum of {} entries", name_,
                                             max_entries_));
    if (auto st = segment_->backInodeRecord(sb.inode_high); !st)
        return makeError(st.code(), fmt::format("pool {}: the host cannot back another entry "
                                                "({})", name_, st.error().message));
    return sb.inode_high++;
}

Result<uint64_t> Pool::takeDirentSlot() {
    Superblock& sb = segment_->super();
    if (!free_dirent_slots_.empty()) {
        uint64_t s = free_dirent_slots_.back();
        free_dirent_slots_.pop_back();
        return s;
    }
    if (sb.dirent_high >= sb.dirent_slots)
        return makeError(ENOSPC, fmt::format("pool {} has no room for another name", name_));
    if (auto st = segment_->backDirentRecord(sb.dirent_high); !st)
        return makeError(st.code(), fmt::format("pool {}: the host cannot back another name "
                                                "({})", name_, st.error().message));
    return sb.dirent_high++;
}

EntryAttr Pool::attrOf(const Inode& ino) const {
    EntryAttr a;
    a.id = ino.id;
    a.generation = ino.generation;
    a.mode = ino.mode;
    a.nlink = ino.nlink;
    a.uid = ino.uid;
    a.gid = ino.gid;
    a.size = ino.isDir() ? 0 : ino.size.load(std::memory_order_relaxed);
    a.blocks512 = ino.blocks * (segment_->blockSize() / 512);
    a.blksize = segment_->blockSize();
    a.atime_ns = ino.atime_ns;
    a.mtime_ns = ino.mtime_ns.load(std::memory_order_relaxed);
    a.ctime_ns = ino.ctime_ns.load(std::memory_order_relaxed);
    return a;
}

void Pool::persistRoot() {
    const Inode& root = *inodes_.at(kPoolRootId);
    Superblock& sb = segment_->super();
    sb.root_mode = root.mode;
    sb.root_uid = root.uid;
    sb.root_gid = root.gid;
    sb.root_mtime_ns = root.mtime_ns.load();
}

// Writes an inode's record. A record is built aside and copied in whole with its checksum, so a
// crash in the middle leaves a record that fails its checksum and is dropped at attach.
void Pool::persist(Inode* ino) {
    if (ino->id == kPoolRootId) return persistRoot();
    if (ino->nlink == 0) return;  // removed: its record is gone and stays gone
    InodeRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    rec.state = ino->isDir() ? RecordState::Directory
                             : (ino->dirty ? RecordState::Dirty : RecordState::File);
    rec.generation = static_cast<uint32_t>(ino->generation);
    rec.mode = ino->mode;
    rec.uid = ino->uid;
    rec.gid = ino->gid;
    rec.priority = ino->priority;
    rec.size = ino->size.load();
    rec.atime_ns = ino->atime_ns;
    rec.mtime_ns = ino->mtime_ns.load();
    rec.ctime_ns = ino->ctime_ns.load();
    rec.btime_ns = ino->btime_ns;
    rec.layer = ino->layer;
    rec.seq_len = ino->seq_len;
    rec.access_count = ino->access_count;
    rec.pin_expires_ns = ino->pin_expires_ns;
    rec.pinned = ino->pinned ? 1 : 0;
    rec.extent_count = static_cast<uint32_t>(ino->extents.size());
    InodeBlob blob;
    blob.parent = ino->parent;
    blob.xattrs = ino->xattrs;
    for (size_t i = 0; i < ino->extents.size(); ++i) {
        if (i < kInlineExtents)
            rec.extents[i] = ino->extents[i];
        else
            blob.extra_extents.push_back(ino->extents[i]);
    }
    const std::string bytes = encodeBlob(blob);
    rec.blob_bytes = bytes.size();
    rec.blob_checksum = hashBytes(bytes.data(), bytes.size());
    Extent old_aux = ino->aux;
    Extent new_aux{};
    if (bytes.size() <= kInlineBlobBytes) {
        std::memcpy(rec.blob, bytes.data(), bytes.size());
    } else if (old_aux.count && bytes.size() <= old_aux.count * blockSize() &&
               std::memcmp(segment_->blockAddress(old_aux.start), bytes.data(), bytes.size()) ==
                   0) {
        // The blob did not change (a pin, a rename, a time): keep it where it is. Rewriting it
        // would need free blocks, and in a full pool the entry would silently lose its commit.
        new_aux = old_aux;
    } else {
        // Too large to keep inline: the blob goes to blocks of its own, written before the
        // record points at them. Space for it was checked when the blob grew (xattrs) or comes
        // from the entry's own allocation path (extents).
        std::vector<Extent> got;
        const uint64_t need = blocksFor(bytes.size());
        if (allocator_->allocate(need, got) && got.size() == 1 && segment_->backBlocks(got[0])) {
            new_aux = got[0];
            std::memcpy(segment_->blockAddress(new_aux.start), bytes.data(), bytes.size());
        } else {
            for (const Extent& e : got) allocator_->free(e);
            // No room for the blob: keep the entry uncommitted rather than lose its blocks.
            rec.state = RecordState::Dirty;
        }
    }
    rec.aux = new_aux;
    ino->aux = new_aux;
    rec.checksum = inodeRecordChecksum(rec);
    std::memcpy(&segment_->inodeRecord(ino->slot), &rec, sizeof rec);
    if (old_aux.count && !(old_aux == new_aux)) {
        allocator_->free(old_aux);
        segment_->releaseBlocks(old_aux);
    }
}

void Pool::persistDirent(uint64_t slot, EntryId dir, EntryId inode, std::string_view name) {
    DirentRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    rec.state = 1;
    rec.name_len = static_cast<uint32_t>(name.size());
    rec.dir_id = dir;
    rec.inode_id = inode;
    std::memcpy(rec.name, name.data(), name.size());
    rec.checksum = direntRecordChecksum(rec);
    std::memcpy(&segment_->direntRecord(slot), &rec, sizeof rec);
}

void Pool::clearDirent(uint64_t slot) {
    DirentRecord& rec = segment_->direntRecord(slot);
    rec.state = 0;
    rec.checksum = 0;
}

void Pool::setInvalidationSink(std::function<void(const Invalidation&)> sink) {
    std::lock_guard lk(sink_mutex_);
    sink_ = std::move(sink);
}

void Pool::notify(const Invalidation& inv) {
    std::lock_guard lk(sink_mutex_);
    if (sink_) sink_(inv);
}

// ---------------------------------------------------------------------------------------------
// Creation and attach

namespace {

SegmentGeometry geometryFor(const PoolSettings& s) {
    SegmentGeometry g;
    g.block_size = s.block_size;
    g.block_count = std::max<uint64_t>(1, s.size / s.block_size);
    // Every entry of one block or more needs a slot; small pools still get room for many
    // empty entries and directories. Slots cost memory only once used (the table is sparse).
    g.inode_slots = s.max_entries ? s.max_entries : std::max<uint64_t>(g.block_count, 65536);
    g.dirent_slots = g.inode_slots + g.inode_slots / 4;
    return g;
}

}  // namespace

struct PoolLoader {
    static void initCommon(Pool& p) {
        p.allocator_ = std::make_unique<BlockAllocator>(p.segment_->super().capacity_blocks);
        p.name_ = p.segment_->super().pool_name;
        p.pin_budget_ = p.segment_->super().pin_budget_bytes;
        p.max_entries_ = p.segment_->super().inode_slots;
        auto root = std::make_shared<Inode>();
        const Superblock& sb = p.segment_->super();
        root->id = kPoolRootId;
        // Generations continue from a base raised at every attach, so an id reused after a
        // restart never comes back with a generation it had before.
        p.next_generation_ = (sb.generation_base << 32) + 1;
        root->generation = p.next_generation_++;
        root->mode = sb.root_mode;
        root->uid = sb.root_uid;
        root->gid = sb.root_gid;
        root->nlink = 2;
        root->mtime_ns = sb.root_mtime_ns;
        root->ctime_ns = sb.root_mtime_ns;
        root->atime_ns = sb.root_mtime_ns;
        root->btime_ns = sb.created_ns;
        p.inodes_.emplace(kPoolRootId, std::move(root));
    }

    static Status load(Pool& p);
};

Result<std::unique_ptr<Pool>> Pool::create(const PoolCreateOptions& o) {
    // Checked before the geometry divides by it; Segment::create checks the rest of the range.
    if (o.settings.block_size == 0)
        return makeError(EINVAL, "block size 0: a power of two from 4 KiB to 2 MiB is needed");
    auto policy = makePolicy(o.settings.policy);
    if (!policy) return makeError(EINVAL, fmt::format("unknown policy \"{}\"", o.settings.policy));
    if (o.name.size() >= sizeof(Superblock::pool_name))
        return makeError(ENAMETOOLONG, fmt::format("pool name \"{}\" is too long", o.name));
    if (o.settings.size < o.settings.block_size)
        return makeError(EINVAL, fmt::format("pool size {} is smaller than one block ({})",
                                             o.settings.size, o.settings.block_size));
    auto seg = Segment::create(o.where, geometryFor(o.settings));
    if (!seg) return seg.error();
    std::unique_ptr<Pool> p(new Pool);
    p->segment_ = std::move(*seg);
    Superblock& sb = p->segment_->super();
    sb.pin_budget_bytes = o.settings.pin_budget;
    sb.created_ns = nowNs();
    sb.root_mode = 0040000 | (o.mode & 07777);
    sb.root_uid = o.uid;
    sb.root_gid = o.gid;
    sb.root_mtime_ns = sb.created_ns;
    sb.clean = 0;
    sb.generation_base = 1;
    std::snprintf(sb.policy, sizeof sb.policy, "%s", std::string(policy->name()).c_str());
    std::snprintf(sb.pool_name, sizeof sb.pool_name, "%s", o.name.c_str());
    p->policy_ = std::move(policy);
    PoolLoader::initCommon(*p);
    return p;
}

Result<std::unique_ptr<Pool>> Pool::attach(const SegmentLocation& where) {
    auto seg = Segment::attach(where);
    if (!seg) return seg.error();
    std::unique_ptr<Pool> p(new Pool);
    p->segment_ = std::move(*seg);
    Superblock& sb = p->segment_->super();
    sb.policy[sizeof sb.policy - 1] = 0;
    sb.pool_name[sizeof sb.pool_name - 1] = 0;
    p->policy_ = makePolicy(sb.policy);
    if (!p->policy_)
        return makeError(EINVAL, fmt::format("{} names an unknown policy \"{}\"", where.describe(),
                                             sb.policy));
    sb.generation_base++;  // before initCommon, which starts the generations from it
    PoolLoader::initCommon(*p);
    if (auto st = PoolLoader::load(*p); !st) return st.error();
    sb.clean = 0;
    return p;
}

// Rebuilds the index from the records: committed inodes and their names come back; records
// that fail their checksum, entries that were being written, names whose directory or inode is
// gone, and anything unreachable from the pool directory are dropped and their slots freed.
Status PoolLoader::load(Pool& p) {
    Segment& seg = *p.segment_;
    Superblock& sb = seg.super();
    sb.inode_high = std::min(sb.inode_high, sb.inode_slots);
    sb.dirent_high = std::min(sb.dirent_high, sb.dirent_slots);
    std::vector<std::pair<int64_t, EntryId>> by_atime;

    for (uint64_t slot = 0; slot < sb.inode_high; ++slot) {
        InodeRecord& rec = seg.inodeRecord(slot);
        if (rec.state == RecordState::Free) {
            p.free_inode_slots_.push_back(slot);
            continue;
        }
        bool keep = rec.state == RecordState::File || rec.state == RecordState::Directory;
        keep = keep && rec.checksum == inodeRecordChecksum(rec);
        std::optional<InodeBlob> blob;
        if (keep && rec.aux.count == 0 && rec.blob_bytes <= kInlineBlobBytes) {
            std::string_view bytes(reinterpret_cast<const char*>(rec.blob), rec.blob_bytes);
            if (hashBytes(bytes.data(), bytes.size()) == rec.blob_checksum)
                blob = decodeBlob(bytes);
        } else if (keep && rec.aux.count > 0 && rec.aux.start + rec.aux.count <= seg.blockCount() &&
                   rec.blob_bytes <= rec.aux.count * seg.blockSize()) {
            std::string_view bytes(seg.blockAddress(rec.aux.start), rec.blob_bytes);
            if (hashBytes(bytes.data(), bytes.size()) == rec.blob_checksum)
                blob = decodeBlob(bytes);
        }
        keep = keep && blob.has_value() &&
               blob->extra_extents.size() + std::min<size_t>(rec.extent_count, kInlineExtents) ==
                   rec.extent_count;
        auto ino = std::make_shared<Inode>();
        if (keep) {
            ino->id = slot + kFirstEntryId;
            ino->slot = slot;
            ino->generation = p.next_generation_++;
            ino->mode = rec.mode;
            ino->uid = rec.uid;
            ino->gid = rec.gid;
            ino->priority = rec.priority;
            ino->size = rec.size;
            ino->atime_ns = rec.atime_ns;
            ino->mtime_ns = rec.mtime_ns;
            ino->ctime_ns = rec.ctime_ns;
            ino->btime_ns = rec.btime_ns;
            ino->layer = rec.layer;
            ino->seq_len = rec.seq_len;
            ino->access_count = rec.access_count;
            ino->pinned = rec.pinned != 0;
            ino->pin_expires_ns = rec.pin_expires_ns;
            ino->parent = std::move(blob->parent);
            ino->xattrs = std::move(blob->xattrs);
            ino->aux = rec.aux;
            for (uint32_t i = 0; i < rec.extent_count; ++i)
                ino->extents.push_back(i < kInlineExtents ? rec.extents[i]
                                                          : blob->extra_extents[i - kInlineExtents]);
            // Every block must be inside the pool and claimed once.
            std::vector<Extent> claimed;
            for (const Extent& e : ino->extents) {
                if (!p.allocator_->reserve(e)) {
                    keep = false;
                    break;
                }
                claimed.push_back(e);
                ino->blocks += e.count;
            }
            if (keep && ino->aux.count) {
                if (p.allocator_->reserve(ino->aux))
                    claimed.push_back(ino->aux);
                else
                    keep = false;
            }
            if (keep && !ino->isDir() && ino->size > ino->blocks * seg.blockSize()) keep = false;
            if (!keep)
                for (const Extent& e : claimed) p.allocator_->free(e);
        }
        if (!keep) {
            std::memset(static_cast<void*>(&rec), 0, sizeof rec);
            p.free_inode_slots_.push_back(slot);
            continue;
        }
        by_atime.emplace_back(ino->atime_ns, ino->id);
        p.inodes_.emplace(ino->id, std::move(ino));
    }

    // Names: attach to their directory when both ends exist.
    for (uint64_t slot = 0; slot < sb.dirent_high; ++slot) {
        DirentRecord& rec = seg.direntRecord(slot);
        if (rec.state == 0) {
            p.free_dirent_slots_.push_back(slot);
            continue;
        }
        Inode* dir = nullptr;
        Inode* target = nullptr;
        bool keep = rec.checksum == direntRecordChecksum(rec) && rec.name_len > 0 &&
                    rec.name_len <= kMaxNameBytes && rec.dir_id != rec.inode_id;
        if (keep) {
            dir = p.find(rec.dir_id);
            target = p.find(rec.inode_id);
            keep = dir && target && dir->isDir();
        }
        std::string name(rec.name, keep ? rec.name_len : 0);
        keep = keep && name.find('/') == std::string::npos && !dir->by_name.count(name);
        if (!keep) {
            std::memset(static_cast<void*>(&rec), 0, sizeof rec);
            p.free_dirent_slots_.push_back(slot);
            continue;
        }
        dir->by_slot.emplace(slot, DirSlot{name, target->id});
        dir->by_name.emplace(std::move(name), NameSlot{slot, target->id});
    }

    // Keep only what is reachable from the pool directory (a directory has one name).
    std::unordered_map<EntryId, uint32_t> names;
    std::vector<Inode*> stack{p.find(kPoolRootId)};
    std::unordered_map<EntryId, bool> seen_dir{{kPoolRootId, true}};
    while (!stack.empty()) {
        Inode* dir = stack.back();
        stack.pop_back();
        for (auto it = dir->by_slot.begin(); it != dir->by_slot.end();) {
            Inode* t = p.find(it->second.inode);
            if (t->isDir() && seen_dir.count(t->id)) {  // a second name for a directory
                p.clearDirent(it->first);
                p.free_dirent_slots_.push_back(it->first);
                dir->by_name.erase(it->second.name);
                it = dir->by_slot.erase(it);
                continue;
            }
            names[t->id]++;
            // The index needs each inode's names (eviction drops them all, rename and chain
            // keys follow them); only names reachable from the pool directory count.
            t->names.emplace_back(dir->id, it->first);
            if (t->isDir()) {
                seen_dir[t->id] = true;
                dir->nlink++;
                stack.push_back(t);
            }
            ++it;
        }
    }
    for (auto it = p.inodes_.begin(); it != p.inodes_.end();) {
        Inode* ino = it->second.get();
        if (ino->id == kPoolRootId) {
            ++it;
            continue;
        }
        auto n = names.find(ino->id);
        const bool reachable = ino->isDir() ? seen_dir.count(ino->id) > 0 : n != names.end();
        if (!reachable) {
            // Names that point at it live only in unreachable directories: free them too.
            for (auto& [slot, ds] : ino->by_slot) {
                p.clearDirent(slot);
                p.free_dirent_slots_.push_back(slot);
            }
            for (const Extent& e : ino->extents) p.allocator_->free(e);
            if (ino->aux.count) p.allocator_->free(ino->aux);
            seg.clearInodeRecord(ino->slot);
            p.free_inode_slots_.push_back(ino->slot);
            it = p.inodes_.erase(it);
            continue;
        }
        ino->nlink = ino->isDir() ? ino->nlink + 2 : n->second;
        ++it;
    }
    // Release the memory of blocks nobody owns (entries dropped above, or freed before a crash).
    // Free extents are already holes except those of dropped entries; punching is idempotent.
    // It walks only the free extents, so it is cheap.
    {
        BlockAllocator copy = *p.allocator_;
        std::vector<Extent> all;
        if (copy.allocate(copy.freeBlocks(), all))
            for (const Extent& e : all) seg.releaseBlocks(e);
    }

    // Policy state: the logical clock follows access times, so the order survives a restart.
    std::sort(by_atime.begin(), by_atime.end());
    for (auto& [atime, id] : by_atime) {
        Inode* ino = p.find(id);
        if (!ino) continue;
        ino->last_tick = ++p.tick_;
    }
    for (auto& [id, ino] : p.inodes_) {
        if (ino->isDir() || id == kPoolRootId) continue;
        if (ino->pinned && ino->pin_expires_ns) p.pin_expiry_.emplace(ino->pin_expires_ns, id);
        // Only count the reference here: binding it to the parent is done once, by name, below.
        // (addChainRef would bind it too, and the parent would count each child twice and never
        // become evictable again.)
        if (!ino->parent.empty()) p.chain_refs_[ino->parent]++;
    }
    // Names bound after the refs were counted: count children per inode from names.
    for (auto& [id, ino] : p.inodes_) {
        if (!ino->isDir()) continue;
        for (auto& [slot, ds] : ino->by_slot) {
            Inode* t = p.find(ds.inode);
            if (!t->isDir()) t->name_hash = hashBytes(ds.name.data(), ds.name.size());
            p.bindChain(id, ds.name, t, true);
        }
    }
    p.settleChains();  // a loop an older daemon let a rename make
    for (auto& [id, ino] : p.inodes_)
        if (!ino->isDir()) p.refreshCandidate(ino.get());
    return {};
}

void Pool::detach() {
    std::lock_guard lk(meta_);
    for (auto& [id, ino] : inodes_)
        if (id != kPoolRootId && !ino->dirty) persist(ino.get());
    persistRoot();
    segment_->super().clean = 1;
}

Status Pool::destroySegment() { return Segment::remove(segment_->location()); }

bool Pool::isEmptyPool() {
    std::lock_guard lk(meta_);
    return find(kPoolRootId)->by_slot.empty();
}

void Pool::verify() {
    std::lock_guard lk(meta_);
    allocator_->verify();
    policy_->verify();
    uint64_t blocks = 0;
    size_t candidates = 0;
    for (auto& [id, ino] : inodes_) {
        uint64_t b = 0;
        for (const Extent& e : ino->extents) {
            if (!allocator_->isAllocated(e))
                throw std::logic_error(fmt::format("entry {} owns a free block", id));
            b += e.count;
        }
        if (b != ino->blocks) throw std::logic_error(fmt::format("entry {} block count", id));
        blocks += b + ino->aux.count;
        if (ino->in_policy != policy_->contains(id))
            throw std::logic_error(fmt::format("entry {} policy membership", id));
        if (ino->in_policy && !eligible(*ino))
            throw std::logic_error(fmt::format("entry {} is a candidate but not evictable", id));
        candidates += ino->in_policy;
        if (!ino->isDir() && ino->size > ino->blocks * blockSize())
            throw std::logic_error(fmt::format("entry {} is larger than its blocks", id));
    }
    if (blocks != allocator_->usedBlocks())
        throw std::logic_error(fmt::format("blocks owned by entries ({}) != blocks used ({})",
                                           blocks, allocator_->usedBlocks()));
    if (candidates != policy_->size()) throw std::logic_error("policy holds unknown entries");
}

}  // namespace kvc
