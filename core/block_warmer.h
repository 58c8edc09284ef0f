// BlockWarmer: has a pool's blocks mapped in this process, in the background.
//
// Copies through the segment's mapping run at memcpy speed, about twice pread/pwrite on the
// segment's file, but the first access of a page through the mapping costs a fault, and on some
// VMs that fault costs 25 times the copy (docs/PERFORMANCE.md, "The data path"). So the pool
// copies through the file until a block is mapped, and this thread maps the blocks that hold
// entries (Segment::populate) off the clients' path: at the lowest CPU priority, and only once
// the pool has copied nothing for a millisecond (populating beside a copy slowed the copy down
// several times on a 2-vCPU VM). Since freed blocks stay backed for the next writes, a block
// mapped once stays mapped while the pool is attached, unless punched.
//
// Best effort: a block queued more than kMaxQueued extents behind is not mapped (copies of it
// go through the file). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "core/layout.h"

namespace kvc {

class Segment;

// CLOCK_MONOTONIC in nanoseconds.
inline int64_t steadyNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class BlockWarmer {
  public:
    static constexpr size_t kMaxQueued = 65536;
    // How long the pool must have copied nothing before a piece is populated.
    static constexpr int64_t kQuietNs = 1000000;

    // `last_copy_ns`: steadyNs() of the pool's latest copy in or out of its blocks.
    BlockWarmer(Segment& segment, const std::atomic<int64_t>& last_copy_ns);
    ~BlockWarmer();  // stops and joins the thread
    BlockWarmer(const BlockWarmer&) = delete;
    BlockWarmer& operator=(const BlockWarmer&) = delete;

    // Queues blocks to map; they must be wanted (Segment::wantMapped). Starts the thread on
    // first use.
    void add(Extent e);
    // Returns once every block queued so far has been tried.
    void settle();

  private:
    void run();

    Segment& segment_;
    const std::atomic<int64_t>& last_copy_ns_;
    std::mutex mutex_;
    std::condition_variable work_, idle_;
    std::deque<Extent> queue_;
    bool busy_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace kvc
