// Prefix chains and the rule that keeps every entry of one evictable.
//
// An entry may name its chain parent by pool-relative path (user.kvcache.parent), and a parent is
// never evicted while a cached child names it. An entry on a loop (A's parent B and B's parent A,
// or S its own parent) would be such a parent for ever: never evicted, yet outside the pin
// budget. So the rule: following parents from any entry never comes back to it. It is kept
//   - by setxattr of user.kvcache.parent, which refuses (EINVAL) a path that would close a loop;
//   - by every operation that gives an entry a name some child names as its parent: rename
//     (of an entry or of a directory above it), RENAME_EXCHANGE, link, a tier import (so a
//     restore, made of these, too) and the attach of a segment an older daemon wrote. They
//     succeed, as POSIX says they must, and the entry that closed the loop forgets its parent
//     hint (Pool::settleChains): a hint may be forgotten, never make an entry unevictable;
//   - by the snapshot verifier, which refuses an image whose entries loop, before a restore
//     changes anything.
// Cost: a walk follows parents until an entry without one, a path that names no entry, or an
// entry that an earlier walk of the same finder cleared. So checking one entry costs the depth
// of its chain, and a whole pool or image costs the number of its entries.
#pragma once

#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

namespace kvc {

template <class Node, class Hash = std::hash<Node>>
class ChainLoopFinder {
  public:
    // Follows `parent` (Node -> std::optional<Node>) from `start`. Returns the first node the
    // walk meets twice (it is on the loop: the walk from a node on a loop comes back to it
    // first), or nothing if the walk ends.
    template <class ParentOf>
    std::optional<Node> loopFrom(const Node& start, ParentOf&& parent) {
        std::vector<Node> walk;
        std::unordered_set<Node, Hash> on_walk;
        for (std::optional<Node> cur = start; cur && !cleared_.count(*cur); cur = parent(*cur)) {
            if (!on_walk.insert(*cur).second) return cur;
            walk.push_back(*cur);
        }
        cleared_.insert(walk.begin(), walk.end());
        return std::nullopt;
    }

  private:
    std::unordered_set<Node, Hash> cleared_;  // nodes whose walk ended without a loop
};

}  // namespace kvc
