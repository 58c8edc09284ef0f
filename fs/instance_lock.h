// The instance lock: at most one daemon serves an instance's segments. Two daemons on the same
// pools would write each other's blocks (another entry's bytes, after a remount too), so the
// second one refuses to start and names the first.
//
// The lock is a file in /dev/shm named "<prefix>.<instance>..lock" (a pool name cannot start
// with '.', so no pool's segment can have that name), held with flock for the daemon's life and
// never removed (removing it would let a third daemon lock a new file while the second holds the
// old one). It holds the holder's pid and mountpoint. A lock file that another user planted is
// removed and made again (root may remove it from the sticky /dev/shm); a daemon that cannot do
// that says whose file is in the way.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace kvc::fs {

class InstanceLock {
  public:
    InstanceLock() = default;
    ~InstanceLock();
    InstanceLock(InstanceLock&& other) noexcept;
    InstanceLock& operator=(InstanceLock&& other) noexcept;

    // EBUSY, naming the holder, when another daemon has the instance.
    static Result<InstanceLock> acquire(const std::string& shm_prefix, const std::string& instance);
    // Records who holds the lock: this pid and mountpoint.
    void announce(pid_t pid, std::string_view mountpoint);

  private:
    int fd_ = -1;
};

}  // namespace kvc::fs
