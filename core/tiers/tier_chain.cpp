// TierChain: demotion queue and worker, promotion, .match over all tiers, write-through.
#include "core/tiers/tier_chain.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/tiers/redis_cluster.h"
#include "core/tiers/remote_value.h"

namespace kvc {

TierChain::TierChain(Pool& top, const TierSettings& settings) : top_(top), settings_(settings) {}

Result<std::unique_ptr<TierChain>> TierChain::open(Pool& top, const TierSettings& settings,
                                                   const SegmentLocation& disk_segment) {
    std::unique_ptr<TierChain> chain(new TierChain(top, settings));
    if (!settings.disk_dir.empty()) {
        if (Segment::exists(disk_segment)) {
            auto pool = Pool::attach(disk_segment);
            if (!pool) return pool.error();
            chain->disk_ = std::move(*pool);
        } else {
            PoolCreateOptions o;
            o.name = top.name();
            o.where = disk_segment;
            o.settings.size = settings.disk_size;
            o.settings.policy =
                settings.disk_policy.empty() ? top.policyName() : settings.disk_policy;
            o.settings.block_size = top.blockSize();
            o.settings.tier = Tier::Disk;
            o.settings.dir = settings.disk_dir;
            o.mode = 0700;
            auto pool = Pool::create(o);
            if (!pool) return pool.error();
            chain->disk_ = std::move(*pool);
        }
    }
    if (!settings.remote_seeds.empty()) {
        ClusterOptions c;
        c.seeds = settings.remote_seeds;
        c.timeout = std::chrono::milliseconds(settings.remote_timeout_ms);
        chain->remote_ = std::make_unique<RedisCluster>(std::move(c));
        chain->fingerprint_ = layoutFingerprint(settings.remote_layout);
    }
    TierChain* self = chain.get();
    const Target first = chain->disk_ ? Target::Disk : Target::Remote;
    top.setDemotionSink(settings.demote_min_reads, [self, first](EntryImage&& img) {
        return self->enqueue(first, std::move(img));
    });
    if (chain->disk_ && chain->remote_)
        chain->disk_->setDemotionSink(
            0, [self](EntryImage&& img) { return self->enqueue(Target::Remote, std::move(img)); });
    // Removals a crash kept the tiers from confirming: told again, ahead of anything new.
    // (Taken from the pool first: its lock comes before the queue's.)
    const std::vector<Removal> kept = top.takeKeptTombstones();
    {
        std::lock_guard lk(chain->queue_mutex_);
        for (const Removal& r : kept) chain->eraseEverywhere(r);
    }
    chain->worker_ = std::thread([self] { self->workerLoop(); });
    top.setLowerTiers(self);
    return chain;
}

TierChain::~TierChain() {
    top_.setLowerTiers(nullptr);
    top_.setDemotionSink(0, {});
    stop();
    if (disk_) disk_->detach();
}

void TierChain::stop() {
    {
        std::lock_guard lk(queue_mutex_);
        if (stop_ && !worker_.joinable()) return;
        stop_ = true;
    }
    queue_cv_.notify_all();
    stored_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    std::lock_guard lk(queue_mutex_);
    for (const Item& item : queue_) countersOf(item.target).dropped++;
    for (const auto& [key, item] : retries_) countersOf(item.target).dropped++;
    queue_.clear();
    retries_.clear();
    pending_.clear();
    queue_bytes_ = 0;
    idle_cv_.notify_all();
}

void TierChain::destroy() {
    top_.setLowerTiers(nullptr);
    top_.setDemotionSink(0, {});
    stop();
    if (disk_) (void)disk_->destroySegment();
}

bool TierChain::enqueue(Target target, EntryImage&& image) {
    std::lock_guard lk(queue_mutex_);
    const uint64_t cost = image.footprint();
    if (stop_ || queue_bytes_ + cost > settings_.demote_queue_bytes) {
        countersOf(target).dropped++;
        return false;
    }
    // A copy older than a removal still waiting (the disk tier evicting a copy whose erase is
    // queued behind the item being stored) is obsolete: queued after that erase it could be
    // served once the erase is confirmed.
    if (auto removed = pendingRemoval(image.path, std::nullopt);
        removed && image.version < *removed) {
        countersOf(target).stale++;
        return true;
    }
    queue_bytes_ += cost;
    queue_.push_back(Item{target, std::move(image), false, {}});
    queue_cv_.notify_one();
    return true;
}

void TierChain::releaseRecords(const std::vector<uint64_t>& records, std::vector<uint64_t>& done) {
    for (uint64_t r : records) {
        auto it = record_refs_.find(r);
        if (it == record_refs_.end() || --it->second > 0) continue;
        record_refs_.erase(it);
        done.push_back(r);
    }
}

void TierChain::dropRecords(const std::vector<uint64_t>& done) {
    for (uint64_t r : done) top_.dropTombstone(r);
}

// An entry evicted a moment ago may still wait in the queue: it is served from there, the newest
// version queued, unless a removal not confirmed yet is newer than it. Versions decide, not the
// order in the queue: written() exports a copy outside the pool's lock, so it may be queued
// after a newer version or after the removal that made it obsolete.
TierChain::Queued TierChain::takeQueued(const std::string& path, EntryImage& out,
                                        Pending& pending) {
    std::unique_lock lk(queue_mutex_);
    // Taken from the queue but not yet in its tier: neither would find it.
    stored_cv_.wait(lk, [&] { return stop_ || storing_ != path; });
    pending.disk = pendingRemoval(path, Target::Disk);
    pending.remote = pendingRemoval(path, Target::Remote);
    const std::optional<Version> removed = std::max(pending.disk, pending.remote);
    auto it = queue_.end();
    for (auto i = queue_.begin(); i != queue_.end(); ++i)
        if (!i->erase && i->image.path == path &&
            (it == queue_.end() || !(i->image.version < it->image.version)))
            it = i;
    if (it != queue_.end()) {
        // Equal versions: a commit's erase of the older copies, of its own version (a rank-0
        // tombstone), below its copy.
        if (removed && it->image.version < *removed) return Queued::No;
        queue_bytes_ -= it->cost();
        out = std::move(it->image);
        queue_.erase(it);
        if (queue_.empty() && !busy_ && retries_.empty()) idle_cv_.notify_all();
        return Queued::Copy;
    }
    return Queued::No;
}

bool TierChain::Pending::erases(const std::optional<Version>& removed, const Version& copy) {
    return removed && copy < *removed;
}

// The path itself, then every directory above it as a tree ("a/", "a/b/"): one lookup each, in
// each tier asked about.
std::optional<Version> TierChain::pendingRemoval(const std::string& path,
                                                 std::optional<Target> target) const {
    std::optional<Version> newest;
    auto see = [&](const std::string& erased) {
        for (const Target t : {Target::Disk, Target::Remote}) {
            if (target && *target != t) continue;
            auto it = pending_.find(retryKey(t, erased));
            if (it != pending_.end() && (!newest || it->second.rbegin()->first > *newest))
                newest = it->second.rbegin()->first;
        }
    };
    see(path);
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1))
        see(path.substr(0, slash + 1));
    return newest;
}

