// Tests of persistence: a pool whose process dies (the Pool object destroyed without detach)
// is reattached by name with every committed entry back byte-identical, with its attributes,
// extended attributes, chain parent, pin, directories and hard links; entries still open for
// writing are gone; a corrupted record is dropped without affecting the others; a clean detach
// keeps the lazily kept access state too; and the reattached pool works (eviction, chains,
// renames, new entries), also with 20k entries.
#include <gtest/gtest.h>

#include "core/clock.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/layout.h"
#include "core/record_codec.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::idOf;
using test::kBlock;
using test::nameSet;
using test::pattern;
using test::putEntry;
using test::sameBytes;

using Names = std::set<std::string>;

// What a user sees of one path: attributes, bytes and extended attributes.
struct Seen {
    uint32_t mode = 0, uid = 0, gid = 0, nlink = 0;
    uint64_t size = 0, blocks512 = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    std::string data;
    std::map<std::string, std::string> xattrs;
    bool operator==(const Seen&) const = default;
};

void PrintTo(const Seen& s, std::ostream* os) {
    *os << "mode " << std::oct << s.mode << std::dec << " uid " << s.uid << " gid " << s.gid
        << " nlink " << s.nlink << " size " << s.size << " mtime " << s.mtime_ns << " ctime "
        << s.ctime_ns << " data " << s.data.size() << "B xattrs {";
    for (const auto& [k, v] : s.xattrs) *os << k << "=" << v.size() << "B ";
    *os << "}";
}

// Everything below `dir`, by path. Access counters and times are left out: they are kept
// lazily and only a clean detach saves them.
void walk(Pool& pool, EntryId dir, const std::string& prefix, std::map<std::string, Seen>& out) {
    uint64_t cookie = 0;
    for (;;) {
        auto batch = pool.readdir(dir, cookie, 100);
        ASSERT_TRUE(batch.ok());
        if (batch->empty()) return;
        cookie = batch->back().cookie;
        for (const DirEntry& d : *batch) {
            const std::string path = prefix + d.name;
            auto attr = pool.getattr(d.id);
            ASSERT_TRUE(attr.ok());
            Seen s{attr->mode,      attr->uid,      attr->gid,      attr->nlink, attr->size,
                   attr->blocks512, attr->mtime_ns, attr->ctime_ns, {},          {}};
            auto names = pool.listxattr(d.id);
            ASSERT_TRUE(names.ok());
            for (const std::string& n : *names) {
                if (n == "user.kvcache.access_count" || n == "user.kvcache.last_access") continue;
                auto v = pool.getxattr(d.id, n);
                ASSERT_TRUE(v.ok()) << path << " " << n;
                s.xattrs[n] = *v;
            }
            if ((attr->mode & 0170000) == 0040000) {
                out[path] = s;
                walk(pool, d.id, path + "/", out);
            } else {
                s.data = getEntry(pool, d.id);
                out[path] = s;
            }
        }
    }
}

std::map<std::string, Seen> snapshot(Pool& pool) {
    std::map<std::string, Seen> out;
    walk(pool, kPoolRootId, "", out);
    return out;
}

// Every path seen before is there after, with the same attributes, bytes and xattrs.
void expectSameEntries(const std::map<std::string, Seen>& before,
                       const std::map<std::string, Seen>& after) {
    for (const auto& [path, seen] : before) {
        auto it = after.find(path);
        if (it == after.end())
            ADD_FAILURE() << path << " is missing";
        else
            EXPECT_EQ(it->second, seen) << path;
    }
}

class Persistence : public test::PoolFixture {
  protected:
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }

    void create(uint64_t blocks, std::string policy = "lru") {
        pool_ = makePool(blocks, std::move(policy));
        ASSERT_NE(pool_, nullptr);
        where_ = p().location();
    }
    // The process dies: the Pool goes away without detach. Then a new one attaches.
    void crashAndReattach() {
        pool_.reset();
        auto again = Pool::attach(where_);
        ASSERT_TRUE(again.ok()) << again.error().message;
        pool_ = std::move(*again);
    }

    std::unique_ptr<Pool> pool_;
    SegmentLocation where_;
};

