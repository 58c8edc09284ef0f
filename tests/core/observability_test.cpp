// What operators read besides .stats: the latency histograms (core/latency.h) and the log of
// refused requests (core/reject_log.h).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/latency.h"
#include "core/reject_log.h"

namespace kvc {
namespace {

TEST(LatencyHistogramTest, SamplesFallInTheFirstBucketThatHoldsThem) {
    LatencyHistogram h;
    h.record(0);              // <= 1 µs
    h.record(1'000);          // exactly on a bound: that bucket (Prometheus's le is <=)
    h.record(1'001);          // <= 2.5 µs
    h.record(3'000'000);      // <= 5 ms
    h.record(9'000'000'000);  // past 2.5 s: +Inf
    const LatencySnapshot s = h.snapshot();
    EXPECT_EQ(2u, s.buckets[0]);
    EXPECT_EQ(1u, s.buckets[1]);
    EXPECT_EQ(1u, s.buckets[11]);  // the 5 ms bucket
    EXPECT_EQ(1u, s.buckets.back());
    EXPECT_EQ(5u, s.count);
    EXPECT_EQ(0u + 1'000 + 1'001 + 3'000'000 + 9'000'000'000, s.sum_ns);
}

TEST(LatencyHistogramTest, ConcurrentRecordsAreAllCounted) {
    LatencyHistogram h;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&h, t] {
            for (uint64_t i = 0; i < 10000; ++i) h.record(i * 1000 * (t + 1));
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(40000u, h.snapshot().count);
}

TEST(LatencyHistogramTest, TimerRecordsOneSample) {
    LatencyHistogram h;
    { LatencyTimer timed(h); }
    EXPECT_EQ(1u, h.snapshot().count);
}

TEST(RejectLogTest, KeepsTheLatestAndCountsAll) {
    RejectLog log;
    for (int i = 0; i < 20; ++i)
        log.add(".size", Error{EINVAL, "bad size " + std::to_string(i)}, int64_t{i} * 1000000000);
    EXPECT_EQ(20u, log.total());
    const auto kept = log.recent();
    ASSERT_EQ(RejectLog::kKept, kept.size());
    EXPECT_EQ("bad size 4", kept.front().message);
    EXPECT_EQ("bad size 19", kept.back().message);
    const std::string text = formatRejections(kept, log.total());
    EXPECT_EQ(0u,
              text.find("rejected_total 20\n1970-01-01T00:00:04.000Z .size EINVAL bad size 4\n"))
        << text;
}

TEST(RejectLogTest, MessagesAreOnePrintableBoundedLine) {
    RejectLog log;
    log.add("user.kvcache.priority\n", Error{ERANGE, "line one\nline two \x1b[2J"}, 0);
    log.add(".policy", Error{EINVAL, std::string(5000, 'x')}, 0);
    log.add(".evict", Error{EINVAL, ""}, 0);
    const std::string text = formatRejections(log.recent(), log.total());
    EXPECT_EQ(4, std::count(text.begin(), text.end(), '\n')) << text;
    EXPECT_EQ(std::string::npos, text.find('\x1b'));
    EXPECT_NE(std::string::npos, text.find("ERANGE \"line one\\x0aline two \\x1b[2J\"")) << text;
    for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
         start = end + 1)
        EXPECT_LT(end - start, 400u);
    EXPECT_NE(std::string::npos, text.find(".evict EINVAL -\n")) << text;
}

}  // namespace
}  // namespace kvc
