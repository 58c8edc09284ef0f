// Faults: the daemon killed with -9 while a process writes, a client killed with a descriptor
// open mid-write, a pool whose backing store is smaller than its capacity, and the /dev/fuse
// connection aborted from /sys/fs/fuse/connections. Each checks what docs/ARCHITECTURE.md
// ("What survives what") promises: every entry whose close(2) returned is kept byte for byte, an
// entry being written at a crash is dropped whole (or, if its close got as far as the commit,
// kept whole), the pool's accounting matches what is left, and the daemon never dies of it.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

uint64_t fnv1a(std::string_view data) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : data) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// Waits up to `timeout_ms` for a child; true with its wait status if it ended.
bool waitChild(pid_t pid, int timeout_ms, int* status) {
    for (int waited = 0;; waited += 10) {
        if (waitpid(pid, status, WNOHANG) == pid) return true;
        if (waited >= timeout_ms) return false;
        sleepMs(10);
    }
}

std::string describeStatus(int st) {
    if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) +
               ")";
    return "status " + std::to_string(st);
}

// A child process the test started: SIGKILLed and reaped (by its pid) if the test leaves early.
struct ChildGuard {
    pid_t pid = -1;
    ~ChildGuard() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    bool wait(int timeout_ms, int* status) {
        if (pid <= 0 || !waitChild(pid, timeout_ms, status)) return false;
        pid = -1;
        return true;
    }
};

// A directory under /tmp for files that must live outside the mount; removed with its files.
struct ScratchDir {
    std::string path;
    ScratchDir() {
        std::string tmpl = "/tmp/kvcfault.XXXXXX";
        if (mkdtemp(tmpl.data())) path = tmpl;
    }
    ~ScratchDir() {
        if (path.empty()) return;
        if (DIR* d = opendir(path.c_str())) {
            while (dirent* e = readdir(d))
                if (e->d_name[0] != '.') unlink((path + "/" + e->d_name).c_str());
            closedir(d);
        }
        rmdir(path.c_str());
    }
};

// --- a writer that logs what close(2) confirmed ------------------------------------------
//
// Child process: writes entries "<prefix><i>" of 4 KiB..256 KiB (pattern(len, seed + i)) in
// pieces, and appends to a log file outside the mount:
//   B name len sum   before it creates the entry
//   C name len sum   after close() returned 0: the entry is committed
//   U name           before it unlinks entry i - window (keeps the pool from filling)
//   D name           after that unlink returned 0
//   X op errno       the first call that failed; then it exits 0
constexpr size_t kWriterWindow = 32;

[[noreturn]] void loggedWriter(const std::string& pool, const std::string& prefix, int log_fd,
                               uint32_t seed) {
    std::mt19937 rng(seed);
    auto logLine = [&](const std::string& line) {
        const std::string l = line + "\n";
        if (write(log_fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) _exit(3);
    };
    auto stop = [&](const char* op, int err) {
        logLine(std::string("X ") + op + " " + std::to_string(err));
        _exit(0);
    };
    for (uint32_t i = 0;; ++i) {
        const std::string name = prefix + std::to_string(i);
        const size_t len = (4 << 10) + rng() % (252 << 10);
        const std::string data = pattern(len, seed + i);
        const std::string tail = " " + std::to_string(len) + " " + std::to_string(fnv1a(data));
        logLine("B " + name + tail);
        const int fd =
            open((pool + "/" + name).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) stop("open", errno);
        for (size_t done = 0; done < len;) {
            const size_t piece = std::min<size_t>(len - done, (16 << 10) + rng() % (48 << 10));
            const ssize_t n = write(fd, data.data() + done, piece);
            if (n < 0) stop("write", errno);
            done += static_cast<size_t>(n);
        }
        if (close(fd) != 0) stop("close", errno);
        logLine("C " + name + tail);
        if (i >= kWriterWindow) {
            const std::string old = prefix + std::to_string(i - kWriterWindow);
            logLine("U " + old);
            if (unlink((pool + "/" + old).c_str()) != 0) stop("unlink", errno);
            logLine("D " + old);
        }
    }
}

struct Expected {
    size_t len = 0;
    uint64_t sum = 0;
};

// What a writer's log says the pool must and may hold.
struct LogOutcome {
    std::map<std::string, Expected> must;  // closed and not being removed
    std::map<std::string, Expected> may;   // being written or being removed at the end
    size_t closed = 0;                     // C lines
    std::string stop;                      // the X line
    std::string error;                     // a log the writer could not have written
};

LogOutcome readLog(const std::string& path) {
    LogOutcome out;
    std::ifstream in(path);
    std::string line;
    std::string open_entry;  // B without C
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string kind, name;
        Expected e;
        f >> kind >> name;
        if (kind == "B" || kind == "C") f >> e.len >> e.sum;
        if (kind == "B") {
            if (!open_entry.empty()) out.error = "two entries begun without a close: " + line;
            open_entry = name;
            out.may[name] = e;
        } else if (kind == "C") {
            open_entry.clear();
            out.may.erase(name);
            out.must[name] = e;
            out.closed++;
        } else if (kind == "U") {
            auto it = out.must.find(name);
            if (it == out.must.end()) {
                out.error = "unlink of an entry never closed: " + line;
                continue;
            }
            out.may[name] = it->second;
            out.must.erase(it);
        } else if (kind == "D") {
            out.may.erase(name);
        } else if (kind == "X") {
            out.stop = line;
        }
    }
    return out;
}

