// Copies of KV blocks (tens of KiB to MiB) between a client's buffer and a pool's segment, done
// the way that is fastest on the machine at hand, as measured on the copies themselves.
//
// Which way is fastest differs between machines by more than everything else a store or a load
// costs:
//   - glibc's memcpy uses non-temporal stores only for copies above a threshold it derives from
//     the L3 cache the CPU reports. A VM that reports its host's L3 (300 MiB on the Intel Xeon VM
//     this was measured on) gets a threshold of 114 MiB, so every KV block is copied with
//     ordinary stores, each destination line read from memory before it is overwritten: 2 MiB
//     copies out of a segment ran at 5.3 GB/s there, and at 8-10 GB/s with non-temporal stores
//     (copyStreaming, or glibc itself with a lower threshold).
//   - On an AMD EPYC VM, glibc's `rep movsb` into segment pages ran a quarter slower than its
//     vector loop in pieces of 8 KiB (copyInPieces), and non-temporal stores gained little.
// A CopyChooser has several ways to copy and times them, interleaved call by call, on a few
// dozen of the real copies now and then (16 per way every 1,024 copies); in between, every copy
// takes the way whose median copy was fastest (a median, so that a copy preempted half way does
// not decide).
// The bytes copied are the same whichever way is taken.
//
// The FUSE path's writes (a request of up to 1 MiB, from libfuse's buffer) keep copyInPieces:
// their commit hashes the entry's blocks afterwards, so a copy that leaves them out of the cache
// would only move the cost there.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/xxh3.h"

namespace kvc {

using CopyFn = void (*)(char* dst, const char* src, size_t n);

// glibc's memcpy.
void copyMemcpy(char* dst, const char* src, size_t n);
// memcpy in pieces of 8 KiB, which glibc copies with its vector loop rather than `rep movsb`.
void copyInPieces(char* dst, const char* src, size_t n);
// Non-temporal stores (the destination is not read into the cache first, nor kept there), four
// pages at a time, the source prefetched; memcpy where the CPU has no such stores.
void copyStreaming(char* dst, const char* src, size_t n);

class CopyChooser {
  public:
    static constexpr size_t kMaxWays = 3;
    // Each way is timed on this many copies per trial.
    static constexpr uint64_t kTrialCopies = 16;
    // A trial starts every this many copies (the first one at once).
    static constexpr uint64_t kPeriod = 1024;
    // Smaller copies take memcpy, untimed: they stay within the caches whichever way is taken.
    static constexpr size_t kMinBytes = 64 * 1024;

    // `ways`: 1 to kMaxWays ways to copy, the first used until a trial has chosen.
    template <size_t N>
    explicit CopyChooser(const std::array<CopyFn, N>& ways) : count_(N) {
        static_assert(N >= 1 && N <= kMaxWays);
        for (size_t i = 0; i < N; ++i) ways_[i] = ways[i];
    }

    void copy(char* dst, const char* src, size_t n);
    // The way every copy outside a trial takes now (an index into the ways given).
    size_t chosen() const { return chosen_.load(std::memory_order_relaxed); }

  private:
    void decide();

    std::array<CopyFn, kMaxWays> ways_{};
    size_t count_;
    std::atomic<uint64_t> copies_{0};
    std::atomic<size_t> chosen_{0};
    // The trial's copies, in picoseconds per byte (0: not yet timed), by way.
    std::array<std::array<std::atomic<uint64_t>, kTrialCopies>, kMaxWays> cost_{};
};

// The chooser of the data path's stores into a segment (memcpy, pieces, streaming), and of its
// loads out of one into a client's buffer (memcpy, streaming): one each per process.
CopyChooser& storeCopier();
CopyChooser& loadCopier();

// Bytes of the source hashed at a time, right after their copy, while they are in the cache:
// hashed after the whole copy, a 2 MiB source is read from memory twice (a quarter of a store's
// time on the Intel VM above).
inline constexpr size_t kCopyHashPiece = 64 * 1024;

// A data-path store's copy into blocks: storeCopier()'s, adding the source bytes to `sum` in
// order, a piece at a time right after its copy.
void storeAndHash(char* dst, const char* src, size_t n, Xxh3Stream& sum);

}  // namespace kvc
