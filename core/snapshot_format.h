// The snapshot image: one file holding a pool's directory tree, its entries' bytes and metadata,
// written by `kvcachefs snapshot` and read by `kvcachefs restore` and the `restore=` mount option.
// docs/SNAPSHOT_FORMAT.md describes the byte layout with a diagram; this is the reference.
//
// Layout (all integers little-endian, no padding, no alignment):
//
//   header   "KVCSNAP\0" | u32 version | u32 header_len | u32 block_size | u32 flags (0)
//            | i64 created_ns | u64 capacity_bytes | u16 pool_len | u16 policy_len
//            | pool | policy | u64 xxh3(header bytes before this field)
//   record*  u32 "KVCR" | u8 kind | u8[3] zero | u32 meta_len | u32 zero | u64 data_len
//            | meta (meta_len bytes) | data (data_len bytes) | u64 xxh3(record bytes before it)
//   trailer  "KVCSEND\0" | u64 record_count | u64 total_bytes (file size) | u64 image_checksum
//            | u64 xxh3(trailer bytes before this field)
//
// image_checksum is xxh3-64 over the header's checksum followed by every record's checksum in
// order (8 bytes each): together with the per-record checksums it covers every byte, and the
// writer can drop a record it has begun (an entry that changed while it was read) without
// rehashing the file. Only an entry's bytes are stored (its size, not its blocks).
//
// The meta part of a record (version 1): u16 path_len, path | u32 mode, uid, gid | i64 atime,
// mtime, ctime, btime (ns) | i32 priority | u8 pinned | i64 pin_ttl_s | i64 layer | i64 seq_len
// | u64 access_count | u16 parent_len, parent | u16 link_len, link_target | u16 xattr_count, then
// per attribute u8 name_len, u32 value_len, name, value (names strictly ascending).
// Version 2 adds the record kinds Symlink (4) and Special (5), lets a Link name an earlier
// Symlink or Special record as well as an Entry, and ends every record's meta with u64 rdev.
//
// Version rules (kSnapshotFormatVersion):
//   - The first 16 bytes (magic, version, header_len, which is at most 64 KiB) and the rule
//     "the header's last 8 bytes are xxh3 of the bytes before them" never change, so any reader
//     can verify a header and name the version it found.
//   - Any other change to the bytes written (a field added, removed, widened or reordered in the
//     header, a record, its meta or the trailer; a new record kind; a new flag; a different hash)
//     bumps the version. There are no optional fields: a reader knows every byte of the versions
//     it accepts, and refuses every other version with "format version N, this build reads M".
//   - A build that reads version N+1 keeps reading version N, converting on the fly, for as long
//     as images of N may exist (we promise at least one release). This build writes version 2
//     and reads 1 and 2.
//   - Changes that only tighten or loosen the writer's choices within the same bytes (which
//     entries are skipped, record order) do not bump the version.
//
// Verification comes before use: SnapshotReader::open checks the whole file (header, every
// record's framing, lengths against the bytes that are really there, checksums, meta values,
// that every record's directory came before it, the trailer) and hands out nothing if anything
// is wrong. Records are then read a second time and checked again, so a file changed between
// the two passes is caught too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace kvc {

inline constexpr uint32_t kSnapshotFormatVersion = 2;
// The oldest version this build reads.
inline constexpr uint32_t kSnapshotOldestVersion = 1;

// Bounds a reader enforces before trusting a length (a corrupt length must not make it
// allocate or read gigabytes). They match what a pool can hold (core/xattr_limits.h).
inline constexpr size_t kSnapshotMaxPathBytes = 4096;
inline constexpr size_t kSnapshotMaxPoolNameBytes = 255;
inline constexpr size_t kSnapshotMaxPolicyBytes = 64;
inline constexpr size_t kSnapshotMaxMetaBytes = 1 << 20;

enum class SnapshotKind : uint8_t {
    Directory = 1,  // path "" is the pool's own directory, always the first record
    Entry = 2,      // a regular file with its bytes
    Link = 3,       // a further name of an earlier entry or node (a hard link): link_target is
                    // its path; mode has the type of what it names
    Symlink = 4,    // a symbolic link (version 2): link_target is its target, any bytes but NUL
    Special = 5,    // a FIFO, socket or device node (version 2): mode says which, rdev the device
};

struct SnapshotHeader {
    uint32_t version = kSnapshotFormatVersion;
    uint32_t block_size = 0;      // of the pool the image was taken from
    uint32_t flags = 0;           // none defined in version 1; must be 0
    int64_t created_ns = 0;       // when the snapshot started (wall clock)
    uint64_t capacity_bytes = 0;  // of the source pool, for information
    std::string pool;             // the source pool's name
    std::string policy;           // its eviction policy
};

struct SnapshotRecord {
    SnapshotKind kind = SnapshotKind::Entry;
    std::string path;   // pool-relative, '/'-separated, no leading '/'; "" is the pool directory
    uint32_t mode = 0;  // with the file type bits
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t atime_ns = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;  // for information: a restore cannot set it
    int64_t btime_ns = 0;  // user.kvcache.created, for information
    // user.kvcache.* (entries only; directories keep the defaults).
    int32_t priority = 0;
    bool pinned = false;
    int64_t pin_ttl_s =
        -1;                // seconds of pin left when read; -1: pinned without a limit, or unpinned
    int64_t layer = -1;    // -1: not set
    int64_t seq_len = -1;  // -1: not set
    uint64_t access_count = 0;  // for information: read-only in a pool
    std::string parent;         // chain parent's path, empty if none
    std::string link_target;    // Link and Symlink records only
    uint64_t rdev = 0;          // Special records of character and block devices only
    // Every other user.* attribute, verbatim, sorted by name.
    std::vector<std::pair<std::string, std::string>> xattrs;
    uint64_t data_len = 0;  // Entry records: the entry's size
};

