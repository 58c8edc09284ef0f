// kvc_data_bench: the data-path workloads of the performance suite (tests/bench/perf/run.sh, part
// "data"; docs/DATA_PATH.md). It stores and loads KV blocks through libkvcachefs (a batch per
// round trip, between the pool and a registered buffer) and, in the same repetition, moves the
// same bytes from and into the same buffer with tmpfs pwrite/pread and with kvcachefs's own FUSE
// path. Each measured sample prints one JSON object on stdout:
//   {"op":"store","fs":"kvc","size":2097152,"n":128,"threads":1,"bytes":268435456,
//    "seconds":0.05,"mb_per_s":5368.7,"ops_per_s":2560.0,"us_per_op":390.6,"rep":1}
// mb_per_s is 10^6 bytes per second of wall time (all threads together), us_per_op the wall
// time per block of one client thread.
//
// Usage: kvc_data_bench --pool DIR --tmpfs DIR [--total BYTES] [--sizes 2M,256K] [--batch N]
//                       [--chain N] [--chain-size BYTES] [--chain-loops N] [--small-count N]
//                       [--small-batch N] [--small-size BYTES] [--reps N]
//                       [--parts large,chain,small,parallel]
//   --pool DIR     a pool directory (or one below it) of a kvcachefs mount with a data socket
//   --tmpfs DIR    a tmpfs directory, the baseline
//   --total        bytes per sample of the large workloads [256M]
//   --sizes        block sizes of the large workloads [2M,256K]
//   --batch        blocks per library request batch [64]
//   --chain        blocks of the chain [64] of --chain-size bytes [2M], loaded --chain-loops
//                  times per sample [4]
//   --small-*      the small-block workload: blocks per sample [4096], per batch [256], bytes
//                  per block [4K]
//   --reps         repetitions; each one runs every workload's variants back to back [1]
//
// Workloads (op / fs):
//   large: store, load of --total bytes in blocks of each size; fs kvc (kvc_store/kvc_load in
//          batches), tmpfs (pwrite/pread of files laid out with fallocate, descriptors opened
//          before the clock starts), fuse (create+pwrite+close / open+pread+close through the
//          mount; the read is cold: the entries' pages are dropped from the page cache before
//          the clock starts), fuse-warm (the same read again, from the page cache); and
//          store tmpfs-rewrite: the tmpfs pwrite again, into pages written before.
//   chain: one kvc_load_chain of the chain (its leading cached run matched and loaded in one
//          round trip) vs memcpy of the same bytes from faulted memory into the buffer.
//   small: store, load of small blocks: kvc (batches) vs fuse (create+write+close,
//          open+read+close, cold as above).
//   parallel: store, load of 2 MiB (the first size) blocks by two threads, each with its own
//          client, buffer and names, --total bytes each (fs kvc-2c; mb_per_s is the aggregate).
// Entries are unlinked after each sample, so the pool holds at most about 2 x --total + the
// chain at any time.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "client/kvcachefs.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
    std::string pool;
    std::string tmpfs;
    uint64_t total = 256ull << 20;
    std::vector<uint64_t> sizes{2ull << 20, 256ull << 10};
    uint64_t batch = 64;
    uint64_t chain = 64;
    uint64_t chain_size = 2ull << 20;
    uint64_t chain_loops = 4;
    uint64_t small_count = 4096;
    uint64_t small_batch = 256;
    uint64_t small_size = 4096;
    uint64_t reps = 1;
    std::string parts = "large,chain,small,parallel";
    bool has(const char* part) const {
        return ("," + parts + ",").find(std::string(",") + part + ",") != std::string::npos;
    }
};

[[noreturn]] void die(const std::string& what, int err = errno) {
    std::fprintf(stderr, "kvc_data_bench: %s: %s\n", what.c_str(), std::strerror(err));
    std::exit(1);
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: kvc_data_bench --pool DIR --tmpfs DIR [--total BYTES] [--sizes 2M,256K] "
                 "[--batch N] [--chain N] [--chain-size BYTES] [--chain-loops N] "
                 "[--small-count N] [--small-batch N] [--small-size BYTES] [--reps N] "
                 "[--parts large,chain,small,parallel]\n");
    std::exit(2);
}

