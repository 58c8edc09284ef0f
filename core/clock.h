// Wall-clock time in nanoseconds since the epoch, as entries' times are kept, and its conversion
// to the timespec of stat(2) and utimensat(2).
#pragma once

#include <cstdint>
#include <ctime>

namespace kvc {

inline int64_t nowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
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
