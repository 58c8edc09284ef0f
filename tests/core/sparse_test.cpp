// Sparse entries: extent lists with holes (core/extent_map.h) and what the pool does with them.
// A write past the end leaves a hole that takes no block and reads as zeros; truncating up makes
// a hole; st_blocks, capacity and eviction count blocks held; SEEK_DATA/SEEK_HOLE; fallocate
// fills holes; holes survive a reattach (clean or after a crash), a shrink and a tier copy.
#include <algorithm>
#include <string>

#include "core/extent_map.h"
#include "tests/core/pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::kBlock;
using test::pattern;
using test::putEntry;
using test::sameBytes;

constexpr Extent hole(uint64_t n) {
    return Extent{kHoleStart, n};
}

// ---- extent lists -------------------------------------------------------------------------

TEST(ExtentMap, FillingHolesSplitsAndMerges) {
    std::vector<Extent> ex;
    EXPECT_TRUE(replaceBlocks(ex, 5, Extent{100, 1}).empty());
    EXPECT_EQ(ex, (std::vector<Extent>{hole(5), {100, 1}}));
    EXPECT_EQ(dataBlocks(ex), 1u);
    EXPECT_EQ(coveredBlocks(ex), 6u);
    (void)replaceBlocks(ex, 2, Extent{7, 1});
    EXPECT_EQ(ex, (std::vector<Extent>{hole(2), {7, 1}, hole(2), {100, 1}}));
    (void)replaceBlocks(ex, 3, Extent{8, 2});  // contiguous with the extent before: merged
    EXPECT_EQ(ex, (std::vector<Extent>{hole(2), {7, 3}, {100, 1}}));
    EXPECT_EQ(holesIn(ex, {0, 10}), (std::vector<BlockRange>{{0, 2}, {6, 4}}));
    EXPECT_EQ(holesIn(ex, {3, 2}), (std::vector<BlockRange>{}));
}

TEST(ExtentMap, PunchingAndKeepingGiveBackDataAndDropTrailingHoles) {
    std::vector<Extent> ex{{10, 4}, hole(3), {20, 2}};
    EXPECT_EQ(replaceBlocks(ex, 2, hole(6)), (std::vector<Extent>{{12, 2}, {20, 1}}));
    EXPECT_EQ(ex, (std::vector<Extent>{{10, 2}, hole(6), {21, 1}}));
    EXPECT_EQ(keepBlocks(ex, 5), (std::vector<Extent>{{21, 1}}));
    EXPECT_EQ(ex, (std::vector<Extent>{{10, 2}}));  // the hole at the end is implicit
    EXPECT_EQ(keepBlocks(ex, 1), (std::vector<Extent>{{11, 1}}));
    EXPECT_EQ(ex, (std::vector<Extent>{{10, 1}}));
}

TEST(ExtentMap, NextDataAndHole) {
    const std::vector<Extent> ex{hole(2), {7, 3}, hole(1), {50, 1}};
    EXPECT_EQ(nextDataBlock(ex, 0), 2u);
    EXPECT_EQ(nextDataBlock(ex, 3), 3u);
    EXPECT_EQ(nextDataBlock(ex, 5), 6u);
    EXPECT_EQ(nextDataBlock(ex, 7), std::nullopt);
    EXPECT_EQ(nextHoleBlock(ex, 0), 0u);
    EXPECT_EQ(nextHoleBlock(ex, 2), 5u);
    EXPECT_EQ(nextHoleBlock(ex, 6), 7u);
    EXPECT_EQ(nextHoleBlock(ex, 100), 100u);
}

