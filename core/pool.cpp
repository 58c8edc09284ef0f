// Pool: creation, reattach (PoolLoader rebuilds the parts from the records), the calls into
// RecordStore that write a record, and verify(). Namespace operations are in pool_namespace.cpp,
// data in pool_data.cpp, eviction and cache control in pool_eviction.cpp, extended attributes in
// pool_xattr.cpp, lower tiers in pool_tiering.cpp. docs/ARCHITECTURE.md, "Inside a pool".
#include "core/pool.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <fmt/format.h>

#include "core/aux_chain.h"
#include "core/clock.h"
#include "core/crash_points.h"
#include "core/names.h"
#include "core/record_codec.h"

namespace kvc {

Pool::~Pool() = default;

uint64_t Pool::blocksFor(uint64_t bytes) const {
    const uint64_t bs = segment_->blockSize();
    return (bytes + bs - 1) / bs;
}

std::shared_ptr<Inode> Pool::sharedInode(EntryId id) {
    std::lock_guard lk(meta_);
    return index_.shared(id);
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
    a.rdev = ino.rdev;
    a.blksize = segment_->blockSize();
    a.atime_ns = ino.atime_ns;
    a.mtime_ns = ino.mtime_ns.load(std::memory_order_relaxed);
    a.ctime_ns = ino.ctime_ns.load(std::memory_order_relaxed);
    a.committed = !ino.isFile() || !ino.dirty;
    return a;
}

bool Pool::persist(Inode* ino, Changed what) {
    if (ino->id != kPoolRootId) return records_->writeInode(*ino, what);
    records_->writeRoot(*ino);
    return true;
}

Status Pool::roomForBlob(const InodeBlob& blob, Inode* ino) {
    const uint64_t blocks = records_->blocksForBlob(blob, *ino);
    return blocks == 0 ? Status{} : makeRoom(blocks, ino);
}

// Commits an entry: its record says File from now on. When even the metadata's blocks cannot be
// found, it makes room as a write would and tries once more; ENOSPC leaves it uncommitted.
Status Pool::commit(Inode* ino, std::optional<uint64_t> checksum, std::optional<Version> version) {
    for (const auto& [dir_id, slot] : ino->names)
        nameChanged(dir_id, index_.find(dir_id)->by_slot.at(slot).name);
    ino->data_checksum = checksum ? *checksum : dataChecksum(*ino);
    ino->has_data_checksum = true;
    ino->version = version ? *version : clock_.tick();
    ino->dirty = false;
    // The policy's request stream sees the write here, in the writer's flush or close, so at
    // the same point of the operation sequence whenever the front end delivers the release.
    candidates_->written(*ino);
    // A version made here (not a promoted copy's own): the lower copies of the name are older
    // now. Their removal is kept before the record switches to the new version, and told to the
    // tiers once it has: a crash after the switch finds the tombstone.
    std::optional<Removal> older;
    if (!version && tiers_.load() && !ino->names.empty() && !ino->name_never_below)
        older = removalAhead(index_.pathOf(*ino), ino->version, false);
    auto committed = [&]() -> Status {
        if (older) tell(*older);
        return {};
    };
    if (persist(ino, Changed::Blocks)) return committed();
    if (roomForBlob(RecordStore::blobOf(*ino), ino)) {
        ino->dirty = false;
        if (persist(ino, Changed::Blocks)) return committed();
    }
    if (older) forgetRemoval(*older);
    return makeError(ENOSPC, fmt::format("pool {}: no room for the metadata of entry {}; it "
                                         "stays uncommitted",
                                         name_, ino->id));
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
    static void initCommon(Pool& p, std::unique_ptr<EvictionPolicy> policy) {
        // Stale blocks (an entry's, freed while the pool runs) taken for anything but a write
        // that overwrites them are punched first, so that they read as zeros.
        p.allocator_ = std::make_unique<BlockAllocator>(
            p.segment_->super().capacity_blocks,
            [seg = p.segment_.get()](Extent e) { seg->releaseBlocks(e); });
        p.name_ = p.segment_->super().pool_name;
        p.pin_budget_ = p.segment_->super().pin_budget_bytes;
        p.max_entries_ = p.segment_->super().inode_slots;
        p.records_ = std::make_unique<RecordStore>(*p.segment_, *p.allocator_, p.name_);
        // A disk-tier segment's pages are the file's: mapping them ahead would read the disk.
        if (p.segment_->location().dir.empty())
            p.warmer_ = std::make_unique<BlockWarmer>(*p.segment_, p.last_copy_ns_);
        p.index_ = InodeIndex(p.name_);
        p.candidates_ = std::make_unique<CandidateSet>(p.index_, std::move(policy));
        auto root = std::make_shared<Inode>();
        const Superblock& sb = p.segment_->super();
        root->id = kPoolRootId;
        p.index_.startGenerations(sb.generation_base);
        root->generation = p.index_.newGeneration();
        root->mode = sb.root_mode;
        root->uid = sb.root_uid;
        root->gid = sb.root_gid;
        root->nlink = 2;
        root->mtime_ns = sb.root_mtime_ns;
        root->ctime_ns = sb.root_mtime_ns;
        root->atime_ns = sb.root_mtime_ns;
        root->btime_ns = sb.created_ns;
        p.index_.add(std::move(root));
    }

    // Rebuilds the index from the records, in these steps.
    static void load(Pool& p);
    // Committed inodes whose records and blocks check out; returns their ids oldest access
    // first. After a crash their bytes are checked against their checksums too.
    static std::vector<EntryId> loadInodes(Pool& p);
    static bool loadTombstone(Pool& p, uint64_t slot);
    // Names whose directory and inode both came back.
    static void loadNames(Pool& p);
    // Drops what the pool directory does not reach, and second names of directories; sets
    // link counts and each inode's list of names.
    static void dropUnreachable(Pool& p);
    // Gives the host back the memory of every free block.
    static void releaseFreeBlocks(Pool& p);
    // Recency, pins, chain references and eviction candidates.
    static void rebuildPolicyState(Pool& p, const std::vector<EntryId>& by_atime);
    // Queues the entries' blocks to be mapped (core/block_warmer.h).
    static void mapEntries(Pool& p);
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
    PoolLoader::initCommon(*p, std::move(policy));
    return p;
}

Result<std::unique_ptr<Pool>> Pool::attach(const SegmentLocation& where) {
    auto seg = Segment::attach(where);
    if (!seg) return seg.error();
    if (auto st = (*seg)->lockExclusive(); !st) return st.error();
    std::unique_ptr<Pool> p(new Pool);
    p->segment_ = std::move(*seg);
    const Superblock& sb = p->segment_->super();
    auto policy = makePolicy(sb.policy);
    if (!policy)
        return makeError(
            EINVAL, fmt::format("{} names an unknown policy \"{}\"", where.describe(), sb.policy));
    // Before initCommon, which starts the generations from it.
    p->segment_->updateSuper([](Superblock& s) { s.generation_base++; });
    PoolLoader::initCommon(*p, std::move(policy));
    PoolLoader::load(*p);
    p->segment_->updateSuper([](Superblock& s) { s.clean = 0; });
    return p;
}

// Committed inodes and their names come back; records that fail a check, entries that were being
// written, names whose directory or inode is gone, and anything unreachable from the pool
// directory are dropped and their slots freed.
void PoolLoader::load(Pool& p) {
    p.records_->replayNameBatch();  // a batch of names a crash interrupted: all of it
    const std::vector<EntryId> by_atime = loadInodes(p);
    loadNames(p);
    dropUnreachable(p);
    releaseFreeBlocks(p);
    rebuildPolicyState(p, by_atime);
    mapEntries(p);
}

// The blocks of the entries that came back are mapped in the background, as new ones are.
void PoolLoader::mapEntries(Pool& p) {
    if (!p.warmer_) return;
    for (auto& [id, ino] : p.index_)
        for (const Extent& e : ino->extents)
            if (!isHole(e)) {
                p.segment_->wantMapped(e);
                p.warmer_->add(e);
            }
}

std::vector<EntryId> PoolLoader::loadInodes(Pool& p) {
    const bool after_crash = !p.segment_->super().clean;
    std::vector<std::pair<int64_t, EntryId>> by_atime;
    for (uint64_t slot = 0; slot < p.records_->inodeSlotsInUse(); ++slot) {
        if (loadTombstone(p, slot)) continue;
        std::shared_ptr<Inode> ino = p.records_->readInode(slot);
        if (!ino) continue;
        // What cannot be verified after a crash becomes a miss, never wrong bytes.
        if (after_crash && !ino->isDir() && ino->has_data_checksum &&
            p.dataChecksum(*ino) != ino->data_checksum) {
            p.counters_.checksum_failures++;
            p.records_->discardInode(*ino);
            continue;
        }
        ino->generation = p.index_.newGeneration();
        // Later commits get later versions, whatever this host's clock did meanwhile.
        (void)p.clock_.observe(ino->version);
        by_atime.emplace_back(ino->atime_ns, ino->id);
        p.index_.add(std::move(ino));
    }
    // The logical clock follows access times, so the policy's order survives a restart.
    std::sort(by_atime.begin(), by_atime.end());
    std::vector<EntryId> ids;
    ids.reserve(by_atime.size());
    for (const auto& [atime, id] : by_atime) ids.push_back(id);
    return ids;
}

// A removal the lower tiers had not confirmed when the pool was last attached: they are told
// again (takeKeptTombstones). One with a path no pool could hold is dropped.
bool PoolLoader::loadTombstone(Pool& p, uint64_t slot) {
    auto t = p.records_->readTombstone(slot);
    if (!t) return false;
    if (!validatePoolPath(t->path, "tombstone path")) {
        p.records_->clearInode(slot);
        p.records_->reuseInodeSlot(slot);
        return true;
    }
    (void)p.clock_.observe(t->version);
    p.kept_tombstones_.push_back(Removal{t->path, t->version, slot + 1, t->tree});
    p.tombstone_records_++;
    return true;
}

void PoolLoader::loadNames(Pool& p) {
    for (uint64_t slot = 0; slot < p.records_->nameSlotsInUse(); ++slot) {
        auto rec = p.records_->readName(slot);
        if (!rec) continue;
        Inode* dir = p.index_.find(rec->dir);
        Inode* target = p.index_.find(rec->inode);
        if (!dir || !target || !dir->isDir() || dir->by_name.count(rec->name)) {
            p.records_->freeName(slot);
            continue;
        }
        dir->by_slot.emplace(slot, DirSlot{rec->name, target->id});
        dir->by_name.emplace(std::move(rec->name), NameSlot{slot, target->id});
    }
}

void PoolLoader::dropUnreachable(Pool& p) {
    // A walk from the pool directory: a directory has one name, a file any number.
    std::unordered_map<EntryId, uint32_t> names;
    std::vector<Inode*> stack{p.index_.find(kPoolRootId)};
    std::unordered_map<EntryId, bool> seen_dir{{kPoolRootId, true}};
    while (!stack.empty()) {
        Inode* dir = stack.back();
        stack.pop_back();
        for (auto it = dir->by_slot.begin(); it != dir->by_slot.end();) {
            Inode* t = p.index_.find(it->second.inode);
            if (t->isDir() && seen_dir.count(t->id)) {  // a second name for a directory
                p.records_->freeName(it->first);
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
    for (auto it = p.index_.begin(); it != p.index_.end();) {
        Inode* ino = it->second.get();
        if (ino->id == kPoolRootId) {
            ++it;
            continue;
        }
        auto n = names.find(ino->id);
        const bool reachable = ino->isDir() ? seen_dir.count(ino->id) > 0 : n != names.end();
        if (!reachable) {
            // Names that point at it live only in unreachable directories: free them too.
            for (auto& [slot, ds] : ino->by_slot) p.records_->freeName(slot);
            p.records_->discardInode(*ino);
            it = p.index_.erase(it);
            continue;
        }
        ino->nlink = ino->isDir() ? ino->nlink + 2 : n->second;
        ++it;
    }
}

// Free extents are holes except those of dropped entries and those the pool freed stale before
// it stopped (Pool::freeData); punching is idempotent, and only the free extents are walked, so
// it is cheap. From here on, every free block reads as zeros.
void PoolLoader::releaseFreeBlocks(Pool& p) {
    for (const Extent& e : p.allocator_->freeList()) p.segment_->releaseBlocks(e);
}

void PoolLoader::rebuildPolicyState(Pool& p, const std::vector<EntryId>& by_atime) {
    for (const EntryId id : by_atime)
        if (Inode* ino = p.index_.find(id))
            ino->last_tick = ino->made_tick = p.candidates_->nextTick();
    for (auto& [id, ino] : p.index_) {
        if (ino->isDir() || id == kPoolRootId) continue;
        p.candidates_->trackPin(*ino);
        // Only count the reference here: binding it to the parent is done once, by name, below.
        // (addChainRef would bind it too, and the parent would count each child twice and never
        // become evictable again.)
        if (!ino->parent.empty()) p.candidates_->countChainRef(ino->parent);
    }
    // Names bound after the refs were counted: count children per inode from names.
    for (auto& [id, ino] : p.index_) {
        if (!ino->isDir()) continue;
        for (auto& [slot, ds] : ino->by_slot) {
            Inode* t = p.index_.find(ds.inode);
            if (!t->isDir()) t->name_hash = hashBytes(ds.name.data(), ds.name.size());
            p.candidates_->bindChain(id, ds.name, t, true);
        }
    }
    p.settleChains();  // a loop an older daemon let a rename make
    for (auto& [id, ino] : p.index_)
        if (!ino->isDir()) p.candidates_->refresh(ino.get());
}

void Pool::detach() {
    std::lock_guard lk(meta_);
    for (auto& [id, ino] : index_)
        if (id != kPoolRootId && !ino->dirty) persist(ino.get());
    persist(index_.find(kPoolRootId));
    segment_->updateSuper([](Superblock& sb) { sb.clean = 1; });
}

Status Pool::destroySegment() {
    return Segment::remove(segment_->location());
}

bool Pool::isEmptyPool() {
    std::lock_guard lk(meta_);
    return index_.find(kPoolRootId)->by_slot.empty();
}

bool Pool::hasOpenEntries() {
    std::lock_guard lk(meta_);
    return std::any_of(index_.begin(), index_.end(),
                       [](const auto& kv) { return kv.second->opens > 0; });
}

void Pool::verify() {
    std::lock_guard lk(meta_);
    allocator_->verify();
    candidates_->verify();
    uint64_t blocks = 0;
    for (auto& [id, ino] : index_) {
        uint64_t b = 0;
        // (A writer sets the size after the blocks it allocated, without meta_.)
        if (!ino->isDir() && ino->write_opens == 0 &&
            !extentsFitSize(ino->extents, ino->size, blockSize()))
            throw std::logic_error(fmt::format("entry {} extents do not fit its size", id));
        for (const Extent& e : ino->extents) {
            if (isHole(e)) continue;
            if (!allocator_->isAllocated(e))
                throw std::logic_error(fmt::format("entry {} owns a free block", id));
            b += e.count;
        }
        if (b != ino->blocks) throw std::logic_error(fmt::format("entry {} block count", id));
        blocks += b + ino->auxBlocks();
    }
    if (blocks != allocator_->usedBlocks())
        throw std::logic_error(fmt::format("blocks owned by entries ({}) != blocks used ({})",
                                           blocks, allocator_->usedBlocks()));
    if (counters_.lookup_underflows)
        throw std::logic_error(fmt::format("{} forget()s of more references than were held",
                                           counters_.lookup_underflows));
}

}  // namespace kvc
