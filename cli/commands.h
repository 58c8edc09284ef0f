// The commands of the kvcachefs binary, which are not mounts:
//
//   kvcachefs snapshot POOLDIR FILE
//   kvcachefs restore [--replace] FILE POOLDIR
//
// They run with the caller's rights and work through a mounted pool with plain system calls
// (opendir, read, getxattr, write, setxattr, rename), never inside the daemon: the daemon never
// opens a path a client names (docs/SNAPSHOT_FORMAT.md, "Who does what"). The snapshot is in
// snapshot_command.cpp, the restore in restore_command.cpp, what both use in command_util.h;
// the restore= mount option, which runs inside the daemon before it serves, is in
// fs/mount_restore.cpp.
#pragma once

namespace kvc::cli {

// True when argv[1] is a command ("snapshot", "restore") rather than the start of a mount.
bool isCommand(int argc, char** argv);
// Runs the command; returns the process's exit status (0, or 1 with a message on stderr; 2 for
// a usage error).
int runCommand(int argc, char** argv);

}  // namespace kvc::cli
