// Stress: several processes create, write, read, mmap, rename and unlink entries of one small
// pool at the same time, so eviction runs all the time. Every entry checks itself (a header with
// a seed and its length; every other byte follows from the seed and its offset), so whatever a
// reader gets is verified: an entry may vanish under a reader, but bytes read are never wrong.
// Afterwards the daemon must still run, its memory must not have grown with the work done, the
// pool's accounting must match what is in it, and a clean remount must keep every entry.
//
// KVC_STRESS_SECONDS (default 30) sets how long the processes run.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

constexpr int kChildren = 4;
constexpr size_t kMinEntry = 4 << 10;
constexpr size_t kMaxEntry = 256 << 10;
constexpr size_t kHeaderBytes = 16;
constexpr char kMagic[4] = {'K', 'V', 'S', '1'};
// Daemon memory may grow by this much between the end of the warm-up and the end of the run.
constexpr long kRssGrowthLimitKiB = 32 << 10;
// Under AddressSanitizer (the daemon is built with the test) freed memory sits in a quarantine
// of up to 256 MiB, so resident memory says nothing about leaks there; LeakSanitizer does.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif

int stressSeconds() {
    const char* v = std::getenv("KVC_STRESS_SECONDS");
    const int s = v ? std::atoi(v) : 30;
    return s > 0 ? s : 30;
}

