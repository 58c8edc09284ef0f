// RedisCluster against real clusters (RedisClusterFixture): slot hashing against known vectors
// and the server's CLUSTER KEYSLOT, round trips spread over every master, binary and large values,
// TTLs, MOVED and ASK during a slot migration, a dead and a stalled master (bounded errors, then
// breaker skips), failover to a replica, and concurrent callers.
#include "core/tiers/redis_cluster.h"
#include "core/config.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/tiers/redis_fixture.h"

namespace {

using kvc::ClusterCounters;
using kvc::ClusterOptions;
using kvc::RedisCluster;
using kvctest::RedisClusterFixture;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string pattern(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(rng() & 0xff);
    return out;
}

ClusterOptions optionsFor(const RedisClusterFixture& fx) {
    ClusterOptions options;
    options.seeds = fx.seeds();
    return options;
}

// A 127.0.0.1 address nothing listens on.
std::string deadAddress() {
    for (int port = 39990; port > 39000; --port) {
        if (kvctest::redis_detail::portFree(port)) return "127.0.0.1:" + std::to_string(port);
    }
    return "127.0.0.1:1";
}

long long elapsedMs(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

#define REQUIRE_CLUSTER(fx)                                                           \
    do {                                                                              \
        if (!RedisClusterFixture::available()) GTEST_SKIP() << "redis not installed"; \
        ASSERT_TRUE((fx).ok()) << (fx).error();                                       \
    } while (0)

// --- hashing and parsing ------------------------------------------------------------------------

TEST(RedisHash, Crc16KnownVectors) {
    EXPECT_EQ(kvc::crc16("123456789"), 0x31C3);
    EXPECT_EQ(kvc::crc16(""), 0);
    EXPECT_EQ(kvc::crc16(std::string_view("\0", 1)), 0);
    EXPECT_EQ(kvc::crc16("A"), 0x58E5);
}

TEST(RedisHash, KeySlotFollowsRedisRules) {
    EXPECT_EQ(kvc::keySlot("foo"), 12182);
    EXPECT_EQ(kvc::keySlot("bar"), 5061);
    EXPECT_EQ(kvc::keySlot("123456789"), 0x31C3 & 16383);
    EXPECT_EQ(kvc::keySlot("{user1000}.following"), kvc::keySlot("{user1000}.followers"));
    EXPECT_EQ(kvc::keySlot("{user1000}.following"), kvc::keySlot("user1000"));
    // An empty tag: the whole key is hashed.
    EXPECT_EQ(kvc::keySlot("{}foo"), kvc::crc16("{}foo") & 16383);
    EXPECT_NE(kvc::keySlot("{}foo"), kvc::keySlot("foo"));
    EXPECT_EQ(kvc::keySlot("foo{}{bar}"), kvc::crc16("foo{}{bar}") & 16383);
    // Only the first '{' and the first '}' after it count.
    EXPECT_EQ(kvc::keySlot("foo{{bar}}zap"), kvc::keySlot("{bar"));
    EXPECT_EQ(kvc::keySlot("foo{bar}{zap}"), kvc::keySlot("bar"));
    EXPECT_EQ(kvc::keySlot("{a"), kvc::crc16("{a") & 16383);
    EXPECT_EQ(kvc::keySlot(""), 0);
    for (uint32_t i = 0; i < 1000; ++i) EXPECT_LT(kvc::keySlot(pattern(1 + i % 40, i)), 16384);
}

TEST(RedisSeeds, ParsesListsWithAnySeparator) {
    auto two = kvc::parseSeedList("127.0.0.1:7000,127.0.0.1:7001");
    ASSERT_TRUE(two.ok()) << two.error().message;
    EXPECT_EQ(*two, (std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"}));

    auto mixed = kvc::parseSeedList(" a:1+b:2 c:3 , d.example:65535 ");
    ASSERT_TRUE(mixed.ok()) << mixed.error().message;
    EXPECT_EQ(*mixed, (std::vector<std::string>{"a:1", "b:2", "c:3", "d.example:65535"}));

    auto v6 = kvc::parseSeedList("[::1]:6379");
    ASSERT_TRUE(v6.ok()) << v6.error().message;
    EXPECT_EQ(*v6, (std::vector<std::string>{"[::1]:6379"}));
}

TEST(RedisSeeds, RejectsBadItemsNamingThem) {
    for (const char* bad : {"", " , ", "host", "host:", ":7000", "host:0", "host:65536", "host:7x",
                            "host:-1", "[::1:7000"}) {
        auto r = kvc::parseSeedList(bad);
        EXPECT_FALSE(r.ok()) << "accepted '" << bad << "'";
        if (!r.ok()) {
            EXPECT_EQ(r.code(), EINVAL) << bad;
        }
    }
    auto r = kvc::parseSeedList("a:1,oops,b:2");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), EINVAL);
    EXPECT_NE(r.error().message.find("oops"), std::string::npos) << r.error().message;
}

// --- without a cluster ---------------------------------------------------------------------------

TEST(RedisClusterClient, UnreachableSeedFailsFastNamingIt) {
    std::string dead = deadAddress();
    ClusterOptions options;
    options.seeds = {dead};
    RedisCluster client(options);
    auto start = Clock::now();
    auto r = client.get("key");
    EXPECT_LT(elapsedMs(start), 1500);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), EHOSTUNREACH);
    EXPECT_NE(r.error().message.find(dead), std::string::npos) << r.error().message;
    EXPECT_FALSE(client.set("key", "v", 0).ok());
    EXPECT_EQ(client.counters().requests, 2u);
    EXPECT_EQ(client.counters().errors, 2u);
    EXPECT_TRUE(client.nodes().empty());
}