uint64_t parseBytes(const std::string& v) {
    char* end = nullptr;
    uint64_t n = std::strtoull(v.c_str(), &end, 10);
    switch (*end) {
        case 'K':
        case 'k':
            n <<= 10;
            break;
        case 'M':
        case 'm':
            n <<= 20;
            break;
        case 'G':
        case 'g':
            n <<= 30;
            break;
        case '\0':
            break;
        default:
            usage();
    }
    return n;
}

Args parseArgs(int argc, char** argv) {
    Args a;
    if (argc % 2 != 1) usage();
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const std::string v = argv[i + 1];
        if (k == "--pool") {
            a.pool = v;
        } else if (k == "--tmpfs") {
            a.tmpfs = v;
        } else if (k == "--total") {
            a.total = parseBytes(v);
        } else if (k == "--sizes") {
            a.sizes.clear();
            size_t pos = 0;
            while (pos <= v.size()) {
                const size_t comma = std::min(v.find(',', pos), v.size());
                a.sizes.push_back(parseBytes(v.substr(pos, comma - pos)));
                pos = comma + 1;
            }
        } else if (k == "--batch") {
            a.batch = parseBytes(v);
        } else if (k == "--chain") {
            a.chain = parseBytes(v);
        } else if (k == "--chain-size") {
            a.chain_size = parseBytes(v);
        } else if (k == "--chain-loops") {
            a.chain_loops = parseBytes(v);
        } else if (k == "--small-count") {
            a.small_count = parseBytes(v);
        } else if (k == "--small-batch") {
            a.small_batch = parseBytes(v);
        } else if (k == "--small-size") {
            a.small_size = parseBytes(v);
        } else if (k == "--reps") {
            a.reps = parseBytes(v);
        } else if (k == "--parts") {
            a.parts = v;
        } else {
            usage();
        }
    }
    if (a.pool.empty() || a.tmpfs.empty() || a.sizes.empty() || a.batch == 0 || a.chain == 0 ||
        a.chain_loops == 0 || a.small_count == 0 || a.small_batch == 0 || a.reps == 0)
        usage();
    for (uint64_t s : a.sizes)
        if (s == 0 || a.total < s) usage();
    if (a.small_size == 0 || a.chain_size == 0) usage();
    return a;
}

struct Sample {
    const char* op;
    const char* fs;
    uint64_t size;
    uint64_t n;  // blocks moved (all threads)
    unsigned threads;
    double seconds;
};

void report(const Sample& s, uint64_t rep) {
    const double bytes = static_cast<double>(s.n) * static_cast<double>(s.size);
    std::printf(
        "{\"op\":\"%s\",\"fs\":\"%s\",\"size\":%llu,\"n\":%llu,\"threads\":%u,\"bytes\":%.0f,"
        "\"seconds\":%.6f,\"mb_per_s\":%.1f,\"ops_per_s\":%.1f,\"us_per_op\":%.3f,\"rep\":%llu}\n",
        s.op, s.fs, static_cast<unsigned long long>(s.size), static_cast<unsigned long long>(s.n),
        s.threads, bytes, s.seconds, bytes / s.seconds / 1e6, s.n / s.seconds,
        s.seconds * 1e6 * s.threads / s.n, static_cast<unsigned long long>(rep));
    std::fflush(stdout);
}

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The bytes block i of a sample is stored from (and loaded into): blocks go round the buffer's
// `batch` slots.
char* slot(char* buf, uint64_t size, uint64_t batch, uint64_t i) {
    return buf + (i % batch) * size;
}

void fillPattern(char* p, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i += 4096) {
        const size_t n = std::min<size_t>(4096, len - i);
        std::memset(p + i, static_cast<int>('a' + (seed + i / 4096) % 26), n);
    }
}

