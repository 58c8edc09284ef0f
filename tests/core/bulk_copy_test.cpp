// The data path's copies (core/bulk_copy.h): every way copies exactly the bytes asked, at any
// alignment and length, and touches nothing around them; a CopyChooser settles on the fastest
// way it has; a store's hash on the way is the hash of its bytes.
#include "core/bulk_copy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

namespace kvc {
namespace {

std::vector<char> pattern(size_t n, unsigned seed) {
    std::vector<char> v(n);
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (char& c : v) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c = static_cast<char>(x);
    }
    return v;
}

class EveryWay : public ::testing::TestWithParam<CopyFn> {};

TEST_P(EveryWay, CopiesExactlyTheBytesAskedAtAnyAlignment) {
    const CopyFn copy = GetParam();
    constexpr size_t kGuard = 128;
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{4095},
                     size_t{16384}, size_t{3 * 16384 + 17}, size_t{(1 << 20) + 5}}) {
        for (size_t src_off : {0, 1, 31}) {
            for (size_t dst_off : {0, 7, 63}) {
                // One byte more than needed: an empty vector's data() may be null.
                const std::vector<char> src = pattern(n + src_off + 1, static_cast<unsigned>(n));
                std::vector<char> dst(n + dst_off + 2 * kGuard, '\x5a');
                copy(dst.data() + kGuard + dst_off, src.data() + src_off, n);
                ASSERT_EQ(std::memcmp(dst.data() + kGuard + dst_off, src.data() + src_off, n), 0)
                    << n << " bytes, source +" << src_off << ", destination +" << dst_off;
                for (size_t i = 0; i < kGuard + dst_off; ++i) ASSERT_EQ(dst[i], '\x5a') << i;
                for (size_t i = kGuard + dst_off + n; i < dst.size(); ++i)
                    ASSERT_EQ(dst[i], '\x5a') << "past the end, at " << i;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(BulkCopy, EveryWay,
                         ::testing::Values(&copyMemcpy, &copyInPieces, &copyStreaming));

// A way that copies, then wastes 200 us: slower than memcpy on any machine. Counts its calls.
std::atomic<int> slow_copies{0};
void slowCopy(char* dst, const char* src, size_t n) {
    slow_copies++;
    std::memcpy(dst, src, n);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (std::chrono::steady_clock::now() < until) {
    }
}

TEST(CopyChooser, SettlesOnTheFasterWayWhicheverComesFirst) {
    const std::vector<char> src = pattern(CopyChooser::kMinBytes, 1);
    std::vector<char> dst(src.size());
    CopyChooser slow_first(std::array<CopyFn, 2>{slowCopy, copyMemcpy});
    CopyChooser fast_first(std::array<CopyFn, 2>{copyMemcpy, slowCopy});
    EXPECT_EQ(slow_first.chosen(), 0u);  // before any trial: the first way
    for (uint64_t i = 0; i < 2 * CopyChooser::kTrialCopies; ++i) {
        std::fill(dst.begin(), dst.end(), 0);
        slow_first.copy(dst.data(), src.data(), src.size());
        ASSERT_EQ(dst, src) << "copy " << i;
        fast_first.copy(dst.data(), src.data(), src.size());
    }
    EXPECT_EQ(slow_first.chosen(), 1u);
    EXPECT_EQ(fast_first.chosen(), 0u);
    // Outside a trial every copy takes the chosen way.
    const int slow_before = slow_copies;
    for (int i = 0; i < 50; ++i) slow_first.copy(dst.data(), src.data(), src.size());
    EXPECT_EQ(slow_copies, slow_before);
}

TEST(CopyChooser, SmallCopiesTakeMemcpyAndDoNotCountTowardsATrial) {
    const std::vector<char> src = pattern(CopyChooser::kMinBytes - 1, 2);
    std::vector<char> dst(src.size());
    CopyChooser chooser(std::array<CopyFn, 2>{slowCopy, copyMemcpy});
    const int slow_before = slow_copies;
    for (uint64_t i = 0; i < 4 * CopyChooser::kTrialCopies; ++i)
        chooser.copy(dst.data(), src.data(), src.size());
    EXPECT_EQ(dst, src);
    EXPECT_EQ(slow_copies, slow_before);  // memcpy, not the chooser's first way
    EXPECT_EQ(chooser.chosen(), 0u);      // and no trial has run
}

TEST(StoreAndHash, HashesTheBytesItCopiesAsOneXxh3Would) {
    for (size_t n : {size_t{0}, size_t{100}, kCopyHashPiece - 1, kCopyHashPiece, kCopyHashPiece + 1,
                     5 * kCopyHashPiece + 333, size_t{2} << 20}) {
        const std::vector<char> src = pattern(n + 1, 3);  // data() not null, even for n = 0
        std::vector<char> dst(n + 1, '\x11');
        Xxh3Stream sum;
        storeAndHash(dst.data(), src.data(), n, sum);
        EXPECT_EQ(sum.digest(), XXH3_64bits(src.data(), n)) << n << " bytes";
        EXPECT_EQ(std::memcmp(dst.data(), src.data(), n), 0) << n << " bytes";
        EXPECT_EQ(dst[n], '\x11');
    }
}

}  // namespace
}  // namespace kvc