// What the verification pass learnt, for planning a restore before anything is written.
struct SnapshotIndexItem {
    SnapshotKind kind;
    std::string path;
    uint64_t data_len;
    uint64_t offset;  // of the record in the file
    // Bytes a pool needs for the entry: its blocks with a byte that is not zero (a restore
    // leaves blocks of zeros as holes).
    uint64_t room = 0;
};

struct SnapshotSummary {
    uint64_t records = 0;
    uint64_t directories = 0;  // not counting the pool's own directory
    uint64_t entries = 0;
    uint64_t links = 0;
    uint64_t nodes = 0;       // Symlink and Special records
    uint64_t data_bytes = 0;  // sum of entries' sizes
    uint64_t largest_entry = 0;
    uint64_t data_room = 0;  // sum of the entries' SnapshotIndexItem::room
    uint64_t largest_room = 0;
    uint64_t file_bytes = 0;
};

// "directory", "entry", "link", "symlink" or "special file", for messages.
std::string_view snapshotKindName(SnapshotKind kind);

namespace snapshot_detail {
struct Hasher;
class TreeCheck;
}  // namespace snapshot_detail

// Called with bytes processed so far (of SnapshotSummary::file_bytes when verifying).
using SnapshotProgress = std::function<void(uint64_t done)>;

// Writes an image to a file descriptor it does not own. Records are buffered; a record may be
// abandoned (the entry changed while it was read) if the descriptor is seekable.
class SnapshotWriter {
  public:
    ~SnapshotWriter();
    SnapshotWriter(const SnapshotWriter&) = delete;
    SnapshotWriter& operator=(const SnapshotWriter&) = delete;

    // Writes the header at the descriptor's current position. `name` is used in messages.
    static Result<std::unique_ptr<SnapshotWriter>> start(int fd, std::string name,
                                                         const SnapshotHeader& header);

    // A record: beginRecord, then exactly rec.data_len bytes with appendData, then endRecord
    // (or abandonRecord). The first record must be the pool's directory (path "").
    Status beginRecord(const SnapshotRecord& rec);
    Status appendData(const void* data, size_t len);
    // `len` zero bytes of the record's data: the same image bytes as appendData of zeros, left
    // as a hole of a seekable output file rather than written.
    Status appendZeros(uint64_t len);
    Status endRecord();
    // Drops the record in progress as if it had never begun.
    Status abandonRecord();
    // Writes the trailer and flushes. The caller fsyncs and closes the descriptor.
    Status finish();

    uint64_t recordCount() const { return records_; }
    uint64_t bytesWritten() const { return logical_; }

  private:
    SnapshotWriter() = default;
    Status put(const void* data, size_t len);
    Status flush();
    Error ioError(const char* what) const;

    int fd_ = -1;
    std::string name_;
    int64_t base_ = 0;      // descriptor offset where the image starts
    uint64_t logical_ = 0;  // bytes of the image so far, buffered or not
    uint64_t flushed_ = 0;  // bytes already handed to write(2)
    std::vector<char> buffer_;
    uint64_t records_ = 0;
    std::unique_ptr<snapshot_detail::Hasher> record_hash_;
    std::unique_ptr<snapshot_detail::Hasher> image_hash_;
    std::unique_ptr<snapshot_detail::TreeCheck> tree_;
    SnapshotRecord pending_;  // the record in progress, without its attributes
    bool in_record_ = false;
    uint64_t record_start_ = 0;
    uint64_t data_left_ = 0;
    bool seekable_ = false;
    bool failed_ = false;
};

// Reads an image: open() verifies all of it; then next()/readData() hand the records out.
class SnapshotReader {
  public:
    ~SnapshotReader();
    SnapshotReader(const SnapshotReader&) = delete;
    SnapshotReader& operator=(const SnapshotReader&) = delete;

    // Opens and verifies a file. Errors name it: "snapshot /x.kvs: record 12 fails its checksum".
    static Result<std::unique_ptr<SnapshotReader>> open(const std::string& path,
                                                        const SnapshotProgress& progress = {});
    // The same over a descriptor the reader takes ownership of.
    static Result<std::unique_ptr<SnapshotReader>> fromFd(int fd, std::string name,
                                                          const SnapshotProgress& progress = {});

    const SnapshotHeader& header() const { return header_; }
    const SnapshotSummary& summary() const { return summary_; }
    // Every record's kind, path and size, in image order.
    const std::vector<SnapshotIndexItem>& index() const { return index_; }
    const std::string& name() const { return name_; }

    // The next record (its data is then read with readData); false after the last one.
    Result<bool> next(SnapshotRecord& rec);
    // Up to `len` bytes of the current record's data; 0 at its end.
    Result<size_t> readData(void* out, size_t len);
    // After all data was read: the record still matches its checksum (the file did not change
    // since it was verified).
    Status checkRecord();
    // Back to the first record.
    void rewind();

  private:
    SnapshotReader() = default;
    Status verify(const SnapshotProgress& progress);
    // The steps of verify().
    struct Verifier;
    Error damaged(std::string what) const;

    int fd_ = -1;
    std::string name_;
    uint64_t size_ = 0;
    SnapshotHeader header_;
    SnapshotSummary summary_;
    std::vector<SnapshotIndexItem> index_;
    std::vector<uint64_t> checksums_;  // per record, as verified
    uint32_t header_len_ = 0;
    // Second pass.
    struct Cursor;
    std::unique_ptr<Cursor> cursor_;
};

}  // namespace kvc
