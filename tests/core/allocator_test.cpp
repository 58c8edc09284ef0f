// Tests of BlockAllocator: allocation and free with coalescing, best fit, allocation across
// holes in a fragmented map, reserve (the rebuild at attach) with overlap detection, resize,
// growth hints that keep an entry contiguous, stale blocks (freed still backed: reused first by
// allocateReusing, zeroed before anything else takes them), and randomised runs checked against
// a bitmap model with verify() after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/block_allocator.h"

namespace kvc {
namespace {

using Extents = std::vector<Extent>;

uint64_t total(const Extents& v) {
    uint64_t n = 0;
    for (const Extent& e : v) n += e.count;
    return n;
}

TEST(BlockAllocator, FreshAllocatorIsOneFreeExtent) {
    BlockAllocator a(100);
    EXPECT_EQ(a.blockCount(), 100u);
    EXPECT_EQ(a.freeBlocks(), 100u);
    EXPECT_EQ(a.usedBlocks(), 0u);
    EXPECT_EQ(a.freeExtents(), 1u);
    EXPECT_EQ(a.largestFreeExtent(), 100u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, AllocateFreeAndCoalesce) {
    BlockAllocator a(100);
    Extents x, y, z;
    ASSERT_TRUE(a.allocate(10, x));
    ASSERT_TRUE(a.allocate(20, y));
    ASSERT_TRUE(a.allocate(30, z));
    EXPECT_EQ(x, (Extents{{0, 10}}));
    EXPECT_EQ(y, (Extents{{10, 20}}));
    EXPECT_EQ(z, (Extents{{30, 30}}));
    EXPECT_EQ(a.freeBlocks(), 40u);
    EXPECT_TRUE(a.isAllocated({0, 60}));
    EXPECT_FALSE(a.isAllocated({59, 2}));

    a.free(y[0]);  // a hole in the middle
    EXPECT_EQ(a.freeExtents(), 2u);
    EXPECT_FALSE(a.isAllocated({10, 1}));
    a.free(x[0]);  // merges with the hole after it
    EXPECT_EQ(a.freeExtents(), 2u);
    EXPECT_EQ(a.largestFreeExtent(), 40u);
    a.free(z[0]);  // merges both sides into one
    EXPECT_EQ(a.freeExtents(), 1u);
    EXPECT_EQ(a.largestFreeExtent(), 100u);
    EXPECT_EQ(a.freeBlocks(), 100u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, ZeroAndOversizedRequests) {
    BlockAllocator a(8);
    Extents out{{99, 1}};
    EXPECT_TRUE(a.allocate(0, out));
    EXPECT_EQ(out, (Extents{{99, 1}}));  // untouched
    EXPECT_FALSE(a.allocate(9, out));
    EXPECT_EQ(out, (Extents{{99, 1}}));
    EXPECT_EQ(a.freeBlocks(), 8u);
    out.clear();
    EXPECT_TRUE(a.allocate(8, out));
    EXPECT_FALSE(a.allocate(1, out));
    EXPECT_EQ(a.freeBlocks(), 0u);
    EXPECT_EQ(a.largestFreeExtent(), 0u);
    EXPECT_NO_THROW(a.verify());
}

// Used/free layout: [0,2) used, [2,7) hole of 5, [7,8) used, [8,11) hole of 3, [11,12) used,
// [12,20) hole of 8, [20,21) used, [21,64) tail.
void makeHoles(BlockAllocator& a) {
    Extents all;
    ASSERT_TRUE(a.allocate(a.blockCount(), all));
    a.free({2, 5});
    a.free({8, 3});
    a.free({12, 8});
    a.free({21, a.blockCount() - 21});
}

TEST(BlockAllocator, BestFitTakesTheSmallestHoleThatHolds) {
    BlockAllocator a(64);
    makeHoles(a);
    Extents out;
    ASSERT_TRUE(a.allocate(3, out));
    EXPECT_EQ(out, (Extents{{8, 3}}));  // the exact fit, not the first or the largest
    out.clear();
    ASSERT_TRUE(a.allocate(4, out));
    EXPECT_EQ(out, (Extents{{2, 4}}));  // 5 is the smallest hole that holds 4
    out.clear();
    ASSERT_TRUE(a.allocate(7, out));
    EXPECT_EQ(out, (Extents{{12, 7}}));
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, FragmentedPoolServesALargeRequestFromSeveralHoles) {
    BlockAllocator a(64);
    std::vector<Extent> singles;
    for (int i = 0; i < 64; ++i) {
        Extents one;
        ASSERT_TRUE(a.allocate(1, one));
        singles.push_back(one[0]);
    }
    EXPECT_EQ(a.freeBlocks(), 0u);
    for (size_t i = 0; i < singles.size(); i += 2) a.free(singles[i]);
    EXPECT_EQ(a.freeBlocks(), 32u);
    EXPECT_EQ(a.largestFreeExtent(), 1u);
    EXPECT_EQ(a.freeExtents(), 32u);

    Extents got;
    ASSERT_TRUE(a.allocate(10, got));  // more than any hole
    EXPECT_EQ(got.size(), 10u);
    EXPECT_EQ(total(got), 10u);
    for (const Extent& e : got) {
        EXPECT_EQ(e.start % 2, 0u) << "block " << e.start << " was not free";
        EXPECT_TRUE(a.isAllocated(e));
    }
    EXPECT_EQ(a.freeBlocks(), 22u);

    // More than is free: refused, and nothing changes.
    Extents none;
    EXPECT_FALSE(a.allocate(23, none));
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(a.freeBlocks(), 22u);
    ASSERT_TRUE(a.allocate(22, none));
    EXPECT_EQ(a.freeBlocks(), 0u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, BadFreesThrowAndChangeNothing) {
    BlockAllocator a(32);
    Extents out;
    ASSERT_TRUE(a.allocate(16, out));
    a.free({4, 4});
    EXPECT_THROW(a.free({4, 4}), std::logic_error);               // double free
    EXPECT_THROW(a.free({2, 4}), std::logic_error);               // overlaps the free hole's start
    EXPECT_THROW(a.free({6, 4}), std::logic_error);               // overlaps the free hole's end
    EXPECT_THROW(a.free({14, 4}), std::logic_error);              // runs into the free tail
    EXPECT_THROW(a.free({30, 4}), std::logic_error);              // beyond the pool
    EXPECT_THROW(a.free({UINT64_MAX - 1, 4}), std::logic_error);  // wraps around
    EXPECT_EQ(a.freeBlocks(), 20u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, ReserveMarksUsedAndRefusesOverlap) {
    BlockAllocator a(64);
    EXPECT_TRUE(a.reserve({10, 5}));
    EXPECT_TRUE(a.isAllocated({10, 5}));
    EXPECT_FALSE(a.reserve({12, 5}));  // overlaps the reserved extent
    EXPECT_FALSE(a.reserve({8, 3}));
    EXPECT_FALSE(a.reserve({10, 5}));
    EXPECT_FALSE(a.reserve({60, 5}));  // beyond the end
    EXPECT_FALSE(a.reserve({UINT64_MAX, 2}));
    EXPECT_TRUE(a.reserve({15, 5}));  // adjacent is fine
    EXPECT_TRUE(a.reserve({0, 1}));
    EXPECT_TRUE(a.reserve({63, 1}));
    EXPECT_EQ(a.usedBlocks(), 12u);
    EXPECT_NO_THROW(a.verify());

    // A reserved extent is freed like an allocated one, and coalesces.
    a.free({10, 5});
    a.free({15, 5});
    EXPECT_EQ(a.usedBlocks(), 2u);
    EXPECT_EQ(a.freeExtents(), 1u);
    EXPECT_EQ(a.largestFreeExtent(), 62u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, ResizeGrowsAndShrinksOnlyOverFreeBlocks) {
    BlockAllocator a(16);
    Extents used;
    ASSERT_TRUE(a.allocate(4, used));  // [0,4)
    ASSERT_TRUE(a.resize(32));
    EXPECT_EQ(a.blockCount(), 32u);
    EXPECT_EQ(a.freeBlocks(), 28u);
    EXPECT_EQ(a.freeExtents(), 1u);  // the new blocks joined the old tail
    EXPECT_NO_THROW(a.verify());

    ASSERT_TRUE(a.reserve({20, 1}));
    EXPECT_FALSE(a.resize(10));  // block 20 is in use
    EXPECT_EQ(a.blockCount(), 32u);
    EXPECT_EQ(a.freeBlocks(), 27u);
    EXPECT_NO_THROW(a.verify());

    a.free({20, 1});
    ASSERT_TRUE(a.resize(10));
    EXPECT_EQ(a.blockCount(), 10u);
    EXPECT_EQ(a.freeBlocks(), 6u);
    EXPECT_EQ(a.usedBlocks(), 4u);
    EXPECT_NO_THROW(a.verify());
    Extents more;
    EXPECT_FALSE(a.allocate(7, more));
    ASSERT_TRUE(a.allocate(6, more));
    for (const Extent& e : more) EXPECT_LE(e.start + e.count, 10u);
    EXPECT_THROW(a.free({12, 1}), std::logic_error);  // no longer part of the pool
    EXPECT_TRUE(a.resize(10));
}

TEST(BlockAllocator, HintKeepsAGrowingEntryContiguous) {
    BlockAllocator a(64);
    Extents all;
    ASSERT_TRUE(a.allocate(64, all));
    // The entry owns [0,4); after it a hole of 10; a hole of 2 at 15; the tail from 18.
    a.free({4, 10});
    a.free({15, 2});
    a.free({18, 46});

    Extents no_hint;
    ASSERT_TRUE(a.allocate(2, no_hint));
    EXPECT_EQ(no_hint, (Extents{{15, 2}}));  // best fit without a hint
    a.free(no_hint[0]);

    Extents entry{{0, 4}};
    ASSERT_TRUE(a.allocate(2, entry, 4));
    EXPECT_EQ(entry, (Extents{{0, 6}}));  // appended to the entry's last extent
    ASSERT_TRUE(a.allocate(12, entry, 6));
    // 8 more from the hint's hole, then the rest by best fit (the tail: the 2-block hole is
    // too small for the 4 still needed).
    EXPECT_EQ(entry, (Extents{{0, 14}, {18, 4}}));
    EXPECT_NO_THROW(a.verify());

    // A hint that does not start a free extent is ignored.
    Extents other;
    ASSERT_TRUE(a.allocate(1, other, 3));
    EXPECT_EQ(other, (Extents{{15, 1}}));
}

// The zeroer of a test: records what it was asked to zero.
struct ZeroLog {
    Extents zeroed;
    BlockAllocator::Zeroer zeroer() {
        return [this](Extent e) { zeroed.push_back(e); };
    }
};

// An allocator of `blocks` with every block in use, then `stale` freed stale.
BlockAllocator fullThenStale(uint64_t blocks, ZeroLog& log, const Extents& stale) {
    BlockAllocator a(blocks, log.zeroer());
    Extents all;
    EXPECT_TRUE(a.allocate(blocks, all));
    for (const Extent& e : stale) a.free(e, Freed::Stale);
    return a;
}

TEST(BlockAllocator, StaleBlocksAreReusedFirstAndHandedOutAsSuch) {
    ZeroLog log;
    BlockAllocator a(100, log.zeroer());
    Extents x, y;
    ASSERT_TRUE(a.allocate(10, x));  // [0,10)
    ASSERT_TRUE(a.allocate(20, y));  // [10,30)
    a.free(y[0], Freed::Stale);
    EXPECT_EQ(a.staleBlocks(), 20u);
    EXPECT_EQ(a.freeBlocks(), 90u);
    EXPECT_NO_THROW(a.verify());

    // Best fit alone would take the 70 free blocks from 30 on; the stale ones go first.
    Extents got, stale;
    ASSERT_TRUE(a.allocateReusing(5, got, stale));
    EXPECT_EQ(got, (Extents{{10, 5}}));
    EXPECT_EQ(stale, (Extents{{10, 5}}));
    EXPECT_EQ(a.staleBlocks(), 15u);
    // More than the stale blocks: the rest by best fit, listed only in `got`.
    Extents more, more_stale;
    ASSERT_TRUE(a.allocateReusing(25, more, more_stale));
    EXPECT_EQ(more, (Extents{{15, 25}}));  // stale [15,30) then the hole after it
    EXPECT_EQ(more_stale, (Extents{{15, 15}}));
    EXPECT_EQ(a.staleBlocks(), 0u);
    EXPECT_TRUE(log.zeroed.empty());
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, EveryOtherTakerGetsStaleBlocksZeroed) {
    ZeroLog log;
    BlockAllocator a = fullThenStale(64, log, {{8, 8}, {40, 4}});
    a.free({44, 4});  // a hole next to stale blocks: coalesced as free, not as stale
    EXPECT_EQ(a.staleBlocks(), 12u);
    EXPECT_NO_THROW(a.verify());

    Extents got;
    ASSERT_TRUE(a.allocate(8, got));  // best fit: the 8 blocks at 8, all stale
    EXPECT_EQ(got, (Extents{{8, 8}}));
    EXPECT_EQ(log.zeroed, (Extents{{8, 8}}));

    log.zeroed.clear();
    ASSERT_TRUE(a.reserve({42, 4}));  // two stale blocks and two holes
    EXPECT_EQ(log.zeroed, (Extents{{42, 2}}));
    EXPECT_EQ(a.staleBlocks(), 2u);  // [40,42) is still stale
    EXPECT_NO_THROW(a.verify());

    log.zeroed.clear();
    a.free({60, 4}, Freed::Stale);
    ASSERT_TRUE(a.resize(62));  // the cut goes with its stale blocks zeroed
    EXPECT_EQ(log.zeroed, (Extents{{62, 2}}));
    EXPECT_EQ(a.staleBlocks(), 4u);
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, AHintInsideStaleBlocksKeepsAnEntryContiguous) {
    ZeroLog log;
    BlockAllocator a = fullThenStale(64, log, {{10, 20}, {50, 10}});
    Extents entry{{0, 10}}, stale;
    ASSERT_TRUE(a.allocateReusing(4, entry, stale, 10));
    EXPECT_EQ(entry, (Extents{{0, 14}}));
    ASSERT_TRUE(a.allocateReusing(4, entry, stale, 14));
    EXPECT_EQ(entry, (Extents{{0, 18}}));
    EXPECT_EQ(stale, (Extents{{10, 4}, {14, 4}}));
    EXPECT_TRUE(log.zeroed.empty());
    EXPECT_NO_THROW(a.verify());
}

TEST(BlockAllocator, FreeListIsTheFreeExtentsInOrder) {
    BlockAllocator a(32);
    Extents all;
    ASSERT_TRUE(a.allocate(32, all));
    a.free({20, 4});
    a.free({2, 3});
    a.free({24, 8});
    EXPECT_EQ(a.freeList(), (Extents{{2, 3}, {20, 12}}));
}

TEST(BlockAllocator, RandomOperationsKeepEveryInvariant) {
    constexpr uint64_t kBlocks = 1000;
    // The model: which blocks are used, and which free ones are stale. Only allocateReusing may
    // hand out a stale block unzeroed; everything else must have it zeroed first.
    std::vector<bool> used(kBlocks, false), stale(kBlocks, false);
    BlockAllocator a(kBlocks, [&](Extent e) {
        for (uint64_t b = e.start; b < e.start + e.count; ++b) {
            ASSERT_TRUE(stale[b]) << "zeroed block " << b << ", which is not stale";
            stale[b] = false;
        }
    });
    std::vector<Extent> owned;  // extents handed out, each freed whole or in pieces
    std::mt19937_64 rng(20240611);
    for (int step = 0; step < 4000; ++step) {
        const int op = static_cast<int>(rng() % 10);
        if (op < 5) {
            const uint64_t want = 1 + rng() % 40;
            Extents got;
            uint64_t hint = UINT64_MAX;
            if (!owned.empty() && rng() % 2) {
                const Extent& grow = owned[rng() % owned.size()];
                hint = grow.start + grow.count;
            }
            Extents handed;
            const bool reusing = rng() % 2 == 0;
            const bool ok =
                reusing ? a.allocateReusing(want, got, handed, hint) : a.allocate(want, got, hint);
            const uint64_t free_in_model = std::count(used.begin(), used.end(), false);
            ASSERT_EQ(ok, want <= free_in_model) << "step " << step;
            if (ok) {
                ASSERT_EQ(total(got), want);
                for (const Extent& e : handed)
                    for (uint64_t b = e.start; b < e.start + e.count; ++b) {
                        ASSERT_TRUE(stale[b]) << "block " << b << " handed as stale";
                        stale[b] = false;
                    }
                for (const Extent& e : got) {
                    for (uint64_t b = e.start; b < e.start + e.count; ++b) {
                        ASSERT_LT(b, kBlocks);
                        ASSERT_FALSE(used[b]) << "block " << b << " handed out twice";
                        ASSERT_FALSE(stale[b]) << "stale block " << b << " handed out unzeroed";
                        used[b] = true;
                    }
                    owned.push_back(e);
                }
            }
        } else if (op < 9 && !owned.empty()) {
            const size_t i = rng() % owned.size();
            Extent e = owned[i];
            // Free a part (the tail) sometimes, as truncation does.
            const uint64_t n = rng() % 3 == 0 ? 1 + rng() % e.count : e.count;
            const Extent freed{e.start + e.count - n, n};
            const bool as_stale = rng() % 2 == 0;
            a.free(freed, as_stale ? Freed::Stale : Freed::Zeros);
            for (uint64_t b = freed.start; b < freed.start + freed.count; ++b) {
                used[b] = false;
                stale[b] = as_stale;
            }
            if (n == e.count)
                owned.erase(owned.begin() + static_cast<long>(i));
            else
                owned[i].count -= n;
        } else if (!owned.empty()) {
            // Reserve of a used extent must fail.
            const Extent e = owned[rng() % owned.size()];
            ASSERT_FALSE(a.reserve(e));
        }
        ASSERT_NO_THROW(a.verify()) << "step " << step;
        ASSERT_EQ(a.freeBlocks(),
                  static_cast<uint64_t>(std::count(used.begin(), used.end(), false)));
        ASSERT_EQ(a.staleBlocks(),
                  static_cast<uint64_t>(std::count(stale.begin(), stale.end(), true)));
    }
    for (const Extent& e : owned) EXPECT_TRUE(a.isAllocated(e));
    for (const Extent& e : owned) a.free(e);
    EXPECT_EQ(a.freeBlocks(), kBlocks);
    EXPECT_EQ(a.freeExtents(), 1u);
}

}  // namespace
}  // namespace kvc
