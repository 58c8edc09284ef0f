// Crash points: every durable step of a pool (an inode or name record written or cleared, blocks
// hole-punched, the superblock stored) calls crashPoint() just before it changes the segment.
//
// In a build with KVCACHEFS_CRASH_POINTS (the test library kvcachefs_core_crash only) a test
// arms the k-th step from now: that call throws SimulatedCrash instead of returning, so the
// segment holds exactly what a process killed at that step leaves in shared memory. The test
// then drops the Pool without detaching and attaches the segment again (tests/core/crash_test).
// In the daemon's build crashPoint() is an empty inline function.
#pragma once

#include <cstdint>

namespace kvc {

struct SimulatedCrash {
    const char* step;
};

#ifdef KVCACHEFS_CRASH_POINTS
void crashPoint(const char* step);
// Throw at the k-th crash point from now (k >= 1); 0 disarms.
void armCrashAt(uint64_t k);
// Crash points passed since the last armCrashAt.
uint64_t crashPointsPassed();
#else
inline void crashPoint(const char*) {}
#endif

}  // namespace kvc
