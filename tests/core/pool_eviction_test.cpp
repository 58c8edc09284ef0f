// Tests of eviction and cache control on small pools (64 blocks of 4 KiB): a write into a full
// pool evicts the policy's victims (LRU order after constructed accesses) and succeeds; pinned
// entries and entries open for writing are never chosen; .evict by percent and by free bytes;
// prefix chains are evicted leaves first under every policy; switching policy keeps entries;
// pin budget and pin TTL; resizing the pool (grow, shrink with eviction and relocation); and
// `.match` with its counters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/policy/eviction_policy.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::idOf;
using test::kBlock;
using test::nameSet;
using test::pattern;
using test::putEntry;
using test::sameBytes;

using Names = std::set<std::string>;

std::string blk(int i) {
    return "blk-" + std::to_string(i);
}

class Eviction : public test::PoolFixture {
  protected:
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }

    // A pool of `blocks` blocks holding `count` entries of `blocks_each` blocks, blk-0 oldest.
    void fill(uint64_t blocks, int count, uint64_t blocks_each, std::string policy = "lru",
              uint64_t pin_budget = 0) {
        pool_ = makePool(blocks, std::move(policy), pin_budget);
        ASSERT_NE(pool_, nullptr);
        for (int i = 0; i < count; ++i)
            ids_.push_back(putEntry(p(), kPoolRootId, blk(i), content(i, blocks_each)));
    }
    static std::string content(int i, uint64_t blocks) { return pattern(100 + i, blocks * kBlock); }
    // A reader's access: open for reading and close.
    void access(int i) {
        ASSERT_TRUE(p().open(ids_[i], Access::Read).ok());
        p().release(ids_[i], Access::Read);
    }
    Names namesOf(std::initializer_list<int> idx) {
        Names n;
        for (int i : idx) n.insert(blk(i));
        return n;
    }
    void expectIntact(int i, uint64_t blocks) {
        EXPECT_EQ(idOf(p(), kPoolRootId, blk(i)), ids_[i]) << blk(i);
        EXPECT_TRUE(sameBytes(getEntry(p(), ids_[i]), content(i, blocks))) << blk(i);
    }

    std::unique_ptr<Pool> pool_;
    std::vector<EntryId> ids_;
};

TEST_F(Eviction, FullPoolEvictsLeastRecentlyUsedForANewWrite) {
    fill(64, 8, 8);
    std::vector<Invalidation> dropped;
    p().setInvalidationSink([&](const Invalidation& inv) { dropped.push_back(inv); });
    access(3);
    access(0);
    access(5);
    // LRU order now: 1 2 4 6 7 3 0 5. A 16-block write needs two victims.
    const std::string fresh = pattern(999, 16 * kBlock);
    const EntryId id = putEntry(p(), kPoolRootId, "fresh", fresh);
    ASSERT_NE(id, 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId),
              (Names{"fresh", blk(0), blk(3), blk(4), blk(5), blk(6), blk(7)}));
    EXPECT_TRUE(sameBytes(getEntry(p(), id), fresh));
    for (int i : {0, 3, 4, 5, 6, 7}) expectIntact(i, 8);
    auto s = p().stats();
    EXPECT_EQ(s.counters.evictions, 2u);
    EXPECT_EQ(s.counters.evicted_bytes, 16u * kBlock);
    EXPECT_EQ(s.blocks_used, 64u);
    ASSERT_EQ(dropped.size(), 2u);
    EXPECT_EQ(dropped[0].dir, kPoolRootId);
    EXPECT_EQ(dropped[0].name, blk(1));
    EXPECT_EQ(dropped[0].inode, ids_[1]);
    EXPECT_EQ(dropped[1].name, blk(2));
    p().verify();
}

TEST_F(Eviction, AWriteLargerThanTheFreeSpaceEvictsEnoughAndNoMore) {
    fill(64, 8, 4);  // half full
    const EntryId id = putEntry(p(), kPoolRootId, "big", pattern(5, 40 * kBlock));
    ASSERT_NE(id, 0u);
    // 32 free, 8 more needed: the two oldest go.
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(0)), 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(1)), 0u);
    for (int i = 2; i < 8; ++i) expectIntact(i, 4);
    EXPECT_EQ(p().stats().counters.evictions, 2u);
    // Reading the survivors made "big" the least recently used: it alone makes room now.
    const EntryId all = putEntry(p(), kPoolRootId, "all", pattern(6, 24 * kBlock));
    ASSERT_NE(all, 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId),
              (Names{"all", blk(2), blk(3), blk(4), blk(5), blk(6), blk(7)}));
    EXPECT_EQ(p().stats().counters.evictions, 3u);
    p().verify();
}

