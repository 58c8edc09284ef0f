// Pool: one segment with its block allocator, inode index, records and eviction candidates.
//
// Everything a front end does to a pool goes through here: namespace operations (lookup, create,
// mkdir, unlink, rename, link, readdir), open/release accounting, reads and writes, extended
// attributes, eviction and statistics. Ids are pool-local (kPoolRootId is the pool directory).
// Errors are returned, never thrown; the errno in them is what a system call should report.
//
// Its parts, all used under meta_: InodeIndex (inodes, names, paths), RecordStore (the records
// in the segment), CandidateSet (eligibility, policy, chains, pins) and the BlockAllocator; see
// docs/ARCHITECTURE.md, "Inside a pool".
//
// Lock order (take left before right, never the reverse):
//   Inode::data_mutex  ->  Pool::meta_  ->  Pool::sink_mutex_
//                                       ->  TierChain::queue_mutex_
// (the demotion sink and LowerTiers::obsolete run under meta_ and only queue; the tier worker
// holds no queue lock while it calls into a pool).
// Namespace operations, eviction, stat and persistence take only meta_. The write path holds
// the inode's data_mutex and takes meta_ briefly to allocate (evicting other entries, whose
// data_mutex it never takes: an entry is freed only when nothing holds it open).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/block_allocator.h"
#include "core/block_warmer.h"
#include "core/candidate_set.h"
#include "core/chain.h"
#include "core/config.h"
#include "core/entry_image.h"
#include "core/inode.h"
#include "core/inode_index.h"
#include "core/latency.h"
#include "core/lower_tiers.h"
#include "core/policy/eviction_policy.h"
#include "core/record_store.h"
#include "core/result.h"
#include "core/segment.h"
#include "core/stats.h"

namespace kvc {

class LowerTiers;
class Xxh3Stream;

struct EntryAttr {
    EntryId id = 0;
    uint64_t generation = 0;
    uint32_t mode = 0;
    uint32_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t size = 0;
    uint64_t blocks512 = 0;  // st_blocks
    uint64_t rdev = 0;       // device nodes
    uint32_t blksize = 0;
    int64_t atime_ns = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool committed = false;  // complete: not being written (directories: always)
};

struct DirEntry {
    std::string name;
    EntryId id = 0;
    uint32_t mode = 0;
    uint64_t cookie = 0;  // pass back to continue after this entry
};

// Changes requested by setattr; unset fields stay as they are.
struct AttrChange {
    std::optional<uint32_t> mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<uint64_t> size;
    std::optional<int64_t> atime_ns;  // already resolved from UTIME_NOW by the caller
    std::optional<int64_t> mtime_ns;
};

// Something the pool changed on its own (eviction, restore, shrink): a front end that caches
// names or pages must drop them.
struct Invalidation {
    EntryId dir = 0;
    std::string name;  // empty: only the inode's data changed
    EntryId inode = 0;
};

struct EvictReport {
    uint64_t entries = 0;
    uint64_t bytes = 0;
};

struct MatchResult {
    size_t leading = 0;        // how many leading names are cached
    std::vector<bool> cached;  // per name
};

// What a write does with blocks it fills with zeros only that are holes now: fills them as any
// (a program's write), or leaves them holes (an image copied in: a restore, a lower tier's copy,
// whose zeros then take no room).
enum class Zeros { Fill, KeepHoles };
// Where a read's bytes go: a buffer this process uses next (a FUSE reply), copied with memcpy; or
// a large buffer handed on (the data path's client buffer), copied the way loadCopier() measured
// fastest, which may leave it out of the cache (core/bulk_copy.h).
enum class CopyOut { Cached, Bulk };
// lseek(2)'s SEEK_DATA and SEEK_HOLE.
enum class Seek { Data, Hole };

// How an entry is opened (and released): for reading, or for writing.
enum class Access { Read, Write };
// O_TRUNC: an open empties the entry.
enum class Truncate { No, Yes };
// What create does when the name exists.
enum class IfExists { Fail, Open, Truncate };
// Whether a lookup of a name the pool does not hold asks the lower tiers for it.
enum class Below { Ask, Skip };

struct PoolCreateOptions {
    std::string name;  // the pool's directory name
    SegmentLocation where;
    PoolSettings settings;
    uint32_t mode = 0755;
    uint32_t uid = 0;
    uint32_t gid = 0;
};

class Pool {
  public:
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    static Result<std::unique_ptr<Pool>> create(const PoolCreateOptions& options);
    // Reattaches to an existing segment: committed entries come back, uncommitted ones go.
    static Result<std::unique_ptr<Pool>> attach(const SegmentLocation& where);