// A pool with a bit of everything. Returns the id of an entry left open for writing.
EntryId populate(Pool& p) {
    const EntryId a = putEntry(p, kPoolRootId, "a", pattern(1, 10000));
    EXPECT_TRUE(p.setxattr(a, "user.note", std::string("hi\0there", 8), 0).ok());
    EXPECT_TRUE(p.setxattr(a, "user.kvcache.priority", "7", 0).ok());
    EXPECT_TRUE(p.setxattr(a, "user.kvcache.layer", "3", 0).ok());
    EXPECT_TRUE(p.setxattr(a, "user.kvcache.seq_len", "128", 0).ok());
    const EntryId b = putEntry(p, kPoolRootId, "b", pattern(2, 3 * kBlock));
    EXPECT_TRUE(p.setxattr(b, "user.kvcache.parent", "a", 0).ok());
    EXPECT_TRUE(p.setxattr(b, "user.kvcache.pinned", "1", 0).ok());
    const EntryId c = putEntry(p, kPoolRootId, "c", pattern(3, 100));
    EXPECT_TRUE(p.setxattr(c, "user.big", pattern(4, 20000), 0).ok());  // in blocks of its own
    putEntry(p, kPoolRootId, "empty", "");
    // Many extents: written in pieces, interleaved with another entry.
    const EntryId frag = p.create(kPoolRootId, "frag", 0600, 5, 6, IfExists::Fail)->id;
    const EntryId other = p.create(kPoolRootId, "other", 0644, 0, 0, IfExists::Fail)->id;
    const std::string fdata = pattern(5, 12 * kBlock), odata = pattern(6, 12 * kBlock);
    for (uint64_t i = 0; i < 12; ++i) {
        EXPECT_TRUE(p.write(frag, i * kBlock, fdata.data() + i * kBlock, kBlock).ok());
        EXPECT_TRUE(p.write(other, i * kBlock, odata.data() + i * kBlock, kBlock).ok());
    }
    p.release(frag, Access::Write);
    p.release(other, Access::Write);

    auto d = p.mkdir(kPoolRootId, "d", 0750, 11, 12);
    EXPECT_TRUE(d.ok());
    auto e = p.mkdir(d->id, "e", 0700, 0, 0);
    EXPECT_TRUE(e.ok());
    const EntryId f = putEntry(p, e->id, "f", pattern(7, 5000));
    EXPECT_TRUE(p.setxattr(f, "user.kvcache.parent", "d/e/g", 0).ok());
    putEntry(p, e->id, "g", pattern(8, 10));
    EXPECT_TRUE(p.link(a, d->id, "link-to-a").ok());
    EXPECT_TRUE(p.setxattr(d->id, "user.dir-note", "x", 0).ok());

    AttrChange chmod;
    chmod.mode = 0400;
    chmod.uid = 1000;
    chmod.mtime_ns = 1'700'000'000'123'456'789;
    EXPECT_TRUE(p.setattr(c, chmod).ok());
    EXPECT_TRUE(p.rename(kPoolRootId, "empty", kPoolRootId, "renamed-empty", 0).ok());

    // Committed, then opened for writing but not changed: stays.
    EXPECT_TRUE(p.open(a, Access::Write).ok());
    // Removed entries stay removed, also one still open at the crash.
    putEntry(p, kPoolRootId, "gone", "x");
    EXPECT_TRUE(p.unlink(kPoolRootId, "gone").ok());
    const EntryId gone_open = putEntry(p, kPoolRootId, "gone-open", "x");
    EXPECT_TRUE(p.open(gone_open, Access::Read).ok());
    EXPECT_TRUE(p.unlink(kPoolRootId, "gone-open").ok());

    // Being written at the crash: must not come back.
    auto w = p.create(kPoolRootId, "writing", 0644, 0, 0, IfExists::Fail);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE(p.write(w->id, 0, "partial", 7).ok());
    return w->id;
}

