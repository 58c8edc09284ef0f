// The on-segment format of a pool: what a new process finds when it reattaches.
//
//   offset 0                 Superblock page: two 2 KiB copies of the Superblock
//   inode_table_offset       inode_slots x InodeRecord (1 KiB each)
//   dirent_table_offset      dirent_slots x DirentRecord (320 bytes each)
//   data_offset              block_count x block_size (aligned to the block size)
//
// The allocation map is not stored: it is rebuilt at attach from the extents of the committed
// inode records, so a crash can neither leak nor double-allocate a block.
//
// The superblock is written in turns to its two copies, each with a sequence number and a
// checksum; attach takes the valid copy with the higher sequence, so a crash in the middle of
// writing one leaves the other, one change older. A copy that fails its checksum is never used.
// The daemon reads the superblock once at attach and keeps it in the process (Segment::super):
// what another writer puts in shared memory afterwards is never read back.
//
// Versioning (kSegmentFormatVersion): bump it for any change to the size, order or meaning of a
// field in these structs, or to the region layout above. Appending a field inside the reserved
// bytes of the superblock or a record with zero meaning "absent" does not need a bump. A segment
// of another version is refused at attach, never reinterpreted, with one exception: version 1
// (one superblock copy without sequence or checksum, otherwise the same layout) is read as the
// first copy and rewritten as version 2 at attach. Record states and fields a build does not
// know are dropped by it, never misread (the Node state; InodeRecord::rdev sits in what were
// reserved zero bytes).
//
// Sparse entries (hole extents, below) did not bump the version: they give a meaning to extent
// values no earlier build accepts. A build before them reserves every extent in the allocator
// at attach, and a hole's start + count overflows, which it refuses; a record whose size is
// past its blocks (a trailing hole) it refuses too. Either way it drops that one record as
// damaged (forgets the entry: docs/DECISIONS.md, D1, D9) and can never misread it as blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvc {

inline constexpr char kSegmentMagic[8] = {'K', 'V', 'C', 'F', 'S', 'S', 'E', 'G'};
inline constexpr uint32_t kSegmentFormatVersion = 2;
inline constexpr uint32_t kLegacySegmentFormatVersion = 1;
inline constexpr uint64_t kSuperblockBytes = 4096;  // the page holding both copies
inline constexpr uint64_t kSuperblockCopyBytes = kSuperblockBytes / 2;

struct Extent {
    uint64_t start = 0;  // first block
    uint64_t count = 0;  // blocks
    bool operator==(const Extent&) const = default;
};
// The start of a hole extent of an entry: `count` blocks that take no pool block and read as
// zeros (core/extent_map.h). Never a block number: block_count is at most 2^64 / block_size.
inline constexpr uint64_t kHoleStart = UINT64_MAX;

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxNameIntents = 2;

// One directory-entry record to write (dir_id != 0) or to clear (dir_id == 0).
struct NameIntent {
    uint64_t slot;
    uint64_t dir_id;
    uint64_t inode_id;
    uint32_t name_len;
    uint32_t pad;
    char name[kMaxNameBytes + 1];
};
static_assert(sizeof(NameIntent) == 288);

struct Superblock {
    char magic[8];
    uint32_t version;
    uint32_t block_size;
    uint64_t block_count;      // blocks the data region can hold (the mapping's extent)
    uint64_t capacity_blocks;  // blocks the pool may use (<= block_count after a shrink)
    uint64_t inode_slots;
    uint64_t dirent_slots;
    uint64_t inode_table_offset;
    uint64_t dirent_table_offset;
    uint64_t data_offset;
    uint64_t pin_budget_bytes;  // 0: no limit beyond capacity
    int64_t created_ns;
    uint32_t root_mode;  // the pool directory's own attributes
    uint32_t root_uid;
    uint32_t root_gid;
    uint32_t clean;  // 1 after a clean detach, 0 while attached
    int64_t root_mtime_ns;
    uint64_t generation_base;  // raised at every attach so inode generations never repeat
    uint64_t inode_high;       // slots below this may be in use: attach scans only these
    uint64_t dirent_high;
    char policy[32];
    char pool_name[256];
    uint64_t seq;       // raised at every write; attach takes the higher valid copy
    uint64_t checksum;  // xxh3 of the copy with this field zeroed
    // Name records that must change together (rename over a name, exchange): stored here
    // before they are written, written again at attach if a crash came in between, then cleared.
    uint32_t name_intent_count;  // 0..kMaxNameIntents
    uint32_t reserved_pad;
    NameIntent name_intents[kMaxNameIntents];
    uint8_t reserved[kSuperblockCopyBytes - 448 - kMaxNameIntents * sizeof(NameIntent)];
};
static_assert(sizeof(Superblock) == kSuperblockCopyBytes);
static_assert(offsetof(Superblock, seq) == 424);