TEST_F(Eviction, EverythingPinnedMeansEnospcAndNothingChanges) {
    fill(64, 8, 8);
    for (EntryId id : ids_) ASSERT_TRUE(p().setxattr(id, "user.kvcache.pinned", "1", 0).ok());
    auto attr = p().create(kPoolRootId, "fresh", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(attr.ok());
    const std::string data = pattern(1, kBlock);
    auto w = p().write(attr->id, 0, data.data(), data.size());
    EXPECT_EQ(w.code(), ENOSPC);
    EXPECT_EQ(p().getattr(attr->id)->size, 0u);
    for (int i = 0; i < 8; ++i) expectIntact(i, 8);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    EXPECT_EQ(p().evictPercent(100)->entries, 0u);  // the writer is not a candidate either
    EXPECT_EQ(p().evictUntilFree(kBlock)->entries, 0u);
    p().verify();

    // Unpinning one makes room again, and only that one goes.
    ASSERT_TRUE(p().removexattr(ids_[6], "user.kvcache.pinned").ok());
    ASSERT_TRUE(p().write(attr->id, 0, data.data(), data.size()).ok());
    p().release(attr->id, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(p(), attr->id), data));
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(6)), 0u);
    EXPECT_EQ(p().stats().counters.evictions, 1u);
    p().verify();
}

TEST_F(Eviction, EntriesOpenForWritingAreNeverEvicted) {
    pool_ = makePool(64);
    ASSERT_NE(pool_, nullptr);
    // The oldest entry stays open for writing; the others are complete.
    auto w = p().create(kPoolRootId, "writing", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(w.ok());
    const std::string wdata = pattern(77, 8 * kBlock);
    ASSERT_TRUE(p().write(w->id, 0, wdata.data(), wdata.size()).ok());
    for (int i = 0; i < 7; ++i) ids_.push_back(putEntry(p(), kPoolRootId, blk(i), content(i, 8)));
    EXPECT_EQ(p().stats().blocks_used, 64u);

    ASSERT_NE(putEntry(p(), kPoolRootId, "fresh", pattern(1, 8 * kBlock)), 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).count("writing"), 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(0)), 0u);  // the oldest complete one
    EXPECT_EQ(p().evictPercent(100)->entries, 7u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"writing"}));
    // Growing the writer to the whole pool works: everything else is gone already.
    const std::string rest = pattern(78, 56 * kBlock);
    ASSERT_TRUE(p().write(w->id, wdata.size(), rest.data(), rest.size()).ok());
    // And a second writer finds nothing to evict.
    auto w2 = p().create(kPoolRootId, "second", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(w2.ok());
    EXPECT_EQ(p().write(w2->id, 0, "x", 1).code(), ENOSPC);
    p().release(w2->id, Access::Write);
    p().release(w->id, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(p(), w->id), wdata + rest));
    p().verify();
}

TEST_F(Eviction, AnEntryOpenForReadingIsEvictedButStaysReadableUntilClosed) {
    fill(64, 8, 8);
    ASSERT_TRUE(p().open(ids_[0], Access::Read).ok());  // also makes blk-0 the most recent
    for (int i = 1; i < 8; ++i) access(i);              // ... until these are newer
    auto report = p().evictPercent(100.0 / 8);
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(0)), 0u);
    std::string out(8 * kBlock, '\0');
    ASSERT_EQ(*p().read(ids_[0], 0, out.data(), out.size()), out.size());
    EXPECT_TRUE(sameBytes(out, content(0, 8)));
    EXPECT_EQ(p().stats().blocks_used, 64u);  // the blocks go at the last close
    p().release(ids_[0], Access::Read);
    EXPECT_EQ(p().stats().blocks_used, 56u);
    p().verify();
}

// The kernel keeps its dentry of an evicted name until the eviction's invalidation arrives: a
// stat through it must not show an empty entry (its bytes are gone), but ESTALE, so that the
// kernel looks the name up again. While open, the entry keeps its attributes; an unlinked one
// keeps answering, as fstat of an unlinked file does.
TEST_F(Eviction, AStatOfAnEvictedEntryThroughAnOldReferenceIsStale) {
    fill(64, 8, 8);
    ASSERT_TRUE(p().lookup(kPoolRootId, blk(0)).ok());  // the kernel's reference
    ASSERT_TRUE(p().lookup(kPoolRootId, blk(1)).ok());
    ASSERT_TRUE(p().open(ids_[1], Access::Read).ok());
    for (int i = 2; i < 8; ++i) access(i);
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(2)).ok());
    ASSERT_TRUE(p().lookup(kPoolRootId, blk(3)).ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(3)).ok());  // unlinked, still referenced
    auto report = p().evictPercent(100.0 * 16 / 64);
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->entries, 2u);  // blk-0 and blk-1, the oldest
    EXPECT_EQ(p().getattr(ids_[0]).code(), ESTALE);
    auto open_one = p().getattr(ids_[1]);
    ASSERT_TRUE(open_one.ok());
    EXPECT_EQ(open_one->size, 8 * kBlock);
    p().release(ids_[1], Access::Read);
    EXPECT_EQ(p().getattr(ids_[1]).code(), ESTALE);  // closed: its bytes went
    auto unlinked = p().getattr(ids_[3]);
    ASSERT_TRUE(unlinked.ok());
    EXPECT_EQ(unlinked->nlink, 0u);
    for (int i : {0, 1, 3}) EXPECT_TRUE(p().forget(ids_[i], 1));
    p().verify();
}

