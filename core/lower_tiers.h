// LowerTiers: what a pool tells the tiers below its shared memory (a disk tier, a remote tier)
// and asks of them. The pool fires these itself, from the operations that change a name's
// version, so that no front end (the FUSE adapter, a restore, a later data path) can forget a
// step: a lower copy older than what the pool holds must never come back.
//
// TierChain (core/tiers/tier_chain.h) implements it and registers itself with
// Pool::setLowerTiers while it lives.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/inode.h"
#include "core/version.h"

namespace kvc {

// A removal to tell the tiers of: the lower copies of `path` (of every path below the directory
// `path` for obsoleteTree) older than `version` are obsolete. `version` is the removal's own
// (later than every copy it makes obsolete, earlier than what the pool puts at `path`
// afterwards), or the new version a commit made (a copy of that version may still be stored):
// a tier that keeps tombstones keeps it, so that an older copy is never stored there again.
// `record`: the pool's durable tombstone for it, to be given back with Pool::dropTombstone once
// every tier confirmed it; 0 when none was kept.
struct Removal {
    std::string path;
    Version version;
    uint64_t record = 0;
    bool tree = false;  // obsoleteTree's
};

class LowerTiers {
  public:
    virtual ~LowerTiers() = default;

    // --- called under the pool's lock, in the same step as the change: they must only queue ---
    // (taking LowerTiers' own locks after Pool::meta_, never the reverse). A lookup that misses
    // after the change finds the erase queued and stops there.

    // The lower copies of r.path are older than the pool now (removed, renamed away, replaced
    // by a rename, or a new version committed: then r.version is that version's own): they go.
    virtual void obsolete(const Removal& r) = 0;
    // The same for every lower copy below the directory r.path ("a/b" covers "a/b/..."): the
    // directory was removed, renamed away or replaced, and the copies of the names below it
    // would come back older (or another entry's) under a directory made there later.
    virtual void obsoleteTree(const Removal& r) = 0;

    // --- called without the pool's lock: they may read the pool ---

    // A name the pool lacks: copy it up from below. True when the pool has it afterwards.
    virtual bool promote(EntryId dir, std::string_view name) = 0;
    // A writer released entry `id`, or a truncating open emptied it. Its new version's commit
    // already made the older lower copies obsolete (obsolete(), with the new version as the
    // removal's: a copy of that very version may still be stored); this is the moment to
    // publish it (write_through).
    virtual void written(EntryId id) = 0;
    // A rename or a link put an entry at `path` (its old copies went through obsolete()).
    virtual void renamed(const std::string& path) = 0;
};

}  // namespace kvc
