// The one place that lists the built-in eviction policies and creates them by name.
#include "core/policy/eviction_policy.h"
#include "core/policy/policies.h"
#include "core/text.h"

namespace kvc {
namespace {

struct PolicyEntry {
    const char* name;
    std::unique_ptr<EvictionPolicy> (*make)();
};

// In the order --help lists them: the classics first, then the scan-resistant FIFO variants,
// then those made for KV-cache prefix chains.
constexpr PolicyEntry kPolicies[] = {
    {"lru", makeLruPolicy},
    {"lfu", makeLfuPolicy},
    {"fifo", makeFifoPolicy},
    {"priority", makePriorityPolicy},
    {"sieve", makeSievePolicy},
    {"s3fifo", makeS3FifoPolicy},
    {"lru+admit", makeLruAdmitPolicy},
    {"kvadapt", makeKvAdaptPolicy},
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

std::unique_ptr<EvictionPolicy> makePolicy(std::string_view name) {
    for (const PolicyEntry& p : kPolicies)
        if (equalsIgnoreCase(name, p.name)) return p.make();
    return nullptr;
}

}  // namespace kvc
