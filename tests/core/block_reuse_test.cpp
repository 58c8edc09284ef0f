// Reused blocks: an entry's blocks, once freed (unlink, eviction, truncate, a punched hole), stay
// backed and go to the next writes as they are (BlockAllocator's stale blocks, Pool::fillHoles).
// Whatever part of them a write does not cover must read as zeros, never as the bytes of the
// entry that had them: a partial first or last block, a hole left by a write past the end, an
// fallocate, a copy that fails half-way. And the pool reports what it keeps (retained_bytes),
// which a reattach gives back.
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "tests/core/pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::kBlock;
using test::putEntry;

constexpr char kOld = '\xAA';  // what every block held before it was freed

class BlockReuse : public test::PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        pool_ = makePool(kBlocks);
        ASSERT_NE(pool_, nullptr);
        where_ = p().location();
        // Copies through the file, as to blocks not mapped yet: a failed copy is possible only
        // there (tests/core/block_mapping_test.cpp covers the mapped ones).
        p().mapInBackground(false);
        // Fill the whole pool with kOld, then free it all: every block a later write gets is
        // a reused one.
        const EntryId old = putEntry(p(), kPoolRootId, "old", std::string(kBlocks * kBlock, kOld));
        ASSERT_NE(old, 0u);
        ASSERT_TRUE(p().unlink(kPoolRootId, "old").ok());
        ASSERT_EQ(p().stats().retained_bytes, kBlocks * kBlock);
    }
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }
    EntryId newEntry(std::string_view name) {
        auto a = p().create(kPoolRootId, name, 0644, 0, 0, IfExists::Fail);
        EXPECT_TRUE(a.ok());
        return a.ok() ? a->id : 0;
    }
    // True when no byte of the entry is one of the freed entry's.
    static ::testing::AssertionResult noOldBytes(const std::string& bytes) {
        const size_t at = bytes.find(kOld);
        if (at == std::string::npos) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "an old byte at offset " << at;
    }

    static constexpr uint64_t kBlocks = 64;
    std::unique_ptr<Pool> pool_;
    SegmentLocation where_;
};

