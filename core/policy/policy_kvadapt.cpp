// kvadapt: an eviction policy for KV-cache prefix chains that learns online whether blocks seen
// only once deserve space.
//
// In a KV cache most blocks are never read again (a prompt seen once), while a block that was
// reused once is likely to be reused again. Keeping blocks seen once on probation (evicted before
// any block seen twice, "admission on second sight") wins when the cache is small against the
// working set, and loses first reuses when it is large; where the crossover lies depends on the
// workload and the capacity. So kvadapt runs both rules as shadow caches of name hashes (no
// data: a hash list each, as many as the pool has entries, with ghost lists of twice that) over
// the stream of requests the pool shows it (every hit through observeHit, every miss as the
// insert of a newly written entry), scores each by its hits with exponential forgetting over
// about one cache's worth of requests, and evicts by the rule that is currently scoring higher:
//
//   recency       the least recently used candidate (LRU)
//   second sight  the least recently used candidate seen once; LRU among the rest when none
//
// "Seen once" means: never accessed since it was written, and not written again while its name
// hash was in the ghost list of recently evicted names. The ghost list also keeps the status of
// an entry that left the candidates without being evicted (it became a chain parent), so a block
// keeps it when its last child goes. On ties, a block that never had a child (a chain's tail) goes
// before an interior one.
//
// Engine hints come through user.kvcache.priority: an entry with a negative priority (the engine
// says its conversation has ended) is evicted before every other candidate, one with a positive
// priority (the conversation is still open) after every other candidate; LRU within each band.
// Since a parent is never a candidate while a cached child names it, a hint on the last block of
// a chain covers the whole chain.
//
// Cost: insert, access, remove, setPriority and pickVictim O(log n) (candidates sit in LRU queues
// keyed by last access, usually appended at the end); observeHit O(1) (two shadow lookups).
// Memory: per pool entry at most seven hashes (shadows and ghost lists) besides the candidates.
#include <algorithm>
#include <array>
#include <cstdint>
#include <list>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/policy/ghost_list.h"
#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

enum Class : uint8_t { kFresh = 0, kOnce = 1, kAgain = 2, kClasses = 3 };
// Queues: the three classes, then the two hint bands.
enum Queue : uint8_t { kDone = 3, kRetained = 4, kQueues = 5 };

// An LRU list of hashes with an index: the building block of the shadow caches.
class HashLru {
  public:
    HashLru() = default;
    HashLru(const HashLru&) = delete;
    HashLru& operator=(const HashLru&) = delete;

    bool contains(uint64_t h) const { return index_.contains(h); }
    void pushBack(uint64_t h) { index_.emplace(h, order_.insert(order_.end(), h)); }
    void toBack(uint64_t h) { order_.splice(order_.end(), order_, index_.at(h)); }
    void erase(uint64_t h) {
        auto it = index_.find(h);
        order_.erase(it->second);
        index_.erase(it);
    }
    uint64_t popFront() {
        const uint64_t h = order_.front();
        index_.erase(h);
        order_.pop_front();
        return h;
    }
    size_t size() const { return order_.size(); }

  private:
    std::list<uint64_t> order_;  // least recent first
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> index_;
};

// Shadow of the recency rule: LRU over `capacity` hashes.
class ShadowRecency {
  public:
    bool request(uint64_t h, size_t capacity) {
        if (lru_.contains(h)) {
            lru_.toBack(h);
            return true;
        }
        lru_.pushBack(h);
        while (lru_.size() > capacity) lru_.popFront();
        return false;
    }

  private:
    HashLru lru_;
};

// Shadow of the second-sight rule: hashes seen once wait on probation and leave first (into a
// ghost list); a hit, or a miss on a ghost, admits to the main LRU.
class ShadowSecondSight {
  public:
    bool request(uint64_t h, size_t capacity) {
        if (main_.contains(h)) {
            main_.toBack(h);
            return true;
        }
        if (probation_.contains(h)) {
            probation_.erase(h);
            main_.pushBack(h);
            return true;
        }
        if (ghost_.take(h))
            main_.pushBack(h);
        else
            probation_.pushBack(h);
        while (probation_.size() + main_.size() > capacity) {
            if (probation_.size())
                ghost_.remember(probation_.popFront(), true);
            else
                main_.popFront();
        }
        ghost_.trim(2 * capacity);
        return false;
    }

  private:
    HashLru probation_, main_;
    GhostList<bool> ghost_;
};

class KvAdaptPolicy final : public EvictionPolicy {
  public:
    std::string_view name() const override { return "kvadapt"; }

    void insert(EntryId id, const AccessInfo& info) override {
        if (meta_.contains(id)) throw std::logic_error("kvadapt: insert of an id already present");
        capacity_ = std::max<size_t>({capacity_, info.pool_entries, meta_.size() + 1});
        now_ = std::max(now_, info.last_access);
        uint8_t cls = info.access_count > 0 ? kAgain : info.had_children ? kOnce : kFresh;
        if (auto parked = parked_.take(info.key_hash)) {
            cls = std::max(cls, *parked);  // back from being a parent: not a new request
        } else {
            if (ghost_.take(info.key_hash)) cls = kAgain;               // evicted, and wanted again
            if (info.access_count == 0) request(info.key_hash, false);  // a newly written block
        }
        const Meta m{cls, queueFor(cls, info.priority), info.key_hash};
        queues_[m.queue].insert(id, info.last_access);
        meta_.emplace(id, m);
    }

