// Restoring a verified snapshot image into a pool, independent of how the pool is reached.
//
// restoreImage() holds the semantics, so that the `restore` command (through a mounted pool,
// with the caller's rights: cli/restore_command.cpp) and the `restore=` mount option (through the
// Pool API inside the daemon: core/pool_restore.h) behave alike:
//   - Nothing changes until the image was verified whole (SnapshotReader::open), its block size
//     equals the pool's, no entry needs more room than the pool has (its blocks of zeros are
//     restored as holes: SnapshotIndexItem::room), and (merge) no path is a directory on
//     one side and an entry on the other.
//   - Merge (the default): entries of the image replace entries of the same path; everything
//     else in the pool stays. `replace`: the pool's entries and directories are removed first.
//   - Each entry is written under a temporary name in its directory, given its attributes, mode
//     and times, and renamed into place while still open for writing (so it cannot be evicted
//     half-done and no reader sees a partial entry). Hard links are made the same way.
//   - Symbolic links and special files are made under a temporary name with their owner, mode
//     and times, then renamed into place, as entries are. A device node that the target cannot
//     make (only root may) is a warning, not a failure.
//   - Entries are written in image order, which the snapshot command makes least recently used
//     first, so the policy's order comes back roughly as it was.
//   - A pool smaller than the image: writes evict by the pool's policy as they need room
//     (restored entries included), as any writer's would; a warning says so. Pinned entries and
//     chain parents are not evictable, so a pool that cannot hold them fails with ENOSPC.
//   - Directories get their attributes, mode and times last, deepest first, so writing into a
//     read-only directory works and its mtime is the image's.
//   - Not restored: ctime (no system call sets it), access counts and access times as the
//     policy sees them (read-only in a pool), and owners when the target cannot set them.
// A failure after verification (no space, permissions) stops the restore; entries restored
// until then stay, each of them whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/snapshot_format.h"

namespace kvc {

struct RestoreOptions {
    bool replace = false;       // empty the pool first
    SnapshotProgress progress;  // entry bytes written so far
};

struct RestoreReport {
    uint64_t directories = 0;  // created or merged, not counting the pool's own
    uint64_t entries = 0;
    uint64_t links = 0;
    uint64_t nodes = 0;     // symbolic links and special files
    uint64_t bytes = 0;     // entry bytes written
    uint64_t replaced = 0;  // merge: existing entries an image entry replaced
    uint64_t removed = 0;   // replace: entries removed first
    std::vector<std::string> warnings;
};

enum class PathKind { Directory, Entry };

// An entry's bytes, read from the image.
class EntrySource {
  public:
    virtual ~EntrySource() = default;
    // Up to `len` bytes; 0 at the end.
    virtual Result<size_t> read(void* out, size_t len) = 0;
    // All bytes were read and still match the image's checksum: only then may the entry become
    // visible.
    virtual Status finish() = 0;
};

// The operations a restore needs from a pool. Paths are pool-relative ("" is the pool itself).
class RestoreTarget {
  public:
    virtual ~RestoreTarget() = default;
    // How messages name a path ("/kvcache/llama/a/b", "pool llama: a/b").
    virtual std::string describe(std::string_view path) const = 0;
    virtual Result<uint32_t> blockSize() = 0;
    virtual Result<uint64_t> capacityBytes() = 0;
    // Every directory and entry in the pool now.
    virtual Result<std::unordered_map<std::string, PathKind>> listTree() = 0;
    // Removes every entry and directory; returns how many entries went.
    virtual Result<uint64_t> removeAll() = 0;
    // Makes a directory of the image (writable by the restore until finishDirectory), unless
    // `exists`.
    virtual Status makeDirectory(const SnapshotRecord& dir, bool exists) = 0;
    // Writes an entry (see the header comment for the steps), setting entryAttributes(entry) in
    // their order.
    virtual Status putEntry(const SnapshotRecord& entry, EntrySource& data) = 0;
    // A further name for an entry or node restored before (rec.link_target).
    virtual Status putLink(const SnapshotRecord& link) = 0;
    // A symbolic link or special file (see the header comment for the steps).
    virtual Status putNode(const SnapshotRecord& node) = 0;
    // Attributes, owner, mode and times of a directory (path "": the pool's own directory).
    virtual Status finishDirectory(const SnapshotRecord& dir) = 0;

    void warn(std::string message) { warnings_.push_back(std::move(message)); }
    std::vector<std::string> takeWarnings() { return std::move(warnings_); }

  private:
    std::vector<std::string> warnings_;
};

// The extended attributes that recreate an entry's metadata, in the order to set them:
// user.kvcache.parent, .layer, .seq_len, .priority, the other user.* attributes, and last the
// pin (user.kvcache.pin_ttl with the seconds that were left, or user.kvcache.pinned).
std::vector<std::pair<std::string, std::string>> entryAttributes(const SnapshotRecord& entry);
// True for the attribute that pins: a pin the pool's budget refuses (EDQUOT) is a warning,
// not a failure.
bool isPinAttribute(std::string_view name);

// The parent directory of a pool-relative path ("" for a top-level name), and its last part.
std::string parentPath(std::string_view path);
std::string baseName(std::string_view path);

// Restores a verified image into a target (see the header comment).
Result<RestoreReport> restoreImage(SnapshotReader& image, RestoreTarget& target,
                                   const RestoreOptions& options);

}  // namespace kvc
