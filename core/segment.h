// Segment: the memory of one pool. A POSIX shared-memory object (shm_open) for the CPU tier, or
// a file in a directory for the disk tier, mapped MAP_SHARED. It is sparse: ftruncate sets its
// size, and memory is used only for blocks that hold data (fallocate on allocation, hole punch on
// free), so a 64 GiB pool costs nothing until written and a host that cannot back a block gives
// ENOSPC at allocation rather than SIGBUS on first touch.
//
// The mapping sits at the start of a larger PROT_NONE reservation, so the pool can grow in place
// and pointers into it stay valid for the segment's life.
//
// Segments are hostile input (/dev/shm is writable by every local user): attach opens only a
// regular file (no symbolic link) that the daemon's user owns and nobody else may read or write,
// validates the superblock once (checksums, geometry, overflow-safe offsets) and keeps it in
// the process; nothing is ever read back from the superblock in shared memory. lockExclusive()
// keeps a second process from attaching the same segment while this one has it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/block_bits.h"
#include "core/layout.h"
#include "core/result.h"

namespace kvc {

struct SegmentGeometry {
    uint32_t block_size = 4096;
    uint64_t block_count = 0;
    uint64_t inode_slots = 0;
    uint64_t dirent_slots = 0;
};

// Where a segment lives: shm object `name` (dir empty) or file `dir/name`.
struct SegmentLocation {
    std::string name;  // shm: no leading slash needed; validated
    std::string dir;   // empty for shm
    std::string describe() const;
};

class Segment {
  public:
    ~Segment();
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;

    // Creates a new segment; EEXIST if one is already there.
    static Result<std::unique_ptr<Segment>> create(const SegmentLocation& where,
                                                   const SegmentGeometry& geometry);
    // Attaches to an existing segment, checking owner, mode, magic, version, checksums and
    // geometry. EPERM for a segment someone else owns or may write, EINVAL for a damaged one.
    static Result<std::unique_ptr<Segment>> attach(const SegmentLocation& where);
    // Removes the segment's name (its memory goes when the last mapping does).
    static Status remove(const SegmentLocation& where);
    static bool exists(const SegmentLocation& where);

    // The superblock as validated at attach and changed since by this process.
    const Superblock& super() const { return sb_; }
    // Changes the superblock and writes it to the older of its two copies (with the next
    // sequence number and a new checksum). Call with the pool's lock held.
    template <class Change>
    void updateSuper(Change&& change) {
        change(sb_);
        storeSuper();
    }
    // Takes an exclusive lock on the segment for the life of this object (flock): EBUSY, naming
    // the segment, when another process (or another Segment object) holds it.
    Status lockExclusive();
    InodeRecord& inodeRecord(uint64_t slot);
    DirentRecord& direntRecord(uint64_t slot);
    void clearInodeRecord(uint64_t slot);

    uint32_t blockSize() const { return block_size_; }
    uint64_t blockCount() const { return block_count_; }
    uint64_t dataOffset() const { return data_offset_; }
    char* blockAddress(uint64_t block) { return base_ + data_offset_ + block * block_size_; }
    // Offset of a block in the backing file (for splice replies over fd()).
    uint64_t blockFileOffset(uint64_t block) const { return data_offset_ + block * block_size_; }
    int fd() const { return fd_; }
    const SegmentLocation& location() const { return where_; }
    uint64_t mappedBytes() const { return mapped_bytes_; }

    // Backs the blocks with memory now (ENOSPC when the host cannot), or releases them.
    Status backBlocks(Extent e);
    // Backs a record slot never used before, so that writing it through the mapping cannot
    // fault (SIGBUS) on a host with no memory left: ENOSPC instead.
    Status backInodeRecord(uint64_t slot);
    Status backDirentRecord(uint64_t slot);
    void releaseBlocks(Extent e);

    // This process's mapping of the blocks. Copying through the mapping runs at memcpy speed,
    // but the first access of each page through it costs a fault (about 10 us per 4 KiB on some
    // VMs, 25x the copy), so the pool copies through the mapping only blocks already mapped,
    // and has them mapped in the background (core/block_warmer.h): a block is *wanted* once it
    // holds an entry's bytes (backed), *mapped* once populate() gave the mapping its pages, and
    // neither once punched (releaseBlocks), which drops its pages.
    // Returns whether some block of `e` is not mapped yet (only those need populate()).
    bool wantMapped(Extent e);
    // Maps the wanted, unmapped blocks of `e` (MADV_POPULATE_WRITE, then a read of each page);
    // returns how many it mapped.
    // Never backs a block that is not wanted, so never one punched since it was wanted.
    uint64_t populate(Extent e);
    // True when every block under [file_offset, file_offset + len) of the file is mapped.
    bool isMapped(uint64_t file_offset, uint64_t len) const;
    // Blocks mapped now.
    uint64_t mappedBlocks() const { return mapped_count_.load(std::memory_order_relaxed); }
    // Grows the data region to `block_count` blocks (EFBIG beyond the reservation).
    Status grow(uint64_t block_count);
    // Shrinks the backing object to `block_count` blocks; the caller guarantees none is used.
    Status shrink(uint64_t block_count);

    // Bytes of memory (or disk) the backing object really uses.
    uint64_t residentBytes() const;

  private:
    Segment() = default;
    static Result<std::unique_ptr<Segment>> mapFd(const SegmentLocation& where, int fd,
                                                  uint64_t bytes);
    void loadGeometry();
    void storeSuper();
    Status backRange(uint64_t offset, uint64_t bytes, std::string_view what);

    SegmentLocation where_;
    int fd_ = -1;
    char* base_ = nullptr;
    uint64_t reserved_bytes_ = 0;
    uint64_t mapped_bytes_ = 0;
    uint32_t block_size_ = 0;
    uint64_t block_count_ = 0;
    uint64_t data_offset_ = 0;
    uint64_t inode_table_offset_ = 0;
    uint64_t dirent_table_offset_ = 0;
    Superblock sb_{};

    // The mapping state of the blocks of the whole reservation (see wantMapped). map_mutex_
    // orders populate() against releaseBlocks(); isMapped() reads the bits without it.
    mutable std::mutex map_mutex_;
    BlockBits wanted_, mapped_;
    std::atomic<uint64_t> mapped_count_{0};
};

// Size in bytes of a segment with this geometry.
uint64_t segmentBytes(const SegmentGeometry& g);

}  // namespace kvc
