// LFU: evicts the candidate with the fewest accesses; among equals the one accessed longest ago,
// then the lower id.
//
// The key is (access count, last access), taken from the entry's history on insert, so a
// re-inserted entry keeps the frequency it earned. A hit raises the count, which usually moves
// the entry into the middle of the order: O(log n). The count saturates instead of wrapping, so
// a very hot entry never becomes the coldest.
#include <cstdint>
#include <limits>
#include <utility>

#include "core/policy/ordered_candidates.h"
#include "core/policy/policies.h"

namespace kvc {
namespace {

using LfuKey = std::pair<uint32_t, uint64_t>;  // (access count, last access)

class LfuPolicy final : public OrderedPolicy<LfuKey> {
  public:
    std::string_view name() const override { return "lfu"; }

  protected:
    LfuKey keyFor(const AccessInfo& info) const override {
        return {info.access_count, info.last_access};
    }
    LfuKey keyAfterAccess(const LfuKey& key, uint64_t now) const override {
        const uint32_t count =
            key.first == std::numeric_limits<uint32_t>::max() ? key.first : key.first + 1;
        return {count, now};
    }
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeLfuPolicy() {
    return std::make_unique<LfuPolicy>();
}

}  // namespace kvc
