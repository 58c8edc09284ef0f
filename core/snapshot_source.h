// Taking a snapshot image of a pool, independent of how the pool is reached.
//
// takeSnapshot() holds the consistency rules (docs/SNAPSHOT_FORMAT.md, "Consistency of a
// snapshot"), so that they are written once and tested without a mount; the `snapshot` command
// (cli/snapshot_command.cpp) is the SnapshotSource made of system calls on a mounted pool. As
// restoreImage() (core/snapshot_restore.h) is for a restore.
//   - The tree is walked first: directory records parents first, names sorted; a directory or
//     name gone meanwhile is passed over. Regular files named `.kvcrestore.*` (a restore's
//     unfinished entries) are skipped. Directories keep their user.* attributes but not
//     user.kvcache.*. Symbolic links and special files (FIFOs, sockets, device nodes) are stored
//     after the directories, before the entries, with their attributes, target or device.
//   - Entries are read, and stored, least recently used first (by user.kvcache.last_access, asked
//     during the walk before the snapshot's own reads touch it), so the policy's order stays as
//     it was and a restore, which writes in image order, brings it back.
//   - An entry whose user.kvcache.committed is "0" (a writer has written since it last closed
//     it) is skipped. For the others, its version (inode, size, mtime, ctime) is taken before
//     its metadata and bytes are read and, after, the committed flag and the version of what the
//     name now leads to: if anything differs, or the bytes end early, the record is abandoned and
//     the entry read once more; if it changes again it is left out and counted as skipped. So an
//     entry is in the image whole, as one version a writer completed, or not at all.
//   - An entry gone (evicted, removed) between the walk and its read is counted as gone.
//   - A hole in an entry (SourceEntry::skipHole) is not read: its zeros go to the image as a
//     hole of the image file where the file can have one (SnapshotWriter::appendZeros), so a
//     sparse entry is quick to snapshot and its image takes little more room than its data.
//   - A further name of an entry or node already stored (same inode, more than one link) becomes
//     a link record to the first name.
//   - The snapshot's own open counts as an access: the image keeps the access count minus one. A
//     pin with a time limit (user.kvcache.pin_ttl) is a pin; an unpinned entry has pin_ttl -1.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/snapshot_format.h"

namespace kvc {

// An entry's attributes as the pool has them now (never a cache's).
struct SourceStat {
    uint64_t ino = 0;
    uint64_t size = 0;
    uint64_t nlink = 0;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    int64_t atime_ns = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    uint64_t rdev = 0;  // device nodes
};
// One version of an entry: the same inode, size, mtime and ctime.
bool sameVersion(const SourceStat& a, const SourceStat& b);

enum class SourceKind { Directory, Entry, Node, Other };  // Node: a symlink or special file

struct SourceChild {
    std::string name;
    SourceKind kind = SourceKind::Other;
    uint64_t size = 0;  // entries
};

struct SourceDirectory {
    // Kind Directory, with the directory's mode, owner, times and (if asked) every user.*
    // attribute; the path is set by takeSnapshot.
    SnapshotRecord record;
    // In any order; names gone between the listing and their stat are left out.
    std::vector<SourceChild> children;
};

// A symbolic link or special file: its attributes (not following a link) and a link's target.
struct SourceNode {
    SourceStat stat;
    std::string target;
};

// An entry open for reading.
class SourceEntry {
  public:
    virtual ~SourceEntry() = default;
    // The open entry's attributes.
    virtual Result<SourceStat> stat() = 0;
    // The attributes of what the entry's path leads to now (another inode if it was replaced);
    // the open entry's own if the path is gone.
    virtual Result<SourceStat> statPath() = 0;
    // The value of one extended attribute.
    virtual Result<std::string> attribute(std::string_view name) = 0;
    // Every extended attribute listed but those in `skip`, and those in `also`, which a listing
    // leaves out (the read-only user.kvcache.* ones): name -> value. One removed meanwhile is
    // left out.
    virtual Result<std::map<std::string, std::string>> attributes(
        std::initializer_list<std::string_view> skip,
        std::initializer_list<std::string_view> also) = 0;
    // Up to `len` bytes from the current position; 0 at the end.
    virtual Result<size_t> read(void* out, size_t len) = 0;
    // When the current position is in a hole (SEEK_DATA), passes over it, at most `max` bytes,
    // and says how many: they read as zeros and need not be read. 0 in data, or where the
    // source cannot tell.
    virtual Result<uint64_t> skipHole(uint64_t max) {
        (void)max;
        return uint64_t{0};
    }
};

// The operations a snapshot needs from a pool. Paths are pool-relative ("" is the pool itself).
class SnapshotSource {
  public:
    virtual ~SnapshotSource() = default;
    // How messages name a path ("/kvcache/llama/a/b").
    virtual std::string describe(std::string_view path) const = 0;
    // A directory and its children; ENOENT if it is gone. The attributes are read only if
    // `with_xattrs`.
    virtual Result<SourceDirectory> readDirectory(std::string_view path, bool with_xattrs) = 0;
    // One extended attribute of an entry, by path; nullopt if it cannot be read.
    virtual std::optional<std::string> entryAttribute(std::string_view path,
                                                      std::string_view name) = 0;
    // A symbolic link or special file, not following a link; ENOENT if it is gone.
    virtual Result<SourceNode> readNode(std::string_view path) = 0;
    // Opens an entry for reading; ENOENT if it is gone.
    virtual Result<std::unique_ptr<SourceEntry>> openEntry(std::string_view path) = 0;
};

struct SnapshotOptions {
    size_t read_bytes = 128 << 10;  // per read of an entry's bytes
    // After the walk, when the directories are in the image: the bytes of the entries to read.
    std::function<void(uint64_t total)> walked;
    SnapshotProgress progress;  // entry bytes read so far
};

struct SnapshotReport {
    uint64_t directories = 0;  // not counting the pool's own
    uint64_t entries = 0;
    uint64_t links = 0;
    uint64_t nodes = 0;                // symbolic links and special files
    uint64_t bytes = 0;                // entry bytes in the image
    uint64_t gone = 0;                 // evicted or removed between the walk and the read
    std::vector<std::string> skipped;  // being written, a restore's, or changing twice
};

// "1700000000.000000123" (user.kvcache.created and .last_access) in nanoseconds.
std::optional<int64_t> parseAttributeTime(std::string_view text);

// Writes the records of a pool into `writer`, which has written the header (see the header
// comment for the rules). The caller finishes the writer.
Result<SnapshotReport> takeSnapshot(SnapshotSource& source, SnapshotWriter& writer,
                                    const SnapshotOptions& options = {});

}  // namespace kvc
