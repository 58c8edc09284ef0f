// Filesystem: pool registry, attributes of virtual nodes, and the kernel notifier thread.
#include "fs/filesystem.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/clock.h"
#include "fs/log.h"

namespace kvc::fs {

// How long an unmount waits for queued demotions to reach the lower tiers.
constexpr uint64_t kTierDrainMs = 10000;

Filesystem::Filesystem(DaemonOptions options) : options_(std::move(options)) {
    by_index_.emplace_back();  // index 0 is the root level
    root_mtime_ns_ = nowNs();
}

Filesystem::~Filesystem() {
    stopNotifier();
}

SegmentLocation Filesystem::locationFor(const std::string& pool, const PoolSettings& s) const {
    SegmentLocation where;
    where.name = options_.config.shm_prefix + "." + options_.instance + "." + pool;
    if (s.tier == Tier::Disk) where.dir = s.dir;
    return where;
}

// Disk-tier segments are named "<prefix>-tier.<instance>.<pool>", so that the scan for pools
// ("<prefix>.<instance>.") never takes one for a pool.
SegmentLocation Filesystem::diskTierLocation(const std::string& pool, const TierSettings& t) const {
    return SegmentLocation{options_.config.shm_prefix + "-tier." + options_.instance + "." + pool,
                           t.disk_dir};
}

const PoolSettings& Filesystem::settingsFor(std::string_view pool) const {
    for (const auto& decl : options_.config.pools)
        if (decl.name == pool) return decl.settings;
    return options_.config.defaults;
}

Result<std::shared_ptr<PoolSlot>> Filesystem::addSlot(std::unique_ptr<Pool> pool,
                                                      const TierSettings& tiers) {
    auto slot = std::make_shared<PoolSlot>();
    slot->name = pool->name();
    pool->setVerifyReads(options_.verify_reads);
    slot->pool = std::move(pool);
    if (tiers.any()) {
        auto chain = TierChain::open(*slot->pool, tiers, diskTierLocation(slot->name, tiers));
        if (!chain)
            return makeError(chain.code(), fmt::format("pool {}: lower tiers: {}", slot->name,
                                                       chain.error().message));
        slot->tiers = std::move(*chain);
    }
    std::unique_lock lk(pools_mutex_);
    slot->index = static_cast<uint32_t>(by_index_.size());
    by_index_.push_back(slot);
    by_name_.emplace(slot->name, slot->index);
    const uint32_t index = slot->index;
    slot->pool->setInvalidationSink(
        [this, index](const Invalidation& inv) { queueInvalidation(index, inv); });
    root_mtime_ns_ = nowNs();
    return slot;
}

Status Filesystem::start() {
    auto lock = InstanceLock::acquire(options_.config.shm_prefix, options_.instance);
    if (!lock) return lock.error();
    instance_lock_ = std::move(*lock);
    instance_lock_.announce(getpid(), options_.mountpoint);
    const std::string prefix = options_.config.shm_prefix + "." + options_.instance + ".";
    // Segments of this instance: in /dev/shm, and in the directories of disk-tier pools. Only a
    // name whose rest is a valid pool name is a pool's (the lock file's is not).
    std::vector<SegmentLocation> found;
    auto scan = [&](const std::string& dir, bool shm) {
        DIR* d = opendir(dir.c_str());
        if (!d) return;
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n.size() > prefix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
                validatePoolName(std::string_view(n).substr(prefix.size())))
                found.push_back(SegmentLocation{n, shm ? "" : dir});
        }
        closedir(d);
    };
    scan("/dev/shm", true);
    std::vector<std::string> dirs;
    if (!options_.config.defaults.dir.empty()) dirs.push_back(options_.config.defaults.dir);
    for (const auto& p : options_.config.pools)
        if (p.settings.tier == Tier::Disk) dirs.push_back(p.settings.dir);
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    for (const auto& d : dirs) scan(d, false);
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });

    for (const SegmentLocation& where : found) attachFound(where, where.name.substr(prefix.size()));
    for (const auto& decl : options_.config.pools) {
        if (poolByName(decl.name)) continue;
        if (std::any_of(refused_.begin(), refused_.end(),
                        [&](const RefusedPool& r) { return r.name == decl.name; }))
            continue;  // its segment is still there, refused: never replaced by an empty pool
        auto slot = createPool(decl.name, decl.settings, 0755, getuid(), getgid());
        if (!slot) return slot.error();
        log(LogLevel::Info, "pool {}: created ({}, {})", decl.name,
            (*slot)->pool->location().describe(), decl.settings.policy);
    }
    return {};
}