TEST(ExtentMap, RecordsThatCannotBeAnEntrysAreRefused) {
    EXPECT_TRUE(extentsFitSize({hole(2), {7, 1}}, 3 * kBlock, kBlock));
    EXPECT_TRUE(extentsFitSize({{7, 1}}, 5 * kBlock + 1, kBlock));        // trailing hole implicit
    EXPECT_FALSE(extentsFitSize({{7, 2}}, kBlock, kBlock));               // past the size
    EXPECT_FALSE(extentsFitSize({{7, 1}, hole(1)}, 3 * kBlock, kBlock));  // hole at the end
    EXPECT_FALSE(extentsFitSize({{7, 0}}, kBlock, kBlock));
    EXPECT_FALSE(extentsFitSize({hole(UINT64_MAX), {1, 2}}, kMaxEntryBytes, kBlock));
    EXPECT_FALSE(extentsFitSize({}, kMaxEntryBytes + 1, kBlock));
}

// ---- pools --------------------------------------------------------------------------------

class Sparse : public test::PoolFixture {
  protected:
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }
    void create(uint64_t blocks) {
        pool_ = makePool(blocks);
        ASSERT_NE(pool_, nullptr);
        where_ = p().location();
    }
    void crashAndReattach() {
        pool_.reset();
        auto again = Pool::attach(where_);
        ASSERT_TRUE(again.ok()) << again.error().message;
        pool_ = std::move(*again);
    }
    EntryId newEntry(std::string_view name) {
        auto a = p().create(kPoolRootId, name, 0644, 0, 0, IfExists::Fail);
        EXPECT_TRUE(a.ok());
        return a.ok() ? a->id : 0;
    }
    void write(EntryId id, uint64_t off, std::string_view bytes) {
        auto n = p().write(id, off, bytes.data(), bytes.size());
        ASSERT_TRUE(n.ok()) << n.error().message;
    }
    std::string read(EntryId id, uint64_t off, size_t len) {
        std::string out(len, 'x');
        auto n = p().read(id, off, out.data(), len);
        EXPECT_TRUE(n.ok());
        out.resize(n.ok() ? *n : 0);
        return out;
    }
    uint64_t blocks512(EntryId id) { return p().getattr(id)->blocks512; }
    uint64_t sizeOf(EntryId id) { return p().getattr(id)->size; }
    Result<uint64_t> seek(EntryId id, uint64_t off, Seek w) { return p().seek(id, off, w); }

    std::unique_ptr<Pool> pool_;
    SegmentLocation where_;
};

constexpr uint64_t kFarOffset = (2ull << 30) + 1;  // 2 GiB + 1

TEST_F(Sparse, WriteFarPastTheEndTakesOneBlockAndEvictsNothing) {
    create(16);  // 64 KiB
    const EntryId other = putEntry(p(), kPoolRootId, "other", pattern(1, 15 * kBlock));
    const EntryId id = newEntry("far");
    write(id, kFarOffset, "z");
    EXPECT_EQ(sizeOf(id), kFarOffset + 1);
    EXPECT_EQ(blocks512(id), kBlock / 512);
    EXPECT_EQ(p().stats().blocks_used, 16u);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    EXPECT_TRUE(sameBytes(getEntry(p(), other), pattern(1, 15 * kBlock)));
    EXPECT_EQ(read(id, kFarOffset - 3, 10), std::string("\0\0\0z", 4));
    EXPECT_EQ(read(id, 12345, 5), std::string(5, '\0'));
    p().release(id, Access::Write);
    p().verify();
}

TEST_F(Sparse, WritesAtTheLargestSizeAreRefusedWithoutOverflow) {
    create(16);
    const EntryId id = newEntry("big");
    const char c = 'a';
    EXPECT_EQ(p().write(id, kMaxEntryBytes, &c, 1).error().code, EFBIG);
    EXPECT_EQ(p().write(id, UINT64_MAX, &c, 1).error().code, EFBIG);
    ASSERT_TRUE(p().write(id, kMaxEntryBytes - 1, &c, 1).ok());
    EXPECT_EQ(sizeOf(id), kMaxEntryBytes);
    EXPECT_EQ(p().allocate(id, kMaxEntryBytes, 1).error().code, EFBIG);
    AttrChange grow;
    grow.size = kMaxEntryBytes + 1;
    EXPECT_EQ(p().setattr(id, grow).error().code, EFBIG);
    p().release(id, Access::Write);
    p().verify();
}