TEST_F(Eviction, EvictPercentTakesTheOldest) {
    fill(64, 8, 2);
    access(0);
    access(1);
    auto r = p().evictPercent(25);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->entries, 2u);
    EXPECT_EQ(r->bytes, 4u * kBlock);
    EXPECT_EQ(p().lastEviction().entries, 2u);
    EXPECT_EQ(p().lastEviction().bytes, 4u * kBlock);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0, 1, 4, 5, 6, 7}));
    for (int i : {0, 1, 4, 5, 6, 7}) expectIntact(i, 2);

    EXPECT_EQ(p().evictPercent(101).code(), EINVAL);
    EXPECT_EQ(p().evictPercent(-1).code(), EINVAL);
    EXPECT_EQ(p().evictPercent(0)->entries, 0u);
    EXPECT_EQ(p().lastEviction().entries, 0u);
    EXPECT_EQ(p().evictPercent(100)->entries, 6u);
    EXPECT_EQ(p().stats().blocks_used, 0u);
    EXPECT_EQ(p().stats().counters.evictions, 8u);
    p().verify();
}

TEST_F(Eviction, EvictUntilFree) {
    fill(64, 8, 8);
    auto r = p().evictUntilFree(20 * kBlock);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->entries, 3u);  // 16 free after two, 24 after three
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({3, 4, 5, 6, 7}));
    EXPECT_EQ(p().stats().free_bytes, 24u * kBlock);
    EXPECT_EQ(p().evictUntilFree(10 * kBlock)->entries, 0u);  // already free
    EXPECT_EQ(p().evictUntilFree(p().capacityBytes() + 1).code(), EINVAL);
    EXPECT_EQ(p().evictUntilFree(p().capacityBytes())->entries, 5u);
    p().verify();
}

TEST_F(Eviction, HardLinkedVictimLosesEveryName) {
    fill(64, 2, 8);
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().link(ids_[0], d, "alias").ok());
    EXPECT_EQ(p().evictPercent(50)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"d", blk(1)}));
    EXPECT_TRUE(nameSet(p(), d).empty());
    EXPECT_EQ(p().stats().blocks_used, 8u);
    p().verify();
}

TEST_F(Eviction, MakingRoomForAnAttributeNeverEvictsItsOwnEntry) {
    pool_ = makePool(64);
    ASSERT_NE(pool_, nullptr);
    // The target is the least recently used entry, and the pool is full.
    const EntryId target = putEntry(p(), kPoolRootId, "target", "t");
    for (int i = 0; i < 7; ++i) ids_.push_back(putEntry(p(), kPoolRootId, blk(i), content(i, 9)));
    ASSERT_EQ(p().stats().blocks_used, 64u);
    const std::string big = pattern(3, 10000);  // needs blocks of its own
    ASSERT_TRUE(p().setxattr(target, "user.big", big, 0).ok());
    EXPECT_EQ(idOf(p(), kPoolRootId, "target"), target);
    EXPECT_TRUE(sameBytes(*p().getxattr(target, "user.big"), big));
    EXPECT_TRUE(sameBytes(getEntry(p(), target), "t"));
    EXPECT_EQ(nameSet(p(), kPoolRootId).count(blk(0)), 0u);  // the next oldest went instead
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// Prefix chains, under every policy

class ChainEviction : public Eviction, public ::testing::WithParamInterface<std::string> {};

TEST_P(ChainEviction, LeavesGoFirst) {
    fill(64, 0, 0, GetParam());
    // a <- b <- c, where every hint but the chain says a should go first: it is the oldest,
    // never read, and has the lowest priority.
    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, kBlock));
    const EntryId b = putEntry(p(), kPoolRootId, "b", pattern(2, kBlock));
    const EntryId c = putEntry(p(), kPoolRootId, "c", pattern(3, kBlock));
    ASSERT_TRUE(p().setxattr(b, "user.kvcache.parent", "a", 0).ok());
    ASSERT_TRUE(p().setxattr(c, "user.kvcache.parent", "b", 0).ok());
    ASSERT_TRUE(p().setxattr(a, "user.kvcache.priority", "-10", 0).ok());
    ASSERT_TRUE(p().setxattr(c, "user.kvcache.priority", "10", 0).ok());
    for (int i = 0; i < 3; ++i) {
        for (EntryId id : {b, c, c}) {
            ASSERT_TRUE(p().open(id, Access::Read).ok());
            p().release(id, Access::Read);
        }
    }
    p().verify();
    for (const Names& left : {Names{"a", "b"}, Names{"a"}, Names{}}) {
        auto r = p().evictPercent(1);  // one entry at a time
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->entries, 1u);
        EXPECT_EQ(nameSet(p(), kPoolRootId), left);
        p().verify();
    }
}

