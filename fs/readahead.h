// The read-ahead window of a FUSE mount, which only root can raise above the kernel's 128 KiB.
#pragma once

#include <string>

namespace kvc::fs {

// Read-ahead window of entries, and so the size of read requests (at most max_write's 1 MiB).
inline constexpr unsigned kReadaheadKiB = 1024;

// Sets the read-ahead of the FUSE mount on `mountpoint` to `kib`. Returns why it could not (the
// kernel's default then stays), or an empty string.
std::string raiseReadahead(const std::string& mountpoint, unsigned kib);

}  // namespace kvc::fs
