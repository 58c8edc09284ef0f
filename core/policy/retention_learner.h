// RetentionLearner: learns, for each class of reference, how the chance that an entry is
// referenced again falls with the time since its last reference, and turns that into the worth
// of keeping an entry of that class at a given age. Private to core/policy (kvadapt uses it).
//
// Observations are intervals: from one reference of an entry to the next (a reuse, with its gap),
// or to the moment the history forgets the entry (no reuse within the history's horizon), or
// still open (right-censored: no reuse yet, at the current age). Gaps go into logarithmic bins,
// four per octave. At a refit the Kaplan-Meier estimator turns the three kinds into, per class,
// the probability that an interval ends with a reuse in each bin.
//
// Keeping every entry of class c until it is R ticks old gives hits(R) = P(gap <= R) per
// interval and costs space x time cost(R) = E[min(gap, R)]. The upper concave hull of
// (cost(R), hits(R)) has decreasing slopes; the slope of the hull segment an entry's age falls in
// is the hits per entry and tick its retention buys at the margin. Evicting the entry with the
// lowest such worth solves the fractional knapsack "which (class, retention time) pairs fill the
// cache with the most hits": each class is kept up to its own threshold age, and the cache's size
// sets the price without the learner having to know it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvc {

class RetentionLearner {
  public:
    static constexpr int kBinsPerOctave = 4;
    static constexpr int kBins = 21 * kBinsPerOctave;  // gaps up to 2^21 ticks
    using Bins = std::array<double, kBins>;

    explicit RetentionLearner(size_t classes);
    // Classes in groups (group_of[cls]): at a refit each class's observations are blended with
    // `prior` intervals' worth of its group's (the sum of the group's classes), so a class with
    // few observations follows its group and one with many its own.
    RetentionLearner(size_t classes, std::vector<size_t> group_of, double prior);

    static int binOf(uint64_t gap);

    // An interval of `cls` ended with a reuse after `gap` ticks.
    void reused(size_t cls, uint64_t gap) { reuses_[cls][binOf(gap)] += 1; }
    // An interval of `cls` was forgotten without a reuse.
    void forgotten(size_t cls) { forgotten_[cls] += 1; }
    // Halves the counts of ended intervals, so the estimate follows a changing workload.
    void decay();
    // Recomputes every class's hull; open[cls][bin] counts the intervals still open, by age bin.
    void refit(const std::vector<Bins>& open);

    // Hits per entry and tick that keeping an entry of `cls` aged `age` buys at the margin.
    // A class the learner has no observation of yet is worth more than any that it has (it is
    // kept, so it can be learned); 0 beyond the last hull segment.
    double worth(size_t cls, uint64_t age) const;
    bool trained(size_t cls) const { return !hull_[cls].empty(); }

  private:
    struct Segment {
        double until;  // the segment covers ages below this
        double slope;  // hits per entry and tick
    };

    std::vector<Bins> reuses_;
    std::vector<double> forgotten_;
    std::vector<std::vector<Segment>> hull_;
    std::vector<size_t> group_of_;  // empty: no groups
    double prior_ = 0;
};

}  // namespace kvc
