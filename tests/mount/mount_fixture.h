// The mount-test fixture: starts the real kvcachefs daemon on a temporary mountpoint and always
// takes it down again (unmount, end the daemon by its pid, remove its shm segments, remove the
// mountpoint), from TearDown, from the destructor, at exit, and on a fatal signal.
//
// Every mount gets a unique shm prefix and instance, "kvcmt<pid>x<n>", so test executables can
// run in parallel (ctest -j) and cleanup removes exactly the segments this mount made. Plus
// plain-syscall helpers (write/read a file, parse `.stats`) that return errno values to assert on.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

// renameat2(2) flags, for a libc whose headers lack them.
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace kvctest {

// One daemon on one temporary mountpoint. Not copyable; cleanup() is idempotent.
class KvcMount {
  public:
    // `options` are extra -o options appended after size=, instance=, shm_prefix=, config=.
    explicit KvcMount(std::string options = "size=64M");
    ~KvcMount();
    KvcMount(const KvcMount&) = delete;
    KvcMount& operator=(const KvcMount&) = delete;

    // Starts the daemon (-f) and waits until the mount is up (10 s at most).
    ::testing::AssertionResult start();
    // fusermount3 -u (not lazy), then waits for the daemon to exit; `status` gets its wait
    // status. Fails if the mount is busy or the daemon does not exit cleanly within 10 s.
    ::testing::AssertionResult unmount(int* status = nullptr);
    // unmount() then start() with the same instance and prefix: the daemon reattaches.
    ::testing::AssertionResult remount();
    // SIGKILL to the daemon, `fusermount3 -u -z` of the dead mount, then start() again.
    ::testing::AssertionResult killAndRemount();
    // Sends `sig` to the daemon (only ever to the pid this object started).
    void signal(int sig);
    // Waits up to `timeout_ms` for the daemon to exit; true with its wait status if it did.
    bool waitExit(int timeout_ms, int* status);

    // Unmounts (lazily), ends the daemon (SIGKILL if it does not exit in 5 s), removes every
    // /dev/shm entry named "<prefix>.*", the mountpoint and the log. Safe to call repeatedly;
    // the object cannot start a daemon afterwards.
    void cleanup();

    const std::string& path() const { return mountpoint_; }
    std::string path(std::string_view rel) const { return mountpoint_ + "/" + std::string(rel); }
    const std::string& shmPrefix() const { return prefix_; }
    const std::string& instance() const { return prefix_; }
    // The /dev/shm name of a pool's segment.
    std::string segmentPath(std::string_view pool) const;
    // Pools' segments: /dev/shm names with this mount's prefix, less the instance lock file.
    std::vector<std::string> segments() const;
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }
    bool isMounted() const;
    std::string daemonLog() const;  // stdout+stderr of every daemon started so far
    // The data path's socket (-o data_socket), in the mount's own temporary directory.
    std::string dataSocket() const {
        return mountpoint_.substr(0, mountpoint_.rfind('/')) + "/data.sock";
    }

  private:
    ::testing::AssertionResult waitMounted();
    void lazyUnmount();
    void reap(int grace_ms);

    std::string options_;
    std::string prefix_;
    std::string mountpoint_;
    std::string log_path_;
    std::string config_path_;
    pid_t pid_ = -1;
    int slot_ = -1;  // in the emergency-cleanup table
    bool cleaned_ = false;
};

// GoogleTest fixture: a fresh mount per test. Override options() for other -o options.
class MountTest : public ::testing::Test {
  protected:
    virtual std::string options() const { return "size=64M"; }
    void SetUp() override;
    void TearDown() override;

    KvcMount& mount() { return *mount_; }
    std::string mnt(std::string_view rel = {}) const {
        return rel.empty() ? mount_->path() : mount_->path(rel);
    }
    // mkdir of a pool; returns its path (fails the test if mkdir fails).
    std::string makePool(const std::string& name);

    std::unique_ptr<KvcMount> mount_;
};

// --- plain-syscall helpers: 0 or an errno ----------------------------------------------------

int writeFile(const std::string& path, std::string_view data,
              int flags = O_WRONLY | O_CREAT | O_TRUNC, mode_t mode = 0644);
// The whole file, or std::nullopt with *err set.
std::optional<std::string> readFile(const std::string& path, int* err = nullptr);
// errno of a call's result: 0 if rc >= 0.
inline int errnoOf(long rc) {
    return rc < 0 ? errno : 0;
}
int statErrno(const std::string& path);  // 0 if the path exists
// write() to a control file on one descriptor, then pread at 0 on it: {errno, answer}.
std::pair<int, std::string> controlWrite(const std::string& path, std::string_view data);
// `name value` lines of a .stats file.
std::map<std::string, std::string> readStats(const std::string& stats_path);
uint64_t statNum(const std::map<std::string, std::string>& stats, const std::string& key);
// Deterministic bytes for content checks.
std::string pattern(size_t n, uint32_t seed);
// Polls `pred` every 10 ms for up to `timeout_ms`.
template <class Pred>
bool eventually(Pred pred, int timeout_ms = 3000);
// Runs a program to completion (argv[0] is the path), capturing stdout and stderr; kills it
// (by pid) after `timeout_ms`. Returns the wait status, or -1 on timeout.
int runProgram(const std::vector<std::string>& argv, std::string* output, int timeout_ms = 10000);
// Runs `body` in a forked child with these ids and supplementary groups and umask 022; the child
// can never regain root's rights and leaves with _exit, so the fixture's cleanup stays with this
// process. Returns what `body` put in `out`; a child that fails or outlives `timeout_ms` (then
// killed) is a test failure.
std::string runAsUser(uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                      const std::function<void(std::string& out)>& body, int timeout_ms = 30000);
// Every name in a directory (with . and ..), sorted.
std::vector<std::string> listDir(const std::string& path);
// Names in a directory, without the ones starting with a dot.
std::set<std::string> listNames(const std::string& dir);
// Errno name for messages ("ENOENT"), or the number.
std::string errName(int e);

void sleepMs(int ms);

template <class Pred>
bool eventually(Pred pred, int timeout_ms) {
    for (int waited = 0;; waited += 10) {
        if (pred()) return true;
        if (waited >= timeout_ms) return false;
        sleepMs(10);
    }
}

}  // namespace kvctest
