// RecordStore: a pool's records in its segment, and the one mapping between an Inode and its
// record.
//
// An entry or directory is an inode record (fixed fields, the first extents, and a blob with
// the chain parent, user.* attributes and further extents: inline, or in a chain of blocks when
// it does not fit); a name is a name record (directory, inode, name). The store hands out and
// takes back the slots they live in, writes every record whole with its checksum (a record cut
// by a crash fails it and is dropped at attach), and reads them back at attach.
//
// It knows nothing of the namespace, the policy or eviction: the pool calls it under its meta_
// lock, makes room before a blob needs blocks, and decides what a record means.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layout.h"
#include "core/policy/eviction_policy.h"  // EntryId
#include "core/record_codec.h"
#include "core/result.h"
#include "core/version.h"

namespace kvc {

class BlockAllocator;
class Segment;
struct Inode;

// What changed in an entry since its last record; see RecordStore::writeInode.
enum class Changed { Metadata, Blocks };

class RecordStore {
  public:
    // `pool_name` is used in messages only.
    RecordStore(Segment& segment, BlockAllocator& allocator, std::string pool_name);

    // --- slots ------------------------------------------------------------------------------
    // A free slot, or a new one above the high-water mark (raised and stored first, so attach
    // scans every slot that may hold a record; its page backed before it is handed out).
    // ENOSPC when every slot is taken or the host cannot back another page.
    Result<uint64_t> takeInodeSlot();
    Result<uint64_t> takeNameSlot();
    // The slot may be handed out again; its record must be clear already (clearInode).
    void reuseInodeSlot(uint64_t slot);

    // --- inode records ----------------------------------------------------------------------
    // Writes the record of `ino` (not the pool's root: writeRoot). A blob too large for the
    // record goes to a new chain of free blocks first, then the record switches to it, then the
    // old chain is freed. When no free blocks are left for it, what changed decides: after a
    // change of metadata alone the last record stays (it still names the entry's blocks) and
    // false is returned; after a change of blocks no record may name the old ones, so the entry
    // becomes uncommitted (ino.dirty, its record says Dirty) and false is returned. A directory
    // keeps its last record either way. A removed inode (nlink 0) has no record to write.
    bool writeInode(Inode& ino, Changed what);
    // The pool directory's attributes live in the superblock.
    void writeRoot(const Inode& root);
    // Frees the record of a slot (the slot itself stays taken until reuseInodeSlot).
    void clearInode(uint64_t slot);
    // What an inode keeps outside the fixed fields of its record.
    static InodeBlob blobOf(const Inode& ino);
    // Blocks a new chain for `blob` takes if it became the entry's blob: 0 when it fits in the
    // record or in the chain the entry already has.
    uint64_t blocksForBlob(const InodeBlob& blob, const Inode& ino);

    // --- tombstones -------------------------------------------------------------------------
    // A removal the lower tiers must still be told of, kept in an inode slot (takeInodeSlot)
    // until they confirm it (clearInode, reuseInodeSlot). `path` holds at most
    // kInlineBlobBytes bytes; `tree`: every path below the directory `path`.
    struct Tombstone {
        uint64_t slot = 0;
        std::string path;
        Version version;
        bool tree = false;
    };
    void writeTombstone(const Tombstone& t);
    // At attach, before readInode: the tombstone in `slot`, or nullopt (another record, or a
    // tombstone that fails its checks: then cleared and free).
    std::optional<Tombstone> readTombstone(uint64_t slot);

    // --- name records -----------------------------------------------------------------------
    void writeName(uint64_t slot, EntryId dir, EntryId inode, std::string_view name);
    // Clears the name record; the slot is free for another name.
    void freeName(uint64_t slot);

    // Name records written or cleared while a batch is open are kept and written together at
    // commit(), through the superblock's intent list, so that a crash leaves all or none of them
    // (a rename over a name, an exchange). At most kMaxNameIntents; batches do not nest.
    class NameBatch {
      public:
        explicit NameBatch(RecordStore& store);
        ~NameBatch();
        NameBatch(const NameBatch&) = delete;
        NameBatch& operator=(const NameBatch&) = delete;
        void commit();

      private:
        RecordStore& store_;
        std::vector<NameIntent> names_;
    };

    // --- attach -----------------------------------------------------------------------------
    // Writes again whole a batch of names that a crash interrupted, then forgets it.
    void replayNameBatch();
    uint64_t inodeSlotsInUse() const;  // the high-water marks: slots at or above never held
    uint64_t nameSlotsInUse() const;   // a record
    // The inode the record in `slot` holds, with its blocks claimed from the allocator: nullptr
    // for a free slot, an uncommitted entry, or a record that fails a check (its checksum, its
    // blob's, its extent count, a block outside the pool or claimed twice, a size past its
    // blocks). Such a record is cleared and its slot free. The id is the slot's; the generation
    // is left to the caller.
    std::shared_ptr<Inode> readInode(uint64_t slot);
    // Gives back a read inode the caller will not keep: its blocks, record and slot.
    void discardInode(const Inode& ino);
    struct NameRecord {
        EntryId dir = 0;
        EntryId inode = 0;
        std::string name;
    };
    // The name record in `slot`: nullopt for a free slot or one that fails its checks (then
    // cleared and free).
    std::optional<NameRecord> readName(uint64_t slot);

  private:
    enum class SlotTable { Inodes, Names };
    Result<uint64_t> takeSlot(SlotTable table);
    void recordName(const NameIntent& n);
    std::optional<std::vector<Extent>> writeBlobChain(std::string_view bytes);
    void freeChain(const std::vector<Extent>& chain);

    Segment& segment_;
    BlockAllocator& allocator_;
    std::string pool_name_;
    std::vector<uint64_t> free_inode_slots_;
    std::vector<uint64_t> free_name_slots_;
    std::vector<NameIntent>* batch_ = nullptr;  // the open NameBatch's list, if any
};

}  // namespace kvc