void TierChain::notePending(const Item& item, bool pending) {
    if (!item.erase) return;
    const std::string key = retryKey(item.target, item.image.path);
    if (pending) {
        pending_[key][item.image.version]++;
        return;
    }
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    auto v = it->second.find(item.image.version);
    if (v != it->second.end() && --v->second == 0) it->second.erase(v);
    if (it->second.empty()) pending_.erase(it);
}

namespace {

// How long the erases of a retry round wait after `rounds` rounds failed: 100 ms, doubling,
// at most 5 s.
std::chrono::milliseconds retryDelay(uint32_t rounds) {
    const uint64_t ms = uint64_t{100} << std::min<uint32_t>(rounds, 6);
    return std::chrono::milliseconds(std::min<uint64_t>(ms, 5000));
}

}  // namespace

// Items are stored in order. Erases the remote tier did not confirm wait aside (retries_), so a
// node that is down holds up nothing else; once their delay has passed and the queue is empty,
// they join the queue again. A newer copy of the same name stored before the retry stays: the
// retried tombstone is older than it, and the cluster keeps the newer value.
void TierChain::workerLoop() {
    using Clock = std::chrono::steady_clock;
    std::unique_lock lk(queue_mutex_);
    for (;;) {
        if (stop_) return;
        if (queue_.empty() && !retries_.empty() && Clock::now() >= retry_due_) {
            for (auto& [key, item] : retries_) {
                queue_bytes_ += item.cost();
                queue_.push_back(std::move(item));
            }
            retries_.clear();
        }
        if (queue_.empty()) {
            if (retries_.empty())
                queue_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            else
                queue_cv_.wait_until(lk, retry_due_);
            continue;
        }
        Item item = std::move(queue_.front());
        queue_.pop_front();
        queue_bytes_ -= item.cost();
        busy_ = true;
        const bool was_erase = item.erase;  // pending until it is confirmed
        if (!was_erase) storing_ = item.image.path;
        lk.unlock();
        const bool done = store(item);
        lk.lock();
        busy_ = false;
        if (!was_erase) {
            storing_.clear();
            stored_cv_.notify_all();
        }
        // A refused copy comes back as an erase of its version: pending from now on.
        if (!was_erase && item.erase && !done) notePending(item, true);
        std::vector<uint64_t> confirmed;
        if (!done && !stop_) {
            if (retries_.empty()) retry_due_ = Clock::now() + retryDelay(failed_rounds_++);
            // One erase per name waits: the newer one, which covers the other (whose durable
            // tombstones are given back: the newer one is kept until it is confirmed).
            const std::string key = retryKey(item.target, item.image.path);
            if (auto waiting = retries_.find(key); waiting == retries_.end()) {
                retries_.emplace(key, std::move(item));
            } else if (item.image.version < waiting->second.image.version) {
                notePending(item, false);
                releaseRecords(item.records, confirmed);
            } else {
                notePending(waiting->second, false);
                releaseRecords(waiting->second.records, confirmed);
                waiting->second = std::move(item);
            }
        } else if (done) {
            notePending(item, false);
            releaseRecords(item.records, confirmed);
            if (queue_.empty() && retries_.empty()) failed_rounds_ = 0;
        }
        if (!confirmed.empty()) {
            lk.unlock();  // the pool's lock comes first (Pool calls in under meta_)
            dropRecords(confirmed);
            lk.lock();
        }
        if (queue_.empty() && retries_.empty()) idle_cv_.notify_all();
    }
}

