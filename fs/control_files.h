// Control files: virtual files, not listed by readdir, reachable by name, with fresh content at
// every open (direct I/O, never page-cached). The root has .stats and .metrics; each pool has
// .stats, .policy, .evict, .size, .match and .errors.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/control_requests.h"
#include "core/inode.h"

namespace kvc::fs {

enum class ControlKind { RootStats, RootMetrics, Stats, Policy, Evict, Size, Match, Errors };

struct ControlFile {
    std::string_view name;
    ControlKind kind;
    EntryId local;  // pool-local id (2..15)
    uint32_t mode;  // permission bits; the owner is the pool's (root's for the root level)
    bool root_level;
};

const ControlFile* findControl(bool root_level, std::string_view name);
const ControlFile* controlByLocal(bool root_level, EntryId local);

// What an open control file holds. A write leaves its answer (the `.match` result, the
// `.evict` report) to be read next, from the position of that read on. Threads sharing the
// descriptor may read and write it at once: `lock` guards every field but `file`.
//
// No reply is ever sent while `lock` is held, nor is the handle touched after a reply: the reply
// lets the caller close the descriptor, and the RELEASE that deletes the handle can run on
// another thread before the replying thread is back from its writev to /dev/fuse. (An unlock
// after the reply wrote into freed memory, which libfuse may already have reused for a request:
// the daemon crashed in fuse_free_req.)
struct ControlHandle {
    const ControlFile* file = nullptr;
    std::string content;
    bool rebase = false;  // the next read starts the content afresh at its own offset
    uint64_t base = 0;
    // `.match`: the request written since the last read (a buffered writer flushes a long one in
    // pieces), each piece checked as it arrives, answered whole by the next read.
    MatchRequest match;
    std::mutex lock;
};

// The control handles the kernel holds. The RELEASE that follows a close(2) is sent in the
// background: one still on its way when the file system is unmounted never arrives, so the
// handles left are freed with this object, at the daemon's exit (ASan found them leaked).
class ControlHandles {
  public:
    ControlHandles() = default;
    ControlHandles(const ControlHandles&) = delete;
    ControlHandles& operator=(const ControlHandles&) = delete;
    ~ControlHandles();

    // Keeps `h` until remove(); returns it.
    ControlHandle* add(std::unique_ptr<ControlHandle> h);
    // Frees a handle add() returned.
    void remove(ControlHandle* h);

  private:
    std::mutex mutex_;
    std::unordered_set<ControlHandle*> live_;
};

}  // namespace kvc::fs
