// A concurrency test of one pool for about two seconds: writers create entries in pieces,
// readers look entries up and read them, an evictor runs `.evict`, `.match`, stats, policy
// switches and resizes, and a namespace thread renames (plain, RENAME_NOREPLACE,
// RENAME_EXCHANGE), links, unlinks, truncates, chmods, pins, sets chain parents and makes and
// removes directories. Every entry's bytes carry its seed and a checksum, so a reader can tell
// that what it read is what the writer wrote (or a prefix of it while the writer is still at
// work). At the end verify() must pass, every entry must be whole, and so after a crash and
// reattach. Meant to be run under ThreadSanitizer too (-DKVCACHEFS_SANITIZE=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/policy/eviction_policy.h"
#include "core/record_codec.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::kBlock;
using test::pattern;

constexpr uint64_t kMagic = 0x4b56434143484b31ull;
constexpr size_t kHeader = 32;
constexpr uint64_t kPoolBlocks = 512;

// Header {magic, seed, total length, checksum of the payload}, then the payload.
std::string makeContent(uint64_t seed, size_t len) {
    const std::string payload = pattern(seed, len - kHeader);
    const uint64_t header[4] = {kMagic, seed, len, hashBytes(payload.data(), payload.size())};
    std::string out(reinterpret_cast<const char*>(header), kHeader);
    return out + payload;
}

// Empty (truncated, or freed after eviction), or a prefix of what its writer wrote.
std::string checkContent(const std::string& got) {
    if (got.empty()) return "";
    if (got.size() < kHeader) return "a torn header of " + std::to_string(got.size()) + " bytes";
    uint64_t header[4];
    std::memcpy(header, got.data(), kHeader);
    if (header[0] != kMagic) return "bad magic";
    if (header[2] < got.size() || header[2] > kPoolBlocks * kBlock)
        return "length " + std::to_string(header[2]) + " for " + std::to_string(got.size()) +
               " bytes read";
    const std::string want = makeContent(header[1], header[2]);
    if (want.compare(0, got.size(), got) != 0)
        return "bytes differ from what writer seed " + std::to_string(header[1]) + " wrote";
    return "";
}

bool isOneOf(int code, std::initializer_list<int> allowed) {
    for (int a : allowed)
        if (code == a) return true;
    return false;
}

class Concurrency : public test::PoolFixture {
  protected:
    void fail(const std::string& what) {
        failures_++;
        std::lock_guard lk(mu_);
        if (messages_.size() < 20) messages_.push_back(what);
    }
    void expectOk(int code, std::initializer_list<int> allowed, const char* op) {
        if (code != 0 && !isOneOf(code, allowed))
            fail(std::string(op) + ": unexpected errno " + std::to_string(code) + " (" +
                 std::strerror(code) + ")");
    }
    // Directories that exist now: the root and whichever of d0..d2 are there. Ids are used
    // without holding a lookup, so one may be gone, or reused by a file (ENOTDIR), by the time
    // it is used; operations allow for that.
    std::vector<EntryId> dirs(Pool& p) {
        std::vector<EntryId> out{kPoolRootId};
        for (int i = 0; i < 3; ++i)
            if (EntryId d = test::idOf(p, kPoolRootId, "d" + std::to_string(i))) out.push_back(d);
        return out;
    }
    // Some entry names in `dir` (a readdir batch from a random point).
    std::vector<DirEntry> someEntries(Pool& p, EntryId dir, std::mt19937_64& rng) {
        auto batch = p.readdir(dir, rng() % 64, 16);
        std::vector<DirEntry> out;
        if (batch.ok())
            for (const DirEntry& d : *batch)
                if ((d.mode & 0170000) == 0100000) out.push_back(d);
        return out;
    }

    std::atomic<int> failures_{0};
    std::mutex mu_;
    std::vector<std::string> messages_;
};

