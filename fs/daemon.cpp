#include "fs/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace kvc::fs {

namespace {

volatile sig_atomic_t g_child = 0;

// A stop asked of the waiting command (^C, kill) is the daemon's: it has not mounted yet.
void forwardToChild(int sig) {
    if (g_child > 0) kill(static_cast<pid_t>(g_child), sig);
}

// The parent's side: exits 0 once the child writes its byte, else with the child's status.
[[noreturn]] void waitForChild(pid_t child, int ready_fd) {
    g_child = child;
    struct sigaction sa {};
    sa.sa_handler = forwardToChild;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    char byte = 0;
    ssize_t n;
    do {
        n = read(ready_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) _exit(0);
    int status = 0;
    pid_t got;
    do {
        got = waitpid(child, &status, 0);
    } while (got < 0 && errno == EINTR);
    if (got == child && WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (got == child && WIFSIGNALED(status))
        std::fprintf(stderr, "kvcachefs: the daemon was killed by signal %d before it mounted\n",
                     WTERMSIG(status));
    else
        std::fprintf(stderr, "kvcachefs: lost the daemon before it mounted\n");
    _exit(1);
}

}  // namespace

Result<Daemon> Daemon::detach(bool foreground) {
    if (foreground) return Daemon(-1);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return Error{errno, std::string("cannot start the daemon: pipe: ") + std::strerror(errno)};
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t pid = fork();
    if (pid < 0) {
        const int e = errno;
        close(fds[0]);
        close(fds[1]);
        return Error{e, std::string("cannot start the daemon: fork: ") + std::strerror(e)};
    }
    if (pid > 0) {
        close(fds[1]);
        waitForChild(pid, fds[0]);
    }
    close(fds[0]);
    // A session of its own: the terminal's signals (^C, hangup) no longer reach the daemon.
    if (setsid() < 0) {
        const int e = errno;
        close(fds[1]);
        return Error{e, std::string("cannot start the daemon: setsid: ") + std::strerror(e)};
    }
    return Daemon(fds[1]);
}

Daemon::Daemon(Daemon&& other) noexcept : ready_fd_(std::exchange(other.ready_fd_, -1)) {}

Daemon::~Daemon() {
    if (ready_fd_ >= 0) close(ready_fd_);
}

void Daemon::ready(bool keep_stderr) {
    // The daemon must not keep the caller's directory busy (a file system that could then not
    // be unmounted), in the foreground either. Every path it was given is absolute.
    if (chdir("/") != 0) {
        // Not fatal: "/" always exists; a chroot without it keeps the old directory.
    }
    if (ready_fd_ < 0) return;  // in the foreground, the streams stay the caller's
    const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        if (!keep_stderr) dup2(null_fd, STDERR_FILENO);
        if (null_fd > STDERR_FILENO) close(null_fd);
    }
    const char byte = 1;
    ssize_t n;
    do {
        n = write(ready_fd_, &byte, 1);
    } while (n < 0 && errno == EINTR);
    close(ready_fd_);
    ready_fd_ = -1;
}

}  // namespace kvc::fs
