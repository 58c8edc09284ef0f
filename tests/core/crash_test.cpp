// Crash-point enumeration (the method of CrashMonkey and ALICE): for each operation below and
// for every k, the process "dies" at the k-th durable step of the operation (core/crash_points.h:
// a record written or cleared, blocks punched, the superblock stored), the pool is dropped
// without detaching, and the segment is attached again as a restarted daemon would. Then:
// every entry committed before the operation is byte-identical or, only where the operation may
// remove it, gone; the operation's own entries are the old or the new version (an entry being
// written at the crash may be dropped whole, as documented); the allocator and the records agree
// (Pool::verify: no block leaked, shared or owned while free).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "core/crash_points.h"
#include "core/entry_image.h"
#include "core/lower_tiers.h"
#include "core/pool.h"
#include "core/pool_restore.h"
#include "core/snapshot_format.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::kBlock;
using test::PoolFixture;

// What an operation may leave for each name, beyond the name's bytes before it.
struct Outcome {
    std::set<std::string> may_vanish;                       // names that may be gone after
    std::map<std::string, std::set<std::string>> may_hold;  // other contents a name may have
    bool may_evict = false;                                 // any entry may be gone
    std::set<std::string> must_keep;  // contents that must survive under some name
};

struct Op {
    std::string name;
    std::function<void(Pool&)> run;
    Outcome outcome;
    std::string xattr_entry;  // if set: user.big on it must be absent or whole
};

Op makeOp(std::string name, std::function<void(Pool&)> run, Outcome outcome = {},
          std::string xattr_entry = {}) {
    return Op{std::move(name), std::move(run), std::move(outcome), std::move(xattr_entry)};
}

Outcome outcome(std::set<std::string> may_vanish,
                std::map<std::string, std::set<std::string>> may_hold, bool may_evict,
                std::set<std::string> must_keep = {}) {
    return Outcome{std::move(may_vanish), std::move(may_hold), may_evict, std::move(must_keep)};
}

std::string bytes(char c, size_t blocks) {
    return test::pattern(c, blocks * kBlock - 100);
}

// A snapshot image (pool directory, then `entries` as path -> bytes) written to `path`.
void writeImage(const std::string& path, const std::map<std::string, std::string>& entries) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    SnapshotHeader h;
    h.block_size = kBlock;
    h.pool = "testpool";
    h.policy = "lru";
    h.capacity_bytes = 64 * kBlock;
    auto w = SnapshotWriter::start(fd, path, h);
    ASSERT_TRUE(w.ok()) << w.error().message;
    SnapshotRecord root;
    root.kind = SnapshotKind::Directory;
    root.mode = 040755;
    ASSERT_TRUE((*w)->beginRecord(root).ok());
    ASSERT_TRUE((*w)->endRecord().ok());
    for (const auto& [name, data] : entries) {
        SnapshotRecord rec;
        rec.path = name;
        rec.mode = 0100644;
        rec.data_len = data.size();
        ASSERT_TRUE((*w)->beginRecord(rec).ok());
        ASSERT_TRUE((*w)->appendData(data.data(), data.size()).ok());
        ASSERT_TRUE((*w)->endRecord().ok());
    }
    ASSERT_TRUE((*w)->finish().ok());
    ::close(fd);
}

// What a name shows: an entry's bytes, a symbolic link's target, a special file's type and
// device.
std::string contentOf(Pool& p, EntryId id) {
    auto a = p.getattr(id);
    if (!a.ok()) return "<getattr failed>";
    if ((a->mode & S_IFMT) == S_IFLNK) {
        auto target = p.readlink(id);
        return target.ok() ? "->" + *target : "<readlink failed>";
    }
    if ((a->mode & S_IFMT) != S_IFREG)
        return "node " + std::to_string(a->mode) + " " + std::to_string(a->rdev);
    return test::getEntry(p, id);
}

