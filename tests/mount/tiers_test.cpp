// Lower tiers through the mount: a small shm pool over a disk tier and a real Redis Cluster
// (3 masters on loopback, started and stopped by each test). Evicted entries go down and come
// back byte-identical on lookup, open and .match; two mounts share entries through the cluster;
// a dead master gives misses, never errors or hangs; a corrupt value is a miss and is deleted.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "core/tiers/remote_value.h"
#include "tests/mount/mount_fixture.h"
#include "tests/mount/tier_mount.h"
#include "tests/tiers/redis_fixture.h"

namespace kvctest {
namespace {

constexpr size_t kEntry = 64 * 1024;  // 16 blocks of 4 KiB

std::string name(int i) {
    char b[16];
    snprintf(b, sizeof b, "blk-%03d", i);
    return b;
}
std::string content(int i) {
    return pattern(kEntry, 1000 + static_cast<uint32_t>(i));
}

bool sameAs(const TierMount& m, int i) {
    return readFile(m.path(name(i))).value_or("<missing>") == content(i);
}

TEST(TiersTest, DiskTierTakesEvictedEntriesAndGivesThemBack) {
    TempDir disk;
    ASSERT_FALSE(disk.path().empty());
    TierMount m("size=1M,block_size=4K,disk_dir=" + disk.path() + ",disk_size=16M");
    ASSERT_TRUE(m.start());
    // 48 entries of 64 KiB into a 1 MiB pool: 16 fit, the others go down to disk.
    for (int i = 0; i < 48; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i))) << name(i);
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(32u, m.stat("tier.disk.demotions"));
    EXPECT_EQ(32u, m.stat("tier.disk.entries"));
    EXPECT_EQ(0u, m.stat("tier.disk.dropped_demotions"));
    EXPECT_EQ(16u, m.stat("entries"));
    EXPECT_EQ(ENOENT, statErrno(m.path("never-written")));

    // Every entry reads back whole: from shm, or promoted from disk on lookup.
    for (int i = 0; i < 48; ++i) EXPECT_TRUE(sameAs(m, i)) << name(i);
    EXPECT_GE(m.stat("tier.disk.promotions"), 32u);
    ASSERT_TRUE(m.drained());  // the reads' promotions evicted others: their demotions land
    EXPECT_EQ(48u, m.stat("tier.disk.entries") + m.stat("entries"))
        << "a promoted entry moves up: no copy stays below";

    // .match counts names any tier has.
    std::string chain;
    for (int i = 0; i < 48; ++i) chain += name(i) + "\n";
    chain += "not-there\n";
    auto [err, answer] = controlWrite(m.path(".match"), chain);
    ASSERT_EQ(0, err);
    EXPECT_EQ("48\n" + std::string(48, '1') + "0\n", answer);
    EXPECT_EQ(48u, m.stat("prefix_blocks_hit"));
}