    // Marks the segment cleanly detached (records are always current; this flushes the policy
    // state that is kept lazily, such as access times).
    void detach();
    // Removes the segment's name; the pool object stays usable until destroyed.
    Status destroySegment();

    const std::string& name() const { return name_; }
    const SegmentLocation& location() const { return segment_->location(); }
    Segment& segment() { return *segment_; }
    uint32_t blockSize() const { return segment_->blockSize(); }
    // Whether blocks that hold entries are mapped in the background (core/block_warmer.h; on by
    // default for pools in shared memory). Off, copies go through the segment's file unless a
    // block was mapped already. settleMapping() returns once what was queued was tried.
    void mapInBackground(bool on);
    void settleMapping();

    // --- namespace -----------------------------------------------------------------------
    // lookup counts a reference the caller must give back with forget(). A miss is counted, and
    // the lower tiers are asked for the name unless `below` is Skip: for a caller that only
    // makes or replaces the name (a copy below would come up only to be replaced, and the new
    // version makes the lower copies obsolete anyway).
    Result<EntryAttr> lookup(EntryId dir, std::string_view name, Below below = Below::Ask);
    // False when `count` is more than the references held: a front end's bookkeeping is wrong.
    // The count is then taken as all of them, the violation is counted, and verify() throws.
    bool forget(EntryId id, uint64_t count);
    // ESTALE for an entry evicted and closed by everyone, reached through a reference taken
    // before (the kernel's dentry, until the eviction's invalidation arrives): its bytes are
    // gone, and a stat must not show it empty. The kernel then looks the name up again and
    // finds what it names now (a miss, or a copy promoted from a lower tier). An unlinked
    // entry keeps answering (nlink 0), as fstat of an unlinked file does.
    Result<EntryAttr> getattr(EntryId id);
    Result<EntryAttr> setattr(EntryId id, const AttrChange& change);
    Result<EntryAttr> mkdir(EntryId dir, std::string_view name, uint32_t mode, uint32_t uid,
                            uint32_t gid);
    // Creates and opens for writing (counts an open and a lookup). An existing entry of that
    // name: EEXIST (IfExists::Fail, O_EXCL), or opened for writing (and emptied with
    // IfExists::Truncate, O_TRUNC).
    // `below` Skip: the caller made the name up, unique, and no lower tier can hold it (a
    // data-path store's temporary): its commit, rename away and unlink then make no removal
    // for the tiers (Inode::name_never_below).
    Result<EntryAttr> create(EntryId dir, std::string_view name, uint32_t mode, uint32_t uid,
                             uint32_t gid, IfExists if_exists, Below below = Below::Ask);
    // A symbolic link holding `target` (validateSymlinkTarget), which the pool never reads: the
    // kernel follows it. Counts a lookup.
    Result<EntryAttr> symlink(EntryId dir, std::string_view name, std::string_view target,
                              uint32_t uid, uint32_t gid);
    // mknod(2): `mode` with its file type. A regular file is an empty committed entry; a FIFO,
    // socket or character or block device (`rdev`) is a node: metadata only, never cached data
    // (the mount is nodev, so a device node opens nothing). EINVAL for any other type. Counts a
    // lookup.
    Result<EntryAttr> mknod(EntryId dir, std::string_view name, uint32_t mode, uint64_t rdev,
                            uint32_t uid, uint32_t gid);
    // A symbolic link's target; EINVAL for anything else.
    Result<std::string> readlink(EntryId id);
    Status unlink(EntryId dir, std::string_view name);
    Status rmdir(EntryId dir, std::string_view name);
    static constexpr unsigned kRenameNoReplace = 1, kRenameExchange = 2;
    Status rename(EntryId dir, std::string_view name, EntryId new_dir, std::string_view new_name,
                  unsigned flags);
    Result<EntryAttr> link(EntryId id, EntryId new_dir, std::string_view new_name);
    // Entries of `dir` after `cookie` (0: from the start), at most `max`.
    Result<std::vector<DirEntry>> readdir(EntryId dir, uint64_t cookie, size_t max);
    bool isEmptyPool();
    // Checks every committed entry's bytes against its checksum when it is opened for reading
    // (off by default; -o verify_reads). A mismatch drops the entry: ENOENT, counted.
    void setVerifyReads(bool on) { verify_reads_ = on; }
    // Whether any entry, named or not (unlinked, evicted), is still open or mapped somewhere:
    // its bytes live in the segment, so the pool cannot go yet.
    bool hasOpenEntries();

