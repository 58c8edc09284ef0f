// LRU: evicts the candidate whose last access is oldest (ties: lower id first).
//
// A candidate's key is its last access time, so an entry re-inserted with its history lands
// where its last access puts it, not at the most-recent end. Hits and new entries carry the
// newest clock value and are appended (amortised O(1)); re-inserts with older history are
// placed by an O(log n) search.
#include <cstdint>

#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

class LruPolicy final : public OrderedPolicy<uint64_t> {
  public:
    std::string_view name() const override { return "lru"; }

  protected:
    uint64_t keyFor(const AccessInfo& info) const override { return info.last_access; }
    uint64_t keyAfterAccess(const uint64_t& /*key*/, uint64_t now) const override { return now; }
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeLruPolicy() {
    return std::make_unique<LruPolicy>();
}

}  // namespace kvc
