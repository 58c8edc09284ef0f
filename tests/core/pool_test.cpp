// Tests of a Pool's namespace, data path and extended attributes, as a user of the filesystem
// would check them: bytes read back, holes and truncation reading zeros, unlink of an open
// entry, rename (replace, RENAME_NOREPLACE, RENAME_EXCHANGE), hard links, directories, readdir
// stability, name rules, user.kvcache.* and user.* attributes, errno values and `.stats` fields.
// Eviction, persistence and concurrency have their own files.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/stats.h"
#include "core/xattr_limits.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::idOf;
using test::kBlock;
using test::listNames;
using test::nameSet;
using test::pattern;
using test::putEntry;
using test::sameBytes;

class PoolBasics : public test::PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        pool_ = makePool(256);  // 1 MiB
        ASSERT_NE(pool_, nullptr);
    }
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }

    // Creates an entry and leaves it open for writing.
    EntryId openNew(std::string_view name, EntryId dir = kPoolRootId) {
        auto attr = p().create(dir, name, 0644, 0, 0, IfExists::Fail);
        EXPECT_TRUE(attr.ok()) << (attr.ok() ? "" : attr.error().message);
        return attr.ok() ? attr->id : 0;
    }
    std::string readAt(EntryId id, uint64_t off, size_t len) {
        std::string out(len, '\x55');
        EXPECT_TRUE(p().open(id, Access::Read).ok());
        auto n = p().read(id, off, out.data(), len);
        p().release(id, Access::Read);
        EXPECT_TRUE(n.ok());
        out.resize(n.ok() ? *n : 0);
        return out;
    }
    Status truncateTo(EntryId id, uint64_t size) {
        AttrChange c;
        c.size = size;
        auto r = p().setattr(id, c);
        if (!r) return r.error();
        EXPECT_EQ(r->size, size);
        return {};
    }
    uint64_t sizeOf(EntryId id) { return p().getattr(id)->size; }

    std::unique_ptr<Pool> pool_;
};

// ---------------------------------------------------------------------------------------------
// Data

TEST_F(PoolBasics, CreateWriteReadBack) {
    const EntryId id = openNew("blk-00af");
    ASSERT_NE(id, 0u);
    auto attr = p().getattr(id);
    ASSERT_TRUE(attr.ok());
    EXPECT_EQ(attr->mode, 0100644u);
    EXPECT_EQ(attr->nlink, 1u);
    EXPECT_EQ(attr->size, 0u);
    EXPECT_EQ(attr->blksize, kBlock);

    const std::string data = pattern(7, 10000);
    auto n = p().write(id, 0, data.data(), data.size());
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, data.size());
    const std::string patch = "PATCHED";
    ASSERT_TRUE(p().write(id, 4090, patch.data(), patch.size()).ok());  // across a block edge
    p().release(id, Access::Write);

    std::string expect = data;
    expect.replace(4090, patch.size(), patch);
    EXPECT_TRUE(sameBytes(getEntry(p(), id), expect));
    EXPECT_TRUE(sameBytes(readAt(id, 4000, 200), expect.substr(4000, 200)));
    EXPECT_TRUE(sameBytes(readAt(id, 9990, 100), expect.substr(9990)));  // short at EOF
    EXPECT_TRUE(sameBytes(readAt(id, 10000, 10), ""));
    EXPECT_TRUE(sameBytes(readAt(id, 1u << 30, 10), ""));

    attr = p().getattr(id);
    EXPECT_EQ(attr->size, 10000u);
    EXPECT_EQ(attr->blocks512, 3u * kBlock / 512);
    auto looked = p().lookup(kPoolRootId, "blk-00af");
    ASSERT_TRUE(looked.ok());
    EXPECT_EQ(looked->id, id);
    EXPECT_EQ(looked->size, 10000u);
    p().verify();
}

// A front end that gives back more references than it took has a bug: the pool says so (and
// verify() fails) instead of clamping silently.
TEST_F(PoolBasics, ForgettingMoreThanWasLookedUpIsAnInvariantViolation) {
    const EntryId id = putEntry(p(), kPoolRootId, "a", "x");  // the create's reference
    ASSERT_TRUE(p().lookup(kPoolRootId, "a").ok());
    EXPECT_TRUE(p().forget(id, 2));
    EXPECT_NO_THROW(p().verify());
    EXPECT_FALSE(p().forget(id, 1));
    EXPECT_THROW(p().verify(), std::logic_error);
}

TEST_F(PoolBasics, ReadPlanPointsIntoTheSegment) {
    const std::string data = pattern(3, 3 * kBlock);
    const EntryId id = putEntry(p(), kPoolRootId, "blk", data);
    ASSERT_TRUE(p().open(id, Access::Read).ok());
    {
        auto plan = p().planRead(id, 100, 2 * kBlock);
        ASSERT_TRUE(plan.ok());
        EXPECT_EQ(plan->total, 2u * kBlock);
        std::string got;
        for (const auto& piece : plan->pieces) {
            ASSERT_NE(piece.address, nullptr);
            // The same bytes by file offset (for splice) and by address (for copying).
            const char* base = p().segment().blockAddress(0) - p().segment().dataOffset();
            EXPECT_EQ(piece.file_offset, static_cast<uint64_t>(piece.address - base));
            got.append(piece.address, piece.len);
        }
        EXPECT_TRUE(sameBytes(got, data.substr(100, 2 * kBlock)));
    }
    p().release(id, Access::Read);
}