    // --- open files and data ---------------------------------------------------------------
    // Counts an open (released with the same Access); Truncate::Yes empties the entry first.
    Status open(EntryId id, Access access, Truncate truncate = Truncate::No);
    void release(EntryId id, Access access);
    // A writer's descriptor is being closed (FUSE's FLUSH, which close(2) waits for). If it is
    // the entry's only writer, the entry is committed now rather than at its release, which the
    // kernel sends after close(2) has returned and a daemon stopped right then would never see.
    // ENOSPC when not even the entry's metadata found room: it stays uncommitted.
    Status flush(EntryId id);
    // Copies `len` bytes at `offset`; allocates (evicting by policy) the blocks written that are
    // holes, and no other: a write past the end leaves a hole (core/extent_map.h). Returns bytes
    // written (all of them, or an error: ENOSPC when nothing can be evicted; EFBIG past
    // kMaxEntryBytes). The caller holds the entry open for writing (create, or open with
    // for_write): EBADF otherwise. With `bulk_sum` (the data path's stores), the bytes are
    // copied the way storeCopier() measured fastest, and every byte of `data` is added to
    // *bulk_sum in order (as XXH3_64bits(data, len) hashes them), each piece right after its
    // copy (core/bulk_copy.h); after an error it holds a part of them.
    Result<size_t> write(EntryId id, uint64_t offset, const void* data, size_t len,
                         Zeros zeros = Zeros::Fill, Xxh3Stream* bulk_sum = nullptr);
    // fallocate(2) mode 0: every block of [offset, offset + len) that is a hole gets a block,
    // backed and zeroed, so that writes there cannot fail for space; the entry grows to at least
    // offset + len bytes. EINVAL for no bytes, EFBIG past kMaxEntryBytes; ENOSPC and EDQUOT as a
    // write.
    Status allocate(EntryId id, uint64_t offset, uint64_t len);
    // fallocate(2) FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: [offset, offset + len) reads as
    // zeros; its whole blocks (up to the size) become holes and are freed, the bytes of partly
    // covered data blocks are zeroed. The size stays. EINVAL for no bytes, EFBIG past
    // kMaxEntryBytes.
    Status punchHole(EntryId id, uint64_t offset, uint64_t len);
    // lseek(2) SEEK_DATA / SEEK_HOLE from `offset`: the first offset at or after it in data /
    // in a hole (the end of the entry counts as a hole). ENXIO at or past the end, or for data
    // when only holes follow. Holes are found by block: a data block is data to its end.
    Result<uint64_t> seek(EntryId id, uint64_t offset, Seek whence);
    // A read plan: the caller copies from segment ranges while holding the returned lock.
    struct ReadPiece {
        uint64_t file_offset;  // offset in the segment's backing file; UINT64_MAX: zeros
        const char* address;   // the same bytes in this process's mapping (nullptr: zeros)
        size_t len;
    };
    struct ReadPlan {
        std::shared_ptr<Inode> keep;               // declared first: outlives the lock
        std::shared_lock<std::shared_mutex> lock;  // keeps the blocks in place until dropped
        std::vector<ReadPiece> pieces;
        size_t total = 0;
    };
    // A caller that sends the planned bytes itself records the read's time in latency().read.
    Result<ReadPlan> planRead(EntryId id, uint64_t offset, size_t len);
    // Convenience for callers that want bytes in a buffer (its time is recorded).
    Result<size_t> read(EntryId id, uint64_t offset, void* out, size_t len,
                        CopyOut how = CopyOut::Cached);
    // Commits what was written so far when the caller is the only writer (as flush), and
    // pushes a disk-tier segment's pages out.
    Status fsync(EntryId id);
    // flush() for a caller that wrote every byte of the entry itself, in order, and hashed them
    // as it wrote (xxh3, Pool's data checksum): the entry is committed with `checksum`, without
    // reading its bytes back. As flush, only when the caller is the entry's only writer (another
    // writer's last release commits it then, hashing it).
    Status commitWritten(EntryId id, uint64_t checksum);

