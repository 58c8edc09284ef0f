// OrderedCandidates: candidates kept in ascending order of a per-policy key, the common core of
// the key-ordered policies (LRU, LFU, FIFO, Priority), and OrderedPolicy, the EvictionPolicy
// built on it. Private to core/policy.
//
// One ordered set of (key, id) plus an index from id to its set node. Ties are broken by id, so
// the order is total and deterministic. Almost every key a pool hands us is larger than all keys
// present (the logical clock only grows, so a hit or a new entry lands at the back); inserting
// with the end as hint makes those amortised O(1) instead of a search. Keys that arrive out of
// order (an entry re-inserted with its old history, an LFU count bump, a priority change) cost
// O(log n). A re-key moves the existing node (extract + insert), so a hit never allocates.
#pragma once

#include <compare>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/policy/eviction_policy.h"

namespace kvc {

template <class Key>
class OrderedCandidates {
  public:
    OrderedCandidates() = default;
    // The index holds iterators into order_, so a member-wise copy would point into the original.
    OrderedCandidates(const OrderedCandidates&) = delete;
    OrderedCandidates& operator=(const OrderedCandidates&) = delete;

    // Adds `id` with `key`; false (and no change) when `id` is already present.
    bool insert(EntryId id, const Key& key) {
        auto [slot, added] = index_.try_emplace(id);
        if (!added) return false;
        const Item item{key, id};
        countSearch(item);
        slot->second = order_.emplace_hint(order_.end(), item);
        return true;
    }

    // Moves `id` to `key`; false when `id` is unknown.
    bool update(EntryId id, const Key& key) {
        auto slot = index_.find(id);
        if (slot == index_.end()) return false;
        if (slot->second->key == key) return true;  // e.g. a FIFO hit: nothing moves
        auto node = order_.extract(slot->second);
        node.value().key = key;
        countSearch(node.value());
        slot->second = order_.insert(order_.end(), std::move(node));
        return true;
    }

    // Removes `id`; false when unknown.
    bool erase(EntryId id) {
        auto slot = index_.find(id);
        if (slot == index_.end()) return false;
        order_.erase(slot->second);
        index_.erase(slot);
        return true;
    }

    // Removes and returns the id with the smallest key; nullopt when empty.
    std::optional<EntryId> popMin() {
        if (order_.empty()) return std::nullopt;
        const EntryId id = order_.begin()->id;
        order_.erase(order_.begin());
        index_.erase(id);
        return id;
    }

    // The smallest key (the next popMin's), or nullptr when empty. Valid until the next change.
    const Key* minKey() const { return order_.empty() ? nullptr : &order_.begin()->key; }

    // The key of `id`, or nullptr when unknown. Valid until the next change.
    const Key* keyOf(EntryId id) const {
        auto slot = index_.find(id);
        return slot == index_.end() ? nullptr : &slot->second->key;
    }

    bool contains(EntryId id) const { return index_.contains(id); }
    size_t size() const { return index_.size(); }
    // How many placements (inserts and re-keys) were out of order and needed an O(log n)
    // search; the rest were appends. For tests and benchmarks.
    size_t outOfOrderCount() const { return searches_; }

    // Throws std::logic_error prefixed with `policy` when an invariant is broken. O(n).
    void verify(std::string_view policy) const {
        auto fail = [&](const char* what) {
            throw std::logic_error(std::string(policy) + ": " + what);
        };
        if (index_.size() != order_.size()) fail("index size differs from order size");
        // Equal sizes plus "every element's id indexes that very element" make the index and
        // the order the same set of ids.
        for (auto it = order_.begin(); it != order_.end(); ++it) {
            auto slot = index_.find(it->id);
            if (slot == index_.end()) fail("order holds an id missing from the index");
            if (slot->second != it) fail("index does not point at the order element of its id");
        }
    }

  private:
    struct Item {
        Key key;
        EntryId id;
        auto operator<=>(const Item&) const = default;
    };
    using Order = std::set<Item>;

    void countSearch(const Item& item) {
        if (!order_.empty() && !(*order_.rbegin() < item)) ++searches_;
    }

    Order order_;
    std::unordered_map<EntryId, typename Order::iterator> index_;
    size_t searches_ = 0;
};

// An EvictionPolicy whose victim is the candidate with the smallest key. A concrete policy says
// how a candidate's key is derived from its history and how a hit or a priority change alters it.
template <class Key>
class OrderedPolicy : public EvictionPolicy {
  public:
    void insert(EntryId id, const AccessInfo& info) final {
        if (!order_.insert(id, keyFor(info)))
            throw std::logic_error(std::string(name()) + ": insert of an id already present");
    }
    void access(EntryId id, uint64_t now) final {
        if (const Key* key = order_.keyOf(id)) order_.update(id, keyAfterAccess(*key, now));
    }
    void setPriority(EntryId id, int32_t priority) final {
        if (const Key* key = order_.keyOf(id)) order_.update(id, keyWithPriority(*key, priority));
    }
    void remove(EntryId id) final { order_.erase(id); }
    std::optional<EntryId> pickVictim() final { return order_.popMin(); }
    bool contains(EntryId id) const final { return order_.contains(id); }
    size_t size() const final { return order_.size(); }
    void verify() const final { order_.verify(name()); }

  protected:
    virtual Key keyFor(const AccessInfo& info) const = 0;
    virtual Key keyAfterAccess(const Key& key, uint64_t now) const = 0;
    // Most policies ignore priority.
    virtual Key keyWithPriority(const Key& key, int32_t /*priority*/) const { return key; }

  private:
    OrderedCandidates<Key> order_;
};

}  // namespace kvc