TEST(RedisClusterClient, BadSeedIsReportedByEveryCall) {
    ClusterOptions options;
    options.seeds = {"nonsense"};
    RedisCluster client(options);
    auto r = client.get("key");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), EINVAL);
    EXPECT_NE(r.error().message.find("nonsense"), std::string::npos);
    EXPECT_EQ(client.del("key").code(), EINVAL);
}

// --- a healthy cluster ---------------------------------------------------------------------------

TEST(RedisClusterClient, RoundTripSpreadsOverEveryMaster) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    ClusterOptions options = optionsFor(fx);
    options.seeds.insert(options.seeds.begin(), deadAddress());  // a dead seed is skipped
    RedisCluster client(options);

    constexpr int kKeys = 500;
    auto key = [](int i) {
        return "kv/layer" + std::to_string(i % 32) + "/block" + std::to_string(i);
    };
    for (int i = 0; i < kKeys; ++i) {
        auto s = client.set(key(i), pattern(100 + i, i), 0);
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    for (int i = 0; i < kKeys; ++i) {
        auto r = client.get(key(i));
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->has_value()) << key(i);
        EXPECT_EQ(**r, pattern(100 + i, i)) << key(i);
    }

    // Every master got a share, and the keys are where the cluster says they belong.
    std::vector<size_t> masters = fx.masters();
    ASSERT_EQ(masters.size(), 3u);
    long long total = 0;
    std::vector<std::string> master_addresses;
    for (size_t m : masters) {
        long long n = fx.dbsize(m);
        EXPECT_GT(n, 50) << "master " << fx.address(m);
        total += n;
        master_addresses.push_back(fx.address(m));
    }
    EXPECT_EQ(total, kKeys);
    std::sort(master_addresses.begin(), master_addresses.end());
    EXPECT_EQ(client.nodes(), master_addresses);
    for (int i = 0; i < kKeys; i += 50) {
        int owner = fx.masterIndexOfKey(key(i));
        ASSERT_GE(owner, 0);
        EXPECT_EQ(fx.cli(static_cast<size_t>(owner), {"EXISTS", key(i)}), "1") << key(i);
    }
    ClusterCounters c = client.counters();
    EXPECT_EQ(c.moved, 0u);  // routed right the first time
    EXPECT_EQ(c.asks, 0u);
    EXPECT_EQ(c.errors, 0u);
    EXPECT_GE(c.refreshes, 1u);
    EXPECT_EQ(c.requests, 2u * kKeys);

    for (int i = 0; i < kKeys; ++i) {
        auto s = client.del(key(i));
        ASSERT_TRUE(s.ok()) << s.error().message;
    }
    for (size_t m : masters) EXPECT_EQ(fx.dbsize(m), 0) << fx.address(m);
    auto gone = client.get(key(7));
    ASSERT_TRUE(gone.ok()) << gone.error().message;
    EXPECT_FALSE(gone->has_value());
}