bool Filesystem::attachFound(const SegmentLocation& where, const std::string& pool_name) {
    auto refuse = [&](const Error& e) {
        log(LogLevel::Error, "pool {}: refused, not served: {}", pool_name, e.message);
        refused_.push_back(RefusedPool{pool_name, e.code, e.message});
        return false;
    };
    if (poolByName(pool_name))
        return refuse(makeError(EEXIST, fmt::format("{} is a second segment for the pool; "
                                                    "remove one",
                                                    where.describe())));
    auto pool = Pool::attach(where);
    if (!pool) return refuse(pool.error());
    if ((*pool)->name() != pool_name)
        return refuse(makeError(EINVAL, fmt::format("{} says it holds pool \"{}\"",
                                                    where.describe(), (*pool)->name())));
    const PoolStats st = (*pool)->stats();
    log(LogLevel::Info, "pool {}: reattached {} ({} entries)", pool_name, where.describe(),
        st.entries);
    if (st.counters.checksum_failures)
        log(LogLevel::Warning,
            "pool {}: {} entries failed their checksum after a crash and were "
            "dropped",
            pool_name, st.counters.checksum_failures);
    auto slot = addSlot(std::move(*pool), settingsFor(pool_name).tiers);
    if (!slot) return refuse(slot.error());
    return true;
}

Result<std::shared_ptr<PoolSlot>> Filesystem::createPool(const std::string& name,
                                                         const PoolSettings& settings,
                                                         uint32_t mode, uint32_t uid,
                                                         uint32_t gid) {
    if (auto st = validatePoolName(name); !st) return st.error();
    PoolCreateOptions o;
    o.name = name;
    o.where = locationFor(name, settings);
    o.settings = settings;
    o.mode = mode;
    o.uid = uid;
    o.gid = gid;
    if (o.where.name.size() > 250)
        return makeError(ENAMETOOLONG, fmt::format("pool name \"{}\" is too long for a segment "
                                                   "name",
                                                   name));
    auto pool = Pool::create(o);
    if (!pool) return pool.error();
    auto slot = addSlot(std::move(*pool), settings.tiers);
    if (!slot) {
        // Not added: the new segment goes again, so a retry starts clean.
        (void)Segment::remove(o.where);
        return slot.error();
    }
    return slot;
}

Status Filesystem::removePool(const std::string& name) {
    std::shared_ptr<PoolSlot> slot;
    {
        std::unique_lock lk(pools_mutex_);
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return makeError(ENOENT, fmt::format("no pool {}", name));
        slot = by_index_[it->second];
        if (!slot->pool->isEmptyPool())
            return makeError(ENOTEMPTY, fmt::format("pool {} is not empty", name));
        if (slot->pool->hasOpenEntries())
            return makeError(EBUSY, fmt::format("pool {} is empty, but a removed entry of it is "
                                                "still open or mapped; close it first",
                                                name));
        by_index_[it->second].reset();
        by_name_.erase(it);
        root_mtime_ns_ = nowNs();
    }
    slot->pool->setInvalidationSink(nullptr);
    if (slot->tiers) slot->tiers->destroy();
    if (auto st = slot->pool->destroySegment(); !st) return st;
    log(LogLevel::Info, "pool {}: deleted", name);
    return {};
}

std::shared_ptr<PoolSlot> Filesystem::poolByIndex(uint32_t index) {
    std::shared_lock lk(pools_mutex_);
    return index < by_index_.size() ? by_index_[index] : nullptr;
}

