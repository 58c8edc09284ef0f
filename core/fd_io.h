// Whole reads and writes on a descriptor: the loops over read(2) and write(2) that retry when
// interrupted (EINTR) or short. On failure they return false with errno saying why, so callers
// word their own messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kvc {

// Writes all `len` bytes at the descriptor's position. A write(2) that takes nothing fails
// with EIO.
bool writeAll(int fd, const void* data, size_t len);
// Writes `len` bytes at file offset `at` (pwrite), except the pieces, one per block of `block`
// bytes (aligned in the file), that are only zeros: written in order into a new file, a block
// all of whose pieces were zeros stays a hole. The caller sets the size at the end (ftruncate),
// since trailing zeros may not be written.
bool pwriteKeepingHoles(int fd, const void* data, size_t len, uint64_t at, uint64_t block);
// Appends everything up to the end of file to `out`.
bool readAll(int fd, std::string& out);

}  // namespace kvc