TEST_F(Persistence, CrashKeepsEverythingCommitted) {
    create(256);
    const EntryId writing = populate(p());
    auto before = snapshot(p());
    ASSERT_EQ(before.erase("writing"), 1u);
    const auto stats_before = p().stats();
    const uint64_t writing_blocks = p().getattr(writing)->blocks512 / (kBlock / 512);

    crashAndReattach();
    p().verify();
    auto after = snapshot(p());
    EXPECT_EQ(after.size(), before.size());
    expectSameEntries(before, after);
    EXPECT_EQ(after.count("writing"), 0u);
    EXPECT_EQ(after.count("gone"), 0u);
    EXPECT_EQ(after.count("gone-open"), 0u);
    EXPECT_EQ(after.at("a").nlink, 2u);
    EXPECT_EQ(after.at("b").xattrs.at("user.kvcache.pinned"), "1");
    EXPECT_EQ(after.at("b").xattrs.at("user.kvcache.parent"), "a");
    EXPECT_TRUE(sameBytes(after.at("c").xattrs.at("user.big"), pattern(4, 20000)));
    EXPECT_EQ(after.at("c").mode, 0100400u);
    EXPECT_EQ(after.at("d").uid, 11u);

    const auto s = p().stats();
    EXPECT_EQ(s.name, "testpool");
    EXPECT_EQ(s.policy, "lru");
    EXPECT_EQ(s.capacity_bytes, stats_before.capacity_bytes);
    EXPECT_EQ(s.entries, stats_before.entries - 1);  // "writing"
    EXPECT_EQ(s.directories, stats_before.directories);
    EXPECT_EQ(s.pinned_bytes, 3u * kBlock);
    EXPECT_EQ(s.open_entries, 0u);
    EXPECT_EQ(s.blocks_used, stats_before.blocks_used - writing_blocks - 1);
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 3u);
    EXPECT_EQ(p().getattr(idOf(p(), kPoolRootId, "d"))->nlink, 3u);
}

TEST_F(Persistence, CleanDetachKeepsEverythingCommitted) {
    create(256);
    populate(p());
    auto before = snapshot(p());
    ASSERT_EQ(before.erase("writing"), 1u);  // detach does not commit an unfinished entry
    p().detach();
    crashAndReattach();
    p().verify();
    auto after = snapshot(p());
    EXPECT_EQ(after.size(), before.size());
    expectSameEntries(before, after);
}

// An entry's version is in its record: it survives a crash, and what the pool commits after the
// attach is later, whatever the clock does (versions order copies in the lower tiers).
TEST_F(Persistence, VersionsSurviveACrashAndLaterCommitsAreNewer) {
    create(64);
    EntryImage img;
    img.path = "ahead";
    img.data = "bytes";
    img.version = Version{static_cast<uint64_t>(nowNs()) + uint64_t{600} * 1000000000, 7};
    ASSERT_TRUE(p().importEntry(img).ok());  // a copy from a clock ten minutes ahead
    putEntry(p(), kPoolRootId, "mine", "x");
    Version mine;
    ASSERT_TRUE(p().entryPath(idOf(p(), kPoolRootId, "mine"), &mine).ok());
    crashAndReattach();
    Version v;
    ASSERT_TRUE(p().entryPath(idOf(p(), kPoolRootId, "ahead"), &v).ok());
    EXPECT_EQ(v, img.version);
    ASSERT_TRUE(p().entryPath(idOf(p(), kPoolRootId, "mine"), &v).ok());
    EXPECT_EQ(v, mine);
    putEntry(p(), kPoolRootId, "after", "y");
    ASSERT_TRUE(p().entryPath(idOf(p(), kPoolRootId, "after"), &v).ok());
    EXPECT_GT(v.hlc, img.version.hlc) << "the reattached pool's clock went back";
}