    // --- extended attributes (user.kvcache.* and other user.*) ----------------------------
    Result<std::string> getxattr(EntryId id, std::string_view name);
    static constexpr int kXattrCreate = 1, kXattrReplace = 2;
    Status setxattr(EntryId id, std::string_view name, std::string_view value, int flags);
    Status removexattr(EntryId id, std::string_view name);
    Result<std::vector<std::string>> listxattr(EntryId id);

    // --- cache control ---------------------------------------------------------------------
    std::string policyName();
    Status setPolicy(std::string_view name);
    Result<EvictReport> evictPercent(double percent);
    Result<EvictReport> evictUntilFree(uint64_t bytes);
    EvictReport lastEviction();
    uint64_t capacityBytes();
    Status resize(uint64_t bytes);
    // Counts hits and misses; `dir` is where the names live. `below` (optional, one flag per
    // name) marks names a lower tier holds: they count as cached too.
    // With lower tiers, names missing from the pool are promoted in order, up to the first that
    // no tier has; a promoted name counts as cached (even if a later promotion pushed it down
    // again: it is in some tier). Names after that first miss are reported as the pool has them.
    Result<MatchResult> match(EntryId dir, const std::vector<std::string_view>& names);
    PoolStats stats();
    // Latency histograms of reads, writes, .match and eviction passes (in stats() too).
    PoolLatency& latency() { return latency_; }

    // Called (under the pool's lock: it must only queue) for every name or page the pool
    // dropped on its own.
    void setInvalidationSink(std::function<void(const Invalidation&)> sink);

    // --- tiers (pool_tiering.cpp) -----------------------------------------------------------
    // The tiers below this pool (nullptr: none); not owned, cleared by its owner before it goes.
    // The pool tells them every change of a name's version and asks them on a miss
    // (core/lower_tiers.h): lookup and match promote, unlink, rename and rmdir make lower copies
    // obsolete, a link makes the new name's obsolete, a writer's release, a truncate and a
    // truncating open publish or erase.
    void setLowerTiers(LowerTiers* tiers);
    // Entries the policy evicts, read at least `min_reads` times, are handed to `sink` as images
    // (under the pool's lock: it must only queue, and returns false when it dropped the image).
    // Entries removed by unlink, rmdir or a pool's removal are not: they were deleted, not
    // evicted. An empty sink turns demotion off.
    void setDemotionSink(uint32_t min_reads, std::function<bool(EntryImage&&)> sink);
    // The pool-relative path of `name` in `dir` ("a/b/blk"); ENOENT if the directory is gone.
    Result<std::string> entryPath(EntryId dir, std::string_view name);
    // The path of entry `id` (its first name); ENOENT if it has none. With `version`, its
    // committed version goes there too.
    Result<std::string> entryPath(EntryId id, Version* version = nullptr);
    // A version found below shared memory (a copy, or a removal the remote tier keeps): the
    // versions this pool issues from now on are later (core/version.h). False when it is too far
    // ahead of this host's clock to be followed.
    bool observeVersion(const Version& v);
    // Durable tombstones: the pool keeps each removal it tells the lower tiers of (Removal::
    // record) in the segment until they confirmed it and give it back here, so that a crash
    // does not lose it. A path too long for a record is kept as a tree removal of its longest
    // ancestor that fits.
    void dropTombstone(uint64_t record);
    // Calls `fn` under the pool's lock if `path` still names a committed entry of `version`
    // (false otherwise): what `fn` queues for the tiers is ordered with the pool's own changes,
    // whose erases are queued under the same lock.
    bool whileCurrent(const std::string& path, const Version& version,
                      const std::function<void()>& fn);
    // The tombstones found at attach, once: the tiers are told of them again.
    std::vector<Removal> takeKeptTombstones();
    // Tombstones kept now. At most a quarter of the pool's inode slots are kept (they share the
    // slots with entries): past that, while a tier stays unreachable, removals are told but
    // not kept.
    uint64_t keptTombstones();
    // A committed entry by path or by id, copied out without counting an access.
    // ENOENT: no such committed entry; EISDIR: a directory; EFBIG: a sparse entry larger than
    // the pool (an image holds every byte; it is neither exported nor demoted).
    Result<EntryImage> exportEntry(std::string_view path);
    Result<EntryImage> exportEntry(EntryId id);
    // A promotion watches the name it fetches a copy for: watchName returns the number of
    // changes of what `path` names seen so far (a name made or dropped there by create, rename,
    // unlink or eviction, or a commit of the entry it names), counted while anyone watches.
    // Every watchName is paired with one unwatchName.
    uint64_t watchName(std::string_view path);
    void unwatchName(std::string_view path);
    // Stores an image as a committed entry at image.path, creating missing directories (owned
    // by the image's owner). The name appears only once the entry is complete, so no reader
    // ever sees part of it. EEXIST if the name is taken; ENOSPC as for a write. The entry keeps
    // image.version (EINVAL if this pool's clock cannot follow it: see observeVersion). With
    // `epoch` (watchName(image.path), taken before the image was fetched and watched until now),
    // ESTALE if the name changed since: a copy fetched before a newer version was written, evicted
    // or removed is never installed.
    Status importEntry(const EntryImage& image, std::optional<uint64_t> epoch = std::nullopt);
    // Which versions of a lower tier's copy a removal takes (all when empty): a disk tier erases
    // only the copies older than the removal or the new version that made them obsolete, and a
    // promotion moves up only the version it copied.
    using VersionFilter = std::function<bool(const Version&)>;
    // Removes the entry at `path`, if it is there, committed and of a version `which` takes:
    // ENOENT if there is none, EEXIST if its version is not one `which` takes.
    Status removePath(std::string_view path, const VersionFilter& which = {});
    // Removes the directory at `path` with everything below it that `which` takes (a lower
    // tier's copies of a removed tree): ENOENT if there is none, ENOTDIR for an entry. An entry
    // being written, or a directory something was put in meanwhile, stays (EBUSY is returned
    // for the first).
    Status removeTree(std::string_view path, const VersionFilter& which = {});
    // Which of `names` in `dir` are cached, without counting hits or touching the policy.
    Result<std::vector<bool>> cachedNames(EntryId dir, const std::vector<std::string_view>& names);

