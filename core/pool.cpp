// Pool: creation, reattach, persistence of records, and the small helpers the other pool_*.cpp
// files share. Namespace operations are in pool_namespace.cpp, data in pool_data.cpp, eviction
// and cache control in pool_eviction.cpp, extended attributes in pool_xattr.cpp.
#include "core/pool.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "core/aux_chain.h"
#include "core/clock.h"
#include "core/crash_points.h"
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
    const Superblock& sb = segment_->super();
    if (!free_inode_slots_.empty()) {
        uint64_t s = free_inode_slots_.back();
        free_inode_slots_.pop_back();
        return s;
    }
    if (sb.inode_high >= sb.inode_slots)
        return makeError(
            ENOSPC, fmt::format("pool {} holds its maximum of {} entries", name_, max_entries_));
    if (auto st = segment_->backInodeRecord(sb.inode_high); !st)
        return makeError(st.code(), fmt::format("pool {}: the host cannot back another entry "
                                                "({})",
                                                name_, st.error().message));
    // The high-water mark is raised (and stored) before the record is written, so attach
    // always scans every slot that may hold one.
    const uint64_t slot = sb.inode_high;
    segment_->updateSuper([](Superblock& s) { s.inode_high++; });
    return slot;
}

Result<uint64_t> Pool::takeDirentSlot() {
    const Superblock& sb = segment_->super();
    if (!free_dirent_slots_.empty()) {
        uint64_t s = free_dirent_slots_.back();
        free_dirent_slots_.pop_back();
        return s;
    }
    if (sb.dirent_high >= sb.dirent_slots)
        return makeError(ENOSPC, fmt::format("pool {} has no room for another name", name_));
    if (auto st = segment_->backDirentRecord(sb.dirent_high); !st)
        return makeError(st.code(), fmt::format("pool {}: the host cannot back another name "
                                                "({})",
                                                name_, st.error().message));
    const uint64_t slot = sb.dirent_high;
    segment_->updateSuper([](Superblock& s) { s.dirent_high++; });
    return slot;
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
    segment_->updateSuper([&](Superblock& sb) {
        sb.root_mode = root.mode;
        sb.root_uid = root.uid;
        sb.root_gid = root.gid;
        sb.root_mtime_ns = root.mtime_ns.load();
    });
}

InodeBlob Pool::blobOf(const Inode& ino) {
    InodeBlob blob;
    blob.parent = ino.parent;
    blob.xattrs = ino.xattrs;
    if (ino.extents.size() > kInlineExtents)
        blob.extra_extents.assign(ino.extents.begin() + kInlineExtents, ino.extents.end());
    return blob;
}