TEST_F(Sparse, WriteFillsAHoleInTheMiddleWithZerosAroundIt) {
    create(32);
    const EntryId id = newEntry("mid");
    write(id, 0, "head");
    write(id, 10 * kBlock, "tail");
    EXPECT_EQ(blocks512(id), 2 * kBlock / 512);
    write(id, 5 * kBlock + 100, "mid");
    EXPECT_EQ(blocks512(id), 3 * kBlock / 512);
    std::string want(10 * kBlock + 4, '\0');
    want.replace(0, 4, "head");
    want.replace(5 * kBlock + 100, 3, "mid");
    want.replace(10 * kBlock, 4, "tail");
    EXPECT_TRUE(sameBytes(read(id, 0, want.size() + 10), want));
    p().release(id, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(p(), id), want));
    p().verify();
}

TEST_F(Sparse, TruncateUpMakesAHoleAndDownFreesAcrossHoles) {
    create(32);
    const EntryId id = newEntry("t");
    write(id, 0, pattern(2, kBlock + 10));
    AttrChange c;
    c.size = 1ull << 40;  // 1 TiB in a 128 KiB pool
    ASSERT_TRUE(p().setattr(id, c).ok());
    EXPECT_EQ(sizeOf(id), 1ull << 40);
    EXPECT_EQ(blocks512(id), 2 * kBlock / 512);
    // The bytes past the old size in its last block read as zeros.
    EXPECT_EQ(read(id, kBlock + 10, 20), std::string(20, '\0'));
    write(id, 20 * kBlock, "x");
    EXPECT_EQ(blocks512(id), 3 * kBlock / 512);
    c.size = 5;  // down, across the hole: the far block goes, the first is cut
    ASSERT_TRUE(p().setattr(id, c).ok());
    EXPECT_EQ(blocks512(id), kBlock / 512);
    c.size = 3 * kBlock;
    ASSERT_TRUE(p().setattr(id, c).ok());
    std::string want(3 * kBlock, '\0');
    want.replace(0, 5, pattern(2, 5));
    EXPECT_TRUE(sameBytes(read(id, 0, 3 * kBlock), want));
    p().release(id, Access::Write);
    p().verify();
    EXPECT_EQ(p().stats().blocks_used, 1u);
}

TEST_F(Sparse, FallocateFillsOnlyTheHolesOfItsRange) {
    create(32);
    const EntryId id = newEntry("f");
    write(id, 2 * kBlock, "data");
    ASSERT_TRUE(p().allocate(id, kBlock, 4 * kBlock).ok());  // blocks 1..4: 1, 3, 4 are new
    EXPECT_EQ(blocks512(id), 4 * kBlock / 512);
    EXPECT_EQ(sizeOf(id), 5 * kBlock);
    EXPECT_EQ(*seek(id, 0, Seek::Data), kBlock);  // block 0 stays a hole
    std::string want(5 * kBlock, '\0');
    want.replace(2 * kBlock, 4, "data");
    EXPECT_TRUE(sameBytes(read(id, 0, want.size()), want));
    ASSERT_TRUE(p().allocate(id, 0, 10).ok());  // within the size: it does not shrink
    EXPECT_EQ(sizeOf(id), 5 * kBlock);
    EXPECT_EQ(blocks512(id), 5 * kBlock / 512);
    EXPECT_EQ(p().allocate(id, 0, 0).error().code, EINVAL);
    p().release(id, Access::Write);
    p().verify();
}

