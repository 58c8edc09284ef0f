// Rules for names of entries and directories inside a pool.
#pragma once

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

}  // namespace kvc