TEST_F(PoolBasics, CreateExistingOpensItAndTruncatesOnRequest) {
    const EntryId id = putEntry(p(), kPoolRootId, "blk", pattern(1, 5000));
    auto again = p().create(kPoolRootId, "blk", 0600, 0, 0, IfExists::Fail);
    EXPECT_EQ(again.code(), EEXIST);

    auto opened = p().create(kPoolRootId, "blk", 0600, 0, 0, IfExists::Open);
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(opened->id, id);
    EXPECT_EQ(opened->size, 5000u);
    EXPECT_EQ(opened->mode, 0100644u);  // the existing mode, not the new one
    p().release(id, Access::Write);
    EXPECT_TRUE(sameBytes(getEntry(p(), id), pattern(1, 5000)));

    auto truncated = p().create(kPoolRootId, "blk", 0600, 0, 0, IfExists::Truncate);
    ASSERT_TRUE(truncated.ok());
    EXPECT_EQ(truncated->size, 0u);
    EXPECT_EQ(truncated->blocks512, 0u);
    p().release(id, Access::Write);
    EXPECT_EQ(p().stats().blocks_used, 0u);

    ASSERT_TRUE(p().mkdir(kPoolRootId, "dir", 0755, 0, 0).ok());
    EXPECT_EQ(p().create(kPoolRootId, "dir", 0644, 0, 0, IfExists::Open).code(), EISDIR);
    p().verify();
}

TEST_F(PoolBasics, WriteAfterEofLeavesAHoleOfZeros) {
    const EntryId id = openNew("sparse");
    ASSERT_TRUE(p().write(id, 10000, "abc", 3).ok());
    EXPECT_EQ(sizeOf(id), 10003u);
    p().release(id, Access::Write);
    EXPECT_TRUE(sameBytes(readAt(id, 0, 10000), std::string(10000, '\0')));
    EXPECT_TRUE(sameBytes(readAt(id, 10000, 3), "abc"));

    // Truncating up extends with zeros too.
    ASSERT_TRUE(truncateTo(id, 20000).ok());
    EXPECT_TRUE(sameBytes(readAt(id, 10003, 20000), std::string(9997, '\0')));
    EXPECT_TRUE(sameBytes(readAt(id, 9999, 5), std::string("\0abc\0", 5)));
    p().verify();
}

TEST_F(PoolBasics, TruncateDownThenUpReadsZerosInTheTail) {
    const std::string data = pattern(9, 10000);
    const EntryId id = putEntry(p(), kPoolRootId, "blk", data);
    const uint64_t used_before = p().stats().blocks_used;

    ASSERT_TRUE(truncateTo(id, 5000).ok());
    EXPECT_EQ(p().getattr(id)->blocks512, 2u * kBlock / 512);
    EXPECT_EQ(p().stats().blocks_used, used_before - 1);
    ASSERT_TRUE(truncateTo(id, 12000).ok());
    EXPECT_TRUE(sameBytes(readAt(id, 0, 5000), data.substr(0, 5000)));
    EXPECT_TRUE(sameBytes(readAt(id, 5000, 7000), std::string(7000, '\0')));

    // On a block boundary, and down to nothing.
    ASSERT_TRUE(truncateTo(id, kBlock).ok());
    ASSERT_TRUE(truncateTo(id, 3 * kBlock).ok());
    EXPECT_TRUE(sameBytes(readAt(id, 0, kBlock), data.substr(0, kBlock)));
    EXPECT_TRUE(sameBytes(readAt(id, kBlock, 2 * kBlock), std::string(2 * kBlock, '\0')));
    ASSERT_TRUE(truncateTo(id, 0).ok());
    EXPECT_EQ(p().getattr(id)->blocks512, 0u);
    ASSERT_TRUE(truncateTo(id, 100).ok());
    EXPECT_TRUE(sameBytes(readAt(id, 0, 100), std::string(100, '\0')));

    // Errors: a directory, a size past the largest (a size larger than the pool is a hole).
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    AttrChange c;
    c.size = 10;
    EXPECT_EQ(p().setattr(idOf(p(), kPoolRootId, "d"), c).code(), EISDIR);
    EXPECT_EQ(truncateTo(id, kMaxEntryBytes + 1).code(), EFBIG);
    EXPECT_EQ(sizeOf(id), 100u);
    p().verify();
}

