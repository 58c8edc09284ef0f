// Blocks mapped in the daemon (Segment::wantMapped/populate, core/block_warmer.h): the pool
// copies through its mapping the blocks it has mapped and through the segment's file the rest,
// with the same bytes either way; a punch forgets a block's mapping and a populate never backs a
// block punched since it was wanted; a pool maps its entries' blocks in the background, after
// writes and after an attach; a disk-tier pool maps nothing ahead.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/block_bits.h"
#include "tests/core/pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::kBlock;
using test::pattern;
using test::putEntry;
using test::sameBytes;

TEST(BlockBits, SetClearTestCountAcrossWords) {
    BlockBits b(200);
    EXPECT_EQ(b.size(), 200u);
    b.set({60, 10});  // crosses the first word's end
    EXPECT_TRUE(b.all({60, 10}));
    EXPECT_FALSE(b.all({59, 2}));
    EXPECT_EQ(b.count({0, 200}), 10u);
    b.clear({62, 3});
    EXPECT_EQ(b.count({0, 200}), 7u);
    EXPECT_FALSE(b.test(63));
    EXPECT_TRUE(b.test(65));
    b.set({190, 50});  // cut at the end
    EXPECT_EQ(b.count({0, 200}), 17u);
    EXPECT_FALSE(b.all({195, 10}));  // past the end is never "all set"
    EXPECT_FALSE(b.all({0, 0}));
    EXPECT_FALSE(b.test(500));
}

class BlockMapping : public test::PoolFixture {};

TEST_F(BlockMapping, APopulateNeverBacksABlockPunchedSinceItWasWanted) {
    auto pool = makePool(64);
    ASSERT_NE(pool, nullptr);
    pool->mapInBackground(false);
    Segment& seg = pool->segment();
    // Blocks 40..47 are free holes: wanted once, then punched (a free block given back).
    seg.wantMapped({40, 8});
    seg.releaseBlocks({40, 8});
    const uint64_t resident = seg.residentBytes();
    EXPECT_EQ(seg.populate({40, 8}), 0u);
    EXPECT_EQ(seg.residentBytes(), resident);
    EXPECT_FALSE(seg.isMapped(seg.blockFileOffset(40), kBlock));
    // Wanted and backed: mapped, until punched.
    ASSERT_TRUE(seg.backBlocks({40, 8}).ok());
    EXPECT_TRUE(seg.wantMapped({40, 8}));  // not mapped: the warmer has work
    EXPECT_EQ(seg.populate({40, 8}), 8u);
    EXPECT_EQ(seg.populate({40, 8}), 0u);   // once
    EXPECT_FALSE(seg.wantMapped({41, 6}));  // mapped: a write reusing them queues nothing
    EXPECT_TRUE(seg.isMapped(seg.blockFileOffset(40), 8 * kBlock));
    EXPECT_FALSE(seg.isMapped(seg.blockFileOffset(40), 9 * kBlock));
    EXPECT_EQ(seg.mappedBlocks(), 8u);
    seg.releaseBlocks({42, 2});
    EXPECT_EQ(seg.mappedBlocks(), 6u);
    EXPECT_FALSE(seg.isMapped(seg.blockFileOffset(40), 8 * kBlock));
    EXPECT_TRUE(seg.isMapped(seg.blockFileOffset(44), 4 * kBlock));
    EXPECT_TRUE(seg.wantMapped({40, 8}));  // two of them punched since
}

TEST_F(BlockMapping, MappedAndUnmappedCopiesGiveTheSameBytes) {
    auto pool = makePool(256);
    ASSERT_NE(pool, nullptr);
    const SegmentLocation where = pool->location();
    const std::string a = pattern(1, 40 * kBlock + 123), b = pattern(2, 7 * kBlock);
    const EntryId ia = putEntry(*pool, kPoolRootId, "a", a);
    pool->settleMapping();
    // Written through the file, read through the mapping.
    EXPECT_GE(pool->stats().mapped_bytes, 41u * kBlock);
    EXPECT_TRUE(sameBytes(getEntry(*pool, ia), a));
    // Written through the mapping (overwrites in place, whole and partial pieces of
    // copyToBlocks), read through it.
    ASSERT_TRUE(pool->open(ia, Access::Write).ok());
    std::string want = a;
    for (auto [at, bytes] :
         {std::pair{3 * kBlock + 5, b}, std::pair{20 * kBlock + 1, pattern(3, 8192)},
          std::pair{25 * kBlock + 7, pattern(4, 2 * 8192 + 1)}}) {
        ASSERT_TRUE(pool->write(ia, at, bytes.data(), bytes.size()).ok());
        want.replace(at, bytes.size(), bytes);
    }
    pool->release(ia, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(*pool, ia), want));
    // Another process (a reattach: nothing mapped yet) reads the same bytes through the file,
    // and the checksum the commit took over the mapping matches them.
    pool.reset();
    auto again = Pool::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    pool = std::move(*again);
    pool->mapInBackground(false);
    pool->setVerifyReads(true);  // a checksum that does not match would drop the entry
    EXPECT_TRUE(sameBytes(getEntry(*pool, ia), want));
}

TEST_F(BlockMapping, AnAttachedPoolMapsItsEntriesInTheBackground) {
    auto pool = makePool(128);
    ASSERT_NE(pool, nullptr);
    const SegmentLocation where = pool->location();
    const std::string data = pattern(3, 20 * kBlock);
    const EntryId id = putEntry(*pool, kPoolRootId, "x", data);
    pool.reset();
    auto again = Pool::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    pool = std::move(*again);
    pool->settleMapping();
    EXPECT_EQ(pool->stats().mapped_bytes, 20u * kBlock);
    EXPECT_TRUE(sameBytes(getEntry(*pool, id), data));
    // Unlinked, its blocks stay backed and mapped for the next writes.
    ASSERT_TRUE(pool->unlink(kPoolRootId, "x").ok());
    EXPECT_EQ(pool->stats().mapped_bytes, 20u * kBlock);
    EXPECT_EQ(pool->stats().retained_bytes, 20u * kBlock);
}

TEST_F(BlockMapping, ADiskTierPoolMapsNothingAhead) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / test::uniqueSegmentName();
    std::filesystem::create_directories(dir);
    {
        PoolSettings s = settings(64);
        s.tier = Tier::Disk;
        s.dir = dir.string();
        auto made =
            Pool::create(PoolCreateOptions{"disk", SegmentLocation{"disk-pool", dir.string()}, s});
        ASSERT_TRUE(made.ok()) << made.error().message;
        Pool& pool = **made;
        const std::string data = pattern(4, 10 * kBlock);
        const EntryId id = putEntry(pool, kPoolRootId, "d", data);
        pool.settleMapping();
        EXPECT_EQ(pool.stats().mapped_bytes, 0u);
        EXPECT_TRUE(sameBytes(getEntry(pool, id), data));
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvc
