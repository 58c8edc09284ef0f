// Permission checks for front ends that act for a caller themselves. The FUSE mount leaves them
// to the kernel (default_permissions); the data path (fs/data_service.cpp) serves names on behalf
// of a client whose credentials it got from its socket, and checks them here, with the same
// rules the kernel applies to the mount: the mode bits of owner, group and others (no ACLs),
// and root passing every check but execution of an entry nobody may execute.
#pragma once

#include <cstdint>
#include <vector>

namespace kvc {

struct Credentials {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::vector<uint32_t> groups;  // supplementary groups
};

inline constexpr unsigned kMayExec = 1, kMayWrite = 2, kMayRead = 4;

// Mode bits as stat(2) gives them, which is how a pool keeps them.
inline constexpr uint32_t kModeType = 0170000, kModeDir = 0040000, kModeRegular = 0100000,
                          kModeSticky = 01000;
inline constexpr bool isDirMode(uint32_t mode) {
    return (mode & kModeType) == kModeDir;
}

// Whether `who` may do `want` (kMay* bits) to something of this mode and owner.
bool mayAccess(uint32_t mode, uint32_t uid, uint32_t gid, const Credentials& who, unsigned want);
// Whether `who` may remove or replace a name owned by `entry_uid` from a directory it may write:
// in a sticky directory (mode 01000), only the entry's owner, the directory's owner and root.
bool mayUnlinkFrom(uint32_t dir_mode, uint32_t dir_uid, uint32_t entry_uid, const Credentials& who);

}  // namespace kvc