class CrashTest : public PoolFixture {
  protected:
    // A 64-block pool whose entries sit at high blocks with free space below (so that a shrink
    // moves them), one entry fragmented into many extents, and an out-of-line xattr.
    std::unique_ptr<Pool> seed(std::map<std::string, std::string>& before) {
        auto p = makePool(64);
        test::putEntry(*p, kPoolRootId, "filler", bytes('f', 24));
        for (const char* n : {"a", "b", "c", "d"}) {
            before[n] = bytes(n[0], 3);
            test::putEntry(*p, kPoolRootId, n, before[n]);
        }
        // "frag": 8 one-block pieces interleaved with spacers that go again.
        auto attr = p->create(kPoolRootId, "frag", 0644, 0, 0, IfExists::Fail);
        EXPECT_TRUE(attr.ok());
        std::string frag;
        for (int i = 0; i < 8; ++i) {
            const std::string piece = test::pattern(100 + i, kBlock);
            EXPECT_TRUE(p->write(attr->id, frag.size(), piece.data(), piece.size()).ok());
            frag += piece;
            test::putEntry(*p, kPoolRootId, "spacer" + std::to_string(i), "s");
        }
        p->release(attr->id, Access::Write);
        before["frag"] = frag;
        for (int i = 0; i < 8; ++i)
            EXPECT_TRUE(p->unlink(kPoolRootId, "spacer" + std::to_string(i)).ok());
        EXPECT_TRUE(p->unlink(kPoolRootId, "filler").ok());
        const std::string big(20000, 'x');
        EXPECT_TRUE(p->setxattr(test::idOf(*p, kPoolRootId, "d"), "user.tag", big, 0).ok());
        EXPECT_TRUE(p->symlink(kPoolRootId, "s", "target of s", 0, 0).ok());
        before["s"] = "->target of s";
        p->verify();
        return p;
    }

    // Enumerates every crash point of `op`; returns how many there were.
    int enumerate(const Op& op) {
        int points = 0;
        for (uint64_t k = 1;; ++k) {
            std::map<std::string, std::string> before;
            auto pool = seed(before);
            const SegmentLocation where = pool->location();
            bool crashed = false;
            armCrashAt(k);
            try {
                op.run(*pool);
            } catch (const SimulatedCrash& c) {
                crashed = true;
                SCOPED_TRACE(op.name + ": crash at step " + std::to_string(k) + " (" + c.step +
                             ")");
                pool.reset();  // dies: no detach
                auto again = Pool::attach(where);
                EXPECT_TRUE(again.ok()) << again.error().message;
                if (again.ok()) check(**again, before, op);
            }
            armCrashAt(0);
            pool.reset();
            (void)Segment::remove(where);
            if (!crashed) break;
            ++points;
        }
        return points;
    }

    void check(Pool& p, const std::map<std::string, std::string>& before, const Op& op) {
        EXPECT_NO_THROW(p.verify());
        const std::set<std::string> names = test::nameSet(p, kPoolRootId);
        std::set<std::string> present;
        for (const std::string& n : names)
            present.insert(contentOf(p, test::idOf(p, kPoolRootId, n)));
        for (const std::string& keep : op.outcome.must_keep)
            EXPECT_TRUE(present.count(keep)) << "an entry the operation keeps was lost";
        for (const auto& [name, old] : before) {
            if (!names.count(name)) {
                EXPECT_TRUE(op.outcome.may_evict || op.outcome.may_vanish.count(name))
                    << name << " was lost";
                continue;
            }
            const std::string got = contentOf(p, test::idOf(p, kPoolRootId, name));
            auto other = op.outcome.may_hold.find(name);
            const bool allowed =
                got == old || (other != op.outcome.may_hold.end() && other->second.count(got));
            EXPECT_TRUE(allowed) << name << " holds " << got.size()
                                 << " bytes that are neither its old nor its new version";
        }
        for (const auto& [name, contents] : op.outcome.may_hold) {
            if (before.count(name) || !names.count(name)) continue;
            const std::string got = contentOf(p, test::idOf(p, kPoolRootId, name));
            EXPECT_TRUE(contents.count(got)) << name << " holds a partial version";
        }
        if (!op.xattr_entry.empty() && names.count(op.xattr_entry)) {
            auto v = p.getxattr(test::idOf(p, kPoolRootId, op.xattr_entry), "user.big");
            EXPECT_TRUE(!v.ok() || *v == std::string(60000, 'B')) << "a partial xattr";
        }
    }
};

