// What the `snapshot` and `restore` commands share: system-call helpers, what a pool's .stats
// says, and the temporary path an interrupted command removes. Included by the commands, never
// by the daemon.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace kvc::cli {

class ProgressMeter;

// A descriptor closed when it goes out of scope.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

// An error with the current errno: "PATH: WHAT: strerror".
Error sysError(std::string_view what, std::string_view path);

// The directory part of a path: "a/b" -> "a", "/a" -> "/", "a" -> ".".
std::string dirOf(const std::string& path);
// "/a/b/" -> "/a/b"; "" stays "".
std::string withoutTrailingSlash(std::string path);

// Prints "kvcachefs COMMAND: MESSAGE" on stderr (erasing the progress line first, if any) and
// returns the exit status 1.
int fail(std::string_view command, const std::string& message, ProgressMeter* meter = nullptr);

// A name in a directory, and whether it is a directory (a DT_UNKNOWN type is resolved with
// fstatat; a name gone meanwhile counts as not a directory).
struct DirName {
    std::string name;
    bool is_dir = false;
};
// The names in the directory open as `dirfd` (which stays open), without "." and "..", in
// readdir's order; `path` names it in messages.
Result<std::vector<DirName>> listDir(int dirfd, const std::string& path);
// The same for a path.
Result<std::vector<DirName>> listDir(const std::string& path);

// The `name value` lines of a `.stats` file, in order.
using StatsLines = std::vector<std::pair<std::string, std::string>>;
StatsLines statsLines(const std::string& text);
// A file read whole (a control file: one read is one consistent answer).
Result<std::string> readWhole(const std::string& path);
// DIR/.stats, read whole (one read of a control file is one consistent answer).
Result<StatsLines> readStats(const std::string& dir);

// What a pool's `.stats` says (name, policy, geometry).
struct PoolInfo {
    std::string name;
    std::string policy;
    uint32_t block_size = 0;
    uint64_t capacity_bytes = 0;
};
// Reads POOLDIR/.stats; an error naming POOLDIR if it is not a kvcachefs pool.
Result<PoolInfo> readPoolInfo(const std::string& pool_dir);
// True if DIR/.stats is the root-level one of a kvcachefs mount (it has a "pools" line).
bool isMountRoot(const std::string& dir);

// A temporary path removed if the command is interrupted (SIGINT, SIGTERM, SIGHUP) while it
// exists, so an interrupted command leaves no half-written file or entry behind. One at a time.
class TemporaryPath {
  public:
    TemporaryPath();
    ~TemporaryPath();
    TemporaryPath(const TemporaryPath&) = delete;
    TemporaryPath& operator=(const TemporaryPath&) = delete;
    void set(const std::string& path);
    // The path became permanent (renamed) or was removed by the caller.
    void release();
};

}  // namespace kvc::cli