TEST_F(PoolBasics, AllocateGrowsWithBackedZerosAndNeverShrinks) {
    const EntryId id = openNew("reserved");
    ASSERT_TRUE(p().write(id, 0, "abc", 3).ok());
    ASSERT_TRUE(p().allocate(id, 100, 3 * kBlock).ok());
    EXPECT_EQ(sizeOf(id), 100u + 3 * kBlock);
    EXPECT_EQ(p().getattr(id)->blocks512, 4u * kBlock / 512);
    const uint64_t used = p().stats().blocks_used;
    // Within the size: nothing changes, not even a shrink to the range asked for.
    ASSERT_TRUE(p().allocate(id, 0, 10).ok());
    EXPECT_EQ(sizeOf(id), 100u + 3 * kBlock);
    // Writes into the reserved range need no blocks.
    ASSERT_TRUE(p().write(id, 2 * kBlock, "xyz", 3).ok());
    EXPECT_EQ(p().stats().blocks_used, used);
    p().release(id, Access::Write);
    EXPECT_TRUE(sameBytes(readAt(id, 0, 4), std::string("abc\0", 4)));
    EXPECT_TRUE(sameBytes(readAt(id, 3, 2 * kBlock - 3), std::string(2 * kBlock - 3, '\0')));
    EXPECT_TRUE(sameBytes(readAt(id, 2 * kBlock, 3), "xyz"));

    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    EXPECT_EQ(p().allocate(idOf(p(), kPoolRootId, "d"), 0, 1).code(), EISDIR);
    EXPECT_EQ(p().allocate(999999, 0, 1).code(), ENOENT);
    EXPECT_EQ(p().allocate(id, 0, p().capacityBytes() + 1).code(), ENOSPC);
    EXPECT_EQ(p().allocate(id, kMaxEntryBytes, 1).code(), EFBIG);
    EXPECT_EQ(p().allocate(id, UINT64_MAX - 1, 3).code(), EFBIG);
    EXPECT_EQ(sizeOf(id), 100u + 3 * kBlock);
    p().verify();
}

TEST_F(PoolBasics, FreedBlocksComeBackAsZeros) {
    // Blocks of a removed entry are reused by the next one, which must not see the old bytes.
    const EntryId old = putEntry(p(), kPoolRootId, "old", pattern(2, 64 * kBlock));
    ASSERT_TRUE(p().unlink(kPoolRootId, "old").ok());
    (void)old;
    const EntryId id = openNew("new");
    ASSERT_TRUE(p().write(id, 64 * kBlock - 1, "z", 1).ok());
    p().release(id, Access::Write);
    EXPECT_TRUE(sameBytes(readAt(id, 0, 64 * kBlock - 1), std::string(64 * kBlock - 1, '\0')));
    p().verify();
}

TEST_F(PoolBasics, WriteErrors) {
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId dir = idOf(p(), kPoolRootId, "d");
    EXPECT_EQ(p().write(dir, 0, "x", 1).code(), EISDIR);
    EXPECT_EQ(p().write(999999, 0, "x", 1).code(), ENOENT);
    char buf[4];
    EXPECT_EQ(p().read(999999, 0, buf, 4).code(), ENOENT);
    EXPECT_EQ(p().read(dir, 0, buf, 4).code(), EISDIR);
    EXPECT_EQ(p().open(dir, Access::Write).code(), EISDIR);
    EXPECT_EQ(p().open(999999, Access::Read).code(), ENOENT);

    const EntryId id = openNew("big");
    EXPECT_EQ(p().write(id, kMaxEntryBytes, "x", 1).code(), EFBIG);
    EXPECT_EQ(p().write(id, UINT64_MAX - 1, "xyz", 3).code(), EFBIG);
    auto zero = p().write(id, 0, "", 0);
    ASSERT_TRUE(zero.ok());
    EXPECT_EQ(*zero, 0u);
    EXPECT_EQ(sizeOf(id), 0u);
    p().release(id, Access::Write);
    // Closed, or open for reading only, it is a policy candidate: a write would change an entry
    // that may be evicted under it (found by fuzz_pool: "a candidate but not evictable").
    EXPECT_EQ(p().write(id, 0, "x", 1).code(), EBADF);
    ASSERT_TRUE(p().open(id, Access::Read).ok());
    EXPECT_EQ(p().write(id, 0, "x", 1).code(), EBADF);
    p().release(id, Access::Read);
    EXPECT_EQ(sizeOf(id), 0u);
    p().verify();
}

TEST_F(PoolBasics, UnlinkWhileOpenStaysReadableUntilRelease) {
    const std::string data = pattern(4, 3 * kBlock);
    const EntryId id = putEntry(p(), kPoolRootId, "blk", data);
    ASSERT_TRUE(p().open(id, Access::Read).ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, "blk").ok());
    EXPECT_EQ(p().lookup(kPoolRootId, "blk").code(), ENOENT);
    EXPECT_TRUE(listNames(p(), kPoolRootId).empty());
    EXPECT_EQ(p().unlink(kPoolRootId, "blk").code(), ENOENT);
    p().verify();

    std::string out(data.size(), '\0');
    auto n = p().read(id, 0, out.data(), out.size());
    ASSERT_TRUE(n.ok());
    EXPECT_TRUE(sameBytes(out, data));
    EXPECT_EQ(p().getattr(id)->nlink, 0u);
    EXPECT_EQ(p().stats().blocks_used, 3u);
    EXPECT_EQ(p().stats().entries, 0u);
    // Eviction cannot take it (it has no name left): the one entry with a name goes instead.
    putEntry(p(), kPoolRootId, "other", "other bytes");
    auto ev = p().evictPercent(100);
    ASSERT_TRUE(ev.ok());
    EXPECT_EQ(ev->entries, 1u);
    EXPECT_EQ(ev->bytes, 11u);
    EXPECT_TRUE(listNames(p(), kPoolRootId).empty());
    EXPECT_EQ(p().stats().counters.evictions, 1u);
    EXPECT_EQ(p().stats().blocks_used, 3u);

    p().release(id, Access::Read);
    EXPECT_EQ(p().stats().blocks_used, 0u);
    // The front end may still hold a lookup: the inode reads as empty, not as stale bytes.
    EXPECT_EQ(sizeOf(id), 0u);
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// Rename and link

