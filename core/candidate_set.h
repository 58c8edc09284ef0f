// CandidateSet: which entries eviction may take, and in which order.
//
// An entry is a candidate when eviction could take it now (eligible()): it has a name, is
// committed, is no directory, is not pinned, has no writer, and no cached entry names it as its
// chain parent. The eviction policy orders the candidates; this part keeps the policy's set
// equal to the eligible entries (refresh() after any change of those conditions), and holds
// what the conditions need:
//   - chain references: how many cached children name each parent path, bound to the entry
//     that path names (rename, link and unlink bind and unbind them), and the loop rule of
//     core/chain.h (settleChains);
//   - pin expiry times (user.kvcache.pin_ttl);
//   - the logical clock the policy orders accesses by.
//
// It knows nothing of records: what it changes that a record holds (a pin that expired, a
// parent hint dropped to break a loop) it returns, and the pool writes those records. Called
// under Pool::meta_.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/chain.h"
#include "core/inode.h"
#include "core/inode_index.h"
#include "core/policy/eviction_policy.h"

namespace kvc {

class CandidateSet {
  public:
    CandidateSet(InodeIndex& index, std::unique_ptr<EvictionPolicy> policy);

    static bool eligible(const Inode& ino);
    // Joins or leaves the policy as eligible() says.
    void refresh(Inode* ino);
    // Leaves the policy until the next refresh (an entry being freed, or one making room for
    // itself, which must not evict itself).
    void leave(Inode* ino);
    // The policy's next victim, already out of the policy; nullptr when there is none.
    Inode* takeVictim();
    // An access: recency, counts and atime; `request` says whether it is a new request of the entry
    // (the policy's request stream) or part of one already seen (a read after its .match).
    void touch(Inode* ino, bool request = true);
    void setPriority(Inode* ino, int32_t priority);
    // A write of the entry was committed (new contents): the policy's request stream.
    void written(const Inode& ino) { policy_->observeWrite(accessInfo(ino)); }
    // A tick of the logical clock (a new entry's last access).
    uint64_t nextTick() { return ++tick_; }

    const EvictionPolicy& policy() const { return *policy_; }
    // The candidates move to `next` in recency order with their history, so nothing is lost.
    void replacePolicy(std::unique_ptr<EvictionPolicy> next);

    // --- chain references ---------------------------------------------------------------------
    // A child naming `parent` (at attach, before names are bound).
    void countChainRef(const std::string& parent);
    // A named child's reference to its parent path, taken or given back.
    void addChainRef(Inode* child);
    void dropChainRef(Inode* child);
    // The children naming the path of `name` in `dir` now count for `target` (bind) or no
    // longer do; bindSubtree does it for every entry below a directory (whose paths a rename
    // changes).
    void bindChain(EntryId dir, std::string_view name, Inode* target, bool bind);
    void bindSubtree(Inode* top, bool bind);
    // The first entry met twice following parents from `start`, taking `start_parent` as its
    // parent path (nullptr: no loop).
    Inode* chainLoop(Inode* start, std::string_view start_parent, ChainLoopFinder<Inode*>& finder);
    // For every entry bindChain gave a name that children name, the loop it closed broken by
    // dropping the parent hint of an entry on it. Returns those entries (their records are
    // to be written). Every operation that binds names calls it before it returns.
    std::vector<Inode*> settleChains();

    // --- pins ----------------------------------------------------------------------------------
    // A pin with an expiry time starts or stops being watched.
    void trackPin(const Inode& ino);
    void untrackPin(const Inode& ino);
    // Unpins the entries whose pin_ttl passed by `now_ns`; returns them (records to write).
    std::vector<Inode*> expirePins(int64_t now_ns);

    // Throws std::logic_error when the policy's set is not exactly the eligible entries.
    void verify() const;

  private:
    AccessInfo accessInfo(const Inode& ino) const;
    Inode* chainTarget(std::string_view path) const;

    InodeIndex& index_;
    std::unique_ptr<EvictionPolicy> policy_;
    uint64_t tick_ = 0;
    std::unordered_map<std::string, uint32_t> chain_refs_;  // parent path -> children naming it
    std::vector<EntryId> chain_bound_;  // entries that may close a loop: see settleChains()
    std::set<std::pair<int64_t, EntryId>> pin_expiry_;
};

}  // namespace kvc