TEST_F(CrashTest, EveryCrashPointLeavesTheOldOrTheNewVersion) {
    const std::string fresh = bytes('n', 5);
    const std::string rewritten = bytes('r', 2);
    const std::string huge = bytes('h', 50);
    std::map<std::string, std::string> seeded;
    { auto p = seed(seeded); }
    std::vector<Op> ops;
    ops.push_back(makeOp(
        "write and commit a new entry",
        [&](Pool& p) { test::putEntry(p, kPoolRootId, "new", fresh); },
        outcome({"new"}, {{"new", {fresh}}}, false)));
    ops.push_back(makeOp(
        "rewrite an entry in place",
        [&](Pool& p) {
            const EntryId id = test::idOf(p, kPoolRootId, "a");
            ASSERT_TRUE(p.open(id, Access::Write, Truncate::Yes).ok());
            ASSERT_TRUE(p.write(id, 0, rewritten.data(), rewritten.size()).ok());
            p.release(id, Access::Write);
        },
        outcome({"a"}, {{"a", {rewritten}}}, false)));
    ops.push_back(makeOp(
        "rename over another entry",
        [&](Pool& p) { ASSERT_TRUE(p.rename(kPoolRootId, "b", kPoolRootId, "c", 0).ok()); },
        outcome({"b"}, {{"c", {seeded["b"]}}}, false, {seeded["b"]})));
    ops.push_back(makeOp(
        "exchange two entries",
        [&](Pool& p) {
            ASSERT_TRUE(p.rename(kPoolRootId, "b", kPoolRootId, "c", Pool::kRenameExchange).ok());
        },
        outcome({}, {{"b", {seeded["c"]}}, {"c", {seeded["b"]}}}, false,
                {seeded["b"], seeded["c"]})));
    ops.push_back(makeOp(
        "unlink", [&](Pool& p) { ASSERT_TRUE(p.unlink(kPoolRootId, "a").ok()); },
        outcome({"a"}, {}, false)));
    ops.push_back(makeOp(
        "set an out-of-line xattr",
        [&](Pool& p) {
            const EntryId id = test::idOf(p, kPoolRootId, "c");
            ASSERT_TRUE(p.setxattr(id, "user.big", std::string(60000, 'B'), 0).ok());
        },
        outcome({}, {}, false), "c"));
    ops.push_back(makeOp(
        "grow the pool", [&](Pool& p) { ASSERT_TRUE(p.resize(128 * kBlock).ok()); },
        outcome({}, {}, false)));
    ops.push_back(makeOp(
        "shrink the pool, moving entries",
        [&](Pool& p) {
            auto st = p.resize(30 * kBlock);
            ASSERT_TRUE(st.ok()) << st.error().message;
        },
        outcome({}, {}, true)));
    ops.push_back(makeOp(
        "evict to make room", [&](Pool& p) { test::putEntry(p, kPoolRootId, "huge", huge); },
        outcome({"huge"}, {{"huge", {huge}}}, true)));
    ops.push_back(makeOp(
        "import an entry (a tier promotion)",
        [&](Pool& p) {
            EntryImage image;
            image.path = "imported";
            image.data = fresh;
            ASSERT_TRUE(p.importEntry(image).ok());
        },
        outcome({"imported"}, {{"imported", {fresh}}}, false)));
    const std::string target(3000, 't');  // too long for the record: in blocks of its own
    ops.push_back(makeOp(
        "make a symbolic link with a long target",
        [&](Pool& p) { ASSERT_TRUE(p.symlink(kPoolRootId, "lnk", target, 0, 0).ok()); },
        outcome({"lnk"}, {{"lnk", {"->" + target}}}, false)));
    ops.push_back(makeOp(
        "make a device node",
        [&](Pool& p) { ASSERT_TRUE(p.mknod(kPoolRootId, "dev", S_IFCHR | 0600, 259, 0, 0).ok()); },
        outcome({"dev"}, {{"dev", {"node " + std::to_string(S_IFCHR | 0600) + " 259"}}}, false)));
    ops.push_back(makeOp(
        "rename a link over an entry",
        [&](Pool& p) { ASSERT_TRUE(p.rename(kPoolRootId, "s", kPoolRootId, "a", 0).ok()); },
        outcome({"s"}, {{"a", {seeded["s"]}}}, false, {seeded["s"]})));
    // A hole: one block written 1000 blocks past the end of "b" (more than the pool holds).
    const std::string far_piece = test::pattern(77, kBlock);
    std::string far = seeded["b"];
    far.resize(1000 * kBlock, '\0');
    far += far_piece;
    ops.push_back(makeOp(
        "write far past the end (a hole)",
        [&](Pool& p) {
            const EntryId id = test::idOf(p, kPoolRootId, "b");
            ASSERT_TRUE(p.open(id, Access::Write).ok());
            ASSERT_TRUE(p.write(id, 1000 * kBlock, far_piece.data(), far_piece.size()).ok());
            p.release(id, Access::Write);
        },
        outcome({"b"}, {{"b", {far}}}, false)));
    const std::string image = "/tmp/kvc-crash-test-" + std::to_string(getpid()) + ".kvs";
    const std::string restored_a = bytes('A', 2), restored_r = bytes('R', 3);
    writeImage(image, {{"a", restored_a}, {"r1", restored_r}});
    ops.push_back(makeOp(
        "restore an image over entries (merge)",
        [&](Pool& p) {
            auto reader = SnapshotReader::open(image);
            ASSERT_TRUE(reader.ok()) << reader.error().message;
            auto report = restoreIntoPool(p, **reader);
            ASSERT_TRUE(report.ok()) << report.error().message;
        },
        outcome({"r1"}, {{"a", {restored_a}}, {"r1", {restored_r}}}, false)));
    int total = 0;
    for (const Op& op : ops) {
        const int points = enumerate(op);
        EXPECT_GT(points, 0) << op.name << " has no durable step";
        std::printf("[ crash    ] %-40s %d crash points\n", op.name.c_str(), points);
        total += points;
    }
    std::printf("[ crash    ] %d crash points enumerated\n", total);
    ::unlink(image.c_str());
}

