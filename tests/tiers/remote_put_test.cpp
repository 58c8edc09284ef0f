// The remote tier's conditional put (kRemotePutScript) on a real cluster: the cluster only moves
// forward. A copy or a tombstone is stored only over an older one (or over something that is
// not a value of this format); a tombstone of an entry's own version sorts below that version's
// copy; under maxmemory with noeviction a copy is refused with an error and a tombstone deletes
// the older value instead.
#include <gtest/gtest.h>

#include <string>

#include "core/tiers/redis_cluster.h"
#include "core/tiers/remote_value.h"
#include "tests/tiers/redis_fixture.h"

namespace kvc {
namespace {

using kvctest::RedisClusterFixture;

constexpr uint64_t kLayout = 7;

EntryImage copyOf(const std::string& path, Version v, const std::string& bytes) {
    EntryImage img;
    img.path = path;
    img.data = bytes;
    img.version = v;
    return img;
}

class RemotePutTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!RedisClusterFixture::available()) GTEST_SKIP() << "redis not installed";
        ASSERT_TRUE(fx_.ok()) << fx_.error();
        ClusterOptions o;
        o.seeds = fx_.seeds();
        client_ = std::make_unique<RedisCluster>(o);
    }
    // 1 stored, 0 kept a newer value, 2 deleted instead; -1 an error.
    int64_t put(const std::string& value, bool tombstone, uint64_t ttl_ms = 0) {
        auto r = client_->eval(kRemotePutScript, key_,
                               {value, std::to_string(ttl_ms), tombstone ? "1" : "0"});
        return r ? *r : -1;
    }
    int64_t putCopy(Version v, const std::string& bytes) {
        return put(encodeRemoteValue(copyOf(path_, v, bytes), kLayout), false);
    }
    int64_t putTombstone(Version v) { return put(encodeRemoteTombstone(path_, v, kLayout), true); }
    // What the key holds: the copy's bytes, "<removed>", or "<none>".
    std::string held() {
        auto got = client_->get(key_);
        if (!got || !*got) return "<none>";
        const DecodedValue d = decodeRemoteValue(**got, kLayout, path_);
        if (d.check == RemoteCheck::Removed) return "<removed>";
        return d.check == RemoteCheck::Ok ? d.image.data : "<bad: " + d.problem + ">";
    }

    RedisClusterFixture fx_;
    std::unique_ptr<RedisCluster> client_;
    const std::string path_ = "dir/blk-1";
    const std::string key_ = remoteKey("ns", "p", path_);
};

TEST_F(RemotePutTest, OnlyANewerVersionReplacesWhatTheKeyHolds) {
    EXPECT_EQ(1, putCopy({100, 1}, "v100"));
    EXPECT_EQ(0, putCopy({99, 9}, "v99")) << "an older copy was stored over a newer one";
    EXPECT_EQ(0, putCopy({100, 1}, "again")) << "the same version is not newer";
    EXPECT_EQ("v100", held());
    EXPECT_EQ(1, putCopy({100, 2}, "v100 of node 2")) << "the node orders equal clocks";
    EXPECT_EQ(1, putCopy({0x1'0000'0000, 1}, "big")) << "compared as numbers, not bytes LE";
    EXPECT_EQ("big", held());
}

TEST_F(RemotePutTest, ATombstoneHidesOlderCopiesButNotItsOwnVersionsCopy) {
    EXPECT_EQ(1, putCopy({100, 1}, "v100"));
    // Left by a rewrite committed at version 200: copies older than 200 are obsolete ...
    EXPECT_EQ(1, putTombstone({200, 1}));
    EXPECT_EQ("<removed>", held());
    EXPECT_EQ(0, putCopy({150, 3}, "v150")) << "a host's late demotion of an older copy";
    EXPECT_EQ("<removed>", held());
    // ... but the copy of version 200 itself may still be stored.
    EXPECT_EQ(1, putCopy({200, 1}, "v200"));
    EXPECT_EQ("v200", held());
    EXPECT_EQ(0, putTombstone({200, 1})) << "its own tombstone is older than the copy";
    EXPECT_EQ(0, putTombstone({199, 1}));
    EXPECT_EQ(1, putTombstone({201, 1}));
    EXPECT_EQ("<removed>", held());
}

TEST_F(RemotePutTest, SomethingThatIsNotAValueOfThisFormatIsReplaced) {
    const int node = fx_.masterIndexOfKey(key_);
    ASSERT_GE(node, 0);
    ASSERT_EQ("OK", fx_.cli(node, {"SET", key_, std::string(200, '\xff')}));
    EXPECT_EQ(1, putCopy({1, 1}, "mine"));
    EXPECT_EQ("mine", held());
}

TEST_F(RemotePutTest, TombstonesExpireWithTheirTtl) {
    ASSERT_EQ(1, put(encodeRemoteTombstone(path_, {5, 5}, kLayout), true, 60000));
    const int node = fx_.masterIndexOfKey(key_);
    const long long ttl = std::stoll(fx_.cli(node, {"PTTL", key_}));
    EXPECT_GT(ttl, 50000);
    EXPECT_LE(ttl, 60000);
}

TEST_F(RemotePutTest, UnderNoevictionACopyIsRefusedAndATombstoneDeletesTheOlderValue) {
    const int node = fx_.masterIndexOfKey(key_);
    ASSERT_GE(node, 0);
    ASSERT_EQ(1, putCopy({100, 1}, std::string(4096, 'a')));
    fx_.cli(node, {"CONFIG", "SET", "maxmemory-policy", "noeviction"});
    fx_.cli(node, {"CONFIG", "SET", "maxmemory", "1"});
    EXPECT_EQ(-1, putCopy({300, 1}, "refused")) << "a refused SET must be an error";
    EXPECT_EQ(0, putTombstone({50, 1})) << "an older tombstone deletes nothing";
    EXPECT_NE("<none>", held());
    EXPECT_EQ(2, putTombstone({300, 1}));
    EXPECT_EQ("<none>", held());
    fx_.cli(node, {"CONFIG", "SET", "maxmemory", "0"});
}

}  // namespace
}  // namespace kvc