// Writes an inode's record. A record is built aside and copied in whole with its checksum, so a
// crash in the middle leaves a record that fails its checksum and is dropped at attach. A blob
// too large for the record is written to a new chain first, then the record switches to it,
// then the old chain is freed.
bool Pool::persist(Inode* ino, Changed what) {
    if (ino->id == kPoolRootId) {
        persistRoot();
        return true;
    }
    if (ino->nlink == 0) return true;  // removed: its record is gone and stays gone
    InodeRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
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
    for (size_t i = 0; i < std::min<size_t>(ino->extents.size(), kInlineExtents); ++i)
        rec.extents[i] = ino->extents[i];
    const std::string bytes = encodeBlob(blobOf(*ino));
    rec.blob_bytes = bytes.size();
    rec.blob_checksum = hashBytes(bytes.data(), bytes.size());
    std::vector<Extent> new_aux;
    bool stored = true;
    if (bytes.size() <= kInlineBlobBytes) {
        std::memcpy(rec.blob, bytes.data(), bytes.size());
    } else if (!ino->aux.empty() && auxChainHolds(*segment_, ino->aux, ino->aux_chained, bytes)) {
        // The blob did not change (a pin, a rename, a time): keep it where it is, without
        // needing free blocks.
        new_aux = ino->aux;
    } else {
        auto chain = writeBlobChain(bytes);
        if (chain) new_aux = std::move(*chain);
        stored = chain.has_value();
    }
    if (!stored) {
        // No free block for the blob. The last record still names the entry's blocks after a
        // change of metadata alone: it stays. After a change of blocks, the entry becomes
        // uncommitted (its record says Dirty, `committed` reads 0, a restart drops it): never
        // a commit the pool cannot keep. A directory has no blocks and keeps its last record.
        if (ino->isDir() || what == Changed::Metadata) return false;
        ino->dirty = true;
        new_aux = ino->aux;
    }
    rec.state = ino->isDir() ? RecordState::Directory
                             : (ino->dirty ? RecordState::Dirty : RecordState::File);
    const bool chained = new_aux == ino->aux ? ino->aux_chained : true;
    rec.aux = new_aux.empty() ? Extent{} : new_aux.front();
    rec.aux_chained = !new_aux.empty() && chained ? 1 : 0;
    rec.data_checksummed = ino->has_data_checksum ? 1 : 0;
    rec.data_checksum = ino->data_checksum;
    rec.checksum = inodeRecordChecksum(rec);
    crashPoint("inode record");
    std::memcpy(&segment_->inodeRecord(ino->slot), &rec, sizeof rec);
    if (!(new_aux == ino->aux)) {
        for (const Extent& e : ino->aux) {
            allocator_->free(e);
            segment_->releaseBlocks(e);
        }
        ino->aux = std::move(new_aux);
        ino->aux_chained = true;
    }
    return stored;
}

Status Pool::roomForBlob(const InodeBlob& blob, Inode* ino) {
    const std::string bytes = encodeBlob(blob);
    if (bytes.size() <= kInlineBlobBytes) return {};
    if (!ino->aux.empty() && auxChainHolds(*segment_, ino->aux, ino->aux_chained, bytes)) return {};
    return makeRoom(auxChainBlocks(bytes.size(), blockSize()), ino);
}

// A new chain holding `bytes`, in blocks that are free now (nullopt when there are not enough).
std::optional<std::vector<Extent>> Pool::writeBlobChain(std::string_view bytes) {
    std::vector<Extent> got;
    if (!allocator_->allocate(auxChainBlocks(bytes.size(), blockSize()), got)) {
        for (const Extent& e : got) allocator_->free(e);
        return std::nullopt;
    }
    std::vector<Extent> unused;
    std::vector<Extent> chain = trimAuxChain(got, bytes.size(), blockSize(), unused);
    for (const Extent& e : unused) allocator_->free(e);
    for (const Extent& e : chain) {
        if (!segment_->backBlocks(e)) {
            for (const Extent& f : chain) allocator_->free(f);
            return std::nullopt;
        }
    }
    writeAuxChain(*segment_, chain, bytes);
    return chain;
}

// Commits an entry: its record says File from now on. When even the metadata's blocks cannot be
// found, it makes room as a write would and tries once more; ENOSPC leaves it uncommitted.
Status Pool::commit(Inode* ino, std::optional<uint64_t> checksum) {
    for (const auto& [dir_id, slot] : ino->names)
        nameChanged(dir_id, find(dir_id)->by_slot.at(slot).name);
    ino->data_checksum = checksum ? *checksum : dataChecksum(*ino);
    ino->has_data_checksum = true;
    ino->dirty = false;
    if (persist(ino, Changed::Blocks)) return {};
    const uint64_t blob = encodeBlob(blobOf(*ino)).size();
    if (makeRoom(auxChainBlocks(blob, blockSize()), ino)) {
        ino->dirty = false;
        if (persist(ino, Changed::Blocks)) return {};
    }
    return makeError(ENOSPC, fmt::format("pool {}: no room for the metadata of entry {}; it "
                                         "stays uncommitted",
                                         name_, ino->id));
}