TEST_P(ChainEviction, ChainsAcrossDirectoriesAndForFullPools) {
    fill(64, 0, 0, GetParam());
    ASSERT_TRUE(p().mkdir(kPoolRootId, "llama", 0755, 0, 0).ok());
    const EntryId dir = idOf(p(), kPoolRootId, "llama");
    std::vector<EntryId> chain;
    for (int i = 0; i < 8; ++i) {
        chain.push_back(putEntry(p(), dir, blk(i), content(i, 8)));
        if (i == 0) continue;
        ASSERT_TRUE(p().setxattr(chain[i], "user.kvcache.parent", "llama/" + blk(i - 1), 0).ok());
    }
    for (int i = 0; i < 8; ++i) {  // the root of the chain is the most recently used
        ASSERT_TRUE(p().open(chain[i], Access::Read).ok());
        p().release(chain[i], Access::Read);
    }
    // A new 8-block write into the full pool takes the last link.
    ASSERT_NE(putEntry(p(), kPoolRootId, "new", pattern(9, 8 * kBlock)), 0u);
    Names expect;
    for (int i = 0; i < 7; ++i) expect.insert(blk(i));
    EXPECT_EQ(nameSet(p(), dir), expect);
    p().verify();
}

// Test names allow only letters, digits and '_'; policy names may hold others ("lru+admit").
std::string testName(const ::testing::TestParamInfo<std::string>& info) {
    std::string name = info.param;
    for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, ChainEviction, ::testing::ValuesIn(policyNames()), testName);

TEST_F(Eviction, UnlinkingAChildFreesItsParent) {
    fill(64, 2, 1);
    ASSERT_TRUE(p().setxattr(ids_[1], "user.kvcache.parent", blk(0), 0).ok());
    EXPECT_EQ(p().evictPercent(50)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0}));  // the child went, though newer
    // Re-declared and then removed, the parent is evictable again.
    ids_[1] = putEntry(p(), kPoolRootId, blk(1), content(1, 1));
    ASSERT_TRUE(p().setxattr(ids_[1], "user.kvcache.parent", blk(0), 0).ok());
    ASSERT_TRUE(p().removexattr(ids_[1], "user.kvcache.parent").ok());
    EXPECT_EQ(p().evictPercent(50)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({1}));
    p().verify();
}

TEST_F(Eviction, ChainAttributesOfAnUnlinkedEntryChangeNoParent) {
    fill(64, 3, 1);  // blk-0 <- blk-1, blk-0 <- blk-2
    ASSERT_TRUE(p().setxattr(ids_[1], "user.kvcache.parent", blk(0), 0).ok());
    ASSERT_TRUE(p().setxattr(ids_[2], "user.kvcache.parent", blk(0), 0).ok());
    // blk-2 is removed while open; its attributes can still be changed through the open file.
    ASSERT_TRUE(p().open(ids_[2], Access::Read).ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(2)).ok());
    ASSERT_TRUE(p().setxattr(ids_[2], "user.kvcache.parent", blk(0), 0).ok());
    ASSERT_TRUE(p().removexattr(ids_[2], "user.kvcache.parent").ok());
    p().release(ids_[2], Access::Read);
    // blk-1 still depends on blk-0, the oldest: blk-1 must go first.
    EXPECT_EQ(p().evictPercent(1)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0}));
    p().verify();
}