TEST_F(Sparse, PunchedHolesFreeWholeBlocksAndZeroTheEdges) {
    create(32);
    const EntryId id = newEntry("p");
    const std::string bytes = pattern(5, 6 * kBlock + 100);
    write(id, 0, bytes);
    const uint64_t used = p().stats().blocks_used;
    // From inside block 1 to inside block 4: blocks 2 and 3 go, the edges are zeroed.
    ASSERT_TRUE(p().punchHole(id, kBlock + 10, 3 * kBlock).ok());
    EXPECT_EQ(p().stats().blocks_used, used - 2);
    EXPECT_EQ(sizeOf(id), bytes.size());
    std::string want = bytes;
    want.replace(kBlock + 10, 3 * kBlock, std::string(3 * kBlock, '\0'));
    EXPECT_TRUE(sameBytes(read(id, 0, bytes.size()), want));
    EXPECT_EQ(*seek(id, kBlock, Seek::Hole), 2 * kBlock);
    // Up to the end: the last, partial block goes too; past the end changes nothing.
    ASSERT_TRUE(p().punchHole(id, 6 * kBlock, 1 << 20).ok());
    EXPECT_EQ(p().stats().blocks_used, used - 3);
    EXPECT_EQ(sizeOf(id), bytes.size());
    EXPECT_EQ(p().punchHole(id, 0, 0).code(), EINVAL);
    EXPECT_EQ(p().punchHole(id, kMaxEntryBytes, 1).code(), EFBIG);
    p().release(id, Access::Write);
    crashAndReattach();
    const EntryId again = test::idOf(p(), kPoolRootId, "p");
    want.replace(6 * kBlock, 100, std::string(100, '\0'));
    EXPECT_TRUE(sameBytes(getEntry(p(), again), want));
    p().verify();
}

TEST_F(Sparse, SeekDataAndHole) {
    create(32);
    const EntryId id = newEntry("s");
    write(id, 2 * kBlock + 7, "a");  // blocks 0-1 hole, 2 data
    write(id, 5 * kBlock, "b");      // 3-4 hole, 5 data
    AttrChange c;
    c.size = 9 * kBlock + 1;  // 6-9 hole
    ASSERT_TRUE(p().setattr(id, c).ok());
    EXPECT_EQ(*seek(id, 0, Seek::Data), 2 * kBlock);
    EXPECT_EQ(*seek(id, 2 * kBlock + 9, Seek::Data), 2 * kBlock + 9);
    EXPECT_EQ(*seek(id, 3 * kBlock, Seek::Data), 5 * kBlock);
    EXPECT_EQ(seek(id, 6 * kBlock, Seek::Data).error().code, ENXIO);
    EXPECT_EQ(*seek(id, 0, Seek::Hole), 0u);
    EXPECT_EQ(*seek(id, 2 * kBlock, Seek::Hole), 3 * kBlock);
    EXPECT_EQ(*seek(id, 5 * kBlock + 1, Seek::Hole), 6 * kBlock);
    EXPECT_EQ(*seek(id, 9 * kBlock, Seek::Hole), 9 * kBlock);
    EXPECT_EQ(seek(id, 9 * kBlock + 1, Seek::Hole).error().code, ENXIO);  // at the end
    EXPECT_EQ(seek(id, UINT64_MAX, Seek::Data).error().code, ENXIO);
    // A dense entry: all data, its only hole is the end.
    write(id, 0, std::string(9 * kBlock + 1, 'd'));
    EXPECT_EQ(*seek(id, 0, Seek::Hole), 9 * kBlock + 1);
    p().release(id, Access::Write);
}

TEST_F(Sparse, HolesAndBytesSurviveACrashAndACleanDetach) {
    create(64);
    const EntryId id = newEntry("keep");
    std::string tail = pattern(3, 3 * kBlock);
    write(id, 0, "front");
    write(id, kFarOffset, tail);
    // Many extents, so that some of them live in the blob, not the record.
    for (uint64_t i = 0; i < 12; ++i) write(id, (4 + 3 * i) * kBlock, pattern(10 + i, 100));
    p().release(id, Access::Write);
    const std::string head = read(id, 0, 40 * kBlock);
    const uint64_t blocks = blocks512(id);
    for (int round = 0; round < 2; ++round) {
        if (round == 0) {
            crashAndReattach();
        } else {
            p().detach();
            crashAndReattach();
        }
        const EntryId again = test::idOf(p(), kPoolRootId, "keep");
        ASSERT_NE(again, 0u);
        EXPECT_EQ(sizeOf(again), kFarOffset + tail.size());
        EXPECT_EQ(blocks512(again), blocks);
        ASSERT_TRUE(p().open(again, Access::Read).ok());
        EXPECT_TRUE(sameBytes(read(again, 0, 40 * kBlock), head));
        EXPECT_TRUE(sameBytes(read(again, kFarOffset, tail.size()), tail));
        EXPECT_EQ(*seek(again, 5 * kBlock, Seek::Data), 7 * kBlock);
        p().release(again, Access::Read);
        p().verify();
    }
}

