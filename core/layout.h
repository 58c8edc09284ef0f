// The on-segment format of a pool: what a new process finds when it reattaches.
//
//   offset 0                 Superblock (one 4 KiB page)
//   inode_table_offset       inode_slots x InodeRecord (1 KiB each)
//   dirent_table_offset      dirent_slots x DirentRecord (320 bytes each)
//   data_offset              block_count x block_size (aligned to the block size)
//
// The allocation map is not stored: it is rebuilt at attach from the extents of the committed
// inode records, so a crash can neither leak nor double-allocate a block.
//
// Versioning (kSegmentFormatVersion): bump it for any change to the size, order or meaning of a
// field in these structs, or to the region layout above. Appending a field inside the reserved
// bytes of the superblock with zero meaning "absent" does not need a bump. A segment of another
// version is refused at attach, never reinterpreted.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvc {

inline constexpr char kSegmentMagic[8] = {'K', 'V', 'C', 'F', 'S', 'S', 'E', 'G'};
inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr uint64_t kSuperblockBytes = 4096;

struct Extent {
    uint64_t start = 0;  // first block
    uint64_t count = 0;  // blocks
    bool operator==(const Extent&) const = default;
};

struct Superblock {
    char magic[8];
    uint32_t version;
    uint32_t block_size;
    uint64_t block_count;          // blocks the data region can hold (the mapping's extent)
    uint64_t capacity_blocks;      // blocks the pool may use (<= block_count after a shrink)
    uint64_t inode_slots;
    uint64_t dirent_slots;
    uint64_t inode_table_offset;
    uint64_t dirent_table_offset;
    uint64_t data_offset;
    uint64_t pin_budget_bytes;     // 0: no limit beyond capacity
    int64_t created_ns;
    uint32_t root_mode;            // the pool directory's own attributes
    uint32_t root_uid;
    uint32_t root_gid;
    uint32_t clean;                // 1 after a clean detach, 0 while attached
    int64_t root_mtime_ns;
    uint64_t generation_base;      // raised at every attach so inode generations never repeat
    uint64_t inode_high;           // slots below this may be in use: attach scans only these
    uint64_t dirent_high;
    char policy[32];
    char pool_name[256];
    uint8_t reserved[kSuperblockBytes - 424];
};
static_assert(sizeof(Superblock) == kSuperblockBytes);

enum class RecordState : uint32_t {
    Free = 0,
    File = 1,       // a committed entry: complete, survives a crash
    Dirty = 2,      // open for writing or being changed: dropped at attach after a crash
    Directory = 3,
};

inline constexpr size_t kInlineExtents = 8;
inline constexpr size_t kInodeRecordBytes = 1024;
inline constexpr size_t kInodeHeaderBytes = 320;
inline constexpr size_t kInlineBlobBytes = kInodeRecordBytes - kInodeHeaderBytes;

// An inode's metadata. The variable part (chain parent, user xattrs, extents beyond the inline
// ones) is a serialized blob kept in `blob` when it fits, else in data blocks at `aux`.
struct InodeRecord {
    RecordState state;
    uint32_t generation;
    uint64_t checksum;             // xxh3 of the record with this field zeroed
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
    int64_t pin_expires_ns;        // 0: pinned without expiry (when pinned)
    uint32_t pinned;
    uint32_t extent_count;         // total extents; the first kInlineExtents are inline
    Extent aux;                    // blocks holding the blob when it does not fit inline
    uint64_t blob_bytes;
    uint64_t blob_checksum;        // xxh3 of the blob
    Extent extents[kInlineExtents];
    uint8_t reserved[kInodeHeaderBytes - 144 - kInlineExtents * sizeof(Extent)];
    uint8_t blob[kInlineBlobBytes];
};
static_assert(sizeof(InodeRecord) == kInodeRecordBytes);
static_assert(offsetof(InodeRecord, blob) == kInodeHeaderBytes);

inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kDirentRecordBytes = 320;

struct DirentRecord {
    uint32_t state;                // 0 free, 1 used
    uint32_t name_len;
    uint64_t checksum;             // xxh3 of the record with this field zeroed
    uint64_t dir_id;               // pool-local id of the directory holding the name
    uint64_t inode_id;             // pool-local id of the inode it names
    char name[kMaxNameBytes + 1];
    uint8_t reserved[kDirentRecordBytes - 32 - (kMaxNameBytes + 1)];
};
static_assert(sizeof(DirentRecord) == kDirentRecordBytes);

}  // namespace kvc
