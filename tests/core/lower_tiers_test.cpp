// The pool tells its lower tiers (core/lower_tiers.h) every change of a name's version and asks
// them on every miss, whoever calls it (except a data-path store, for names it only makes or
// replaces): a recording LowerTiers checks each operation's calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/lower_tiers.h"
#include "core/transfer.h"
#include "tests/core/pool_fixture.h"

namespace kvc::test {
namespace {

class Recorder final : public LowerTiers {
  public:
    explicit Recorder(Pool& pool) : pool_(pool) {}
    void obsolete(const Removal& r) override {
        calls.push_back("obsolete " + r.path);
        removals.push_back(r.version);
        records.push_back(r.record);
    }
    void obsoleteTree(const Removal& r) override {
        calls.push_back("tree " + r.path);
        removals.push_back(r.version);
        records.push_back(r.record);
    }
    bool promote(EntryId, std::string_view name) override {
        calls.push_back("promote " + std::string(name));
        // "below" is a name this tier has: it comes up as a complete entry.
        if (name != "below") return false;
        EntryImage img;
        img.path = "below";
        img.mode = 0100644;
        img.data = "from below";
        return pool_.importEntry(img).ok();
    }
    void written(EntryId id) override {
        auto path = pool_.entryPath(id);
        calls.push_back("written " + (path.ok() ? *path : std::string("?")));
    }
    void renamed(const std::string& path) override { calls.push_back("renamed " + path); }
    std::vector<std::string> take() { return std::exchange(calls, {}); }
    // The calls of one kind ("promote", "obsolete", ...) since the last take; all are taken.
    std::vector<std::string> take(std::string_view kind) {
        std::vector<std::string> out;
        for (std::string& c : take())
            if (c.size() > kind.size() && c.compare(0, kind.size(), kind) == 0 &&
                c[kind.size()] == ' ')
                out.push_back(std::move(c));
        return out;
    }
    std::vector<std::string> calls;
    std::vector<Version> removals;  // the versions obsolete() and obsoleteTree() were given
    std::vector<uint64_t> records;  // and their durable tombstones

  private:
    Pool& pool_;
};

using Calls = std::vector<std::string>;

class LowerTiersTest : public PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        pool_ = makePool(64);
        ASSERT_NE(pool_, nullptr);
        tiers_ = std::make_unique<Recorder>(*pool_);
        pool_->setLowerTiers(tiers_.get());
    }
    void TearDown() override {
        pool_->setLowerTiers(nullptr);
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }
    std::unique_ptr<Pool> pool_;
    std::unique_ptr<Recorder> tiers_;
};

