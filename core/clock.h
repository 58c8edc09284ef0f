// Wall-clock time in nanoseconds since the epoch, as entries' times are kept.
#pragma once

#include <cstdint>
#include <ctime>

namespace kvc {

inline int64_t nowNs() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace kvc
