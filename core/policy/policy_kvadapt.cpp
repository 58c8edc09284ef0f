// kvadapt: an eviction policy for KV-cache prefix chains that learns online how long each kind
// of block is worth keeping.
//
// In a KV cache most blocks are never read again (a prompt seen once), a block reused once is
// likely to be reused again, a chain's last block is almost never reused (the next turn of the
// conversation replaces it), and reuses come after a think time, not at once. Which of these
// matters, and how much, depends on the workload and the capacity, so kvadapt measures it:
//
//   - it sees every reference of a name: a hit (observeHit) or the committed write of a block
//     that missed (observeWrite), on its own clock of references, which counts these and nothing
//     else (no wall-clock time), so its choices depend on the sequence of operations alone;
//   - it keeps a history of name hashes reaching 8 cache-fulls of references back, with each
//     name's reference count, chain depth (its parent's + 1), the length of the longest chain
//     through it (the largest depth below it), whether it ever had a child, and how many new
//     names its latest request wrote;
//   - a request is a run of references along one chain: the hits of its cached prefix, then the
//     writes below them; it ends when a reference does not continue it (a hit after a write, a
//     hit not below the previous name, a write not below the previous name). Only then is its
//     count of new names (written and not in the history) known, and every name it referenced
//     takes it; until then a written name has the count so far (exact for the chain's last
//     block, the only one that is a candidate meanwhile);
//   - each reference opens an interval of a class: times referenced (1, 2, 3-4, 5-8, 9+) x chain
//     tail or interior x chain depth (1-3, 4-15, 16+) x chain length (1-15, 16-63, 64+) x new
//     names of its request (0-1, 2-3, 4-7, 8+): 360 classes;
//   - a RetentionLearner estimates, per class, the chance of a reuse against the time since the
//     last reference, and from it the worth of keeping an entry of that class at a given age
//     (retention_learner.h); a class's estimate starts from 256 intervals' worth of its group's
//     (the four classes that differ only by the request's new names), so a rare class follows
//     its group; it is refitted every cache-full of references, and the counts of ended
//     intervals halve every 32;
//   - the victim is the candidate worth least: per class the candidates wait in order of last
//     reference, and the oldest of each class is compared. With nothing learned every class is
//     worth the same and the oldest goes: LRU.
//
// The only constants are structural: the class boundaries (powers of two and four), the history
// horizon, the refit and halving periods (in cache-fulls of references), the bins (four per
// octave) and the group prior (256 intervals: the one constant chosen by measurement, among 4,
// 32, 256 and 2,000, on the conversation trace and the workload suite's tuning seeds).
//
// Engine hints come through user.kvcache.priority: an entry with a negative priority (the engine
// says its conversation has ended) is evicted before every other candidate, one with a positive
// priority (the conversation is still open) after every other candidate; oldest first within
// each band. Since a parent is never a candidate while a cached child names it, a hint on the
// last block of a chain covers the whole chain.
//
// Cost: insert, access, remove, setPriority O(log n); pickVictim O(non-empty classes + log n);
// a reference O(1) amortised (the end of a request revisits the names it referenced once), plus
// a refit every cache-full of references that walks the history once and every class's bins.
// Memory: up to 8 history records (about 100 bytes each, with the history queue) per pool entry.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"
#include "core/policy/retention_learner.h"