TEST_F(Persistence, ReattachedPoolWorks) {
    create(64);
    for (int i = 0; i < 8; ++i)
        putEntry(p(), kPoolRootId, "blk-" + std::to_string(i), pattern(i, 8 * kBlock));
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    crashAndReattach();
    p().verify();

    // Eviction removes names (the index knows where each entry's names are).
    auto r = p().evictPercent(25);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->entries, 2u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).size(), 7u);  // six entries and d
    p().verify();
    // A write into the full pool evicts by policy.
    ASSERT_NE(putEntry(p(), kPoolRootId, "new", pattern(99, 24 * kBlock)), 0u);
    EXPECT_EQ(nameSet(p(), kPoolRootId).size(), 7u);  // one more went: five, d and new
    EXPECT_EQ(p().stats().counters.evictions, 3u);
    // Rename and unlink of entries that came back.
    const std::string first = *nameSet(p(), kPoolRootId).begin();  // a blk-N
    const EntryId moved = idOf(p(), kPoolRootId, first);
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().rename(kPoolRootId, first, d, "moved", 0).ok());
    EXPECT_EQ(idOf(p(), d, "moved"), moved);
    ASSERT_TRUE(p().unlink(d, "moved").ok());
    EXPECT_EQ(p().rmdir(kPoolRootId, "d").code(), 0);
    p().verify();

    // And once more after a second crash.
    crashAndReattach();
    EXPECT_EQ(nameSet(p(), kPoolRootId).size(), 5u);
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "new")), pattern(99, 24 * kBlock)));
    p().verify();
}

TEST_F(Persistence, ChainsSurviveAndStillEvictLeavesFirst) {
    create(64);
    ASSERT_TRUE(p().mkdir(kPoolRootId, "m", 0755, 0, 0).ok());
    const EntryId m = idOf(p(), kPoolRootId, "m");
    const EntryId a = putEntry(p(), m, "a", "A");
    const EntryId b = putEntry(p(), m, "b", "B");
    const EntryId c = putEntry(p(), kPoolRootId, "c", "C");
    ASSERT_TRUE(p().setxattr(b, "user.kvcache.parent", "m/a", 0).ok());
    ASSERT_TRUE(p().setxattr(c, "user.kvcache.parent", "m/b", 0).ok());
    (void)a;
    crashAndReattach();
    p().verify();
    for (const auto& [left_root, left_m] :
         {std::pair{Names{"m"}, Names{"a", "b"}}, std::pair{Names{"m"}, Names{"a"}},
          std::pair{Names{"m"}, Names{}}}) {
        auto r = p().evictPercent(1);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(r->entries, 1u);
        EXPECT_EQ(nameSet(p(), kPoolRootId), left_root);
        EXPECT_EQ(nameSet(p(), m), left_m);
        p().verify();
    }
}

TEST_F(Persistence, CorruptInodeRecordIsDroppedAlone) {
    create(64);
    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, 2 * kBlock));
    const EntryId b = putEntry(p(), kPoolRootId, "b", pattern(2, 3 * kBlock));
    const EntryId c = putEntry(p(), kPoolRootId, "c", pattern(3, 4 * kBlock));
    ASSERT_TRUE(p().link(b, kPoolRootId, "b2").ok());
    (void)a;
    (void)c;
    // A torn or stray write in b's record.
    InodeRecord& rec = p().segment().inodeRecord(b - kFirstEntryId);
    reinterpret_cast<unsigned char*>(&rec)[offsetof(InodeRecord, size)] ^= 0x40;
    crashAndReattach();
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"a", "c"}));
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "a")), pattern(1, 2 * kBlock)));
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "c")), pattern(3, 4 * kBlock)));
    EXPECT_EQ(p().stats().blocks_used, 6u);  // b's blocks are free again
    p().verify();
    // Its name can be used again, and its blocks hold zeros.
    const EntryId nb = p().create(kPoolRootId, "b", 0644, 0, 0, IfExists::Fail)->id;
    ASSERT_TRUE(p().write(nb, 58 * kBlock - 1, "z", 1).ok());
    p().release(nb, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(p(), nb), std::string(58 * kBlock - 1, '\0') + "z"));
    p().verify();
}

