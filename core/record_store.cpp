#include "core/record_store.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <sys/stat.h>

#include <fmt/format.h>

#include "core/aux_chain.h"
#include "core/block_allocator.h"
#include "core/crash_points.h"
#include "core/inode.h"
#include "core/names.h"
#include "core/segment.h"

namespace kvc {
namespace {

// The fixed fields of a record, from an inode and back: the one place they are paired.
void fixedFieldsToRecord(const Inode& ino, InodeRecord& rec) {
    rec.generation = static_cast<uint32_t>(ino.generation);
    rec.mode = ino.mode;
    rec.uid = ino.uid;
    rec.gid = ino.gid;
    rec.priority = ino.priority;
    rec.size = ino.size.load();
    rec.atime_ns = ino.atime_ns;
    rec.mtime_ns = ino.mtime_ns.load();
    rec.ctime_ns = ino.ctime_ns.load();
    rec.btime_ns = ino.btime_ns;
    rec.layer = ino.layer;
    rec.seq_len = ino.seq_len;
    rec.access_count = ino.access_count;
    rec.pin_expires_ns = ino.pin_expires_ns;
    rec.pinned = ino.pinned ? 1 : 0;
    rec.data_checksummed = ino.has_data_checksum ? 1 : 0;
    rec.data_checksum = ino.data_checksum;
    rec.version_hlc = ino.version.hlc;
    rec.version_node = ino.version.node;
    rec.rdev = ino.rdev;
}

void fixedFieldsFromRecord(const InodeRecord& rec, Inode& ino) {
    ino.mode = rec.mode;
    ino.uid = rec.uid;
    ino.gid = rec.gid;
    ino.priority = rec.priority;
    ino.size = rec.size;
    ino.atime_ns = rec.atime_ns;
    ino.mtime_ns = rec.mtime_ns;
    ino.ctime_ns = rec.ctime_ns;
    ino.btime_ns = rec.btime_ns;
    ino.layer = rec.layer;
    ino.seq_len = rec.seq_len;
    ino.access_count = rec.access_count;
    ino.pinned = rec.pinned != 0;
    ino.pin_expires_ns = rec.pin_expires_ns;
    ino.has_data_checksum = rec.data_checksummed != 0;
    ino.data_checksum = rec.data_checksum;
    ino.version = Version{rec.version_hlc, rec.version_node};
    ino.rdev = rec.rdev;
}

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

// The record's blob, read and checked against its checksum: inline, or from its chain (then
// `chain` is set to the chain's blocks).
std::optional<InodeBlob> readBlob(Segment& seg, const InodeRecord& rec,
                                  std::vector<Extent>& chain) {
    if (rec.aux.count == 0) {
        if (rec.blob_bytes > kInlineBlobBytes) return std::nullopt;
        const std::string_view bytes(reinterpret_cast<const char*>(rec.blob), rec.blob_bytes);
        if (hashBytes(bytes.data(), bytes.size()) != rec.blob_checksum) return std::nullopt;
        return decodeBlob(bytes);
    }
    auto aux = readAuxChain(seg, rec.aux, rec.blob_bytes, rec.aux_chained != 0,
                            seg.super().capacity_blocks);
    if (!aux || hashBytes(aux->blob.data(), aux->blob.size()) != rec.blob_checksum)
        return std::nullopt;
    chain = std::move(aux->chain);
    return decodeBlob(aux->blob);
}

// The record's state and its mode's file type agree: an entry is a regular file, a directory a
// directory, a node one of the other kinds.
bool kindMatches(const InodeRecord& rec) {
    switch (rec.mode & S_IFMT) {
        case S_IFREG:
            return rec.state == RecordState::File;
        case S_IFDIR:
            return rec.state == RecordState::Directory;
        case S_IFLNK:
        case S_IFIFO:
        case S_IFSOCK:
        case S_IFCHR:
        case S_IFBLK:
            return rec.state == RecordState::Node && rec.extent_count == 0;
        default:
            return false;
    }
}

// A node's fields as the pool makes them: a link's target within the bounds and its size its
// length; no other kind with a target, a size or (but device nodes) a device number.
bool nodeFieldsValid(const Inode& ino) {
    if (ino.isSymlink())
        return validateSymlinkTarget(ino.target) && ino.size == ino.target.size() && ino.rdev == 0;
    if (!ino.target.empty()) return false;
    const uint32_t type = ino.mode & S_IFMT;
    if (ino.isNode()) return ino.size == 0 && (ino.rdev == 0 || type == S_IFCHR || type == S_IFBLK);
    return ino.rdev == 0;
}

}  // namespace

RecordStore::RecordStore(Segment& segment, BlockAllocator& allocator, std::string pool_name)
    : segment_(segment), allocator_(allocator), pool_name_(std::move(pool_name)) {}

// ---------------------------------------------------------------------------------------------
// Slots

// Slots below the high-water mark have been written before, so their pages are backed; a new
// slot may start a page the host has not backed yet, and must be backed before it is written.
// The high-water mark is raised (and stored) before the record is written, so attach always
// scans every slot that may hold one.
Result<uint64_t> RecordStore::takeSlot(SlotTable table) {
    const bool inodes = table == SlotTable::Inodes;
    std::vector<uint64_t>& free = inodes ? free_inode_slots_ : free_name_slots_;
    if (!free.empty()) {
        const uint64_t s = free.back();
        free.pop_back();
        return s;
    }
    const Superblock& sb = segment_.super();
    const uint64_t high = inodes ? sb.inode_high : sb.dirent_high;
    if (high >= (inodes ? sb.inode_slots : sb.dirent_slots))
        return makeError(ENOSPC,
                         inodes ? fmt::format("pool {} holds its maximum of {} entries", pool_name_,
                                              sb.inode_slots)
                                : fmt::format("pool {} has no room for another name", pool_name_));
    const Status backed = inodes ? segment_.backInodeRecord(high) : segment_.backDirentRecord(high);
    if (!backed)
        return makeError(backed.code(),
                         fmt::format("pool {}: the host cannot back another {} ({})", pool_name_,
                                     inodes ? "entry" : "name", backed.error().message));
    segment_.updateSuper([inodes](Superblock& s) { (inodes ? s.inode_high : s.dirent_high)++; });
    return high;
}

Result<uint64_t> RecordStore::takeInodeSlot() {
    return takeSlot(SlotTable::Inodes);
}

Result<uint64_t> RecordStore::takeNameSlot() {
    return takeSlot(SlotTable::Names);
}

void RecordStore::reuseInodeSlot(uint64_t slot) {
    free_inode_slots_.push_back(slot);
}

// ---------------------------------------------------------------------------------------------
// Inode records

InodeBlob RecordStore::blobOf(const Inode& ino) {
    InodeBlob blob;
    blob.parent = ino.parent;
    blob.xattrs = ino.xattrs;
    blob.target = ino.target;
    if (ino.extents.size() > kInlineExtents)
        blob.extra_extents.assign(ino.extents.begin() + kInlineExtents, ino.extents.end());
    return blob;
}

uint64_t RecordStore::blocksForBlob(const InodeBlob& blob, const Inode& ino) {
    const std::string bytes = encodeBlob(blob);
    if (bytes.size() <= kInlineBlobBytes) return 0;
    if (!ino.aux.empty() && auxChainHolds(segment_, ino.aux, ino.aux_chained, bytes)) return 0;
    return auxChainBlocks(bytes.size(), segment_.blockSize());
}

// A record is built aside and copied in whole with its checksum, so a crash in the middle leaves
// a record that fails its checksum and is dropped at attach.
bool RecordStore::writeInode(Inode& ino, Changed what) {
    if (ino.nlink == 0) return true;  // removed: its record is gone and stays gone
    InodeRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    fixedFieldsToRecord(ino, rec);
    rec.extent_count = static_cast<uint32_t>(ino.extents.size());
    for (size_t i = 0; i < std::min<size_t>(ino.extents.size(), kInlineExtents); ++i)
        rec.extents[i] = ino.extents[i];
    const std::string bytes = encodeBlob(blobOf(ino));
    rec.blob_bytes = bytes.size();
    rec.blob_checksum = hashBytes(bytes.data(), bytes.size());
    std::vector<Extent> new_aux;
    bool stored = true;
    if (bytes.size() <= kInlineBlobBytes) {
        std::memcpy(rec.blob, bytes.data(), bytes.size());
    } else if (!ino.aux.empty() && auxChainHolds(segment_, ino.aux, ino.aux_chained, bytes)) {
        // The blob did not change (a pin, a rename, a time): keep it where it is, without
        // needing free blocks.
        new_aux = ino.aux;
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
        if (ino.isDir() || what == Changed::Metadata) return false;
        ino.dirty = true;
        new_aux = ino.aux;
    }
    rec.state = ino.isDir()    ? RecordState::Directory
                : ino.isNode() ? RecordState::Node
                : ino.dirty    ? RecordState::Dirty
                               : RecordState::File;
    const bool chained = new_aux == ino.aux ? ino.aux_chained : true;
    rec.aux = new_aux.empty() ? Extent{} : new_aux.front();
    rec.aux_chained = !new_aux.empty() && chained ? 1 : 0;
    rec.checksum = inodeRecordChecksum(rec);
    crashPoint("inode record");
    std::memcpy(&segment_.inodeRecord(ino.slot), &rec, sizeof rec);
    if (!(new_aux == ino.aux)) {
        freeChain(ino.aux);
        ino.aux = std::move(new_aux);
        ino.aux_chained = true;
    }
    return stored;
}

void RecordStore::writeRoot(const Inode& root) {
    segment_.updateSuper([&](Superblock& sb) {
        sb.root_mode = root.mode;
        sb.root_uid = root.uid;
        sb.root_gid = root.gid;
        sb.root_mtime_ns = root.mtime_ns.load();
    });
}

void RecordStore::clearInode(uint64_t slot) {
    segment_.clearInodeRecord(slot);
}

void RecordStore::writeTombstone(const Tombstone& t) {
    InodeRecord rec;
    std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    rec.state = RecordState::Tombstone;
    rec.mode = t.tree ? 0040000 : 0100000;
    rec.version_hlc = t.version.hlc;
    rec.version_node = t.version.node;
    rec.blob_bytes = std::min(t.path.size(), kInlineBlobBytes);
    std::memcpy(rec.blob, t.path.data(), rec.blob_bytes);
    rec.blob_checksum = hashBytes(rec.blob, rec.blob_bytes);
    rec.checksum = inodeRecordChecksum(rec);
    crashPoint("tombstone record");
    std::memcpy(&segment_.inodeRecord(t.slot), &rec, sizeof rec);
}

std::optional<RecordStore::Tombstone> RecordStore::readTombstone(uint64_t slot) {
    InodeRecord& rec = segment_.inodeRecord(slot);
    if (rec.state != RecordState::Tombstone) return std::nullopt;
    if (rec.checksum != inodeRecordChecksum(rec) || rec.blob_bytes == 0 ||
        rec.blob_bytes > kInlineBlobBytes ||
        hashBytes(rec.blob, rec.blob_bytes) != rec.blob_checksum) {
        // Cut by a crash: the removal it kept is lost (TIERS.md says what that can bring back).
        std::memset(static_cast<void*>(&rec), 0, sizeof rec);
        free_inode_slots_.push_back(slot);
        return std::nullopt;
    }
    Tombstone t;
    t.slot = slot;
    t.path.assign(reinterpret_cast<const char*>(rec.blob), rec.blob_bytes);
    t.version = Version{rec.version_hlc, rec.version_node};
    t.tree = (rec.mode & 0170000) == 0040000;
    return t;
}

// A new chain holding `bytes`, in blocks that are free now (nullopt when there are not enough).
std::optional<std::vector<Extent>> RecordStore::writeBlobChain(std::string_view bytes) {
    const uint32_t bs = segment_.blockSize();
    std::vector<Extent> got;
    if (!allocator_.allocate(auxChainBlocks(bytes.size(), bs), got)) {
        for (const Extent& e : got) allocator_.free(e);
        return std::nullopt;
    }
    std::vector<Extent> unused;
    std::vector<Extent> chain = trimAuxChain(got, bytes.size(), bs, unused);
    for (const Extent& e : unused) allocator_.free(e);
    for (const Extent& e : chain) {
        if (!segment_.backBlocks(e)) {
            for (const Extent& f : chain) allocator_.free(f);
            return std::nullopt;
        }
    }
    writeAuxChain(segment_, chain, bytes);
    return chain;
}

void RecordStore::freeChain(const std::vector<Extent>& chain) {
    for (const Extent& e : chain) {
        allocator_.free(e);
        segment_.releaseBlocks(e);
    }
}

// ---------------------------------------------------------------------------------------------
// Name records

void RecordStore::writeName(uint64_t slot, EntryId dir, EntryId inode, std::string_view name) {
    recordName(nameIntent(slot, dir, inode, name));
}

void RecordStore::freeName(uint64_t slot) {
    recordName(nameIntent(slot, 0, 0, {}));
    free_name_slots_.push_back(slot);
}

void RecordStore::recordName(const NameIntent& n) {
    if (batch_) {
        if (batch_->size() == kMaxNameIntents)
            throw std::logic_error("more name changes in one batch than the superblock holds");
        batch_->push_back(n);
        return;
    }
    writeNameRecord(segment_, n);
}

RecordStore::NameBatch::NameBatch(RecordStore& store) : store_(store) {
    if (store_.batch_) throw std::logic_error("name batches do not nest");
    store_.batch_ = &names_;
}

RecordStore::NameBatch::~NameBatch() {
    // Only an exception (a simulated crash in the tests) leaves a batch uncommitted.
    if (store_.batch_ == &names_) store_.batch_ = nullptr;
}

// The batch goes to the superblock first (one atomic store of a copy), then to the records,
// then the superblock forgets it: a crash anywhere leaves all of the batch or none of it.
void RecordStore::NameBatch::commit() {
    store_.batch_ = nullptr;
    if (names_.empty()) return;
    Segment& seg = store_.segment_;
    seg.updateSuper([&](Superblock& sb) {
        sb.name_intent_count = static_cast<uint32_t>(names_.size());
        std::copy(names_.begin(), names_.end(), sb.name_intents);
    });
    for (const NameIntent& n : names_) writeNameRecord(seg, n);
    seg.updateSuper([](Superblock& sb) { sb.name_intent_count = 0; });
    names_.clear();
}

// ---------------------------------------------------------------------------------------------
// Attach

void RecordStore::replayNameBatch() {
    const Superblock& sb = segment_.super();
    if (sb.name_intent_count == 0) return;
    for (uint32_t i = 0; i < std::min<uint32_t>(sb.name_intent_count, kMaxNameIntents); ++i) {
        const NameIntent& n = sb.name_intents[i];
        if (n.slot < sb.dirent_slots &&
            (n.dir_id == 0 || (n.name_len > 0 && n.name_len <= kMaxNameBytes)))
            writeNameRecord(segment_, n);
    }
    segment_.updateSuper([](Superblock& s) { s.name_intent_count = 0; });
}

// The high-water marks were bounded by the slot counts when the segment was attached.
uint64_t RecordStore::inodeSlotsInUse() const {
    return segment_.super().inode_high;
}

uint64_t RecordStore::nameSlotsInUse() const {
    return segment_.super().dirent_high;
}

std::shared_ptr<Inode> RecordStore::readInode(uint64_t slot) {
    InodeRecord& rec = segment_.inodeRecord(slot);
    if (rec.state == RecordState::Free) {
        free_inode_slots_.push_back(slot);
        return nullptr;
    }
    auto drop = [&] {
        std::memset(static_cast<void*>(&rec), 0, sizeof rec);
        free_inode_slots_.push_back(slot);
        return nullptr;
    };
    if (rec.state != RecordState::File && rec.state != RecordState::Directory &&
        rec.state != RecordState::Node)
        return drop();
    if (rec.checksum != inodeRecordChecksum(rec)) return drop();
    if (!kindMatches(rec)) return drop();
    std::vector<Extent> chain;
    std::optional<InodeBlob> blob = readBlob(segment_, rec, chain);
    if (!blob || blob->extra_extents.size() + std::min<size_t>(rec.extent_count, kInlineExtents) !=
                     rec.extent_count)
        return drop();
    auto ino = std::make_shared<Inode>();
    ino->id = slot + kFirstEntryId;
    ino->slot = slot;
    fixedFieldsFromRecord(rec, *ino);
    ino->parent = std::move(blob->parent);
    ino->xattrs = std::move(blob->xattrs);
    ino->target = std::move(blob->target);
    if (!nodeFieldsValid(*ino)) return drop();
    ino->aux = std::move(chain);
    ino->aux_chained = ino->aux.empty() || rec.aux_chained != 0;
    for (uint32_t i = 0; i < rec.extent_count; ++i)
        ino->extents.push_back(i < kInlineExtents ? rec.extents[i]
                                                  : blob->extra_extents[i - kInlineExtents]);
    // Every block must be inside the pool and claimed once; holes take none, but the list
    // must fit the size (core/extent_map.h).
    std::vector<Extent> claimed;
    bool claimed_all =
        ino->isDir() || extentsFitSize(ino->extents, ino->size, segment_.blockSize());
    for (const Extent& e : ino->extents) {
        if (!claimed_all) break;
        if (isHole(e)) continue;
        if (!(claimed_all = allocator_.reserve(e))) break;
        claimed.push_back(e);
        ino->blocks += e.count;
    }
    for (const Extent& e : ino->aux) {
        if (!claimed_all || !(claimed_all = allocator_.reserve(e))) break;
        claimed.push_back(e);
    }
    if (!claimed_all) {
        for (const Extent& e : claimed) allocator_.free(e);
        return drop();
    }
    return ino;
}

void RecordStore::discardInode(const Inode& ino) {
    for (const Extent& e : ino.extents)
        if (!isHole(e)) allocator_.free(e);
    for (const Extent& e : ino.aux) allocator_.free(e);
    segment_.clearInodeRecord(ino.slot);
    free_inode_slots_.push_back(ino.slot);
}

std::optional<RecordStore::NameRecord> RecordStore::readName(uint64_t slot) {
    DirentRecord& rec = segment_.direntRecord(slot);
    if (rec.state != 0 && rec.checksum == direntRecordChecksum(rec) && rec.name_len > 0 &&
        rec.name_len <= kMaxNameBytes && rec.dir_id != rec.inode_id) {
        NameRecord n{rec.dir_id, rec.inode_id, std::string(rec.name, rec.name_len)};
        if (n.name.find('/') == std::string::npos) return n;
    }
    if (rec.state != 0) std::memset(static_cast<void*>(&rec), 0, sizeof rec);
    free_name_slots_.push_back(slot);
    return std::nullopt;
}

}  // namespace kvc