// A client of the pool and its registered buffer.
struct Lib {
    kvc_client* c = nullptr;
    kvc_buffer* b = nullptr;
    char* data = nullptr;
    size_t size = 0;
    Lib(const std::string& dir, size_t bytes) : size(bytes) {
        if (int rc = kvc_open(dir.c_str(), 0, &c); rc != 0) die("kvc_open " + dir, -rc);
        if (!kvc_fast_path(c))
            die("no data socket on " + dir + " (the library fell back)", ENOTSUP);
        if (int rc = kvc_buffer_new(c, bytes, &b); rc != 0) die("kvc_buffer_new", -rc);
        data = static_cast<char*>(kvc_buffer_data(b));
        fillPattern(data, size, 0);  // faulted in here too, before any clock starts
        warmUp(dir);
    }
    // A registered buffer lives as long as its engine: the daemon's first touch of each page of
    // its mapping (which costs more than the copy on some VMs, even after MADV_POPULATE_WRITE)
    // is not a sample's. One store and one load of the whole buffer, then the entry goes.
    void warmUp(const std::string& dir) {
        const std::string name = "warmup" + std::to_string(::getpid()) + "_" +
                                 std::to_string(reinterpret_cast<uintptr_t>(this));
        kvc_store_item st{};
        st.name = name.c_str();
        st.length = size;
        if (int rc = kvc_store(c, b, &st, 1); rc != 0 || st.error)
            die("warm-up store of " + std::to_string(size) + " bytes", rc ? -rc : st.error);
        kvc_load_item ld{};
        ld.name = name.c_str();
        ld.capacity = size;
        if (int rc = kvc_load(c, b, &ld, 1); rc != 0 || ld.error)
            die("warm-up load", rc ? -rc : ld.error);
        if (::unlink((dir + "/" + name).c_str()) != 0) die("unlink " + dir + "/" + name);
    }
    ~Lib() {
        kvc_buffer_free(b);
        kvc_close(c);
    }
    Lib(const Lib&) = delete;
    Lib& operator=(const Lib&) = delete;
};

std::vector<std::string> names(const std::string& prefix, uint64_t size, uint64_t n) {
    std::vector<std::string> out;
    out.reserve(n);
    for (uint64_t i = 0; i < n; ++i)
        out.push_back(prefix + std::to_string(size) + "_" + std::to_string(i));
    return out;
}

// kvc_store of names[i] from slot i, `batch` items per call.
double libStore(Lib& lib, const std::vector<std::string>& nm, uint64_t size, uint64_t batch) {
    std::vector<kvc_store_item> items(batch);
    const auto t0 = Clock::now();
    for (uint64_t first = 0; first < nm.size(); first += batch) {
        const uint64_t k = std::min<uint64_t>(batch, nm.size() - first);
        for (uint64_t j = 0; j < k; ++j) {
            items[j] = kvc_store_item{};
            items[j].name = nm[first + j].c_str();
            items[j].offset = j * size;
            items[j].length = size;
        }
        if (int rc = kvc_store(lib.c, lib.b, items.data(), k); rc != 0) die("kvc_store", -rc);
        for (uint64_t j = 0; j < k; ++j)
            if (items[j].error) die("kvc_store of " + nm[first + j], items[j].error);
    }
    return since(t0);
}

double libLoad(Lib& lib, const std::vector<std::string>& nm, uint64_t size, uint64_t batch) {
    std::vector<kvc_load_item> items(batch);
    const auto t0 = Clock::now();
    for (uint64_t first = 0; first < nm.size(); first += batch) {
        const uint64_t k = std::min<uint64_t>(batch, nm.size() - first);
        for (uint64_t j = 0; j < k; ++j) {
            items[j] = kvc_load_item{};
            items[j].name = nm[first + j].c_str();
            items[j].offset = j * size;
            items[j].capacity = size;
        }
        if (int rc = kvc_load(lib.c, lib.b, items.data(), k); rc != 0) die("kvc_load", -rc);
        for (uint64_t j = 0; j < k; ++j)
            if (items[j].error || items[j].size != size)
                die("kvc_load of " + nm[first + j], items[j].error ? items[j].error : EIO);
    }
    return since(t0);
}