TEST_F(BlockReuse, PartialBlocksOfAWriteReadAsZeros) {
    const EntryId id = newEntry("new");
    // Starts inside block 0, ends inside block 2: the head of block 0 and the tail of block 2
    // are not written, and block 5 (past a hole) is reused whole by the second write.
    const std::string bytes(2 * kBlock, 'n');
    ASSERT_TRUE(p().write(id, 100, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(p().write(id, 5 * kBlock + 7, "x", 1).ok());
    p().release(id, Access::Write);

    const std::string got = getEntry(p(), id);
    ASSERT_EQ(got.size(), 5 * kBlock + 8);
    EXPECT_TRUE(noOldBytes(got));
    EXPECT_EQ(got.substr(0, 100), std::string(100, '\0'));
    EXPECT_EQ(got.substr(100, bytes.size()), bytes);
    EXPECT_EQ(got.substr(100 + bytes.size(), 5 * kBlock + 7 - 100 - bytes.size()),
              std::string(5 * kBlock + 7 - 100 - bytes.size(), '\0'));
    EXPECT_EQ(got.back(), 'x');
    // Blocks 0, 1, 2 and 5 were reused; the rest of the pool is still kept for writers.
    EXPECT_EQ(p().stats().retained_bytes, (kBlocks - 4) * kBlock);
}

TEST_F(BlockReuse, FallocatedBlocksReadAsZeros) {
    const EntryId id = newEntry("alloc");
    p().release(id, Access::Write);
    ASSERT_TRUE(p().allocate(id, 0, 8 * kBlock).ok());
    const std::string got = getEntry(p(), id);
    EXPECT_EQ(got, std::string(8 * kBlock, '\0'));
}

TEST_F(BlockReuse, AFailedCopyLeavesZerosNotOldBytes) {
    // A client buffer whose second half is not readable: the copy fails there with EFAULT.
    const size_t len = 4 * kBlock;
    void* map = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(map, MAP_FAILED);
    std::memset(map, 'n', len);
    ASSERT_EQ(::mprotect(static_cast<char*>(map) + len / 2, len / 2, PROT_NONE), 0);
    const EntryId id = newEntry("torn");
    auto w = p().write(id, 0, map, len);
    ::munmap(map, len);
    EXPECT_FALSE(w.ok());
    // A write of the last byte the failed write was to cover: the entry is that long now, and
    // what lies before is what the failed write left, which must be zeros or its own bytes.
    ASSERT_TRUE(p().write(id, len - 1, "t", 1).ok());
    p().release(id, Access::Write);
    const std::string got = getEntry(p(), id);
    ASSERT_EQ(got.size(), len);
    EXPECT_TRUE(noOldBytes(got.substr(0, len - 1)));
}

TEST_F(BlockReuse, TruncatedAndPunchedBlocksAreReusedToo) {
    const std::string data(8 * kBlock, 'd');
    const EntryId a = putEntry(p(), kPoolRootId, "a", data);
    const uint64_t before = p().stats().retained_bytes;
    ASSERT_TRUE(p().open(a, Access::Write).ok());
    ASSERT_TRUE(p().punchHole(a, 2 * kBlock, 2 * kBlock).ok());
    AttrChange shrink;
    shrink.size = 6 * kBlock;
    ASSERT_TRUE(p().setattr(a, shrink).ok());
    p().release(a, Access::Write);
    EXPECT_EQ(p().stats().retained_bytes, before + 4 * kBlock);

    // A new entry of one byte gets one of them back, zeroed past its byte.
    const EntryId b = putEntry(p(), kPoolRootId, "b", "b");
    EXPECT_EQ(getEntry(p(), b), "b");
    EXPECT_EQ(p().stats().retained_bytes, before + 3 * kBlock);
    const std::string left = getEntry(p(), a);
    EXPECT_EQ(left.substr(2 * kBlock, 2 * kBlock), std::string(2 * kBlock, '\0'));
    p().verify();
}

// A front end replies to a read from the planned blocks, under the plan's lock, and the kernel
// may send the close before that reply's system call has returned. The last close of an unlinked
// entry must not free its blocks (for the next writer to reuse) while such a read holds them.
TEST_F(BlockReuse, TheLastCloseWaitsForAReadInProgress) {
    const std::string data(4 * kBlock, 'e');
    const EntryId id = putEntry(p(), kPoolRootId, "e", data);
    ASSERT_TRUE(p().open(id, Access::Read).ok());
    auto plan = p().planRead(id, 0, data.size());
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->total, data.size());
    ASSERT_TRUE(p().unlink(kPoolRootId, "e").ok());
    const uint64_t used = p().stats().used_bytes;

    std::atomic<bool> released{false};
    std::thread closer([&] {
        p().release(id, Access::Read);
        released = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(released.load());
    EXPECT_EQ(p().stats().used_bytes, used);  // still the entry's
    for (const Pool::ReadPiece& piece : plan->pieces)
        EXPECT_EQ(std::string(piece.address, piece.len), std::string(piece.len, 'e'));

    *plan = Pool::ReadPlan{};  // the reply is sent: the read lets go
    closer.join();
    EXPECT_TRUE(released.load());
    EXPECT_EQ(p().stats().used_bytes, used - data.size());
    p().verify();
}

TEST_F(BlockReuse, AReattachGivesTheRetainedMemoryBack) {
    const EntryId keep = putEntry(p(), kPoolRootId, "keep", std::string(kBlock, 'k'));
    ASSERT_NE(keep, 0u);
    EXPECT_GE(p().stats().resident_bytes, kBlocks * kBlock);
    pool_.reset();
    auto again = Pool::attach(where_);
    ASSERT_TRUE(again.ok()) << again.error().message;
    pool_ = std::move(*again);
    const PoolStats s = p().stats();
    EXPECT_EQ(s.retained_bytes, 0u);
    EXPECT_LT(s.resident_bytes, kBlocks * kBlock / 2);
    // And blocks that are holes again still read as zeros when taken.
    const EntryId id = newEntry("after");
    ASSERT_TRUE(p().write(id, 10, "z", 1).ok());
    p().release(id, Access::Write);
    EXPECT_EQ(getEntry(p(), id), std::string(10, '\0') + "z");
}

}  // namespace
}  // namespace kvc