TEST_F(PoolBasics, RenameReplacesTheTarget) {
    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, 5000));
    const EntryId b = putEntry(p(), kPoolRootId, "b", pattern(2, 9000));
    EXPECT_EQ(p().stats().blocks_used, 5u);
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "b", 0).ok());
    EXPECT_EQ(nameSet(p(), kPoolRootId), (std::set<std::string>{"b"}));
    EXPECT_EQ(idOf(p(), kPoolRootId, "b"), a);
    EXPECT_TRUE(sameBytes(getEntry(p(), a), pattern(1, 5000)));
    EXPECT_EQ(p().stats().blocks_used, 2u);  // b's blocks went
    EXPECT_EQ(p().getattr(b)->nlink, 0u);
    p().verify();

    // To a new name, and into a directory.
    ASSERT_TRUE(p().rename(kPoolRootId, "b", kPoolRootId, "c", 0).ok());
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().rename(kPoolRootId, "c", d, "c2", 0).ok());
    EXPECT_EQ(nameSet(p(), kPoolRootId), (std::set<std::string>{"d"}));
    EXPECT_EQ(nameSet(p(), d), (std::set<std::string>{"c2"}));
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), d, "c2")), pattern(1, 5000)));
    EXPECT_EQ(p().rename(kPoolRootId, "missing", kPoolRootId, "x", 0).code(), ENOENT);
    p().verify();
}

TEST_F(PoolBasics, RenameNoReplaceAndExchange) {
    const EntryId a = putEntry(p(), kPoolRootId, "a", "alpha");
    const EntryId b = putEntry(p(), kPoolRootId, "b", "beta");
    EXPECT_EQ(p().rename(kPoolRootId, "a", kPoolRootId, "b", Pool::kRenameNoReplace).code(),
              EEXIST);
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "b")), "beta"));
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "c", Pool::kRenameNoReplace).ok());
    EXPECT_EQ(idOf(p(), kPoolRootId, "c"), a);

    ASSERT_TRUE(p().rename(kPoolRootId, "c", kPoolRootId, "b", Pool::kRenameExchange).ok());
    EXPECT_EQ(idOf(p(), kPoolRootId, "b"), a);
    EXPECT_EQ(idOf(p(), kPoolRootId, "c"), b);
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "b")), "alpha"));
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "c")), "beta"));
    EXPECT_EQ(p().rename(kPoolRootId, "c", kPoolRootId, "none", Pool::kRenameExchange).code(),
              ENOENT);
    EXPECT_EQ(p().rename(kPoolRootId, "c", kPoolRootId, "b",
                         Pool::kRenameExchange | Pool::kRenameNoReplace)
                  .code(),
              EINVAL);
    EXPECT_EQ(p().rename(kPoolRootId, "c", kPoolRootId, "b", 64).code(), EINVAL);

    // Exchange across directories, a file with a directory.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().mkdir(d, "sub", 0755, 0, 0).ok());
    const EntryId sub = idOf(p(), d, "sub");
    ASSERT_TRUE(p().rename(kPoolRootId, "b", d, "sub", Pool::kRenameExchange).ok());
    EXPECT_EQ(idOf(p(), kPoolRootId, "b"), sub);
    EXPECT_EQ(idOf(p(), d, "sub"), a);
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 4u);  // ".", "d", "b" (now a directory)
    EXPECT_EQ(p().getattr(d)->nlink, 2u);
    p().verify();
}

TEST_F(PoolBasics, RenameDirectoriesFollowsPosix) {
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().mkdir(d, "e", 0755, 0, 0).ok());
    const EntryId e = idOf(p(), d, "e");
    ASSERT_TRUE(p().mkdir(kPoolRootId, "empty", 0755, 0, 0).ok());
    putEntry(p(), kPoolRootId, "f", "file");

    EXPECT_EQ(p().rename(kPoolRootId, "d", e, "d", 0).code(), EINVAL);  // into itself
    EXPECT_EQ(p().rename(kPoolRootId, "d", d, "x", 0).code(), EINVAL);
    EXPECT_EQ(p().rename(kPoolRootId, "f", kPoolRootId, "empty", 0).code(), EISDIR);
    EXPECT_EQ(p().rename(kPoolRootId, "empty", kPoolRootId, "f", 0).code(), ENOTDIR);
    EXPECT_EQ(p().rename(kPoolRootId, "empty", kPoolRootId, "d", 0).code(), ENOTEMPTY);

    // A directory replaces an empty one; link counts follow.
    ASSERT_TRUE(p().rename(kPoolRootId, "d", kPoolRootId, "empty", 0).ok());
    EXPECT_EQ(nameSet(p(), kPoolRootId), (std::set<std::string>{"empty", "f"}));
    EXPECT_EQ(idOf(p(), kPoolRootId, "empty"), d);
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 3u);
    // Moving a directory up changes both parents' link counts.
    ASSERT_TRUE(p().rename(d, "e", kPoolRootId, "e", 0).ok());
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 4u);
    EXPECT_EQ(p().getattr(d)->nlink, 2u);
    EXPECT_EQ(p().getattr(e)->nlink, 2u);
    p().verify();
}