TEST_F(Persistence, CorruptDirentOrDirectoryDropsOnlyWhatHangsBelow) {
    create(64);
    putEntry(p(), kPoolRootId, "keep", "K");
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    putEntry(p(), d, "inside", pattern(1, 2 * kBlock));
    putEntry(p(), kPoolRootId, "named", pattern(2, kBlock));
    // The dirent slot of "named" is its readdir cookie minus one.
    auto list = p().readdir(kPoolRootId, 0, 10);
    ASSERT_TRUE(list.ok());
    uint64_t named_slot = UINT64_MAX;
    for (const DirEntry& e : *list)
        if (e.name == "named") named_slot = e.cookie - 1;
    ASSERT_NE(named_slot, UINT64_MAX);
    p().segment().direntRecord(named_slot).name[0] ^= 1;
    // The directory's own record.
    reinterpret_cast<unsigned char*>(&p().segment().inodeRecord(d - kFirstEntryId))[20] ^= 1;
    crashAndReattach();
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"keep"}));
    EXPECT_EQ(p().stats().blocks_used, 1u);
    EXPECT_EQ(p().stats().directories, 0u);
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 2u);
    p().verify();
}

TEST_F(Persistence, CleanDetachKeepsAccessStateToo) {
    create(64);
    const EntryId a = putEntry(p(), kPoolRootId, "a", "A");
    const EntryId b = putEntry(p(), kPoolRootId, "b", "B");
    auto before = snapshot(p());  // reads each once
    for (int i = 0; i < 3; ++i) (void)getEntry(p(), a);
    EXPECT_EQ(*p().getxattr(a, "user.kvcache.access_count"), "4");
    EXPECT_EQ(*p().getxattr(b, "user.kvcache.access_count"), "1");
    p().detach();
    EXPECT_EQ(p().segment().super().clean, 1u);
    pool_.reset();

    auto again = Pool::attach(where_);
    ASSERT_TRUE(again.ok()) << again.error().message;
    pool_ = std::move(*again);
    EXPECT_EQ(p().segment().super().clean, 0u);
    EXPECT_EQ(*p().getxattr(idOf(p(), kPoolRootId, "a"), "user.kvcache.access_count"), "4");
    EXPECT_EQ(*p().getxattr(idOf(p(), kPoolRootId, "b"), "user.kvcache.access_count"), "1");
    // LRU order survived: "b" was read less recently, so it goes first.
    EXPECT_EQ(p().evictPercent(50)->entries, 1u);
    EXPECT_EQ(nameSet(p(), kPoolRootId), (Names{"a"}));
    before.erase("b");
    EXPECT_EQ(snapshot(p()), before);
    p().verify();
}

TEST_F(Persistence, LargeAttributesStayCommittedInAFullPool) {
    create(64);
    const EntryId x = putEntry(p(), kPoolRootId, "x", "data");
    const std::string big = pattern(4, 10000);  // kept in blocks of its own
    ASSERT_TRUE(p().setxattr(x, "user.big", big, 0).ok());
    for (int i = 0; i < 6; ++i) {
        const EntryId y =
            putEntry(p(), kPoolRootId, "y" + std::to_string(i), pattern(i, 10 * kBlock));
        ASSERT_TRUE(p().setxattr(y, "user.kvcache.pinned", "1", 0).ok());
    }
    ASSERT_EQ(p().stats().free_bytes, 0u);
    // Metadata changes that do not touch the attributes need no new blocks.
    ASSERT_TRUE(p().setxattr(x, "user.kvcache.pinned", "1", 0).ok());
    ASSERT_TRUE(p().setxattr(x, "user.kvcache.priority", "3", 0).ok());
    ASSERT_TRUE(p().rename(kPoolRootId, "x", kPoolRootId, "x2", 0).ok());
    crashAndReattach();
    const EntryId nx = idOf(p(), kPoolRootId, "x2");
    ASSERT_NE(nx, 0u);
    EXPECT_EQ(getEntry(p(), nx), "data");
    EXPECT_TRUE(sameBytes(*p().getxattr(nx, "user.big"), big));
    EXPECT_EQ(*p().getxattr(nx, "user.kvcache.priority"), "3");
    EXPECT_EQ(p().stats().free_bytes, 0u);
    p().verify();
}

