// SIEVE (Zhang et al., "SIEVE is Simpler than LRU", NSDI'24): a FIFO queue with one "visited" bit
// per entry and a hand that sweeps from the oldest entry towards the newest. A hit only sets the
// bit (no reordering, the cheapest possible hit path). Eviction moves the hand, clearing the bits
// it passes, and evicts the first entry whose bit is clear; the hand then stays where it stopped,
// so entries that survived keep their place and new entries are judged on their own hits.
//
// Every bit the hand clears was set by one access, so pickVictim() is O(1) amortised; the rest
// is O(1). History on re-insert is deliberately not used: an entry (re)enters at the newest end,
// unvisited, and earns its place again within one sweep.
#include <list>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/policy/policies.h"

namespace kvc {
namespace {

class SievePolicy final : public EvictionPolicy {
  public:
    SievePolicy() = default;
    // The hand is an iterator into queue_ (possibly its end()), so a copy would point into the
    // original.
    SievePolicy(const SievePolicy&) = delete;
    SievePolicy& operator=(const SievePolicy&) = delete;

    std::string_view name() const override { return "sieve"; }

    void insert(EntryId id, const AccessInfo& /*info*/) override {
        if (index_.contains(id)) throw std::logic_error("sieve: insert of an id already present");
        index_.emplace(id, queue_.insert(queue_.end(), Node{id, false}));
    }

    void access(EntryId id, uint64_t /*now*/) override {
        if (auto found = index_.find(id); found != index_.end()) found->second->visited = true;
    }

    void remove(EntryId id) override {
        auto found = index_.find(id);
        if (found == index_.end()) return;
        erase(found->second);
    }

    std::optional<EntryId> pickVictim() override {
        if (queue_.empty()) return std::nullopt;
        auto it = hand_ == queue_.end() ? queue_.begin() : hand_;
        while (it->visited) {
            it->visited = false;
            if (++it == queue_.end()) it = queue_.begin();  // wrap from newest to oldest
        }
        const EntryId victim = it->id;
        hand_ = it;  // erase() moves the hand on to the next newer entry
        erase(it);
        return victim;
    }

    bool contains(EntryId id) const override { return index_.contains(id); }
    size_t size() const override { return index_.size(); }

    void verify() const override {
        auto fail = [](const char* what) { throw std::logic_error(std::string("sieve: ") + what); };
        if (index_.size() != queue_.size()) fail("index size differs from queue size");
        bool hand_seen = hand_ == queue_.end();
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
            auto found = index_.find(it->id);
            if (found == index_.end()) fail("queue holds an id missing from the index");
            if (found->second != it) fail("index does not point at the queue element of its id");
            hand_seen = hand_seen || it == hand_;
        }
        if (!hand_seen) fail("hand points outside the queue");
    }

  private:
    struct Node {
        EntryId id;
        bool visited;
    };
    using Queue = std::list<Node>;

    // Removes one entry; a hand resting on it moves on to the next newer entry, as after an
    // eviction.
    void erase(Queue::iterator it) {
        if (it == hand_) ++hand_;
        index_.erase(it->id);
        queue_.erase(it);
    }

    Queue queue_;  // oldest first: begin() is the paper's tail, back() its head
    Queue::iterator hand_ = queue_.end();  // next entry to examine; end(): start at the oldest
    std::unordered_map<EntryId, Queue::iterator> index_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeSievePolicy() {
    return std::make_unique<SievePolicy>();
}

}  // namespace kvc