TEST(TiersTest, DiskTierSurvivesARestartAndUnlinkRemovesTheLowerCopy) {
    TempDir disk;
    TierMount m("size=1M,block_size=4K,disk_dir=" + disk.path() + ",disk_size=16M");
    ASSERT_TRUE(m.start());
    for (int i = 0; i < 8; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(8u, m.stat("tier.disk.entries"));
    EXPECT_EQ(0u, m.stat("entries"));

    ASSERT_TRUE(m.mount.remount());
    EXPECT_EQ(8u, m.stat("tier.disk.entries")) << "the disk tier's segment was reattached";
    EXPECT_TRUE(sameAs(m, 3));
    // rm of a name only a lower tier has: the name goes everywhere, it does not come back.
    ASSERT_EQ(0, errnoOf(::unlink(m.path(name(5)).c_str())));
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(ENOENT, statErrno(m.path(name(5))));
    EXPECT_EQ(6u, m.stat("tier.disk.entries"));
    // An rmdir of the pool removes its disk tier's segment file too.
    for (int i : {0, 1, 2, 4, 6, 7}) ASSERT_EQ(0, errnoOf(::unlink(m.path(name(i)).c_str())));
    ASSERT_EQ(0, errnoOf(::unlink(m.path(name(3)).c_str())));
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(0, errnoOf(::rmdir(m.mount.path("p").c_str())));
    EXPECT_TRUE(std::filesystem::is_empty(disk.path()));
}

// rm -rf of a directory whose entries were evicted to the disk tier, or mv of it: a directory
// made again at the old path must not bring the lower copies back (issue 19, case 11).
TEST(TiersTest, ARemovedOrMovedDirectoryLeavesNoLowerCopiesBelowItsOldPath) {
    TempDir disk;
    TierMount m("size=1M,block_size=4K,disk_dir=" + disk.path() + ",disk_size=16M");
    ASSERT_TRUE(m.start());
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d").c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d/sub").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(m.path("d/x"), content(1)));
    ASSERT_EQ(0, writeFile(m.path("d/sub/y"), content(2)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(2u, m.stat("tier.disk.entries"));
    // rm -rf: the shm directories are empty, so rmdir works; the copies below go with them.
    ASSERT_EQ(0, errnoOf(::rmdir(m.path("d/sub").c_str())));
    ASSERT_EQ(0, errnoOf(::rmdir(m.path("d").c_str())));
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(0u, m.stat("tier.disk.entries"));
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d").c_str(), 0755)));
    EXPECT_EQ(ENOENT, statErrno(m.path("d/x"))) << "a removed directory's entry came back";

    // mv: the old path's copies do not come back under a new directory made there.
    ASSERT_EQ(0, writeFile(m.path("d/z"), content(3)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(0, errnoOf(::rename(m.path("d").c_str(), m.path("e").c_str())));
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d").c_str(), 0755)));
    EXPECT_EQ(ENOENT, statErrno(m.path("d/z"))) << "a moved directory's entry came back";
    EXPECT_EQ(ENOENT, statErrno(m.path("e/z"))) << "forgotten, never another path's bytes";
}

TEST(TiersTest, APoolDeclaredInTheConfigFileGetsItsOwnDiskTier) {
    TempDir disk;
    const std::string config = disk.path() + "/kvcachefs.toml";
    ASSERT_EQ(0, writeFile(config, "[pools.q]\nsize = \"1M\"\ndisk_dir = \"" + disk.path() +
                                       "\"\ndisk_size = \"4M\"\ndisk_policy = \"fifo\"\n"));
    KvcMount m("size=1M,config=" + config);
    ASSERT_TRUE(m.start());
    for (int i = 0; i < 20; ++i) ASSERT_EQ(0, writeFile(m.path("q/" + name(i)), content(i)));
    const std::string stats = m.path("q/.stats");
    ASSERT_TRUE(eventually([&] { return statNum(readStats(stats), "tier.queue.entries") == 0; }));
    EXPECT_EQ(4u, statNum(readStats(stats), "tier.disk.entries"));
    EXPECT_EQ(4u * 1024 * 1024, statNum(readStats(stats), "tier.disk.capacity_bytes"));
    // A pool made with mkdir takes the defaults: no lower tier.
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("plain").c_str(), 0755)));
    EXPECT_EQ(0u, readStats(m.path("plain/.stats")).count("tier.queue.entries"));
    // The root .metrics has the tier counters, labelled by pool and tier.
    const std::string metrics = readFile(m.path(".metrics")).value_or("");
    EXPECT_NE(std::string::npos,
              metrics.find("kvcachefs_tier_demotions_total{pool=\"q\",tier=\"disk\"} 4\n"))
        << metrics;
    // Removed and made again with mkdir, the declared pool gets its declared tier back.
    for (int i = 0; i < 20; ++i) ASSERT_EQ(0, errnoOf(::unlink(m.path("q/" + name(i)).c_str())));
    ASSERT_TRUE(eventually([&] { return statNum(readStats(stats), "tier.queue.entries") == 0; }));
    ASSERT_EQ(0, errnoOf(::rmdir(m.path("q").c_str())));
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("q").c_str(), 0755)));
    EXPECT_EQ(4u * 1024 * 1024, statNum(readStats(stats), "tier.disk.capacity_bytes"));
    EXPECT_EQ(1024u * 1024, statNum(readStats(stats), "capacity_bytes"));
}

class RemoteTiersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        cluster_ = std::make_unique<RedisClusterFixture>(masters(), replicas());
        ASSERT_TRUE(cluster_->ok()) << cluster_->error();
        seeds_ = plusJoined(cluster_->seeds());
    }
    virtual int masters() const { return 3; }
    virtual int replicas() const { return 0; }
    std::string remote(const std::string& ns) const {
        return ",remote=" + seeds_ + ",remote_namespace=" + ns;
    }
    // The node holding an entry's value.
    int nodeOf(const std::string& ns, const std::string& n) const {
        return cluster_->masterIndexOfKey("{}" + ns + ":p:" + n);
    }
    // What the cluster holds for an entry: "copy", "tombstone" (a removal's: a header and the
    // path, nothing else) or "none".
    std::string held(const std::string& ns, const std::string& n) const {
        const std::string len = cluster_->cli(nodeOf(ns, n), {"STRLEN", "{}" + ns + ":p:" + n});
        if (len == "0") return "none";
        return len == std::to_string(kvc::kRemoteHeaderBytes + n.size()) ? "tombstone" : "copy";
    }

    std::unique_ptr<RedisClusterFixture> cluster_;
    std::string seeds_;
};

TEST_F(RemoteTiersTest, TwoMountsShareEntriesThroughTheCluster) {
    TierMount a("size=1M,block_size=4K,write_through" + remote("share"));
    TierMount b("size=1M,block_size=4K" + remote("share"));
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(b.start());
    // Published when closed (write-through) ...
    for (int i = 0; i < 4; ++i) ASSERT_EQ(0, writeFile(a.path(name(i)), content(i)));
    ASSERT_TRUE(a.drained());
    // ... or when evicted.
    for (int i = 4; i < 24; ++i) ASSERT_EQ(0, writeFile(a.path(name(i)), content(i)));
    ASSERT_TRUE(a.drained());
    EXPECT_EQ(0u, a.stat("tier.remote.errors"));
    for (int i = 0; i < 24; ++i) EXPECT_TRUE(sameAs(b, i)) << name(i) << " read on the other mount";
    EXPECT_GE(b.stat("tier.remote.promotions"), 16u);
    // Keys spread over every master (no hash tag on the shared part).
    for (size_t n : cluster_->masters()) EXPECT_GT(cluster_->dbsize(n), 0) << "master " << n;
    // Another namespace shares nothing.
    TierMount c("size=1M,block_size=4K" + remote("other"));
    ASSERT_TRUE(c.start());
    EXPECT_EQ(ENOENT, statErrno(c.path(name(0))));
}

// Issue 19, case 4: host B evicted a copy it had only read (promoted from the cluster), and its
// demotion put v1 back over host A's v2; a third host then read v1. Copies carry versions now,
// and the cluster keeps a value unless what comes is newer.
TEST_F(RemoteTiersTest, AHostsOlderCopyNeverGoesBackOverAnotherHostsNewerWrite) {
    TierMount a("size=1M,block_size=4K,write_through" + remote("hosts"));
    TierMount b("size=1M,block_size=4K" + remote("hosts"));
    TierMount c("size=1M,block_size=4K" + remote("hosts"));
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(b.start());
    ASSERT_TRUE(c.start());
    ASSERT_EQ(0, writeFile(a.path("x"), content(1)));
    ASSERT_TRUE(a.settled());
    ASSERT_EQ(content(1), readFile(b.path("x")).value_or("<missing>"));
    ASSERT_EQ(0, writeFile(a.path("x"), content(2)));  // v2, published
    ASSERT_TRUE(a.settled());
    ASSERT_TRUE(b.evictAll());  // B's v1 goes down ...
    ASSERT_TRUE(b.settled());
    EXPECT_EQ(1u, b.stat("tier.remote.stale_puts")) << "... and is not stored over v2";
    EXPECT_EQ(content(2), readFile(c.path("x")).value_or("<missing>")) << "C read an old version";

    // Without write_through, a rewrite leaves a tombstone of its version: B's older copy is
    // not stored either, and C misses instead of reading v2's predecessor.
    ASSERT_EQ(0, writeFile(b.path("y"), content(3)));
    ASSERT_TRUE(b.evictAll());
    ASSERT_TRUE(b.settled());
    ASSERT_EQ(content(3), readFile(a.path("y")).value_or("<missing>"));  // A has v1 of y now
    ASSERT_EQ(0, writeFile(b.path("y"), content(4)));                    // B's v2: a tombstone
    ASSERT_TRUE(b.settled());
    ASSERT_TRUE(a.evictAll());  // A's v1 of y goes down: refused (and x: the cluster has it)
    ASSERT_TRUE(a.settled());
    EXPECT_EQ(2u, a.stat("tier.remote.stale_puts"));
    EXPECT_EQ(ENOENT, statErrno(c.path("y"))) << "C must miss, not read the older version";
    // B's own v2, once evicted, is stored over its tombstone, and everyone reads it.
    ASSERT_TRUE(b.evictAll());
    ASSERT_TRUE(b.settled());
    EXPECT_EQ(content(4), readFile(c.path("y")).value_or("<missing>"));
}

