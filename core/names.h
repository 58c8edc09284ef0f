// Rules for names of entries and directories inside a pool.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "core/result.h"

namespace kvc {

// EINVAL for empty names, names with '/' or NUL, "." and ".."; ENAMETOOLONG beyond 255 bytes.
Status validateEntryName(std::string_view name);
// A pool-relative path: valid names joined by '/', at most 4096 bytes. EINVAL with a message
// starting with `what`.
Status validateEntryPath(std::string_view path, std::string_view what);
// A chain parent path (user.kvcache.parent), checked as above.
Status validateParentPath(std::string_view path);

// The longest target of a symbolic link, as on Linux (PATH_MAX less its NUL).
inline constexpr size_t kMaxSymlinkBytes = 4095;
// A symbolic link's target: any bytes but NUL (the kernel follows it; the pool never reads it),
// ENOENT when empty, ENAMETOOLONG past kMaxSymlinkBytes.
Status validateSymlinkTarget(std::string_view target);

// The names a pool's own directory keeps for its control files (the FUSE adapter serves them):
// no entry or directory is made under them there.
inline constexpr std::array<std::string_view, 6> kPoolControlNames{".stats", ".policy", ".evict",
                                                                   ".size",  ".match",  ".errors"};
bool isPoolControlName(std::string_view name);
// A name for a new entry or directory, or a rename's or link's new name, in a directory
// (`pool_top`: the pool's own directory): validateEntryName, and EEXIST for a control file's
// name at the top.
Status validateNewName(std::string_view name, bool pool_top);
// A pool-relative path where something may be made: validateEntryPath, and its first name is
// no control file's.
Status validatePoolPath(std::string_view path, std::string_view what);

}  // namespace kvc
