// Shared helpers for the core Pool tests: a fixture that hands out unique shm segment names
// ("kvcachefs-test-<pid>-<counter>") and removes every one of them in TearDown, even when the
// test failed, plus small helpers that create, write, read and list entries the way a front end
// would (create/open, write, release).
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/inode.h"
#include "core/pool.h"

namespace kvc::test {

inline constexpr uint32_t kBlock = 4096;

inline std::string uniqueSegmentName() {
    static std::atomic<uint64_t> counter{0};
    return "kvcachefs-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Deterministic bytes that differ per seed and per position.
inline std::string pattern(uint64_t seed, size_t len) {
    std::string s(len, '\0');
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s[i] = static_cast<char>(x);
    }
    return s;
}

// Byte strings compared without printing kilobytes of binary on failure.
inline ::testing::AssertionResult sameBytes(std::string_view got, std::string_view want) {
    if (got == want) return ::testing::AssertionSuccess();
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    auto failure = ::testing::AssertionFailure()
                   << "got " << got.size() << " bytes, want " << want.size()
                   << "; first difference at offset " << i;
    if (got.size() < 64) failure << " (got \"" << got << "\")";
    return failure;
}

// Removes segments that test processes which died mid-test (a crash skips TearDown) left
// behind: "kvcachefs-test-<pid>-<n>" whose pid no longer runs. Once per process.
inline void removeStaleTestSegments() {
    static std::once_flag once;
    std::call_once(once, [] {
        DIR* d = ::opendir("/dev/shm");
        if (!d) return;
        const std::string prefix = "kvcachefs-test-";
        std::vector<std::string> stale;
        while (dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.rfind(prefix, 0) != 0) continue;
            const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
                stale.push_back(name);
        }
        ::closedir(d);
        for (const std::string& name : stale) (void)Segment::remove(SegmentLocation{name, ""});
    });
}

class PoolFixture : public ::testing::Test {
  protected:
    void SetUp() override { removeStaleTestSegments(); }
    void TearDown() override {
        for (const SegmentLocation& where : segments_)
            if (Segment::exists(where)) (void)Segment::remove(where);
    }

    // A fresh segment name, removed at TearDown.
    SegmentLocation newLocation() {
        segments_.push_back(SegmentLocation{uniqueSegmentName(), ""});
        return segments_.back();
    }

    static PoolSettings settings(uint64_t blocks, std::string policy = "lru",
                                 uint64_t pin_budget = 0, uint64_t max_entries = 0) {
        return PoolSettings{blocks * kBlock, std::move(policy), kBlock, Tier::Cpu, "",
                            pin_budget,      max_entries,       {}};
    }

    // A new pool of `blocks` blocks of 4 KiB; fails the test if it cannot be made.
    std::unique_ptr<Pool> makePool(uint64_t blocks, std::string policy = "lru",
                                   uint64_t pin_budget = 0, uint64_t max_entries = 0) {
        PoolCreateOptions o{"testpool", newLocation(),
                            settings(blocks, std::move(policy), pin_budget, max_entries)};
        auto p = Pool::create(o);
        EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
        return p.ok() ? std::move(*p) : nullptr;
    }

    std::vector<SegmentLocation> segments_;
};

// Creates `name` in `dir` with `data` as a writer would: create, write, close. Returns its id
// (0 and a test failure if any step failed).
inline EntryId putEntry(Pool& pool, EntryId dir, std::string_view name, std::string_view data) {
    auto attr = pool.create(dir, name, 0644, 0, 0, IfExists::Fail);
    EXPECT_TRUE(attr.ok()) << name << ": " << (attr.ok() ? "" : attr.error().message);
    if (!attr.ok()) return 0;
    if (!data.empty()) {
        auto n = pool.write(attr->id, 0, data.data(), data.size());
        EXPECT_TRUE(n.ok()) << name << ": " << (n.ok() ? "" : n.error().message);
        if (n.ok()) {
            EXPECT_EQ(*n, data.size());
        }
    }
    pool.release(attr->id, Access::Write);
    return attr->id;
}

// Reads an entry whole as a reader would: open for reading, read, close.
inline std::string getEntry(Pool& pool, EntryId id) {
    auto attr = pool.getattr(id);
    EXPECT_TRUE(attr.ok());
    if (!attr.ok()) return "<getattr failed>";
    if (auto st = pool.open(id, Access::Read); !st)
        return "<open failed: " + st.error().message + ">";
    std::string out(attr->size, '\0');
    auto n = pool.read(id, 0, out.data(), out.size());
    pool.release(id, Access::Read);
    if (!n.ok()) return "<read failed: " + n.error().message + ">";
    out.resize(*n);
    return out;
}

// Names in a directory, in readdir order, read in small batches to exercise cookies.
inline std::vector<std::string> listNames(Pool& pool, EntryId dir) {
    std::vector<std::string> names;
    uint64_t cookie = 0;
    for (;;) {
        auto batch = pool.readdir(dir, cookie, 7);
        EXPECT_TRUE(batch.ok());
        if (!batch.ok() || batch->empty()) break;
        for (const DirEntry& d : *batch) names.push_back(d.name);
        cookie = batch->back().cookie;
    }
    return names;
}

inline std::set<std::string> nameSet(Pool& pool, EntryId dir) {
    auto v = listNames(pool, dir);
    return {v.begin(), v.end()};
}

// The id a name has in a directory, or 0. Uses readdir, so it counts no lookup and no miss.
inline EntryId idOf(Pool& pool, EntryId dir, std::string_view name) {
    uint64_t cookie = 0;
    for (;;) {
        auto batch = pool.readdir(dir, cookie, 64);
        if (!batch.ok() || batch->empty()) return 0;
        for (const DirEntry& d : *batch)
            if (d.name == name) return d.id;
        cookie = batch->back().cookie;
    }
}

}  // namespace kvc::test
