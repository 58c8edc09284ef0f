// Priority: evicts the candidate with the lowest user.kvcache.priority; among equals the one
// accessed longest ago (LRU within a priority level), then the lower id.
//
// The key is (priority, last access). A hit refreshes the recency inside the level; a priority
// change (setPriority) moves the entry to its new level with its recency intact.
#include <cstdint>
#include <utility>

#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

using PriorityKey = std::pair<int32_t, uint64_t>;  // (priority, last access)

class PriorityPolicy final : public OrderedPolicy<PriorityKey> {
  public:
    std::string_view name() const override { return "priority"; }

  protected:
    PriorityKey keyFor(const AccessInfo& info) const override {
        return {info.priority, info.last_access};
    }
    PriorityKey keyAfterAccess(const PriorityKey& key, uint64_t now) const override {
        return {key.first, now};
    }
    PriorityKey keyWithPriority(const PriorityKey& key, int32_t priority) const override {
        return {priority, key.second};
    }
};

}  // namespace

std::unique_ptr<EvictionPolicy> makePriorityPolicy() {
    return std::make_unique<PriorityPolicy>();
}

}  // namespace kvc
