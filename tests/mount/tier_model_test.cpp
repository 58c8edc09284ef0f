// Model-checking stress of the lower tiers (issue 19): processes write, rewrite, rename over,
// truncate (by path and by descriptor) and unlink a fixed set of names through real mounts with
// a disk tier and a real Redis Cluster, while others read them, write `.match` chains and
// `.evict` percentages, and the test pauses cluster nodes (CLIENT PAUSE) and, in one variant,
// kills a master so that its replica takes over. Every read is checked against a model of what
// was committed.
//
// The model lives in an anonymous MAP_SHARED region made before fork. A writer takes a name's
// lock (one operation per name at a time, across processes and mounts), gives the operation the
// name's next version number, publishes what the name's bytes will be (a write's own bytes, or a
// prefix of the write whose bytes a truncate shortens), runs the operation, and only once it
// returned marks the version committed for its mount. Every version's start and end are ticks of
// one shared clock. A reader notes the clock and the newest version its mount committed (c)
// before it opens the name, reads it whole, and notes the clock again. Every entry's bytes say
// which name, version and mount wrote them (a header with a checksum; every body word follows
// from those), so the reader knows what it got:
// - a miss (ENOENT, ESTALE): always allowed: lower tiers are a cache;
// - a version older than c (after an unlink, c is the tombstone): a violation ("older");
// - another name's bytes: "foreign"; a version that was never started or whose operation
//   failed: "phantom";
// - bytes that are not one version whole (or one of its committed truncations): "torn", unless
//   an in-place write or truncate of that name on that mount overlapped the read (POSIX lets a
//   reader see those half done).
// With one mount that is "the newest committed version or newer, or a miss". With two mounts
// sharing a remote_namespace each mount only promises its own writes (each has its own shm), so
// c is the newest version committed through the reader's mount; writers do not truncate there
// (a truncate shortens whatever version the writer's mount holds, which the model cannot know).
//
// KVC_MODEL_SECONDS (default 12) sets how long each variant runs.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <thread>

#include "tests/mount/mount_fixture.h"
#include "tests/mount/tier_mount.h"
#include "tests/tiers/redis_fixture.h"

