// Filesystem: the state behind the FUSE callbacks. It owns the pools of this mount (one per
// top-level directory), maps inode numbers to pools, serves control files, and forwards the
// pools' own changes (eviction, shrink) to the kernel from a notifier thread.
//
// Lock order: pools_mutex_ (shared for lookups of a pool, exclusive for mkdir/rmdir of pools)
// is held across a call into a Pool only by removePool (pools_mutex_ -> Pool::meta_, so that no
// entry appears or opens between the check and the removal); Pool locks are described in
// core/pool.h; notify_mutex_ is a leaf.
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/pool.h"
#include "core/reject_log.h"
#include "core/tiers/tier_chain.h"
#include "fs/close_order.h"
#include "fs/control_files.h"
#include "fs/inode_ids.h"
#include "fs/instance_lock.h"
#include "fs/options.h"

namespace kvc::fs {

struct PoolSlot {
    uint32_t index = 0;
    std::string name;
    std::unique_ptr<Pool> pool;
    std::unique_ptr<TierChain> tiers;  // lower tiers, if configured; destroyed before the pool
    RejectLog rejects;                 // control writes and attributes refused lately (.errors)
};

class Filesystem {
  public:
    explicit Filesystem(DaemonOptions options);
    ~Filesystem();

    // Locks the instance (EBUSY if another daemon serves it), records this process's pid and
    // mountpoint in the lock (a background daemon calls it after it split off: fs/daemon.h),
    // attaches its existing segments and creates the pools the config declares. A segment that
    // cannot be attached (damaged, planted by another user, in use) is refused alone: logged,
    // counted in the root .stats, and left in place for the operator; the other pools are served.
    Status start();
    struct RefusedPool {
        std::string name;
        int code = 0;
        std::string reason;
    };
    std::vector<RefusedPool> refusedPools() const { return refused_; }
    // Stores what the lower tiers still have queued (bounded), then marks every segment cleanly
    // detached (called at unmount).
    void detachAll();
    void startNotifier(fuse_session* se);
    // Keeps each client's close(2) ahead of its next request (fs/close_order.h).
    CloseOrder& closeOrder() { return close_order_; }
    // The open control files' handles (freed at exit if the kernel never released them).
    ControlHandles& controlHandles() { return control_handles_; }
    void stopNotifier();
    // Waits until the kernel has been told of every change queued so far, so that a name the
    // daemon removed (eviction on request, shrink) is gone for the caller when it returns.
    // Call it holding no lock, and only from requests during which the kernel holds no
    // directory lock (a notification takes the directory's lock). Bounded: after 5 s it logs
    // a warning and returns.
    void drainNotifications();
    // Tells the kernel (from the notifier thread) that a name or an entry's pages changed
    // behind its back: the data path's stores and writes.
    void invalidate(uint32_t pool, const Invalidation& inv) { queueInvalidation(pool, inv); }
    // The data path's socket, served as the root's user.kvcache.data_socket (empty: none).
    void setDataSocket(std::string path) { data_socket_ = std::move(path); }
    const std::string& dataSocket() const { return data_socket_; }

    const DaemonOptions& options() const { return options_; }
    // The settings a pool of this name gets: its [pools.NAME] declaration, else the defaults.
    const PoolSettings& settingsFor(std::string_view pool) const;
    double timeout() const { return options_.timeout_s; }

    std::shared_ptr<PoolSlot> poolByIndex(uint32_t index);
    std::shared_ptr<PoolSlot> poolByName(std::string_view name);
    std::vector<std::shared_ptr<PoolSlot>> pools();
    Result<std::shared_ptr<PoolSlot>> createPool(const std::string& name,
                                                 const PoolSettings& settings, uint32_t mode,
                                                 uint32_t uid, uint32_t gid);
    Status removePool(const std::string& name);

    // Attributes of things that are not core entries.
    struct stat rootAttr() const;
    struct stat controlAttr(uint32_t pool, const ControlFile& file);
    struct stat toStat(uint32_t pool, const EntryAttr& a) const;

    // Control files (control_files.cpp).
    Result<std::string> controlContent(uint32_t pool, const ControlFile& file);
    Result<std::string> controlWrite(uint32_t pool, const ControlFile& file, std::string_view data);
    // `.match`'s answer to a parsed request: the leading cached count, then a 0/1 per name.
    Result<std::string> matchAnswer(uint32_t pool, const std::vector<std::string_view>& names);

  private:
    CloseOrder close_order_;
    ControlHandles control_handles_;
    SegmentLocation locationFor(const std::string& pool, const PoolSettings& s) const;
    SegmentLocation diskTierLocation(const std::string& pool, const TierSettings& t) const;
    // Registers a pool, with its lower tiers when `tiers` has any.
    Result<std::shared_ptr<PoolSlot>> addSlot(std::unique_ptr<Pool> pool,
                                              const TierSettings& tiers);
    void queueInvalidation(uint32_t pool, const Invalidation& inv);
    void notifierLoop();

    // Attaches one segment found at start; false (logged, in refused_) if it is refused.
    bool attachFound(const SegmentLocation& where, const std::string& pool_name);

    DaemonOptions options_;
    InstanceLock instance_lock_;
    std::vector<RefusedPool> refused_;  // written by start() only, before the mount
    std::shared_mutex pools_mutex_;
    std::vector<std::shared_ptr<PoolSlot>> by_index_;  // index 0 unused; never reused
    std::map<std::string, uint32_t, std::less<>> by_name_;
    int64_t root_mtime_ns_ = 0;
    std::string data_socket_;  // set before the loop starts

    std::mutex notify_mutex_;
    std::condition_variable notify_cv_;
    std::condition_variable notify_done_cv_;
    std::deque<std::pair<uint32_t, Invalidation>> notify_queue_;
    uint64_t notify_queued_ = 0;  // invalidations queued since the start
    uint64_t notify_done_ = 0;    // ... and passed to the kernel
    bool notify_stop_ = false;
    fuse_session* session_ = nullptr;
    std::thread notifier_;
};

// The callback table (ops.cpp).
const fuse_lowlevel_ops& lowlevelOps();

}  // namespace kvc::fs
