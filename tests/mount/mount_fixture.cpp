// The mount-test fixture (see mount_fixture.h). Cleanup happens in four places, from the most
// to the least orderly: TearDown, the KvcMount destructor, an atexit handler, and a handler for
// fatal signals (async-signal-safe calls only). The daemon also gets PR_SET_PDEATHSIG(SIGTERM),
// so if this process is SIGKILLed (a ctest timeout) the daemon unmounts itself; the segments it
// leaves are removed by the next run's sweep of prefixes whose pid is gone.
#include "tests/mount/mount_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#ifndef KVCACHEFS_BIN
#error "KVCACHEFS_BIN must name the daemon binary"
#endif

namespace kvctest {
namespace {

constexpr const char* kNamePrefix = "kvcmt";  // kvcachefs mount test
constexpr int kMountWaitMs = 10000;

// --- emergency cleanup --------------------------------------------------------------------
// A fixed table, so the fatal-signal handler can read it without allocating or locking.

struct EmergencySlot {
    volatile sig_atomic_t used = 0;
    volatile pid_t daemon = -1;
    pid_t owner = -1;  // the test process that made it (forked children must not clean)
    char mountpoint[256] = {};
    char workdir[256] = {};
    char prefix[64] = {};  // "<prefix>." : segments to remove
};

constexpr int kSlots = 32;
EmergencySlot g_slots[kSlots];
std::mutex g_slots_mutex;

// Removes /dev/shm entries starting with `dotted` using only async-signal-safe calls.
void removeSegmentsSignalSafe(const char* dotted) {
    const int dir = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return;
    alignas(8) char buf[8192];
    const size_t plen = strlen(dotted);
    for (;;) {
        const long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct Dirent64 {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[1];
            };
            auto* d = reinterpret_cast<Dirent64*>(buf + off);
            if (strncmp(d->name, dotted, plen) == 0) unlinkat(dir, d->name, 0);
            off += d->reclen;
        }
    }
    close(dir);
}

void emergencyCleanup() {
    for (EmergencySlot& s : g_slots) {
        if (!s.used || s.owner != getpid()) continue;
        if (umount2(s.mountpoint, MNT_DETACH) != 0 && errno == EPERM) {
            const pid_t p = fork();
            if (p == 0) {
                execlp("fusermount3", "fusermount3", "-u", "-z", s.mountpoint,
                       static_cast<char*>(nullptr));
                _exit(127);
            }
            if (p > 0) waitpid(p, nullptr, 0);
        }
        const pid_t d = s.daemon;
        if (d > 0) {
            kill(d, SIGKILL);
            waitpid(d, nullptr, 0);
            s.daemon = -1;
        }
        removeSegmentsSignalSafe(s.prefix);
        rmdir(s.mountpoint);
        // The work directory holds the daemon log and an empty config file.
        for (const char* file : {"/daemon.log", "/empty.toml"}) {
            char path[sizeof s.workdir + 16];
            const size_t n = strlen(s.workdir);
            memcpy(path, s.workdir, n);
            memcpy(path + n, file, strlen(file) + 1);
            unlink(path);
        }
        rmdir(s.workdir);
        s.used = 0;
    }
}

void onFatalSignal(int sig) {
    emergencyCleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

void installEmergencyHandlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        std::atexit([] { emergencyCleanup(); });
        struct sigaction sa {};
        sa.sa_handler = onFatalSignal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT, SIGHUP, SIGPIPE})
            sigaction(sig, &sa, nullptr);
    });
}

int takeSlot(const std::string& mountpoint, const std::string& workdir, const std::string& prefix) {
    std::lock_guard lk(g_slots_mutex);
    for (int i = 0; i < kSlots; ++i) {
        EmergencySlot& s = g_slots[i];
        if (s.used) continue;
        s.owner = getpid();
        s.daemon = -1;
        snprintf(s.mountpoint, sizeof s.mountpoint, "%s", mountpoint.c_str());
        snprintf(s.workdir, sizeof s.workdir, "%s", workdir.c_str());
        snprintf(s.prefix, sizeof s.prefix, "%s.", prefix.c_str());
        s.used = 1;
        return i;
    }
    return -1;
}