TEST_F(Eviction, RenamingADirectoryMovesTheChainKeysBelowIt) {
    fill(64, 0, 0);
    // c names "m/a" as its parent; once m is renamed, no entry has that path any more.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "m", 0755, 0, 0).ok());
    const EntryId m = idOf(p(), kPoolRootId, "m");
    putEntry(p(), m, "a", "A");
    const EntryId c = putEntry(p(), kPoolRootId, "c", "C");
    ASSERT_TRUE(p().setxattr(c, "user.kvcache.parent", "m/a", 0).ok());
    ASSERT_TRUE(p().rename(kPoolRootId, "m", kPoolRootId, "n", 0).ok());
    p().verify();
    EXPECT_EQ(p().evictPercent(100)->entries, 2u);
    EXPECT_TRUE(nameSet(p(), m).empty());

    // x names "q/a" before it exists; renaming p to q makes p/a its parent.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "p", 0755, 0, 0).ok());
    const EntryId pd = idOf(p(), kPoolRootId, "p");
    putEntry(p(), pd, "a", "A");
    const EntryId x = putEntry(p(), kPoolRootId, "x", "X");
    ASSERT_TRUE(p().setxattr(x, "user.kvcache.parent", "q/a", 0).ok());
    ASSERT_TRUE(p().rename(kPoolRootId, "p", kPoolRootId, "q", 0).ok());
    p().verify();
    EXPECT_EQ(p().evictPercent(1)->entries, 1u);  // the child, though "a" is older
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"n", "q"}));
    EXPECT_EQ(nameSet(p(), pd), (Names{"a"}));
    EXPECT_EQ(p().evictPercent(1)->entries, 1u);
    EXPECT_TRUE(nameSet(p(), pd).empty());
    p().verify();
}

// No operation can make a chain loop (core/chain.h). setxattr refuses the value; rename, link,
// exchange, a directory rename and a tier import succeed, and the entry that closed the loop
// forgets its parent. Either way every entry stays evictable, and eviction empties the pool.
class ChainLoops : public Eviction {
  protected:
    void SetUp() override {
        Eviction::SetUp();
        fill(64, 0, 0);
    }
    EntryId put(EntryId dir, const std::string& name, const std::string& parent = "") {
        const EntryId id = putEntry(p(), dir, name, name);
        if (!parent.empty()) {
            EXPECT_TRUE(p().setxattr(id, "user.kvcache.parent", parent, 0).ok()) << name;
        }
        return id;
    }
    EntryId dir(const std::string& name) {
        auto d = p().mkdir(kPoolRootId, name, 0755, 0, 0);
        EXPECT_TRUE(d.ok());
        return d.ok() ? d->id : 0;
    }
    std::string parentOf(EntryId id) {
        auto v = p().getxattr(id, "user.kvcache.parent");
        return v.ok() ? *v : "-";
    }
    // Every entry is evictable: evicting all of them, leaves first, leaves none.
    void expectAllEvictable(uint64_t entries) {
        p().verify();
        auto r = p().evictPercent(100);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(entries, r->entries);
        EXPECT_EQ(0u, p().stats().entries);
        p().verify();
    }
};

TEST_F(ChainLoops, SetxattrRefusesALoop) {
    const EntryId s = put(kPoolRootId, "s");
    EXPECT_EQ(EINVAL, p().setxattr(s, "user.kvcache.parent", "s", 0).code());
    const EntryId a = put(kPoolRootId, "a", "b");
    const EntryId b = put(kPoolRootId, "b", "c");
    put(kPoolRootId, "c");
    EXPECT_EQ(EINVAL, p().setxattr(put(kPoolRootId, "c2"), "user.kvcache.parent", "c2", 0).code());
    ASSERT_TRUE(p().unlink(kPoolRootId, "c2").ok());
    auto c = idOf(p(), kPoolRootId, "c");
    EXPECT_EQ(EINVAL, p().setxattr(c, "user.kvcache.parent", "a", 0).code());
    EXPECT_EQ("-", parentOf(c));
    EXPECT_EQ("b", parentOf(a));
    EXPECT_EQ("c", parentOf(b));
    expectAllEvictable(4);
}

TEST_F(ChainLoops, RenameOntoTheNameAChildWaitsForDropsTheMovedParent) {
    // a's parent is b, b's parent is c, which does not exist: `mv a c` would close a -> b -> a.
    const EntryId a = put(kPoolRootId, "a", "b");
    const EntryId b = put(kPoolRootId, "b", "c");
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "c", 0).ok());
    EXPECT_EQ("-", parentOf(a));  // the moved entry forgot its hint
    EXPECT_EQ("c", parentOf(b));  // the other kept its own: c is b's parent
    EXPECT_EQ(p().evictPercent(1)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"c"}));  // leaves first
    expectAllEvictable(1);

    // Its own parent by a rename: s names t, then becomes t.
    const EntryId s = put(kPoolRootId, "s", "t");
    ASSERT_TRUE(p().rename(kPoolRootId, "s", kPoolRootId, "t", 0).ok());
    EXPECT_EQ("-", parentOf(s));
    expectAllEvictable(1);
}