void writeAllAt(int fd, const char* p, size_t len, const std::string& what) {
    for (size_t done = 0; done < len;) {
        const ssize_t n = ::pwrite(fd, p + done, len - done, static_cast<off_t>(done));
        if (n <= 0) die("pwrite " + what);
        done += static_cast<size_t>(n);
    }
}

void readAllAt(int fd, char* p, size_t len, const std::string& what) {
    size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pread(fd, p + done, len - done, static_cast<off_t>(done));
        if (n < 0) die("pread " + what);
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    if (done != len) die("short read of " + what, EIO);
}

// create+pwrite+close of each path through the mount.
double fuseStore(char* buf, const std::vector<std::string>& paths, uint64_t size, uint64_t batch) {
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < paths.size(); ++i) {
        const int fd = ::open(paths[i].c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) die("create " + paths[i]);
        writeAllAt(fd, slot(buf, size, batch, i), size, paths[i]);
        if (::close(fd) != 0) die("close " + paths[i]);
    }
    return since(t0);
}

double fuseLoad(char* buf, const std::vector<std::string>& paths, uint64_t size, uint64_t batch) {
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < paths.size(); ++i) {
        const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open " + paths[i]);
        readAllAt(fd, slot(buf, size, batch, i), size, paths[i]);
        ::close(fd);
    }
    return since(t0);
}

// Drops the entries' pages from the page cache (outside the clock): the next read is cold.
void dropCache(const std::vector<std::string>& paths) {
    for (const std::string& p : paths) {
        const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) die("open " + p);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

void unlinkAll(const std::vector<std::string>& paths) {
    for (const std::string& p : paths)
        if (::unlink(p.c_str()) != 0) die("unlink " + p);
}

std::vector<std::string> under(const std::string& dir, const std::vector<std::string>& nm) {
    std::vector<std::string> out;
    out.reserve(nm.size());
    for (const std::string& n : nm) out.push_back(dir + "/" + n);
    return out;
}

// Checks block 0 of a load (the buffer was zeroed before it) against the stored pattern.
void checkLoaded(const char* buf, const char* want, uint64_t size, const char* what) {
    if (std::memcmp(buf, want, size) != 0) die(std::string(what) + " loaded other bytes", EIO);
}

// The tmpfs baseline: one file per block, laid out with fallocate, descriptors open.
struct TmpfsFiles {
    std::vector<int> fds;
    TmpfsFiles(const std::string& dir, uint64_t size, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
            const std::string p = dir + "/t" + std::to_string(size) + "_" + std::to_string(i);
            const int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
            if (fd < 0) die("create " + p);
            if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) die("fallocate " + p);
            fds.push_back(fd);
        }
    }
    ~TmpfsFiles() {
        for (int fd : fds) ::close(fd);
    }
    double store(char* buf, uint64_t size, uint64_t batch) const {
        const auto t0 = Clock::now();
        for (uint64_t i = 0; i < fds.size(); ++i)
            writeAllAt(fds[i], slot(buf, size, batch, i), size, "tmpfs");
        return since(t0);
    }
    double load(char* buf, uint64_t size, uint64_t batch) const {
        const auto t0 = Clock::now();
        for (uint64_t i = 0; i < fds.size(); ++i)
            readAllAt(fds[i], slot(buf, size, batch, i), size, "tmpfs");
        return since(t0);
    }
};

void removeTmpfs(const std::string& dir, uint64_t size, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i)
        ::unlink((dir + "/t" + std::to_string(size) + "_" + std::to_string(i)).c_str());
}

// --- workloads ------------------------------------------------------------------------------

