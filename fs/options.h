// Command line of the daemon: `kvcachefs [SOURCE] MOUNTPOINT [-o OPTIONS] [-f] [-d]`.
// Our -o options are the rows of the option table (core/option_table.h), matched with fuse_opt
// templates made from it (so fstab and mount(8) work); anything else is left for libfuse, which
// rejects what it does not know. --help prints the same table.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/option_table.h"
#include "core/result.h"

struct fuse_args;

namespace kvc::fs {

inline constexpr const char* kDefaultConfigPath = "/etc/kvcachefs/kvcachefs.toml";

// The daemon's -o settings (instance, config, timeout, direct_io, verify_reads, restore) are
// those of MountSettings; config_path empty means kDefaultConfigPath if it exists.
struct DaemonOptions : MountSettings {
    std::string source = "kvcachefs";
    std::string mountpoint;
    Config config;  // defaults and declared pools, after -o overrides
    bool foreground = false;
    bool debug = false;
    bool singlethread = false;
    unsigned max_threads = 16;
    bool show_help = false;
    bool show_version = false;
};

// Parses argv. On success `args` keeps the options for libfuse (FUSE's own -o options);
// errors name the option.
Result<DaemonOptions> parseDaemonOptions(fuse_args& args);
void printUsage(const char* program);

}  // namespace kvc::fs