// SCAN goes to every master: keys of a prefix spread over all of them are all found, and only
// they (the pattern is a glob: a '*' in a key is escaped by the caller).
TEST(RedisClusterClient, ScanFindsMatchingKeysOnEveryMaster) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));
    std::vector<std::string> want;
    for (int i = 0; i < 300; ++i) {
        want.push_back("{}ns:p:dir/blk" + std::to_string(i));
        ASSERT_TRUE(client.set(want.back(), "v", 0).ok());
    }
    ASSERT_TRUE(client.set("{}ns:p:dirx", "v", 0).ok());
    ASSERT_TRUE(client.set("{}ns:p:d*r/blk", "v", 0).ok());
    auto found = client.scan("{}ns:p:dir/*");
    ASSERT_TRUE(found.ok()) << found.error().message;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(*found, want);
    auto star = client.scan("{}ns:p:d\\*r/*");
    ASSERT_TRUE(star.ok()) << star.error().message;
    EXPECT_EQ(*star, std::vector<std::string>{"{}ns:p:d*r/blk"});
    for (size_t m : fx.masters()) EXPECT_GT(fx.dbsize(m), 50) << "the keys spread over masters";
}

TEST(RedisClusterClient, KeySlotAgreesWithTheServer) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    for (const std::string key : {"foo", "{user1000}.following", "{}foo", "foo{{bar}}zap",
                                  "foo{bar}{zap}", "{a", "a}b{c", "kv/model/layer/12/block/9"}) {
        EXPECT_EQ(kvc::keySlot(key), fx.keySlot(key)) << key;
    }
    for (int i = 0; i < 20; ++i) {
        std::string key =
            "key-" + std::to_string(i * 7919) + (i % 3 == 0 ? "{t" + std::to_string(i) + "}" : "");
        EXPECT_EQ(kvc::keySlot(key), fx.keySlot(key)) << key;
    }
}

TEST(RedisClusterClient, BinaryLargeAbsentAndExpiringValues) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));

    std::string every_byte;
    for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
    std::string nul_key("bin\0key", 7);
    std::string nul_value("\0\0a\0b\0", 6);
    ASSERT_TRUE(client.set(nul_key, nul_value, 0).ok());
    ASSERT_TRUE(client.set("every-byte", every_byte, 0).ok());
    auto r = client.get(nul_key);
    ASSERT_TRUE(r.ok() && r->has_value()) << (r.ok() ? "absent" : r.error().message);
    EXPECT_EQ(**r, nul_value);
    EXPECT_FALSE(client.get(std::string("bin\0kez", 7))->has_value());  // NUL is part of the key
    r = client.get("every-byte");
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ(**r, every_byte);

    std::string mib = pattern(1 << 20, 42);
    for (int i = 0; i < 4; ++i) {
        std::string key = "big" + std::to_string(i);
        ASSERT_TRUE(client.set(key, mib, 0).ok());
        r = client.get(key);
        ASSERT_TRUE(r.ok() && r->has_value()) << (r.ok() ? "absent" : r.error().message);
        EXPECT_EQ(r->value().size(), mib.size());
        EXPECT_TRUE(**r == mib);
    }

    r = client.get("never-written");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->has_value());
    EXPECT_TRUE(client.del("never-written").ok());

    // TTL: present at once, gone after 500 ms; ttl 0 means no expiry at all.
    ASSERT_TRUE(client.set("short-lived", "v", 200).ok());
    ASSERT_TRUE(client.set("forever", "v", 0).ok());
    r = client.get("short-lived");
    ASSERT_TRUE(r.ok() && r->has_value());
    int owner = fx.masterIndexOfKey("short-lived");
    ASSERT_GE(owner, 0);
    long long pttl = atoll(fx.cli(static_cast<size_t>(owner), {"PTTL", "short-lived"}).c_str());
    EXPECT_GT(pttl, 0);
    EXPECT_LE(pttl, 200);
    owner = fx.masterIndexOfKey("forever");
    EXPECT_EQ(fx.cli(static_cast<size_t>(owner), {"TTL", "forever"}), "-1");
    std::this_thread::sleep_for(500ms);
    r = client.get("short-lived");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->has_value());
    EXPECT_TRUE(client.get("forever")->has_value());
    EXPECT_EQ(client.counters().errors, 0u);
}