namespace kvctest {
namespace {

constexpr int kNames = 24;
constexpr int kMounts = 2;
constexpr uint64_t kMaxVersions = 1 << 14;  // per name; a writer leaves a full name alone
constexpr size_t kHeader = 48;
constexpr size_t kMinLen = 4 << 10;
constexpr size_t kMaxLen = 32 << 10;
constexpr char kMagic[4] = {'K', 'V', 'M', '1'};

int modelSeconds() {
    const char* v = std::getenv("KVC_MODEL_SECONDS");
    const int s = v ? std::atoi(v) : 12;
    return s > 0 ? s : 12;
}

std::string entryName(uint32_t i) {
    char b[16];
    std::snprintf(b, sizeof b, "m%02u", i);
    return b;
}

uint64_t mix(uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fnv(const char* p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
    return h;
}

// --- self-describing contents ------------------------------------------------------------------
// Header (48 bytes): magic, u32 length, u32 name index, u32 mount, u64 version, the name (16
// bytes, zero padded), u64 FNV-1a of the 40 bytes before it. Body: word k is
// mix(seed + k * golden), seed from name, version and mount; the last word may be cut.

struct Identity {
    uint32_t length = 0, name = 0, mount = 0;
    uint64_t version = 0;
};

uint64_t bodySeed(const Identity& id) {
    return mix((uint64_t{id.name} << 40) ^ (id.version << 4) ^ id.mount ^ 0x5EEDull);
}

std::string makeContent(const Identity& id) {
    std::string s(id.length, '\0');
    std::memcpy(s.data(), kMagic, 4);
    std::memcpy(s.data() + 4, &id.length, 4);
    std::memcpy(s.data() + 8, &id.name, 4);
    std::memcpy(s.data() + 12, &id.mount, 4);
    std::memcpy(s.data() + 16, &id.version, 8);
    const std::string n = entryName(id.name);
    std::memcpy(s.data() + 24, n.data(), std::min<size_t>(n.size(), 16));
    const uint64_t check = fnv(s.data(), 40);
    std::memcpy(s.data() + 40, &check, 8);
    const uint64_t seed = bodySeed(id);
    for (size_t off = kHeader; off < s.size(); off += 8) {
        const uint64_t w = mix(seed + (off / 8) * 0x9E3779B97F4A7C15ull);
        std::memcpy(s.data() + off, &w, std::min<size_t>(8, s.size() - off));
    }
    return s;
}

// What a read got, judged by its bytes alone.
struct Decoded {
    enum Kind { kWhole, kPrefix, kEmpty, kBadHeader, kForeign, kMixed } kind = kEmpty;
    Identity id;
};

Decoded decode(const char* p, size_t n, uint32_t expect_name) {
    Decoded d;
    if (n == 0) return d;
    if (n < kHeader || std::memcmp(p, kMagic, 4) != 0) {
        d.kind = Decoded::kBadHeader;
        return d;
    }
    uint64_t check = 0;
    std::memcpy(&check, p + 40, 8);
    if (check != fnv(p, 40)) {
        d.kind = Decoded::kBadHeader;
        return d;
    }
    std::memcpy(&d.id.length, p + 4, 4);
    std::memcpy(&d.id.name, p + 8, 4);
    std::memcpy(&d.id.mount, p + 12, 4);
    std::memcpy(&d.id.version, p + 16, 8);
    if (d.id.name != expect_name) {
        d.kind = Decoded::kForeign;
        return d;
    }
    if (n > d.id.length || d.id.length > kMaxLen) {
        d.kind = Decoded::kMixed;
        return d;
    }
    const std::string want = makeContent(d.id);
    d.kind = std::memcmp(want.data(), p, n) != 0 ? Decoded::kMixed
             : n == d.id.length                  ? Decoded::kWhole
                                                 : Decoded::kPrefix;
    return d;
}

// --- the model, in memory shared by every process ----------------------------------------------

enum OpKind : uint32_t { kWrite = 1, kRenameOver, kTruncPath, kTruncFd, kUnlink };
enum OpState : uint32_t { kFree = 0, kStarted, kCommitted, kAborted };
const char* opName(uint32_t k) {
    static const char* names[] = {"?", "write", "rename-over", "truncate", "ftruncate", "unlink"};
    return k <= kUnlink ? names[k] : "?";
}

// One operation on a name. The plain fields are written before `state` is stored (release) and
// never change afterwards.
struct Version {
    std::atomic<uint32_t> state;
    uint32_t kind;
    uint32_t mount;
    uint32_t length;  // the name's length after the operation (0 for an unlink)
    uint64_t base;    // the write whose bytes the name holds after it (0 for an unlink)
    std::atomic<uint64_t> start;
    std::atomic<uint64_t> end;  // 0 while it runs
};

struct NameLog {
    std::atomic<uint32_t> lock;  // 0, or the writer holding the name + 1
    std::atomic<uint64_t> next;  // versions 1..next have been started
    // Per mount, the newest version whose operation had returned (0: none).
    std::atomic<uint64_t> committed[kMounts];
    // The name's bytes after the last committed operation (touched under `lock` only).
    bool exists;
    uint64_t base;
    uint32_t length;
    Version v[kMaxVersions + 1];
};

struct Shared {
    std::atomic<uint64_t> clock;
    std::atomic<uint32_t> stop;
    // Whether writers truncate. Not with two mounts: a truncate shortens what the writer's own
    // mount holds, which may be an older version than the newest one the other mount wrote, so
    // the model cannot name the bytes it leaves.
    bool truncates;
    NameLog names[kNames];
};

// What one child counted, sent to the test through a pipe when it ends.
struct Counts {
    uint64_t reads = 0, hits = 0, misses = 0, stale = 0, newer = 0, in_flight = 0;
    uint64_t older = 0, foreign = 0, torn = 0, phantom = 0;
    uint64_t older_than_other_mount = 0;  // two mounts: allowed, reported
    uint64_t ops[kUnlink + 1] = {}, aborted = 0;
    uint64_t matches = 0, match_errors = 0, evicts = 0, evict_errors = 0;

    uint64_t violations() const { return older + foreign + torn + phantom; }
    void add(const Counts& o) {
        const uint64_t* src = reinterpret_cast<const uint64_t*>(&o);
        uint64_t* dst = reinterpret_cast<uint64_t*>(this);
        for (size_t i = 0; i < sizeof(Counts) / sizeof(uint64_t); ++i) dst[i] += src[i];
    }
};

// The verdict on one read of `name` through `mount`: `c` is the newest version that mount had
// committed when the read began, [s, e] the clock around the read. Adds to `counts`; returns a
// description of a violation, or "".
std::string judge(Shared& sh, uint32_t name, uint32_t mount, uint64_t c, uint64_t s, uint64_t e,
                  const char* data, size_t n, Counts& counts) {
    NameLog& log = sh.names[name];
    const uint64_t started = log.next.load(std::memory_order_acquire);
    const Decoded d = decode(data, n, name);
    char what[320];
    auto describe = [&](const char* verdict, uint64_t got) {
        std::snprintf(what, sizeof what,
                      "%s: read of %s on mount %u got %zu bytes (header: name %u, version %llu "
                      "of mount %u, %u bytes) = version %llu; committed when the read began: "
                      "%llu (%s); started by its end: %llu",
                      verdict, entryName(name).c_str(), mount, n, d.id.name,
                      (unsigned long long)d.id.version, d.id.mount, d.id.length,
                      (unsigned long long)got, (unsigned long long)c,
                      c ? opName(log.v[c].kind) : "none", (unsigned long long)started);
        // The name's history from the version read (or the one its header names) on.
        std::string out = std::string(what) + "; history:";
        const uint64_t from = got ? got : d.id.version;
        for (uint64_t v = from ? from : 1; v <= started && v < from + 12; ++v) {
            const Version& r = log.v[v];
            const uint32_t state = r.state.load(std::memory_order_acquire);
            std::snprintf(what, sizeof what, " %llu=%s(%s,len %u,mount %u)", (unsigned long long)v,
                          opName(r.kind),
                          state == kCommitted ? "done"
                          : state == kAborted ? "no entry"
                                              : "running",
                          r.length, r.mount);
            out += what;
        }
        return out;
    };
    if (d.kind == Decoded::kForeign) {
        counts.foreign++;
        return describe("foreign", 0);
    }
    // Which version the bytes are: a write read whole, or a truncate that left this prefix.
    uint64_t got = 0;
    if (d.kind == Decoded::kWhole || d.kind == Decoded::kPrefix) {
        if (d.id.version == 0 || d.id.version > started) {
            counts.phantom++;
            return describe("phantom (never started)", d.id.version);
        }
        // A truncate that failed (the name was missing) may have chosen the same length as a
        // later one that worked: the version that was made wins.
        uint64_t failed = 0;
        for (uint64_t v = d.id.version; v <= started && got == 0; ++v) {
            const Version& r = log.v[v];
            const uint32_t state = r.state.load(std::memory_order_acquire);
            if (state == kFree || r.kind == kUnlink || r.base != d.id.version || r.length != n)
                continue;
            if (state == kAborted)
                failed = failed ? failed : v;
            else
                got = v;
        }
        if (got == 0) got = failed;
    }
    if (got == 0) {
        // Not one version whole: allowed only while an in-place write or a truncate of this
        // name through this mount overlapped the read.
        for (uint64_t v = started; v >= 1; --v) {
            const Version& r = log.v[v];
            if (r.state.load(std::memory_order_acquire) == kFree) continue;
            const uint64_t end = r.end.load(std::memory_order_acquire);
            if (end != 0 && end < s) break;  // every older one ended before the read
            if (r.mount == mount && r.kind != kRenameOver && r.kind != kUnlink &&
                r.start.load(std::memory_order_acquire) < e) {
                counts.in_flight++;
                return {};
            }
        }
        counts.torn++;
        return describe(d.kind == Decoded::kEmpty       ? "torn (empty)"
                        : d.kind == Decoded::kBadHeader ? "torn (bad header)"
                        : d.kind == Decoded::kMixed     ? "torn (mixed bytes)"
                                                        : "torn (no such truncation)",
                        0);
    }
    if (log.v[got].state.load(std::memory_order_acquire) == kAborted) {
        counts.phantom++;
        return describe("phantom (its operation failed)", got);
    }
    if (got < c) {
        counts.older++;
        return describe("older", got);
    }
    counts.newer += got > c;
    for (uint32_t m = 0; m < kMounts; ++m) {
        if (m != mount && got < log.committed[m].load(std::memory_order_acquire)) {
            counts.older_than_other_mount++;
            break;
        }
    }
    return {};
}

// --- the processes -----------------------------------------------------------------------------

struct Plan {
    std::vector<std::string> pools;  // per mount, the pool's directory
    int writers_per_mount = 2;
    int readers_per_mount = 2;
};

class ModelChild {
  public:
    ModelChild(Shared& sh, std::string pool, uint32_t mount, uint32_t index)
        : sh_(sh),
          pool_(std::move(pool)),
          mount_(mount),
          index_(index),
          rng_(static_cast<uint32_t>(getpid()) * 7919u + index) {}

    [[noreturn]] void writer(int report_fd) {
        while (!sh_.stop.load()) {
            const uint32_t n = rng_() % kNames;
            NameLog& log = sh_.names[n];
            uint32_t free = 0;
            if (!log.lock.compare_exchange_strong(free, index_ + 1)) continue;
            if (log.next.load() < kMaxVersions) writeOne(n, log);
            log.lock.store(0);
        }
        finish(report_fd);
    }

    [[noreturn]] void reader(int report_fd) {
        std::vector<char> buf(kMaxLen + 8192);
        while (!sh_.stop.load()) {
            if (rng_() % 8 == 0) {
                match();
                continue;
            }
            const uint32_t n = rng_() % kNames;
            const uint64_t s = tick();
            const uint64_t c = sh_.names[n].committed[mount_].load(std::memory_order_acquire);
            const int fd = open(path(entryName(n)).c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno != ENOENT && errno != ESTALE) failErrno("open " + entryName(n), errno);
                counts_.reads++;
                counts_.misses++;
                counts_.stale += errno == ESTALE;
                continue;
            }
            // Whole, in reads of a random size.
            const size_t chunk = size_t{4096} << (rng_() % 5);
            size_t got = 0;
            for (;;) {
                const ssize_t r = read(fd, buf.data() + got, std::min(chunk, buf.size() - got));
                if (r < 0) failErrno("read " + entryName(n), errno);
                got += static_cast<size_t>(r);
                if (r == 0 || got == buf.size()) break;
            }
            close(fd);
            const uint64_t e = tick();
            counts_.reads++;
            counts_.hits++;
            const std::string bad = judge(sh_, n, mount_, c, s, e, buf.data(), got, counts_);
            if (!bad.empty() && reported_++ < 5)
                std::fprintf(stderr, "[model] VIOLATION %s\n", bad.c_str());
        }
        finish(report_fd);
    }

    [[noreturn]] void evictor(int report_fd) {
        static const char* amounts[] = {"10", "25", "50", "100", "64K", "5%"};
        while (!sh_.stop.load()) {
            sleepMs(20 + static_cast<int>(rng_() % 150));
            const auto [err, answer] = controlWrite(path(".evict"), amounts[rng_() % 6]);
            counts_.evicts++;
            counts_.evict_errors += err != 0;
        }
        finish(report_fd);
    }

  private:
    [[noreturn]] void finish(int report_fd) {
        (void)!write(report_fd, &counts_, sizeof counts_);
        _exit(0);
    }
    [[noreturn]] void failErrno(const std::string& what, int err) {
        std::fprintf(stderr, "[model] child %u (pid %d, mount %u): %s: %s\n", index_, getpid(),
                     mount_, what.c_str(), errName(err).c_str());
        _exit(1);
    }
    std::string path(const std::string& name) const { return pool_ + "/" + name; }
    uint64_t tick() { return sh_.clock.fetch_add(1) + 1; }

    // A chain of 1 to 6 names: promotes the missing ones, as an inference engine would.
    void match() {
        std::string chain;
        for (uint32_t i = 0, k = 1 + rng_() % 6; i < k; ++i)
            chain += entryName(rng_() % kNames) + "\n";
        counts_.matches++;
        counts_.match_errors += controlWrite(path(".match"), chain).first != 0;
    }

    // One operation on name `n`, whose lock this process holds.
    void writeOne(uint32_t n, NameLog& log) {
        uint32_t kind = kWrite + rng_() % 5;
        if ((kind == kTruncPath || kind == kTruncFd) &&
            (!sh_.truncates || !log.exists || log.length <= kHeader + 1))
            kind = kind == kTruncPath ? kWrite : kRenameOver;
        const uint64_t v = log.next.load() + 1;
        Version& r = log.v[v];
        r.kind = kind;
        r.mount = mount_;
        if (kind == kWrite || kind == kRenameOver) {
            r.base = v;
            r.length = static_cast<uint32_t>(kMinLen + rng_() % (kMaxLen - kMinLen + 1));
        } else if (kind == kUnlink) {
            r.base = 0;
            r.length = 0;
        } else {
            r.base = log.base;
            r.length = static_cast<uint32_t>(kHeader + rng_() % (log.length - kHeader));
        }
        r.end.store(0);
        r.start.store(tick());
        r.state.store(kStarted, std::memory_order_release);
        log.next.store(v, std::memory_order_release);

        const std::string name = entryName(n);
        const bool done = run(kind, name, Identity{r.length, n, mount_, v});
        r.end.store(tick(), std::memory_order_release);
        counts_.ops[kind]++;
        if (!done) {
            r.state.store(kAborted, std::memory_order_release);
            counts_.aborted++;
            return;
        }
        r.state.store(kCommitted, std::memory_order_release);
        log.committed[mount_].store(v, std::memory_order_release);
        log.exists = kind != kUnlink;
        log.base = r.base;
        log.length = r.length;
    }

    // Runs one operation: true once it returned success; false if the name (or the temporary
    // entry) was not there (evicted and not found below: a miss), which changes nothing.
    bool run(uint32_t kind, const std::string& name, const Identity& id) {
        const std::string p = path(name);
        switch (kind) {
            case kWrite:
                return writeContent(p, id);
            case kRenameOver: {
                const std::string tmp = path("t." + name + "." + std::to_string(index_));
                if (!writeContent(tmp, id)) return false;
                if (rename(tmp.c_str(), p.c_str()) == 0) return true;
                if (errno != ENOENT && errno != ESTALE) failErrno("rename over " + name, errno);
                return false;
            }
            case kTruncPath:
                if (truncate(p.c_str(), id.length) == 0) return true;
                if (errno != ENOENT && errno != ESTALE) failErrno("truncate " + name, errno);
                return false;
            case kTruncFd: {
                const int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
                if (fd < 0) {
                    if (errno != ENOENT && errno != ESTALE) failErrno("open " + name, errno);
                    return false;
                }
                if (ftruncate(fd, id.length) != 0) failErrno("ftruncate " + name, errno);
                if (close(fd) != 0) failErrno("close " + name, errno);
                return true;
            }
            case kUnlink:
                if (unlink(p.c_str()) == 0) return true;
                if (errno != ENOENT && errno != ESTALE) failErrno("unlink " + name, errno);
                return false;
        }
        return false;
    }

    // Writes the version's bytes in place (O_TRUNC), in pieces of random sizes.
    bool writeContent(const std::string& p, const Identity& id) {
        const std::string data = makeContent(id);
        int fd = -1;
        for (int tries = 0; fd < 0 && tries < 3; ++tries) {
            fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 && errno != ESTALE) failErrno("create " + p, errno);
        }
        if (fd < 0) return false;
        for (size_t done = 0; done < data.size();) {
            const size_t piece = std::min<size_t>(data.size() - done, 512 + rng_() % (12 << 10));
            const ssize_t w = write(fd, data.data() + done, piece);
            if (w < 0) failErrno("write " + p, errno);
            done += static_cast<size_t>(w);
        }
        if (close(fd) != 0) failErrno("close " + p, errno);
        return true;
    }

