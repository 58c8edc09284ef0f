// Admission on second request ("lru+admit"): a block earns a place in the cache only when it is
// asked for a second time, as some tiered KV managers do; the rest is the inner policy (LRU).
//
// A filesystem cannot refuse a write, and a block written once may be the parent that the very
// next block of the chain names, so "not admitted" here means: the entry is stored, but sits on
// probation and is evicted before anything admitted. Probation is a queue ordered by last access.
// An entry leaves probation for the inner policy when it is read (a hit), or when it is written
// while its name hash is in the ghost list: the hashes of entries evicted from probation, at most
// twice the pool's entry count. An entry removed from the policy while admitted (it got a child,
// was pinned, was opened for writing) keeps its admission through the ghost list.
//
// Only first-seen entries are affected: with a cache large enough to keep first reuses, this
// loses them (a block must be seen twice before it is protected); with a small cache it keeps
// the blocks that are reused from being flushed by the many that are not. The "kvadapt" policy
// learns when to behave like this.
//
// Cost: that of the inner policy, plus O(log n) for the probation queue.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/policy/ghost_list.h"
#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

class AdmitPolicy final : public EvictionPolicy {
  public:
    AdmitPolicy(std::unique_ptr<EvictionPolicy> inner, std::string name)
        : inner_(std::move(inner)), name_(std::move(name)) {}

    std::string_view name() const override { return name_; }

    void insert(EntryId id, const AccessInfo& info) override {
        if (contains(id)) throw std::logic_error(name_ + ": insert of an id already present");
        capacity_ = std::max<size_t>({capacity_, info.pool_entries, hashes_.size() + 1});
        const bool remembered = ghost_.take(info.key_hash).has_value();
        if (remembered || info.access_count > 0) {
            inner_->insert(id, info);
        } else {
            probation_.insert(id, info.last_access);
            waiting_.emplace(id, info);
        }
        hashes_[id] = info.key_hash;
    }

    void access(EntryId id, uint64_t now) override {
        auto found = waiting_.find(id);
        if (found == waiting_.end()) {
            inner_->access(id, now);
            return;
        }
        AccessInfo info = found->second;
        info.last_access = now;
        info.access_count++;
        probation_.erase(id);
        waiting_.erase(found);
        inner_->insert(id, info);
    }

    void setPriority(EntryId id, int32_t priority) override {
        if (auto found = waiting_.find(id); found != waiting_.end())
            found->second.priority = priority;
        else
            inner_->setPriority(id, priority);
    }

    void remove(EntryId id) override {
        auto hash = hashes_.find(id);
        if (hash == hashes_.end()) return;
        if (waiting_.erase(id)) {
            probation_.erase(id);
        } else {
            inner_->remove(id);
            ghost_.remember(hash->second, true);  // keeps its admission across the round trip
        }
        hashes_.erase(hash);
        ghost_.trim(ghostCapacity());
    }

    std::optional<EntryId> pickVictim() override {
        if (auto id = probation_.popMin()) {
            waiting_.erase(*id);
            ghost_.remember(hashes_.at(*id), true);
            hashes_.erase(*id);
            ghost_.trim(ghostCapacity());
            return id;
        }
        auto id = inner_->pickVictim();
        if (id) hashes_.erase(*id);
        return id;
    }

    bool contains(EntryId id) const override { return hashes_.contains(id); }
    size_t size() const override { return hashes_.size(); }

    void verify() const override {
        auto fail = [&](const char* what) { throw std::logic_error(name_ + ": " + what); };
        probation_.verify(name_);
        inner_->verify();
        ghost_.verify(name_);
        if (waiting_.size() != probation_.size()) fail("probation index differs from its queue");
        if (probation_.size() + inner_->size() != hashes_.size())
            fail("probation + admitted differs from the candidate count");
        for (const auto& [id, info] : waiting_)
            if (!probation_.contains(id) || inner_->contains(id))
                fail("a probation entry is missing from probation or also admitted");
        if (ghost_.size() > ghostCapacity()) fail("ghost list over capacity");
    }

  private:
    // Twice the largest pool entry (or candidate) count seen, as ARC's directory; it never
    // shrinks, so the ghost list is within it between calls. A hash costs ~50 bytes, a block KiBs.
    size_t ghostCapacity() const { return 2 * capacity_; }

    std::unique_ptr<EvictionPolicy> inner_;
    std::string name_;
    OrderedCandidates<uint64_t> probation_;            // by last access
    std::unordered_map<EntryId, AccessInfo> waiting_;  // probation entries' history
    std::unordered_map<EntryId, uint64_t> hashes_;     // every candidate's name hash
    GhostList<bool> ghost_;
    size_t capacity_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeLruAdmitPolicy() {
    return std::make_unique<AdmitPolicy>(makeLruPolicy(), "lru+admit");
}

}  // namespace kvc
