// kvc_perf: the small-entry and scale workloads of the performance suite (tests/bench/perf/run.sh).
// It drives any directory with plain system calls, so the same run measures a tmpfs directory and
// a kvcachefs pool; it knows nothing of mounting. Each command prints one JSON object per
// measured phase on stdout:
//   {"op":"create","n":1000,"threads":2,"size":4096,"seconds":0.1,"ops_per_s":1e4,"us_per_op":100}
// us_per_op is wall time per operation of one client thread (seconds * threads / n).
//
// Commands:
//   small    --dir D --count N --size S --threads T
//            create+write+close, stat (first after the write, then cached), open+read+close and
//            unlink of N entries of S bytes, T client threads, each on its own names.
//   populate --dir D --count N --size S --threads T [--prefix e]
//            creates entries PREFIX0..PREFIX(N-1) of S bytes (the setup of a scale run).
//   create   --dir D --count N --size S [--prefix c]
//            times N create+write+close of new entries, one thread (per-operation cost; run it
//            on a full pool to time eviction).
//   lookup   --dir D --count N --samples K [--round R]
//            stat of K distinct random names among e0..e(N-1); run right after a mount, so each
//            one is a lookup the daemon answers. Round R (0, 1, ...) takes the next K names of
//            the same random order, so rounds on one mount never repeat a name.
//   match    --dir D --count N --requests R --chain L
//            R requests to D/.match, each a run of L consecutive cached names; checks that all L
//            are reported cached.
//   cachestat FILE...
//            bytes of the files in the page cache (cachestat(2), Linux >= 6.5; it needs no mmap,
//            so it also works on a direct_io mount): {"op":"cachestat","bytes":B}
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
    std::string command;
    std::string dir;
    std::string prefix;
    uint64_t count = 1000;
    uint64_t size = 4096;
    unsigned threads = 1;
    uint64_t samples = 10000;
    uint64_t requests = 1000;
    uint64_t chain = 32;
    uint64_t round = 0;
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "kvc_perf: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: kvc_perf small|populate|create|lookup|match --dir D [--count N] "
                 "[--size BYTES] [--threads T] [--prefix P] [--samples K] [--requests R] "
                 "[--chain L] [--round R]\n       kvc_perf cachestat FILE...\n");
    std::exit(2);
}

Args parseArgs(int argc, char** argv) {
    if (argc < 2) usage();
    Args a;
    a.command = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const char* v = argv[i + 1];
        if (k == "--dir")
            a.dir = v;
        else if (k == "--prefix")
            a.prefix = v;
        else if (k == "--count")
            a.count = std::strtoull(v, nullptr, 10);
        else if (k == "--size")
            a.size = std::strtoull(v, nullptr, 10);
        else if (k == "--threads")
            a.threads = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
        else if (k == "--samples")
            a.samples = std::strtoull(v, nullptr, 10);
        else if (k == "--requests")
            a.requests = std::strtoull(v, nullptr, 10);
        else if (k == "--chain")
            a.chain = std::strtoull(v, nullptr, 10);
        else if (k == "--round")
            a.round = std::strtoull(v, nullptr, 10);
        else
            usage();
    }
    if (argc % 2 != 0 || a.dir.empty() || a.count == 0 || a.threads == 0) usage();
    return a;
}

void report(const char* op, const Args& a, uint64_t n, unsigned threads, double seconds) {
    std::printf(
        "{\"op\":\"%s\",\"n\":%llu,\"threads\":%u,\"size\":%llu,\"seconds\":%.6f,"
        "\"ops_per_s\":%.1f,\"us_per_op\":%.3f}\n",
        op, static_cast<unsigned long long>(n), threads, static_cast<unsigned long long>(a.size),
        seconds, n / seconds, seconds * 1e6 * threads / n);
    std::fflush(stdout);
}

std::string entryName(const std::string& dir, const std::string& prefix, uint64_t i) {
    return dir + "/" + prefix + std::to_string(i);
}

void writeAll(int fd, const char* data, size_t len, const std::string& path) {
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n <= 0) die("write " + path);
        data += n;
        len -= static_cast<size_t>(n);
    }
}

void createEntry(const std::string& path, const std::vector<char>& data) {
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) die("create " + path);
    writeAll(fd, data.data(), data.size(), path);
    if (::close(fd) != 0) die("close " + path);
}

void readEntry(const std::string& path, std::vector<char>& buf) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    size_t got = 0;
    while (got < buf.size()) {
        const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
        if (n < 0) die("read " + path);
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    if (got != buf.size()) {
        errno = EIO;
        die("short read of " + path);
    }
    ::close(fd);
}

void statEntry(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) die("stat " + path);
}

// Runs body(thread, index) for every index in [0, n) split in contiguous ranges over `threads`
// threads that start together; returns the wall time from the start to the last one's end.
double runParallel(uint64_t n, unsigned threads,
                   const std::function<void(unsigned, uint64_t)>& body) {
    std::barrier start(static_cast<std::ptrdiff_t>(threads) + 1);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const uint64_t lo = n * t / threads, hi = n * (t + 1) / threads;
            start.arrive_and_wait();
            for (uint64_t i = lo; i < hi; ++i) body(t, i);
        });
    }
    // The clock starts before the release: a short run may be over before this thread wakes.
    const auto t0 = Clock::now();
    start.arrive_and_wait();
    for (auto& th : pool) th.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<char> pattern(uint64_t size) {
    std::vector<char> data(size);
    for (uint64_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + i % 26);
    return data;
}