// The 8 bytes at word `k` of the body of the entry with `seed` (splitmix64 of both), so a block
// from another entry, another offset, or zeros never passes.
uint64_t bodyWord(uint64_t seed, uint64_t k) {
    uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fillBody(uint64_t seed, char* out, size_t n) {
    for (size_t off = 0; off < n; off += 8) {
        const uint64_t w = bodyWord(seed, off / 8);
        std::memcpy(out + off, &w, std::min<size_t>(8, n - off));
    }
}

std::string makeEntry(uint64_t seed, size_t length) {
    std::string s(length, '\0');
    std::memcpy(s.data(), kMagic, 4);
    const uint32_t len32 = static_cast<uint32_t>(length);
    std::memcpy(s.data() + 4, &len32, 4);
    std::memcpy(s.data() + 8, &seed, 8);
    fillBody(seed, s.data() + kHeaderBytes, length - kHeaderBytes);
    return s;
}

// Empty if `data` is a whole, correct entry; otherwise what is wrong with it.
std::string checkEntry(const char* data, size_t n) {
    if (n < kHeaderBytes) return "only " + std::to_string(n) + " bytes (no whole header)";
    if (std::memcmp(data, kMagic, 4) != 0) return "bad magic in the header";
    uint32_t length = 0;
    uint64_t seed = 0;
    std::memcpy(&length, data + 4, 4);
    std::memcpy(&seed, data + 8, 8);
    if (length != n)
        return "header says " + std::to_string(length) + " bytes, read " + std::to_string(n);
    std::string expect(n - kHeaderBytes, '\0');
    fillBody(seed, expect.data(), expect.size());
    if (std::memcmp(expect.data(), data + kHeaderBytes, expect.size()) == 0) return {};
    size_t at = 0;
    while (expect[at] == data[kHeaderBytes + at]) ++at;
    char msg[160];
    std::snprintf(msg, sizeof msg, "seed %llx: byte %zu is 0x%02x, expected 0x%02x",
                  static_cast<unsigned long long>(seed), kHeaderBytes + at,
                  static_cast<unsigned char>(data[kHeaderBytes + at]),
                  static_cast<unsigned char>(expect[at]));
    return msg;
}

// What one child did, sent to the test through a pipe when it ends.
struct ChildCounts {
    uint64_t creates = 0, created_bytes = 0;
    uint64_t reads = 0, read_bytes = 0;
    uint64_t mmaps = 0, mmap_bytes = 0;
    uint64_t renames = 0, unlinks = 0;
    uint64_t gone = 0;   // named entries that were evicted or removed before we got to them
    uint64_t stale = 0;  // ... of which opens answered ESTALE
};

// One child process: a loop of random operations until `deadline`. Leaves with _exit: 0 when
// everything it saw was right; otherwise a message on stderr and a non-zero status.
class StressChild {
  public:
    StressChild(std::string pool, int index, std::chrono::steady_clock::time_point deadline)
        : pool_(std::move(pool)),
          index_(index),
          deadline_(deadline),
          rng_(static_cast<uint32_t>(getpid()) * 7919u + index) {}

    [[noreturn]] void run(int report_fd) {
        buf_.resize(kMaxEntry + 4096);
        while (std::chrono::steady_clock::now() < deadline_) {
            const unsigned op = rng_() % 100;
            if (op < 35)
                create();
            else if (op < 60)
                readOne();
            else if (op < 75)
                mmapOne();
            else if (op < 88)
                renameOne();
            else
                unlinkOne();
        }
        (void)!write(report_fd, &counts_, sizeof counts_);
        _exit(0);
    }

  private:
    [[noreturn]] void fail(const std::string& what) {
        std::fprintf(stderr, "stress child %d (pid %d): %s\n", index_, getpid(), what.c_str());
        _exit(1);
    }
    [[noreturn]] void failErrno(const std::string& what, int err) {
        fail(what + ": " + errName(err) + " (" + std::strerror(err) + ")");
    }
    std::string path(const std::string& name) const { return pool_ + "/" + name; }
    std::string freshName(const char* kind) {
        return std::string(kind) + "." + std::to_string(index_) + "." + std::to_string(serial_++);
    }

    // A name of a finished entry (e.* or r.*), from a listing refreshed every few picks.
    std::string pick() {
        if (names_.empty() || ++picks_ % 8 == 0) {
            names_.clear();
            DIR* d = opendir(pool_.c_str());
            if (!d) failErrno("opendir " + pool_, errno);
            while (dirent* e = readdir(d)) {
                const std::string n = e->d_name;
                if (n.rfind("e.", 0) == 0 || n.rfind("r.", 0) == 0) names_.push_back(n);
            }
            closedir(d);
        }
        if (names_.empty()) return {};
        return names_[rng_() % names_.size()];
    }

    void create() {
        const size_t length = kMinEntry + rng_() % (kMaxEntry - kMinEntry + 1);
        const uint64_t seed = (uint64_t(getpid()) << 32) ^ (uint64_t(index_) << 56) ^ serial_ ^
                              (uint64_t(rng_()) << 12);
        const std::string data = makeEntry(seed, length);
        // Written under a temporary name and renamed once closed, so readers, which take only
        // e.* and r.* names, never see an entry still being written.
        const std::string tmp = freshName("w");
        const int fd = open(path(tmp).c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) failErrno("create " + tmp, errno);
        size_t done = 0;
        while (done < length) {
            const size_t piece = std::min<size_t>(length - done, 4096 + rng_() % (128 << 10));
            const ssize_t n = write(fd, data.data() + done, piece);
            if (n < 0) failErrno("write " + tmp + " at " + std::to_string(done), errno);
            if (static_cast<size_t>(n) != piece)
                fail("short write to " + tmp + ": " + std::to_string(n) + " of " +
                     std::to_string(piece));
            done += piece;
        }
        if (close(fd) != 0) failErrno("close " + tmp, errno);
        counts_.creates++;
        counts_.created_bytes += length;
        // Committed at close, the entry is an eviction candidate before it is renamed.
        if (rename(path(tmp).c_str(), path(freshName("e")).c_str()) != 0) {
            if (errno != ENOENT) failErrno("rename " + tmp, errno);
            counts_.gone++;
        }
    }

    // Opening a name can fail because it was evicted or removed since it was listed: ENOENT,
    // or ESTALE from an open that reached an entry whose name the daemon had just dropped (the
    // kernel retries that once, so it is rare). Once open, an entry must read whole.
    int openForRead(const std::string& name) {
        const int fd = open(path(name).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT && errno != ESTALE) failErrno("open " + name, errno);
            counts_.gone++;
            counts_.stale += errno == ESTALE;
        }
        return fd;
    }

    void readOne() {
        const std::string name = pick();
        if (name.empty()) return;
        const int fd = openForRead(name);
        if (fd < 0) return;
        size_t got = 0;
        for (;;) {
            if (got == buf_.size()) fail(name + " is longer than any entry written");
            const ssize_t n = read(fd, buf_.data() + got, buf_.size() - got);
            if (n < 0) failErrno("read " + name + " at " + std::to_string(got), errno);
            if (n == 0) break;
            got += static_cast<size_t>(n);
        }
        close(fd);
        if (const std::string bad = checkEntry(buf_.data(), got); !bad.empty())
            fail("read() of " + name + ": " + bad);
        counts_.reads++;
        counts_.read_bytes += got;
    }

    void mmapOne() {
        const std::string name = pick();
        if (name.empty()) return;
        const int fd = openForRead(name);
        if (fd < 0) return;
        struct stat st {};
        if (fstat(fd, &st) != 0) failErrno("fstat " + name, errno);
        const size_t size = static_cast<size_t>(st.st_size);
        if (size < kHeaderBytes || size > kMaxEntry)
            fail("open " + name + " has size " + std::to_string(size));
        void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) failErrno("mmap " + name, errno);
        close(fd);  // the mapping keeps the entry open
        if (const std::string bad = checkEntry(static_cast<const char*>(map), size); !bad.empty())
            fail("mmap of " + name + ": " + bad);
        munmap(map, size);
        counts_.mmaps++;
        counts_.mmap_bytes += size;
    }

    void renameOne() {
        const std::string from = pick();
        if (from.empty()) return;
        // Half to a new name, half over another entry (which that replaces).
        std::string to = rng_() % 2 ? pick() : std::string();
        if (to.empty()) to = freshName("r");
        if (rename(path(from).c_str(), path(to).c_str()) != 0) {
            if (errno != ENOENT) failErrno("rename " + from + " to " + to, errno);
            counts_.gone++;
            return;
        }
        counts_.renames++;
    }

    void unlinkOne() {
        const std::string name = pick();
        if (name.empty()) return;
        if (unlink(path(name).c_str()) != 0) {
            if (errno != ENOENT) failErrno("unlink " + name, errno);
            counts_.gone++;
            return;
        }
        counts_.unlinks++;
    }

    std::string pool_;
    int index_;
    std::chrono::steady_clock::time_point deadline_;
    std::mt19937 rng_;
    std::vector<char> buf_;
    std::vector<std::string> names_;
    uint64_t picks_ = 0;
    uint64_t serial_ = 0;
    ChildCounts counts_;
};

