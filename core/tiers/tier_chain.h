// TierChain: the lower tiers of one pool, below its shared memory: an optional disk tier (a pool
// of its own in a segment file, hidden from the mount) and an optional remote tier (a Redis
// Cluster shared by many hosts).
//
// Down: entries the pool evicts (and, with write_through, entries as they are written) go into a
// bounded queue that one worker thread empties into the next tier: disk if there is one, else
// remote; the disk tier's own evictions go on to remote. A full queue drops the demotion and
// counts it; nothing that queues ever waits.
// Up: a name the pool lacks is looked for in the queue, then the disk tier, then the remote tier,
// and copied into the pool whole before the name appears there (the disk tier's copy moves up;
// the remote copy stays, since other hosts share it).
// A remote fault is a miss: every remote call is bounded by the cluster client's timeout, and a
// failed node is skipped for a while.
// Versions: every copy carries its entry's version, a removal leaves a tombstone of its own, and
// the cluster stores either only over something older (kRemotePutScript), so it only moves
// forward whatever the order in which hosts put (docs/TIERS.md, "Versions").
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/lower_tiers.h"
#include "core/pool.h"
#include "core/tiers/tier_stats.h"

namespace kvc {

class RedisCluster;

// While it lives, the chain is the pool's LowerTiers: the pool calls it on every miss and every
// change of a name's version (core/lower_tiers.h), whoever the pool's front end is.
class TierChain final : public LowerTiers {
  public:
    // `disk_segment` names the disk tier's segment file (used when settings.disk_dir is set): it
    // is reattached when it exists, so a restarted daemon keeps its disk tier.
    static Result<std::unique_ptr<TierChain>> open(Pool& top, const TierSettings& settings,
                                                   const SegmentLocation& disk_segment);
    ~TierChain() override;
    TierChain(const TierChain&) = delete;
    TierChain& operator=(const TierChain&) = delete;

    // --- LowerTiers ---
    // Looks for `name` of `dir` below the pool and copies it up. True when the pool has the name
    // afterwards (also when a concurrent request put it there).
    bool promote(EntryId dir, std::string_view name) override;
    // A writer closed entry `id`. With write_through it is published to the remote tier; without,
    // a tombstone of its version replaces the older copies of its name there, so that a later
    // miss cannot bring the old bytes back.
    void written(EntryId id) override;
    // The lower copies of `path` go (removed, renamed away or over): a copy still queued is
    // dropped and erases are queued, past the queue's bound, for the disk and remote tiers.
    void obsolete(const Removal& r) override;
    // Every lower copy below `dir_path`: queued copies are dropped, and a tree erase is queued
    // for the disk tier (the directory removed there) and the remote tier (the keys found by a
    // SCAN of every master, each given a tombstone). Until a tier confirmed it, that tier's
    // copies below are misses.
    void obsoleteTree(const Removal& r) override;
    // With write_through, the entry a rename put at `path` is published under it.
    void renamed(const std::string& path) override;

    // Blocks until every queued demotion has been stored or dropped and every erase confirmed
    // (tests, unmount). Bounded by `timeout_ms`; false if that did not happen in time (with the
    // remote tier unreachable, its erases wait for it).
    bool drain(uint64_t timeout_ms);
    // Stops the worker; demotions still queued are dropped (and counted).
    void stop();
    // The pool is being removed: its disk tier's segment goes too.
    void destroy();

    TierStats stats();
    Pool* diskPool() { return disk_.get(); }

