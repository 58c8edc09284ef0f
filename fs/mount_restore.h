// The `restore=FILE` mount option, which runs inside the daemon before it serves (see
// mount_restore.cpp). The `restore` command, which works through a mounted pool, is in cli/.
#pragma once

#include <string>

#include "core/result.h"

namespace kvc::fs {

class Filesystem;

// Loads a snapshot into the pool it names (created with the mount's defaults, and the image's
// block size and policy, if absent) before the daemon serves.
Status restoreAtMount(Filesystem& fs, const std::string& file);

}  // namespace kvc::fs