// Removes what earlier runs left behind when they were killed: /dev/shm/kvcmt<pid>x* and
// /tmp/kvcmt<pid>x*.* whose <pid> is no longer a process. Nothing else is touched.
void sweepStale() {
    static std::once_flag once;
    std::call_once(once, [] {
        auto deadOwner = [](const std::string& name) {
            if (name.rfind(kNamePrefix, 0) != 0) return false;
            const size_t start = strlen(kNamePrefix);
            size_t end = start;
            while (end < name.size() && isdigit(static_cast<unsigned char>(name[end]))) ++end;
            if (end == start || end >= name.size() || name[end] != 'x') return false;
            const long pid = std::strtol(name.substr(start, end - start).c_str(), nullptr, 10);
            return pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
        };
        for (const char* dir : {"/dev/shm", "/tmp"}) {
            DIR* d = opendir(dir);
            if (!d) continue;
            std::vector<std::string> stale;
            while (dirent* e = readdir(d))
                if (deadOwner(e->d_name)) stale.emplace_back(e->d_name);
            closedir(d);
            for (const std::string& n : stale) {
                const std::string p = std::string(dir) + "/" + n;
                if (std::string(dir) == "/dev/shm") {
                    unlink(p.c_str());
                    continue;
                }
                const std::string m = p + "/mnt";
                std::string out;
                runProgram({"fusermount3", "-u", "-z", m}, &out, 5000);
                rmdir(m.c_str());
                unlink((p + "/daemon.log").c_str());
                unlink((p + "/empty.toml").c_str());
                rmdir(p.c_str());
            }
        }
    });
}

std::string tail(const std::string& s, size_t n) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::atomic<int> g_counter{0};

}  // namespace

// --- KvcMount ------------------------------------------------------------------------------

KvcMount::KvcMount(std::string options) : options_(std::move(options)) {
    installEmergencyHandlers();
    sweepStale();
    prefix_ = std::string(kNamePrefix) + std::to_string(getpid()) + "x" +
              std::to_string(g_counter.fetch_add(1));
    std::string tmpl = "/tmp/" + prefix_ + ".XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    const std::string work = tmpl;
    mountpoint_ = work + "/mnt";
    log_path_ = work + "/daemon.log";
    config_path_ = work + "/empty.toml";
    if (mkdir(mountpoint_.c_str(), 0755) != 0) throw std::runtime_error("mkdir mountpoint failed");
    // An empty config file: /etc/kvcachefs/kvcachefs.toml, if installed, must not leak in.
    if (int fd = open(config_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        fd >= 0)
        close(fd);
    slot_ = takeSlot(mountpoint_, work, prefix_);
}

KvcMount::~KvcMount() {
    cleanup();
}

std::string KvcMount::segmentPath(std::string_view pool) const {
    return "/dev/shm/" + prefix_ + "." + prefix_ + "." + std::string(pool);
}

std::vector<std::string> KvcMount::segments() const {
    std::vector<std::string> out;
    DIR* d = opendir("/dev/shm");
    if (!d) return out;
    const std::string dotted = prefix_ + ".";
    const std::string lock = prefix_ + "." + prefix_ + "..lock";  // the instance lock: no pool's
    while (dirent* e = readdir(d))
        if (std::string_view(e->d_name).substr(0, dotted.size()) == dotted && e->d_name != lock)
            out.emplace_back(e->d_name);
    closedir(d);
    return out;
}

bool KvcMount::isMounted() const {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string id, parent, dev, root, point;
        fields >> id >> parent >> dev >> root >> point;
        if (point == mountpoint_) return true;
    }
    return false;
}

std::string KvcMount::daemonLog() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

::testing::AssertionResult KvcMount::start() {
    if (cleaned_) return ::testing::AssertionFailure() << "start() after cleanup()";
    if (pid_ > 0) return ::testing::AssertionFailure() << "daemon already running";
    if (isMounted()) return ::testing::AssertionFailure() << mountpoint_ << " is still mounted";
    const std::string opts = "instance=" + prefix_ + ",shm_prefix=" + prefix_ +
                             ",config=" + config_path_ + ",data_socket=" + dataSocket() +
                             (options_.empty() ? "" : ",") + options_;
    const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return ::testing::AssertionFailure() << "cannot open " << log_path_;
    const pid_t parent = getpid();
    const pid_t child = fork();
    if (child < 0) {
        close(log_fd);
        return ::testing::AssertionFailure() << "fork: " << strerror(errno);
    }
    if (child == 0) {
        // If the test process dies, the daemon is told to unmount and exit.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(126);
        const int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        // Descriptors the test holds (files on this very mount among them) stay with the test.
        close_range(3, ~0U, 0);
        execl(KVCACHEFS_BIN, "kvcachefs", mountpoint_.c_str(), "-f", "-o", opts.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(log_fd);
    pid_ = child;
    if (slot_ >= 0) g_slots[slot_].daemon = child;
    return waitMounted();
}

::testing::AssertionResult KvcMount::waitMounted() {
    struct stat work {};
    const std::string work_dir = mountpoint_.substr(0, mountpoint_.rfind('/'));
    stat(work_dir.c_str(), &work);
    for (int waited = 0; waited < kMountWaitMs; waited += 5) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            if (slot_ >= 0) g_slots[slot_].daemon = -1;
            return ::testing::AssertionFailure()
                   << "kvcachefs exited before mounting (status " << status << "):\n"
                   << tail(daemonLog(), 4000);
        }
        struct stat st {};
        if (isMounted() && stat(mountpoint_.c_str(), &st) == 0 && st.st_dev != work.st_dev)
            return ::testing::AssertionSuccess();
        sleepMs(5);
    }
    return ::testing::AssertionFailure()
           << "kvcachefs did not mount " << mountpoint_ << " within " << kMountWaitMs << " ms:\n"
           << tail(daemonLog(), 4000);
}