TEST_F(PoolBasics, HardLinkSharesOneSetOfBlocks) {
    const std::string data = pattern(5, 2 * kBlock);
    const EntryId id = putEntry(p(), kPoolRootId, "a", data);
    auto linked = p().link(id, kPoolRootId, "b");
    ASSERT_TRUE(linked.ok()) << linked.error().message;
    EXPECT_EQ(linked->id, id);
    EXPECT_EQ(linked->nlink, 2u);
    EXPECT_EQ(p().getattr(id)->nlink, 2u);
    EXPECT_EQ(p().stats().blocks_used, 2u);
    EXPECT_EQ(p().stats().entries, 1u);
    EXPECT_EQ(idOf(p(), kPoolRootId, "b"), id);

    // A write through one name is seen through the other.
    ASSERT_TRUE(p().open(id, Access::Write).ok());
    ASSERT_TRUE(p().write(id, 0, "NEW", 3).ok());
    p().release(id, Access::Write);
    std::string expect = data;
    expect.replace(0, 3, "NEW");
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "b")), expect));

    EXPECT_EQ(p().link(id, kPoolRootId, "a").code(), EEXIST);
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    EXPECT_EQ(p().link(idOf(p(), kPoolRootId, "d"), kPoolRootId, "d2").code(), EPERM);
    // Renaming one link onto the other does nothing.
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "b", 0).ok());
    EXPECT_EQ(p().getattr(id)->nlink, 2u);

    ASSERT_TRUE(p().unlink(kPoolRootId, "a").ok());
    EXPECT_EQ(p().getattr(id)->nlink, 1u);
    EXPECT_TRUE(sameBytes(getEntry(p(), idOf(p(), kPoolRootId, "b")), expect));
    EXPECT_EQ(p().stats().blocks_used, 2u);
    ASSERT_TRUE(p().unlink(kPoolRootId, "b").ok());
    EXPECT_EQ(p().stats().blocks_used, 0u);
    EXPECT_EQ(p().link(id, kPoolRootId, "c").code(), ENOENT);
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// Directories and names

TEST_F(PoolBasics, MkdirAndRmdir) {
    auto d = p().mkdir(kPoolRootId, "llama", 0750, 7, 8);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->mode, 040750u);
    EXPECT_EQ(d->nlink, 2u);
    EXPECT_EQ(d->uid, 7u);
    EXPECT_EQ(d->gid, 8u);
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 3u);
    EXPECT_EQ(p().mkdir(kPoolRootId, "llama", 0755, 0, 0).code(), EEXIST);

    const EntryId f = putEntry(p(), d->id, "blk", "x");
    EXPECT_EQ(p().rmdir(kPoolRootId, "llama").code(), ENOTEMPTY);
    EXPECT_EQ(p().rmdir(d->id, "blk").code(), ENOTDIR);
    EXPECT_EQ(p().unlink(kPoolRootId, "llama").code(), EISDIR);
    EXPECT_EQ(p().rmdir(kPoolRootId, "nope").code(), ENOENT);
    EXPECT_EQ(p().mkdir(f, "sub", 0755, 0, 0).code(), ENOTDIR);
    ASSERT_TRUE(p().unlink(d->id, "blk").ok());
    ASSERT_TRUE(p().rmdir(kPoolRootId, "llama").ok());
    EXPECT_EQ(p().getattr(kPoolRootId)->nlink, 2u);
    EXPECT_TRUE(listNames(p(), kPoolRootId).empty());
    EXPECT_TRUE(p().isEmptyPool());
    // The removed directory accepts nothing new.
    EXPECT_EQ(p().create(d->id, "late", 0644, 0, 0, IfExists::Fail).code(), ENOENT);
    EXPECT_EQ(p().readdir(d->id, 0, 10).code(), ENOENT);
    EXPECT_EQ(p().stats().directories, 0u);
    p().verify();
}

TEST_F(PoolBasics, ReaddirIsStableWhileUnlinking) {
    std::vector<std::string> all;
    for (int i = 0; i < 60; ++i) {
        all.push_back("blk-" + std::to_string(i));
        putEntry(p(), kPoolRootId, all.back(), "x");
    }
    std::map<std::string, int> seen;
    std::set<std::string> removed;
    uint64_t cookie = 0;
    int round = 0;
    for (;;) {
        auto batch = p().readdir(kPoolRootId, cookie, 5);
        ASSERT_TRUE(batch.ok());
        if (batch->empty()) break;
        for (const DirEntry& d : *batch) seen[d.name]++;
        cookie = batch->back().cookie;
        // Between batches: remove one entry already listed and one not listed yet, and add one.
        const std::string behind = batch->front().name;
        ASSERT_TRUE(p().unlink(kPoolRootId, behind).ok());
        removed.insert(behind);
        for (const std::string& n : all) {
            if (!seen.count(n) && !removed.count(n)) {
                ASSERT_TRUE(p().unlink(kPoolRootId, n).ok());
                removed.insert(n);
                break;
            }
        }
        putEntry(p(), kPoolRootId, "new-" + std::to_string(round++), "y");
    }
    for (const std::string& n : all) {
        if (removed.count(n) && !seen.count(n)) continue;  // removed before it was reached
        EXPECT_EQ(seen[n], 1) << n;
    }
    for (const auto& [n, count] : seen) EXPECT_EQ(count, 1) << n << " listed twice";
    p().verify();
}

