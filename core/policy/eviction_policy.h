// EvictionPolicy: the one interface every eviction policy implements.
//
// A policy orders the *candidates* of a pool: entries that may be evicted right now. The pool
// decides eligibility (not pinned, not open for writing, no cached child in a prefix chain) and
// inserts or removes entries as that changes; the policy only decides order. So pickVictim()
// never has to skip anything and stays O(1) or O(log n).
//
// Not thread-safe: the pool serialises calls under its metadata lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvc {

using EntryId = uint64_t;

// What a policy may know about an entry when it (re)becomes a candidate. A re-inserted entry
// (a parent whose last child went, a policy switch) brings its history, so recency- and
// frequency-based policies place it where it belongs rather than at the front.
struct AccessInfo {
    uint64_t key_hash = 0;      // hash of the entry's name: ghost lists survive id reuse
    uint64_t last_access = 0;   // pool's logical clock at the last access (monotonic)
    uint64_t inserted_at = 0;   // logical clock at creation
    uint32_t access_count = 0;  // accesses since creation
    int32_t priority = 0;       // user.kvcache.priority; higher stays longer
    bool had_children = false;  // has been the user.kvcache.parent of a cached entry
    uint64_t parent_hash = 0;   // name hash of its user.kvcache.parent (0: none)
    uint64_t pool_entries = 0;  // entries in the pool now (0: unknown); sizes ghost lists
};

class EvictionPolicy {
  public:
    virtual ~EvictionPolicy() = default;

    virtual std::string_view name() const = 0;

    // Adds a candidate. Inserting an id already present is a logic error.
    virtual void insert(EntryId id, const AccessInfo& info) = 0;
    // Records a hit on a candidate; `now` is the pool's logical clock. Unknown ids are ignored.
    virtual void access(EntryId id, uint64_t now) = 0;
    // Sees every request of an entry, on candidates and non-candidates alike (a chain parent is
    // read far more often than a leaf), by the entry's name hash: a `.match` hit, or an open for
    // reading that is not the engine loading what the latest `.match` just reported (that is
    // the same request). Policies that learn from the request stream use it. Called before
    // access() for a candidate; access() alone is a read within a request.
    virtual void observeHit(uint64_t /*key_hash*/, uint64_t /*now*/) {}
    // Sees every committed write of an entry (new contents under its name), when the write is
    // committed: the writer's flush or close, before the entry can become a candidate. `info`
    // is the entry's as insert() would get it. Policies that learn from the request stream use
    // it; an insert() is then never a write of its own (the entry may also come back from being
    // a chain parent, or join after a policy switch).
    virtual void observeWrite(const AccessInfo& /*info*/) {}
    // Changes the priority of a candidate (only Priority-like policies care).
    virtual void setPriority(EntryId /*id*/, int32_t /*priority*/) {}
    // Removes a candidate (deleted, pinned, opened for writing, got a child). Unknown: ignored.
    virtual void remove(EntryId id) = 0;
    // Chooses the next victim, removes it from the policy and returns it; nullopt when empty.
    virtual std::optional<EntryId> pickVictim() = 0;

    virtual bool contains(EntryId id) const = 0;
    virtual size_t size() const = 0;
    // Checks internal invariants; throws std::logic_error naming the broken one.
    virtual void verify() const = 0;
};

// The policy names a pool accepts, in the order --help lists them.
const std::vector<std::string>& policyNames();
// Each policy with a line on when to choose it, in the same order.
struct PolicyUse {
    std::string name;
    std::string use;
};
std::vector<PolicyUse> policyUses();
// Creates a policy by name (case-insensitive); nullptr for an unknown name.
std::unique_ptr<EvictionPolicy> makePolicy(std::string_view name);

}  // namespace kvc