  private:
    // How long a tombstone stays in the cluster when values never expire (remote_ttl_s 0).
    static constexpr uint64_t kTombstoneDefaultTtlS = 86400;
    enum class Target { Disk, Remote };
    struct Item {
        Target target;
        EntryImage image;
        // Remove image.path from the target instead of storing it. A path ending in '/' (no
        // entry's does) is a tree: every path that starts with it. The remote tier keeps a
        // tombstone of image.version in its place.
        bool erase = false;
        // An erase's durable tombstone in the pool (Removal::record): given back once every
        // item holding it was stored (record_refs_), kept if the process stops first (attach
        // tells the tiers again).
        std::vector<uint64_t> records;
        // What it takes of the queue's bound: an image's footprint; an erase holds a path only.
        uint64_t cost() const { return erase ? image.path.size() + kEraseCost : image.footprint(); }
    };
    static constexpr uint64_t kEraseCost = 256;
    // Whether an erase of `erased` (an entry's path, or a tree's "dir/") covers `path`.
    static bool covers(const std::string& erased, const std::string& path) {
        return erased == path || (!erased.empty() && erased.back() == '/' &&
                                  path.compare(0, erased.size(), erased) == 0);
    }
    // Under queue_mutex_: the newest version of the removals covering `path` that are not
    // confirmed yet (queued, being stored, or waiting to be tried again): the lower tiers may
    // still hold what they remove.
    // `target`: that tier's removals only (nullopt: every tier's).
    std::optional<Version> pendingRemoval(const std::string& path,
                                          std::optional<Target> target) const;
    // The newest removals of a path each tier had not confirmed when a lookup began.
    struct Pending {
        std::optional<Version> disk, remote;
        // Whether a copy of `copy`'s version found in the tier may be one `removed` erases.
        static bool erases(const std::optional<Version>& removed, const Version& copy);
    };
    // Under queue_mutex_: an erase item becomes pending (queued, or a refused copy turned into
    // one) or stops being pending (confirmed, or replaced by a newer erase of its path).
    void notePending(const Item& item, bool pending);
    bool eraseTree(const std::string& prefix, const Version& removed);
    // Stores a value or a tombstone at `path` in the remote tier unless it holds a newer one;
    // false when the cluster did not confirm.
    bool putRemote(Item& item);
    uint64_t tombstoneTtlMs() const;

    TierChain(Pool& top, const TierSettings& settings);
    bool enqueue(Target target, EntryImage&& image);
    // Under queue_mutex_: an erase of r.path (r.tree: below it) in `target`, queued past the
    // bound, holding r.record.
    void queueErase(Target target, const Removal& r);
    // Under queue_mutex_: erases for every tier of the chain (it has at least one), each
    // holding r.record.
    void eraseEverywhere(const Removal& r);
    enum class Queued { No, Copy };
    // The newest queued copy of `path` (moved into `out`), unless a removal not confirmed yet
    // is newer than it; `pending` gets each tier's removals not confirmed yet. A copy of it the
    // worker is storing is waited for (then found in its tier, or dropped: a miss).
    Queued takeQueued(const std::string& path, EntryImage& out, Pending& pending);
    // Under queue_mutex_: one item holding each of `records` is done; those no item holds any
    // more are appended to `done` (to be given back to the pool without queue_mutex_).
    void releaseRecords(const std::vector<uint64_t>& records, std::vector<uint64_t>& done);
    void dropRecords(const std::vector<uint64_t>& done);
    void workerLoop();
    static std::string retryKey(Target target, const std::string& path) {
        return (target == Target::Disk ? "d:" : "r:") + path;
    }
    // Stores (or erases) one item; false when it must be tried again: an erase the remote tier
    // did not confirm, or a copy it refused, which becomes an erase of the older value it holds.
    bool store(Item& item);
    bool fetchRemote(const std::string& path, EntryImage& out);
    TierCounters& countersOf(Target t) {
        return t == Target::Disk ? disk_counters_ : remote_counters_;
    }

    Pool& top_;
    TierSettings settings_;
    std::unique_ptr<Pool> disk_;
    std::unique_ptr<RedisCluster> remote_;
    uint64_t fingerprint_ = 0;
    TierCounters disk_counters_;
    TierCounters remote_counters_;
    std::atomic<uint64_t> queue_hits_{0};

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::condition_variable idle_cv_;
    std::deque<Item> queue_;
    uint64_t queue_bytes_ = 0;
    // Erases the remote tier did not confirm, one per path (a later failure of the same path
    // joins it), tried again together once `retry_due_` has passed; every round that fails
    // doubles the wait (100 ms, up to 5 s), one that empties the set starts again from 100 ms.
    std::map<std::string, Item> retries_;
    std::chrono::steady_clock::time_point retry_due_{};
    uint32_t failed_rounds_ = 0;
    bool busy_ = false;  // the worker holds an item
    // The path of the copy the worker is storing (empty: none): a lookup of it waits for the
    // store (stored_cv_) rather than miss a copy that is in neither the queue nor a tier.
    std::string storing_;
    std::condition_variable stored_cv_;
    // Removals not confirmed yet (queued, being stored, waiting for a retry), by tier and the
    // path they cover (retryKey; a tree's path ends in '/'): how many of each version.
    std::unordered_map<std::string, std::map<Version, uint32_t>> pending_;
    std::map<uint64_t, uint32_t> record_refs_;  // durable tombstone -> items holding it
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace kvc