size_t countClosed(const std::string& log_path) {
    std::ifstream in(log_path);
    std::string line;
    size_t n = 0;
    while (std::getline(in, line)) n += line.rfind("C ", 0) == 0;
    return n;
}

// The errno a client gets from a connection whose daemon is gone: ENOTCONN for new requests,
// ECONNABORTED for one that was waiting for its answer, and EIO for one the kernel was copying
// to or from the daemon at that moment (fuse_dev_do_read/fuse_dev_do_write end it so).
bool deadConnectionErrno(const std::string& stop_line) {
    std::istringstream f(stop_line);
    std::string x, op;
    int err = 0;
    f >> x >> op >> err;
    return err == ENOTCONN || err == ECONNABORTED || err == EIO;
}

std::string stopDescription(const std::string& stop_line) {
    std::istringstream f(stop_line);
    std::string x, op;
    int err = 0;
    f >> x >> op >> err;
    return op + " failed with " + errName(err);
}

// Checks `pool` against what must and may be there: every `must` entry present and
// byte-identical; any other entry present only if in `may`, and then whole (a prefix or any
// other partial content is a failure); nothing else. `.stats` counts exactly the entries left
// and their blocks. Returns what is present, with its expected content.
std::map<std::string, Expected> expectPoolHolds(const std::string& pool,
                                                const std::map<std::string, Expected>& must,
                                                const std::map<std::string, Expected>& may) {
    std::map<std::string, Expected> present;
    const std::set<std::string> names = listNames(pool);
    for (const auto& [name, e] : must)
        EXPECT_TRUE(names.count(name)) << name << " was closed before the fault but is gone";
    uint64_t block_bytes = 0;
    for (const std::string& name : names) {
        const auto m = must.find(name);
        const auto p = may.find(name);
        if (m == must.end() && p == may.end()) {
            ADD_FAILURE() << "unexpected entry " << name;
            continue;
        }
        const Expected& e = m != must.end() ? m->second : p->second;
        int err = 0;
        auto data = readFile(pool + "/" + name, &err);
        if (!data) {
            ADD_FAILURE() << name << " is listed but cannot be read: " << errName(err);
            continue;
        }
        EXPECT_EQ(e.len, data->size())
            << name << (m != must.end() ? " (closed)" : " (in flight)") << " has the wrong size";
        EXPECT_EQ(e.sum, fnv1a(*data)) << name << " has the wrong content";
        struct stat st {};
        if (stat((pool + "/" + name).c_str(), &st) == 0)
            block_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
        present[name] = e;
    }
    const auto s = readStats(pool + "/.stats");
    EXPECT_EQ(names.size(), statNum(s, "entries"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes") + statNum(s, "free_bytes"));
    EXPECT_EQ(block_bytes, statNum(s, "used_bytes"))
        << "blocks in use differ from the blocks of the entries left";
    return present;
}

class FaultTest : public MountTest {
  protected:
    // Large enough that nothing is evicted: every closed entry must still be there.
    std::string options() const override { return "size=256M"; }
};

// --- a. kill -9 of the daemon while a process writes --------------------------------------

TEST_F(FaultTest, KillNineWhileWritingKeepsEveryClosedEntry) {
    const std::string pool = makePool("p");
    ScratchDir scratch;
    ASSERT_FALSE(scratch.path.empty());
    const uint32_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::map<std::string, Expected> known;  // present after the earlier rounds
    size_t closed_total = 0, in_flight_kept = 0, in_flight_dropped = 0;
    constexpr int kRounds = 5;
    for (int round = 0; round < kRounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const std::string log_path = scratch.path + "/writer" + std::to_string(round) + ".log";
        const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ASSERT_GE(log_fd, 0);
        ChildGuard writer;
        writer.pid = fork();
        ASSERT_GE(writer.pid, 0);
        if (writer.pid == 0)
            loggedWriter(pool, "r" + std::to_string(round) + "-", log_fd,
                         seed + static_cast<uint32_t>(round) * 100000u);
        close(log_fd);
        // Kill at a random moment once the writer is well under way (some rounds after the
        // window starts unlinking).
        const size_t want = 4 + rng() % 60;
        ASSERT_TRUE(eventually([&] { return countClosed(log_path) >= want; }, 30000))
            << "the writer closed only " << countClosed(log_path) << " entries in 30 s";
        sleepMs(static_cast<int>(rng() % 40));
        mount().signal(SIGKILL);
        int st = 0;
        ASSERT_TRUE(mount().waitExit(10000, &st));
        ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << describeStatus(st);
        // The writer learns of the dead connection and stops; only then is the mount detached
        // and remounted, so it can never write into the new daemon.
        ASSERT_TRUE(writer.wait(10000, &st)) << "writer still running 10 s after the daemon died";
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << describeStatus(st);
        std::string out;
        ASSERT_EQ(0, runProgram({"fusermount3", "-u", "-z", mnt()}, &out)) << out;
        ASSERT_TRUE(mount().start());

        const LogOutcome log = readLog(log_path);
        ASSERT_EQ("", log.error);
        EXPECT_TRUE(deadConnectionErrno(log.stop))
            << "the writer stopped for another reason: " << stopDescription(log.stop);
        std::map<std::string, Expected> must = known;
        must.insert(log.must.begin(), log.must.end());
        known = expectPoolHolds(pool, must, log.may);
        closed_total += log.closed;
        for (const auto& [name, e] : log.may)
            (known.count(name) ? in_flight_kept : in_flight_dropped)++;
        EXPECT_EQ(std::string::npos, mount().daemonLog().find("internal error"));
        if (HasFailure()) return;
    }
    std::printf(
        "kill -9 x%d: %zu entries closed, all kept; %zu in flight kept whole, %zu "
        "dropped\n",
        kRounds, closed_total, in_flight_kept, in_flight_dropped);
    // The pool works after the crashes.
    ASSERT_EQ(0, writeFile(pool + "/after", pattern(100000, 1)));
    EXPECT_EQ(pattern(100000, 1), readFile(pool + "/after").value_or(""));
}

// --- b. a client killed mid-write ---------------------------------------------------------

TEST_F(FaultTest, ClientKilledMidWriteLeavesPoolConsistent) {
    const std::string pool = makePool("p");
    std::map<std::string, std::string> others;
    for (int i = 0; i < 6; ++i) {
        const std::string name = "other" + std::to_string(i);
        others[name] = pattern(4096 + i * 60001, 100 + i);
        ASSERT_EQ(0, writeFile(pool + "/" + name, others[name]));
    }
    const auto before = readStats(pool + "/.stats");

    constexpr size_t kChunk = 64 << 10;
    const std::string victim = pattern(16 << 20, 4242);
    int progress[2];
    ASSERT_EQ(0, pipe2(progress, O_CLOEXEC));
    ChildGuard client;
    client.pid = fork();
    ASSERT_GE(client.pid, 0);
    if (client.pid == 0) {
        // Writes in 64 KiB pieces, reporting the total after each write returned; then holds
        // the descriptor open until it is killed.
        close(progress[0]);
        const int fd = open((pool + "/victim").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) _exit(2);
        for (uint64_t done = 0; done < victim.size(); done += kChunk) {
            if (write(fd, victim.data() + done, kChunk) != static_cast<ssize_t>(kChunk)) _exit(3);
            const uint64_t total = done + kChunk;
            (void)!write(progress[1], &total, sizeof total);
        }
        for (;;) pause();
    }
    close(progress[1]);
    uint64_t reported = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (reported < (2u << 20) && std::chrono::steady_clock::now() < give_up) {
        uint64_t total = 0;
        if (read(progress[0], &total, sizeof total) != sizeof total) break;
        reported = total;
    }
    ASSERT_GE(reported, 2u << 20) << "the client did not write 2 MiB";
    kill(client.pid, SIGKILL);
    int st = 0;
    ASSERT_TRUE(client.wait(10000, &st));
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << describeStatus(st);
    for (uint64_t total = 0; read(progress[0], &total, sizeof total) == sizeof total;)
        reported = total;
    close(progress[0]);

    int dst = 0;
    ASSERT_FALSE(mount().waitExit(0, &dst)) << "the daemon died: " << describeStatus(dst);
    // The kernel releases the dead client's descriptor (FLUSH, then RELEASE): nothing is open.
    EXPECT_TRUE(eventually([&] {
        return statNum(readStats(pool + "/.stats"), "open_entries") == 0;
    })) << "the killed client's descriptor was never released";
    // The entry holds what reached the daemon: every write that returned, and perhaps the one
    // in flight at the kill (a 64 KiB write is one request, done whole or not at all).
    struct stat vs {};
    ASSERT_EQ(0, stat((pool + "/victim").c_str(), &vs));
    const uint64_t size = static_cast<uint64_t>(vs.st_size);
    EXPECT_TRUE(size == reported || size == reported + kChunk)
        << "victim has " << size << " bytes; the client had written " << reported;
    int err = 0;
    auto data = readFile(pool + "/victim", &err);
    ASSERT_TRUE(data) << errName(err);
    ASSERT_EQ(size, data->size());
    EXPECT_TRUE(*data == victim.substr(0, size)) << "victim is not what the client wrote";
    for (const auto& [name, content] : others)
        EXPECT_EQ(content, readFile(pool + "/" + name).value_or("<missing>")) << name;
    auto s = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(before, "entries") + 1, statNum(s, "entries"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes") + statNum(s, "free_bytes"));
    EXPECT_EQ(statNum(before, "used_bytes") + static_cast<uint64_t>(vs.st_blocks) * 512,
              statNum(s, "used_bytes"));

    // Released means committed: a daemon crash now keeps it.
    ASSERT_TRUE(mount().killAndRemount());
    data = readFile(pool + "/victim", &err);
    ASSERT_TRUE(data) << "victim lost in a crash after its release: " << errName(err);
    EXPECT_TRUE(*data == victim.substr(0, size));
    // And it can be removed like any entry.
    ASSERT_EQ(0, errnoOf(unlink((pool + "/victim").c_str())));
    s = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(before, "entries"), statNum(s, "entries"));
    EXPECT_EQ(statNum(before, "used_bytes"), statNum(s, "used_bytes"));
    for (const auto& [name, content] : others)
        EXPECT_EQ(content, readFile(pool + "/" + name).value_or("<missing>")) << name;
}

// --- c. a backing store smaller than the pool ---------------------------------------------

// A tmpfs of `size` mounted on a temporary directory (root only); unmounted and removed when
// this goes out of scope, also when the test fails.
class TmpfsMount {
  public:
    explicit TmpfsMount(const char* size) {
        std::string tmpl = "/tmp/kvcbacking.XXXXXX";
        if (!mkdtemp(tmpl.data())) {
            error_ = std::string("mkdtemp: ") + strerror(errno);
            return;
        }
        dir_ = tmpl;
        const std::string opts = std::string("size=") + size + ",mode=0700";
        if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
            error_ = "mount tmpfs on " + dir_ + ": " + strerror(errno);
            return;
        }
        mounted_ = true;
    }
    ~TmpfsMount() {
        if (mounted_ && umount2(dir_.c_str(), 0) != 0) umount2(dir_.c_str(), MNT_DETACH);
        if (!dir_.empty()) rmdir(dir_.c_str());
    }
    bool ok() const { return mounted_; }
    const std::string& dir() const { return dir_; }
    const std::string& error() const { return error_; }

  private:
    std::string dir_, error_;
    bool mounted_ = false;
};

// Fails, saying how the daemon ended, if it is no longer running.
::testing::AssertionResult daemonAlive(KvcMount& m, const std::string& after) {
    int st = 0;
    if (!m.waitExit(0, &st)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "the daemon ended (" << describeStatus(st) << ") after " << after << "\n"
           << m.daemonLog();
}

// Writes `data` to a new entry in 64 KiB pieces: 0, or the errno of the first call that failed
// (with *written set to the bytes written before it, and *created whether open succeeded).
int writeInPieces(const std::string& path, const std::string& data, size_t* written,
                  bool* created = nullptr) {
    *written = 0;
    if (created) *created = false;
    const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    if (created) *created = true;
    while (*written < data.size()) {
        const size_t n = std::min<size_t>(64 << 10, data.size() - *written);
        const ssize_t w = write(fd, data.data() + *written, n);
        if (w < 0) {
            const int e = errno;
            close(fd);
            return e;
        }
        *written += static_cast<size_t>(w);
    }
    return close(fd) == 0 ? 0 : errno;
}

// A disk-tier pool of 64 MiB in a directory that is a 4 MiB tmpfs: the host runs out long before
// the pool is full, and the pool cannot make room by evicting.
TEST_F(FaultTest, HostSmallerThanPoolGivesEnospcNeverSigbus) {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    TmpfsMount backing("4m");  // declared first: it goes after the daemon below has stopped
    ASSERT_TRUE(backing.ok()) << backing.error();
    KvcMount small("tier=disk,dir=" + backing.dir() + ",size=64M");
    ASSERT_TRUE(small.start());
    struct LogOnFailure {
        KvcMount& m;
        ~LogOnFailure() {
            if (::testing::Test::HasFailure())
                std::fprintf(stderr, "--- daemon log (disk tier) ---\n%s\n", m.daemonLog().c_str());
            m.cleanup();
        }
    } log_on_failure{small};
    const std::string pool = small.path("p");
    ASSERT_EQ(0, errnoOf(mkdir(pool.c_str(), 0755))) << strerror(errno);
    std::map<std::string, std::string> stored;
    for (int i = 0; i < 4; ++i) {
        const std::string name = "before" + std::to_string(i);
        stored[name] = pattern(256 << 10, 10 + i);
        ASSERT_EQ(0, writeFile(pool + "/" + name, stored[name]));
    }
    // 512 KiB entries until the 4 MiB host is full: ENOSPC from write(), the daemon alive.
    // (32 MiB at most: an ENOSPC can only come from the host, not from the 64 MiB pool.)
    int err = 0;
    std::string failed_name, failed_data;
    size_t failed_written = 0;
    bool failed_created = false;
    for (int i = 0; i < 64 && err == 0; ++i) {
        const std::string name = "big" + std::to_string(i);
        const std::string data = pattern(512 << 10, 20 + i);
        size_t written = 0;
        bool created = false;
        err = writeInPieces(pool + "/" + name, data, &written, &created);
        ASSERT_TRUE(daemonAlive(small, "writing " + name));
        if (err == 0) {
            stored[name] = data;
        } else {
            failed_name = name;
            failed_data = data;
            failed_written = written;
            failed_created = created;
        }
    }
    ASSERT_EQ(ENOSPC, err) << "writing past a 4 MiB host into a 64 MiB pool gave " << errName(err);
    if (failed_created) {
        // The entry that hit the limit holds the bytes written before, no more and no other.
        auto partial = readFile(pool + "/" + failed_name, &err);
        ASSERT_TRUE(partial) << failed_name << ": " << errName(err);
        EXPECT_EQ(failed_written, partial->size());
        EXPECT_TRUE(*partial == failed_data.substr(0, partial->size()));
    } else {
        EXPECT_EQ(ENOENT, statErrno(pool + "/" + failed_name));  // the create itself failed
    }
    for (const auto& [name, data] : stored)
        EXPECT_EQ(data, readFile(pool + "/" + name).value_or("<missing>")) << name;

    // More work on the full host: new entries, names, directories and attributes each either
    // succeed or fail with ENOSPC; the daemon must survive all of it (never SIGBUS).
    for (int i = 0; i < 40; ++i) {
        const std::string name = "small" + std::to_string(i);
        size_t written = 0;
        const int e = writeInPieces(pool + "/" + name, pattern(100 + i, i), &written);
        ASSERT_TRUE(daemonAlive(small, "creating " + name + " on the full host"));
        EXPECT_TRUE(e == 0 || e == ENOSPC) << name << ": " << errName(e);
        const std::string dir = pool + "/dir" + std::to_string(i);
        const int d = errnoOf(mkdir(dir.c_str(), 0755));
        ASSERT_TRUE(daemonAlive(small, "mkdir dir" + std::to_string(i) + " on the full host"));
        EXPECT_TRUE(d == 0 || d == ENOSPC) << dir << ": " << errName(d);
        const std::string value(200, 'v');
        const int x =
            errnoOf(setxattr((pool + "/before0").c_str(), ("user.tag" + std::to_string(i)).c_str(),
                             value.data(), value.size(), 0));
        ASSERT_TRUE(daemonAlive(small, "setxattr on the full host"));
        EXPECT_TRUE(x == 0 || x == ENOSPC) << "setxattr user.tag" << i << ": " << errName(x);
    }
    for (const auto& [name, data] : stored)
        EXPECT_EQ(data, readFile(pool + "/" + name).value_or("<missing>")) << name;

    // Removing entries gives the host its memory back: a large write succeeds again.
    for (int i = 0; i < 64; ++i) {
        const std::string name = "big" + std::to_string(i);
        if (unlink((pool + "/" + name).c_str()) == 0) stored.erase(name);
    }
    size_t written = 0;
    const std::string again = pattern(1 << 20, 99);
    EXPECT_EQ(0, writeInPieces(pool + "/again", again, &written));
    EXPECT_EQ(again, readFile(pool + "/again").value_or("<missing>"));
    const auto s = readStats(pool + "/.stats");
    EXPECT_EQ(64u << 20, statNum(s, "capacity_bytes"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes") + statNum(s, "free_bytes"));
    ASSERT_TRUE(small.remount());
    for (const auto& [name, data] : stored)
        EXPECT_EQ(data, readFile(pool + "/" + name).value_or("<missing>")) << name;
    EXPECT_EQ(again, readFile(pool + "/again").value_or("<missing>"));
}

// --- d. the FUSE connection aborted ------------------------------------------------------

// The fusectl directory: /sys/fs/fuse/connections when it is mounted, else a private mount of
// fusectl on a temporary directory (root only), unmounted again at the end.
class FuseCtl {
  public:
    FuseCtl() {
        DIR* d = opendir("/sys/fs/fuse/connections");
        bool populated = false;
        if (d) {
            while (dirent* e = readdir(d)) populated |= e->d_name[0] != '.';
            closedir(d);
        }
        if (populated) {
            dir_ = "/sys/fs/fuse/connections";
            return;
        }
        std::string tmpl = "/tmp/kvcfusectl.XXXXXX";
        if (!mkdtemp(tmpl.data())) return;
        if (::mount("fusectl", tmpl.c_str(), "fusectl", 0, nullptr) != 0) {
            error_ = std::string("mount fusectl: ") + strerror(errno);
            rmdir(tmpl.c_str());
            return;
        }
        dir_ = own_ = tmpl;
    }
    ~FuseCtl() {
        if (own_.empty()) return;
        if (umount2(own_.c_str(), 0) != 0) umount2(own_.c_str(), MNT_DETACH);
        rmdir(own_.c_str());
    }
    const std::string& dir() const { return dir_; }
    const std::string& error() const { return error_; }

  private:
    std::string dir_, own_, error_;
};

TEST_F(FaultTest, AbortedConnectionStopsTheDaemonCleanly) {
    if (geteuid() != 0) GTEST_SKIP() << "aborting a FUSE connection needs root";
    const std::string pool = makePool("p");
    std::map<std::string, Expected> stored;
    for (int i = 0; i < 10; ++i) {
        const std::string name = "kept" + std::to_string(i);
        const std::string data = pattern(3000 + i * 20000, 500 + i);
        ASSERT_EQ(0, writeFile(pool + "/" + name, data));
        stored[name] = {data.size(), fnv1a(data)};
    }
    struct stat ms {};
    ASSERT_EQ(0, stat(mnt().c_str(), &ms));
    FuseCtl ctl;
    ASSERT_FALSE(ctl.dir().empty()) << ctl.error();
    const std::string abort_path = ctl.dir() + "/" + std::to_string(minor(ms.st_dev)) + "/abort";
    ASSERT_EQ(0, access(abort_path.c_str(), W_OK)) << abort_path << ": " << strerror(errno);

    // A client is writing when the connection goes.
    ScratchDir scratch;
    ASSERT_FALSE(scratch.path.empty());
    const std::string log_path = scratch.path + "/writer.log";
    const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(log_fd, 0);
    ChildGuard writer;
    writer.pid = fork();
    ASSERT_GE(writer.pid, 0);
    if (writer.pid == 0) loggedWriter(pool, "w", log_fd, 777);
    close(log_fd);
    ASSERT_TRUE(eventually([&] { return countClosed(log_path) >= 5; }, 30000));

    {
        std::ofstream abort_file(abort_path);
        abort_file << "1\n";
        abort_file.flush();
        ASSERT_TRUE(abort_file.good()) << "cannot write " << abort_path;
    }
    // The daemon sees the connection end and stops by itself, as after an unmount.
    int st = 0;
    ASSERT_TRUE(mount().waitExit(5000, &st))
        << "the daemon still runs 5 s after its connection was aborted";
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << describeStatus(st) << "\n"
                                                       << mount().daemonLog();
    ASSERT_TRUE(writer.wait(5000, &st)) << "the writer hangs on the aborted connection";
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << describeStatus(st);
    EXPECT_EQ(ENOTCONN, statErrno(pool + "/never-looked-up"));
    EXPECT_EQ(std::string::npos, mount().daemonLog().find("internal error")) << mount().daemonLog();

    // libfuse leaves a mount whose connection was aborted in place (fuse_session_unmount skips
    // it), answering ENOTCONN: detached here as an operator would, then a new daemon finds the
    // pool as the writer left it.
    std::string out;
    if (mount().isMounted()) {
        ASSERT_EQ(0, runProgram({"fusermount3", "-u", "-z", mnt()}, &out)) << out;
    }
    ASSERT_FALSE(mount().isMounted());
    ASSERT_TRUE(mount().start());
    const LogOutcome log = readLog(log_path);
    ASSERT_EQ("", log.error);
    EXPECT_TRUE(deadConnectionErrno(log.stop))
        << "the writer stopped for another reason: " << stopDescription(log.stop);
    std::map<std::string, Expected> must = stored;
    must.insert(log.must.begin(), log.must.end());
    expectPoolHolds(pool, must, log.may);
}

}  // namespace
}  // namespace kvctest