TEST_F(RemoteTiersTest, EntriesGoDownThroughDiskToRemoteAndComeBack) {
    TempDir disk;
    TierMount m("size=512K,block_size=4K,disk_dir=" + disk.path() + ",disk_size=1M" +
                remote("chain"));
    ASSERT_TRUE(m.start());
    for (int i = 0; i < 40; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i))) << name(i);
    ASSERT_TRUE(m.drained());
    // 8 in shm, 16 on disk, the rest in the cluster.
    EXPECT_EQ(8u, m.stat("entries"));
    EXPECT_EQ(16u, m.stat("tier.disk.entries"));
    EXPECT_EQ(32u, m.stat("tier.disk.demotions"));
    EXPECT_EQ(16u, m.stat("tier.remote.demotions"));
    // Newest first, so that what is on disk is still there when its turn comes (reading the
    // oldest first would push the disk tier's entries on down to the cluster).
    for (int i = 39; i >= 0; --i) EXPECT_TRUE(sameAs(m, i)) << name(i);
    ASSERT_TRUE(m.drained());
    EXPECT_GT(m.stat("tier.disk.promotions"), 0u);
    EXPECT_GT(m.stat("tier.remote.promotions"), 0u);
    EXPECT_EQ(0u, m.stat("tier.remote.errors"));
}

TEST_F(RemoteTiersTest, ACorruptValueIsAMissAndIsDeleted) {
    TierMount m("size=1M,block_size=4K,write_through" + remote("bad"));
    ASSERT_TRUE(m.start());
    ASSERT_EQ(0, writeFile(m.path("x"), content(1)));
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(0, errnoOf(::unlink(m.path("x").c_str())));  // gone here and below
    ASSERT_TRUE(m.drained());
    const std::string key = "{}bad:p:x";
    const int node = nodeOf("bad", "x");
    ASSERT_GE(node, 0);
    EXPECT_EQ("tombstone", held("bad", "x"));
    // Someone else's damaged bytes under our key.
    ASSERT_EQ("OK", cluster_->cli(node, {"SET", key, "KVCR garbage that is not a value"}));
    EXPECT_EQ(ENOENT, statErrno(m.path("x")));
    EXPECT_EQ(1u, m.stat("tier.remote.corrupt"));
    EXPECT_EQ("0", cluster_->cli(node, {"EXISTS", key})) << "the corrupt value was deleted";
}