std::shared_ptr<PoolSlot> Filesystem::poolByName(std::string_view name) {
    std::shared_lock lk(pools_mutex_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : by_index_[it->second];
}

std::vector<std::shared_ptr<PoolSlot>> Filesystem::pools() {
    std::shared_lock lk(pools_mutex_);
    std::vector<std::shared_ptr<PoolSlot>> out;
    for (const auto& s : by_index_)
        if (s) out.push_back(s);
    return out;
}

void Filesystem::detachAll() {
    for (const auto& slot : pools()) {
        if (slot->tiers && !slot->tiers->drain(kTierDrainMs))
            log(LogLevel::Warning, "pool {}: demotions still queued after {} ms are dropped",
                slot->name, kTierDrainMs);
        slot->pool->detach();
    }
}

struct stat Filesystem::rootAttr() const {
    struct stat st {};
    st.st_ino = FUSE_ROOT_ID;
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
    st.st_uid = getuid();
    st.st_gid = getgid();
    st.st_blksize = 4096;
    st.st_atim = st.st_mtim = st.st_ctim = timespecOf(root_mtime_ns_);
    return st;
}

struct stat Filesystem::controlAttr(uint32_t pool, const ControlFile& file) {
    struct stat st {};
    st.st_ino = makeIno(pool, file.local);
    st.st_mode = S_IFREG | file.mode;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    if (pool == 0) {
        st.st_uid = getuid();
        st.st_gid = getgid();
        st.st_mtim = timespecOf(root_mtime_ns_);
    } else if (auto slot = poolByIndex(pool)) {
        if (auto a = slot->pool->getattr(kPoolRootId); a) {
            st.st_uid = a->uid;
            st.st_gid = a->gid;
            st.st_mtim = timespecOf(a->mtime_ns);
        }
    }
    st.st_atim = st.st_ctim = st.st_mtim;
    return st;
}

struct stat Filesystem::toStat(uint32_t pool, const EntryAttr& a) const {
    struct stat st {};
    st.st_ino = makeIno(pool, a.id);
    st.st_mode = a.mode;
    st.st_nlink = a.nlink;
    st.st_uid = a.uid;
    st.st_gid = a.gid;
    st.st_size = static_cast<off_t>(a.size);
    st.st_blocks = static_cast<blkcnt_t>(a.blocks512);
    st.st_blksize = static_cast<blksize_t>(a.blksize);
    st.st_rdev = static_cast<dev_t>(a.rdev);
    st.st_atim = timespecOf(a.atime_ns);
    st.st_mtim = timespecOf(a.mtime_ns);
    st.st_ctim = timespecOf(a.ctime_ns);
    return st;
}

// --- notifier --------------------------------------------------------------------------------

void Filesystem::queueInvalidation(uint32_t pool, const Invalidation& inv) {
    {
        std::lock_guard lk(notify_mutex_);
        if (!session_) return;
        notify_queue_.emplace_back(pool, inv);
        notify_queued_++;
    }
    notify_cv_.notify_one();
}

void Filesystem::startNotifier(fuse_session* se) {
    {
        std::lock_guard lk(notify_mutex_);
        session_ = se;
        notify_stop_ = false;
    }
    notifier_ = std::thread([this] { notifierLoop(); });
}

void Filesystem::drainNotifications() {
    std::unique_lock lk(notify_mutex_);
    const uint64_t target = notify_queued_;
    // Bounded, so a kernel that blocks a notification (a directory lock held by a request no
    // free thread can serve) delays this caller instead of hanging it.
    if (!notify_done_cv_.wait_for(lk, std::chrono::seconds(5),
                                  [&] { return notify_stop_ || notify_done_ >= target; }))
        log(LogLevel::Warning, "kernel invalidations still pending after 5 s");
}

void Filesystem::stopNotifier() {
    {
        std::lock_guard lk(notify_mutex_);
        notify_stop_ = true;
        session_ = nullptr;
    }
    notify_cv_.notify_all();
    notify_done_cv_.notify_all();
    if (notifier_.joinable()) notifier_.join();
}

// Runs on its own thread holding no lock a request may need: the kernel may block a notify
// until requests on the same directory finish.
void Filesystem::notifierLoop() {
    std::unique_lock lk(notify_mutex_);
    while (true) {
        notify_cv_.wait(lk, [&] { return notify_stop_ || !notify_queue_.empty(); });
        if (notify_stop_) return;
        auto [pool, inv] = std::move(notify_queue_.front());
        notify_queue_.pop_front();
        fuse_session* se = session_;
        lk.unlock();
        const fuse_ino_t dir = inv.dir == kPoolRootId || inv.dir == 0 ? makeIno(pool, kPoolRootId)
                                                                      : makeIno(pool, inv.dir);
        int rc = 0;
        if (!inv.name.empty())
            rc = fuse_lowlevel_notify_inval_entry(se, dir, inv.name.c_str(), inv.name.size());
        if (inv.inode && inv.name.empty())
            rc = fuse_lowlevel_notify_inval_inode(se, makeIno(pool, inv.inode), 0, 0);
        if (rc != 0 && rc != -ENOENT)
            log(LogLevel::Debug, "invalidation in pool {} failed: {}", pool, strerror(-rc));
        lk.lock();
        notify_done_++;
        notify_done_cv_.notify_all();
    }
}

}  // namespace kvc::fs