// Metadata changes that do need new blocks (a chain parent, a removed attribute, a loop a rename
// closes) and find none: each fails with ENOSPC and changes nothing, or is stored. Never does it
// leave a committed entry uncommitted, to vanish at the next attach.
TEST_F(Persistence, AttributeChangesWithoutRoomNeverUncommitTheEntry) {
    create(64);
    const std::string big = pattern(4, 10000);  // kept in blocks of its own
    const EntryId x = putEntry(p(), kPoolRootId, "x", "data");
    const EntryId y = putEntry(p(), kPoolRootId, "y", "why");
    for (EntryId id : {x, y}) {
        ASSERT_TRUE(p().setxattr(id, "user.big", big, 0).ok());
        ASSERT_TRUE(p().setxattr(id, "user.small", "s", 0).ok());
        ASSERT_TRUE(p().setxattr(id, "user.kvcache.pinned", "1", 0).ok());
    }
    ASSERT_TRUE(p().setxattr(x, "user.kvcache.parent", "z", 0).ok());
    ASSERT_TRUE(p().setxattr(y, "user.kvcache.parent", "x", 0).ok());
    const EntryId fill = putEntry(p(), kPoolRootId, "fill", pattern(5, p().stats().free_bytes));
    ASSERT_TRUE(p().setxattr(fill, "user.kvcache.pinned", "1", 0).ok());
    ASSERT_EQ(p().stats().free_bytes, 0u);

    EXPECT_EQ(p().setxattr(x, "user.kvcache.parent", std::string(200, 'p'), 0).code(), ENOSPC);
    EXPECT_EQ(*p().getxattr(x, "user.kvcache.parent"), "z");
    EXPECT_EQ(p().removexattr(x, "user.small").code(), ENOSPC);
    EXPECT_EQ(*p().getxattr(x, "user.small"), "s");
    // y becomes z, and x -> z -> x is a loop: the pool drops the closing parent.
    ASSERT_TRUE(p().rename(kPoolRootId, "y", kPoolRootId, "z", 0).ok());
    for (EntryId id : {x, y}) EXPECT_EQ(*p().getxattr(id, "user.kvcache.committed"), "1");
    p().verify();

    crashAndReattach();
    const EntryId nx = idOf(p(), kPoolRootId, "x");
    const EntryId nz = idOf(p(), kPoolRootId, "z");
    ASSERT_NE(nx, 0u);
    ASSERT_NE(nz, 0u);
    EXPECT_EQ(getEntry(p(), nx), "data");
    EXPECT_EQ(getEntry(p(), nz), "why");
    EXPECT_EQ(*p().getxattr(nx, "user.small"), "s");
    EXPECT_TRUE(sameBytes(*p().getxattr(nz, "user.big"), big));
    // The loop is broken again at attach: one of the two has no parent.
    EXPECT_TRUE(p().getxattr(nx, "user.kvcache.parent").code() == ENODATA ||
                p().getxattr(nz, "user.kvcache.parent").code() == ENODATA);
    p().verify();
}

TEST_F(Persistence, TruncatingOpenForReadingLeavesTheEntryCommitted) {
    create(64);
    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, 3 * kBlock));
    ASSERT_TRUE(p().open(a, Access::Read, Truncate::Yes).ok());  // O_RDONLY | O_TRUNC
    EXPECT_EQ(p().getattr(a)->size, 0u);
    p().release(a, Access::Read);
    EXPECT_EQ(*p().getxattr(a, "user.kvcache.committed"), "1");
    EXPECT_EQ(p().match(kPoolRootId, {"a"})->leading, 1u);
    EXPECT_EQ(p().evictPercent(100)->entries, 1u);  // a candidate like any complete entry
    const EntryId b = putEntry(p(), kPoolRootId, "b", pattern(2, 3 * kBlock));
    ASSERT_TRUE(p().open(b, Access::Read, Truncate::Yes).ok());
    p().release(b, Access::Read);
    crashAndReattach();
    const EntryId nb = idOf(p(), kPoolRootId, "b");
    ASSERT_NE(nb, 0u);
    EXPECT_EQ(p().getattr(nb)->size, 0u);
    EXPECT_EQ(p().stats().blocks_used, 0u);
    p().verify();
}