TEST_F(RemoteTiersTest, NoOlderCopyComesBackAfterAnOverwriteOrARename) {
    TierMount m("size=1M,block_size=4K" + remote("stale"));
    ASSERT_TRUE(m.start());
    const int node = nodeOf("stale", "x");
    auto below = [&](const std::string& n) { return held("stale", n); };
    ASSERT_EQ(0, writeFile(m.path("x"), content(1)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_GE(node, 0);
    EXPECT_EQ("copy", below("x"));
    EXPECT_EQ(content(1), readFile(m.path("x")).value_or("<missing>"));
    EXPECT_EQ("copy", below("x")) << "a promotion leaves the shared copy";
    // Overwritten here: the cluster's copy is an older version and goes.
    ASSERT_EQ(0, writeFile(m.path("x"), content(2)));
    ASSERT_TRUE(m.drained());
    EXPECT_EQ("tombstone", below("x"));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(content(2), readFile(m.path("x")).value_or("<missing>"));

    // Renamed: neither name may bring back what the cluster had under it.
    ASSERT_EQ(0, writeFile(m.path("y"), content(3)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ("copy", below("y"));
    ASSERT_EQ(0, errnoOf(::rename(m.path("y").c_str(), m.path("w").c_str())));
    ASSERT_TRUE(m.drained());
    EXPECT_EQ("tombstone", below("y"));
    EXPECT_EQ(ENOENT, statErrno(m.path("y")));
    EXPECT_EQ(content(3), readFile(m.path("w")).value_or("<missing>"));

    // Truncated by path (setattr, no open): the cluster's longer copy goes too (issue 19, 3).
    ASSERT_EQ(0, writeFile(m.path("t"), content(4)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ("copy", below("t"));
    EXPECT_EQ(content(4), readFile(m.path("t")).value_or("<missing>"));  // promoted
    ASSERT_EQ(0, errnoOf(::truncate(m.path("t").c_str(), 100)));
    ASSERT_TRUE(m.drained());
    EXPECT_EQ("tombstone", below("t"));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    const auto after = readFile(m.path("t"));
    EXPECT_TRUE(!after || *after == content(4).substr(0, 100)) << "an older copy came back";
}

// The same through the cluster: the keys below a removed directory are found on every master
// and deleted (issue 19, case 11).
TEST_F(RemoteTiersTest, ARemovedDirectoryLeavesNoKeysBelowItInTheCluster) {
    TierMount m("size=1M,block_size=4K" + remote("trees"));
    ASSERT_TRUE(m.start());
    auto below = [&](const std::string& n) { return held("trees", n); };
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d").c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d*").c_str(), 0755)));  // a glob character
    for (int i = 0; i < 12; ++i) ASSERT_EQ(0, writeFile(m.path("d/" + name(i)), content(i)));
    ASSERT_EQ(0, writeFile(m.path("d*/kept"), content(20)));
    ASSERT_EQ(0, writeFile(m.path("dx"), content(21)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    for (int i = 0; i < 12; ++i) ASSERT_EQ("copy", below("d/" + name(i))) << i;
    ASSERT_EQ(0, errnoOf(::rmdir(m.path("d").c_str())));
    ASSERT_TRUE(m.drained());
    for (int i = 0; i < 12; ++i) EXPECT_EQ("tombstone", below("d/" + name(i))) << i;
    EXPECT_EQ("copy", below("d*/kept")) << "another directory's keys stay";
    EXPECT_EQ("copy", below("dx")) << "a name that only starts like it stays";
    ASSERT_EQ(0, errnoOf(::mkdir(m.path("d").c_str(), 0755)));
    EXPECT_EQ(ENOENT, statErrno(m.path("d/" + name(3))));
    EXPECT_EQ(content(20), readFile(m.path("d*/kept")).value_or("<missing>"));
}

// restore= writes through the pool's API, not the mount: the pool itself tells its tiers, so a
// restored name leaves no older copy below (issue 18, one home for tier consistency; issue 19,
// case 10). Before, the disk tier kept v1 and the cluster too, and both came back after eviction.
TEST_F(RemoteTiersTest, RestoreAtMountLeavesNoOlderCopyInAnyLowerTier) {
    TempDir dir;
    const std::string image = dir.path() + "/p.kvs";
    const std::string v1 = content(1).substr(0, 1000), v2 = content(2);
    {
        KvcMount src("size=1M,block_size=4K");
        ASSERT_TRUE(src.start());
        ASSERT_EQ(0, errnoOf(::mkdir(src.path("p").c_str(), 0755)));
        ASSERT_EQ(0, writeFile(src.path("p/x"), v2));
        std::string out;
        ASSERT_EQ(0, runProgram({KVCACHEFS_BIN, "snapshot", src.path("p"), image}, &out)) << out;
        src.cleanup();
    }
    TierMount m("size=1M,block_size=4K,write_through,disk_dir=" + dir.path() +
                ",disk_size=16M,restore=" + image + remote("rst"));
    ASSERT_TRUE(m.mount.start());  // p comes from the image
    const std::string key = "{}rst:p:x";
    const int node = nodeOf("rst", "x");
    ASSERT_GE(node, 0);
    auto remoteBytes = [&] { return atoll(cluster_->cli(node, {"STRLEN", key}).c_str()); };
    // v1 replaces it here and goes down: the cluster (write_through) and the disk tier hold v1.
    ASSERT_EQ(0, writeFile(m.path("x"), v1));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(1u, m.stat("tier.disk.entries"));
    ASSERT_GT(remoteBytes(), 0);
    ASSERT_LT(remoteBytes(), 60000) << "the cluster holds v1";

    ASSERT_TRUE(m.mount.remount());  // restore= again: x is v2 in shared memory
    ASSERT_TRUE(m.settled());
    EXPECT_EQ(0u, m.stat("tier.disk.entries")) << "the disk tier still holds v1";
    EXPECT_GT(remoteBytes(), 60000) << "the cluster holds v1 (or nothing)";
    EXPECT_EQ(v2, readFile(m.path("x")).value_or("<missing>"));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    EXPECT_EQ(v2, readFile(m.path("x")).value_or("<missing>"));
    m.mount.cleanup();
}

// Issue 19, case 6: with write_through, a rewrite whose SET the cluster refuses (maxmemory with
// noeviction) left the older value there, and it came back after an eviction. A refused SET now
// erases the key instead.
TEST_F(RemoteTiersTest, ARefusedSetErasesTheOlderValue) {
    TierMount m("size=1M,block_size=4K,write_through" + remote("oom"));
    ASSERT_TRUE(m.start());
    const int node = nodeOf("oom", "x");
    ASSERT_GE(node, 0);
    const std::string key = "{}oom:p:x";
    ASSERT_EQ(0, writeFile(m.path("x"), content(1)));
    ASSERT_TRUE(m.settled());
    ASSERT_EQ("1", cluster_->cli(node, {"EXISTS", key}));
    // From now on the node refuses every write that needs memory (DEL still works).
    cluster_->cli(node, {"CONFIG", "SET", "maxmemory-policy", "noeviction"});
    cluster_->cli(node, {"CONFIG", "SET", "maxmemory", "1"});
    ASSERT_EQ(0, writeFile(m.path("x"), content(2)));
    ASSERT_TRUE(m.settled());
    EXPECT_EQ("0", cluster_->cli(node, {"EXISTS", key})) << "the older value stayed";
    ASSERT_TRUE(m.evictAll());  // its demotion is refused too
    ASSERT_TRUE(m.settled());
    const auto got = readFile(m.path("x"));
    EXPECT_TRUE(!got || *got == content(2)) << "an older version came back";
    EXPECT_GE(m.stat("tier.remote.dropped_demotions"), 2u);
    cluster_->cli(node, {"CONFIG", "SET", "maxmemory", "0"});
}

// Issue 19, case 5: an erase the cluster does not confirm (a paused node: the DEL times out)
// used to be dropped, and the removed entry came back with its old bytes. It is tried again,
// with a growing delay, until the node confirms; meanwhile the name is a miss.
TEST_F(RemoteTiersTest, AnEraseTheClusterDidNotConfirmIsTriedAgain) {
    TierMount m("size=1M,block_size=4K,remote_timeout_ms=200" + remote("del"));
    ASSERT_TRUE(m.start());
    const int node = nodeOf("del", "x");
    ASSERT_GE(node, 0);
    const std::string key = "{}del:p:x";
    ASSERT_EQ(0, writeFile(m.path("x"), content(1)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.settled());
    ASSERT_EQ("1", cluster_->cli(node, {"EXISTS", key}));
    ASSERT_EQ(content(1), readFile(m.path("x")).value_or("<missing>"));  // promoted
    // Writes to the node wait for 2 s: the rm's DEL times out, again and again.
    cluster_->cli(node, {"CLIENT", "PAUSE", "2000", "WRITE"});
    ASSERT_EQ(0, errnoOf(::unlink(m.path("x").c_str())));
    EXPECT_EQ(ENOENT, statErrno(m.path("x"))) << "a removal still queued is a miss";
    ASSERT_TRUE(m.drained()) << "the erase was never confirmed";
    EXPECT_EQ("tombstone", held("del", "x"));
    EXPECT_GT(m.stat("tier.remote.erase_retries"), 0u);
    EXPECT_EQ(ENOENT, statErrno(m.path("x"))) << "the removed entry came back";
}

// Issue 19, case 8: erases lived only in the queue, in memory; after a kill -9 a removed entry
// and an overwritten version came back. Every removal is kept in the pool's segment until the
// cluster confirmed it, and a remount tells the cluster again.
TEST_F(RemoteTiersTest, RemovalsQueuedAtAKillAreCarriedOutAfterTheRemount) {
    TierMount m("size=1M,block_size=4K,remote_timeout_ms=200" + remote("kill"));
    ASSERT_TRUE(m.start());
    for (const char* n : {"x", "y"}) ASSERT_EQ(0, writeFile(m.path(n), content(1)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.settled());
    for (const char* n : {"x", "y"}) {
        ASSERT_EQ("copy", held("kill", n));
        ASSERT_EQ(content(1), readFile(m.path(n)).value_or("<missing>"));  // promoted
    }
    // The cluster takes no write for 3 s: the removal of x and the tombstone of y's new version
    // wait in the queue when the daemon is killed.
    for (size_t n : cluster_->masters()) cluster_->cli(n, {"CLIENT", "PAUSE", "3000", "WRITE"});
    ASSERT_EQ(0, errnoOf(::unlink(m.path("x").c_str())));
    ASSERT_EQ(0, writeFile(m.path("y"), "v2"));
    ASSERT_TRUE(eventually([&] { return m.stat("open_entries") == 0; }));
    ASSERT_TRUE(m.mount.killAndRemount());
    EXPECT_EQ(ENOENT, statErrno(m.path("x"))) << "the removed entry came back";
    ASSERT_TRUE(m.drained()) << "the removals kept were not carried out";
    EXPECT_EQ("tombstone", held("kill", "x"));
    EXPECT_EQ("tombstone", held("kill", "y")) << "the older version stayed in the cluster";
    EXPECT_EQ("v2", readFile(m.path("y")).value_or("<missing>"));
    EXPECT_EQ(ENOENT, statErrno(m.path("x")));
}

TEST_F(RemoteTiersTest, ADeadMasterGivesMissesNotErrorsOrHangs) {
    TierMount m("size=256K,block_size=4K,remote_timeout_ms=200" + remote("dead"));
    ASSERT_TRUE(m.start());
    for (int i = 0; i < 30; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_EQ(30u, m.stat("tier.remote.demotions"));
    const size_t victim = cluster_->masters().front();
    cluster_->killNode(victim);
    int lost = 0, served = 0;
    for (int i = 0; i < 30; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const int err = statErrno(m.path(name(i)));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        EXPECT_LT(ms, 2000) << name(i) << ": a lookup must never hang on the remote tier";
        if (nodeOf("dead", name(i)) == static_cast<int>(victim) || err == ENOENT) {
            EXPECT_TRUE(err == ENOENT || err == 0) << name(i) << ": " << errName(err);
            lost += err == ENOENT;
        } else {
            EXPECT_EQ(0, err) << name(i);
        }
        if (err == 0) {
            EXPECT_TRUE(sameAs(m, i)) << name(i);
            served++;
        }
    }
    EXPECT_GT(lost, 0) << "some keys lived on the dead master";
    EXPECT_GT(served, 0) << "keys on the other masters keep working";
    EXPECT_GT(m.stat("tier.remote.errors"), 0u);
    // New entries are still written: a failed put is dropped, never an error for the client.
    for (int i = 30; i < 40; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i)));
}

class FailoverTiersTest : public RemoteTiersTest {
  protected:
    int replicas() const override { return 1; }
};

TEST_F(FailoverTiersTest, AfterAFailoverTheDeadMastersKeysAreServedAgain) {
    TierMount m("size=256K,block_size=4K,remote_timeout_ms=200" + remote("fo"));
    ASSERT_TRUE(m.start());
    for (int i = 0; i < 30; ++i) ASSERT_EQ(0, writeFile(m.path(name(i)), content(i)));
    ASSERT_TRUE(m.evictAll());
    ASSERT_TRUE(m.drained());
    ASSERT_TRUE(cluster_->waitForReplication());
    const size_t victim = cluster_->masters().front();
    std::vector<int> on_victim;
    for (int i = 0; i < 30; ++i)
        if (nodeOf("fo", name(i)) == static_cast<int>(victim)) on_victim.push_back(i);
    ASSERT_FALSE(on_victim.empty());
    cluster_->killNode(victim);
    ASSERT_GE(cluster_->waitForFailover(victim), 0) << cluster_->logs();
    // The client refreshes its slot table and finds the promoted replica (its breaker and
    // refresh interval may take a few seconds).
    for (int i : on_victim) EXPECT_TRUE(eventually([&] { return sameAs(m, i); }, 10000)) << name(i);
}

}  // namespace
}  // namespace kvctest
