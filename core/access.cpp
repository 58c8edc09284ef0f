#include "core/access.h"

#include <algorithm>

namespace kvc {
namespace {

bool inGroup(const Credentials& who, uint32_t gid) {
    return who.gid == gid ||
           std::find(who.groups.begin(), who.groups.end(), gid) != who.groups.end();
}

}  // namespace

bool mayAccess(uint32_t mode, uint32_t uid, uint32_t gid, const Credentials& who, unsigned want) {
    want &= kMayRead | kMayWrite | kMayExec;
    if (who.uid == 0) {
        // CAP_DAC_OVERRIDE: everything but executing an entry with no execute bit at all.
        return !(want & kMayExec) || isDirMode(mode) || (mode & 0111) != 0;
    }
    unsigned granted;
    if (who.uid == uid)
        granted = (mode >> 6) & 7;
    else if (inGroup(who, gid))
        granted = (mode >> 3) & 7;
    else
        granted = mode & 7;
    return (granted & want) == want;
}

bool mayUnlinkFrom(uint32_t dir_mode, uint32_t dir_uid, uint32_t entry_uid,
                   const Credentials& who) {
    if (!(dir_mode & kModeSticky) || who.uid == 0) return true;
    return who.uid == entry_uid || who.uid == dir_uid;
}

}  // namespace kvc
