#include "core/bulk_copy.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#if defined(__x86_64__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace kvc {

// A copy of no bytes does nothing, whatever the pointers (a caller's empty buffer may be null,
// which memcpy may not be given).
void copyMemcpy(char* dst, const char* src, size_t n) {
    if (n == 0) return;
    std::memcpy(dst, src, n);
}

void copyInPieces(char* dst, const char* src, size_t n) {
    if (n == 0) return;
    constexpr size_t kPiece = 8192;
    for (; n > kPiece; n -= kPiece, dst += kPiece, src += kPiece) std::memcpy(dst, src, kPiece);
    std::memcpy(dst, src, n);
}

#if defined(__x86_64__)
namespace {

constexpr size_t kLine = 64, kPage = 4096, kPages = 4;

// One cache line, SSE2 (every x86-64 CPU has it): unaligned loads, non-temporal stores to an
// aligned destination.
inline void streamLine(char* dst, const char* src) {
    const auto* s = reinterpret_cast<const __m128i*>(src);
    auto* d = reinterpret_cast<__m128i*>(dst);
    const __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
    const __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
    _mm_stream_si128(d, a);
    _mm_stream_si128(d + 1, b);
    _mm_stream_si128(d + 2, c);
    _mm_stream_si128(d + 3, e);
}

}  // namespace

void copyStreaming(char* dst, const char* src, size_t n) {
    if (n == 0) return;
    // Up to the destination's next cache line with memcpy; then four pages at a time, a line of
    // each in turn (as glibc's own large copy does: the four streams keep more of the memory's
    // banks busy); then whole lines; the rest with memcpy.
    const size_t head = std::min(n, (kLine - reinterpret_cast<uintptr_t>(dst) % kLine) % kLine);
    std::memcpy(dst, src, head);
    size_t at = head;
    for (; n - at >= kPages * kPage; at += kPages * kPage) {
        for (size_t line = 0; line < kPage; line += kLine) {
            for (size_t p = 0; p < kPages; ++p) {
                const size_t o = at + p * kPage + line;
                _mm_prefetch(src + o + 4 * kLine, _MM_HINT_T0);
                streamLine(dst + o, src + o);
            }
        }
    }
    for (; n - at >= kLine; at += kLine) streamLine(dst + at, src + at);
    std::memcpy(dst + at, src + at, n - at);
    // The stores reach memory in order with what follows (the reply that says they are there).
    _mm_sfence();
}
#else
void copyStreaming(char* dst, const char* src, size_t n) {
    copyMemcpy(dst, src, n);
}
#endif

void CopyChooser::copy(char* dst, const char* src, size_t n) {
    if (n < kMinBytes) {
        copyMemcpy(dst, src, n);
        return;
    }
    const uint64_t k = copies_.fetch_add(1, std::memory_order_relaxed) % kPeriod;
    const uint64_t trial = kTrialCopies * count_;
    if (k >= trial) return ways_[chosen_.load(std::memory_order_relaxed)](dst, src, n);
    // A trial: the ways in turn, each copy timed in a slot of its own.
    const size_t way = k % count_;
    const auto t0 = std::chrono::steady_clock::now();
    ways_[way](dst, src, n);
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    const uint64_t ps_per_byte = static_cast<uint64_t>(std::max<int64_t>(ns, 1)) * 1000 / n;
    cost_[way][k / count_].store(std::max<uint64_t>(ps_per_byte, 1), std::memory_order_relaxed);
    if (k == trial - 1) decide();
}

// The way whose median copy of the trial cost least per byte; the slots are emptied for the
// next trial. With several threads, a copy of the trial may still be running: its slot is not
// counted (or counts in the next trial).
void CopyChooser::decide() {
    size_t best = chosen_.load(std::memory_order_relaxed);
    uint64_t best_cost = UINT64_MAX;
    for (size_t w = 0; w < count_; ++w) {
        std::array<uint64_t, kTrialCopies> costs{};
        size_t timed = 0;
        for (auto& slot : cost_[w])
            if (const uint64_t c = slot.exchange(0, std::memory_order_relaxed)) costs[timed++] = c;
        if (!timed) continue;
        std::nth_element(costs.begin(), costs.begin() + timed / 2, costs.begin() + timed);
        if (costs[timed / 2] < best_cost) {
            best_cost = costs[timed / 2];
            best = w;
        }
    }
    chosen_.store(best, std::memory_order_relaxed);
}

void storeAndHash(char* dst, const char* src, size_t n, Xxh3Stream& sum) {
    for (size_t done = 0; done < n;) {
        const size_t k = std::min(n - done, kCopyHashPiece);
        storeCopier().copy(dst + done, src + done, k);
        sum.update(src + done, k);
        done += k;
    }
}

CopyChooser& storeCopier() {
    static CopyChooser chooser(std::array<CopyFn, 3>{copyMemcpy, copyInPieces, copyStreaming});
    return chooser;
}

CopyChooser& loadCopier() {
    static CopyChooser chooser(std::array<CopyFn, 2>{copyMemcpy, copyStreaming});
    return chooser;
}

}  // namespace kvc