namespace kvc {
namespace {

constexpr size_t kCountClasses = 5, kDepthClasses = 3, kLengthClasses = 3;
// The latest request of a name: how many new names it wrote (0-1, 2-3, 4-7, 8+).
constexpr size_t kRequestClasses = 4;
// A class's estimate starts from this many intervals' worth of its group's (the same class
// without the request's kind), so a class seen rarely follows its group.
constexpr double kGroupPrior = 256;
constexpr size_t kClasses = kCountClasses * 2 * kDepthClasses * kLengthClasses * kRequestClasses;
// Queues: one per class, then the two hint bands.
constexpr size_t kDone = kClasses, kRetained = kClasses + 1, kQueues = kClasses + 2;

constexpr uint64_t kHistoryCachefuls = 8;  // how far back the history reaches
constexpr uint64_t kDecayCachefuls = 32;   // ended intervals count half after this long

struct Record {
    uint64_t hash = 0;
    uint64_t last_ref = 0;    // the policy's clock at the latest reference
    uint64_t parent = 0;      // the parent's name hash (0: none)
    uint32_t count = 0;       // references seen (saturating)
    uint32_t depth = 1;       // 1 + the parent's depth
    uint32_t length = 1;      // the longest chain through it: the largest depth below it seen
    uint32_t candidates = 0;  // candidates of this name (more than one: same name, other dirs)
    EntryId cand = 0;         // the latest candidate id inserted for it
    uint8_t request = 0;      // the class of its latest request (requestClass)
    bool had_child = false;
    // The latest reference is still in the history, its interval awaiting its outcome (a reuse,
    // or being forgotten unreused).
    bool open = false;
};

// Chain length in powers of four, from where depth's classes stop: 1-15, 16-63, 64+.
size_t lengthClass(uint32_t n) {
    return n < 16 ? 0 : n < 64 ? 1 : 2;
}

// New names a request wrote, in powers of two: 0-1, 2-3, 4-7, 8+.
uint8_t requestClass(uint32_t new_names) {
    return new_names < 2 ? 0 : new_names < 4 ? 1 : new_names < 8 ? 2 : 3;
}

size_t classOf(const Record& r) {
    const size_t times = r.count <= 1   ? 0
                         : r.count == 2 ? 1
                         : r.count <= 4 ? 2
                         : r.count <= 8 ? 3
                                        : 4;
    const size_t depth = r.depth < 4 ? 0 : r.depth < 16 ? 1 : 2;
    const size_t tail = r.had_child ? 0 : 1;
    return (((times * 2 + tail) * kDepthClasses + depth) * kLengthClasses + lengthClass(r.length)) *
               kRequestClasses +
           r.request;
}

// A class's group: the same class without the request's kind.
std::vector<size_t> requestGroups() {
    std::vector<size_t> group_of(kClasses);
    for (size_t c = 0; c < kClasses; ++c) group_of[c] = c / kRequestClasses;
    return group_of;
}

class KvAdaptPolicy final : public EvictionPolicy {
  public:
    std::string_view name() const override { return "kvadapt"; }

    void insert(EntryId id, const AccessInfo& info) override {
        if (candidates_.contains(id))
            throw std::logic_error("kvadapt: insert of an id already present");
        capacity_ = std::max<uint64_t>({capacity_, info.pool_entries, candidates_.size() + 1});
        auto found = records_.find(info.key_hash);
        Record* r = found == records_.end() ? nullptr : &found->second;
        if (!r) {
            // Known to the pool but not to us (a policy switch, or forgotten while a chain
            // parent or being written): a record for its class, without an interval to learn
            // from. Its write was a reference too.
            r = &records_.emplace(info.key_hash, Record{}).first->second;
            r->hash = info.key_hash;
            r->last_ref = clock_;
            r->count = std::min<uint32_t>(info.access_count, UINT32_MAX - 1) + 1;
            link(*r, info.parent_hash);
        }
        // else: written (observeWrite), back from being a chain parent, or first seen through a
        // hit: not a reference of its own.
        r->had_child = r->had_child || info.had_children;
        r->candidates++;
        r->cand = id;
        const Candidate cand{r, queueFor(*r, info.priority)};
        qInsert(cand.queue, id, r->last_ref);
        candidates_.emplace(id, cand);
    }

    // A write is a reference of the name (the block missed and was computed), placed under its
    // parent, and a new name of its request when the history does not know it.
    void observeWrite(const AccessInfo& info) override {
        capacity_ = std::max<uint64_t>(capacity_, info.pool_entries);
        // A write below the request's latest reference continues it; any other starts one.
        if (!info.parent_hash || info.parent_hash != req_last_) endRequest();
        if (!records_.contains(info.key_hash)) ++req_fresh_;
        Record* r = reference(info.key_hash, info.parent_hash);
        r->had_child = r->had_child || info.had_children;
        ++req_writes_;
        req_last_ = info.key_hash;
        req_hashes_.push_back(info.key_hash);
        // Provisional until the burst ends; exact for its last block, the only candidate.
        r->request = requestClass(req_fresh_);
    }

    void observeHit(uint64_t key_hash, uint64_t /*now*/) override {
        // A hit after a write, or not below the previous one, starts a request.
        auto known = records_.find(key_hash);
        if (req_writes_ || known == records_.end() || known->second.parent != req_last_ ||
            !req_last_)
            endRequest();
        reference(key_hash, 0);
        req_last_ = key_hash;
        req_hashes_.push_back(key_hash);
    }

    void access(EntryId id, uint64_t /*now*/) override {
        auto found = candidates_.find(id);
        if (found == candidates_.end()) return;
        Candidate& c = found->second;
        move(id, c, isBand(c.queue) ? c.queue : classOf(*c.rec));
    }

