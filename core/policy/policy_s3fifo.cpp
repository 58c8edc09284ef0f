// S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP'23): three FIFO
// queues. New entries enter a small queue (10% of the candidates); most KV blocks that are never
// read again (one-hit wonders) leave from there quickly. An entry hit while in the small queue
// moves to the main queue when it reaches the small queue's end; one that was not is evicted and
// its key hash remembered in a ghost queue. An entry inserted while its hash is in the ghost
// queue (it was evicted too early) goes straight to the main queue. The main queue is a CLOCK
// with a 2-bit counter: an entry with hits left is re-queued with one hit less.
//
// Adaptation to a pool without a fixed entry capacity: the small queue's share is 10% of the
// current candidates (at least one), and the ghost queue holds at most as many hashes as the
// main queue's share (the other 90%), as in the reference implementation (libCacheSim). Moving
// to main resets the counter, as there. History on re-insert is the ghost queue: it is keyed by
// the name's hash, so it survives id reuse.
//
// Cost: insert, access and remove O(1); pickVictim O(1) amortised (each extra step consumes a hit
// or moves an entry from small to main once).
#include <algorithm>
#include <cstdint>
#include <list>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/policy/policies.h"

namespace kvc {
namespace {

constexpr uint8_t kMaxFreq = 3;       // 2-bit counter
constexpr size_t kSmallPercent = 10;  // the small queue's share of the candidates

class S3FifoPolicy final : public EvictionPolicy {
  public:
    S3FifoPolicy() = default;
    // The indexes hold iterators into the queues, so a member-wise copy would be wrong.
    S3FifoPolicy(const S3FifoPolicy&) = delete;
    S3FifoPolicy& operator=(const S3FifoPolicy&) = delete;

    std::string_view name() const override { return "s3fifo"; }

    void insert(EntryId id, const AccessInfo& info) override {
        if (index_.contains(id)) throw std::logic_error("s3fifo: insert of an id already present");
        const bool ghost_hit = forgetGhost(info.key_hash);
        Queue& queue = ghost_hit ? main_ : small_;
        index_.emplace(id, queue.insert(queue.end(), Node{id, info.key_hash, 0, ghost_hit}));
        // No trimGhost(): one more candidate never lowers the ghost capacity.
    }

    void access(EntryId id, uint64_t /*now*/) override {
        auto found = index_.find(id);
        if (found == index_.end()) return;
        uint8_t& freq = found->second->freq;
        if (freq < kMaxFreq) ++freq;
    }

    void remove(EntryId id) override {
        auto found = index_.find(id);
        if (found == index_.end()) return;
        Queue::iterator it = found->second;
        index_.erase(found);
        queueOf(*it).erase(it);
        trimGhost();
    }

    std::optional<EntryId> pickVictim() override {
        if (index_.empty()) return std::nullopt;
        std::optional<EntryId> victim;
        if (!small_.empty() && (small_.size() >= smallTarget() || main_.empty()))
            victim = evictSmall();
        if (!victim) victim = evictMain();
        index_.erase(*victim);
        trimGhost();
        return victim;
    }

    bool contains(EntryId id) const override { return index_.contains(id); }
    size_t size() const override { return index_.size(); }

    void verify() const override {
        auto fail = [](const char* what) {
            throw std::logic_error(std::string("s3fifo: ") + what);
        };
        if (index_.size() != small_.size() + main_.size())
            fail("index size differs from small + main size");
        for (const Queue* queue : {&small_, &main_}) {
            for (auto it = queue->begin(); it != queue->end(); ++it) {
                auto found = index_.find(it->id);
                if (found == index_.end()) fail("a queue holds an id missing from the index");
                if (found->second != it)
                    fail("index does not point at the queue element of its id");
                if (it->in_main != (queue == &main_)) fail("in_main flag disagrees with its queue");
                if (it->freq > kMaxFreq) fail("frequency counter above its cap");
            }
        }
        if (ghost_index_.size() != ghost_.size()) fail("ghost index size differs from ghost size");
        for (auto it = ghost_.begin(); it != ghost_.end(); ++it) {
            auto found = ghost_index_.find(*it);
            if (found == ghost_index_.end() || found->second != it)
                fail("ghost index does not point at the ghost element of its hash");
        }
        if (ghost_.size() > ghostCapacity()) fail("ghost queue larger than the main share");
    }

  private:
    struct Node {
        EntryId id;
        uint64_t key_hash;
        uint8_t freq;  // hits since entering its queue (small) or since its last re-queue (main)
        bool in_main;
    };
    // Oldest first: begin() is where entries leave, new ones are appended.
    using Queue = std::list<Node>;

    Queue& queueOf(const Node& node) { return node.in_main ? main_ : small_; }

    size_t smallTarget() const { return std::max<size_t>(1, index_.size() * kSmallPercent / 100); }
    size_t ghostCapacity() const {
        const size_t small = smallTarget();
        return index_.size() > small ? index_.size() - small : 0;
    }

    // Takes entries off the small queue until one without hits leaves (returned, hash now in the
    // ghost queue); entries with hits move to main. nullopt when the small queue ran out.
    std::optional<EntryId> evictSmall() {
        while (!small_.empty()) {
            Node& node = small_.front();
            if (node.freq > 0) {
                node.freq = 0;
                node.in_main = true;
                main_.splice(main_.end(), small_, small_.begin());
                continue;
            }
            const EntryId id = node.id;
            rememberGhost(node.key_hash);
            small_.pop_front();
            return id;
        }
        return std::nullopt;
    }

    // CLOCK over the main queue: re-queues entries with hits left, spending one each time.
    EntryId evictMain() {
        for (;;) {
            Node& node = main_.front();
            if (node.freq == 0) {
                const EntryId id = node.id;
                main_.pop_front();
                return id;
            }
            --node.freq;
            main_.splice(main_.end(), main_, main_.begin());
        }
    }

    void rememberGhost(uint64_t hash) {
        forgetGhost(hash);  // a hash appears once, at its most recent position
        ghost_index_.emplace(hash, ghost_.insert(ghost_.end(), hash));
    }

    // Removes `hash` from the ghost queue; true if it was there.
    bool forgetGhost(uint64_t hash) {
        auto found = ghost_index_.find(hash);
        if (found == ghost_index_.end()) return false;
        ghost_.erase(found->second);
        ghost_index_.erase(found);
        return true;
    }

    // Drops the oldest hashes beyond the ghost capacity, which follows the candidate count.
    void trimGhost() {
        const size_t capacity = ghostCapacity();
        while (ghost_.size() > capacity) {
            ghost_index_.erase(ghost_.front());
            ghost_.pop_front();
        }
    }

    Queue small_;
    Queue main_;
    std::unordered_map<EntryId, Queue::iterator> index_;
    std::list<uint64_t> ghost_;  // key hashes of entries evicted from small, oldest first
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> ghost_index_;
};

}  // namespace

std::unique_ptr<EvictionPolicy> makeS3FifoPolicy() {
    return std::make_unique<S3FifoPolicy>();
}

}  // namespace kvc