    void observeHit(uint64_t key_hash, uint64_t now) override {
        now_ = std::max(now_, now);
        request(key_hash, true);
    }

    void access(EntryId id, uint64_t now) override {
        auto found = meta_.find(id);
        if (found == meta_.end()) return;
        now_ = std::max(now_, now);
        Meta& m = found->second;
        m.cls = kAgain;
        const bool banded = m.queue == kDone || m.queue == kRetained;
        move(id, m, banded ? m.queue : uint8_t{kAgain}, now);
    }

    void setPriority(EntryId id, int32_t priority) override {
        auto found = meta_.find(id);
        if (found == meta_.end()) return;
        Meta& m = found->second;
        move(id, m, queueFor(m.cls, priority), *queues_[m.queue].keyOf(id));
    }

    void remove(EntryId id) override {
        auto found = meta_.find(id);
        if (found == meta_.end()) return;
        queues_[found->second.queue].erase(id);
        parked_.remember(found->second.hash, found->second.cls);
        parked_.trim(ghostCapacity());
        meta_.erase(found);
    }

    std::optional<EntryId> pickVictim() override {
        if (meta_.empty()) return std::nullopt;
        uint8_t queue = kRetained;
        if (queues_[kDone].size()) {
            queue = kDone;
        } else if (auto cls = victimClass()) {
            queue = *cls;
        }
        const EntryId victim = *queues_[queue].popMin();
        auto found = meta_.find(victim);
        ghost_.remember(found->second.hash, true);
        ghost_.trim(ghostCapacity());
        meta_.erase(found);
        return victim;
    }

    bool contains(EntryId id) const override { return meta_.contains(id); }
    size_t size() const override { return meta_.size(); }

    void verify() const override {
        auto fail = [](const char* what) {
            throw std::logic_error(std::string("kvadapt: ") + what);
        };
        size_t total = 0;
        for (const auto& q : queues_) {
            q.verify("kvadapt");
            total += q.size();
        }
        if (total != meta_.size()) fail("queue sizes differ from the candidate count");
        for (const auto& [id, m] : meta_) {
            if (m.queue >= kQueues || m.cls >= kClasses) fail("class or queue out of range");
            if (!queues_[m.queue].contains(id)) fail("a candidate is missing from its queue");
            if (m.queue < kClasses && m.queue != m.cls) fail("an unhinted entry is off its class");
        }
        ghost_.verify("kvadapt");
        parked_.verify("kvadapt");
        if (ghost_.size() > ghostCapacity() || parked_.size() > ghostCapacity())
            fail("ghost list over capacity");
    }

    // Which rule the policy follows now (for tests): true for second sight.
    bool followsSecondSight() const { return lead_ > 0; }

  private:
    struct Meta {
        uint8_t cls;
        uint8_t queue;
        uint64_t hash;
    };

    static uint8_t queueFor(uint8_t cls, int32_t priority) {
        return priority < 0 ? uint8_t{kDone} : priority > 0 ? uint8_t{kRetained} : cls;
    }

    void move(EntryId id, Meta& m, uint8_t queue, uint64_t key) {
        if (queue == m.queue) {
            queues_[queue].update(id, key);
            return;
        }
        queues_[m.queue].erase(id);
        queues_[queue].insert(id, key);
        m.queue = queue;
    }

    // One request of the pool's stream (a hit, or the write of a block that missed), shown to
    // both shadows. lead_ is the decayed difference of their hits: second sight minus recency.
    void request(uint64_t hash, bool /*hit*/) {
        const size_t capacity = std::max<size_t>(capacity_, 1);
        const int a = recency_.request(hash, capacity) ? 1 : 0;
        const int b = second_sight_.request(hash, capacity) ? 1 : 0;
        const double window = static_cast<double>(std::max<size_t>(capacity, 64));
        lead_ = lead_ * (1.0 - 1.0 / window) + (b - a);
    }

    // The class to evict from: the one holding the least recently used candidate (recency), or
    // the least recently used among those seen once, if any (second sight). Ties go to the lower
    // class. nullopt when all are empty.
    std::optional<uint8_t> victimClass() const {
        const uint8_t last =
            followsSecondSight() && (queues_[kFresh].size() || queues_[kOnce].size()) ? kOnce
                                                                                      : kAgain;
        std::optional<uint8_t> best;
        uint64_t oldest = UINT64_MAX;
        for (uint8_t c = 0; c <= last; ++c) {
            const uint64_t* key = queues_[c].minKey();
            if (key && *key < oldest) {
                oldest = *key;
                best = c;
            }
        }
        return best;
    }

    // Twice the largest pool entry (or candidate) count seen, as ARC's directory.
    size_t ghostCapacity() const { return 2 * capacity_; }

    std::array<OrderedCandidates<uint64_t>, kQueues> queues_;
    std::unordered_map<EntryId, Meta> meta_;
    GhostList<bool> ghost_;      // hashes of evicted entries
    GhostList<uint8_t> parked_;  // class of entries removed while candidates (chain parents)
    ShadowRecency recency_;
    ShadowSecondSight second_sight_;
    double lead_ = 0;
    size_t capacity_ = 0;  // the largest pool entry (or candidate) count seen: shadows' size
    uint64_t now_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeKvAdaptPolicy() {
    return std::make_unique<KvAdaptPolicy>();
}

}  // namespace kvc
