// GhostList: a bounded FIFO of name hashes with a small tag each, the memory of entries that
// left the policy (evicted, or removed while they were a chain parent). Private to core/policy.
//
// A hash appears at most once, at its most recent position; when the list is over capacity the
// oldest hashes go. Every operation is O(1) (amortised for trim). Keyed by the name's hash, not
// the entry id, so the memory survives an entry being written again under a new id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace kvc {

template <class Tag>
class GhostList {
  public:
    GhostList() = default;
    // The index holds iterators into the list, so a member-wise copy would point into the original.
    GhostList(const GhostList&) = delete;
    GhostList& operator=(const GhostList&) = delete;

    // Remembers `hash` with `tag` as the newest element (replacing an older record of it).
    void remember(uint64_t hash, Tag tag) {
        take(hash);
        index_.emplace(hash, order_.insert(order_.end(), {hash, tag}));
    }

    // Forgets `hash` and returns its tag; nullopt when it was not remembered.
    std::optional<Tag> take(uint64_t hash) {
        auto found = index_.find(hash);
        if (found == index_.end()) return std::nullopt;
        Tag tag = found->second->second;
        order_.erase(found->second);
        index_.erase(found);
        return tag;
    }

    // Drops the oldest hashes until at most `capacity` remain.
    void trim(size_t capacity) {
        while (order_.size() > capacity) {
            index_.erase(order_.front().first);
            order_.pop_front();
        }
    }

    size_t size() const { return order_.size(); }

    void verify(std::string_view policy) const {
        auto fail = [&](const char* what) {
            throw std::logic_error(std::string(policy) + ": " + what);
        };
        if (index_.size() != order_.size()) fail("ghost index size differs from ghost size");
        for (auto it = order_.begin(); it != order_.end(); ++it) {
            auto found = index_.find(it->first);
            if (found == index_.end() || found->second != it)
                fail("ghost index does not point at the ghost element of its hash");
        }
    }

  private:
    using Order = std::list<std::pair<uint64_t, Tag>>;  // oldest first
    Order order_;
    std::unordered_map<uint64_t, typename Order::iterator> index_;
};

}  // namespace kvc