    Shared& sh_;
    std::string pool_;
    uint32_t mount_;
    uint32_t index_;
    std::mt19937 rng_;
    Counts counts_;
    int reported_ = 0;
};

// The shared model, unmapped at the end.
class SharedModel {
  public:
    SharedModel() {
        void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                       -1, 0);
        if (p != MAP_FAILED) sh_ = new (p) Shared();
    }
    ~SharedModel() {
        if (sh_) munmap(sh_, sizeof(Shared));
    }
    SharedModel(const SharedModel&) = delete;
    SharedModel& operator=(const SharedModel&) = delete;
    Shared* get() const { return sh_; }

  private:
    Shared* sh_ = nullptr;
};

// Forks the writers, readers and an evictor for every mount; takes them down (by pid) at the end.
class Children {
  public:
    Children(Shared& sh, const Plan& plan) {
        uint32_t index = 0;
        for (uint32_t m = 0; m < plan.pools.size(); ++m) {
            for (int i = 0; i < plan.writers_per_mount; ++i)
                spawn(sh, plan.pools[m], m, index++, &ModelChild::writer);
            for (int i = 0; i < plan.readers_per_mount; ++i)
                spawn(sh, plan.pools[m], m, index++, &ModelChild::reader);
            spawn(sh, plan.pools[m], m, index++, &ModelChild::evictor);
        }
    }
    ~Children() {
        for (Child& c : children_) c.end();
    }
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;

