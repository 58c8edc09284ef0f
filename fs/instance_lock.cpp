// The instance lock: see instance_lock.h.
#include "fs/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "fs/log.h"

namespace kvc::fs {

InstanceLock::~InstanceLock() {
    if (fd_ >= 0) ::close(fd_);
}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

namespace {

// What the holder wrote ("pid N, mounted on PATH"), on one line.
std::string holderOf(int fd) {
    char buf[512] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text.empty() ? "a daemon that is still starting" : text;
}

}  // namespace

Result<InstanceLock> InstanceLock::acquire(const std::string& shm_prefix,
                                           const std::string& instance) {
    const std::string path = fmt::format("/dev/shm/{}.{}..lock", shm_prefix, instance);
    InstanceLock lock;
    for (int attempt = 0; lock.fd_ < 0; ++attempt) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        struct stat st {};
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            (st.st_mode & 077) == 0) {
            lock.fd_ = fd;
            break;
        }
        const int err = fd < 0 ? errno : 0;
        if (fd >= 0) ::close(fd);
        // Not ours (planted, a symbolic link, readable by others): take the name back, once.
        if (attempt == 0 && ::unlink(path.c_str()) == 0) {
            log(LogLevel::Warning, "instance {}: removed {}, which this daemon did not make",
                instance, path);
            continue;
        }
        return makeError(err ? err : EPERM,
                         fmt::format("instance {}: cannot use the lock file {}: {}", instance, path,
                                     err ? std::strerror(err)
                                         : fmt::format("owned by uid {} with mode {:04o}; "
                                                       "remove it",
                                                       st.st_uid, st.st_mode & 07777)));
    }
    if (flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err == EWOULDBLOCK)
            return makeError(EBUSY, fmt::format("instance {} is already served by another "
                                                "kvcachefs daemon ({}); unmount it first or "
                                                "choose another instance=",
                                                instance, holderOf(lock.fd_)));
        return makeError(err, fmt::format("instance {}: cannot lock {}: {}", instance, path,
                                          std::strerror(err)));
    }
    return lock;
}

void InstanceLock::announce(pid_t pid, std::string_view mountpoint) {
    if (fd_ < 0) return;
    const std::string text = fmt::format("pid {}, mounted on {}\n", pid, mountpoint);
    if (ftruncate(fd_, 0) != 0 ||
        pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        log(LogLevel::Warning, "cannot record the daemon's pid in its instance lock: {}",
            std::strerror(errno));
}

}  // namespace kvc::fs
