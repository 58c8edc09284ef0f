// Tests of the time conversions in core/clock.h: a timespec from anywhere (a client's
// utimensat, an image's attribute text) becomes nanoseconds without overflow, and back.
#include "core/clock.h"
#include "core/version.h"

#include <gtest/gtest.h>

#include <limits>

namespace kvc {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(Clock, SecondsAndNanosecondsBecomeNanoseconds) {
    EXPECT_EQ(nsOf(0, 0), 0);
    EXPECT_EQ(nsOf(1, 5), 1000000005);
    EXPECT_EQ(nsOf(-1, 999999999), -1);
    EXPECT_EQ(nsOf(1700000000, 123), 1700000000000000123);
}

TEST(Clock, ATimeBeyondTheRangeIsRefusedNotWrapped) {
    EXPECT_FALSE(nsOf(kMax / 1000000000 + 1, 0));
    EXPECT_FALSE(nsOf(kMin / 1000000000 - 1, 0));
    EXPECT_FALSE(nsOf(kMax / 1000000000, 999999999)) << "the addition overflows";
    EXPECT_FALSE(nsOf(kMax, 0));
    EXPECT_TRUE(nsOf(kMax / 1000000000, kMax % 1000000000));
}

TEST(Clock, ClampedTimesStayAtTheEdgeOfTheRange) {
    EXPECT_EQ(clampedNsOf(kMax, 0), kMax);
    EXPECT_EQ(clampedNsOf(kMin, 0), kMin);
    EXPECT_EQ(clampedNsOf(12, 34), 12000000034);
}

TEST(Clock, TimespecOfIsTheInverseWithANonNegativeNanosecondPart) {
    for (int64_t ns : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1700000000000000123},
                       int64_t{-1500000000}, kMax, kMin + 1000000000}) {
        const timespec ts = timespecOf(ns);
        EXPECT_GE(ts.tv_nsec, 0) << ns;
        EXPECT_LT(ts.tv_nsec, 1000000000) << ns;
        EXPECT_EQ(nsOf(ts.tv_sec, ts.tv_nsec), ns);
    }
}

TEST(HybridClockTest, TicksGrowFollowTheWallClockAndWhatTheyObserve) {
    HybridClock c(5);
    const uint64_t wall = static_cast<uint64_t>(nowNs());
    const Version a = c.tick();
    EXPECT_GE(a.hlc, wall);
    EXPECT_EQ(a.node, 5u);
    Version prev = a;
    for (int i = 0; i < 100000; ++i) {  // faster than the wall clock moves
        const Version v = c.tick();
        ASSERT_GT(v, prev);
        prev = v;
    }
    const Version seen{prev.hlc + uint64_t{5} * 1000000000, 9};  // another host, 5 s ahead
    EXPECT_TRUE(c.observe(seen));
    EXPECT_GT(c.tick().hlc, seen.hlc);
    EXPECT_TRUE(c.observe(Version{1, 1})) << "an old version is seen, and changes nothing";
    EXPECT_GT(c.tick().hlc, seen.hlc);
}

TEST(HybridClockTest, AVersionFarAheadOfTheWallClockIsNotFollowed) {
    HybridClock c(5);
    const Version now = c.tick();
    const Version forged{UINT64_MAX, 1};
    EXPECT_FALSE(c.observe(forged));
    const Version next = c.tick();
    EXPECT_GT(next, now);
    EXPECT_LT(next.hlc, now.hlc + HybridClock::kMaxAheadNs / 2) << "it jumped";
}

TEST(HybridClockTest, ClocksGetDistinctNodes) {
    EXPECT_NE(HybridClock().node(), HybridClock().node());
    EXPECT_NE(HybridClock().node(), 0u);
}

}  // namespace
}  // namespace kvc
