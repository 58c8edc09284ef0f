// TierChain without a cluster: a disk tier below a small pool (demotion, promotion, .match, the
// queue bound), and a remote tier whose only node is unreachable (misses, never a hang).
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <thread>

#include "core/clock.h"
#include "core/tiers/tier_chain.h"
#include "tests/core/pool_fixture.h"

namespace kvc::test {
namespace {

// Polls `pred` every 5 ms for up to `timeout_ms`.
template <class Pred>
bool eventually(Pred pred, int timeout_ms = 5000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

class TierChainTest : public PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        char tmpl[] = "/tmp/kvc-chain-XXXXXX";
        dir_ = mkdtemp(tmpl) ? tmpl : "";
        ASSERT_FALSE(dir_.empty());
    }
    void TearDown() override {
        PoolFixture::TearDown();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    TierSettings diskTier(uint64_t blocks) const {
        TierSettings t;
        t.disk_dir = dir_;
        t.disk_size = blocks * kBlock;
        return t;
    }
    SegmentLocation diskSegment() const { return SegmentLocation{"tier-test", dir_}; }
    // e0..e11, two blocks each, stored in a pool of 8 blocks above a disk tier of 64: e0 to e7
    // go down. The chain once its queue is drained (null, with a failure, if it does not drain).
    std::unique_ptr<TierChain> spillTwelve(Pool& pool) {
        auto chain = TierChain::open(pool, diskTier(64), diskSegment());
        if (!chain) {
            ADD_FAILURE() << chain.error().message;
            return nullptr;
        }
        for (int i = 0; i < 12; ++i)
            putEntry(pool, kPoolRootId, "e" + std::to_string(i), pattern(i, 2 * kBlock));
        if (!(*chain)->drain(5000)) {
            ADD_FAILURE() << "the demotion queue did not drain";
            return nullptr;
        }
        return std::move(*chain);
    }

    std::string dir_;
};

TEST_F(TierChainTest, EvictedEntriesComeBackFromTheDiskTier) {
    auto pool = makePool(8);
    auto chain = spillTwelve(*pool);
    ASSERT_NE(chain, nullptr);
    TierStats s = chain->stats();
    EXPECT_EQ(s.disk.demotions, 8u);
    EXPECT_EQ(s.disk.entries, 8u);
    EXPECT_EQ(pool->stats().entries, 4u);

    EXPECT_FALSE(chain->promote(kPoolRootId, "nowhere"));
    ASSERT_TRUE(chain->promote(kPoolRootId, "e0"));
    EXPECT_TRUE(sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, "e0")), pattern(0, 2 * kBlock)));
    auto m = pool->match(kPoolRootId, {"e1", "e2", "e11", "x", "e3"});
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->leading, 3u);
    EXPECT_EQ(m->cached, (std::vector<bool>{true, true, true, false, false}));
    ASSERT_TRUE(chain->drain(5000));
    s = chain->stats();
    EXPECT_EQ(s.disk.promotions, 3u);
    EXPECT_EQ(s.disk.entries + pool->stats().entries, 12u) << "nothing lost, nothing doubled";
    pool->verify();
    chain->diskPool()->verify();
}

// The kernel may still hold the name of an entry just evicted (its invalidation is on its way)
// and send unlink or rename without a lookup: they act on the copy below, as after a lookup.
TEST_F(TierChainTest, UnlinkAndRenameOfANameOnlyBelowActOnThatCopy) {
    auto pool = makePool(8);
    auto chain = spillTwelve(*pool);
    ASSERT_NE(chain, nullptr);
    ASSERT_EQ(chain->stats().disk.entries, 8u);  // e0 to e7

    ASSERT_TRUE(pool->unlink(kPoolRootId, "e0").ok());
    ASSERT_TRUE(pool->rename(kPoolRootId, "e1", kPoolRootId, "moved", 0).ok());
    EXPECT_EQ(pool->unlink(kPoolRootId, "nowhere").code(), ENOENT);
    ASSERT_TRUE(chain->drain(5000));
    EXPECT_EQ(pool->lookup(kPoolRootId, "e0").code(), ENOENT);
    EXPECT_EQ(pool->lookup(kPoolRootId, "e1").code(), ENOENT);
    auto moved = pool->lookup(kPoolRootId, "moved");
    ASSERT_TRUE(moved.ok());
    EXPECT_TRUE(sameBytes(getEntry(*pool, moved->id), pattern(1, 2 * kBlock)));
    pool->forget(moved->id, 1);
    ASSERT_TRUE(chain->drain(5000));
    EXPECT_EQ(chain->stats().disk.entries + pool->stats().entries, 11u);
    pool->verify();
    chain->diskPool()->verify();
}

