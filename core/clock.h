// Wall-clock time in nanoseconds since the epoch, as entries' times are kept, and its conversion
// to the timespec of stat(2) and utimensat(2).
#pragma once

#include <cstdint>
#include <ctime>
#include <limits>
#include <optional>

namespace kvc {

inline int64_t nowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Seconds and nanoseconds (as a timespec holds them, from anywhere) in nanoseconds: nullopt
// when that does not fit in int64_t (beyond about 292 years from 1970).
inline std::optional<int64_t> nsOf(int64_t sec, int64_t nsec) {
    int64_t ns = 0;
    if (__builtin_mul_overflow(sec, int64_t{1000000000}, &ns) ||
        __builtin_add_overflow(ns, nsec, &ns))
        return std::nullopt;
    return ns;
}

// The same, clamped to the range an entry's time can hold (as a filesystem clamps a time
// utimensat(2) gives beyond its range).
inline int64_t clampedNsOf(int64_t sec, int64_t nsec) {
    if (auto ns = nsOf(sec, nsec)) return *ns;
    return sec < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

// Rounded down to whole seconds, so that tv_nsec is in [0, 1e9) for times before 1970 too
// (utimensat refuses a negative tv_nsec with EINVAL).
inline timespec timespecOf(int64_t ns) {
    int64_t sec = ns / 1000000000, rem = ns % 1000000000;
    if (rem < 0) {
        sec -= 1;
        rem += 1000000000;
    }
    return timespec{static_cast<time_t>(sec), static_cast<long>(rem)};
}

}  // namespace kvc