bool TierChain::store(Item& item) {
    EntryImage& img = item.image;
    TierCounters& c = countersOf(item.target);
    if (item.target == Target::Disk) {
        // An erase takes the copies older than its version (a removal's, or the new version
        // that made them obsolete), never a newer one or that version itself.
        const Version erased = img.version;
        auto older = [&erased](const Version& v) { return v < erased; };
        if (item.erase && img.path.back() == '/') {
            // ENOENT: no such directory there. What stays (an entry being moved up, a newer copy
            // put there meanwhile) is current.
            (void)disk_->removeTree(std::string_view(img.path).substr(0, img.path.size() - 1),
                                    older);
            return true;
        }
        if (item.erase) {
            (void)disk_->removePath(img.path, older);  // ENOENT: nothing to erase
            return true;
        }
        Status st = disk_->importEntry(img);
        if (st.code() == EEXIST) {
            // The disk tier holds a copy of the name: an older one makes way for this one; the
            // same version or a newer one stays, and this copy is stale.
            const Status removed = disk_->removePath(img.path, older);
            if (removed.code() == EEXIST) {
                c.stale++;
                return true;
            }
            if (removed) st = disk_->importEntry(img);
        }
        if (st) {
            c.demotions++;
            c.bytes_down += img.data.size();
            return true;
        }
        c.errors++;
        if (!remote_) {
            c.dropped++;
            return true;
        }
        item.target = Target::Remote;  // too large for the disk tier, or it is full: go on down
    }
    TierCounters& r = remote_counters_;
    if (item.erase && img.path.back() == '/') {
        if (eraseTree(img.path, img.version)) return true;
        r.errors++;
        r.retries++;
        return false;
    }
    if (item.erase) {
        if (putRemote(item)) return true;
        // Not confirmed (a node down, paused or failing over): the older value may still be
        // there, and a later miss would bring it back. Tried again until it is confirmed.
        r.errors++;
        r.retries++;
        return false;
    }
    if (putRemote(item)) return true;
    // Refused (maxmemory with noeviction, a node down): whatever older value the key holds is
    // obsolete now, so a tombstone of this copy's version goes there instead.
    r.errors++;
    r.dropped++;
    std::string path = std::move(img.path);
    const Version version = img.version;
    item.erase = true;
    item.image = EntryImage{};
    item.image.path = std::move(path);
    item.image.version = version;
    return false;
}

uint64_t TierChain::tombstoneTtlMs() const {
    // As long as the values it guards against may live; without an expiry, a day.
    return (settings_.remote_ttl_s ? settings_.remote_ttl_s : kTombstoneDefaultTtlS) * 1000;
}