TEST_F(LowerTiersTest, EveryNewVersionAndEveryRemovedNameIsTold) {
    const EntryId a = putEntry(p(), kPoolRootId, "a", "one");
    // The commit makes the older copies obsolete, with the new version as the removal's own
    // (a copy of that version may still be stored), before the writer's release is told.
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete a", "written a"}));
    Version committed;
    ASSERT_TRUE(p().entryPath(a, &committed).ok());
    EXPECT_EQ(tiers_->removals.back(), committed);
    EXPECT_NE(tiers_->records.back(), 0u) << "kept in the segment";
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    const EntryId d = idOf(p(), kPoolRootId, "d");
    ASSERT_TRUE(p().rename(kPoolRootId, "a", d, "b", 0).ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete a", "obsolete d/b", "renamed d/b"}));
    putEntry(p(), kPoolRootId, "c", "three");
    tiers_->take();
    ASSERT_TRUE(p().rename(kPoolRootId, "c", d, "b", Pool::kRenameExchange).ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete c", "obsolete d/b", "renamed d/b"}));

    AttrChange cut;
    cut.size = 1;
    ASSERT_TRUE(p().setattr(a, cut).ok());  // truncate by path: a new version
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete c", "written c"}));
    AttrChange chmod;
    chmod.mode = 0600;
    ASSERT_TRUE(p().setattr(a, chmod).ok());  // the same bytes: nothing to tell
    EXPECT_EQ(tiers_->take(), Calls{});
    ASSERT_TRUE(p().open(a, Access::Read, Truncate::Yes).ok());  // O_RDONLY | O_TRUNC empties it
    p().release(a, Access::Read);
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete c", "written c"}));

    ASSERT_TRUE(p().unlink(kPoolRootId, "c").ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete c"}));
    EXPECT_EQ(p().unlink(kPoolRootId, "c").code(), ENOENT);
    // The name is asked for below (the kernel may unlink a name just evicted without a lookup),
    // but a failed operation tells nothing.
    EXPECT_EQ(tiers_->take(), Calls{"promote c"});
    // A name only below comes up and goes, its lower copies with it.
    ASSERT_TRUE(p().unlink(kPoolRootId, "below").ok());
    EXPECT_EQ(tiers_->take(), (Calls{"promote below", "obsolete below"}));
    p().verify();
}

// The lower copies of names below a directory go when it is removed, renamed (both paths: the
// old one's copies would come back under a new directory there, the new one's would show up in
// the moved one) or replaced.
TEST_F(LowerTiersTest, ADirectoryRemovedOrRenamedMakesItsTreesLowerCopiesObsolete) {
    ASSERT_TRUE(p().mkdir(kPoolRootId, "a", 0755, 0, 0).ok());
    const EntryId a = idOf(p(), kPoolRootId, "a");
    ASSERT_TRUE(p().mkdir(a, "sub", 0755, 0, 0).ok());
    tiers_->take();
    ASSERT_TRUE(p().rename(a, "sub", kPoolRootId, "b", 0).ok());
    EXPECT_EQ(tiers_->take(),
              (Calls{"obsolete a/sub", "obsolete b", "tree a/sub", "tree b", "renamed b"}));
    ASSERT_TRUE(p().rmdir(kPoolRootId, "b").ok());
    EXPECT_EQ(tiers_->take(), (Calls{"tree b"}));
    EXPECT_EQ(p().rmdir(kPoolRootId, "b").code(), ENOENT);
    EXPECT_EQ(tiers_->take(), Calls{}) << "a refused rmdir changes nothing";
    putEntry(p(), a, "file", "x");
    tiers_->take();
    ASSERT_TRUE(p().rename(a, "file", kPoolRootId, "file", 0).ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete a/file", "obsolete file", "renamed file"}))
        << "an entry's rename has no tree";
}

// A link gives the entry a second name: an older lower copy of that name must go, or it would
// come back once the entry is evicted (an eviction demotes it under its first name only).
// Through FUSE the kernel looks the new name up first (a lower copy is promoted: EEXIST), but
// a front end calling the core directly may not.
TEST_F(LowerTiersTest, ALinkMakesTheNewNamesLowerCopiesObsolete) {
    const EntryId a = putEntry(p(), kPoolRootId, "a", "one");
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    tiers_->take();
    ASSERT_TRUE(p().link(a, idOf(p(), kPoolRootId, "d"), "l").ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete d/l", "renamed d/l"}));
    EXPECT_EQ(p().link(a, kPoolRootId, "a").code(), EEXIST);
    EXPECT_EQ(tiers_->take(), Calls{}) << "a refused link changes no name";
}

// Every version the pool gives out is later than the ones before: a commit's, a removal's, and
// the one a name gets when a rename or a link makes it hold an entry (later than the removal of
// what that name held, or the tiers would refuse its copies as older than their tombstone).
// A promoted copy keeps its own version, and the pool's clock follows it.
TEST_F(LowerTiersTest, VersionsOnlyGrowAndANameMadeToHoldAnEntryIsItsNewest) {
    auto versionOf = [&](EntryId id) {
        Version v;
        EXPECT_TRUE(p().entryPath(id, &v).ok());
        return v;
    };
    const EntryId a = putEntry(p(), kPoolRootId, "a", "one");
    const Version v1 = versionOf(a);
    EXPECT_FALSE(v1.none());
    ASSERT_TRUE(p().open(a, Access::Write).ok());
    ASSERT_TRUE(p().write(a, 0, "two", 3).ok());
    p().release(a, Access::Write);
    const Version v2 = versionOf(a);
    EXPECT_GT(v2, v1) << "a rewrite is a newer version";
    EXPECT_EQ(tiers_->removals, (std::vector<Version>{v1, v2}))
        << "each commit makes the copies older than its own version obsolete";
    tiers_->removals.clear();
    ASSERT_TRUE(p().rename(kPoolRootId, "a", kPoolRootId, "b", 0).ok());
    ASSERT_EQ(tiers_->removals.size(), 2u);
    EXPECT_GT(tiers_->removals[0], v2);
    EXPECT_GT(versionOf(a), tiers_->removals[0]) << "b's entry is newer than b's removal";
    const Version renamed = versionOf(a);
    ASSERT_TRUE(p().link(a, kPoolRootId, "c").ok());
    EXPECT_GT(tiers_->removals.back(), renamed);
    EXPECT_GT(versionOf(a), tiers_->removals.back());
    ASSERT_TRUE(p().unlink(kPoolRootId, "c").ok());
    const Version removed = tiers_->removals.back();
    EXPECT_GT(removed, versionOf(a));

    // A copy from below keeps its version; what the pool commits next is later still, even
    // when the copy came from a host whose clock runs ahead of this one (but not too far).
    EntryImage img;
    img.path = "up";
    img.data = "from another host";
    img.version = Version{removed.hlc + uint64_t{60} * 1000000000, 42};  // a minute ahead
    ASSERT_TRUE(p().importEntry(img).ok());
    const EntryId up = idOf(p(), kPoolRootId, "up");
    EXPECT_EQ(versionOf(up), img.version);
    putEntry(p(), kPoolRootId, "later", "x");
    EXPECT_GT(versionOf(idOf(p(), kPoolRootId, "later")), img.version);
    // One from a clock far in the future is not installed: it would pin every later version.
    img.path = "future";
    img.version.hlc += HybridClock::kMaxAheadNs + uint64_t{60} * 1000000000;
    EXPECT_EQ(p().importEntry(img).code(), EINVAL);
    EXPECT_EQ(p().lookup(kPoolRootId, "future").code(), ENOENT);
    p().verify();
}

// Every removal the tiers hear of is kept in the segment until they give it back: a crash before
// that (kill -9 with erases queued) must not let an older copy come back (issue 19, case 8).
TEST_F(LowerTiersTest, RemovalsAreKeptInTheSegmentUntilTheTiersGiveThemBack) {
    putEntry(p(), kPoolRootId, "a", "one");
    putEntry(p(), kPoolRootId, "b", "two");
    ASSERT_TRUE(p().mkdir(kPoolRootId, "d", 0755, 0, 0).ok());
    // A path longer than a record holds is kept as its longest ancestor's tree.
    EntryId dir = kPoolRootId;
    for (char c : {'x', 'y', 'z'}) {
        ASSERT_TRUE(p().mkdir(dir, std::string(200, c), 0755, 0, 0).ok());
        dir = idOf(p(), dir, std::string(200, c));
    }
    putEntry(p(), dir, std::string(200, 'w'), "deep");
    const std::string deep = std::string(200, 'x') + "/" + std::string(200, 'y') + "/" +
                             std::string(200, 'z') + "/" + std::string(200, 'w');
    for (uint64_t r : tiers_->records) p().dropTombstone(r);  // the commits' erases confirmed
    tiers_->take();
    tiers_->records.clear();
    tiers_->removals.clear();
    ASSERT_TRUE(p().unlink(kPoolRootId, "a").ok());
    ASSERT_TRUE(p().rmdir(kPoolRootId, "d").ok());
    ASSERT_TRUE(p().unlink(dir, std::string(200, 'w')).ok());
    const EntryId b = idOf(p(), kPoolRootId, "b");  // rewritten; its erase of older copies is
    ASSERT_TRUE(p().open(b, Access::Write, Truncate::Yes).ok());  // confirmed by every tier
    p().release(b, Access::Write);
    ASSERT_EQ(tiers_->records.size(), 4u);
    for (uint64_t r : tiers_->records) EXPECT_NE(r, 0u);
    p().dropTombstone(tiers_->records.back());

    const SegmentLocation where = p().location();
    p().setLowerTiers(nullptr);
    pool_.reset();  // killed: no detach
    auto again = Pool::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    pool_ = std::move(*again);
    std::vector<Removal> kept = p().takeKeptTombstones();
    std::sort(kept.begin(), kept.end(),
              [](const Removal& x, const Removal& y) { return x.path < y.path; });
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept[0].path, "a");
    EXPECT_FALSE(kept[0].tree);
    EXPECT_EQ(kept[0].version, tiers_->removals[0]);
    EXPECT_EQ(kept[1].path, "d");
    EXPECT_TRUE(kept[1].tree);
    EXPECT_EQ(kept[2].path, deep.substr(0, deep.rfind('/')));
    EXPECT_TRUE(kept[2].tree);
    EXPECT_TRUE(p().takeKeptTombstones().empty()) << "handed over once";
    // Their slots are no entries', and what the pool makes next does not take them.
    EXPECT_EQ(p().stats().entries, 1u);
    p().setLowerTiers(nullptr);  // c's commit keeps no tombstone
    putEntry(p(), kPoolRootId, "c", "three");
    p().verify();
    for (const Removal& r : kept) p().dropTombstone(r.record);
    pool_.reset();
    again = Pool::attach(where);
    ASSERT_TRUE(again.ok());
    pool_ = std::move(*again);
    EXPECT_TRUE(p().takeKeptTombstones().empty()) << "given back, they are gone";
    EXPECT_EQ(getEntry(p(), idOf(p(), kPoolRootId, "c")), "three");
}

// Tombstones share the inode slots with entries: while a tier stays unreachable they must not
// take them all, or creating an entry would fail. Past a quarter of the slots a removal is told
// to the tiers but not kept.
TEST_F(LowerTiersTest, AtMostAQuarterOfTheSlotsHoldTombstones) {
    auto small = makePool(64, "lru", 0, /*max_entries=*/40);
    ASSERT_NE(small, nullptr);
    Recorder tiers(*small);
    small->setLowerTiers(&tiers);
    // 20 commits and 20 unlinks, none confirmed.
    for (int i = 0; i < 20; ++i)
        small->forget(putEntry(*small, kPoolRootId, "gone-" + std::to_string(i), "x"), 1);
    for (int i = 0; i < 20; ++i)
        ASSERT_TRUE(small->unlink(kPoolRootId, "gone-" + std::to_string(i)).ok());
    const std::vector<uint64_t> kept = tiers.records;
    ASSERT_EQ(kept.size(), 40u) << "every removal is told";
    EXPECT_EQ(small->keptTombstones(), 10u);
    EXPECT_EQ(std::count(kept.begin(), kept.end(), 0u), 30) << "past the cap: told, not kept";
    small->setLowerTiers(nullptr);
    for (int i = 0; i < 30; ++i)
        EXPECT_NE(putEntry(*small, kPoolRootId, "e" + std::to_string(i), "x"), 0u) << i;
    for (uint64_t r : kept) small->dropTombstone(r);
    EXPECT_EQ(small->keptTombstones(), 0u);
    small->dropTombstone(kept[0]);  // twice: nothing happens
    EXPECT_EQ(small->keptTombstones(), 0u);
    small->verify();
}

TEST_F(LowerTiersTest, MissesAskTheTiersLookupAndMatchAlike) {
    putEntry(p(), kPoolRootId, "here", "x");
    tiers_->take();
    auto a = p().lookup(kPoolRootId, "below");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(getEntry(p(), a->id), "from below");
    p().forget(a->id, 1);
    EXPECT_EQ(p().lookup(kPoolRootId, "nowhere").code(), ENOENT);
    EXPECT_EQ(tiers_->take(), (Calls{"promote below", "promote nowhere"}));

    ASSERT_TRUE(p().unlink(kPoolRootId, "below").ok());
    tiers_->take();
    // The leading run is promoted in order up to the first name no tier has; later names are
    // answered from the pool alone.
    auto m = p().match(kPoolRootId, {"here", "below", "nowhere", "here", "later"});
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->leading, 2u);
    EXPECT_EQ(m->cached, (std::vector<bool>{true, true, false, true, false}));
    EXPECT_EQ(tiers_->take(), (Calls{"promote below", "promote nowhere"}));
}

// A data-path store asks the tiers neither for its temporary nor for the name it replaces (a
// copy below would come up only to be replaced), but does when the entry below matters: a store
// that must not replace, and a sticky directory's owner check.
TEST_F(LowerTiersTest, AStoreAsksTheTiersOnlyWhenTheEntryBelowMatters) {
    const Credentials root{};
    StoreItem item;
    item.name = "below";
    item.data = "new bytes";
    item.len = 9;
    auto stored = storeEntry(p(), kPoolRootId, item, ".tmp-1", root);
    ASSERT_TRUE(stored.ok()) << stored.error().message;
    EXPECT_EQ(tiers_->take("promote"), Calls{});
    EXPECT_EQ(getEntry(p(), stored->id), "new bytes");

    ASSERT_TRUE(p().unlink(kPoolRootId, "below").ok());
    tiers_->take();
    item.replace = false;
    EXPECT_EQ(storeEntry(p(), kPoolRootId, item, ".tmp-2", root).code(), EEXIST);
    EXPECT_EQ(tiers_->take("promote"), Calls{"promote below"});
    auto kept = p().lookup(kPoolRootId, "below");
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(getEntry(p(), kept->id), "from below");
    p().forget(kept->id, 1);

    ASSERT_TRUE(p().unlink(kPoolRootId, "below").ok());
    AttrChange sticky;
    sticky.mode = 01777;
    ASSERT_TRUE(p().setattr(kPoolRootId, sticky).ok());
    tiers_->take();
    item.replace = true;
    ASSERT_TRUE(storeEntry(p(), kPoolRootId, item, ".tmp-3", root).ok());
    EXPECT_EQ(tiers_->take("promote"), Calls{"promote below"});
    p().verify();
}

// A data-path store's temporary is a name no tier holds, nor will: its commit, its rename into
// place and (on failure) its unlink make no removal; the name it is stored under gets one.
TEST_F(LowerTiersTest, AStoresTemporaryNameMakesNoRemovals) {
    const Credentials root{};
    StoreItem item;
    item.name = "kv";
    item.data = "bytes";
    item.len = 5;
    tiers_->take();
    ASSERT_TRUE(storeEntry(p(), kPoolRootId, item, ".tmp-1", root).ok());
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete kv", "renamed kv", "written kv"}));
    // A store that fails after its temporary was made (a directory has the name) removes it.
    ASSERT_TRUE(p().mkdir(kPoolRootId, "dir", 0755, 0, 0).ok());
    item.name = "dir";
    EXPECT_EQ(storeEntry(p(), kPoolRootId, item, ".tmp-2", root).code(), EISDIR);
    EXPECT_EQ(tiers_->take("obsolete"), Calls{});
    // The same name made through the mount (a create, not a store) is an ordinary name.
    putEntry(p(), kPoolRootId, ".tmp-3", "x");
    EXPECT_EQ(tiers_->take(), (Calls{"obsolete .tmp-3", "written .tmp-3"}));
    p().verify();
}

}  // namespace
}  // namespace kvc::test
