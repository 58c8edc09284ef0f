#include "core/policy/retention_learner.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvc {
namespace {

// The upper edge of bin k, in ticks: bins are [2^(k/4), 2^((k+1)/4)).
double upperEdge(int k) {
    return std::exp2(static_cast<double>(k + 1) / RetentionLearner::kBinsPerOctave);
}

}  // namespace

RetentionLearner::RetentionLearner(size_t classes)
    : reuses_(classes, Bins{}), forgotten_(classes, 0.0), hull_(classes) {}

RetentionLearner::RetentionLearner(size_t classes, std::vector<size_t> group_of, double prior)
    : RetentionLearner(classes) {
    group_of_ = std::move(group_of);
    prior_ = prior;
}

int RetentionLearner::binOf(uint64_t gap) {
    if (gap <= 1) return 0;
    const int bin = static_cast<int>(kBinsPerOctave * std::log2(static_cast<double>(gap)));
    return std::min(bin, kBins - 1);
}

void RetentionLearner::decay() {
    for (Bins& bins : reuses_)
        for (double& n : bins) n *= 0.5;
    for (double& n : forgotten_) n *= 0.5;
}

void RetentionLearner::refit(const std::vector<Bins>& open) {
    struct Point {
        double cost, hits, until;
    };
    std::vector<Point> points, hull;
    // Each group's observations: its classes' summed (reuses, open, forgotten).
    size_t groups = 0;
    for (size_t g : group_of_) groups = std::max(groups, g + 1);
    std::vector<Bins> group_reuses(groups, Bins{}), group_open(groups, Bins{});
    std::vector<double> group_forgotten(groups, 0.0), group_total(groups, 0.0);
    for (size_t c = 0; c < group_of_.size(); ++c) {
        const size_t g = group_of_[c];
        for (int k = 0; k < kBins; ++k) {
            group_reuses[g][k] += reuses_[c][k];
            group_open[g][k] += open[c][k];
            group_total[g] += reuses_[c][k] + open[c][k];
        }
        group_forgotten[g] += forgotten_[c];
        group_total[g] += forgotten_[c];
    }
    Bins reuses;
    for (size_t c = 0; c < hull_.size(); ++c) {
        // The class's observations, plus `prior_` intervals' worth of its group's.
        reuses = reuses_[c];
        double forgotten = forgotten_[c];
        const Bins* group_open_bins = nullptr;
        double w = 0;
        if (!group_of_.empty() && group_total[group_of_[c]] > 0) {
            const size_t g = group_of_[c];
            w = prior_ / group_total[g];
            for (int k = 0; k < kBins; ++k) reuses[k] += w * group_reuses[g][k];
            forgotten += w * group_forgotten[g];
            group_open_bins = &group_open[g];
        }
        // At risk at the start of bin k: every interval that ended or is open at an age >= k.
        Bins at_risk{};
        double tail = forgotten;
        for (int k = kBins - 1; k >= 0; --k) {
            tail += reuses[k] + open[c][k] + (group_open_bins ? w * (*group_open_bins)[k] : 0);
            at_risk[k] = tail;
        }
        hull_[c].clear();
        if (tail <= 0) continue;

        // Kaplan-Meier: survive (not yet reused) through each bin; hits and cost of keeping
        // every interval of the class up to the bin's upper edge.
        points.assign(1, Point{0, 0, 0});
        double survive = 1, hits = 0, cost_of_reused = 0;
        for (int k = 0; k < kBins; ++k) {
            const double hazard = at_risk[k] > 0 ? reuses[k] / at_risk[k] : 0;
            const double reused_here = survive * hazard;
            survive -= reused_here;
            hits += reused_here;
            const double mid = upperEdge(k) * std::exp2(-0.5 / kBinsPerOctave);
            cost_of_reused += reused_here * mid;
            points.push_back({cost_of_reused + upperEdge(k) * survive, hits, upperEdge(k)});
        }
        // Upper concave hull of (cost, hits). Costs grow with the bin until every interval has
        // ended; points after that add nothing.
        hull.clear();
        for (const Point& p : points) {
            if (!hull.empty() && p.cost <= hull.back().cost) continue;
            while (hull.size() >= 2) {
                const Point& a = hull[hull.size() - 2];
                const Point& b = hull.back();
                if ((b.hits - a.hits) * (p.cost - a.cost) <= (p.hits - a.hits) * (b.cost - a.cost))
                    hull.pop_back();
                else
                    break;
            }
            hull.push_back(p);
        }
        for (size_t i = 1; i < hull.size(); ++i) {
            const double dcost = hull[i].cost - hull[i - 1].cost;
            if (dcost > 0)
                hull_[c].push_back({hull[i].until, (hull[i].hits - hull[i - 1].hits) / dcost});
        }
    }
}

double RetentionLearner::worth(size_t cls, uint64_t age) const {
    const auto& segments = hull_[cls];
    if (segments.empty()) return std::numeric_limits<double>::infinity();
    const double a = static_cast<double>(age);
    for (const Segment& s : segments)
        if (a < s.until) return s.slope;
    return 0;
}

}  // namespace kvc
