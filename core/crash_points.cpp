// Crash points for the crash-consistency tests (see crash_points.h); empty in the daemon.
#include "core/crash_points.h"

#ifdef KVCACHEFS_CRASH_POINTS
#include <atomic>

namespace kvc {
namespace {
std::atomic<uint64_t> g_armed{0};
std::atomic<uint64_t> g_passed{0};
}  // namespace

void crashPoint(const char* step) {
    const uint64_t n = ++g_passed;
    if (g_armed != 0 && n == g_armed) {
        g_armed = 0;
        throw SimulatedCrash{step};
    }
}

void armCrashAt(uint64_t k) {
    g_passed = 0;
    g_armed = k;
}

uint64_t crashPointsPassed() {
    return g_passed;
}

}  // namespace kvc
#endif