// An evicted entry is in the queue, then being stored by the worker, then in the disk tier: a
// lookup at any of these moments finds it. (It used to miss while the worker held it.)
TEST_F(TierChainTest, AnEvictedEntryIsFoundWhileItsCopyIsBeingStored) {
    auto pool = makePool(8, "fifo");  // four entries of two blocks; the oldest one goes first
    auto chain = TierChain::open(*pool, diskTier(1024), diskSegment());
    ASSERT_TRUE(chain.ok()) << chain.error().message;
    std::deque<std::string> held;  // what the pool holds, oldest first
    auto arrived = [&](const std::string& name) {
        held.push_back(name);
        if (held.size() <= 4) return std::string();
        std::string victim = held.front();
        held.pop_front();
        return victim;
    };
    constexpr int kEntries = 300;
    int missed = 0;
    for (int i = 0; i < kEntries && missed < 5; ++i) {
        const std::string name = "e" + std::to_string(i);
        putEntry(*pool, kPoolRootId, name, pattern(i, 2 * kBlock));
        const std::string victim = arrived(name);
        if (victim.empty()) continue;
        // Looked up again after 0 to 90 us: some lookups come while the worker stores it.
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::microseconds(i % 10 * 10);
        while (std::chrono::steady_clock::now() < until) {
        }
        auto a = pool->lookup(kPoolRootId, victim);
        if (!a) {
            ADD_FAILURE() << victim << " after " << name << ": " << a.error().message;
            missed++;
            continue;
        }
        arrived(victim);  // moved up: the oldest one goes down
        const int j = std::stoi(victim.substr(1));
        EXPECT_TRUE(sameBytes(getEntry(*pool, a->id), pattern(j, 2 * kBlock))) << victim;
        pool->forget(a->id, 1);
    }
    ASSERT_TRUE((*chain)->drain(5000));
    EXPECT_EQ((*chain)->stats().disk.entries + pool->stats().entries, uint64_t(kEntries));
    pool->verify();
    (*chain)->diskPool()->verify();
}

// Issue 19, item 9: an entry removed while its erase still waits in the queue is a miss; the
// lookup used to go on to the lower tier, find the copy not yet erased and bring it back.
TEST_F(TierChainTest, ARemovedEntryIsAMissWhileItsEraseIsQueued) {
    auto pool = makePool(8);
    auto chain = spillTwelve(*pool);
    ASSERT_NE(chain, nullptr);
    ASSERT_EQ(chain->stats().disk.entries, 8u);
    for (int i = 0; i < 8; ++i) {
        const std::string name = "e" + std::to_string(i);
        // As an rm does (a removal is newer than every copy it removes); the disk copy goes
        // when the erase is stored.
        chain->obsolete(Removal{name, Version{static_cast<uint64_t>(nowNs()), 1}});
        EXPECT_FALSE(chain->promote(kPoolRootId, name)) << name << " came back";
    }
    ASSERT_TRUE(chain->drain(5000));
    for (int i = 0; i < 8; ++i) EXPECT_FALSE(chain->promote(kPoolRootId, "e" + std::to_string(i)));
    EXPECT_EQ(chain->stats().disk.entries, 0u);
    EXPECT_EQ(pool->stats().entries, 4u);
}

