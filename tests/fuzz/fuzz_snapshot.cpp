// libFuzzer target: the snapshot loader. Any byte string is either refused by verification with
// an error, or verified and then restored into a pool whose invariants still hold. Checksums
// stop most mutations at verification, which is the point: the lengths, counts and offsets read
// before a checksum is checked must never be trusted. The seeds in corpus/snapshot are real
// images, so mutations of their unchecksummed parts (and the header fields checked first) reach
// past the header.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/pool.h"
#include "core/pool_restore.h"
#include "core/snapshot_format.h"

namespace {

kvc::Pool& pool() {
    static std::unique_ptr<kvc::Pool> p = [] {
        kvc::PoolCreateOptions o;
        o.name = "fuzz";
        o.where.name = "kvcachefs-fuzz-snapshot-" + std::to_string(getpid());
        o.settings = kvc::PoolSettings{4 << 20, "lru", 4096, kvc::Tier::Cpu, "", 0, 1024, {}};
        auto made = kvc::Pool::create(o);
        if (!made) std::abort();
        (void)kvc::Segment::remove(o.where);  // the mapping stays; nothing is left behind
        return std::move(*made);
    }();
    return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const int fd = memfd_create("fuzz-snapshot", 0);
    if (fd < 0) std::abort();
    for (size_t done = 0; done < size;) {
        const ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) std::abort();
        done += static_cast<size_t>(n);
    }
    auto reader = kvc::SnapshotReader::fromFd(fd, "fuzz");  // owns fd from here on
    if (!reader) return 0;
    // Verified: reading it record by record agrees with verification.
    kvc::SnapshotRecord rec;
    std::vector<char> buf(64 << 10);
    for (;;) {
        auto more = (*reader)->next(rec);
        if (!more) std::abort();
        if (!*more) break;
        for (;;) {
            auto n = (*reader)->readData(buf.data(), buf.size());
            if (!n) std::abort();
            if (*n == 0) break;
        }
        if (!(*reader)->checkRecord()) std::abort();
    }
    (*reader)->rewind();
    kvc::PoolRestoreOptions options;
    options.restore.replace = true;
    (void)kvc::restoreIntoPool(pool(), **reader, options);  // may refuse (too large, ...)
    pool().verify();
    return 0;
}