    // Waits (60 s at most) for every child, which the stop flag ends; adds up their counts.
    // Failures (a child stuck, killed or failed) go into `errors`.
    Counts collect(std::string& errors) {
        Counts total;
        for (Child& c : children_) {
            int status = 0;
            if (!eventually([&] { return waitpid(c.pid, &status, WNOHANG) == c.pid; }, 60000)) {
                errors += "child " + std::to_string(c.pid) + " stuck 60 s after the stop\n";
                continue;
            }
            c.pid = -1;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                errors += "child failed, status " + std::to_string(status) + "\n";
                continue;
            }
            Counts counts;
            if (read(c.report, &counts, sizeof counts) == static_cast<ssize_t>(sizeof counts))
                total.add(counts);
        }
        return total;
    }

  private:
    struct Child {
        pid_t pid = -1;
        int report = -1;
        // A child still running is killed (by its pid) and reaped.
        void end() {
            if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
            pid = -1;
            if (report >= 0) close(report);
            report = -1;
        }
    };
    void spawn(Shared& sh, const std::string& pool, uint32_t mount, uint32_t index,
               void (ModelChild::*role)(int)) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return;
        const pid_t parent = getpid();
        const pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
            close(fds[0]);
            ModelChild child(sh, pool, mount, index);
            (child.*role)(fds[1]);
        }
        close(fds[1]);
        children_.push_back({pid, fds[0]});
    }
    std::vector<Child> children_;
};