TEST_F(ChainLoops, ExchangeLinkAndDirectoryRenameDropTheClosingParent) {
    // Exchange: a -> b -> c; swapping a and c puts a at "c", so b -> (a at c) -> b.
    const EntryId a = put(kPoolRootId, "a", "b");
    const EntryId b = put(kPoolRootId, "b", "c");
    const EntryId c = put(kPoolRootId, "c");
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "c", Pool::kRenameExchange).ok());
    EXPECT_EQ("-", parentOf(a));
    EXPECT_EQ("c", parentOf(b));
    EXPECT_EQ("-", parentOf(c));
    expectAllEvictable(3);

    // Link: x names y; linking x as y makes x its own parent.
    const EntryId x = put(kPoolRootId, "x", "y");
    ASSERT_TRUE(p().link(x, kPoolRootId, "y").ok());
    EXPECT_EQ("-", parentOf(x));
    expectAllEvictable(1);

    // A directory rename: d/a names e/b; x/b names d/a; renaming x to e closes the loop.
    const EntryId d = dir("d");
    const EntryId xd = dir("x");
    const EntryId da = put(d, "a", "e/b");
    const EntryId xb = put(xd, "b", "d/a");
    ASSERT_TRUE(p().rename(kPoolRootId, "x", kPoolRootId, "e", 0).ok());
    EXPECT_EQ("-", parentOf(xb));
    EXPECT_EQ("e/b", parentOf(da));
    expectAllEvictable(2);
}

TEST_F(ChainLoops, TierImportDropsTheClosingParent) {
    const EntryId j = put(kPoolRootId, "j", "i");
    EntryImage img;
    img.path = "i";
    img.data = "imported";
    img.parent = "j";
    ASSERT_TRUE(p().importEntry(img).ok());
    const EntryId i = idOf(p(), kPoolRootId, "i");
    EXPECT_EQ("-", parentOf(i));
    EXPECT_EQ("i", parentOf(j));
    expectAllEvictable(2);
}

TEST_F(ChainLoops, AChainWithoutLoopKeepsEveryParent) {
    // A long chain renamed piece by piece keeps every hint: only a loop costs one.
    constexpr int kLength = 48;  // one block each, in a pool of 64
    for (int i = 0; i < kLength; ++i)
        put(kPoolRootId, "tmp" + std::to_string(i), i ? blk(i - 1) : "");
    for (int i = kLength - 1; i >= 0; --i)
        ASSERT_TRUE(
            p().rename(kPoolRootId, "tmp" + std::to_string(i), kPoolRootId, blk(i), 0).ok());
    for (int i = 1; i < kLength; ++i)
        EXPECT_EQ(blk(i - 1), parentOf(idOf(p(), kPoolRootId, blk(i))));
    expectAllEvictable(kLength);
}

// ---------------------------------------------------------------------------------------------
// Policy, pins, resize

TEST_F(Eviction, SetPolicyAtRunTimeKeepsEveryEntryAndItsHistory) {
    fill(64, 8, 2);
    access(0);
    access(1);
    for (const std::string& name : policyNames()) {
        ASSERT_TRUE(p().setPolicy(name).ok()) << name;
        EXPECT_EQ(p().policyName(), name);
        EXPECT_EQ(p().stats().policy, name);
        EXPECT_EQ(p().stats().entries, 8u) << name;
        p().verify();
    }
    EXPECT_EQ(p().setPolicy("mru").code(), EINVAL);
    EXPECT_EQ(p().policyName(), policyNames().back());  // unchanged by the bad name
    ASSERT_TRUE(p().setPolicy("LRU").ok());
    EXPECT_EQ(p().policyName(), "lru");
    // Back on LRU, the accesses made before the switches still count.
    EXPECT_EQ(p().evictPercent(25)->entries, 2u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0, 1, 4, 5, 6, 7}));
    for (int i : {0, 1, 4, 5, 6, 7}) expectIntact(i, 2);
    p().verify();
}