TEST_F(PoolBasics, NamesAreValidated) {
    const std::string longest(255, 'n');
    const std::string too_long(256, 'n');
    EXPECT_TRUE(p().create(kPoolRootId, longest, 0644, 0, 0, IfExists::Fail).ok());
    EXPECT_EQ(p().create(kPoolRootId, too_long, 0644, 0, 0, IfExists::Fail).code(), ENAMETOOLONG);
    EXPECT_EQ(p().mkdir(kPoolRootId, too_long, 0755, 0, 0).code(), ENAMETOOLONG);
    EXPECT_EQ(p().lookup(kPoolRootId, too_long).code(), ENAMETOOLONG);
    for (std::string bad : {std::string("a/b"), std::string(""), std::string("."),
                            std::string(".."), std::string("a\0b", 3), std::string("/")}) {
        EXPECT_EQ(p().create(kPoolRootId, bad, 0644, 0, 0, IfExists::Fail).code(), EINVAL) << bad;
        EXPECT_EQ(p().mkdir(kPoolRootId, bad, 0755, 0, 0).code(), EINVAL) << bad;
        EXPECT_EQ(p().rename(kPoolRootId, longest, kPoolRootId, bad, 0).code(), EINVAL) << bad;
        EXPECT_EQ(p().link(idOf(p(), kPoolRootId, longest), kPoolRootId, bad).code(), EINVAL)
            << bad;
    }
    EXPECT_EQ(nameSet(p(), kPoolRootId), (std::set<std::string>{longest}));
    // Any other byte is fine.
    for (std::string good : {"blk.00af", "-", "...", "a b", "\xe2\x9c\x93", "\n"})
        EXPECT_TRUE(p().create(kPoolRootId, good, 0644, 0, 0, IfExists::Fail).ok()) << good;
    p().verify();
}