// Issue 19, found by the model test: a version written while the name had no copy in shared
// memory (its lookup missed while the older copy was on its way to the disk tier) left that
// older copy on disk, for written() told only the cluster. Once the new version went without a
// copy of its own (here: never read, with demote_min_reads=1), a lookup brought the old bytes
// back.
TEST_F(TierChainTest, ANewVersionErasesTheOlderDiskCopyEvenIfItIsNotDemoted) {
    auto pool = makePool(8);
    TierSettings t = diskTier(64);
    t.demote_min_reads = 1;
    auto chain = TierChain::open(*pool, t, diskSegment());
    ASSERT_TRUE(chain.ok()) << chain.error().message;
    const EntryId v1 = putEntry(*pool, kPoolRootId, "x", pattern(1, 2 * kBlock));
    ASSERT_TRUE(sameBytes(getEntry(*pool, v1), pattern(1, 2 * kBlock)));  // read once: demoted
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_TRUE((*chain)->drain(5000));
    ASSERT_EQ((*chain)->stats().disk.entries, 1u);

    putEntry(*pool, kPoolRootId, "x", pattern(2, 3 * kBlock));  // as an O_CREAT that missed
    ASSERT_TRUE((*chain)->drain(5000));
    EXPECT_EQ((*chain)->stats().disk.entries, 0u) << "the older copy stayed below";
    ASSERT_TRUE(pool->evictPercent(100).ok());  // never read: not demoted
    ASSERT_TRUE((*chain)->drain(5000));
    if ((*chain)->promote(kPoolRootId, "x")) {
        ADD_FAILURE() << "a copy of x came back";
        EXPECT_TRUE(
            sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, "x")), pattern(2, 3 * kBlock)))
            << "and it is the older version";
    }
}

// The disk tier stores a copy only over an older one, and an erase there takes only the copies
// older than its version: the same version, or a newer one, stays.
TEST_F(TierChainTest, TheDiskTierKeepsTheNewerOfTwoCopies) {
    auto pool = makePool(8);
    auto chain = TierChain::open(*pool, diskTier(64), diskSegment());
    ASSERT_TRUE(chain.ok()) << chain.error().message;
    Pool& disk = *(*chain)->diskPool();
    EntryImage newer;
    newer.path = "x";
    newer.mode = 0644;
    newer.version = Version{2000, 7};
    newer.data = pattern(2, kBlock);
    ASSERT_TRUE(disk.importEntry(newer).ok());
    // An erase of the copies older than the version of x on disk (the rewrite of the same
    // version, or an earlier removal) leaves it.
    (*chain)->obsolete(Removal{"x", Version{2000, 7}});
    (*chain)->obsolete(Removal{"x", Version{1000, 7}});
    ASSERT_TRUE((*chain)->drain(5000));
    ASSERT_EQ((*chain)->stats().disk.entries, 1u);
    // An older copy of x, evicted late, does not replace it.
    EntryImage older = newer;
    older.version = Version{1500, 7};
    older.data = pattern(1, kBlock);
    ASSERT_TRUE(pool->importEntry(older).ok());
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_TRUE((*chain)->drain(5000));
    EXPECT_EQ((*chain)->stats().disk.stale, 1u);
    ASSERT_TRUE((*chain)->promote(kPoolRootId, "x"));
    EXPECT_TRUE(sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, "x")), pattern(2, kBlock)));
    // A removal newer than it takes it.
    ASSERT_TRUE(disk.importEntry(newer).ok());
    (*chain)->obsolete(Removal{"x", Version{2001, 7}});
    ASSERT_TRUE((*chain)->drain(5000));
    EXPECT_EQ((*chain)->stats().disk.entries, 0u);
}

// A removed tree covers every path below it, however deep, while its erase is pending and after.
TEST_F(TierChainTest, EntriesBelowARemovedTreeAreMissesWhileItsEraseIsPending) {
    auto pool = makePool(8);
    auto chain = TierChain::open(*pool, diskTier(64), diskSegment());
    ASSERT_TRUE(chain.ok()) << chain.error().message;
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(*pool, kPoolRootId, "d");
    ASSERT_TRUE(pool->mkdir(d, "e", 0755, 0, 0).ok());
    const EntryId e = idOf(*pool, d, "e");
    putEntry(*pool, d, "x", pattern(1, kBlock));
    putEntry(*pool, e, "y", pattern(2, kBlock));
    putEntry(*pool, kPoolRootId, "dx", pattern(3, kBlock));  // not below "d/"
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_TRUE((*chain)->drain(5000));
    ASSERT_EQ((*chain)->stats().disk.entries, 3u);
    (*chain)->obsoleteTree(Removal{"d", Version{static_cast<uint64_t>(nowNs()), 1}, 0, true});
    EXPECT_FALSE((*chain)->promote(d, "x"));
    EXPECT_FALSE((*chain)->promote(e, "y"));
    ASSERT_TRUE((*chain)->drain(5000));
    EXPECT_FALSE((*chain)->promote(d, "x"));
    EXPECT_FALSE((*chain)->promote(e, "y"));
    EXPECT_TRUE((*chain)->promote(kPoolRootId, "dx")) << "a sibling whose name starts alike";
    EXPECT_EQ((*chain)->stats().disk.entries, 0u);
}

