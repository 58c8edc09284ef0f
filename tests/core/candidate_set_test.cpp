// Tests of CandidateSet on an index built by hand: only entries eviction may take are in the
// policy (pinned, written, uncommitted, nameless entries, directories and chain parents are
// not), chain references follow names (a parent made after its child is bound too), a loop is
// broken by dropping one parent hint, pins expire at their time and not before, victims come
// in the policy's order, and a policy switch keeps every candidate.
#include "core/candidate_set.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace kvc {
namespace {

class CandidateSetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = add(kPoolRootId, 0040755);
        root_->nlink = 2;
    }

    Inode* add(EntryId id, uint32_t mode) {
        auto ino = std::make_shared<Inode>();
        ino->id = id;
        ino->mode = mode;
        return index_.add(std::move(ino));
    }

    // A committed entry named `name` at the top of the pool, then refreshed.
    Inode* entry(const std::string& name, const std::string& parent = {}) {
        Inode* ino = add(next_id_++, 0100644);
        const uint64_t slot = next_slot_++;
        ino->parent = parent;
        root_->by_slot.emplace(slot, DirSlot{name, ino->id});
        root_->by_name.emplace(name, NameSlot{slot, ino->id});
        ino->names.emplace_back(kPoolRootId, slot);
        ino->nlink = 1;
        ino->last_tick = set_.nextTick();
        set_.addChainRef(ino);
        set_.bindChain(kPoolRootId, name, ino, true);
        set_.refresh(ino);
        return ino;
    }

    InodeIndex index_{"test"};
    CandidateSet set_{index_, makePolicy("lru")};
    Inode* root_ = nullptr;
    EntryId next_id_ = kFirstEntryId;
    uint64_t next_slot_ = 0;
};

TEST_F(CandidateSetTest, OnlyEntriesEvictionMayTakeAreCandidates) {
    Inode* plain = entry("plain");
    EXPECT_TRUE(plain->in_policy);
    Inode* pinned = entry("pinned");
    pinned->pinned = true;
    set_.refresh(pinned);
    Inode* written = entry("written");
    written->write_opens = 1;
    set_.refresh(written);
    Inode* dirty = entry("dirty");
    dirty->dirty = true;
    set_.refresh(dirty);
    Inode* nameless = entry("nameless");
    nameless->nlink = 0;
    set_.refresh(nameless);
    Inode* dir = add(next_id_++, 0040755);
    dir->nlink = 2;
    set_.refresh(dir);
    EXPECT_TRUE(plain->in_policy);
    for (Inode* ino : {pinned, written, dirty, nameless, dir})
        EXPECT_FALSE(ino->in_policy) << ino->id;
    EXPECT_EQ(set_.policy().size(), 1u);
    EXPECT_NO_THROW(set_.verify());
    written->write_opens = 0;  // the writer closed
    set_.refresh(written);
    EXPECT_TRUE(written->in_policy);
    EXPECT_NO_THROW(set_.verify());
}

TEST_F(CandidateSetTest, AChainParentIsNoCandidateWhileAChildNamesIt) {
    Inode* parent = entry("blk-0");
    Inode* child = entry("blk-1", "blk-0");
    EXPECT_FALSE(parent->in_policy);
    EXPECT_TRUE(child->in_policy);
    EXPECT_EQ(parent->chain_children, 1u);
    set_.dropChainRef(child);  // the child went
    EXPECT_TRUE(parent->in_policy);
    EXPECT_NO_THROW(set_.verify());
}

TEST_F(CandidateSetTest, AParentMadeAfterItsChildIsBoundToIt) {
    Inode* child = entry("blk-1", "blk-0");
    Inode* parent = entry("blk-0");  // bindChain at its name finds the child's reference
    EXPECT_EQ(parent->chain_children, 1u);
    EXPECT_FALSE(parent->in_policy);
    EXPECT_TRUE(child->in_policy);
    set_.bindChain(kPoolRootId, "blk-0", parent, false);  // renamed away
    EXPECT_TRUE(parent->in_policy);
}

TEST_F(CandidateSetTest, ALoopIsBrokenByDroppingOneParentHint) {
    Inode* a = entry("a", "b");
    Inode* b = entry("b", "a");  // closes the loop a -> b -> a
    EXPECT_FALSE(a->in_policy);
    EXPECT_FALSE(b->in_policy);
    auto changed = set_.settleChains();
    ASSERT_EQ(changed.size(), 1u);
    EXPECT_TRUE(changed[0]->parent.empty());
    // One of them is now evictable: following parents never comes back to an entry.
    EXPECT_TRUE(a->in_policy || b->in_policy);
    EXPECT_TRUE(set_.settleChains().empty());
    EXPECT_NO_THROW(set_.verify());
}

TEST_F(CandidateSetTest, APinExpiresAtItsTimeAndNotBefore) {
    Inode* ino = entry("pinned");
    ino->pinned = true;
    ino->pin_expires_ns = 1000;
    set_.trackPin(*ino);
    set_.refresh(ino);
    EXPECT_TRUE(set_.expirePins(999).empty());
    EXPECT_TRUE(ino->pinned);
    auto unpinned = set_.expirePins(1000);
    ASSERT_EQ(unpinned.size(), 1u);
    EXPECT_EQ(unpinned[0], ino);
    EXPECT_FALSE(ino->pinned);
    EXPECT_EQ(ino->pin_expires_ns, 0);
    EXPECT_TRUE(ino->in_policy);
}

TEST_F(CandidateSetTest, AnUntrackedPinNeverExpires) {
    Inode* ino = entry("pinned");
    ino->pinned = true;
    ino->pin_expires_ns = 1000;
    set_.trackPin(*ino);
    set_.untrackPin(*ino);  // unpinned by hand, or the entry went
    EXPECT_TRUE(set_.expirePins(5000).empty());
}

TEST_F(CandidateSetTest, VictimsComeInThePolicysOrder) {
    Inode* first = entry("first");
    Inode* second = entry("second");
    Inode* third = entry("third");
    set_.touch(first);  // now the most recent
    EXPECT_EQ(set_.takeVictim(), second);
    EXPECT_FALSE(second->in_policy);
    EXPECT_EQ(set_.takeVictim(), third);
    EXPECT_EQ(set_.takeVictim(), first);
    EXPECT_EQ(set_.takeVictim(), nullptr);
}

TEST_F(CandidateSetTest, APolicySwitchKeepsEveryCandidateInRecencyOrder) {
    Inode* first = entry("first");
    Inode* second = entry("second");
    set_.touch(first);
    set_.replacePolicy(makePolicy("lfu"));
    EXPECT_EQ(set_.policy().name(), "lfu");
    EXPECT_EQ(set_.policy().size(), 2u);
    EXPECT_NO_THROW(set_.verify());
    EXPECT_EQ(set_.takeVictim(), second);
    EXPECT_EQ(set_.takeVictim(), first);
}

}  // namespace
}  // namespace kvc
