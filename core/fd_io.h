// Whole reads and writes on a descriptor: the loops over read(2) and write(2) that retry when
// interrupted (EINTR) or short. On failure they return false with errno saying why, so callers
// word their own messages.
#pragma once

#include <cstddef>
#include <string>

namespace kvc {

// Writes all `len` bytes at the descriptor's position. A write(2) that takes nothing fails
// with EIO.
bool writeAll(int fd, const void* data, size_t len);
// Appends everything up to the end of file to `out`.
bool readAll(int fd, std::string& out);

}  // namespace kvc