TEST_F(Eviction, PinBudgetIsEnforced) {
    fill(64, 4, 4, "lru", 8 * kBlock);
    EXPECT_EQ(p().stats().pin_budget_bytes, 8u * kBlock);
    ASSERT_TRUE(p().setxattr(ids_[0], "user.kvcache.pinned", "1", 0).ok());
    ASSERT_TRUE(p().setxattr(ids_[1], "user.kvcache.pinned", "1", 0).ok());
    EXPECT_EQ(p().setxattr(ids_[2], "user.kvcache.pinned", "1", 0).code(), EDQUOT);
    EXPECT_EQ(*p().getxattr(ids_[2], "user.kvcache.pinned"), "0");
    EXPECT_EQ(p().stats().pinned_bytes, 8u * kBlock);
    // Growing a pinned entry past the budget fails and leaves it as it was.
    ASSERT_TRUE(p().open(ids_[1], Access::Write).ok());
    EXPECT_EQ(p().write(ids_[1], 4 * kBlock, "more", 4).code(), EDQUOT);
    p().release(ids_[1], Access::Write);
    expectIntact(1, 4);
    // Extending it by truncation makes a hole: it takes no block, and no budget.
    AttrChange grow;
    grow.size = 8 * kBlock;
    ASSERT_TRUE(p().setattr(ids_[1], grow).ok());
    EXPECT_EQ(p().stats().pinned_bytes, 8u * kBlock);
    grow.size = 4 * kBlock;
    ASSERT_TRUE(p().setattr(ids_[1], grow).ok());
    expectIntact(1, 4);
    // Pinning again the one already pinned is fine; unpinning frees budget.
    EXPECT_TRUE(p().setxattr(ids_[1], "user.kvcache.pinned", "1", 0).ok());
    ASSERT_TRUE(p().setxattr(ids_[0], "user.kvcache.pinned", "0", 0).ok());
    EXPECT_TRUE(p().setxattr(ids_[2], "user.kvcache.pinned", "1", 0).ok());
    EXPECT_EQ(p().stats().pinned_bytes, 8u * kBlock);
    p().verify();
}

TEST_F(Eviction, PinTtlExpiresAndTheEntryIsEvictableAgain) {
    fill(64, 2, 1);
    ASSERT_TRUE(p().setxattr(ids_[0], "user.kvcache.pin_ttl", "1", 0).ok());
    EXPECT_EQ(*p().getxattr(ids_[0], "user.kvcache.pinned"), "1");
    EXPECT_EQ(*p().getxattr(ids_[0], "user.kvcache.pin_ttl"), "1");
    auto listed = p().listxattr(ids_[0]);
    ASSERT_TRUE(listed.ok());
    EXPECT_NE(std::find(listed->begin(), listed->end(), "user.kvcache.pin_ttl"), listed->end());
    EXPECT_EQ(p().evictPercent(100)->entries, 1u);  // only the unpinned one
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0}));

    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    // What the attributes say is current without anything else happening first.
    EXPECT_EQ(*p().getxattr(ids_[0], "user.kvcache.pinned"), "0");
    EXPECT_EQ(p().getxattr(ids_[0], "user.kvcache.pin_ttl").code(), ENODATA);
    EXPECT_EQ(p().stats().pinned_bytes, 0u);
    EXPECT_EQ(p().evictPercent(100)->entries, 1u);
    EXPECT_TRUE(nameSet(p(), kPoolRootId).empty());
    p().verify();
}

TEST_F(Eviction, ResizeGrowAddsRoomWithoutEviction) {
    fill(64, 8, 8);
    ASSERT_TRUE(p().resize(128 * kBlock).ok());
    EXPECT_EQ(p().capacityBytes(), 128u * kBlock);
    EXPECT_EQ(p().stats().blocks_total, 128u);
    ASSERT_NE(putEntry(p(), kPoolRootId, "fresh", pattern(1, 64 * kBlock)), 0u);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    for (int i = 0; i < 8; ++i) expectIntact(i, 8);
    EXPECT_EQ(p().resize(100).code(), EINVAL);  // less than a block
    p().verify();
}

TEST_F(Eviction, ResizeShrinkRelocatesSurvivorsAndEvictsByPolicy) {
    fill(64, 8, 4);  // blk-i at blocks [4i, 4i+4)
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(p().unlink(kPoolRootId, blk(i)).ok());
    std::vector<Invalidation> changed;
    p().setInvalidationSink([&](const Invalidation& inv) { changed.push_back(inv); });

    // 16 blocks in use at [16, 32): fits in 24 without eviction, but 24..31 must move.
    ASSERT_TRUE(p().resize(24 * kBlock).ok());
    EXPECT_EQ(p().capacityBytes(), 24u * kBlock);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    for (int i = 4; i < 8; ++i) expectIntact(i, 4);
    bool moved_told = false;
    for (const Invalidation& inv : changed) moved_told |= inv.name.empty() && inv.inode == ids_[6];
    EXPECT_TRUE(moved_told);
    p().verify();

    // To 8 blocks: the two least recently used go.
    access(4);
    access(5);
    ASSERT_TRUE(p().resize(8 * kBlock).ok());
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({4, 5}));
    expectIntact(4, 4);
    expectIntact(5, 4);
    EXPECT_EQ(p().stats().blocks_total, 8u);
    EXPECT_EQ(p().stats().counters.evictions, 2u);
    // The pool is full at its new size: a write evicts within it.
    ASSERT_NE(putEntry(p(), kPoolRootId, "fresh", pattern(1, 4 * kBlock)), 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{blk(5), "fresh"}));
    p().verify();
}