// Holes hash as markers of their length (Pool::dataChecksum), so a commit costs the blocks held,
// and the checksum still checks out after a crash and at a verified open.
TEST_F(Sparse, ChecksumOfASparseEntryChecksOut) {
    create(16);
    p().setVerifyReads(true);
    const EntryId id = newEntry("sum");
    write(id, 3 * kBlock, "x");
    write(id, 100 * kBlock, "y");
    p().release(id, Access::Write);
    crashAndReattach();  // a crash checks every entry's checksum at attach
    p().setVerifyReads(true);
    const EntryId again = test::idOf(p(), kPoolRootId, "sum");
    ASSERT_NE(again, 0u);
    ASSERT_TRUE(p().open(again, Access::Read).ok()) << "the checksum did not match";
    p().release(again, Access::Read);
    // Larger than the pool: no image of it (an image holds every byte).
    EXPECT_EQ(p().exportEntry(again).error().code, EFBIG);
    const EntryId small = newEntry("small");
    write(small, 3 * kBlock, "x");
    p().release(small, Access::Write);
    auto img = p().exportEntry(small);
    ASSERT_TRUE(img.ok());
    EXPECT_EQ(img->data, std::string(3 * kBlock, '\0') + "x");
}

TEST_F(Sparse, ImportedImagesKeepTheirZerosAsHoles) {
    create(16);
    EntryImage img;
    img.path = "imported";
    img.data.assign(40 * kBlock, '\0');
    img.data[20 * kBlock + 5] = 'q';
    ASSERT_TRUE(p().importEntry(img).ok());
    const EntryId id = test::idOf(p(), kPoolRootId, "imported");
    EXPECT_EQ(sizeOf(id), 40 * kBlock);
    EXPECT_EQ(blocks512(id), kBlock / 512);
    EXPECT_TRUE(sameBytes(getEntry(p(), id), img.data));
    p().verify();
}

TEST_F(Sparse, ShrinkMovesOnlyDataAndKeepsHoles) {
    create(64);
    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, 40 * kBlock));
    const EntryId id = newEntry("sparse");
    write(id, 0, "0");
    write(id, kFarOffset, "1");
    p().release(id, Access::Write);
    ASSERT_TRUE(p().unlink(kPoolRootId, "a").ok());
    (void)a;
    ASSERT_TRUE(p().resize(8 * kBlock).ok());
    p().verify();
    EXPECT_EQ(sizeOf(id), kFarOffset + 1);
    EXPECT_EQ(blocks512(id), 2 * kBlock / 512);
    EXPECT_EQ(read(id, 0, 2), std::string("0\0", 2));
    EXPECT_EQ(read(id, kFarOffset - 1, 2), std::string("\0"
                                                       "1",
                                                       2));
    crashAndReattach();
    p().verify();
    const EntryId again = test::idOf(p(), kPoolRootId, "sparse");
    EXPECT_EQ(read(again, kFarOffset - 1, 2), std::string("\0"
                                                          "1",
                                                          2));
}

TEST_F(Sparse, EvictionCountsBlocksHeldNotSizes) {
    create(8);
    const EntryId id = newEntry("victim");
    write(id, kFarOffset, "v");
    p().release(id, Access::Write);
    (void)putEntry(p(), kPoolRootId, "filler", pattern(4, 8 * kBlock));  // evicts "victim"
    EXPECT_EQ(p().stats().counters.evictions, 1u);
    EXPECT_LE(p().stats().counters.evicted_bytes, kBlock);
}

}  // namespace
}  // namespace kvc
