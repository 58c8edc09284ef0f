// The pool side of tiers: evicted entries leave as images (with the demotion admission rule),
// entries are copied out and stored back whole, with their chain metadata and directories.
#include <gtest/gtest.h>

#include <thread>

#include "pool_fixture.h"

namespace kvc::test {
namespace {

class PoolTieringTest : public PoolFixture {};

TEST_F(PoolTieringTest, EvictedEntriesLeaveAsImagesWithTheirMetadata) {
    auto pool = makePool(4);
    std::vector<EntryImage> demoted;
    pool->setDemotionSink(0, [&](EntryImage&& img) {
        demoted.push_back(std::move(img));
        return true;
    });
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "llama", 0750, 7, 8).ok());
    const EntryId dir = idOf(*pool, kPoolRootId, "llama");
    const EntryId a = putEntry(*pool, dir, "a", pattern(1, 5000));  // 2 blocks
    ASSERT_TRUE(pool->setxattr(a, "user.kvcache.priority", "3", 0).ok());
    ASSERT_TRUE(pool->setxattr(a, "user.kvcache.layer", "12", 0).ok());
    putEntry(*pool, dir, "b", pattern(2, 8192));  // 2 blocks: the pool is full
    ASSERT_TRUE(pool->setxattr(idOf(*pool, dir, "b"), "user.kvcache.parent", "llama/a", 0).ok());
    pool->release(idOf(*pool, dir, "b"), Access::Read);  // no-op: not open

    // b is a leaf and a's child, so b goes first, then a.
    ASSERT_TRUE(pool->evictPercent(100).ok());
    ASSERT_EQ(demoted.size(), 2u);
    EXPECT_EQ(demoted[0].path, "llama/b");
    EXPECT_EQ(demoted[0].parent, "llama/a");
    EXPECT_TRUE(sameBytes(demoted[0].data, pattern(2, 8192)));
    EXPECT_EQ(demoted[1].path, "llama/a");
    EXPECT_TRUE(sameBytes(demoted[1].data, pattern(1, 5000)));
    EXPECT_EQ(demoted[1].priority, 3);
    EXPECT_EQ(demoted[1].layer, 12);
    EXPECT_EQ(pool->stats().entries, 0u);
    pool->verify();
}

TEST_F(PoolTieringTest, UnlinkIsNotDemotionAndMinReadsFilters) {
    auto pool = makePool(8);
    std::vector<std::string> demoted;
    pool->setDemotionSink(2, [&](EntryImage&& img) {
        demoted.push_back(img.path);
        return true;
    });
    putEntry(*pool, kPoolRootId, "cold", "x");
    const EntryId hot = putEntry(*pool, kPoolRootId, "hot", "y");
    putEntry(*pool, kPoolRootId, "gone", "z");
    for (int i = 0; i < 2; ++i) getEntry(*pool, hot);
    ASSERT_TRUE(pool->unlink(kPoolRootId, "gone").ok());
    ASSERT_TRUE(pool->evictPercent(100).ok());
    EXPECT_EQ(demoted, std::vector<std::string>{"hot"});
}

TEST_F(PoolTieringTest, ExportThenImportIsTheSameEntry) {
    auto src = makePool(16);
    auto dst = makePool(16);
    ASSERT_TRUE(src->mkdir(kPoolRootId, "m", 0755, 0, 0).ok());
    const EntryId dir = idOf(*src, kPoolRootId, "m");
    const EntryId id = putEntry(*src, dir, "blk", pattern(9, 20000));
    ASSERT_TRUE(src->setxattr(id, "user.kvcache.parent", "m/root", 0).ok());
    ASSERT_TRUE(src->setattr(id, AttrChange{0640, 1000, 1000, {}, {}, {}}).ok());

    auto img = src->exportEntry("m/blk");
    ASSERT_TRUE(img.ok()) << img.error().message;
    EXPECT_EQ(img->path, "m/blk");
    EXPECT_EQ(src->stats().counters.hits, 0u) << "exporting is not a client's access";
    ASSERT_TRUE(dst->importEntry(*img).ok());

    const EntryId mdir = idOf(*dst, kPoolRootId, "m");
    ASSERT_NE(mdir, 0u);
    const EntryId got = idOf(*dst, mdir, "blk");
    ASSERT_NE(got, 0u);
    EXPECT_TRUE(sameBytes(getEntry(*dst, got), pattern(9, 20000)));
    auto attr = dst->getattr(got);
    ASSERT_TRUE(attr.ok());
    EXPECT_EQ(attr->mode, 0100640u);
    EXPECT_EQ(attr->uid, 1000u);
    auto parent = dst->getxattr(got, "user.kvcache.parent");
    ASSERT_TRUE(parent.ok());
    EXPECT_EQ(*parent, "m/root");
    auto match = dst->match(mdir, {"blk"});
    ASSERT_TRUE(match.ok());
    EXPECT_EQ(match->leading, 1u) << "an imported entry is committed";
    EXPECT_EQ(dst->importEntry(*img).code(), EEXIST);
    dst->verify();
}

TEST_F(PoolTieringTest, ImportSurvivesReattach) {
    auto pool = makePool(16);
    const SegmentLocation where = pool->location();
    EntryImage img;
    img.path = "d/e/blk";
    img.data = pattern(4, 9000);
    ASSERT_TRUE(pool->importEntry(img).ok());
    pool->detach();
    pool.reset();
    auto again = Pool::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    auto back = (*again)->exportEntry("d/e/blk");
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(sameBytes(back->data, img.data));
}