TEST_F(Eviction, ResizeShrinkSplitsAnEntryAcrossHoles) {
    pool_ = makePool(32);
    ASSERT_NE(pool_, nullptr);
    for (int i = 0; i < 4; ++i)  // blk-i at [2i, 2i+2)
        ids_.push_back(putEntry(p(), kPoolRootId, blk(i), content(i, 2)));
    ids_.push_back(putEntry(p(), kPoolRootId, blk(4), content(4, 4)));  // [8, 12)
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(0)).ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(2)).ok());
    // Exactly full at 8 blocks: blk-4 must go to the two 2-block holes.
    ASSERT_TRUE(p().resize(8 * kBlock).ok());
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    EXPECT_EQ(p().stats().free_bytes, 0u);
    expectIntact(1, 2);
    expectIntact(3, 2);
    expectIntact(4, 4);
    p().verify();
}

TEST_F(Eviction, ResizeShrinkRefusesWhatCannotBeDone) {
    fill(64, 8, 8);  // blk-i at blocks [8i, 8i+8)
    ASSERT_TRUE(p().setxattr(ids_[6], "user.kvcache.pinned", "1", 0).ok());
    ASSERT_TRUE(p().setxattr(ids_[7], "user.kvcache.pinned", "1", 0).ok());
    // 16 pinned blocks do not fit in 8.
    EXPECT_EQ(p().resize(8 * kBlock).code(), ENOSPC);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    EXPECT_EQ(p().capacityBytes(), 64u * kBlock);
    // An open entry past the new end cannot move.
    ASSERT_TRUE(p().open(ids_[5], Access::Read).ok());
    EXPECT_EQ(p().resize(32 * kBlock).code(), EBUSY);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    EXPECT_EQ(p().capacityBytes(), 64u * kBlock);
    for (int i = 0; i < 8; ++i) expectIntact(i, 8);
    p().release(ids_[5], Access::Read);
    // Pinned entries move, they are not evicted.
    ASSERT_TRUE(p().resize(16 * kBlock).ok());
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({6, 7}));
    expectIntact(6, 8);
    expectIntact(7, 8);
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// .match

TEST_F(Eviction, MatchCountsTheLeadingCachedRun) {
    fill(64, 5, 1);
    ASSERT_TRUE(p().unlink(kPoolRootId, blk(2)).ok());
    auto writing = p().create(kPoolRootId, "writing", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(writing.ok());
    ASSERT_TRUE(p().mkdir(kPoolRootId, "dir", 0755, 0, 0).ok());

    auto m = p().match(kPoolRootId, {blk(0), blk(1), blk(3), blk(4)});
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->leading, 4u);
    EXPECT_EQ(m->cached, (std::vector<bool>{true, true, true, true}));

    m = p().match(kPoolRootId, {blk(0), blk(1), blk(2), blk(3)});  // a gap in the middle
    EXPECT_EQ(m->leading, 2u);
    EXPECT_EQ(m->cached, (std::vector<bool>{true, true, false, true}));

    m = p().match(kPoolRootId, {"nope", blk(0)});  // none leading
    EXPECT_EQ(m->leading, 0u);
    EXPECT_EQ(m->cached, (std::vector<bool>{false, true}));

    m = p().match(kPoolRootId, {"writing", "dir", "a/b", "", std::string(300, 'x')});
    EXPECT_EQ(m->leading, 0u);
    EXPECT_EQ(m->cached, (std::vector<bool>(5, false)));

    m = p().match(kPoolRootId, {});
    EXPECT_EQ(m->leading, 0u);
    EXPECT_EQ(p().match(999999, {blk(0)}).code(), ENOENT);

    auto s = p().stats();
    EXPECT_EQ(s.counters.match_requests, 5u);
    EXPECT_EQ(s.counters.match_blocks, 15u);
    EXPECT_EQ(s.counters.match_hits, 4u + 3u + 1u);
    EXPECT_EQ(s.counters.match_leading, 4u + 2u);
    EXPECT_EQ(s.counters.hits, 8u);
    EXPECT_EQ(s.counters.misses, 7u);
    p().release(writing->id, Access::Write);
    p().verify();
}

TEST_F(Eviction, MatchedLeadingEntriesCountAsUsed) {
    fill(64, 4, 1);
    // blk-0 and blk-1 are matched (the engine is about to read them): blk-2 is now the oldest.
    EXPECT_EQ(p().match(kPoolRootId, {blk(0), blk(1), "missing", blk(3)})->leading, 2u);
    EXPECT_EQ(p().evictPercent(25)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), namesOf({0, 1, 3}));
    p().verify();
}

}  // namespace
}  // namespace kvc