// --- resharding
// ------------------------------------------------------------------------------------

TEST(RedisClusterClient, FollowsMovedAfterASlotMigration) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i) keys.push_back("{moving}k" + std::to_string(i));
    for (const auto& k : keys) ASSERT_TRUE(client.set(k, "v-" + k, 0).ok());

    int slot = kvc::keySlot(keys[0]);
    int from = fx.ownerOfSlot(slot);
    ASSERT_GE(from, 0);
    size_t to = fx.masters()[0] == static_cast<size_t>(from) ? fx.masters()[1] : fx.masters()[0];
    ASSERT_TRUE(fx.moveSlot(slot, to)) << fx.logs();
    EXPECT_EQ(fx.masterOfKey(keys[0]), fx.address(to));

    for (const auto& k : keys) {
        auto r = client.get(k);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->has_value()) << k;
        EXPECT_EQ(**r, "v-" + k);
    }
    EXPECT_GT(client.counters().moved, 0u);
    EXPECT_EQ(client.counters().errors, 0u);

    // New writes to the slot land on its new owner, without another redirection.
    uint64_t moved_before = client.counters().moved;
    ASSERT_TRUE(client.set("{moving}new", "fresh", 0).ok());
    EXPECT_EQ(client.counters().moved, moved_before);
    EXPECT_EQ(fx.cli(to, {"GET", "{moving}new"}), "fresh");
    EXPECT_EQ(fx.cli(static_cast<size_t>(from), {"EXISTS", "{moving}new"}).substr(0, 5), "MOVED");
}

TEST(RedisClusterClient, FollowsAskDuringASlotMigration) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i) keys.push_back("{asking}k" + std::to_string(i));
    for (const auto& k : keys) ASSERT_TRUE(client.set(k, "v-" + k, 0).ok());

    int slot = kvc::keySlot(keys[0]);
    int from_index = fx.ownerOfSlot(slot);
    ASSERT_GE(from_index, 0);
    auto from = static_cast<size_t>(from_index);
    size_t to = fx.masters()[0] == from ? fx.masters()[1] : fx.masters()[0];
    ASSERT_TRUE(fx.beginSlotMigration(slot, from, to));
    std::vector<std::string> moved_keys(keys.begin(), keys.begin() + 5);
    ASSERT_TRUE(fx.migrateKeys(from, to, moved_keys));

    // Migrated keys are answered by the target after ASKING; the rest still by the source.
    for (const auto& k : keys) {
        auto r = client.get(k);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->has_value()) << k;
        EXPECT_EQ(**r, "v-" + k);
    }
    EXPECT_GE(client.counters().asks, moved_keys.size());
    EXPECT_EQ(client.counters().moved, 0u);
    // A new key of a migrating slot goes to the target.
    ASSERT_TRUE(client.set("{asking}new", "fresh", 0).ok());
    EXPECT_EQ(fx.dbsize(to), 6);  // the 5 migrated keys and the new one

    ASSERT_TRUE(fx.migrateKeys(from, to, std::vector<std::string>(keys.begin() + 5, keys.end())));
    ASSERT_TRUE(fx.finishSlotMigration(slot, from, to));
    for (const auto& k : keys) {
        auto r = client.get(k);
        ASSERT_TRUE(r.ok() && r->has_value()) << k;
        EXPECT_EQ(**r, "v-" + k);
    }
    auto r = client.get("{asking}new");
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ(**r, "fresh");
    EXPECT_EQ(client.counters().errors, 0u);
}