TEST_F(Concurrency, ReadersWritersEvictorsAndNamespaceOperations) {
    auto pool = makePool(kPoolBlocks);
    ASSERT_NE(pool, nullptr);
    Pool& p = *pool;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> writes{0}, reads{0}, verified{0}, evicted{0}, ns_ops{0};

    auto writer = [&](int t) {
        std::mt19937_64 rng(1000 + t);
        for (uint64_t n = 0; !stop; ++n) {
            const auto ds = dirs(p);
            const EntryId dir = ds[rng() % ds.size()];
            const std::string name = "w" + std::to_string(t) + "-" + std::to_string(n);
            auto attr = p.create(dir, name, 0644, 0, 0, IfExists::Fail);
            if (!attr) {
                expectOk(attr.code(), {ENOENT, ENOTDIR}, "create");
                continue;
            }
            const uint64_t seed = (uint64_t(t) << 40) | n;
            const size_t len = kHeader + rng() % (6 * kBlock);
            const std::string data = makeContent(seed, len);
            // In up to three pieces; the first holds the whole header.
            size_t off = 0;
            while (off < len) {
                size_t piece = std::max<size_t>(kHeader, 1 + rng() % len);
                piece = std::min(piece, len - off);
                auto w = p.write(attr->id, off, data.data() + off, piece);
                if (!w) {
                    expectOk(w.code(), {ENOSPC}, "write");
                    break;
                }
                off += piece;
            }
            p.release(attr->id, Access::Write);
            p.forget(attr->id, 1);
            writes++;
        }
    };

    auto reader = [&](int t) {
        std::mt19937_64 rng(2000 + t);
        std::string buf;
        while (!stop) {
            const auto ds = dirs(p);
            const EntryId dir = ds[rng() % ds.size()];
            for (const DirEntry& d : someEntries(p, dir, rng)) {
                auto attr = p.lookup(dir, d.name);
                if (!attr) {
                    expectOk(attr.code(), {ENOENT, ENOTDIR}, "lookup");
                    continue;
                }
                if (auto st = p.open(attr->id, Access::Read); !st) {
                    // ESTALE: removed (evicted, unlinked) and freed since the lookup.
                    expectOk(st.code(), {ENOENT, ESTALE}, "open");
                    p.forget(attr->id, 1);
                    continue;
                }
                auto now = p.getattr(attr->id);
                buf.assign(now.ok() ? now->size + 100 : 0, '\0');
                std::string got;
                if (rng() % 2) {
                    auto n = p.read(attr->id, 0, buf.data(), buf.size());
                    if (n.ok()) got.assign(buf.data(), *n);
                } else {
                    // The zero-copy path a front end uses: copy while holding the plan's lock.
                    auto plan = p.planRead(attr->id, 0, buf.size());
                    if (plan.ok())
                        for (const auto& piece : plan->pieces) got.append(piece.address, piece.len);
                }
                p.release(attr->id, Access::Read);
                p.forget(attr->id, 1);
                reads++;
                if (const std::string why = checkContent(got); !why.empty())
                    fail(d.name + ": " + why);
                else if (!got.empty())
                    verified++;
            }
        }
    };

    // The evictor stops a little before the others, so that what the writers write last is
    // left whole for the checks below: an evictor that had the CPU to itself at the end could
    // otherwise leave no entry to check (seen once in CI, under load).
    std::atomic<bool> stop_evicting{false};
    auto evictor = [&] {
        std::mt19937_64 rng(3000);
        const auto& policies = policyNames();
        while (!stop && !stop_evicting) {
            switch (rng() % 8) {
                case 0:
                case 1: {
                    auto r = p.evictPercent(1 + rng() % 30);
                    expectOk(r.code(), {}, "evictPercent");
                    if (r) evicted += r->entries;
                    break;
                }
                case 2: {
                    auto r = p.evictUntilFree((rng() % 64) * kBlock);
                    expectOk(r.code(), {}, "evictUntilFree");
                    if (r) evicted += r->entries;
                    break;
                }
                case 3: {
                    const std::vector<DirEntry> entries = someEntries(p, kPoolRootId, rng);
                    std::vector<std::string_view> names;
                    for (const DirEntry& d : entries) names.push_back(d.name);
                    names.push_back("absent");
                    auto m = p.match(kPoolRootId, names);
                    expectOk(m.code(), {}, "match");
                    break;
                }
                case 4: {
                    auto s = p.stats();
                    if (s.blocks_used > s.blocks_total) fail("stats: more blocks used than exist");
                    break;
                }
                case 5:
                    expectOk(p.setPolicy(policies[rng() % policies.size()]).code(), {},
                             "setPolicy");
                    break;
                case 6: {
                    const uint64_t blocks = kPoolBlocks - (rng() % 2) * (kPoolBlocks / 4);
                    expectOk(p.resize(blocks * kBlock).code(), {EBUSY, ENOSPC}, "resize");
                    break;
                }
                default:
                    (void)p.lastEviction();
                    break;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    };

    auto namespaces = [&] {
        std::mt19937_64 rng(4000);
        while (!stop) {
            const auto ds = dirs(p);
            const EntryId dir = ds[rng() % ds.size()];
            const EntryId other = ds[rng() % ds.size()];
            const auto entries = someEntries(p, dir, rng);
            const std::string r = "r" + std::to_string(rng() % 40);
            const std::string sub = "d" + std::to_string(rng() % 3);
            const DirEntry* e = entries.empty() ? nullptr : &entries[rng() % entries.size()];
            switch (rng() % 11) {
                case 0:
                    if (e)
                        expectOk(p.rename(dir, e->name, other, r, 0).code(), {ENOENT, ENOTDIR},
                                 "rename");
                    break;
                case 1:
                    if (e)
                        expectOk(p.rename(dir, e->name, other, r, Pool::kRenameNoReplace).code(),
                                 {ENOENT, ENOTDIR, EEXIST}, "rename noreplace");
                    break;
                case 2:
                    if (e)
                        expectOk(p.rename(dir, e->name, other, r, Pool::kRenameExchange).code(),
                                 {ENOENT, ENOTDIR}, "rename exchange");
                    break;
                case 3:
                    if (e) {
                        auto l = p.link(e->id, other, "l" + r);
                        expectOk(l.code(), {ENOENT, ENOTDIR, EEXIST}, "link");
                        if (l) p.forget(l->id, 1);
                    }
                    break;
                case 4:
                    if (e) expectOk(p.unlink(dir, e->name).code(), {ENOENT, ENOTDIR}, "unlink");
                    break;
                case 5: {
                    auto m = p.mkdir(kPoolRootId, sub, 0755, 0, 0);
                    expectOk(m.code(), {EEXIST}, "mkdir");
                    if (m) p.forget(m->id, 1);
                    break;
                }
                case 6:
                    expectOk(p.rmdir(kPoolRootId, sub).code(), {ENOENT, ENOTEMPTY}, "rmdir");
                    break;
                case 7: {
                    // Held by a lookup, so the id cannot be reused meanwhile. Only committed
                    // entries are truncated: no writer reopens those, so none can write past
                    // the cut and leave a hole where the header was.
                    auto held = e ? p.lookup(dir, e->name) : Result<EntryAttr>(Error{ENOENT, ""});
                    if (!held) break;
                    AttrChange c;
                    auto committed = p.getxattr(held->id, "user.kvcache.committed");
                    if (rng() % 4 == 0 && committed.ok() && *committed == "1")
                        c.size = 0;
                    else
                        c.mode = 0600 | (rng() % 2 ? 044 : 0);
                    // ESTALE: a truncate of an entry removed and freed since the lookup.
                    expectOk(p.setattr(held->id, c).code(), {ENOENT, ESTALE}, "setattr");
                    p.forget(held->id, 1);
                    break;
                }
                case 8:
                    if (e)
                        expectOk(p.setxattr(e->id, "user.kvcache.pinned", rng() % 3 ? "0" : "1", 0)
                                     .code(),
                                 {ENOENT}, "pin");
                    break;
                case 9:
                    if (e && entries.size() > 1) {
                        const DirEntry& parent = entries[rng() % entries.size()];
                        const std::string path = dir == kPoolRootId ? parent.name : std::string();
                        // ENOSPC: the entry's metadata then needs blocks and none can be found.
                        if (!path.empty())
                            expectOk(p.setxattr(e->id, "user.kvcache.parent", path, 0).code(),
                                     {ENOENT, EINVAL, ENOSPC}, "parent");
                    }
                    break;
                default:
                    if (e) {
                        expectOk(p.setxattr(e->id, "user.kvcache.priority",
                                            std::to_string(int(rng() % 21) - 10), 0)
                                     .code(),
                                 {ENOENT}, "priority");
                        expectOk(
                            p.setxattr(e->id, "user.tag", pattern(rng(), rng() % 2000), 0).code(),
                            {ENOENT, ENOSPC}, "user xattr");
                    }
                    break;
            }
            ns_ops++;
        }
    };

    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) threads.emplace_back(writer, t);
    for (int t = 0; t < 2; ++t) threads.emplace_back(reader, t);
    threads.emplace_back(evictor);
    threads.emplace_back(namespaces);
    std::this_thread::sleep_for(std::chrono::milliseconds(1700));
    stop_evicting = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (std::thread& t : threads) t.join();

    for (const std::string& m : messages_) ADD_FAILURE() << m;
    EXPECT_EQ(failures_.load(), 0);
    EXPECT_GT(writes.load(), 20u);
    EXPECT_GT(reads.load(), 20u);
    EXPECT_GT(verified.load(), 0u);
    EXPECT_GT(evicted.load(), 0u);
    EXPECT_GT(ns_ops.load(), 20u);
    ASSERT_NO_THROW(p.verify());

    // Now quiet: every entry is whole (or emptied by a truncation), here and after a crash.
    auto checkAll = [&](Pool& pool) {
        size_t whole = 0;
        for (EntryId dir : dirs(pool)) {
            for (const std::string& name : test::listNames(pool, dir)) {
                const EntryId id = test::idOf(pool, dir, name);
                if ((pool.getattr(id)->mode & 0170000) != 0100000) continue;
                const std::string got = test::getEntry(pool, id);
                EXPECT_EQ(checkContent(got), "") << name;
                if (got.size() >= kHeader) {
                    uint64_t header[4];
                    std::memcpy(header, got.data(), kHeader);
                    // A write that failed with ENOSPC leaves a prefix; anything else is whole.
                    whole += header[2] == got.size();
                }
            }
        }
        return whole;
    };
    const size_t whole = checkAll(p);
    EXPECT_GT(whole, 0u);
    const SegmentLocation where = p.location();
    pool.reset();
    auto again = Pool::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(checkAll(**again), whole);
    ASSERT_NO_THROW((*again)->verify());
}

// Attribute changes race with the data path of the same entry: a chmod must not disturb a
// read or a write in flight (the data path checks the file type without the pool's lock).
TEST_F(Concurrency, ChmodWhileReadingAndWriting) {
    auto pool = makePool(64);
    ASSERT_NE(pool, nullptr);
    Pool& p = *pool;
    const std::string data = makeContent(42, 3 * kBlock);
    const EntryId id = test::putEntry(p, kPoolRootId, "blk", data);
    ASSERT_TRUE(p.open(id, Access::Read).ok());
    ASSERT_TRUE(p.open(id, Access::Write).ok());
    std::atomic<bool> stop{false};
    std::thread chmod([&] {
        for (uint32_t i = 0; !stop; ++i) {
            AttrChange c;
            c.mode = 0600 | (i % 2 ? 044 : 0);
            if (!p.setattr(id, c).ok()) fail("setattr failed");
        }
    });
    std::thread writer([&] {
        while (!stop)
            if (!p.write(id, 0, data.data(), data.size()).ok()) fail("write failed");
    });
    std::string buf(data.size(), '\0');
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) {
        auto n = p.read(id, 0, buf.data(), buf.size());
        if (!n.ok() || *n != data.size() || buf != data) fail("read did not return the bytes");
    }
    stop = true;
    chmod.join();
    writer.join();
    p.release(id, Access::Write);
    p.release(id, Access::Read);
    for (const std::string& m : messages_) ADD_FAILURE() << m;
    EXPECT_EQ(failures_.load(), 0);
    p.verify();
}

}  // namespace
}  // namespace kvc