TEST_F(TierChainTest, AnImageLargerThanTheQueueBoundIsDroppedAndCounted) {
    auto pool = makePool(8);
    TierSettings t = diskTier(64);
    t.demote_queue_bytes = 16 * 1024;
    auto chain = TierChain::open(*pool, t, diskSegment());
    ASSERT_TRUE(chain.ok());
    putEntry(*pool, kPoolRootId, "small", pattern(1, 2 * kBlock));  // 8 KiB + 4 KiB: queues
    putEntry(*pool, kPoolRootId, "big", pattern(2, 6 * kBlock));    // 24 KiB + 4 KiB: does not
    putEntry(*pool, kPoolRootId, "next", pattern(3, 8 * kBlock));   // evicts both
    ASSERT_TRUE((*chain)->drain(5000));
    const TierStats s = (*chain)->stats();
    EXPECT_EQ(s.disk.demotions, 1u);
    EXPECT_EQ(s.disk.dropped, 1u);
    EXPECT_TRUE((*chain)->promote(kPoolRootId, "small"));
    EXPECT_FALSE((*chain)->promote(kPoolRootId, "big"));
}

// With the cluster down, its erases of older copies wait; the disk tier's own were confirmed, so
// its copy of a name committed meanwhile (the newest version) is served, not a miss for as long
// as the cluster stays down.
TEST_F(TierChainTest, TheDiskTierServesItsCopiesWhileTheClusterIsDown) {
    auto pool = makePool(8);
    TierSettings t = diskTier(64);
    t.remote_seeds = {"127.0.0.1:1"};  // nothing listens on port 1
    t.remote_timeout_ms = 100;
    auto chain = TierChain::open(*pool, t, diskSegment());
    ASSERT_TRUE(chain.ok()) << chain.error().message;
    putEntry(*pool, kPoolRootId, "x", pattern(1, kBlock));
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_TRUE(eventually([&] { return (*chain)->stats().disk.entries == 1; }));
    EXPECT_FALSE((*chain)->drain(300)) << "the cluster's erase of x's older copies still waits";
    ASSERT_TRUE((*chain)->promote(kPoolRootId, "x"));
    EXPECT_TRUE(sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, "x")), pattern(1, kBlock)));
    // A removal waits for the cluster too; the disk tier's copy is gone once its erase is done.
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_TRUE(eventually([&] { return (*chain)->stats().disk.entries == 1; }));
    (*chain)->obsolete(Removal{"x", Version{static_cast<uint64_t>(nowNs()), 1}});
    EXPECT_FALSE((*chain)->promote(kPoolRootId, "x"));
    ASSERT_TRUE(eventually([&] { return (*chain)->stats().disk.entries == 0; }));
    EXPECT_FALSE((*chain)->promote(kPoolRootId, "x"));
}

TEST_F(TierChainTest, AnUnreachableClusterIsAMissWithinTheTimeout) {
    auto pool = makePool(16);
    TierSettings t;
    t.remote_seeds = {"127.0.0.1:1"};  // nothing listens on port 1
    t.remote_timeout_ms = 100;
    auto chain = TierChain::open(*pool, t, SegmentLocation{});
    ASSERT_TRUE(chain.ok());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
        EXPECT_FALSE((*chain)->promote(kPoolRootId, "x" + std::to_string(i)));
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_LT(ms, 2000) << "a dead node is skipped after its first failure, not waited for";
    for (int i = 0; i < 20; ++i) putEntry(*pool, kPoolRootId, "e" + std::to_string(i), "data");
    // Every write made the cluster's copy of its name obsolete, and nothing confirms the erases:
    // they wait, one per name, and are tried again.
    EXPECT_FALSE((*chain)->drain(1000));
    const TierStats s = (*chain)->stats();
    EXPECT_GT(s.remote.errors, 0u);
    EXPECT_GT(s.remote.retries, 0u);
    EXPECT_EQ(s.remote.demotions, 0u);
    EXPECT_LE(s.queue_entries, 20u) << "one erase per name, however often it failed";
    EXPECT_EQ(pool->stats().entries, 16u) << "writes never fail because the remote tier does";
}

}  // namespace
}  // namespace kvc::test