namespace {

// Writes (dir_id != 0) or clears one name record: a whole record with its checksum.
void writeNameRecord(Segment& seg, const NameIntent& n) {
    if (n.dir_id == 0) {
        crashPoint("clear name record");
        DirentRecord& rec = seg.direntRecord(n.slot);
        rec.state = 0;
        rec.checksum = 0;
        return;
    }
    DirentRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    rec.state = 1;
    rec.name_len = n.name_len;
    rec.dir_id = n.dir_id;
    rec.inode_id = n.inode_id;
    std::memcpy(rec.name, n.name, n.name_len);
    rec.checksum = direntRecordChecksum(rec);
    crashPoint("name record");
    std::memcpy(&seg.direntRecord(n.slot), &rec, sizeof rec);
}

NameIntent nameIntent(uint64_t slot, EntryId dir, EntryId inode, std::string_view name) {
    NameIntent n{};
    n.slot = slot;
    n.dir_id = dir;
    n.inode_id = inode;
    n.name_len = static_cast<uint32_t>(name.size());
    // A cleared slot has no name, and an empty view may have no data (memcpy from null is UB).
    if (!name.empty()) std::memcpy(n.name, name.data(), name.size());
    return n;
}

}  // namespace

void Pool::persistDirent(uint64_t slot, EntryId dir, EntryId inode, std::string_view name) {
    recordName(nameIntent(slot, dir, inode, name));
}

void Pool::clearDirent(uint64_t slot) {
    recordName(nameIntent(slot, 0, 0, {}));
}

void Pool::recordName(const NameIntent& n) {
    if (name_batch_) {
        if (name_batch_->size() == kMaxNameIntents)
            throw std::logic_error("more name changes in one batch than the superblock holds");
        name_batch_->push_back(n);
        return;
    }
    writeNameRecord(*segment_, n);
}

// The batch goes to the superblock first (one atomic store of a copy), then to the records,
// then the superblock forgets it: a crash anywhere leaves all of the batch or none of it.
void Pool::NameBatch::commit() {
    Pool& p = pool_;
    p.name_batch_ = nullptr;
    if (names_.empty()) return;
    p.segment_->updateSuper([&](Superblock& sb) {
        sb.name_intent_count = static_cast<uint32_t>(names_.size());
        std::copy(names_.begin(), names_.end(), sb.name_intents);
    });
    for (const NameIntent& n : names_) writeNameRecord(*p.segment_, n);
    p.segment_->updateSuper([](Superblock& sb) { sb.name_intent_count = 0; });
    names_.clear();
}

Pool::NameBatch::NameBatch(Pool& pool) : pool_(pool) {
    if (pool_.name_batch_) throw std::logic_error("name batches do not nest");
    pool_.name_batch_ = &names_;
}

Pool::NameBatch::~NameBatch() {
    // Only an exception (a simulated crash in the tests) leaves a batch uncommitted.
    if (pool_.name_batch_ == &names_) pool_.name_batch_ = nullptr;
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
    if (auto st = (*seg)->lockExclusive(); !st) return st.error();
    std::unique_ptr<Pool> p(new Pool);
    p->segment_ = std::move(*seg);
    p->segment_->updateSuper([&](Superblock& sb) {
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
    });
    p->policy_ = std::move(policy);
    PoolLoader::initCommon(*p);
    return p;
}

Result<std::unique_ptr<Pool>> Pool::attach(const SegmentLocation& where) {
    auto seg = Segment::attach(where);
    if (!seg) return seg.error();
    if (auto st = (*seg)->lockExclusive(); !st) return st.error();
    std::unique_ptr<Pool> p(new Pool);
    p->segment_ = std::move(*seg);
    const Superblock& sb = p->segment_->super();
    p->policy_ = makePolicy(sb.policy);
    if (!p->policy_)
        return makeError(
            EINVAL, fmt::format("{} names an unknown policy \"{}\"", where.describe(), sb.policy));
    // Before initCommon, which starts the generations from it.
    p->segment_->updateSuper([](Superblock& s) { s.generation_base++; });
    PoolLoader::initCommon(*p);
    if (auto st = PoolLoader::load(*p); !st) return st.error();
    p->segment_->updateSuper([](Superblock& s) { s.clean = 0; });
    return p;
}