TEST_F(Persistence, GenerationsDoNotRepeatAcrossAttach) {
    create(64);
    auto first = p().create(kPoolRootId, "x", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(first.ok());
    p().release(first->id, Access::Write);
    ASSERT_TRUE(p().unlink(kPoolRootId, "x").ok());
    p().forget(first->id, 1);
    crashAndReattach();
    // The slot (and so the id) is reused; the generation must tell them apart.
    auto second = p().create(kPoolRootId, "y", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(second.ok());
    p().release(second->id, Access::Write);
    ASSERT_EQ(second->id, first->id);
    EXPECT_NE(second->generation, first->generation);
}

TEST_F(Persistence, ResizedPoolReattachesAtItsNewSize) {
    create(64);
    std::vector<EntryId> ids;
    for (int i = 0; i < 5; ++i)  // blk-i at blocks [4i, 4i+4)
        ids.push_back(
            putEntry(p(), kPoolRootId, "blk-" + std::to_string(i), pattern(i, 4 * kBlock)));
    const std::string big = pattern(7, 10000);
    ASSERT_TRUE(p().setxattr(ids[1], "user.big", big, 0).ok());  // blocks [20, 23)
    ASSERT_TRUE(p().unlink(kPoolRootId, "blk-0").ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, "blk-2").ok());
    // 15 blocks in use; blk-4 and blk-1's attribute blocks lie past the new end and move.
    ASSERT_TRUE(p().resize(16 * kBlock).ok());
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    p().verify();
    crashAndReattach();
    EXPECT_EQ(p().capacityBytes(), 16u * kBlock);
    for (int i : {1, 3, 4}) {
        const std::string name = "blk-" + std::to_string(i);
        EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, name)), pattern(i, 4 * kBlock)))
            << name;
    }
    EXPECT_TRUE(sameBytes(*p().getxattr(idOf(p(), kPoolRootId, "blk-1"), "user.big"), big));
    EXPECT_EQ(p().stats().blocks_used, 15u);
    p().verify();
    ASSERT_TRUE(p().resize(128 * kBlock).ok());
    crashAndReattach();
    EXPECT_EQ(p().capacityBytes(), 128u * kBlock);
    ASSERT_NE(putEntry(p(), kPoolRootId, "big", pattern(9, 110 * kBlock)), 0u);
    EXPECT_EQ(p().stats().counters.evictions, 0u);
    p().verify();
}

TEST_F(Persistence, AttachRefusesWhatIsNotAPool) {
    EXPECT_EQ(Pool::attach(SegmentLocation{test::uniqueSegmentName(), ""}).code(), ENOENT);
    create(16);
    p().segment().updateSuper(
        [](Superblock& sb) { std::snprintf(sb.policy, sizeof sb.policy, "%s", "bogus"); });
    pool_.reset();
    auto again = Pool::attach(where_);
    EXPECT_EQ(again.code(), EINVAL);
    EXPECT_NE(again.error().message.find("bogus"), std::string::npos) << again.error().message;
}