bool KvcMount::waitExit(int timeout_ms, int* status) {
    if (pid_ <= 0) return true;
    for (int waited = 0;; waited += 5) {
        int st = 0;
        const pid_t r = waitpid(pid_, &st, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            if (status) *status = st;
            pid_ = -1;
            if (slot_ >= 0) g_slots[slot_].daemon = -1;
            return true;
        }
        if (waited >= timeout_ms) return false;
        sleepMs(5);
    }
}

void KvcMount::signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
}

::testing::AssertionResult KvcMount::unmount(int* status) {
    if (pid_ <= 0) return ::testing::AssertionFailure() << "no daemon running";
    std::string out;
    // The kernel may still hold a reference for a moment after the last close: retry briefly.
    int rc = -1;
    for (int attempt = 0; attempt < 50; ++attempt) {
        rc = runProgram({"fusermount3", "-u", mountpoint_}, &out);
        if (rc == 0) break;
        sleepMs(20);
    }
    if (rc != 0)
        return ::testing::AssertionFailure()
               << "fusermount3 -u " << mountpoint_ << " failed: " << out;
    int st = 0;
    if (!waitExit(10000, &st))
        return ::testing::AssertionFailure() << "kvcachefs did not exit after unmount:\n"
                                             << tail(daemonLog(), 4000);
    if (status) *status = st;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return ::testing::AssertionFailure() << "kvcachefs exited with status " << st << ":\n"
                                             << tail(daemonLog(), 4000);
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult KvcMount::remount() {
    if (auto r = unmount(); !r) return r;
    return start();
}

::testing::AssertionResult KvcMount::killAndRemount() {
    if (pid_ <= 0) return ::testing::AssertionFailure() << "no daemon running";
    kill(pid_, SIGKILL);
    waitExit(10000, nullptr);
    lazyUnmount();  // the dead mount answers ENOTCONN until it is detached
    return start();
}

void KvcMount::lazyUnmount() {
    if (!isMounted()) return;
    std::string out;
    if (runProgram({"fusermount3", "-u", "-z", mountpoint_}, &out) != 0)
        umount2(mountpoint_.c_str(), MNT_DETACH);
}

void KvcMount::reap(int grace_ms) {
    if (pid_ <= 0) return;
    if (waitExit(grace_ms, nullptr)) return;
    kill(pid_, SIGTERM);
    if (waitExit(2000, nullptr)) return;
    kill(pid_, SIGKILL);
    waitExit(10000, nullptr);
}

void KvcMount::cleanup() {
    if (cleaned_) return;
    cleaned_ = true;
    lazyUnmount();
    reap(3000);
    const std::string work_dir = mountpoint_.substr(0, mountpoint_.rfind('/'));
    for (const std::string& n : segments()) unlink(("/dev/shm/" + n).c_str());
    unlink(("/dev/shm/" + prefix_ + "." + prefix_ + "..lock").c_str());  // the instance lock
    rmdir(mountpoint_.c_str());
    unlink(log_path_.c_str());
    unlink(config_path_.c_str());
    unlink(dataSocket().c_str());  // left by a daemon that was killed
    rmdir(work_dir.c_str());
    if (slot_ >= 0) {
        std::lock_guard lk(g_slots_mutex);
        g_slots[slot_].used = 0;
        slot_ = -1;
    }
}

// --- MountTest -----------------------------------------------------------------------------

void MountTest::SetUp() {
    if (access("/dev/fuse", R_OK | W_OK) != 0) {
        if (getenv("KVCACHEFS_SKIP_MOUNT_TESTS"))
            GTEST_SKIP() << "/dev/fuse is not usable and KVCACHEFS_SKIP_MOUNT_TESTS is set";
        FAIL() << "/dev/fuse is not usable (" << strerror(errno)
               << "); mount tests need FUSE (set KVCACHEFS_SKIP_MOUNT_TESTS=1 to skip them)";
    }
    mount_ = std::make_unique<KvcMount>(options());
    ASSERT_TRUE(mount_->start());
}

void MountTest::TearDown() {
    if (!mount_) return;
    if (HasFailure()) {
        const std::string log = mount_->daemonLog();
        if (!log.empty()) std::fprintf(stderr, "--- daemon log ---\n%s\n", tail(log, 6000).c_str());
    }
    mount_->cleanup();
    EXPECT_TRUE(mount_->segments().empty()) << "segments left in /dev/shm";
    EXPECT_FALSE(mount_->isMounted()) << mount_->path() << " is still mounted";
    mount_.reset();
}

std::string MountTest::makePool(const std::string& name) {
    const std::string p = mnt(name);
    EXPECT_EQ(0, errnoOf(::mkdir(p.c_str(), 0755))) << "mkdir " << p << ": " << strerror(errno);
    return p;
}

// --- helpers -----------------------------------------------------------------------------

void sleepMs(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

int writeFile(const std::string& path, std::string_view data, int flags, mode_t mode) {
    const int fd = open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return errno;
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            const int e = errno;
            close(fd);
            return e;
        }
        done += static_cast<size_t>(n);
    }
    if (close(fd) != 0) return errno;
    return 0;
}