// Rebuilds the index from the records: committed inodes and their names come back; records
// that fail their checksum, entries that were being written, names whose directory or inode is
// gone, and anything unreachable from the pool directory are dropped and their slots freed.
Status PoolLoader::load(Pool& p) {
    Segment& seg = *p.segment_;
    const Superblock& sb = seg.super();  // high-water marks already bounded by the slots
    // A batch of names that a crash interrupted is written again whole, then forgotten.
    if (sb.name_intent_count > 0) {
        for (uint32_t i = 0; i < std::min<uint32_t>(sb.name_intent_count, kMaxNameIntents); ++i) {
            const NameIntent& n = sb.name_intents[i];
            if (n.slot < sb.dirent_slots &&
                (n.dir_id == 0 || (n.name_len > 0 && n.name_len <= kMaxNameBytes)))
                writeNameRecord(seg, n);
        }
        seg.updateSuper([](Superblock& s) { s.name_intent_count = 0; });
    }
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
        std::optional<AuxRead> aux;
        if (keep && rec.aux.count == 0 && rec.blob_bytes <= kInlineBlobBytes) {
            std::string_view bytes(reinterpret_cast<const char*>(rec.blob), rec.blob_bytes);
            if (hashBytes(bytes.data(), bytes.size()) == rec.blob_checksum)
                blob = decodeBlob(bytes);
        } else if (keep && rec.aux.count > 0) {
            aux = readAuxChain(seg, rec.aux, rec.blob_bytes, rec.aux_chained != 0,
                               sb.capacity_blocks);
            if (aux && hashBytes(aux->blob.data(), aux->blob.size()) == rec.blob_checksum)
                blob = decodeBlob(aux->blob);
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
            ino->has_data_checksum = rec.data_checksummed != 0;
            ino->data_checksum = rec.data_checksum;
            ino->parent = std::move(blob->parent);
            ino->xattrs = std::move(blob->xattrs);
            if (aux) {
                ino->aux = std::move(aux->chain);
                ino->aux_chained = rec.aux_chained != 0;
            }
            for (uint32_t i = 0; i < rec.extent_count; ++i)
                ino->extents.push_back(
                    i < kInlineExtents ? rec.extents[i] : blob->extra_extents[i - kInlineExtents]);
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
            for (const Extent& e : ino->aux) {
                if (!keep) break;
                if (p.allocator_->reserve(e))
                    claimed.push_back(e);
                else
                    keep = false;
            }
            if (keep && !ino->isDir() && ino->size > ino->blocks * seg.blockSize()) keep = false;
            // After a crash, every entry's bytes are checked against the checksum of its commit:
            // what cannot be verified becomes a miss, never wrong bytes.
            if (keep && !sb.clean && !ino->isDir() && ino->has_data_checksum &&
                p.dataChecksum(*ino) != ino->data_checksum) {
                keep = false;
                p.counters_.checksum_failures++;
            }
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
            for (const Extent& e : ino->aux) p.allocator_->free(e);
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
    segment_->updateSuper([](Superblock& sb) { sb.clean = 1; });
}

Status Pool::destroySegment() {
    return Segment::remove(segment_->location());
}

bool Pool::isEmptyPool() {
    std::lock_guard lk(meta_);
    return find(kPoolRootId)->by_slot.empty();
}

bool Pool::hasOpenEntries() {
    std::lock_guard lk(meta_);
    return std::any_of(inodes_.begin(), inodes_.end(),
                       [](const auto& kv) { return kv.second->opens > 0; });
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
        blocks += b + ino->auxBlocks();
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
    if (counters_.lookup_underflows)
        throw std::logic_error(fmt::format("{} forget()s of more references than were held",
                                           counters_.lookup_underflows));
}

}  // namespace kvc