class TierModelTest : public ::testing::Test {
  protected:
    // Starts a cluster of 3 masters with `replicas` each, and `mounts` mounts sharing the
    // namespace "model"; every mount's extra options are `options`.
    void start(int replicas, int mounts, const std::string& options) {
        cluster_ = std::make_unique<RedisClusterFixture>(3, replicas);
        ASSERT_TRUE(cluster_->ok()) << cluster_->error();
        for (int m = 0; m < mounts; ++m) {
            disks_.push_back(std::make_unique<TempDir>());
            std::string o = options;
            if (o.find("disk_size") != std::string::npos) o += ",disk_dir=" + disks_.back()->path();
            mounts_.push_back(std::make_unique<TierMount>(
                o + ",remote=" + plusJoined(cluster_->seeds()) + ",remote_namespace=model"));
            ASSERT_TRUE(mounts_.back()->start());
        }
        ASSERT_NE(nullptr, model_.get()) << "mmap of the shared model failed";
    }

    // Runs the children for KVC_MODEL_SECONDS while pausing cluster nodes now and then (and,
    // with `failover`, killing a master a third of the way in), then reads every name once more
    // on every mount once everything settled, and reports.
    void run(const char* label, int writers, int readers, bool failover) {
        Shared& sh = *model_.get();
        sh.truncates = mounts_.size() == 1;
        Plan plan;
        for (const auto& m : mounts_) plan.pools.push_back(m->mount.path("p"));
        plan.writers_per_mount = writers;
        plan.readers_per_mount = readers;
        const int seconds = modelSeconds();
        const auto t0 = std::chrono::steady_clock::now();
        const auto deadline = t0 + std::chrono::seconds(seconds);
        std::mt19937 rng(static_cast<uint32_t>(getpid()));
        int pauses = 0, failovers = 0;
        std::string errors;
        Counts total;
        {
            Children children(sh, plan);
            bool failed_over = !failover;
            while (std::chrono::steady_clock::now() < deadline) {
                sleepMs(300 + static_cast<int>(rng() % 900));
                if (!failed_over &&
                    std::chrono::steady_clock::now() > t0 + std::chrono::seconds(seconds / 3)) {
                    failed_over = true;
                    const auto masters = cluster_->masters();
                    if (masters.empty()) continue;
                    const size_t victim = masters[rng() % masters.size()];
                    cluster_->killNode(victim);
                    EXPECT_GE(cluster_->waitForFailover(victim), 0) << cluster_->logs();
                    failovers++;
                    continue;
                }
                const auto masters = cluster_->masters();
                if (masters.empty()) continue;
                const size_t node = masters[rng() % masters.size()];
                const std::string ms = std::to_string(150 + rng() % 1200);
                cluster_->cli(node, {"CLIENT", "PAUSE", ms, rng() % 2 ? "ALL" : "WRITE"});
                pauses++;
            }
            sh.stop.store(1);
            total = children.collect(errors);
        }
        EXPECT_EQ("", errors);
        const double run_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        // Everything settled (pauses end by themselves): every name is read once more on
        // every mount, with nothing in flight.
        Counts final_reads;
        for (uint32_t m = 0; m < mounts_.size(); ++m) {
            EXPECT_TRUE(mounts_[m]->settled()) << "mount " << m << " did not settle";
            for (uint32_t n = 0; n < kNames; ++n) {
                const uint64_t c = sh.names[n].committed[m].load();
                const uint64_t s = sh.clock.fetch_add(1) + 1;
                int err = 0;
                const auto data = readFile(mounts_[m]->path(entryName(n)), &err);
                final_reads.reads++;
                if (!data) {
                    EXPECT_TRUE(err == ENOENT || err == ESTALE) << errName(err);
                    final_reads.misses++;
                    continue;
                }
                final_reads.hits++;
                const std::string bad = judge(sh, n, m, c, s, sh.clock.fetch_add(1) + 1,
                                              data->data(), data->size(), final_reads);
                EXPECT_EQ("", bad) << "after the run";
            }
        }
        total.add(final_reads);

        uint64_t versions = 0;
        for (const NameLog& log : sh.names) versions += log.next.load();
        std::printf(
            "[model] %s: %.1f s, %d pauses, %d failovers; %llu operations "
            "(write %llu, rename-over %llu, truncate %llu, ftruncate %llu, unlink %llu; "
            "%llu found no entry); .match %llu (%llu failed), .evict %llu (%llu failed)\n",
            label, run_s, pauses, failovers, (unsigned long long)versions,
            (unsigned long long)total.ops[kWrite], (unsigned long long)total.ops[kRenameOver],
            (unsigned long long)total.ops[kTruncPath], (unsigned long long)total.ops[kTruncFd],
            (unsigned long long)total.ops[kUnlink], (unsigned long long)total.aborted,
            (unsigned long long)total.matches, (unsigned long long)total.match_errors,
            (unsigned long long)total.evicts, (unsigned long long)total.evict_errors);
        std::printf(
            "[model] %s: reads=%llu hits=%llu misses=%llu (estale=%llu) newer=%llu "
            "in_flight=%llu older_than_other_mount=%llu | older=%llu foreign=%llu "
            "torn=%llu phantom=%llu violations=%llu (final pass: %llu reads, %llu misses)\n",
            label, (unsigned long long)total.reads, (unsigned long long)total.hits,
            (unsigned long long)total.misses, (unsigned long long)total.stale,
            (unsigned long long)total.newer, (unsigned long long)total.in_flight,
            (unsigned long long)total.older_than_other_mount, (unsigned long long)total.older,
            (unsigned long long)total.foreign, (unsigned long long)total.torn,
            (unsigned long long)total.phantom, (unsigned long long)total.violations(),
            (unsigned long long)final_reads.reads, (unsigned long long)final_reads.misses);
        uint64_t remote_promotions = 0;
        for (uint32_t m = 0; m < mounts_.size(); ++m) {
            const auto st = mounts_[m]->stats();
            if (st.count("tier.remote.promotions"))
                remote_promotions +=
                    std::strtoull(st.at("tier.remote.promotions").c_str(), nullptr, 10);
            auto get = [&](const char* k) {
                const auto it = st.find(k);
                return it == st.end() ? std::string("-") : it->second;
            };
            std::printf(
                "[model] %s: mount %u: evictions=%s tier.queue.hits=%s "
                "tier.disk.promotions=%s tier.remote.promotions=%s "
                "tier.remote.demotions=%s tier.remote.errors=%s "
                "tier.remote.erase_retries=%s tier.remote.dropped_demotions=%s\n",
                label, m, get("evictions").c_str(), get("tier.queue.hits").c_str(),
                get("tier.disk.promotions").c_str(), get("tier.remote.promotions").c_str(),
                get("tier.remote.demotions").c_str(), get("tier.remote.errors").c_str(),
                get("tier.remote.erase_retries").c_str(),
                get("tier.remote.dropped_demotions").c_str());
        }
        std::fflush(stdout);

        EXPECT_EQ(0u, total.violations());
        // The run did what it says: it wrote, read and went through the tiers.
        EXPECT_GT(total.hits, 100u);
        EXPECT_GT(versions, 100u);
        EXPECT_GT(remote_promotions, 0u) << "nothing came back from the cluster";
        if (failover) {
            EXPECT_EQ(1, failovers);
        }
    }

