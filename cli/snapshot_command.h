// The `snapshot` and `restore` commands of the kvcachefs binary:
//
//   kvcachefs snapshot POOLDIR FILE
//   kvcachefs restore [--replace] FILE POOLDIR
//
// They run with the caller's rights and work through a mounted pool with plain system calls
// (opendir, read, getxattr, write, setxattr, rename), never inside the daemon: the daemon never
// opens a path a client names (docs/SNAPSHOT_FORMAT.md, DESIGN decision 9). The snapshot is in
// snapshot_command.cpp, the restore in restore_command.cpp; the restore= mount option, which
// runs inside the daemon before it serves, is in fs/mount_restore.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace kvc::fs {

// True when argv[1] is a command ("snapshot", "restore") rather than the start of a mount.
bool isSnapshotCommand(int argc, char** argv);
// Runs the command; returns the process's exit status (0, or 1 with a message on stderr).
int runSnapshotCommand(int argc, char** argv);

// restore_command.cpp
int runRestore(const std::string& file, const std::string& pool_dir, bool replace);

// --- shared by the commands -------------------------------------------------------------

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

// "/a/b/" -> "/a/b"; "" stays "".
std::string withoutTrailingSlash(std::string path);

}  // namespace kvc::fs