    void setPriority(EntryId id, int32_t priority) override {
        auto found = candidates_.find(id);
        if (found == candidates_.end()) return;
        move(id, found->second, queueFor(*found->second.rec, priority));
    }

    void remove(EntryId id) override {
        auto found = candidates_.find(id);
        if (found == candidates_.end()) return;
        qErase(found->second.queue, id);
        release(found->second.rec);
        candidates_.erase(found);
    }

    std::optional<EntryId> pickVictim() override {
        if (candidates_.empty()) return std::nullopt;
        size_t queue = kRetained;
        if (queues_[kDone].size()) {
            queue = kDone;
        } else if (auto cls = victimClass()) {
            queue = *cls;
        }
        const EntryId victim = *queues_[queue].popMin();
        if (!queues_[queue].size()) nonempty_[queue / 64] &= ~(uint64_t{1} << (queue % 64));
        auto found = candidates_.find(victim);
        release(found->second.rec);
        candidates_.erase(found);
        return victim;
    }

    bool contains(EntryId id) const override { return candidates_.contains(id); }
    size_t size() const override { return candidates_.size(); }

    void verify() const override {
        auto fail = [](const char* what) {
            throw std::logic_error(std::string("kvadapt: ") + what);
        };
        size_t total = 0;
        for (const auto& q : queues_) {
            q.verify("kvadapt");
            total += q.size();
        }
        if (total != candidates_.size()) fail("queue sizes differ from the candidate count");
        for (size_t q = 0; q < kQueues; ++q)
            if (!queues_[q].size() != !(nonempty_[q / 64] >> (q % 64) & 1))
                fail("the non-empty queue set is wrong");
        for (const auto& [id, c] : candidates_) {
            if (c.queue >= kQueues) fail("queue out of range");
            if (!queues_[c.queue].contains(id)) fail("a candidate is missing from its queue");
            if (!c.rec->candidates) fail("a candidate's record does not count it");
            auto r = records_.find(c.rec->hash);
            if (r == records_.end() || &r->second != c.rec)
                fail("a candidate's record is not indexed");
        }
        for (const auto& [at, rec] : history_)
            if (!records_.contains(rec->hash)) fail("the history points at a forgotten record");
        if (history_.size() > historyLength() + 1) fail("history longer than its horizon");
    }

  private:
    struct Candidate {
        Record* rec;
        size_t queue;
    };

    static bool isBand(size_t queue) { return queue == kDone || queue == kRetained; }
    static size_t queueFor(const Record& r, int32_t priority) {
        return priority < 0 ? kDone : priority > 0 ? kRetained : classOf(r);
    }

    uint64_t historyLength() const { return kHistoryCachefuls * std::max<uint64_t>(capacity_, 1); }

    // Places `r` below its parent (when the history knows it): its depth, the parent's
    // had_child, and the length of the chains through its ancestors, walked up only while an
    // ancestor's length class grows (so at most twice per record over its life).
    void link(Record& r, uint64_t parent_hash) {
        r.parent = parent_hash;
        auto p = parent_hash ? records_.find(parent_hash) : records_.end();
        r.depth = p == records_.end() ? 1 : std::min<uint32_t>(p->second.depth, 1u << 30) + 1;
        r.length = std::max(r.length, r.depth);
        if (p == records_.end()) return;
        p->second.had_child = true;
        for (Record* up = &p->second; up && lengthClass(up->length) < lengthClass(r.length);) {
            up->length = r.length;
            auto next = up->parent ? records_.find(up->parent) : records_.end();
            up =
                next == records_.end() || next->second.depth >= up->depth ? nullptr : &next->second;
        }
    }

    // One reference of a name: closes its open interval (a reuse), opens the next.
    Record* reference(uint64_t hash, uint64_t parent_hash) {
        ++clock_;
        auto [it, fresh] = records_.try_emplace(hash);
        Record& r = it->second;
        if (!fresh && r.open) learner_.reused(classOf(r), clock_ - r.last_ref);
        if (fresh) r.hash = hash;
        if (fresh || parent_hash) link(r, parent_hash);
        r.count = std::min<uint32_t>(r.count, UINT32_MAX - 1) + 1;
        r.last_ref = clock_;
        r.open = true;
        history_.emplace_back(clock_, &r);
        forgetOld();
        if (clock_ >= next_refit_) refit();
        if (clock_ >= next_decay_) {
            learner_.decay();
            next_decay_ = clock_ + kDecayCachefuls * std::max<uint64_t>(capacity_, 1);
        }
        return &r;
    }

