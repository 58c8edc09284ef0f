// FIFO: evicts the candidate created first (ties: lower id first). Hits do not reorder.
//
// The key is the creation time, not the time the entry became a candidate, so an entry
// re-inserted later (a parent whose last child went) keeps its place in the queue.
#include <cstdint>

#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

class FifoPolicy final : public OrderedPolicy<uint64_t> {
  public:
    std::string_view name() const override { return "fifo"; }

  protected:
    uint64_t keyFor(const AccessInfo& info) const override { return info.inserted_at; }
    uint64_t keyAfterAccess(const uint64_t& key, uint64_t /*now*/) const override { return key; }
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeFifoPolicy() {
    return std::make_unique<FifoPolicy>();
}

}  // namespace kvc
