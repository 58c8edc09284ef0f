// The data path's pool operations (core/transfer.h) and the permission rules they check
// (core/access.h), on real pools.
#include "core/transfer.h"

#include <gtest/gtest.h>

#include "tests/core/pool_fixture.h"

namespace kvc::test {
namespace {

const Credentials kRoot{0, 0, {}};
const Credentials kAlice{1000, 1000, {}};
const Credentials kBob{1001, 1001, {2000}};

TEST(AccessTest, OwnerGroupAndOthersGetTheirBits) {
    EXPECT_TRUE(mayAccess(0100640, 1000, 2000, kAlice, kMayRead | kMayWrite));
    EXPECT_FALSE(mayAccess(0100640, 1000, 2000, kAlice, kMayExec));
    EXPECT_TRUE(mayAccess(0100640, 1000, 2000, kBob, kMayRead));  // a supplementary group
    EXPECT_FALSE(mayAccess(0100640, 1000, 2000, kBob, kMayWrite));
    EXPECT_FALSE(mayAccess(0100640, 1000, 2000, Credentials{7, 7, {}}, kMayRead));
    // The owner's bits apply to the owner even when others have more.
    EXPECT_FALSE(mayAccess(0100007, 1000, 2000, kAlice, kMayRead));
    EXPECT_TRUE(mayAccess(0100007, 1000, 2000, Credentials{7, 7, {}}, kMayRead));
}

TEST(AccessTest, RootPassesAllButExecutingWhatNobodyMayExecute) {
    EXPECT_TRUE(mayAccess(0100000, 1000, 1000, kRoot, kMayRead | kMayWrite));
    EXPECT_FALSE(mayAccess(0100600, 1000, 1000, kRoot, kMayExec));
    EXPECT_TRUE(mayAccess(0100100, 1000, 1000, kRoot, kMayExec));
    EXPECT_TRUE(mayAccess(0040000, 1000, 1000, kRoot, kMayExec));  // a directory is searched
}

TEST(AccessTest, AStickyDirectoryKeepsOthersEntries) {
    EXPECT_TRUE(mayUnlinkFrom(0040777, 0, 1000, kBob));     // not sticky
    EXPECT_FALSE(mayUnlinkFrom(0041777, 0, 1000, kBob));    // sticky, not Bob's
    EXPECT_TRUE(mayUnlinkFrom(0041777, 0, 1000, kAlice));   // Alice's entry
    EXPECT_TRUE(mayUnlinkFrom(0041777, 1001, 1000, kBob));  // Bob's directory
    EXPECT_TRUE(mayUnlinkFrom(0041777, 0, 1000, kRoot));
}

class TransferTest : public PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        pool_ = makePool(256);
        ASSERT_TRUE(pool_);
    }
    Result<EntryAttr> store(std::string_view name, std::string_view bytes,
                            const Credentials& who = kRoot, bool replace = true) {
        StoreItem it;
        it.name = name;
        it.data = bytes.data();
        it.len = bytes.size();
        it.replace = replace;
        return storeEntry(*pool_, kPoolRootId, it, ".tmp-test", who);
    }
    std::string load(std::string_view name, const Credentials& who = kRoot, int* err = nullptr) {
        std::string out(1 << 20, '\0');
        auto n = loadEntry(*pool_, kPoolRootId, name, out.data(), out.size(), who);
        if (err) *err = n.code();
        if (!n) return "<" + std::to_string(n.code()) + ">";
        out.resize(*n);
        return out;
    }
    std::unique_ptr<Pool> pool_;
};

TEST_F(TransferTest, AStoreIsACommittedEntryUnderItsNameAlone) {
    auto a = store("blk", pattern(1, 20000));
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_TRUE(a->committed);
    EXPECT_EQ(20000u, a->size);
    EXPECT_EQ(std::set<std::string>{"blk"}, nameSet(*pool_, kPoolRootId));
    EXPECT_TRUE(sameBytes(load("blk"), pattern(1, 20000)));
    pool_->verify();
}

TEST_F(TransferTest, TheCommitChecksumIsTheStoredBytes) {
    // Hashed from the client's bytes as they were written: the pool's own check agrees.
    ASSERT_TRUE(store("blk", pattern(3, 3 * kBlock + 100)).ok());
    ASSERT_TRUE(store("empty", "").ok());
    pool_->setVerifyReads(true);
    EXPECT_TRUE(sameBytes(load("blk"), pattern(3, 3 * kBlock + 100)));
    EXPECT_EQ("", load("empty"));
    EXPECT_EQ(0u, pool_->stats().counters.checksum_failures);
}

