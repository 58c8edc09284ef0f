// Promotion throughput of the lower tiers, beside the shm read rate, through real mounts and a
// real 3-master Redis Cluster on loopback (docs/TIERS.md). Not a test: it prints a table.
//
//   tier_bench [--entries N] [--entry-kib K] [--reps R]
//
// Per repetition: mount A (shm + disk tier + remote, write-through) writes N entries; they are
// read back from shm; `.evict 100` sends them all to the disk tier and they are read again (each
// open promotes one from disk); mount B (shm + remote only, same namespace) reads them (each
// open promotes one from the cluster). Every read is open + read whole + close of an entry the
// kernel has not cached, and every byte is checked.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "tests/tiers/redis_fixture.h"

using namespace kvctest;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    int entries = 512;
    size_t entry_bytes = 256 * 1024;
    int reps = 3;
};

std::string entryName(int i) {
    return "blk-" + std::to_string(i);
}

// Seconds to read every entry (open, read whole, close), or a negative value on a mismatch. The
// bytes are checked after the clock stops.
double readAll(const std::string& dir, const Args& a, uint32_t seed) {
    std::vector<std::string> got(a.entries, std::string(a.entry_bytes, '\0'));
    const auto t0 = Clock::now();
    for (int i = 0; i < a.entries; ++i) {
        const std::string path = dir + "/" + entryName(i);
        const int fd = ::open(path.c_str(), O_RDONLY);
        if (fd < 0) {
            std::fprintf(stderr, "open %s: %s\n", path.c_str(), strerror(errno));
            return -1;
        }
        std::string& buf = got[i];
        size_t n = 0;
        while (n < buf.size()) {
            const ssize_t r = ::read(fd, buf.data() + n, buf.size() - n);
            if (r <= 0) break;
            n += static_cast<size_t>(r);
        }
        ::close(fd);
        buf.resize(n);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int i = 0; i < a.entries; ++i)
        if (got[i] != pattern(a.entry_bytes, seed + static_cast<uint32_t>(i))) {
            std::fprintf(stderr, "%s/%s: wrong content\n", dir.c_str(), entryName(i).c_str());
            return -1;
        }
    return seconds;
}

// Drops the kernel's cached pages of every entry, so that reads reach the daemon.
void dropPages(const std::string& dir, const Args& a) {
    for (int i = 0; i < a.entries; ++i) {
        const int fd = ::open((dir + "/" + entryName(i)).c_str(), O_RDONLY);
        if (fd < 0) continue;
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--entries")
            a.entries = std::atoi(argv[i + 1]);
        else if (k == "--entry-kib")
            a.entry_bytes = std::strtoull(argv[i + 1], nullptr, 10) * 1024;
        else if (k == "--reps")
            a.reps = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--entries N] [--entry-kib K] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    RedisClusterFixture cluster(3, 0);
    if (!cluster.ok()) {
        std::fprintf(stderr, "cluster: %s\n", cluster.error().c_str());
        return 1;
    }
    std::string seeds;
    for (const auto& s : cluster.seeds()) seeds += (seeds.empty() ? "" : "+") + s;
    char tmpl[] = "/tmp/kvc-tier-bench-XXXXXX";
    const std::string disk = mkdtemp(tmpl) ? tmpl : "";
    const uint64_t total_mib = a.entries * a.entry_bytes / (1 << 20) + 1;
    const std::string size = std::to_string(2 * total_mib) + "M";

    std::vector<double> shm, from_disk, from_remote;
    for (int rep = 0; rep < a.reps; ++rep) {
        const std::string ns = "bench" + std::to_string(rep);
        KvcMount ma("size=" + size + ",disk_dir=" + disk + ",disk_size=" + size +
                    ",write_through,remote=" + seeds + ",remote_namespace=" + ns);
        KvcMount mb("size=" + size + ",remote=" + seeds + ",remote_namespace=" + ns);
        if (!ma.start() || !mb.start()) return 1;
        const std::string pa = ma.path("p"), pb = mb.path("p");
        ::mkdir(pa.c_str(), 0755);
        ::mkdir(pb.c_str(), 0755);
        const uint32_t seed = 77 + 1000000u * static_cast<uint32_t>(rep);
        for (int i = 0; i < a.entries; ++i)
            if (writeFile(pa + "/" + entryName(i),
                          pattern(a.entry_bytes, seed + static_cast<uint32_t>(i))) != 0)
                return 1;
        auto drained = [&] {
            return eventually(
                [&] { return statNum(readStats(pa + "/.stats"), "tier.queue.entries") == 0; },
                60000);
        };
        if (!drained()) return 1;
        dropPages(pa, a);
        shm.push_back(readAll(pa, a, seed));
        if (controlWrite(pa + "/.evict", "100").first != 0 || !drained()) return 1;
        from_disk.push_back(readAll(pa, a, seed));
        from_remote.push_back(readAll(pb, a, seed));
        if (shm.back() < 0 || from_disk.back() < 0 || from_remote.back() < 0) return 1;
        ma.cleanup();
        mb.cleanup();
    }
    std::error_code ec;
    std::filesystem::remove_all(disk, ec);

    const double mib = double(a.entries) * double(a.entry_bytes) / (1 << 20);
    const double base = median(shm);
    std::printf("%d entries of %zu KiB, median of %d\n", a.entries, a.entry_bytes / 1024, a.reps);
    std::printf("%-28s %12s %10s %10s\n", "read from", "entries/s", "MiB/s", "vs shm");
    auto row = [&](const char* what, const std::vector<double>& t) {
        const double s = median(t);
        std::printf("%-28s %12.0f %10.1f %10.2f\n", what, a.entries / s, mib / s, base / s);
    };
    row("shm (cold page cache)", shm);
    row("disk tier (promotion)", from_disk);
    row("remote tier (promotion)", from_remote);
    return 0;
}