void large(const Args& a, Lib& lib, const std::vector<char>& pattern, uint64_t size, uint64_t rep) {
    const uint64_t n = a.total / size;
    const uint64_t batch = std::min(a.batch, lib.size / size);
    const std::vector<std::string> kn = names("k", size, n);
    const std::vector<std::string> fpaths = under(a.pool, names("f", size, n));
    const std::vector<std::string> kpaths = under(a.pool, kn);
    TmpfsFiles tmp(a.tmpfs, size, n);
    char* buf = lib.data;
    const size_t span = batch * size;

    fillPattern(buf, span, 0);
    report({"store", "tmpfs", size, n, 1, tmp.store(buf, size, batch)}, rep);
    report({"store", "tmpfs-rewrite", size, n, 1, tmp.store(buf, size, batch)}, rep);
    report({"store", "kvc", size, n, 1, libStore(lib, kn, size, batch)}, rep);
    report({"store", "fuse", size, n, 1, fuseStore(buf, fpaths, size, batch)}, rep);

    std::memset(buf, 0, span);
    report({"load", "tmpfs", size, n, 1, tmp.load(buf, size, batch)}, rep);
    checkLoaded(buf, pattern.data(), size, "tmpfs");
    std::memset(buf, 0, span);
    report({"load", "kvc", size, n, 1, libLoad(lib, kn, size, batch)}, rep);
    checkLoaded(buf, pattern.data(), size, "kvc_load");
    dropCache(fpaths);
    std::memset(buf, 0, span);
    report({"load", "fuse", size, n, 1, fuseLoad(buf, fpaths, size, batch)}, rep);
    checkLoaded(buf, pattern.data(), size, "the FUSE read");
    std::memset(buf, 0, span);
    report({"load", "fuse-warm", size, n, 1, fuseLoad(buf, fpaths, size, batch)}, rep);

    unlinkAll(kpaths);
    unlinkAll(fpaths);
}

void chain(const Args& a, Lib& lib, uint64_t rep, char* src) {
    const uint64_t size = a.chain_size;
    const std::vector<std::string> nm = names("ch", size, a.chain);
    std::vector<kvc_store_item> st(a.chain);
    for (uint64_t i = 0; i < a.chain; ++i) {
        st[i].name = nm[i].c_str();
        st[i].offset = i * size;
        st[i].length = size;
        st[i].parent = i ? nm[i - 1].c_str() : nullptr;
    }
    fillPattern(lib.data, a.chain * size, 3);
    if (int rc = kvc_store(lib.c, lib.b, st.data(), st.size()); rc != 0) die("kvc_store", -rc);
    for (const kvc_store_item& it : st)
        if (it.error) die(std::string("kvc_store of ") + it.name, it.error);

    std::vector<kvc_load_item> items(a.chain);
    std::memset(lib.data, 0, a.chain * size);
    const auto t0 = Clock::now();
    for (uint64_t l = 0; l < a.chain_loops; ++l) {
        for (uint64_t i = 0; i < a.chain; ++i) {
            items[i] = kvc_load_item{};
            items[i].name = nm[i].c_str();
            items[i].offset = i * size;
            items[i].capacity = size;
        }
        size_t leading = 0;
        const long got = kvc_load_chain(lib.c, lib.b, items.data(), items.size(), &leading);
        if (got != static_cast<long>(a.chain))
            die("kvc_load_chain loaded " + std::to_string(got) + " of " + std::to_string(a.chain) +
                    " blocks",
                got < 0 ? static_cast<int>(-got) : EIO);
    }
    const double kvc_s = since(t0);
    if (std::memcmp(lib.data, src, a.chain * size) != 0)
        die("kvc_load_chain loaded other bytes", EIO);

    std::memset(lib.data, 0, a.chain * size);
    const auto t1 = Clock::now();
    for (uint64_t l = 0; l < a.chain_loops; ++l) std::memcpy(lib.data, src, a.chain * size);
    const double memcpy_s = since(t1);

    // Per sample: chain_loops loads of `chain` blocks.
    report({"chain", "kvc", size, a.chain * a.chain_loops, 1, kvc_s}, rep);
    report({"chain", "memcpy", size, a.chain * a.chain_loops, 1, memcpy_s}, rep);
    unlinkAll(under(a.pool, nm));
}