    // Declared first, destroyed last: the mounts go before the cluster.
    std::unique_ptr<RedisClusterFixture> cluster_;
    std::vector<std::unique_ptr<TempDir>> disks_;
    std::vector<std::unique_ptr<TierMount>> mounts_;
    SharedModel model_;
};

// A small pool over a smaller disk tier over the cluster, write-through: every name lives in
// shm, on disk, in the cluster, or in several, and moves between them all the time. The 24
// names hold about 430 KiB; with 256 KiB of shm and 128 KiB of disk a few hundred reads per run
// come from the cluster (with a disk as large as the pool about ten did, and once none did).
TEST_F(TierModelTest, OneMountReadsTheNewestCommittedVersionOrAMiss) {
    start(0, 1, "size=256K,block_size=4K,disk_size=128K,write_through,remote_timeout_ms=200");
    run("one mount", 3, 3, false);
}

// Remote tier only, demotion by eviction only, and a master killed: its replica takes over.
TEST_F(TierModelTest, OneMountThroughAFailover) {
    start(1, 1, "size=256K,block_size=4K,remote_timeout_ms=200");
    run("failover", 3, 3, true);
}

// Two mounts (two hosts) sharing a namespace: each mount reads its own newest write or newer.
// Disabled until remote values carry versions and are published by compare-and-set (issue 19,
// case 4): a mount demotes a copy it only read over the other mount's newer value, so about 3%
// of reads return a version older than the reading mount's own last write or unlink.
TEST_F(TierModelTest, TwoMountsEachReadTheirOwnNewestWriteOrNewer) {
    start(0, 2, "size=256K,block_size=4K,write_through,remote_timeout_ms=200");
    run("two mounts", 2, 2, false);
}

