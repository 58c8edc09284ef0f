// BlockWarmer: a queue of extents and one thread that populates them in small pieces.
#include "core/block_warmer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "core/segment.h"

namespace kvc {
namespace {

// A piece populated at a time: Segment::populate holds the segment's mapping lock for it, and a
// punch waits that long at most (64 KiB: 16 page faults).
constexpr uint64_t kPieceBytes = 64 * 1024;

}  // namespace

BlockWarmer::BlockWarmer(Segment& segment, const std::atomic<int64_t>& last_copy_ns)
    : segment_(segment), last_copy_ns_(last_copy_ns) {}

BlockWarmer::~BlockWarmer() {
    {
        std::lock_guard lk(mutex_);
        stop_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void BlockWarmer::add(Extent e) {
    if (e.count == 0) return;
    {
        std::lock_guard lk(mutex_);
        if (queue_.size() >= kMaxQueued) return;
        if (!queue_.empty() && queue_.back().start + queue_.back().count == e.start)
            queue_.back().count += e.count;
        else
            queue_.push_back(e);
        if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    work_.notify_one();
}

void BlockWarmer::settle() {
    std::unique_lock lk(mutex_);
    idle_.wait(lk, [&] { return stop_ || (queue_.empty() && !busy_); });
}

void BlockWarmer::run() {
    // The lowest priority: mapping is worth it only with CPU no client needs.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
    const uint64_t piece_blocks = std::max<uint64_t>(1, kPieceBytes / segment_.blockSize());
    std::unique_lock lk(mutex_);
    for (;;) {
        work_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        while (!stop_) {
            const int64_t quiet = steadyNs() - last_copy_ns_.load(std::memory_order_relaxed);
            if (quiet >= kQuietNs) break;
            work_.wait_for(lk, std::chrono::nanoseconds(kQuietNs - quiet), [&] { return stop_; });
        }
        if (stop_) break;
        Extent& front = queue_.front();
        const Extent piece{front.start, std::min(front.count, piece_blocks)};
        front.start += piece.count;
        front.count -= piece.count;
        if (front.count == 0) queue_.pop_front();
        busy_ = true;
        lk.unlock();
        (void)segment_.populate(piece);
        lk.lock();
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
    busy_ = false;
    idle_.notify_all();
}

}  // namespace kvc
