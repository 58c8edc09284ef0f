// Tests of RetentionLearner: the per-class estimate of how much keeping an entry is worth.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/policy/retention_learner.h"

namespace kvc {
namespace {

using Bins = RetentionLearner::Bins;

std::vector<Bins> noneOpen(size_t classes) {
    return std::vector<Bins>(classes, Bins{});
}

TEST(RetentionLearner, BinsAreLogarithmicFourPerOctave) {
    EXPECT_EQ(RetentionLearner::binOf(0), 0);
    EXPECT_EQ(RetentionLearner::binOf(1), 0);
    EXPECT_EQ(RetentionLearner::binOf(2), 4);
    EXPECT_EQ(RetentionLearner::binOf(1024), 40);
    EXPECT_EQ(RetentionLearner::binOf(UINT64_MAX), RetentionLearner::kBins - 1);
}

TEST(RetentionLearner, AnUntrainedClassIsWorthMoreThanAnyTrainedOne) {
    RetentionLearner l(2);
    l.reused(0, 100);
    l.refit(noneOpen(2));
    EXPECT_TRUE(l.trained(0));
    EXPECT_FALSE(l.trained(1));
    EXPECT_TRUE(std::isinf(l.worth(1, 5)));
    EXPECT_GT(l.worth(0, 5), 0);
}

// Class 0 is always reused after about 100 ticks; class 1 half the time after 100 ticks and
// otherwise never. Keeping either until its reuse is worth something; class 0 more, per tick;
// neither is worth anything once past the reuse time.
TEST(RetentionLearner, WorthFollowsTheReuseChance) {
    RetentionLearner l(2);
    for (int i = 0; i < 100; ++i) {
        l.reused(0, 100);
        l.reused(1, 100);
        l.forgotten(1);
    }
    l.refit(noneOpen(2));
    EXPECT_NEAR(l.worth(0, 10), 1.0 / 100, 0.002);  // one hit per ~100 ticks of space
    EXPECT_GT(l.worth(0, 10), l.worth(1, 10));
    EXPECT_GT(l.worth(1, 10), 0);
    EXPECT_EQ(l.worth(0, 1000), 0);
    EXPECT_EQ(l.worth(1, 1000), 0);
}

// Intervals still open are censored observations, not misses: 50 reuses at 100 ticks and 50
// intervals open at age 10 (they may still be reused) keep the estimate of a class whose every
// reuse comes at 100; counting them as forgotten would halve it.
TEST(RetentionLearner, OpenIntervalsAreCensoredNotMisses) {
    RetentionLearner censored(1), missed(1);
    for (int i = 0; i < 50; ++i) {
        censored.reused(0, 100);
        missed.reused(0, 100);
        missed.forgotten(0);
    }
    auto open = noneOpen(1);
    open[0][RetentionLearner::binOf(10)] = 50;
    censored.refit(open);
    missed.refit(noneOpen(1));
    EXPECT_NEAR(censored.worth(0, 10), 1.0 / 100, 0.002);
    EXPECT_LT(missed.worth(0, 10), 0.75 * censored.worth(0, 10));
}

// Classes in a group: a class with no observations of its own starts from its group's (it is
// trained, not worth infinitely much), and one with many follows its own. Classes 0 and 1 form
// group 0: class 0 always reused after 100 ticks; class 1 never seen, then seen 5,000 times
// never reused. Class 2, alone in group 1, stays untrained.
TEST(RetentionLearner, ARareClassFollowsItsGroup) {
    RetentionLearner l(3, {0, 0, 1}, 16);
    for (int i = 0; i < 200; ++i) l.reused(0, 100);
    l.refit(noneOpen(3));
    EXPECT_TRUE(l.trained(1));
    EXPECT_FALSE(l.trained(2));
    EXPECT_NEAR(l.worth(1, 10), l.worth(0, 10), 1e-9);
    for (int i = 0; i < 5000; ++i) l.forgotten(1);
    l.refit(noneOpen(3));
    EXPECT_LT(l.worth(1, 10), 0.01 * l.worth(0, 10));
    EXPECT_NEAR(l.worth(0, 10), 1.0 / 100, 0.003);  // its own 200 still outweigh the group's
}

// Halving the counts of ended intervals lets newer observations outweigh old ones.
TEST(RetentionLearner, DecayForgetsOldObservations) {
    RetentionLearner l(1);
    for (int i = 0; i < 64; ++i) l.forgotten(0);
    l.reused(0, 50);
    l.refit(noneOpen(1));
    const double before = l.worth(0, 10);
    for (int i = 0; i < 6; ++i) l.decay();  // the 64 misses now weigh 1
    for (int i = 0; i < 8; ++i) l.reused(0, 50);
    l.refit(noneOpen(1));
    EXPECT_GT(l.worth(0, 10), 5 * before);
}

}  // namespace
}  // namespace kvc