void cmdSmall(const Args& a) {
    const std::vector<char> data = pattern(a.size);
    const std::string pre = a.prefix.empty() ? "s" : a.prefix;
    auto name = [&](uint64_t i) { return entryName(a.dir, pre, i); };
    report(
        "create", a, a.count, a.threads,
        runParallel(a.count, a.threads, [&](unsigned, uint64_t i) { createEntry(name(i), data); }));
    report("stat_first", a, a.count, a.threads,
           runParallel(a.count, a.threads, [&](unsigned, uint64_t i) { statEntry(name(i)); }));
    report("stat", a, a.count, a.threads,
           runParallel(a.count, a.threads, [&](unsigned, uint64_t i) { statEntry(name(i)); }));
    std::vector<std::vector<char>> bufs(a.threads, std::vector<char>(a.size));
    report("read", a, a.count, a.threads,
           runParallel(a.count, a.threads,
                       [&](unsigned t, uint64_t i) { readEntry(name(i), bufs[t]); }));
    report("unlink", a, a.count, a.threads,
           runParallel(a.count, a.threads, [&](unsigned, uint64_t i) {
               if (::unlink(name(i).c_str()) != 0) die("unlink " + name(i));
           }));
}

void cmdPopulate(const Args& a) {
    const std::vector<char> data = pattern(a.size);
    const std::string pre = a.prefix.empty() ? "e" : a.prefix;
    report("populate", a, a.count, a.threads,
           runParallel(a.count, a.threads,
                       [&](unsigned, uint64_t i) { createEntry(entryName(a.dir, pre, i), data); }));
}

void cmdCreate(const Args& a) {
    const std::vector<char> data = pattern(a.size);
    const std::string pre = a.prefix.empty() ? "c" : a.prefix;
    report("create", a, a.count, 1, runParallel(a.count, 1, [&](unsigned, uint64_t i) {
               createEntry(entryName(a.dir, pre, i), data);
           }));
}

// The first K of a random order of [0, n), from a fixed seed: the same names in every run, and a
// larger K extends a smaller one's list.
std::vector<uint64_t> sampleIndexes(uint64_t n, uint64_t k) {
    std::mt19937_64 rng(42);
    std::vector<uint64_t> out(n);
    std::iota(out.begin(), out.end(), 0);
    std::shuffle(out.begin(), out.end(), rng);
    out.resize(std::min(k, n));
    return out;
}

void cmdLookup(const Args& a) {
    const std::vector<uint64_t> idx = sampleIndexes(a.count, a.samples * (a.round + 1));
    if (idx.size() < a.samples * (a.round + 1)) {
        errno = EINVAL;
        die("lookup: round " + std::to_string(a.round) + " of " + std::to_string(a.samples) +
            " names needs more than " + std::to_string(a.count) + " entries");
    }
    std::vector<std::string> names;
    names.reserve(a.samples);
    for (uint64_t r = a.samples * a.round; r < idx.size(); ++r)
        names.push_back(entryName(a.dir, "e", idx[r]));
    report("lookup", a, names.size(), 1,
           runParallel(names.size(), 1, [&](unsigned, uint64_t i) { statEntry(names[i]); }));
}

void cmdMatch(const Args& a) {
    if (a.chain > a.count) usage();
    const std::string path = a.dir + "/.match";
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint64_t> pick(0, a.count - a.chain);
    std::vector<std::string> requests;
    for (uint64_t r = 0; r < a.requests; ++r) {
        std::string req;
        const uint64_t first = pick(rng);
        for (uint64_t i = first; i < first + a.chain; ++i) {
            req += 'e';
            req += std::to_string(i);
            req += '\n';
        }
        requests.push_back(std::move(req));
    }
    const std::string want = std::to_string(a.chain) + "\n";
    char answer[65536];
    report(
        "match", a, a.requests, 1, runParallel(a.requests, 1, [&](unsigned, uint64_t r) {
            const std::string& q = requests[r];
            if (::pwrite(fd, q.data(), q.size(), 0) != static_cast<ssize_t>(q.size()))
                die("write " + path);
            const ssize_t n = ::pread(fd, answer, sizeof answer - 1, 0);
            if (n < 0) die("read " + path);
            if (std::string_view(answer, static_cast<size_t>(n)).substr(0, want.size()) != want) {
                errno = EPROTO;
                die(".match answered \"" + std::string(answer, static_cast<size_t>(n)) +
                    "\" for a chain of " + std::to_string(a.chain) + " cached entries");
            }
        }));
    ::close(fd);
}

// cachestat(2) is newer than the distribution's headers: its ABI, from linux/mman.h.
struct CachestatRange {
    uint64_t off, len;
};
struct Cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
constexpr long kSysCachestat = 451;

int cmdCachestat(int argc, char** argv) {
    uint64_t pages = 0;
    for (int i = 2; i < argc; ++i) {
        const int fd = ::open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) die(std::string("open ") + argv[i]);
        CachestatRange range{0, 0};  // len 0: to the end of the file
        Cachestat cs{};
        if (::syscall(kSysCachestat, fd, &range, &cs, 0) != 0) die("cachestat");
        pages += cs.nr_cache;
        ::close(fd);
    }
    std::printf("{\"op\":\"cachestat\",\"bytes\":%llu}\n",
                static_cast<unsigned long long>(pages * ::sysconf(_SC_PAGESIZE)));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "cachestat") == 0) return cmdCachestat(argc, argv);
    const Args a = parseArgs(argc, argv);
    if (a.command == "small")
        cmdSmall(a);
    else if (a.command == "populate")
        cmdPopulate(a);
    else if (a.command == "create")
        cmdCreate(a);
    else if (a.command == "lookup")
        cmdLookup(a);
    else if (a.command == "match")
        cmdMatch(a);
    else
        usage();
    return 0;
}