TEST_F(PoolBasics, SetattrChangesModeOwnerAndTimes) {
    const EntryId id = putEntry(p(), kPoolRootId, "blk", "x");
    AttrChange c;
    c.mode = 0100600;
    c.uid = 1000;
    c.gid = 1001;
    c.atime_ns = 1'000'000'000;
    c.mtime_ns = 2'000'000'007;
    auto a = p().setattr(id, c);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->mode, 0100600u);
    EXPECT_EQ(a->uid, 1000u);
    EXPECT_EQ(a->gid, 1001u);
    EXPECT_EQ(a->atime_ns, 1'000'000'000);
    EXPECT_EQ(a->mtime_ns, 2'000'000'007);
    EXPECT_GT(a->ctime_ns, 2'000'000'007);
    // The file type cannot change.
    AttrChange to_dir;
    to_dir.mode = 040755;
    EXPECT_EQ(p().setattr(id, to_dir)->mode, 0100755u);
    EXPECT_EQ(p().setattr(99999, c).code(), ENOENT);
}

// ---------------------------------------------------------------------------------------------
// Extended attributes

TEST_F(PoolBasics, KvcacheAttributesAreParsedAndValidated) {
    const EntryId id = putEntry(p(), kPoolRootId, "blk", "x");
    putEntry(p(), kPoolRootId, "root-blk", "r");
    auto set = [&](std::string_view name, std::string_view value) {
        return p().setxattr(id, name, value, 0).code();
    };
    auto get = [&](std::string_view name) {
        auto v = p().getxattr(id, name);
        return v.ok() ? *v : "<errno " + std::to_string(v.code()) + ">";
    };

    EXPECT_EQ(get("user.kvcache.priority"), "0");
    EXPECT_EQ(set("user.kvcache.priority", "5"), 0);
    EXPECT_EQ(get("user.kvcache.priority"), "5");
    EXPECT_EQ(set("user.kvcache.priority", " -3\n"), 0);  // what `echo` produces
    EXPECT_EQ(get("user.kvcache.priority"), "-3");
    for (const char* bad : {"", "abc", "5x", "1.5", "99999999999", "--1"})
        EXPECT_EQ(set("user.kvcache.priority", bad), EINVAL) << bad;
    EXPECT_EQ(get("user.kvcache.priority"), "-3");

    EXPECT_EQ(get("user.kvcache.pinned"), "0");
    EXPECT_EQ(set("user.kvcache.pinned", "1"), 0);
    EXPECT_EQ(get("user.kvcache.pinned"), "1");
    EXPECT_EQ(set("user.kvcache.pinned", "2"), EINVAL);
    EXPECT_EQ(set("user.kvcache.pinned", "yes"), EINVAL);
    EXPECT_EQ(set("user.kvcache.pinned", "0"), 0);
    EXPECT_EQ(get("user.kvcache.pinned"), "0");

    EXPECT_EQ(get("user.kvcache.parent"), "<errno " + std::to_string(ENODATA) + ">");
    EXPECT_EQ(set("user.kvcache.parent", "root-blk"), 0);
    EXPECT_EQ(get("user.kvcache.parent"), "root-blk");
    for (const char* bad : {"", "/abs", "a//b", "a/", "..", "a/./b"})
        EXPECT_EQ(set("user.kvcache.parent", bad), EINVAL) << bad;
    EXPECT_EQ(set("user.kvcache.parent", "blk"), EINVAL);  // itself: a loop
    EXPECT_EQ(set("user.kvcache.parent", std::string(4097, 'p')), EINVAL);
    EXPECT_EQ(get("user.kvcache.parent"), "root-blk");

    EXPECT_EQ(set("user.kvcache.layer", "12"), 0);
    EXPECT_EQ(get("user.kvcache.layer"), "12");
    EXPECT_EQ(set("user.kvcache.layer", "-1"), EINVAL);
    EXPECT_EQ(set("user.kvcache.seq_len", "4096"), 0);
    EXPECT_EQ(get("user.kvcache.seq_len"), "4096");
    EXPECT_EQ(set("user.kvcache.seq_len", "many"), EINVAL);
    EXPECT_EQ(get("user.kvcache.seq_len"), "4096");

    for (const char* ro :
         {"user.kvcache.access_count", "user.kvcache.created", "user.kvcache.last_access"}) {
        EXPECT_EQ(set(ro, "1"), EPERM) << ro;
        EXPECT_EQ(p().removexattr(id, ro).code(), EPERM) << ro;
        EXPECT_NE(get(ro).find_first_of("0123456789"), std::string::npos) << ro;
    }
    EXPECT_EQ(set("user.kvcache.colour", "blue"), EINVAL);
    EXPECT_EQ(p().setxattr(id, "trusted.x", "1", 0).code(), EOPNOTSUPP);
    EXPECT_EQ(p().setxattr(id, "user." + std::string(kMaxXattrNameBytes, 'k'), "1", 0).code(),
              ERANGE);
    // Not on directories, nor on the pool directory.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    EXPECT_EQ(p().setxattr(idOf(p(), kPoolRootId, "d"), "user.kvcache.priority", "1", 0).code(),
              EPERM);
    EXPECT_EQ(p().setxattr(kPoolRootId, "user.note", "1", 0).code(), EPERM);

    // Removal resets to the defaults.
    ASSERT_TRUE(p().removexattr(id, "user.kvcache.layer").ok());
    EXPECT_EQ(get("user.kvcache.layer"), "<errno " + std::to_string(ENODATA) + ">");
    ASSERT_TRUE(p().removexattr(id, "user.kvcache.parent").ok());
    EXPECT_EQ(p().removexattr(id, "user.kvcache.parent").code(), ENODATA);
    ASSERT_TRUE(p().removexattr(id, "user.kvcache.priority").ok());
    EXPECT_EQ(get("user.kvcache.priority"), "0");
    p().verify();
}

TEST_F(PoolBasics, UserAttributesAreStoredVerbatim) {
    const EntryId id = putEntry(p(), kPoolRootId, "blk", "x");
    const std::string binary("a\0b\xff\n", 5);
    ASSERT_TRUE(p().setxattr(id, "user.bin", binary, 0).ok());
    EXPECT_EQ(*p().getxattr(id, "user.bin"), binary);
    ASSERT_TRUE(p().setxattr(id, "user.empty", "", 0).ok());
    EXPECT_EQ(*p().getxattr(id, "user.empty"), "");
    EXPECT_EQ(p().getxattr(id, "user.none").code(), ENODATA);

    // A value too large for the record goes to blocks of its own, and comes back whole.
    const uint64_t used = p().stats().blocks_used;
    const std::string big = pattern(11, 10000);
    ASSERT_TRUE(p().setxattr(id, "user.big", big, 0).ok());
    EXPECT_TRUE(sameBytes(*p().getxattr(id, "user.big"), big));
    EXPECT_GT(p().stats().blocks_used, used);
    p().verify();

    const std::string max(kMaxXattrValueBytes, 'm');
    ASSERT_TRUE(p().setxattr(id, "user.max", max, 0).ok());
    EXPECT_TRUE(sameBytes(*p().getxattr(id, "user.max"), max));
    EXPECT_EQ(p().setxattr(id, "user.over", std::string(kMaxXattrValueBytes + 1, 'o'), 0).code(),
              E2BIG);
    EXPECT_EQ(p().getxattr(id, "user.over").code(), ENODATA);

    EXPECT_EQ(p().setxattr(id, "user.bin", "new", Pool::kXattrCreate).code(), EEXIST);
    EXPECT_EQ(*p().getxattr(id, "user.bin"), binary);
    EXPECT_EQ(p().setxattr(id, "user.absent", "v", Pool::kXattrReplace).code(), ENODATA);
    ASSERT_TRUE(p().setxattr(id, "user.bin", "new", Pool::kXattrReplace).ok());
    EXPECT_EQ(*p().getxattr(id, "user.bin"), "new");

    auto names = p().listxattr(id);
    ASSERT_TRUE(names.ok());
    std::set<std::string> listed(names->begin(), names->end());
    for (const char* n : {"user.bin", "user.empty", "user.big", "user.max"})
        EXPECT_TRUE(listed.count(n)) << n;
    // Only what is set and settable: defaults and read-only attributes are read by name.
    for (const char* n : {"user.kvcache.parent", "user.kvcache.priority", "user.kvcache.pinned",
                          "user.kvcache.committed", "user.kvcache.access_count"})
        EXPECT_FALSE(listed.count(n)) << n;
    EXPECT_EQ(names->size(), listed.size());  // no duplicates

    // Dropping the large values gives their blocks back.
    ASSERT_TRUE(p().removexattr(id, "user.big").ok());
    ASSERT_TRUE(p().removexattr(id, "user.max").ok());
    EXPECT_EQ(p().removexattr(id, "user.big").code(), ENODATA);
    EXPECT_EQ(p().stats().blocks_used, used);
    // Directories take user.* attributes too.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().setxattr(d, "user.owner", "team", 0).ok());
    EXPECT_EQ(*p().getxattr(d, "user.owner"), "team");
    p().verify();
}

TEST_F(PoolBasics, AttributeTotalsAreBounded) {
    const EntryId id = putEntry(p(), kPoolRootId, "blk", "x");
    // Five values of 64 KiB pass the per-entry total of 256 KiB.
    const std::string value(kMaxXattrValueBytes - 16, 'v');
    int stored = 0;
    Status st;
    for (int i = 0; i < 5 && st.ok(); ++i) {
        st = p().setxattr(id, "user.v" + std::to_string(i), value, 0);
        stored += st.ok();
    }
    EXPECT_EQ(stored, 4);
    EXPECT_EQ(st.code(), ENOSPC);
    EXPECT_EQ(p().getxattr(id, "user.v4").code(), ENODATA);
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// Statistics

TEST_F(PoolBasics, StatsReportWhatThePoolHolds) {
    auto s = p().stats();
    EXPECT_EQ(s.name, "testpool");
    EXPECT_EQ(s.policy, "lru");
    EXPECT_EQ(s.block_size, kBlock);
    EXPECT_EQ(s.blocks_total, 256u);
    EXPECT_EQ(s.capacity_bytes, 256u * kBlock);
    EXPECT_EQ(s.blocks_used, 0u);
    EXPECT_EQ(s.entries, 0u);
    EXPECT_GT(s.max_entries, 0u);

    const EntryId a = putEntry(p(), kPoolRootId, "a", pattern(1, 3 * kBlock));
    putEntry(p(), kPoolRootId, "b", pattern(2, 100));
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    putEntry(p(), idOf(p(), kPoolRootId, "d"), "c", pattern(3, kBlock + 1));
    ASSERT_TRUE(p().setxattr(a, "user.kvcache.pinned", "1", 0).ok());
    const EntryId w = p().create(kPoolRootId, "writing", 0644, 0, 0, IfExists::Fail)->id;

    EXPECT_EQ(p().lookup(kPoolRootId, "nope").code(), ENOENT);
    EXPECT_EQ(p().lookup(kPoolRootId, "nope2").code(), ENOENT);
    (void)getEntry(p(), a);
    (void)getEntry(p(), a);
    (void)getEntry(p(), idOf(p(), kPoolRootId, "b"));

    s = p().stats();
    EXPECT_EQ(s.entries, 4u);
    EXPECT_EQ(s.directories, 1u);
    EXPECT_EQ(s.blocks_used, 3u + 1u + 2u);
    EXPECT_EQ(s.used_bytes, 6u * kBlock);
    EXPECT_EQ(s.free_bytes, 250u * kBlock);
    EXPECT_EQ(s.pinned_bytes, 3u * kBlock);
    EXPECT_EQ(s.open_entries, 1u);
    EXPECT_EQ(s.counters.hits, 3u);
    EXPECT_EQ(s.counters.misses, 2u);
    EXPECT_EQ(s.counters.evictions, 0u);
    EXPECT_GE(s.resident_bytes, 6u * kBlock);

    const std::string text = formatStats(s);
    EXPECT_NE(text.find("pool testpool\n"), std::string::npos) << text;
    EXPECT_NE(text.find("entries 4\n"), std::string::npos) << text;
    EXPECT_NE(text.find("hits 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("hit_ratio 0.6000\n"), std::string::npos) << text;
    p().release(w, Access::Write);
    EXPECT_EQ(p().stats().open_entries, 0u);

    const PoolStats sum = sumStats(s, s);
    EXPECT_EQ(sum.entries, 8u);
    EXPECT_EQ(sum.counters.hits, 6u);
    EXPECT_TRUE(sum.name.empty());
    p().verify();
}

// ---------------------------------------------------------------------------------------------
// Pool creation

TEST_F(PoolBasics, CreateRefusesBadSettings) {
    auto make = [&](PoolSettings s) {
        return Pool::create(PoolCreateOptions{"bad", newLocation(), std::move(s)}).code();
    };
    EXPECT_EQ(make(PoolSettings{1 << 20, "mru", kBlock, Tier::Cpu, "", 0, 0, {}}), EINVAL);
    EXPECT_EQ(make(PoolSettings{100, "lru", kBlock, Tier::Cpu, "", 0, 0, {}}), EINVAL);
    EXPECT_EQ(make(PoolSettings{1 << 20, "lru", 0, Tier::Cpu, "", 0, 0, {}}), EINVAL);
    EXPECT_EQ(make(PoolSettings{1 << 20, "lru", 1000, Tier::Cpu, "", 0, 0, {}}), EINVAL);
    // The same segment twice.
    EXPECT_EQ(Pool::create(PoolCreateOptions{"dup", p().location(), settings(16)}).code(), EEXIST);
}

TEST_F(PoolBasics, MaxEntriesLimitsCreation) {
    auto small = makePool(16, "lru", 0, 4);
    ASSERT_NE(small, nullptr);
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(
            small->create(kPoolRootId, "e" + std::to_string(i), 0644, 0, 0, IfExists::Fail).ok());
    EXPECT_EQ(small->create(kPoolRootId, "e4", 0644, 0, 0, IfExists::Fail).code(), ENOSPC);
    EXPECT_EQ(small->mkdir(kPoolRootId, "d", 0755, 0, 0).code(), ENOSPC);
    EXPECT_EQ(small->stats().max_entries, 4u);
    small->verify();
}

}  // namespace
}  // namespace kvc