enum class RecordState : uint32_t {
    Free = 0,
    File = 1,   // a committed entry: complete, survives a crash
    Dirty = 2,  // open for writing or being changed: dropped at attach after a crash
    Directory = 3,
    // A removal the lower tiers have not confirmed yet (core/lower_tiers.h): the path in `blob`,
    // the removal's version, `mode` a directory's for a tree. Not an inode: attach hands it to
    // the tiers again. A build that does not know it drops it.
    Tombstone = 4,
    // A symbolic link (its target in the blob), FIFO, socket or device node (`rdev`): `mode`
    // says which. No blocks, never dirty. A build that does not know it drops it.
    Node = 5,
};

inline constexpr size_t kInlineExtents = 8;
inline constexpr size_t kInodeRecordBytes = 1024;
inline constexpr size_t kInodeHeaderBytes = 320;
inline constexpr size_t kInlineBlobBytes = kInodeRecordBytes - kInodeHeaderBytes;

// An inode's metadata. The variable part (chain parent, user xattrs, extents beyond the inline
// ones) is a serialized blob kept in `blob` when it fits, else in a chain of extents starting at
// `aux` (core/aux_chain.h; `aux_chained` 0: one raw extent, as version 1 wrote it).
struct InodeRecord {
    RecordState state;
    uint32_t generation;
    uint64_t checksum;  // xxh3 of the record with this field zeroed
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    int32_t priority;
    uint64_t size;
    int64_t atime_ns;
    int64_t mtime_ns;
    int64_t ctime_ns;
    int64_t btime_ns;
    int64_t layer;
    int64_t seq_len;
    uint64_t access_count;
    int64_t pin_expires_ns;  // 0: pinned without expiry (when pinned)
    uint32_t pinned;
    uint32_t extent_count;  // total extents; the first kInlineExtents are inline
    Extent aux;             // blocks holding the blob when it does not fit inline
    uint64_t blob_bytes;
    uint64_t blob_checksum;  // xxh3 of the blob
    Extent extents[kInlineExtents];
    uint32_t aux_chained;       // 1: `aux` starts a chain of linked extents
    uint32_t data_checksummed;  // 1: data_checksum holds the xxh3 of the entry's bytes
    uint64_t data_checksum;     // of its `size` bytes, as committed
    // The committed version (core/version.h), ordering it against lower tiers' copies; 0 and 0
    // from a build that kept none.
    uint64_t version_hlc;
    uint64_t version_node;
    uint64_t rdev;  // device nodes: the device they name (0 for every other kind)
    uint8_t reserved[kInodeHeaderBytes - 184 - kInlineExtents * sizeof(Extent)];
    uint8_t blob[kInlineBlobBytes];
};
static_assert(sizeof(InodeRecord) == kInodeRecordBytes);
static_assert(offsetof(InodeRecord, rdev) == 304);
static_assert(offsetof(InodeRecord, blob) == kInodeHeaderBytes);

inline constexpr size_t kDirentRecordBytes = 320;

struct DirentRecord {
    uint32_t state;  // 0 free, 1 used
    uint32_t name_len;
    uint64_t checksum;  // xxh3 of the record with this field zeroed
    uint64_t dir_id;    // pool-local id of the directory holding the name
    uint64_t inode_id;  // pool-local id of the inode it names
    char name[kMaxNameBytes + 1];
    uint8_t reserved[kDirentRecordBytes - 32 - (kMaxNameBytes + 1)];
};
static_assert(sizeof(DirentRecord) == kDirentRecordBytes);

}  // namespace kvc
