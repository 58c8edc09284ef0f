// Command line of the daemon: `kvcachefs [SOURCE] MOUNTPOINT [-o OPTIONS] [-f] [-d]`.
// Our -o options are parsed with a fuse_opt table (so fstab and mount(8) work); anything else
// is left for libfuse, which rejects what it does not know. Every option and its default is
// listed in one place: kOptionHelp in options.cpp.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"

struct fuse_args;

namespace kvc::fs {

inline constexpr const char* kDefaultConfigPath = "/etc/kvcachefs/kvcachefs.toml";

struct DaemonOptions {
    std::string source = "kvcachefs";
    std::string mountpoint;
    std::string instance = "default";
    std::string config_path;  // empty: kDefaultConfigPath if it exists
    Config config;            // defaults and declared pools, after -o overrides
    bool foreground = false;
    bool debug = false;
    bool singlethread = false;
    bool page_cache = true;     // false: -o direct_io, entries bypass the page cache
    bool verify_reads = false;  // -o verify_reads: check an entry's checksum at every read open
    double timeout_s = 3600;    // entry and attribute timeout given to the kernel
    unsigned max_threads = 16;
    std::string restore_path;  // restore=FILE: a snapshot loaded into its pool before serving
    bool show_help = false;
    bool show_version = false;
};

// Parses argv. On success `args` keeps the options for libfuse (FUSE's own -o options);
// errors name the option.
Result<DaemonOptions> parseDaemonOptions(fuse_args& args);
void printUsage(const char* program);

}  // namespace kvc::fs
