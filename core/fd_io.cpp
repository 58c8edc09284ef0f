// Whole reads and writes on a descriptor (see core/fd_io.h).
#include "core/fd_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvc {

namespace {

bool pwriteAll(int fd, const char* p, size_t len, uint64_t at) {
    while (len > 0) {
        const ssize_t w = ::pwrite(fd, p, len, static_cast<off_t>(at));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return false;
        if (w == 0) {
            errno = EIO;
            return false;
        }
        p += w;
        at += static_cast<uint64_t>(w);
        len -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

bool pwriteKeepingHoles(int fd, const void* data, size_t len, uint64_t at, uint64_t block) {
    const char* p = static_cast<const char*>(data);
    size_t run = 0;  // bytes before p to write, in one pwrite
    while (len > 0) {
        // Up to the next block boundary of the file.
        const size_t n = static_cast<size_t>(std::min<uint64_t>(len, block - at % block));
        const bool zeros = p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0;
        if (zeros && run > 0) {
            if (!pwriteAll(fd, p - run, run, at - run)) return false;
            run = 0;
        }
        if (!zeros) run += n;
        p += n;
        at += n;
        len -= n;
    }
    return run == 0 || pwriteAll(fd, p - run, run, at - run);
}

bool writeAll(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        const ssize_t n = ::write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) {
            errno = EIO;
            return false;
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

bool readAll(int fd, std::string& out) {
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace kvc