    // Drops references older than the horizon; an interval still open then ends unreused.
    void forgetOld() {
        const uint64_t horizon = historyLength();
        while (!history_.empty() && history_.front().first + horizon < clock_) {
            auto [at, rec] = history_.front();
            history_.pop_front();
            if (rec->last_ref != at) continue;  // referenced again since
            if (rec->open) learner_.forgotten(classOf(*rec));
            rec->open = false;
            if (!rec->candidates) records_.erase(rec->hash);
        }
    }

    // A record leaves the candidates; kept while the history still needs it.
    void release(Record* rec) {
        rec->candidates--;
        if (!rec->candidates && !rec->open) records_.erase(rec->hash);
    }

    void refit() {
        std::vector<RetentionLearner::Bins> open(kClasses, RetentionLearner::Bins{});
        for (const auto& [at, rec] : history_)
            if (rec->last_ref == at && rec->open)
                open[classOf(*rec)][RetentionLearner::binOf(clock_ - at)] += 1;
        learner_.refit(open);
        next_refit_ = clock_ + std::max<uint64_t>(capacity_, 64);
    }

    void qInsert(size_t queue, EntryId id, uint64_t key) {
        queues_[queue].insert(id, key);
        nonempty_[queue / 64] |= uint64_t{1} << (queue % 64);
    }
    void qErase(size_t queue, EntryId id) {
        queues_[queue].erase(id);
        if (!queues_[queue].size()) nonempty_[queue / 64] &= ~(uint64_t{1} << (queue % 64));
    }

    // The request has ended: every name it referenced takes its request class (how many new
    // names it wrote), and a candidate among them moves to its class's queue.
    void endRequest() {
        if (!req_hashes_.empty()) {
            const uint8_t cls = requestClass(req_fresh_);
            for (uint64_t hash : req_hashes_) {
                auto found = records_.find(hash);
                if (found == records_.end() || found->second.request == cls) continue;
                Record& r = found->second;
                r.request = cls;
                if (!r.candidates) continue;
                auto cand = candidates_.find(r.cand);
                if (cand != candidates_.end() && cand->second.rec == &r &&
                    !isBand(cand->second.queue))
                    move(r.cand, cand->second, classOf(r));
            }
        }
        req_hashes_.clear();
        req_writes_ = req_fresh_ = 0;
        req_last_ = 0;
    }

    void move(EntryId id, Candidate& c, size_t queue) {
        if (queue == c.queue) {
            queues_[queue].update(id, c.rec->last_ref);
            return;
        }
        qErase(c.queue, id);
        qInsert(queue, id, c.rec->last_ref);
        c.queue = queue;
    }

    // The class whose oldest candidate is worth least; ties go to the older. nullopt when every
    // class queue is empty.
    std::optional<size_t> victimClass() const {
        std::optional<size_t> best;
        double best_worth = std::numeric_limits<double>::infinity();
        uint64_t best_ref = UINT64_MAX;
        for (size_t word = 0; word < kClasses / 64 + 1; ++word) {
            for (uint64_t bits = nonempty_[word]; bits; bits &= bits - 1) {
                const size_t c = word * 64 + static_cast<size_t>(std::countr_zero(bits));
                if (c >= kClasses) break;
                const uint64_t* last_ref = queues_[c].minKey();
                const double w = learner_.worth(c, clock_ - std::min(clock_, *last_ref));
                if (!best || w < best_worth || (w == best_worth && *last_ref < best_ref)) {
                    best = c;
                    best_worth = w;
                    best_ref = *last_ref;
                }
            }
        }
        return best;
    }

    std::array<OrderedCandidates<uint64_t>, kQueues> queues_;
    std::array<uint64_t, kQueues / 64 + 1> nonempty_{};  // bit q: queues_[q] is not empty
    std::unordered_map<EntryId, Candidate> candidates_;
    std::unordered_map<uint64_t, Record> records_;      // by name hash
    std::deque<std::pair<uint64_t, Record*>> history_;  // references, oldest first
    RetentionLearner learner_{kClasses, requestGroups(), kGroupPrior};
    uint64_t capacity_ = 0;  // the largest pool entry (or candidate) count seen
    uint64_t clock_ = 0;     // references seen
    uint64_t next_refit_ = 0, next_decay_ = 0;
    // The current request: the names it referenced, its writes, how many of them were new (not
    // in the history), and its latest name.
    std::vector<uint64_t> req_hashes_;
    uint32_t req_writes_ = 0, req_fresh_ = 0;
    uint64_t req_last_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeKvAdaptPolicy() {
    return std::make_unique<KvAdaptPolicy>();
}

}  // namespace kvc
