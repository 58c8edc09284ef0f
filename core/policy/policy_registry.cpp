// The one place that lists the built-in eviction policies and creates them by name.
#include "core/policy/eviction_policy.h"
#include "core/policy/policies.h"
#include "core/text.h"

namespace kvc {
namespace {

struct PolicyEntry {
    const char* name;
    std::unique_ptr<EvictionPolicy> (*make)();
    const char* use;  // when to choose it, one line (kvcachefs policies)
};

// In the order --help lists them: the classics first, then the scan-resistant FIFO variants,
// then those made for KV-cache prefix chains.
constexpr PolicyEntry kPolicies[] = {
    {"lru", makeLruPolicy, "the default: recent reuse predicts the next, with no hints needed"},
    {"lfu", makeLfuPolicy, "a stable hot set (shared system prompts) that must outlive bursts"},
    {"fifo", makeFifoPolicy, "the cheapest: hits cost nothing; for streams read once, in order"},
    {"priority", makePriorityPolicy,
     "the engine knows best: user.kvcache.priority orders eviction, then recency"},
    {"sieve", makeSievePolicy, "like lru, cheaper per hit and resistant to one-off scans"},
    {"s3fifo", makeS3FifoPolicy, "many blocks read once (batch prefill) beside a reused core"},
    {"lru+admit", makeLruAdmitPolicy,
     "blocks seen once go first: keeps the reused ones when most are never asked again"},
    {"kvadapt", makeKvAdaptPolicy,
     "prefix chains (parents set): learns online what to keep; the best on the replayed traces"},
};

}  // namespace

const std::vector<std::string>& policyNames() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const PolicyEntry& p : kPolicies) v.emplace_back(p.name);
        return v;
    }();
    return names;
}

std::vector<PolicyUse> policyUses() {
    std::vector<PolicyUse> out;
    for (const PolicyEntry& p : kPolicies) out.push_back({p.name, p.use});
    return out;
}

std::unique_ptr<EvictionPolicy> makePolicy(std::string_view name) {
    for (const PolicyEntry& p : kPolicies)
        if (equalsIgnoreCase(name, p.name)) return p.make();
    return nullptr;
}

}  // namespace kvc