TEST_F(TransferTest, AReplacedEntryKeepsItsBytesForWhoeverHasItOpen) {
    ASSERT_TRUE(store("blk", pattern(1, 9000)).ok());
    const EntryId old = idOf(*pool_, kPoolRootId, "blk");
    ASSERT_TRUE(pool_->open(old, Access::Read).ok());
    ASSERT_TRUE(store("blk", pattern(2, 5000)).ok());
    EXPECT_TRUE(sameBytes(load("blk"), pattern(2, 5000)));
    std::string held(9000, '\0');
    ASSERT_EQ(9000u, *pool_->read(old, 0, held.data(), held.size()));
    EXPECT_TRUE(sameBytes(held, pattern(1, 9000)));
    pool_->release(old, Access::Read);
    EXPECT_EQ(std::set<std::string>{"blk"}, nameSet(*pool_, kPoolRootId));
    pool_->verify();
}

TEST_F(TransferTest, RefusedStoresChangeNothing) {
    ASSERT_TRUE(store("blk", "first").ok());
    EXPECT_EQ(EEXIST, store("blk", "second", kRoot, false).code());
    ASSERT_TRUE(pool_->mkdir(kPoolRootId, "dir", 0755, 0, 0).ok());
    EXPECT_EQ(EISDIR, store("dir", "x").code());
    EXPECT_EQ(EACCES, store("mine", "x", kAlice).code());  // the pool is 0755 root's
    EXPECT_EQ(EEXIST, store(".stats", "x").code());        // a control file's name
    EXPECT_EQ(EINVAL, store("a/b", "x").code());
    // Larger than the pool: ENOSPC or EFBIG, and the temporary is gone.
    const std::string huge(300 * kBlock, 'h');
    EXPECT_NE(0, store("huge", huge).code());
    EXPECT_EQ((std::set<std::string>{"blk", "dir"}), nameSet(*pool_, kPoolRootId));
    EXPECT_EQ("first", load("blk"));
    pool_->verify();
}

TEST_F(TransferTest, LoadsCountAsOpenAndReadDo) {
    ASSERT_TRUE(store("blk", "bytes").ok());
    const PoolStats before = pool_->stats();
    EXPECT_EQ("bytes", load("blk"));
    int err = 0;
    load("none", kRoot, &err);
    EXPECT_EQ(ENOENT, err);
    std::string small(2, '\0');
    EXPECT_EQ(EOVERFLOW, loadEntry(*pool_, kPoolRootId, "blk", small.data(), 2, kRoot).code());
    const PoolStats after = pool_->stats();
    EXPECT_EQ(before.counters.hits + 1, after.counters.hits);
    EXPECT_EQ(before.counters.misses + 1, after.counters.misses);
}

TEST_F(TransferTest, AnEntryBeingWrittenIsNotServed) {
    auto a = pool_->create(kPoolRootId, "open", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(pool_->write(a->id, 0, "part", 4).ok());
    int err = 0;
    load("open", kRoot, &err);
    EXPECT_EQ(ENOENT, err);
    pool_->release(a->id, Access::Write);
    pool_->forget(a->id, 1);
    EXPECT_EQ("part", load("open"));
}

TEST_F(TransferTest, ReadPermissionIsChecked) {
    ASSERT_TRUE(store("blk", "secret").ok());
    ASSERT_TRUE(
        pool_->setattr(idOf(*pool_, kPoolRootId, "blk"), AttrChange{0600, {}, {}, {}, {}, {}})
            .ok());
    int err = 0;
    load("blk", kAlice, &err);
    EXPECT_EQ(EACCES, err);
    EXPECT_EQ("secret", load("blk", kRoot));
}

TEST_F(TransferTest, AChainLoadStopsAtTheFirstMissingName) {
    for (const char* n : {"a", "b", "d"}) ASSERT_TRUE(store(n, n).ok());
    std::vector<std::string_view> names = {"a", "b", "c", "d"};
    std::string area(4 * 16, '\0');
    std::vector<LoadSlot> slots;
    for (size_t i = 0; i < 4; ++i) slots.push_back({area.data() + i * 16, 16});
    auto r = loadChain(*pool_, kPoolRootId, names, slots, kRoot);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(2u, r->match.leading);
    EXPECT_EQ(2u, r->loaded);
    EXPECT_EQ((std::vector<bool>{true, true, false, true}), r->match.cached);
    EXPECT_EQ('a', area[0]);
    EXPECT_EQ('b', area[16]);
    EXPECT_EQ(1u, pool_->stats().counters.match_requests);
}

}  // namespace
}  // namespace kvc::test