// Lower tiers that take every removal (the pool keeps a durable tombstone for each only while
// tiers are attached).
class AcceptingTiers final : public LowerTiers {
  public:
    void obsolete(const Removal&) override {}
    void obsoleteTree(const Removal&) override {}
    bool promote(EntryId, std::string_view) override { return false; }
    void written(EntryId) override {}
    void renamed(const std::string&) override {}
};

// Issue 19: a change that makes lower copies obsolete (of names, or a new version committed)
// keeps its tombstone before the change. At every crash point, a removal the reattached segment
// shows as done (the name gone, or holding what the change put there) has its tombstone, so
// that attach tells the tiers again; before, the tombstone was written after the names (after
// the commit, outside the pool's lock, for a rewrite), and a crash between the two lost it.
TEST_F(CrashTest, EveryRemovalThatHappenedKeepsItsTombstone) {
    struct RemovalOp {
        std::string name;
        std::function<void(Pool&)> prepare;  // before the crash points are armed
        std::function<void(Pool&)> run;
        // Whether the reattached pool shows the change done; then these paths (a trailing '/'
        // for a tree) must have kept tombstones.
        std::function<bool(Pool&)> done;
        std::set<std::string> kept;
    };
    auto has = [](Pool& p, const std::string& n) {
        return test::nameSet(p, kPoolRootId).count(n) > 0;
    };
    std::vector<RemovalOp> ops;
    auto nothing = [](Pool&) {};
    ops.push_back({"unlink",
                   nothing,
                   [](Pool& p) { ASSERT_TRUE(p.unlink(kPoolRootId, "a").ok()); },
                   [&](Pool& p) { return !has(p, "a"); },
                   {"a"}});
    ops.push_back(
        {"rename over",
         nothing,
         [](Pool& p) { ASSERT_TRUE(p.rename(kPoolRootId, "b", kPoolRootId, "c", 0).ok()); },
         [&](Pool& p) { return !has(p, "b"); },
         {"b", "c"}});
    ops.push_back({"rmdir",
                   [](Pool& p) { ASSERT_TRUE(p.mkdir(kPoolRootId, "dir", 0755, 0, 0).ok()); },
                   [](Pool& p) { ASSERT_TRUE(p.rmdir(kPoolRootId, "dir").ok()); },
                   [&](Pool& p) { return !has(p, "dir"); },
                   {"dir/"}});
    ops.push_back({"link",
                   nothing,
                   [](Pool& p) {
                       ASSERT_TRUE(p.link(test::idOf(p, kPoolRootId, "d"), kPoolRootId, "e").ok());
                   },
                   [&](Pool& p) { return has(p, "e"); },
                   {"e"}});
    const std::string rewritten = bytes('R', 2);
    ops.push_back({"rewrite in place",
                   nothing,
                   [&](Pool& p) {
                       const EntryId id = test::idOf(p, kPoolRootId, "b");
                       ASSERT_TRUE(p.open(id, Access::Write, Truncate::Yes).ok());
                       ASSERT_TRUE(p.write(id, 0, rewritten.data(), rewritten.size()).ok());
                       p.release(id, Access::Write);
                   },
                   [&](Pool& p) {  // (an entry being written at the crash may be dropped)
                       return has(p, "b") &&
                              test::getEntry(p, test::idOf(p, kPoolRootId, "b")) == rewritten;
                   },
                   {"b"}});
    for (const RemovalOp& op : ops) {
        int points = 0, done = 0;
        for (uint64_t k = 1;; ++k) {
            std::map<std::string, std::string> before;
            auto pool = seed(before);
            AcceptingTiers tiers;
            pool->setLowerTiers(&tiers);
            op.prepare(*pool);
            const SegmentLocation where = pool->location();
            bool crashed = false;
            std::string step = "none: killed right after it returned";
            armCrashAt(k);
            try {
                op.run(*pool);
            } catch (const SimulatedCrash& c) {
                crashed = true;
                step = c.step;
            }
            armCrashAt(0);
            SCOPED_TRACE(op.name + ": crash at step " + std::to_string(k) + " (" + step + ")");
            pool->setLowerTiers(nullptr);
            pool.reset();  // dies: no detach
            auto again = Pool::attach(where);
            EXPECT_TRUE(again.ok()) << again.error().message;
            if (again.ok() && op.done(**again)) {
                ++done;
                std::set<std::string> kept;
                for (const Removal& r : (*again)->takeKeptTombstones())
                    kept.insert(r.tree ? r.path + "/" : r.path);
                for (const std::string& path : op.kept)
                    EXPECT_TRUE(kept.count(path)) << "the removal of " << path << " was lost";
            }
            again = makeError(ENOENT, "done");  // detached before the segment goes
            (void)Segment::remove(where);
            if (!crashed) break;
            ++points;
        }
        EXPECT_GT(done, 0) << op.name << ": never seen done";
        std::printf("[ crash    ] %-40s %d crash points, %d after the change\n", op.name.c_str(),
                    points, done);
    }
}

}  // namespace
}  // namespace kvc