std::optional<std::string> readFile(const std::string& path, int* err) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err) *err = errno;
        return std::nullopt;
    }
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (err) *err = errno;
            close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    if (err) *err = 0;
    return out;
}

int statErrno(const std::string& path) {
    struct stat st {};
    return errnoOf(::stat(path.c_str(), &st));
}

std::pair<int, std::string> controlWrite(const std::string& path, std::string_view data) {
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return {errno, {}};
    // As a program would: a write(2) may take less than all (the kernel cuts a large write at
    // page boundaries of the caller's buffer), and the rest goes in another.
    for (size_t done = 0; done < data.size();) {
        const ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            const int e = errno;
            close(fd);
            return {e, {}};
        }
        done += static_cast<size_t>(n);
    }
    char buf[65536];
    const ssize_t n = pread(fd, buf, sizeof buf, 0);
    const int e = n < 0 ? errno : 0;
    close(fd);
    return {e, n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string()};
}

std::map<std::string, std::string> readStats(const std::string& stats_path) {
    std::map<std::string, std::string> out;
    auto text = readFile(stats_path);
    if (!text) return out;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        const size_t sp = line.find(' ');
        if (sp == std::string::npos) continue;
        out[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return out;
}

uint64_t statNum(const std::map<std::string, std::string>& stats, const std::string& key) {
    auto it = stats.find(key);
    if (it == stats.end()) {
        ADD_FAILURE() << ".stats has no field " << key;
        return 0;
    }
    return std::strtoull(it->second.c_str(), nullptr, 10);
}

std::string pattern(size_t n, uint32_t seed) {
    std::string s(n, '\0');
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = static_cast<char>(x);
    }
    return s;
}

namespace {

// Forks; the child runs `child(fd)` with the write end of a pipe and must leave with _exit.
// Collects what it writes until it exits or `timeout_ms` passes (then it is killed). Returns the
// wait status, or -1 if it could not start or timed out.
int runInChild(const std::function<void(int fd)>& child, std::string* output, int timeout_ms) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int r = poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char buf[4096];
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (output) *output = out;
    return timed_out ? -1 : status;
}

}  // namespace

int runProgram(const std::vector<std::string>& argv, std::string* output, int timeout_ms) {
    return runInChild(
        [&](int fd) {
            dup2(fd, 1);
            dup2(fd, 2);
            const int null_fd = open("/dev/null", O_RDONLY);
            dup2(null_fd, 0);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            execvp(args[0], args.data());
        },
        output, timeout_ms);
}

std::string runAsUser(uid_t uid, gid_t gid, const std::vector<gid_t>& groups,
                      const std::function<void(std::string& out)>& body, int timeout_ms) {
    std::string result;
    const int status = runInChild(
        [&](int fd) {
            if (setgroups(groups.size(), groups.data()) != 0 || setgid(gid) != 0 ||
                setuid(uid) != 0 || geteuid() != uid || getegid() != gid || setuid(0) == 0)
                _exit(2);
            umask(022);
            std::string out;
            try {
                body(out);
            } catch (...) {
                _exit(3);
            }
            for (size_t done = 0; done < out.size();) {
                const ssize_t n = write(fd, out.data() + done, out.size() - done);
                if (n <= 0) _exit(4);
                done += static_cast<size_t>(n);
            }
            _exit(0);
        },
        &result, timeout_ms);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the child as uid " << uid << " failed or did not finish in " << timeout_ms
        << " ms, wait status " << status;
    return result;
}

std::vector<std::string> listDir(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = opendir(path.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) out.emplace_back(e->d_name);
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::set<std::string> listNames(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') out.insert(e->d_name);
    closedir(d);
    return out;
}

std::string errName(int e) {
    if (e == 0) return "0";
    const char* n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

}  // namespace kvctest