    // Checks every invariant (allocator, policy, index); throws std::logic_error.
    void verify();

  private:
    Pool() = default;
    friend struct PoolLoader;
    struct Lock;

    // All private helpers below expect meta_ held unless they say otherwise.
    std::shared_ptr<Inode> sharedInode(EntryId id);
    EntryAttr attrOf(const Inode& ino) const;
    Result<Inode*> newInode(uint32_t mode, uint32_t uid, uint32_t gid);
    // The directory `dir`, where `name` is free for something new (validateNewName; EEXIST).
    Result<Inode*> dirWithFreeName(EntryId dir, std::string_view name);
    // A new node (Inode::isNode) `name` in `dir`, its record written; counts a lookup.
    Result<EntryAttr> addNode(EntryId dir, std::string_view name, uint32_t mode, uint64_t rdev,
                              std::string_view target, uint32_t uid, uint32_t gid);
    Status addName(Inode* dir, std::string_view name, Inode* target);
    void dropName(Inode* dir, std::string_view name, bool notify);
    // unlink's work once the name is known to be an entry's: the name goes, then the entry if
    // that was its last name.
    void removeEntryName(Inode* dir, std::string_view name, Inode* ino, bool notify);
    void maybeFree(Inode* ino);
    void eraseInode(Inode* ino);  // drops a removed inode for good, giving its slot back
    // Writes the inode's record (RecordStore::writeInode; the pool directory's goes to the
    // superblock). False when the record was not brought up to date: after a change of
    // metadata alone the caller undoes the change or accepts a record older than memory.
    bool persist(Inode* ino, Changed what = Changed::Metadata);
    // Marks that what the name names changed, if a promotion watches it (watchName()); for
    // treeChanged, every watched name below the directory path.
    void nameChanged(EntryId dir, std::string_view name);
    void treeChanged(const std::string& dir_path);
    // A change of names that makes lower copies obsolete (an unlink, a rename, an rmdir, a link)
    // takes its removals in crash-consistent order: removalAhead writes each one's durable
    // tombstone (with lower tiers only) before the names change, tell() hands it to the tiers
    // after. If the process dies after the change, attach finds the tombstone and tells the
    // tiers again; if it dies before, the tombstone only erases copies older than the name's.
    // `tree`: every path below the directory `path` (treeChanged too, when told).
    Removal removalAhead(std::string path, const Version& version, bool tree);
    void tell(const Removal& r);
    // A removal made ahead of a change that failed: its tombstone goes again.
    void forgetRemoval(const Removal& r);
    Removal keptRemoval(std::string path, const Version& version, bool tree);
    // lookup, unlink and rename without their tier steps (which come after the pool's lock is
    // given back). `to_path`: the path a rename put an entry at (empty: nothing moved).
    Result<EntryAttr> lookupHere(EntryId dir, std::string_view name);
    Status unlinkHere(EntryId dir, std::string_view name);
    // Copies `name` up from a lower tier (false: no tier has it). A front end may name an entry
    // the pool has just evicted without looking it up first (the kernel's invalidation of its
    // name is still on its way): unlink and rename then act on the copy below, as they would
    // after a lookup.
    bool promoteBelow(EntryId dir, std::string_view name);
    // A committed entry's image; `path` (if not empty) must still name it under the data lock.
    Result<EntryImage> exportInode(const std::shared_ptr<Inode>& ino, std::string_view path);
    void releaseHere(EntryId id, bool for_write);
    Result<EntryAttr> linkHere(EntryId id, EntryId new_dir, std::string_view new_name,
                               std::string& to_path);
    Status renameHere(EntryId dir, std::string_view name, EntryId new_dir,
                      std::string_view new_name, unsigned flags, std::string& to_path);
    // rename's parts (pool_namespace.cpp): the checks, which find both ends (src == dst: two
    // names of one entry, nothing to do); moving one name; swapping two (RENAME_EXCHANGE).
    struct RenamePlan {
        Inode* from_dir;
        std::string_view from_name;
        Inode* to_dir;
        std::string_view to_name;
        Inode* src;
        Inode* dst;  // what to_name names now, or nullptr
        bool exchange;
    };
    Result<RenamePlan> planRename(EntryId dir, std::string_view name, EntryId new_dir,
                                  std::string_view new_name, unsigned flags);
    void moveName(Inode* from_dir, std::string_view from_name, Inode* to_dir,
                  std::string_view to_name);
    void exchangeNames(const RenamePlan& plan);
    Result<MatchResult> countMatch(EntryId dir, const std::vector<std::string_view>& names,
                                   const std::vector<bool>& below);
    // Makes room (evicting others, never `ino`) for the chain `blob` needs, when it is to be
    // the entry's blob and does not fit in the record: ENOSPC when eviction cannot. Called
    // before a change of attributes, so that a refused change changes nothing.
    Status roomForBlob(const InodeBlob& blob, Inode* ino);
    // setxattr's parts (pool_xattr.cpp): a pin (ttl_seconds 0: no expiry; EDQUOT past the pin
    // budget), a chain parent (EINVAL for a loop, ENOSPC without room for the blob), another
    // user.* attribute (EEXIST/ENODATA by flags, ENOSPC past the bounds or without room). A
    // refused change changes nothing.
    Status setPin(Inode* ino, bool pin, int64_t ttl_seconds);
    Status setChainParent(Inode* ino, const std::string& path, std::string_view attr);
    Status setUserXattr(Inode* ino, std::string_view name, std::string_view value, int flags);
    // Marks an entry complete and writes it (making room for its metadata if needed); ENOSPC
    // leaves it uncommitted.
    // `checksum`: the entry's data checksum if the caller computed it (else it is computed).
    // The entry gets a new version (`version`: the one its promoted copy had); a new version of
    // a named entry makes the lower copies of its name obsolete (LowerTiers::obsolete, with a
    // durable tombstone of that version), in the same step.
    Status commit(Inode* ino, std::optional<uint64_t> checksum = std::nullopt,
                  std::optional<Version> version = std::nullopt);
    uint64_t dataChecksum(const Inode& ino) const;
    // CandidateSet's steps that change records: the pool writes them.
    void settleChains();
    void expirePins();
    Status makeRoom(uint64_t blocks, Inode* requester);
    EntryImage imageOf(const Inode& ino, std::string path) const;  // metadata only
    // The committed entry `name` of `dir`, or nullptr (absent, a directory, being written).
    Inode* cachedChild(Inode* dir, std::string_view name);
    void copyBytes(const Inode& ino, std::string& out) const;
    bool fitsAnImage(const Inode& ino) const;
    void offerDemotion(const Inode& ino);
    Result<Inode*> makeDirs(std::string_view dirs, const EntryImage& owner);
    // A new directory `name` in `dir` (the caller checked the name is free).
    Result<Inode*> addDir(Inode* dir, std::string_view name, uint32_t mode, uint32_t uid,
                          uint32_t gid);
    bool evictOne(EvictReport& report);
    // resize's shrink in steps (pool_eviction.cpp): whether it can succeed (EBUSY, ENOSPC);
    // the free blocks past the cut taken as a fence; one entry's blocks past the cut copied
    // below it and its record switched (false: no room, the entry untouched).
    Status checkShrink(uint64_t want_blocks, uint64_t bytes);
    std::vector<Extent> fenceFreeBlocksFrom(uint64_t want_blocks);
    bool relocateBelow(Inode& ino, uint64_t want_blocks, std::vector<Extent>& fence);
    // Removes every name of a committed entry and its record (eviction, a failed checksum);
    // its blocks go at its last close.
    void forgetEntry(Inode* ino);
    // -o verify_reads: the entry's bytes against its checksum before an open for reading.
    Status verifyBeforeRead(const std::shared_ptr<Inode>& ino);
    Status openCounted(EntryId id, bool for_write, bool truncate);
    // Gives the entry blocks `holes` new pool blocks, backed. Blocks freed stale are reused
    // first (BlockAllocator::allocateReusing): those the caller overwrites whole right after,
    // bytes [offset, offset + len) of the entry, are listed in `reused` for it to zero should
    // its copy fail; the others are zeroed here. With len 0 every new block reads as zeros.
    Status fillHoles(Inode* ino, const std::vector<BlockRange>& holes, uint64_t offset = 0,
                     uint64_t len = 0, std::vector<Extent>* reused = nullptr);
    // Gives an entry's blocks back, stale: the next write reuses their pages as they are.
    void freeData(Extent e);
    // Zeroes blocks, backed (a failed copy into reused blocks).
    void zeroBlocks(const std::vector<Extent>& blocks);
    void markUncommitted(Inode* ino);
    static Status checkRange(const Inode& ino, uint64_t offset, uint64_t len,
                             std::string_view what);
    Status truncateBlocks(Inode* ino, uint64_t new_size);
    uint64_t pinnedBytes() const;
    uint64_t blocksFor(uint64_t bytes) const;
    void notify(const Invalidation& inv);

