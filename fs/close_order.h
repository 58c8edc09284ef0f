// CloseOrder: lets a client's requests on control files follow its close(2)s.
//
// close(2) sends FLUSH and waits for it; the kernel then sends RELEASE without waiting (it is
// asynchronous for a FUSE mount), so in the multi-threaded loop a worker may run the client's
// next request before another worker has run the RELEASE. The pool would then see the
// operations in another order than the client made them: an entry still open for writing is no
// eviction candidate yet, a closed reader's blocks are not free yet, and a policy's choices
// would depend on thread timing. So a FLUSH of an entry is counted as a release to come, and a
// request of the same thread on a control file (.match, .stats, .evict, ...) waits, up to
// kMaxWait, until the RELEASEs it is owed have run: what the control file answers or does then
// follows the client's closes, and a client that wants its operations seen in its order (the
// trace replay) reads a control file after each close. Other requests never wait: a FLUSH that
// no RELEASE follows (a duplicated descriptor, a mapping that keeps the file open, as
// numpy.memmap's) would otherwise stall the thread's every next request. The wait ends early
// when no RELEASE follows: the pending release is then dropped. Other clients never wait.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>

namespace kvc::fs {

class CloseOrder {
  public:
    static constexpr std::chrono::milliseconds kMaxWait{20};
    static constexpr size_t kMaxOwed = 4096;  // beyond, the oldest owed release is dropped

    // A FLUSH of `ino` from thread `pid`: its RELEASE is to come.
    void flushed(uint64_t ino, pid_t pid);
    // A RELEASE of `ino`: the oldest release owed for it has run.
    void released(uint64_t ino);
    // Before a request of thread `pid` on a control file: waits until the releases its flushes
    // owe have run.
    void awaitReleases(pid_t pid);

  private:
    std::mutex mutex_;
    std::condition_variable done_;
    std::deque<std::pair<uint64_t, pid_t>> owed_;  // (inode, flushing thread), oldest first
    std::atomic<size_t> count_{0};                 // owed_.size(), read without the lock
};

}  // namespace kvc::fs