// The anonymous resident memory of a process (RssAnon) in KiB, or -1: the daemon's own. The
// pool's pages it maps (RssShmem) are the pool's, bounded by its size.
long rssKiB(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("RssAnon:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
    return -1;
}

class StressTest : public MountTest {
  protected:
    // Small, so the children's writes evict all the time.
    std::string options() const override { return "size=8M"; }
};

TEST_F(StressTest, ProcessesRacingEvictionNeverReadWrongBytes) {
    const int seconds = stressSeconds();
    if (seconds > 500)
        std::fprintf(stderr,
                     "KVC_STRESS_SECONDS=%d: ctest stops this test after 600 s; run "
                     "the binary directly for longer runs\n",
                     seconds);
    const std::string pool = makePool("s");
    const pid_t daemon = mount().pid();
    ASSERT_GT(daemon, 0);

    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::seconds(seconds);
    struct Child {
        pid_t pid = -1;
        int report = -1;
    };
    std::vector<Child> children;
    for (int i = 0; i < kChildren; ++i) {
        int fds[2];
        ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
        const pid_t pid = fork();
        ASSERT_GE(pid, 0) << strerror(errno);
        if (pid == 0) {
            close(fds[0]);
            StressChild(pool, i, deadline).run(fds[1]);
        }
        close(fds[1]);
        children.push_back({pid, fds[0]});
    }
    // Whatever happens below, no child outlives the test.
    struct Reaper {
        std::vector<Child>& children;
        ~Reaper() {
            for (Child& c : children) {
                if (c.pid > 0) {
                    kill(c.pid, SIGKILL);
                    waitpid(c.pid, nullptr, 0);
                }
                if (c.report >= 0) close(c.report);
            }
        }
    } reaper{children};

    // Memory after a warm-up (libfuse's worker threads and their buffers exist, the pool is
    // full and evicting), and at the end. The .stats sums are checked while the children run.
    const auto warm_at = start + std::chrono::milliseconds(std::min(5000, seconds * 1000 / 4));
    long rss_warm = -1, rss_max = -1;
    int stats_checks = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        sleepMs(500);
        const long rss = rssKiB(daemon);
        if (rss_warm < 0 && std::chrono::steady_clock::now() >= warm_at) rss_warm = rss;
        rss_max = std::max(rss_max, rss);
        const auto s = readStats(pool + "/.stats");
        ASSERT_FALSE(s.empty()) << ".stats unreadable during the run";
        EXPECT_EQ(statNum(s, "capacity_bytes"),
                  statNum(s, "used_bytes") + statNum(s, "free_bytes"));
        EXPECT_LE(statNum(s, "used_bytes"), statNum(s, "capacity_bytes"));
        stats_checks++;
    }

    // Children finish their current operation and stop; a child that does not within a minute
    // is stuck in the filesystem.
    ChildCounts total;
    for (int i = 0; i < kChildren; ++i) {
        Child& c = children[i];
        int status = 0;
        bool exited = false;
        for (int waited = 0; waited < 60000 && !exited; waited += 10) {
            exited = waitpid(c.pid, &status, WNOHANG) == c.pid;
            if (!exited) sleepMs(10);
        }
        if (!exited) {
            ADD_FAILURE() << "stress child " << i << " (pid " << c.pid << ") still running 60 s "
                          << "after its deadline: a request is stuck in the daemon";
            continue;  // the Reaper kills it
        }
        c.pid = -1;
        if (WIFSIGNALED(status)) {
            ADD_FAILURE() << "stress child " << i << " killed by signal " << WTERMSIG(status)
                          << " (" << strsignal(WTERMSIG(status)) << ")";
            continue;
        }
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "stress child " << i << " failed (status " << status << "; its message is above)";
        ChildCounts counts;
        if (read(c.report, &counts, sizeof counts) == static_cast<ssize_t>(sizeof counts)) {
            total.creates += counts.creates;
            total.created_bytes += counts.created_bytes;
            total.reads += counts.reads;
            total.read_bytes += counts.read_bytes;
            total.mmaps += counts.mmaps;
            total.mmap_bytes += counts.mmap_bytes;
            total.renames += counts.renames;
            total.unlinks += counts.unlinks;
            total.gone += counts.gone;
            total.stale += counts.stale;
        }
    }
    const long rss_end = rssKiB(daemon);
    std::printf(
        "stress: %d s, %d processes: %llu creates (%llu MiB), %llu reads (%llu MiB), "
        "%llu mmaps (%llu MiB), %llu renames, %llu unlinks, %llu names gone (%llu ESTALE)\n"
        "daemon RssAnon: %ld KiB after warm-up, %ld KiB at the end, %ld KiB at most\n",
        seconds, kChildren, (unsigned long long)total.creates,
        (unsigned long long)(total.created_bytes >> 20), (unsigned long long)total.reads,
        (unsigned long long)(total.read_bytes >> 20), (unsigned long long)total.mmaps,
        (unsigned long long)(total.mmap_bytes >> 20), (unsigned long long)total.renames,
        (unsigned long long)total.unlinks, (unsigned long long)total.gone,
        (unsigned long long)total.stale, rss_warm, rss_end, rss_max);
    ASSERT_FALSE(HasFailure());

    // The test did what it says: it filled the pool many times over and read a lot back.
    EXPECT_GT(total.created_bytes, 4u * (8u << 20));
    EXPECT_GT(total.reads, 0u);
    EXPECT_GT(total.mmaps, 0u);
    EXPECT_GT(stats_checks, 0);

    // The daemon is alive and serving.
    int status = 0;
    ASSERT_FALSE(mount().waitExit(0, &status)) << "the daemon exited, status " << status;
    ASSERT_GT(rss_warm, 0);
    ASSERT_GT(rss_end, 0);
    if (kRssIsMeaningful) {
        EXPECT_LT(rss_end - rss_warm, kRssGrowthLimitKiB)
            << "daemon RssAnon grew from " << rss_warm << " KiB to " << rss_end << " KiB";
    }

    // Every release has reached the daemon: nothing is open, and what is used is exactly the
    // blocks of the entries that are left (an evicted entry's blocks came back at its close).
    EXPECT_TRUE(eventually([&] {
        return statNum(readStats(pool + "/.stats"), "open_entries") == 0;
    })) << "entries still open after every process closed them";
    const auto stats = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(stats, "capacity_bytes"),
              statNum(stats, "used_bytes") + statNum(stats, "free_bytes"));
    EXPECT_EQ(8u << 20, statNum(stats, "capacity_bytes"));
    EXPECT_GT(statNum(stats, "evictions"), 0u);
    const std::set<std::string> names = listNames(pool);
    EXPECT_EQ(names.size(), statNum(stats, "entries"));
    uint64_t block_bytes = 0;
    std::map<std::string, std::string> contents;
    for (const std::string& n : names) {
        EXPECT_TRUE(n.rfind("e.", 0) == 0 || n.rfind("r.", 0) == 0)
            << n << ": only renamed entries should be left";
        struct stat st {};
        ASSERT_EQ(0, stat((pool + "/" + n).c_str(), &st)) << n << ": " << strerror(errno);
        block_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
        int err = 0;
        auto data = readFile(pool + "/" + n, &err);
        ASSERT_TRUE(data) << n << ": " << errName(err);
        EXPECT_EQ("", checkEntry(data->data(), data->size())) << n;
        contents[n] = std::move(*data);
    }
    EXPECT_EQ(statNum(stats, "used_bytes"), block_bytes)
        << "blocks in use differ from the blocks of the " << names.size() << " entries left";

    // A clean remount keeps every entry, verified.
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(names, listNames(pool));
    for (const auto& [n, data] : contents) {
        int err = 0;
        auto again = readFile(pool + "/" + n, &err);
        ASSERT_TRUE(again) << n << ": " << errName(err);
        EXPECT_EQ("", checkEntry(again->data(), again->size())) << n;
        EXPECT_TRUE(*again == data) << n << " changed across the remount";
    }
    const auto after = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(stats, "used_bytes"), statNum(after, "used_bytes"));
    EXPECT_EQ(statNum(stats, "entries"), statNum(after, "entries"));
}

}  // namespace
}  // namespace kvctest