// --- failures
// --------------------------------------------------------------------------------------

TEST(RedisClusterClient, DeadMasterFailsFastThenIsSkipped) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));  // timeout 250 ms, breaker 2 s
    std::vector<std::string> keys;
    for (int i = 0; i < 60; ++i) keys.push_back("key" + std::to_string(i));
    for (const auto& k : keys) ASSERT_TRUE(client.set(k, "v-" + k, 0).ok());

    int victim = fx.masterIndexOfKey(keys[0]);
    ASSERT_GE(victim, 0);
    std::vector<std::string> lost, kept;
    for (const auto& k : keys) (fx.masterIndexOfKey(k) == victim ? lost : kept).push_back(k);
    ASSERT_FALSE(kept.empty());
    fx.killNode(static_cast<size_t>(victim));
    const std::string dead = fx.address(static_cast<size_t>(victim));

    // The first call that meets the dead node fails, bounded; it names the node.
    auto start = Clock::now();
    auto first = client.get(lost[0]);
    EXPECT_LT(elapsedMs(start), 1500);
    ASSERT_FALSE(first.ok());
    EXPECT_TRUE(first.code() == EHOSTUNREACH || first.code() == EIO || first.code() == ETIMEDOUT)
        << first.code();
    EXPECT_NE(first.error().message.find(dead), std::string::npos) << first.error().message;

    // The others are breaker skips, immediate; the refreshes they ask for stay rate-limited.
    uint64_t skips_before = client.counters().breaker_skips;
    uint64_t refreshes_before = client.counters().refreshes;
    auto skipping_since = Clock::now();
    for (size_t i = 1; i < lost.size(); ++i) {
        start = Clock::now();
        auto r = client.get(lost[i]);
        EXPECT_LT(elapsedMs(start), 200) << lost[i];
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.code(), EHOSTUNREACH);
        EXPECT_NE(r.error().message.find(dead), std::string::npos) << r.error().message;
        start = Clock::now();
        EXPECT_FALSE(client.set(lost[i], "x", 0).ok());
        EXPECT_LT(elapsedMs(start), 200) << lost[i];
    }
    EXPECT_GE(client.counters().breaker_skips, skips_before + 2 * (lost.size() - 1));
    EXPECT_LE(client.counters().refreshes - refreshes_before,
              1 + static_cast<uint64_t>(elapsedMs(skipping_since) / 1000));

    // The other masters keep working.
    for (const auto& k : kept) {
        auto r = client.get(k);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->has_value()) << k;
        EXPECT_EQ(**r, "v-" + k);
        EXPECT_TRUE(client.set(k, "w-" + k, 0).ok());
    }
}

