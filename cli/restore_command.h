// `kvcachefs restore [--replace] FILE POOLDIR` (see cli/commands.h and restore_command.cpp).
#pragma once

#include <string>

namespace kvc::cli {

// Restores the image `file` into the pool mounted at `pool_dir`; returns the exit status.
int runRestore(const std::string& file, const std::string& pool_dir, bool replace);

}  // namespace kvc::cli