bool TierChain::putRemote(Item& item) {
    const EntryImage& img = item.image;
    const std::string key = remoteKey(settings_.remote_namespace, top_.name(), img.path);
    const std::string value = item.erase
                                  ? encodeRemoteTombstone(img.path, img.version, fingerprint_)
                                  : encodeRemoteValue(img, fingerprint_);
    const std::string ttl =
        std::to_string(item.erase ? tombstoneTtlMs() : settings_.remote_ttl_s * 1000);
    auto stored = remote_->eval(kRemotePutScript, key, {value, ttl, item.erase ? "1" : "0"});
    if (!stored) return false;
    if (*stored == 0) {
        // The cluster holds this version or a newer one (another host wrote since, or removed
        // it): it only moves forward.
        remote_counters_.stale++;
    } else if (!item.erase) {
        remote_counters_.demotions++;
        remote_counters_.bytes_down += img.data.size();
    }
    return true;
}

bool TierChain::fetchRemote(const std::string& path, EntryImage& out) {
    TierCounters& r = remote_counters_;
    const std::string key = remoteKey(settings_.remote_namespace, top_.name(), path);
    auto got = remote_->get(key);
    if (!got) {
        r.errors++;
        return false;
    }
    if (!*got) {
        r.misses++;
        return false;
    }
    DecodedValue d = decodeRemoteValue(**got, fingerprint_, path);
    if (d.check == RemoteCheck::Removed) {
        // Removed by this host or another: what this pool writes under the name from now on
        // must be newer than the removal, or the cluster would refuse it.
        (void)top_.observeVersion(d.image.version);
        r.misses++;
        return false;
    }
    if (d.check != RemoteCheck::Ok) {
        r.misses++;
        if (d.check == RemoteCheck::Corrupt) {
            r.corrupt++;
            (void)remote_->del(key);
        }
        return false;
    }
    r.hits++;
    out = std::move(d.image);
    return true;
}

bool TierChain::promote(EntryId dir, std::string_view name) {
    auto path = top_.entryPath(dir, name);
    if (!path) return false;
    // Watched before anything is fetched: if the name changes while the copy is on its way (a
    // new version written, evicted, or removed), the copy is not installed.
    const uint64_t epoch = top_.watchName(*path);
    struct Unwatch {
        Pool& pool;
        const std::string& path;
        ~Unwatch() { pool.unwatchName(path); }
    } unwatch{top_, *path};
    EntryImage img;
    TierCounters* from = nullptr;
    bool queued = false;
    // A copy below is served only if no erase of that tier that was not confirmed when the
    // lookup began is newer than it: such an erase may still have an older copy to remove there
    // (or have removed it only after the copy was read). Erases made later change the name and
    // the watch refuses the copy. The other tier's pending erases do not matter: every removal
    // and every commit queues one for each tier, and no copy older than a removal still pending
    // anywhere is queued for any tier.
    Pending pending;
    const Queued q = takeQueued(*path, img, pending);
    if (q == Queued::Copy) {
        queued = true;
        queue_hits_++;
    } else if (disk_) {
        if (auto e = disk_->exportEntry(*path); e && !Pending::erases(pending.disk, e->version)) {
            img = std::move(*e);
            from = &disk_counters_;
            disk_counters_.hits++;
        } else {
            disk_counters_.misses++;
        }
    }
    if (!queued && !from && remote_) {
        if (!fetchRemote(*path, img)) return false;
        if (Pending::erases(pending.remote, img.version)) {
            remote_counters_.hits--;  // counted by fetchRemote: it is a miss
            remote_counters_.misses++;
            return false;
        }
        from = &remote_counters_;
    }
    if (!queued && !from) return false;
    if (img.path != *path) {
        // Another entry's copy: never installed under this name.
        if (from) from->errors++;
        return false;
    }
    const Status st = top_.importEntry(img, epoch);
    if (st.code() == ESTALE) {
        // The name changed meanwhile: this copy may be older than what the pool did since. A
        // queued one is dropped; one below stays where it is (whatever replaced or removed the
        // name queued its own demotion or erase, which comes after it).
        if (queued) countersOf(disk_ ? Target::Disk : Target::Remote).dropped++;
        if (from) from->errors++;
        return false;
    }
    if (!st && st.code() != EEXIST) {
        // The pool could not take it (full of pinned or open entries): one below stays there.
        // A queued one is dropped: queued again, it could land behind the erase of a version
        // written meanwhile and outlive it.
        if (queued) countersOf(disk_ ? Target::Disk : Target::Remote).dropped++;
        if (from) from->errors++;
        return false;
    }
    if (from == &disk_counters_)  // it moved up (that version only: a newer one stays)
        (void)disk_->removePath(*path, [&img](const Version& v) { return v == img.version; });
    if (st && from) {
        from->promotions++;
        from->bytes_up += img.data.size();
    }
    return true;
}