TEST_F(PoolTieringTest, FailedImportChangesNothing) {
    auto pool = makePool(4);
    putEntry(*pool, kPoolRootId, "keep", "k");
    ASSERT_TRUE(
        pool->setxattr(idOf(*pool, kPoolRootId, "keep"), "user.kvcache.pinned", "1", 0).ok());
    EntryImage big;
    big.path = "big";
    big.data = pattern(5, 5 * kBlock);  // larger than the pool
    EXPECT_NE(pool->importEntry(big).code(), 0);
    EntryImage bad;
    bad.path = "a/../b";
    EXPECT_EQ(pool->importEntry(bad).code(), EINVAL);
    EXPECT_EQ(nameSet(*pool, kPoolRootId), std::set<std::string>{"keep"});
    EXPECT_EQ(pool->stats().blocks_used, 1u);
    pool->verify();
}

// Issue 19, case 2: a promotion fetches its copy without the pool's lock. If the name changed
// meanwhile (a newer version written and evicted, or removed), the copy is older than what the
// pool did since and must not be installed; with nothing changed, it is.
TEST_F(PoolTieringTest, ACopyFetchedBeforeTheNameChangedIsNotInstalled) {
    auto pool = makePool(64);
    EntryImage v1;
    v1.path = "d/x";
    v1.mode = 0100644;
    v1.data = "version 1";
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(*pool, kPoolRootId, "d");

    uint64_t epoch = pool->watchName("d/x");
    putEntry(*pool, d, "x", "version 2");
    ASSERT_EQ(pool->evictPercent(100)->entries, 1u);
    EXPECT_EQ(pool->importEntry(v1, epoch).code(), ESTALE);
    EXPECT_EQ(pool->lookup(d, "x").code(), ENOENT);

    putEntry(*pool, d, "x", "version 3");
    epoch = pool->watchName("d/x");
    ASSERT_TRUE(pool->unlink(d, "x").ok());
    EXPECT_EQ(pool->importEntry(v1, epoch).code(), ESTALE);

    epoch = pool->watchName("d/x");
    ASSERT_TRUE(pool->rename(kPoolRootId, "d", kPoolRootId, "e", 0).ok());  // d/x: elsewhere now
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d2 = idOf(*pool, kPoolRootId, "d");
    putEntry(*pool, d2, "x", "version 4");
    ASSERT_TRUE(pool->unlink(d2, "x").ok());
    EXPECT_EQ(pool->importEntry(v1, epoch).code(), ESTALE);

    // The directory removed while the copy was on its way: it is not made again around it.
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "f", 0755, 0, 0).ok());
    EntryImage in_f = v1;
    in_f.path = "f/x";
    epoch = pool->watchName("f/x");
    ASSERT_TRUE(pool->rmdir(kPoolRootId, "f").ok());
    EXPECT_EQ(pool->importEntry(in_f, epoch).code(), ESTALE);
    EXPECT_EQ(pool->lookup(kPoolRootId, "f").code(), ENOENT);
    pool->unwatchName("f/x");

    epoch = pool->watchName("d/x");  // nothing changes from here: it is installed
    ASSERT_TRUE(pool->importEntry(v1, epoch).ok());
    EXPECT_EQ(getEntry(*pool, idOf(*pool, d2, "x")), "version 1");
    EXPECT_EQ(pool->importEntry(v1, epoch).code(), EEXIST) << "there already: not stale";
    for (int i = 0; i < 4; ++i) pool->unwatchName("d/x");
    pool->verify();
}

TEST_F(PoolTieringTest, RemovePathAndCachedNamesCountNothing) {
    auto pool = makePool(16);
    putEntry(*pool, kPoolRootId, "a", "1");
    putEntry(*pool, kPoolRootId, "c", "3");
    auto cached = pool->cachedNames(kPoolRootId, {"a", "b", "c"});
    ASSERT_TRUE(cached.ok());
    EXPECT_EQ(*cached, (std::vector<bool>{true, false, true}));
    EXPECT_EQ(pool->stats().counters.misses, 0u);
    ASSERT_TRUE(pool->removePath("a").ok());
    EXPECT_EQ(pool->removePath("a").code(), ENOENT);
    EXPECT_EQ(nameSet(*pool, kPoolRootId), std::set<std::string>{"c"});
}

// What a lower tier does with a removed directory: everything below it goes, and nothing else.
TEST_F(PoolTieringTest, RemoveTreeRemovesADirectoryWithEverythingBelowIt) {
    auto pool = makePool(32);
    ASSERT_TRUE(pool->mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(*pool, kPoolRootId, "d");
    ASSERT_TRUE(pool->mkdir(d, "sub", 0755, 0, 0).ok());
    putEntry(*pool, d, "a", "1");
    putEntry(*pool, idOf(*pool, d, "sub"), "b", "2");
    putEntry(*pool, kPoolRootId, "dx", "3");
    EXPECT_EQ(pool->removeTree("dx").code(), ENOTDIR);
    EXPECT_EQ(pool->removeTree("none").code(), ENOENT);
    ASSERT_TRUE(pool->removeTree("d").ok());
    EXPECT_EQ(nameSet(*pool, kPoolRootId), std::set<std::string>{"dx"});
    EXPECT_EQ(pool->stats().entries, 1u);
    EXPECT_NO_THROW(pool->verify());
}

TEST_F(PoolTieringTest, ConcurrentImportsOfOneNameStoreItOnce) {
    auto pool = makePool(64);
    EntryImage img;
    img.path = "x";
    img.data = pattern(6, 3 * kBlock);
    std::atomic<int> ok{0}, exists{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            const int code = pool->importEntry(img).code();
            (code == 0 ? ok : exists)++;
            EXPECT_TRUE(code == 0 || code == EEXIST) << code;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(pool->stats().blocks_used, 3u) << "the losers' blocks were given back";
    pool->verify();
}

}  // namespace
}  // namespace kvc::test