TEST_F(Persistence, ManyEntriesReattach) {
    constexpr int kEntries = 20000;
    create(kEntries + 64);
    ASSERT_TRUE(p().mkdir(kPoolRootId, "half", 0755, 0, 0).ok());
    const EntryId half = idOf(p(), kPoolRootId, "half");
    for (int i = 0; i < kEntries; ++i) {
        const std::string name = "blk-" + std::to_string(i);
        ASSERT_NE(putEntry(p(), i % 2 ? half : kPoolRootId, name, name + pattern(i, 40)), 0u);
    }
    crashAndReattach();
    auto s = p().stats();
    EXPECT_EQ(s.entries, static_cast<uint64_t>(kEntries));
    EXPECT_EQ(s.directories, 1u);
    EXPECT_EQ(s.blocks_used, static_cast<uint64_t>(kEntries));
    EXPECT_EQ(test::listNames(p(), half).size(), static_cast<size_t>(kEntries / 2));
    for (int i = 0; i < kEntries; i += 997) {
        const std::string name = "blk-" + std::to_string(i);
        const EntryId id = idOf(p(), i % 2 ? half : kPoolRootId, name);
        ASSERT_NE(id, 0u) << name;
        EXPECT_TRUE(sameBytes(getEntry(p(), id), name + pattern(i, 40)));
    }
    p().verify();
}

}  // namespace
}  // namespace kvc

namespace kvc {
namespace {

// Flips one byte of the block that holds `needle` in the segment's data region (what a stray
// writer of /dev/shm, or a bad memory page, would do).
bool corruptBytes(Pool& p, std::string_view needle) {
    Segment& seg = p.segment();
    const char* base = seg.blockAddress(0);
    const size_t len = seg.blockCount() * seg.blockSize();
    const void* at = memmem(base, len, needle.data(), needle.size());
    if (!at) return false;
    char* c = const_cast<char*>(static_cast<const char*>(at)) + needle.size() / 2;
    *c = static_cast<char>(~*c);
    return true;
}

// Every committed entry carries a checksum of its bytes: after a crash, an entry whose bytes no
// longer match is dropped (a miss, counted), the others come back untouched.
TEST_F(Persistence, AfterACrashEntriesThatFailTheirChecksumAreDropped) {
    create(64);
    const std::string good = pattern(71, 3 * kBlock + 5), bad = pattern(72, 2 * kBlock);
    putEntry(p(), kPoolRootId, "good", good);
    putEntry(p(), kPoolRootId, "bad", bad);
    ASSERT_TRUE(corruptBytes(p(), std::string_view(bad).substr(kBlock, 64)));
    crashAndReattach();
    p().verify();
    EXPECT_EQ(nameSet(p(), kPoolRootId), std::set<std::string>{"good"});
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "good")), good));
    EXPECT_EQ(p().stats().counters.checksum_failures, 1u);
}

// With verify_reads, a damaged entry is dropped at its next open for reading: ENOENT, never the
// wrong bytes. Without it, the bytes are served as they are (the check costs a pass over them).
TEST_F(Persistence, VerifyReadsDropsADamagedEntryAtOpen) {
    create(64);
    const std::string bytes = pattern(73, 5 * kBlock);
    const EntryId id = putEntry(p(), kPoolRootId, "e", bytes);
    p().setVerifyReads(true);
    EXPECT_TRUE(sameBytes(getEntry(p(), id), bytes));  // intact: served
    ASSERT_TRUE(corruptBytes(p(), std::string_view(bytes).substr(3 * kBlock, 64)));
    EXPECT_EQ(p().open(id, Access::Read).code(), ENOENT);
    EXPECT_EQ(ENOENT, p().lookup(kPoolRootId, "e").code());
    const auto s = p().stats();
    EXPECT_EQ(s.counters.checksum_failures, 1u);
    EXPECT_EQ(s.entries, 0u);
    p().verify();
}

// A clean detach keeps the checksums: a clean reattach trusts them without a pass over the data,
// and a rewrite commits a new one.
TEST_F(Persistence, ChecksumsFollowEveryCommit) {
    create(64);
    const EntryId id = putEntry(p(), kPoolRootId, "e", pattern(74, 9000));
    ASSERT_TRUE(p().open(id, Access::Write, Truncate::Yes).ok());
    const std::string v2 = pattern(75, 3000);
    ASSERT_TRUE(p().write(id, 0, v2.data(), v2.size()).ok());
    ASSERT_TRUE(p().flush(id).ok());
    p().release(id, Access::Write);
    crashAndReattach();
    EXPECT_EQ(p().stats().counters.checksum_failures, 0u);
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "e")), v2));
}

}  // namespace
}  // namespace kvc