TEST(RedisClusterClient, StalledMasterTimesOutThenRecovers) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    ClusterOptions options = optionsFor(fx);
    options.breaker_cooldown = 500ms;
    RedisCluster client(options);
    ASSERT_TRUE(client.set("stalled", "before", 0).ok());
    int victim = fx.masterIndexOfKey("stalled");
    ASSERT_GE(victim, 0);

    fx.pauseNode(static_cast<size_t>(victim));  // accepts connections, never answers
    auto start = Clock::now();
    auto r = client.get("stalled");
    long long took = elapsedMs(start);
    EXPECT_GE(took, 200);  // it did wait for the node, about one timeout
    EXPECT_LT(took, 1500);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), ETIMEDOUT) << r.error().message;
    EXPECT_NE(r.error().message.find(fx.address(static_cast<size_t>(victim))), std::string::npos);
    EXPECT_GE(client.counters().timeouts, 1u);

    start = Clock::now();
    r = client.get("stalled");
    EXPECT_LT(elapsedMs(start), 200);
    EXPECT_EQ(r.code(), EHOSTUNREACH);
    EXPECT_GE(client.counters().breaker_skips, 1u);

    // Back: once the breaker's cooldown is over, a probe goes through and the node serves again.
    fx.resumeNode(static_cast<size_t>(victim));
    bool served = RedisClusterFixture::waitUntil(5s, [&] {
        auto again = client.get("stalled");
        return again.ok() && again->has_value() && **again == "before";
    });
    EXPECT_TRUE(served);
    EXPECT_TRUE(client.set("stalled", "after", 0).ok());
}

TEST(RedisClusterClient, FailoverMovesReadsToThePromotedReplica) {
    RedisClusterFixture fx(3, 1);
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i) keys.push_back("fo" + std::to_string(i));
    for (const auto& k : keys) ASSERT_TRUE(client.set(k, pattern(64, kvc::crc16(k)), 0).ok());
    ASSERT_TRUE(fx.waitForReplication()) << fx.logs();

    int victim = fx.masterIndexOfKey(keys[0]);
    ASSERT_GE(victim, 0);
    ASSERT_EQ(fx.replicasOf(static_cast<size_t>(victim)).size(), 1u);
    fx.killNode(static_cast<size_t>(victim));
    int promoted = fx.waitForFailover(static_cast<size_t>(victim));
    ASSERT_GE(promoted, 0) << fx.logs();

    // The client finds the new master on its own (breaker, refresh) within a few seconds.
    bool readable = RedisClusterFixture::waitUntil(10s, [&] {
        auto r = client.get(keys[0]);
        return r.ok() && r->has_value();
    });
    ASSERT_TRUE(readable);
    for (const auto& k : keys) {
        auto r = client.get(k);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_TRUE(r->has_value()) << k;
        EXPECT_EQ(**r, pattern(64, kvc::crc16(k))) << k;
    }
    std::vector<std::string> now = client.nodes();
    EXPECT_NE(std::find(now.begin(), now.end(), fx.address(static_cast<size_t>(promoted))),
              now.end());
    EXPECT_EQ(std::find(now.begin(), now.end(), fx.address(static_cast<size_t>(victim))),
              now.end());
    EXPECT_GE(client.counters().refreshes, 2u);
}

// --- threads
// ---------------------------------------------------------------------------------------

TEST(RedisClusterClient, ConcurrentCallersAllSucceed) {
    RedisClusterFixture fx;
    REQUIRE_CLUSTER(fx);
    RedisCluster client(optionsFor(fx));
    std::atomic<uint64_t> ops{0}, failures{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<uint32_t>(t));
            std::vector<std::string> written(200);
            while (!stop.load()) {
                int i = static_cast<int>(rng() % written.size());
                std::string key = "t" + std::to_string(t) + "/k" + std::to_string(i);
                if (rng() % 2 == 0) {
                    std::string value = pattern(1 + rng() % 4096, rng());
                    if (client.set(key, value, 0).ok()) {
                        written[static_cast<size_t>(i)] = value;
                    } else {
                        failures.fetch_add(1);
                    }
                } else {
                    auto r = client.get(key);
                    bool expected_present = !written[static_cast<size_t>(i)].empty();
                    if (!r.ok() || r->has_value() != expected_present ||
                        (expected_present && **r != written[static_cast<size_t>(i)])) {
                        failures.fetch_add(1);
                    }
                }
                ops.fetch_add(1);
            }
        });
    }
    std::this_thread::sleep_for(1s);
    stop.store(true);
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0u);
    EXPECT_GT(ops.load(), 400u);
    EXPECT_EQ(client.counters().errors, 0u);
    EXPECT_EQ(client.counters().requests, ops.load());
}

}  // namespace