// With write_through, the version a writer committed is published to the cluster. (Its commit
// already queued, in the same step, the erase of the older copies in every tier, kept in the
// segment until confirmed: a copy dropped here, for want of room, leaves only a miss.)
void TierChain::written(EntryId id) {
    if (!settings_.write_through || !remote_) return;
    auto img = top_.exportEntry(id);
    if (!img) return;
    const std::string path = img->path;
    const Version version = img->version;
    // The copy was taken outside the pool's lock: it is queued only if the path still names this
    // version, under the pool's lock, so that it is ahead of the erase of anything that replaces
    // or removes it.
    (void)top_.whileCurrent(path, version, [&] { enqueue(Target::Remote, std::move(*img)); });
}

// Erasures are small and must not be lost to a full queue (a stale copy would come back), so
// they are queued past the bound.
void TierChain::queueErase(Target target, const Removal& r) {
    if (stop_) return;
    Item item{target, EntryImage{}, true, {}};
    item.image.path = r.tree ? r.path + "/" : r.path;
    item.image.version = r.version;
    if (r.record) {
        item.records.push_back(r.record);
        record_refs_[r.record]++;
    }
    queue_bytes_ += item.cost();
    notePending(item, true);
    queue_.push_back(std::move(item));
    queue_cv_.notify_one();
}

// One step under queue_mutex_: every item holding r.record is counted before the worker can
// store (and give back) the first.
void TierChain::eraseEverywhere(const Removal& r) {
    if (disk_) queueErase(Target::Disk, r);
    if (remote_) queueErase(Target::Remote, r);
}

// Copies on their way down below the removed path, older than the removal, are dropped.
void TierChain::obsolete(const Removal& r) {
    const std::string erased = r.tree ? r.path + "/" : r.path;
    std::lock_guard lk(queue_mutex_);
    for (auto it = queue_.begin(); it != queue_.end();) {
        if (!it->erase && covers(erased, it->image.path) && it->image.version < r.version) {
            queue_bytes_ -= it->cost();
            it = queue_.erase(it);
        } else {
            ++it;
        }
    }
    eraseEverywhere(r);
}

void TierChain::obsoleteTree(const Removal& r) {
    obsolete(r);
}

// Every key of the tree on every master, found by SCAN, gets a tombstone of the removal's
// version (a key another host wrote since keeps its newer value); false if a master did not
// answer or a tombstone was not confirmed (then all of it is tried again).
bool TierChain::eraseTree(const std::string& prefix, const Version& removed) {
    const std::string key_prefix = remoteKey(settings_.remote_namespace, top_.name(), prefix);
    std::string pattern;
    for (char c : key_prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
        pattern += c;
    }
    pattern += '*';
    auto keys = remote_->scan(pattern);
    if (!keys) return false;
    const size_t path_at = key_prefix.size() - prefix.size();
    bool all = true;
    for (const std::string& k : *keys) {
        Item tomb{Target::Remote, EntryImage{}, true, {}};
        tomb.image.path = k.substr(path_at);
        tomb.image.version = removed;
        if (!putRemote(tomb)) all = false;
    }
    return all;
}

void TierChain::renamed(const std::string& path) {
    if (settings_.write_through && remote_)
        if (auto img = top_.exportEntry(path)) enqueue(Target::Remote, std::move(*img));
}

bool TierChain::drain(uint64_t timeout_ms) {
    std::unique_lock lk(queue_mutex_);
    return idle_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
        return (queue_.empty() && retries_.empty() && !busy_) || stop_;
    });
}

TierStats TierChain::stats() {
    TierStats s;
    s.has_disk = disk_ != nullptr;
    s.has_remote = remote_ != nullptr;
    s.disk = snapshotOf(disk_counters_);
    s.remote = snapshotOf(remote_counters_);
    if (disk_) {
        const PoolStats d = disk_->stats();
        s.disk.entries = d.entries;
        s.disk.used_bytes = d.used_bytes;
        s.disk.capacity_bytes = d.capacity_bytes;
    }
    if (remote_) s.remote_nodes = remote_->nodes().size();
    s.queue_hits = queue_hits_;
    s.tombstones = top_.keptTombstones();
    s.queue_limit_bytes = settings_.demote_queue_bytes;
    std::lock_guard lk(queue_mutex_);
    // The item the worker is storing counts until it is stored (its counters updated), so an
    // empty queue means nothing is left to do.
    s.queue_entries = queue_.size() + retries_.size() + (busy_ ? 1 : 0);
    s.queue_bytes = queue_bytes_;
    return s;
}

}  // namespace kvc
