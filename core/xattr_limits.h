// Documented limits on extended attributes (README, "Extended attributes").
#pragma once

#include <cstddef>

namespace kvc {

inline constexpr size_t kMaxXattrNameBytes = 255;         // XATTR_NAME_MAX
inline constexpr size_t kMaxXattrValueBytes = 65536;      // E2BIG beyond (XATTR_SIZE_MAX)
inline constexpr size_t kMaxXattrBytesPerEntry = 262144;  // names + values; ENOSPC beyond
inline constexpr size_t kMaxXattrsPerEntry = 256;         // ENOSPC beyond
inline constexpr size_t kMaxParentPathBytes = 4096;

}  // namespace kvc
