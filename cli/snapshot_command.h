// `kvcachefs snapshot POOLDIR FILE` (see cli/commands.h and snapshot_command.cpp).
#pragma once

#include <string>

namespace kvc::cli {

// Writes an image of the pool mounted at `pool_dir` to `file`; returns the exit status.
int runSnapshot(std::string pool_dir, const std::string& file);

}  // namespace kvc::cli