// Found by the model: truncate(2) by path racing an eviction of the entry while a reader holds
// it open. The kernel's SETATTR reaches the evicted inode (looked up, or its dentry still cached,
// before the eviction's invalidation arrived); Pool::setattr opens it for writing, which
// Pool::openCounted allows for a nameless inode as long as someone has it open, truncates that
// orphan and returns success, while the name's demoted copy keeps the bytes from before the
// truncate and comes back whole at the next lookup. Disabled until core refuses it (ESTALE).
TEST(TierRaceTest, ATruncateRacingAnEvictionIsNeverLost) {
    TempDir disk;
    TierMount m("size=1M,block_size=4K,disk_dir=" + disk.path() + ",disk_size=16M");
    ASSERT_TRUE(m.start());
    int older = 0;
    for (int i = 0; i < 300; ++i) {
        const std::string v = pattern(20000, 100 + static_cast<uint32_t>(i));
        ASSERT_EQ(0, writeFile(m.path("x"), v));
        const int reader = open(m.path("x").c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_GE(reader, 0);
        std::thread evict([&] {
            sleepMs(i % 3);
            controlWrite(m.path(".evict"), "100");
        });
        const int err = errnoOf(::truncate(m.path("x").c_str(), 100));
        evict.join();
        close(reader);
        const auto got = readFile(m.path("x"));
        if (err == 0 && got && *got != v.substr(0, 100)) older++;
    }
    EXPECT_EQ(0, older) << "truncate(x, 100) returned 0, then x read its 20000 bytes from before";
}

// The checker itself: a read of an older committed version, of another name's bytes, and of
// mixed bytes with no write in flight are violations; the newest version, a newer one still
// being written, and a committed truncation are not.
TEST(TierModelCheckerTest, TheCheckerCatchesOlderForeignAndTornReads) {
    SharedModel model;
    ASSERT_NE(nullptr, model.get());
    Shared& sh = *model.get();
    NameLog& log = sh.names[3];
    auto commit = [&](uint64_t v, uint32_t kind, uint64_t base, uint32_t length, bool done) {
        Version& r = log.v[v];
        r.kind = kind;
        r.mount = 0;
        r.base = base;
        r.length = length;
        r.start.store(sh.clock.fetch_add(1) + 1);
        r.end.store(done ? sh.clock.fetch_add(1) + 1 : 0);
        r.state.store(done ? kCommitted : kStarted);
        log.next.store(v);
        if (done) log.committed[0].store(v);
    };
    commit(1, kWrite, 1, 9000, true);
    commit(2, kRenameOver, 2, 5000, true);
    commit(3, kTruncPath, 2, 700, true);
    const std::string v1 = makeContent({9000, 3, 0, 1});
    const std::string v2 = makeContent({5000, 3, 0, 2});
    auto verdict = [&](const std::string& bytes, uint32_t name = 3) {
        Counts counts;
        const uint64_t s = sh.clock.fetch_add(1) + 1;
        judge(sh, name, 0, log.committed[0].load(), s, s + 1, bytes.data(), bytes.size(), counts);
        return counts;
    };
    EXPECT_EQ(0u, verdict(v2.substr(0, 700)).violations()) << "the truncation is the newest";
    EXPECT_EQ(1u, verdict(v2).older) << "the version before the truncation";
    EXPECT_EQ(1u, verdict(v1).older);
    EXPECT_EQ(1u, verdict(v2.substr(0, 600)).torn) << "a truncation nobody made";
    EXPECT_EQ(1u, verdict(makeContent({5000, 4, 0, 2}), 3).foreign);
    std::string mixed = v2.substr(0, 700);
    mixed[650] ^= 1;
    EXPECT_EQ(1u, verdict(mixed).torn);
    EXPECT_EQ(1u, verdict(makeContent({5000, 3, 0, 9})).phantom) << "never started";
    commit(4, kUnlink, 0, 0, true);
    EXPECT_EQ(1u, verdict(v2.substr(0, 700)).older) << "removed: a miss or newer only";
    commit(5, kWrite, 5, 6000, false);  // being written in place
    const std::string v5 = makeContent({6000, 3, 0, 5});
    EXPECT_EQ(0u, verdict(v5).violations());
    EXPECT_EQ(1u, verdict(v5).newer);
    EXPECT_EQ(1u, verdict(v5.substr(0, 100)).in_flight) << "half written, still being written";
    EXPECT_EQ(0u, verdict("").violations());
}

}  // namespace
}  // namespace kvctest
