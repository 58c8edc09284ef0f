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
    for (size_t c = 0; c < hull_.size(); ++c) {
        const Bins& reuses = reuses_[c];
        // At risk at the start of bin k: every interval that ended or is open at an age >= k.
        Bins at_risk{};
        double tail = forgotten_[c];
        for (int k = kBins - 1; k >= 0; --k) {
            tail += reuses[k] + open[c][k];
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