    std::unique_ptr<Segment> segment_;
    // Maps blocks that hold entries in the background (shm pools only); destroyed before
    // segment_. Guarded by meta_.
    std::unique_ptr<BlockWarmer> warmer_;
    std::atomic<int64_t> last_copy_ns_{0};  // steadyNs() of the latest read or write copy
    std::string name_;
    uint64_t pin_budget_ = 0;

    mutable std::mutex meta_;
    std::unique_ptr<BlockAllocator> allocator_;
    std::unique_ptr<RecordStore> records_;  // uses *segment_ and *allocator_
    InodeIndex index_{""};
    std::unique_ptr<CandidateSet> candidates_;  // uses index_
    HybridClock clock_;          // the versions of commits and of names made to hold an entry
    uint64_t match_serial_ = 0;  // .match requests answered (never reset, unlike counters_)
    uint64_t max_entries_ = 0;
    std::atomic<bool> verify_reads_{false};
    PoolCounters counters_;
    PoolLatency latency_;  // lock-free: recorded with or without meta_
    EvictReport last_eviction_;
    uint32_t demote_min_reads_ = 0;
    std::function<bool(EntryImage&&)> demotion_sink_;
    std::atomic<LowerTiers*> tiers_{nullptr};
    struct NameWatch {
        uint32_t watchers = 0;
        uint64_t changes = 0;
    };
    std::unordered_map<std::string, NameWatch> watched_names_;  // see watchName(); under meta_
    std::vector<Removal> kept_tombstones_;  // found at attach, until takeKeptTombstones()
    uint64_t tombstone_records_ = 0;        // tombstone records in the segment now

    std::mutex sink_mutex_;
    std::function<void(const Invalidation&)> sink_;
};

}  // namespace kvc
