// Tests of the time conversions in core/clock.h: a timespec from anywhere (a client's
// utimensat, an image's attribute text) becomes nanoseconds without overflow, and back.
#include "core/clock.h"

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

}  // namespace
}  // namespace kvc
