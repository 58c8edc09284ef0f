// InodeIndex: a pool's inodes by id, and the paths between them.
//
// It holds every entry and directory the pool knows, named or not: an entry that lost its last
// name lives on while it is open or the front end still holds a lookup of it, and is then
// "removed" (no entry of the pool, AccessInfo::pool_entries leaves it out). A directory's names
// are in its Inode (by_name, by_slot), each inode's own names in Inode::names; the index reads
// them to resolve paths. Paths are pool-relative ("llama/blk-01"): chain parents and lower
// tiers name entries by them.
//
// It knows nothing of records, blocks or the policy. Called under Pool::meta_.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/inode.h"
#include "core/result.h"

namespace kvc {

class InodeIndex {
  public:
    using Map = std::unordered_map<EntryId, std::shared_ptr<Inode>>;

    // `pool_name` is used in messages only.
    explicit InodeIndex(std::string pool_name) : pool_name_(std::move(pool_name)) {}

    Inode* find(EntryId id) const;
    std::shared_ptr<Inode> shared(EntryId id) const;
    // A directory that still has its name: ENOENT (no such id, or removed), ENOTDIR.
    Result<Inode*> dir(EntryId id) const;
    // What `name` names in `dir`: ENOENT when nothing.
    Result<Inode*> child(const Inode* dir, std::string_view name) const;
    // What a pool-relative path names, or nullptr.
    Inode* resolve(std::string_view path) const;
    // The path of `name` in `dir` ("a/b/name"); of an inode, by its first name (it must have
    // one).
    std::string pathOf(EntryId dir, std::string_view name) const;
    std::string pathOf(const Inode& ino) const;
    // Whether `node` is `ancestor` or below it (a directory may not move into its subtree).
    bool isInside(const Inode* ancestor, const Inode* node) const;

    Inode* add(std::shared_ptr<Inode> ino);
    // The inode lost its last name: from now on it is no entry of the pool.
    void markRemoved(Inode& ino);
    // Forgets the inode for good.
    void erase(const Inode& ino);
    Map::iterator erase(Map::iterator it);

    // Generations continue from a base raised at every attach, so an id reused after a restart
    // never comes back with a generation it had before.
    void startGenerations(uint64_t base) { next_generation_ = (base << 32) + 1; }
    uint64_t newGeneration() { return next_generation_++; }

    size_t size() const { return inodes_.size(); }
    // Entries and directories that have a name (removed ones left out).
    size_t entries() const { return inodes_.size() - removed_; }
    Map::iterator begin() { return inodes_.begin(); }
    Map::iterator end() { return inodes_.end(); }
    Map::const_iterator begin() const { return inodes_.begin(); }
    Map::const_iterator end() const { return inodes_.end(); }

  private:
    std::string pool_name_;
    Map inodes_;
    uint64_t removed_ = 0;
    uint64_t next_generation_ = 1;
};

}  // namespace kvc