void small(const Args& a, Lib& lib, const std::vector<char>& pattern, uint64_t rep) {
    const uint64_t size = a.small_size, n = a.small_count;
    const uint64_t batch = std::min(a.small_batch, lib.size / size);
    const std::vector<std::string> kn = names("s", size, n);
    const std::vector<std::string> fpaths = under(a.pool, names("g", size, n));
    char* buf = lib.data;
    fillPattern(buf, batch * size, 0);
    report({"store", "kvc", size, n, 1, libStore(lib, kn, size, batch)}, rep);
    report({"store", "fuse", size, n, 1, fuseStore(buf, fpaths, size, batch)}, rep);
    std::memset(buf, 0, batch * size);
    report({"load", "kvc", size, n, 1, libLoad(lib, kn, size, batch)}, rep);
    checkLoaded(buf, pattern.data(), size, "kvc_load");
    dropCache(fpaths);
    std::memset(buf, 0, batch * size);
    report({"load", "fuse", size, n, 1, fuseLoad(buf, fpaths, size, batch)}, rep);
    checkLoaded(buf, pattern.data(), size, "the FUSE read");
    unlinkAll(under(a.pool, kn));
    unlinkAll(fpaths);
}

// Two clients (threads), each with its own client, buffer and names, --total bytes each.
void parallel(const Args& a, uint64_t rep) {
    constexpr unsigned kThreads = 2;
    const uint64_t size = a.sizes.front(), n = a.total / size;
    const uint64_t batch = std::min(a.batch, n);
    struct Times {
        Clock::time_point start[2], end[2];
    };
    Times t[kThreads];
    std::vector<std::string> nm[kThreads];
    for (unsigned i = 0; i < kThreads; ++i)
        nm[i] = names(std::string("p") + static_cast<char>('a' + i), size, n);
    std::barrier sync(kThreads);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            Lib lib(a.pool, batch * size);
            sync.arrive_and_wait();
            t[i].start[0] = Clock::now();
            libStore(lib, nm[i], size, batch);
            t[i].end[0] = Clock::now();
            std::memset(lib.data, 0, batch * size);
            sync.arrive_and_wait();
            t[i].start[1] = Clock::now();
            libLoad(lib, nm[i], size, batch);
            t[i].end[1] = Clock::now();
        });
    }
    for (auto& th : threads) th.join();
    const char* ops[] = {"store", "load"};
    for (int phase = 0; phase < 2; ++phase) {
        Clock::time_point s = t[0].start[phase], e = t[0].end[phase];
        for (unsigned i = 1; i < kThreads; ++i) {
            s = std::min(s, t[i].start[phase]);
            e = std::max(e, t[i].end[phase]);
        }
        report({ops[phase], "kvc-2c", size, n * kThreads, kThreads,
                std::chrono::duration<double>(e - s).count()},
               rep);
    }
    for (unsigned i = 0; i < kThreads; ++i) unlinkAll(under(a.pool, nm[i]));
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parseArgs(argc, argv);
    uint64_t buffer = a.small_batch * a.small_size;
    for (uint64_t s : a.sizes) buffer = std::max(buffer, std::min(a.batch, a.total / s) * s);
    if (a.has("chain")) buffer = std::max(buffer, a.chain * a.chain_size);
    Lib lib(a.pool, buffer);

    // What block 0 holds after a load (slot 0 of the pattern), for the checks.
    std::vector<char> pattern(
        std::max(*std::max_element(a.sizes.begin(), a.sizes.end()), a.small_size));
    fillPattern(pattern.data(), pattern.size(), 0);
    // The chain's memcpy source: faulted memory holding what the chain stores.
    char* src = nullptr;
    if (a.has("chain")) {
        void* p = mmap(nullptr, a.chain * a.chain_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        src = static_cast<char*>(p);
        fillPattern(src, a.chain * a.chain_size, 3);
    }
    for (uint64_t rep = 1; rep <= a.reps; ++rep) {
        if (a.has("large"))
            for (uint64_t size : a.sizes) large(a, lib, pattern, size, rep);
        if (a.has("chain")) chain(a, lib, rep, src);
        if (a.has("small")) small(a, lib, pattern, rep);
        if (a.has("parallel")) parallel(a, rep);
    }
    for (uint64_t size : a.sizes) removeTmpfs(a.tmpfs, size, a.total / size);
    if (src) munmap(src, a.chain * a.chain_size);
    return 0;
}
