// The split of a background daemon from the command that started it, made before the daemon
// starts any thread.
//
// fork() keeps only the calling thread. Forking after the pools are attached (as
// fuse_daemonize() at its usual place would) leaves the daemon without the threads attach started
// (a pool's block warmer, its tier worker), and with any lock one of them held at that moment
// (the allocator's) held for ever. So the process forks first, and the child does everything:
// attach, restore, mount, serve. The parent waits until the child says the mount is live and
// exits 0, or, if the child ends before that, exits with the child's status: `mount` returns
// only once the mount works, with the daemon's own error on its stderr when it does not. Until
// then, SIGINT, SIGTERM and SIGHUP sent to the waiting command go on to the daemon: ^C during a
// long restore stops the mount, as it did when the daemon was still in the foreground.
#pragma once

#include "core/result.h"

namespace kvc::fs {

class Daemon {
  public:
    // In the foreground (`-f`), nothing happens. Otherwise the process forks: the parent waits and
    // exits inside this call; the child returns in a session of its own, still holding the
    // caller's standard streams.
    static Result<Daemon> detach(bool foreground);

    Daemon(Daemon&& other) noexcept;
    Daemon& operator=(Daemon&&) = delete;
    Daemon(const Daemon&) = delete;
    // A child that ends before ready() makes its parent exit with the child's status.
    ~Daemon();

    // The mount is live: moves to "/" and, in the background, lets go of the caller's terminal
    // (standard input and output /dev/null, standard error too unless keep_stderr) and lets the
    // parent exit 0.
    void ready(bool keep_stderr);

  private:
    explicit Daemon(int ready_fd) : ready_fd_(ready_fd) {}
    int ready_fd_ = -1;  // write end of the pipe the parent waits on; -1 in the foreground
};

}  // namespace kvc::fs
