// Unit tests of core/config.h: a full file, inheritance from [defaults], every kind of error
// (with the file, line and key it must name), pool names, files that cannot be read, the lower
// tier keys (in the file and in their mount option form) and the example configuration shipped
// in examples/.
#include "core/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kvc {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;

constexpr std::string_view kSource = "/etc/kvcachefs/kvcachefs.toml";

Config parseOk(std::string_view text, const Config& base = defaultConfig()) {
    auto r = parseConfig(text, kSource, base);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : Config{};
}

// Parses text that must be rejected with EINVAL and returns the message.
std::string parseError(std::string_view text) {
    auto r = parseConfig(text, kSource);
    EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
    if (r.ok()) return "";
    EXPECT_EQ(r.error().code, EINVAL) << r.error().message;
    return r.error().message;
}

// Every field of a pool's tier settings, one assertion each (a failure names the field).
void expectTiers(const TierSettings& got, const TierSettings& want) {
    EXPECT_EQ(got.disk_dir, want.disk_dir);
    EXPECT_EQ(got.disk_size, want.disk_size);
    EXPECT_EQ(got.disk_policy, want.disk_policy);
    EXPECT_EQ(got.remote_seeds, want.remote_seeds);
    EXPECT_EQ(got.remote_namespace, want.remote_namespace);
    EXPECT_EQ(got.remote_timeout_ms, want.remote_timeout_ms);
    EXPECT_EQ(got.remote_ttl_s, want.remote_ttl_s);
    EXPECT_EQ(got.remote_layout, want.remote_layout);
    EXPECT_EQ(got.write_through, want.write_through);
    EXPECT_EQ(got.demote_min_reads, want.demote_min_reads);
    EXPECT_EQ(got.demote_queue_bytes, want.demote_queue_bytes);
}

bool startsWith(const std::string& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

// Expects the message to start with "<kSource>:<line>:" and to contain every fragment.
void expectMessage(const std::string& message, int line,
                   const std::vector<std::string>& fragments) {
    EXPECT_TRUE(startsWith(message, std::string(kSource) + ":" + std::to_string(line) + ":"))
        << message;
    for (const std::string& f : fragments) {
        EXPECT_NE(message.find(f), std::string::npos) << "no \"" << f << "\" in: " << message;
    }
}

const PoolDeclaration* findPool(const Config& config, std::string_view name) {
    for (const auto& p : config.pools) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

std::filesystem::path examplePath() {
    return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "examples" /
           "kvcachefs.toml";
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A file in the test's temporary directory, removed at the end of the test.
class TempFile {
  public:
    explicit TempFile(std::string_view content) {
        path_ = std::filesystem::path(testing::TempDir()) /
                ("kvcachefs-config-test-" + std::to_string(::getpid()) + ".toml");
        std::ofstream(path_) << content;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

TEST(Config, DefaultConfig) {
    Config c = defaultConfig();
    EXPECT_EQ(c.defaults.size, GiB);
    EXPECT_EQ(c.defaults.policy, "lru");
    EXPECT_EQ(c.defaults.block_size, 4096u);
    EXPECT_EQ(c.defaults.tier, Tier::Cpu);
    EXPECT_EQ(c.defaults.dir, "");
    EXPECT_EQ(c.defaults.pin_budget, 0u);
    EXPECT_EQ(c.defaults.max_entries, 0u);
    EXPECT_EQ(c.shm_prefix, "kvcachefs");
    EXPECT_TRUE(c.pools.empty());

    // No lower tier unless asked for.
    const TierSettings& t = c.defaults.tiers;
    EXPECT_FALSE(t.any());
    EXPECT_EQ(t.disk_dir, "");
    EXPECT_EQ(t.disk_size, 0u);
    EXPECT_EQ(t.disk_policy, "");
    EXPECT_TRUE(t.remote_seeds.empty());
    EXPECT_EQ(t.remote_namespace, "kvcachefs");
    EXPECT_EQ(t.remote_timeout_ms, 250u);
    EXPECT_EQ(t.remote_ttl_s, 0u);
    EXPECT_EQ(t.remote_layout, "");
    EXPECT_FALSE(t.write_through);
    EXPECT_EQ(t.demote_min_reads, 0u);
    EXPECT_EQ(t.demote_queue_bytes, 64 * MiB);
}

TEST(Config, EmptyTextGivesTheBase) {
    Config c = parseOk("");
    EXPECT_EQ(c.defaults.size, GiB);
    EXPECT_EQ(c.shm_prefix, "kvcachefs");
    EXPECT_TRUE(c.pools.empty());
    c = parseOk("# only a comment\n\n[defaults]\n");
    EXPECT_EQ(c.defaults.policy, "lru");
}

TEST(Config, FullFile) {
    Config c = parseOk(R"([defaults]
pool_size = "2G"
policy = "LFU"
block_size = "8K"
shm_prefix = "kvc-test_1.0"
max_entries = 5000
pin_budget = "256M"
tier = "cpu"

[pools.zeta]
size = "16G"
policy = "Sieve"
block_size = 65536
tier = "disk"
dir = "/var/lib/kvcachefs"
pin_budget = "1G"
max_entries = 100000

[pools.alpha]
size = 1048576
tier = "CPU"
)");
    EXPECT_EQ(c.defaults.size, 2 * GiB);
    EXPECT_EQ(c.defaults.policy, "lfu");
    EXPECT_EQ(c.defaults.block_size, 8192u);
    EXPECT_EQ(c.defaults.tier, Tier::Cpu);
    EXPECT_EQ(c.defaults.pin_budget, 256 * MiB);
    EXPECT_EQ(c.defaults.max_entries, 5000u);
    EXPECT_EQ(c.shm_prefix, "kvc-test_1.0");

    // In the order of the file, not sorted by name.
    ASSERT_EQ(c.pools.size(), 2u);
    EXPECT_EQ(c.pools[0].name, "zeta");
    EXPECT_EQ(c.pools[1].name, "alpha");

    const PoolSettings& zeta = c.pools[0].settings;
    EXPECT_EQ(zeta.size, 16 * GiB);
    EXPECT_EQ(zeta.policy, "sieve");
    EXPECT_EQ(zeta.block_size, 65536u);
    EXPECT_EQ(zeta.tier, Tier::Disk);
    EXPECT_EQ(zeta.dir, "/var/lib/kvcachefs");
    EXPECT_EQ(zeta.pin_budget, GiB);
    EXPECT_EQ(zeta.max_entries, 100000u);

    const PoolSettings& alpha = c.pools[1].settings;
    EXPECT_EQ(alpha.size, MiB);
    EXPECT_EQ(alpha.tier, Tier::Cpu);
}

TEST(Config, PoolsInheritDefaults) {
    // [pools] comes first on purpose: [defaults] applies wherever it is written.
    Config c = parseOk(R"([pools.small]
size = "64M"

[pools.bare]

[defaults]
pool_size = "3G"
policy = "fifo"
block_size = "16K"
pin_budget = "1G"
max_entries = 7
tier = "disk"
dir = "/srv/kvc"
)");
    ASSERT_EQ(c.pools.size(), 2u);
    const PoolDeclaration* small = findPool(c, "small");
    ASSERT_NE(small, nullptr);
    EXPECT_EQ(small->settings.size, 64 * MiB);
    EXPECT_EQ(small->settings.policy, "fifo");
    EXPECT_EQ(small->settings.block_size, 16384u);
    EXPECT_EQ(small->settings.pin_budget, GiB);
    EXPECT_EQ(small->settings.max_entries, 7u);
    EXPECT_EQ(small->settings.tier, Tier::Disk);
    EXPECT_EQ(small->settings.dir, "/srv/kvc");

    const PoolDeclaration* bare = findPool(c, "bare");
    ASSERT_NE(bare, nullptr);
    EXPECT_EQ(bare->settings.size, 3 * GiB);
    EXPECT_EQ(bare->settings.policy, "fifo");
}

TEST(Config, KeysLeftOutKeepTheBase) {
    Config base = defaultConfig();
    base.defaults.policy = "lfu";
    base.shm_prefix = "from-base";
    base.pools.push_back({"kept", base.defaults});
    base.pools.push_back({"replaced", base.defaults});
    Config c = parseOk(
        "[defaults]\npool_size = \"2G\"\n[pools.replaced]\nsize = \"8M\"\n"
        "[pools.added]\n",
        base);
    EXPECT_EQ(c.defaults.size, 2 * GiB);
    EXPECT_EQ(c.defaults.policy, "lfu");
    EXPECT_EQ(c.shm_prefix, "from-base");
    ASSERT_EQ(c.pools.size(), 3u);
    EXPECT_EQ(c.pools[0].name, "kept");
    EXPECT_EQ(c.pools[0].settings.size, GiB);
    EXPECT_EQ(c.pools[1].name, "replaced");
    EXPECT_EQ(c.pools[1].settings.size, 8 * MiB);
    EXPECT_EQ(c.pools[2].name, "added");
    EXPECT_EQ(c.pools[2].settings.size, 2 * GiB);
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
    std::string m = parseError("[defaults]\npool_size = \"1G\"\npolcy = \"lfu\"\n");
    EXPECT_TRUE(startsWith(m,
                           "/etc/kvcachefs/kvcachefs.toml:3: unknown key \"polcy\" in "
                           "[defaults]"))
        << m;

    m = parseError("[pools.llama]\nsize = \"1G\"\n\npool_size = \"2G\"\n");
    expectMessage(m, 4, {"unknown key \"pool_size\"", "[pools.llama]"});

    // shm_prefix is global: it belongs in [defaults] only.
    m = parseError("[pools.llama]\nshm_prefix = \"x\"\n");
    expectMessage(m, 2, {"unknown key \"shm_prefix\"", "[pools.llama]"});

    // And size is spelt pool_size in [defaults].
    m = parseError("[defaults]\nsize = \"1G\"\n");
    expectMessage(m, 2, {"unknown key \"size\"", "[defaults]"});

    // The list of known keys includes the tier keys, so a misspelt one is easy to correct.
    m = parseError("[pools.llama]\ndisk_sise = \"1G\"\n");
    expectMessage(m, 2,
                  {"unknown key \"disk_sise\"", "disk_dir", "disk_size", "disk_policy", "remote,",
                   "remote_namespace", "remote_timeout_ms", "remote_ttl_s", "remote_layout",
                   "write_through", "demote_min_reads", "demote_queue"});
    m = parseError("[defaults]\ndemote_queue_bytes = \"1M\"\n");
    expectMessage(m, 2, {"unknown key \"demote_queue_bytes\"", "demote_queue,"});
}

TEST(Config, UnknownSectionOrTopLevelKey) {
    std::string m = parseError("[defaults]\n\n[pool.llama]\nsize = \"1G\"\n");
    expectMessage(m, 3, {"unknown section [pool]"});

    m = parseError("pool_size = \"1G\"\n");
    expectMessage(m, 1, {"unknown key \"pool_size\" outside any section"});

    m = parseError("[defaults.extra]\nx = 1\n");
    expectMessage(m, 1, {"unknown key \"extra\" in [defaults]"});
}

TEST(Config, WrongTypes) {
    struct Case {
        const char* text;
        int line;
        const char* key;
        const char* got;
    };
    const Case cases[] = {
        {"[defaults]\npool_size = true\n", 2, "defaults.pool_size", "got a boolean"},
        {"[defaults]\npool_size = 1.5\n", 2, "defaults.pool_size", "got a floating-point number"},
        {"[defaults]\npolicy = 3\n", 2, "defaults.policy", "got an integer"},
        {"[defaults]\nblock_size = [4096]\n", 2, "defaults.block_size", "got an array"},
        {"[defaults]\nshm_prefix = 5\n", 2, "defaults.shm_prefix", "got an integer"},
        {"[defaults]\n\nmax_entries = \"10\"\n", 3, "defaults.max_entries", "got a string"},
        {"[defaults]\npin_budget = 1979-05-27\n", 2, "defaults.pin_budget", "got a date"},
        {"[pools.a]\ntier = 1\n", 2, "pools.a.tier", "got an integer"},
        {"[pools.a]\ndir = false\n", 2, "pools.a.dir", "got a boolean"},
        {"[pools.a]\nsize = { x = 1 }\n", 2, "pools.a.size", "got a table"},
        {"defaults = 3\n", 1, "defaults", "got an integer"},
        {"pools = \"x\"\n", 1, "pools", "got a string"},
        {"[pools]\nllama = 3\n", 2, "pools.llama", "got an integer"},
        // The tier keys.
        {"[defaults]\ndisk_dir = 1\n", 2, "defaults.disk_dir", "got an integer"},
        {"[defaults]\ndisk_size = true\n", 2, "defaults.disk_size", "got a boolean"},
        {"[defaults]\ndisk_policy = [\"lru\"]\n", 2, "defaults.disk_policy", "got an array"},
        {"[defaults]\nremote = 7000\n", 2, "defaults.remote", "got an integer"},
        {"[defaults]\nremote = { host = \"a\" }\n", 2, "defaults.remote", "got a table"},
        {"[defaults]\nremote = [\n\"a:1\",\n7000,\n]\n", 4, "defaults.remote", "got an integer"},
        {"[defaults]\nremote_namespace = 3\n", 2, "defaults.remote_namespace", "got an integer"},
        {"[pools.a]\nremote_timeout_ms = \"250\"\n", 2, "pools.a.remote_timeout_ms",
         "got a string"},
        {"[pools.a]\nremote_timeout_ms = 2.5\n", 2, "pools.a.remote_timeout_ms",
         "got a floating-point number"},
        {"[pools.a]\nremote_ttl_s = \"1h\"\n", 2, "pools.a.remote_ttl_s", "got a string"},
        {"[pools.a]\nremote_layout = false\n", 2, "pools.a.remote_layout", "got a boolean"},
        {"[pools.a]\nwrite_through = \"yes\"\n", 2, "pools.a.write_through", "got a string"},
        {"[pools.a]\nwrite_through = 1\n", 2, "pools.a.write_through", "got an integer"},
        {"[pools.a]\ndemote_min_reads = \"2\"\n", 2, "pools.a.demote_min_reads", "got a string"},
        {"[pools.a]\n\ndemote_queue = 1.5\n", 3, "pools.a.demote_queue",
         "got a floating-point number"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.text);
        expectMessage(parseError(c.text), c.line, {std::string(c.key) + ":", c.got});
    }
}

TEST(Config, BadValues) {
    std::string m = parseError(
        "[defaults]\npolicy = \"lru\"\n\n[pools.llama]\npolicy = \"lfu\"\n"
        "\nsize = \"12X\"\n");
    EXPECT_EQ(m,
              "/etc/kvcachefs/kvcachefs.toml:7: pools.llama.size: invalid size \"12X\": "
              "unknown unit 'X' (expected K, M, G, T, P or E, optionally followed by B or iB)");

    struct Case {
        std::string text;
        int line;
        std::vector<std::string> fragments;
    };
    const Case cases[] = {
        {"[defaults]\npool_size = -5\n", 2, {"defaults.pool_size:", "-5", "negative"}},
        {"[defaults]\npool_size = \"-1G\"\n", 2, {"defaults.pool_size:", "\"-1G\"", "negative"}},
        {"[defaults]\npool_size = \"1.5\"\n", 2, {"\"1.5\"", "fraction"}},
        {"[defaults]\npool_size = \"17179869184G\"\n", 2, {"\"17179869184G\"", "too large"}},
        {"[defaults]\nblock_size = \"12K\"\n",
         2,
         {"defaults.block_size:", "\"12K\"", "power of two"}},
        {"[defaults]\nblock_size = 1024\n", 2, {"\"1024\"", "from 4 KiB to 2 MiB"}},
        {"[defaults]\nblock_size = \"4M\"\n", 2, {"\"4M\"", "from 4 KiB to 2 MiB"}},
        {"[defaults]\npolicy = \"fastest\"\n",
         2,
         {"defaults.policy:", "unknown policy \"fastest\"", "lru", "lfu"}},
        {"[pools.a]\ntier = \"gpu\"\n", 2, {"pools.a.tier:", "tier \"gpu\" is not offered"}},
        {"[pools.a]\ndir = \"var/lib\"\n", 2, {"pools.a.dir:", "\"var/lib\"", "absolute"}},
        {"[pools.a]\ndir = \"\"\n", 2, {"pools.a.dir:", "absolute"}},
        {"[pools.a]\nmax_entries = -1\n", 2, {"pools.a.max_entries:", "negative"}},
        {"[pools.a]\npin_budget = \"lots\"\n", 2, {"pools.a.pin_budget:", "\"lots\""}},
        {"[defaults]\nshm_prefix = \"a/b\"\n", 2, {"defaults.shm_prefix:", "\"a/b\""}},
        {"[defaults]\nshm_prefix = \"\"\n", 2, {"defaults.shm_prefix:", "empty"}},
        {"[defaults]\nshm_prefix = \"" + std::string(65, 'p') + "\"\n",
         2,
         {"defaults.shm_prefix:", "64"}},
        // A pool smaller than one block could never hold anything.
        {"[pools.tiny]\nsize = 1000\n", 1, {"pools.tiny:", "smaller than one block"}},
        {"[defaults]\npool_size = 0\n", 1, {"defaults:", "smaller than one block"}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.text);
        expectMessage(parseError(c.text), c.line, c.fragments);
    }
}

TEST(Config, DiskTierNeedsDir) {
    std::string m =
        parseError("[defaults]\npool_size = \"1G\"\n\n[pools.archive]\ntier = \"disk\"\n");
    expectMessage(m, 4, {"pools.archive:", "tier \"disk\" needs dir"});

    m = parseError("[defaults]\ntier = \"disk\"\n");
    expectMessage(m, 1, {"defaults:", "tier \"disk\" needs dir"});

    // A dir in [defaults] serves every disk pool.
    Config c = parseOk("[defaults]\ndir = \"/srv/kvc\"\n[pools.archive]\ntier = \"disk\"\n");
    ASSERT_EQ(c.pools.size(), 1u);
    EXPECT_EQ(c.pools[0].settings.tier, Tier::Disk);
    EXPECT_EQ(c.pools[0].settings.dir, "/srv/kvc");
    EXPECT_EQ(c.defaults.tier, Tier::Cpu);
}

TEST(Config, TierKeysInDefaultsAreInherited) {
    Config c = parseOk(R"([defaults]
block_size = "8K"
disk_dir = "/var/lib/kvcachefs/tier"
disk_size = "100G"
disk_policy = "SIEVE"
remote = ["10.0.0.1:7000", "redis-2.example:7001"]
remote_namespace = "kvc.prod-1"
remote_timeout_ms = 1000
remote_ttl_s = 86400
remote_layout = "llama-3.1-8b/fp16/16"
write_through = true
demote_min_reads = 2
demote_queue = "256M"

[pools.bare]
)");
    const TierSettings want{"/var/lib/kvcachefs/tier",
                            100 * GiB,
                            "sieve",
                            {"10.0.0.1:7000", "redis-2.example:7001"},
                            "kvc.prod-1",
                            1000,
                            86400,
                            "llama-3.1-8b/fp16/16",
                            true,
                            2,
                            256 * MiB};
    for (const TierSettings* t : {&c.defaults.tiers, &c.pools.at(0).settings.tiers}) {
        EXPECT_TRUE(t->any());
        expectTiers(*t, want);
    }
}

TEST(Config, TierKeysOverriddenInAPool) {
    Config c = parseOk(R"([defaults]
disk_dir = "/var/lib/kvcachefs/tier"
disk_size = "100G"
disk_policy = "lru"
remote = "10.0.0.1:7000"
remote_namespace = "shared"
remote_timeout_ms = 1000
remote_ttl_s = 60
remote_layout = "a"
write_through = true
demote_min_reads = 2
demote_queue = "256M"

[pools.llama]
disk_dir = "/srv/llama"
disk_size = 1073741824
disk_policy = "s3fifo"
remote = "10.0.0.5:7000, 10.0.0.6:7000"
remote_namespace = "llama"
remote_timeout_ms = 50
remote_ttl_s = 0
remote_layout = "b"
write_through = false
demote_min_reads = 0
demote_queue = 65536

[pools.other]
)");
    ASSERT_EQ(c.pools.size(), 2u);
    expectTiers(c.pools[0].settings.tiers, {"/srv/llama",
                                            GiB,
                                            "s3fifo",
                                            {"10.0.0.5:7000", "10.0.0.6:7000"},
                                            "llama",
                                            50,
                                            0,
                                            "b",
                                            false,
                                            0,
                                            64 * KiB});

    // The pool's overrides do not leak into the defaults or another pool.
    const TierSettings defaults{"/var/lib/kvcachefs/tier",
                                100 * GiB,
                                "lru",
                                {"10.0.0.1:7000"},
                                "shared",
                                1000,
                                60,
                                "a",
                                true,
                                2,
                                256 * MiB};
    for (const TierSettings* other : {&c.defaults.tiers, &c.pools[1].settings.tiers})
        expectTiers(*other, defaults);
}

TEST(Config, RemoteForms) {
    // One string: separated by ',', '+' or spaces, in any mix.
    const std::vector<std::string> three{"a:1", "b:2", "[::1]:6379"};
    for (const char* value : {"a:1,b:2,[::1]:6379", "a:1+b:2+[::1]:6379", "a:1 b:2 [::1]:6379",
                              " a:1 , b:2,+[::1]:6379 "}) {
        SCOPED_TRACE(value);
        Config c = parseOk(std::string("[defaults]\nremote = \"") + value + "\"\n");
        EXPECT_EQ(c.defaults.tiers.remote_seeds, three);
    }
    // An array, over several lines.
    Config c = parseOk("[defaults]\nremote = [\n  \"a:1\",\n  \"b:2\",\n  \"[::1]:6379\",\n]\n");
    EXPECT_EQ(c.defaults.tiers.remote_seeds, three);
    c = parseOk("[pools.p]\nremote = [\"h:7000\"]\n");
    EXPECT_EQ(c.pools.at(0).settings.tiers.remote_seeds, std::vector<std::string>{"h:7000"});
}

TEST(Config, TierKeysBadValues) {
    struct Case {
        std::string text;
        int line;
        std::vector<std::string> fragments;
    };
    const Case cases[] = {
        {"[defaults]\ndisk_dir = \"var/tier\"\n",
         2,
         {"defaults.disk_dir:", "\"var/tier\"", "absolute"}},
        {"[pools.a]\ndisk_dir = \"\"\n", 2, {"pools.a.disk_dir:", "absolute"}},
        {"[defaults]\ndisk_size = \"12X\"\n", 2, {"defaults.disk_size:", "\"12X\"", "unit"}},
        {"[defaults]\ndisk_size = -1\n", 2, {"defaults.disk_size:", "negative"}},
        {"[pools.a]\ndisk_policy = \"mru\"\n",
         2,
         {"pools.a.disk_policy:", "unknown policy \"mru\"", "lru"}},
        {"[defaults]\nremote = \"\"\n", 2, {"defaults.remote:", "no address"}},
        {"[defaults]\nremote = \" , + \"\n", 2, {"defaults.remote:", "no address"}},
        {"[defaults]\nremote = []\n", 2, {"defaults.remote:", "no address"}},
        {"[defaults]\nremote = \"a:1,b\"\n",
         2,
         {"defaults.remote:", "invalid address \"b\"", "HOST:PORT"}},
        {"[defaults]\nremote = \"a:1+b:0\"\n",
         2,
         {"defaults.remote:", "invalid address \"b:0\"", "1 to 65535"}},
        {"[pools.a]\nremote = [\n  \"a:1\",\n  \"b:65536\",\n]\n",
         4,
         {"pools.a.remote:", "invalid address \"b:65536\"", "1 to 65535"}},
        {"[pools.a]\nremote = [\"a:1 b:2\"]\n", 2, {"pools.a.remote:", "\"a:1 b:2\"", "space"}},
        {"[pools.a]\nremote = [\"\"]\n", 2, {"pools.a.remote:", "invalid address \"\""}},
        {"[defaults]\nremote_namespace = \"\"\n", 2, {"defaults.remote_namespace:", "empty"}},
        {"[defaults]\nremote_namespace = \"a/b\"\n",
         2,
         {"defaults.remote_namespace:", "\"a/b\"", "'-'"}},
        {"[defaults]\nremote_namespace = \"prod:qwen\"\n",
         2,
         {"defaults.remote_namespace:", "\"prod:qwen\"", "':' separates"}},
        {"[defaults]\nremote_ttl_s = 315360001\n",
         2,
         {"defaults.remote_ttl_s:", "315360001", "at most 315360000 seconds"}},
        {"[defaults]\nremote_namespace = \"" + std::string(65, 'n') + "\"\n",
         2,
         {"defaults.remote_namespace:", "64 bytes"}},
        {"[defaults]\nremote_timeout_ms = 0\n",
         2,
         {"defaults.remote_timeout_ms:", "0 is out of range", "60000"}},
        {"[defaults]\nremote_timeout_ms = 60001\n",
         2,
         {"defaults.remote_timeout_ms:", "60001", "60000"}},
        {"[defaults]\nremote_timeout_ms = -5\n", 2, {"defaults.remote_timeout_ms:", "negative"}},
        {"[defaults]\nremote_ttl_s = -1\n", 2, {"defaults.remote_ttl_s:", "negative"}},
        {"[defaults]\nremote_layout = \"" + std::string(129, 'l') + "\"\n",
         2,
         {"defaults.remote_layout:", "128 bytes"}},
        {"[defaults]\ndemote_min_reads = -1\n", 2, {"defaults.demote_min_reads:", "negative"}},
        {"[defaults]\ndemote_min_reads = 4294967296\n",
         2,
         {"defaults.demote_min_reads:", "too large", "4294967295"}},
        {"[defaults]\ndemote_queue = \"32K\"\n",
         2,
         {"defaults.demote_queue:", "32 KiB", "minimum, 64 KiB"}},
        {"[defaults]\ndemote_queue = \"lots\"\n", 2, {"defaults.demote_queue:", "\"lots\""}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.text);
        expectMessage(parseError(c.text), c.line, c.fragments);
    }

    // The limits themselves are accepted.
    Config c = parseOk("[defaults]\nremote_timeout_ms = 1\nremote_namespace = \"" +
                       std::string(64, 'n') + "\"\nremote_layout = \"" + std::string(128, 'l') +
                       "\"\ndemote_min_reads = 4294967295\ndemote_queue = \"64K\"\n");
    EXPECT_EQ(c.defaults.tiers.remote_timeout_ms, 1u);
    EXPECT_EQ(c.defaults.tiers.demote_min_reads, 4294967295u);
    EXPECT_EQ(c.defaults.tiers.demote_queue_bytes, 64 * KiB);
    c = parseOk("[defaults]\nremote_timeout_ms = 60000\nremote_layout = \"\"\n");
    EXPECT_EQ(c.defaults.tiers.remote_timeout_ms, 60000u);
}

TEST(Config, TierCrossChecks) {
    // Each names the section, on the section's line.
    std::string m = parseError("[defaults]\ndisk_dir = \"/srv/tier\"\n");
    expectMessage(m, 1, {"defaults:", "disk_dir needs disk_size"});

    m = parseError("[defaults]\npool_size = \"1G\"\n\n[pools.a]\ndisk_size = \"10G\"\n");
    expectMessage(m, 4, {"pools.a:", "disk_size needs disk_dir"});

    m = parseError("[pools.a]\ndisk_dir = \"/srv/tier\"\ndisk_size = 0\n");
    expectMessage(m, 1, {"pools.a:", "disk_dir needs disk_size"});

    m = parseError("[pools.a]\ndisk_dir = \"/srv/tier\"\ndisk_size = 1000\n");
    expectMessage(m, 1, {"pools.a:", "disk_size 1000 B is smaller than one block (4 KiB)"});

    // The block is the pool's: a disk_size inherited from [defaults] can be too small for it.
    m = parseError(
        "[defaults]\ndisk_dir = \"/srv/tier\"\ndisk_size = \"1M\"\n\n[pools.big]\n"
        "block_size = \"2M\"\n");
    expectMessage(m, 5, {"pools.big:", "disk_size 1 MiB is smaller than one block (2 MiB)"});

    m = parseError("[defaults]\nwrite_through = true\n");
    expectMessage(m, 1, {"defaults:", "write_through needs remote"});

    m = parseError("[pools.b]\nremote_namespace = \"x\"\nwrite_through = true\n");
    expectMessage(m, 1, {"pools.b:", "write_through needs remote"});

    // Accepted: the other remote_* keys without remote (ignored until remote is set),
    // write_through = false without remote, both disk keys in a pool, exactly one block.
    Config c = parseOk(
        "[defaults]\nremote_namespace = \"x\"\nremote_timeout_ms = 5\nremote_ttl_s = 9\n"
        "remote_layout = \"l\"\nwrite_through = false\n"
        "[pools.a]\ndisk_dir = \"/srv/tier\"\ndisk_size = 4096\n");
    EXPECT_FALSE(c.defaults.tiers.any());
    EXPECT_EQ(c.defaults.tiers.remote_namespace, "x");
    EXPECT_TRUE(c.pools.at(0).settings.tiers.any());
    EXPECT_EQ(c.pools.at(0).settings.tiers.disk_size, 4096u);
}

TEST(Config, WriteThroughInheritsRemote) {
    Config c = parseOk("[defaults]\nremote = \"a:1\"\n[pools.b]\nwrite_through = true\n");
    EXPECT_TRUE(c.pools.at(0).settings.tiers.write_through);
    EXPECT_EQ(c.pools.at(0).settings.tiers.remote_seeds, std::vector<std::string>{"a:1"});
}

TEST(SeedList, Valid) {
    struct Case {
        std::string_view text;
        std::vector<std::string> seeds;
    };
    const Case cases[] = {
        {"127.0.0.1:6379", {"127.0.0.1:6379"}},
        {"redis-1.example.com:7000", {"redis-1.example.com:7000"}},
        {"a:1+b:65535", {"a:1", "b:65535"}},
        {"a:1,b:2 c:3", {"a:1", "b:2", "c:3"}},
        {"  a:1\t,\n", {"a:1"}},
        {"[::1]:7000+[fe80::1%eth0]:7001", {"[::1]:7000", "[fe80::1%eth0]:7001"}},
        {"h:06379", {"h:06379"}},
        // Kept as given, duplicates included: the cluster client tries them in order.
        {"a:1+a:1", {"a:1", "a:1"}},
    };
    for (const Case& c : cases) {
        auto r = parseSeedList(c.text);
        ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message;
        EXPECT_EQ(*r, c.seeds) << c.text;
    }
}

TEST(SeedList, Invalid) {
    struct Case {
        std::string_view text;
        std::string_view fragment;  // besides the bad item, quoted
        std::string_view item;
    };
    const Case cases[] = {
        {"", "no address", ""},
        {" + , ", "no address", ""},
        {"localhost", "expected HOST:PORT", "\"localhost\""},
        {"a:1+localhost", "expected HOST:PORT", "\"localhost\""},
        {":6379", "no host", "\":6379\""},
        {"a:", "1 to 65535", "\"a:\""},
        {"a:0", "1 to 65535", "\"a:0\""},
        {"a:65536", "1 to 65535", "\"a:65536\""},
        {"a:123456", "1 to 65535", "\"a:123456\""},
        {"a:-1", "1 to 65535", "\"a:-1\""},
        {"a:+1", "1 to 65535", "\"a:\""},
        {"a:6379x", "1 to 65535", "\"a:6379x\""},
        {"a:0x10", "1 to 65535", "\"a:0x10\""},
        {"::1:6379", "brackets", "\"::1:6379\""},
        {"a:b:6379", "brackets", "\"a:b:6379\""},
        {"[]:6379", "brackets", "\"[]:6379\""},
        {"a\x01:6379", "control character", "invalid address"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.text);
        auto r = parseSeedList(c.text);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.code(), EINVAL);
        EXPECT_NE(r.error().message.find(c.fragment), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(c.item), std::string::npos) << r.error().message;
    }
}

TEST(RemoteNamespace, Validate) {
    for (std::string_view name : {"kvcachefs", "a", "prod.llama-3.1_8B"}) {
        EXPECT_TRUE(validateRemoteNamespace(name).ok()) << name;
    }
    EXPECT_TRUE(validateRemoteNamespace(std::string(64, 'n')).ok());
    for (std::string_view name : {"", "a b", "a/b", "a{b}", "é", "prod:llama"}) {
        Status s = validateRemoteNamespace(name);
        ASSERT_FALSE(s.ok()) << name;
        EXPECT_EQ(s.code(), EINVAL);
        EXPECT_NE(s.error().message.find("invalid remote namespace"), std::string::npos);
    }
    EXPECT_FALSE(validateRemoteNamespace(std::string(65, 'n')).ok());
}

// The mount options (-o disk_size=4G, ...) go through setTierOption(): the same checks as the
// file, with messages that leave the option's name to the caller.
TEST(TierOption, SetsEachKey) {
    TierSettings t;
    const std::pair<std::string_view, std::string_view> options[] = {
        {"disk_dir", "/srv/tier"},       {"disk_size", "4G"},
        {"disk_policy", "LFU"},          {"remote", "10.0.0.1:7000+10.0.0.2:7000"},
        {"remote_namespace", "prod.kv"}, {"remote_timeout_ms", "60000"},
        {"remote_ttl_s", "3600"},        {"remote_layout", "qwen2.5-7b"},
        {"demote_min_reads", "3"},       {"demote_queue", "1M"},
    };
    for (const auto& [key, value] : options) {
        Status s = setTierOption(t, key, value);
        EXPECT_TRUE(s.ok()) << key << "=" << value << ": " << s.error().message;
    }
    EXPECT_EQ(t.disk_dir, "/srv/tier");
    EXPECT_EQ(t.disk_size, 4 * GiB);
    EXPECT_EQ(t.disk_policy, "lfu");
    EXPECT_EQ(t.remote_seeds, (std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:7000"}));
    EXPECT_EQ(t.remote_namespace, "prod.kv");
    EXPECT_EQ(t.remote_timeout_ms, 60000u);
    EXPECT_EQ(t.remote_ttl_s, 3600u);
    EXPECT_EQ(t.remote_layout, "qwen2.5-7b");
    EXPECT_EQ(t.demote_min_reads, 3u);
    EXPECT_EQ(t.demote_queue_bytes, MiB);
    EXPECT_FALSE(t.write_through);  // a flag, not a valued option
    EXPECT_TRUE(checkTierSettings(t, 4096).ok());
}

TEST(TierOption, RejectsBadValuesAndKeepsTheOldOne) {
    struct Case {
        std::string_view key;
        std::string value;
        std::string_view fragment;
    };
    const Case cases[] = {
        {"disk_dir", "srv/tier", "not an absolute path"},
        {"disk_dir", "", "not an absolute path"},
        {"disk_size", "4X", "\"4X\""},
        {"disk_size", "-4G", "negative"},
        {"disk_policy", "mru", "unknown policy \"mru\""},
        {"remote", "", "no address"},
        {"remote", "a:1+b", "invalid address \"b\""},
        {"remote_namespace", "a b", "invalid remote namespace \"a b\""},
        {"remote_namespace", "a:b", "':' separates the namespace"},
        {"remote_ttl_s", "18446744073709551", "at most 315360000 seconds"},
        {"remote_timeout_ms", "0", "out of range"},
        {"remote_timeout_ms", "60001", "out of range"},
        {"remote_timeout_ms", "-1", "\"-1\" is not a whole number"},
        {"remote_timeout_ms", "1s", "\"1s\" is not a whole number"},
        {"remote_timeout_ms", "", "not a whole number"},
        {"remote_ttl_s", "1.5", "\"1.5\" is not a whole number"},
        {"remote_ttl_s", "99999999999999999999", "too large"},
        {"remote_layout", std::string(129, 'l'), "128 bytes"},
        {"demote_min_reads", "4294967296", "too large"},
        {"demote_min_reads", " 1", "not a whole number"},
        {"demote_queue", "1K", "1 KiB is smaller than the minimum, 64 KiB"},
        {"write_through", "1", "unknown tier option \"write_through\""},
        {"pool_size", "1G", "unknown tier option \"pool_size\""},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.key) + "=" + c.value);
        TierSettings t;
        Status s = setTierOption(t, c.key, c.value);
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.code(), EINVAL);
        EXPECT_NE(s.error().message.find(c.fragment), std::string::npos) << s.error().message;
        // Nothing changed.
        const TierSettings fresh;
        EXPECT_EQ(t.disk_dir, fresh.disk_dir);
        EXPECT_EQ(t.disk_size, fresh.disk_size);
        EXPECT_EQ(t.disk_policy, fresh.disk_policy);
        EXPECT_EQ(t.remote_seeds, fresh.remote_seeds);
        EXPECT_EQ(t.remote_namespace, fresh.remote_namespace);
        EXPECT_EQ(t.remote_timeout_ms, fresh.remote_timeout_ms);
        EXPECT_EQ(t.remote_ttl_s, fresh.remote_ttl_s);
        EXPECT_EQ(t.remote_layout, fresh.remote_layout);
        EXPECT_EQ(t.demote_min_reads, fresh.demote_min_reads);
        EXPECT_EQ(t.demote_queue_bytes, fresh.demote_queue_bytes);
    }
}

TEST(TierOption, CrossChecks) {
    TierSettings t;
    EXPECT_TRUE(checkTierSettings(t, 4096).ok());

    // Messages start with the key at fault, so that "option " or "defaults: " can go before.
    auto expectFault = [](const TierSettings& tiers, uint32_t block, std::string_view start) {
        Status s = checkTierSettings(tiers, block);
        ASSERT_FALSE(s.ok()) << start;
        EXPECT_EQ(s.code(), EINVAL);
        EXPECT_TRUE(startsWith(s.error().message, start)) << s.error().message;
    };
    t.disk_dir = "/srv/tier";
    expectFault(t, 4096, "disk_dir needs disk_size");
    t.disk_size = 1000;
    expectFault(t, 4096, "disk_size 1000 B is smaller than one block (4 KiB)");
    t.disk_size = 4096;
    EXPECT_TRUE(checkTierSettings(t, 4096).ok());
    expectFault(t, 8192, "disk_size 4 KiB is smaller than one block (8 KiB)");
    t.disk_dir.clear();
    expectFault(t, 4096, "disk_size needs disk_dir");
    t.disk_size = 0;

    t.write_through = true;
    expectFault(t, 4096, "write_through needs remote");
    t.remote_seeds = {"a:1"};
    EXPECT_TRUE(checkTierSettings(t, 4096).ok());

    // remote_* without remote is accepted.
    TierSettings only_options;
    only_options.remote_namespace = "x";
    only_options.remote_ttl_s = 5;
    only_options.remote_layout = "l";
    EXPECT_TRUE(checkTierSettings(only_options, 4096).ok());
}

TEST(Config, BadPoolNames) {
    std::string m = parseError("[pools.\"a b\"]\nsize = \"1G\"\n");
    expectMessage(m, 1, {"invalid pool name \"a b\""});

    m = parseError("\n[pools.\".hidden\"]\n");
    expectMessage(m, 2, {"invalid pool name \".hidden\"", "'.'"});

    m = parseError("[pools.\"..\"]\n");
    expectMessage(m, 1, {"invalid pool name \"..\""});

    m = parseError("[pools.\"a/b\"]\n");
    expectMessage(m, 1, {"invalid pool name \"a/b\""});

    m = parseError("[pools.\"\"]\n");
    expectMessage(m, 1, {"invalid pool name \"\"", "empty"});

    m = parseError("[pools." + std::string(256, 'n') + "]\n");
    expectMessage(m, 1, {"invalid pool name", "255 bytes"});

    // A name with a '.' is quoted in TOML; unquoted, the '.' would open a sub-table.
    Config c = parseOk("[pools." + std::string(255, 'n') + "]\n[pools.\"llama-3.1_8B\"]\n");
    ASSERT_EQ(c.pools.size(), 2u);
    EXPECT_EQ(c.pools[1].name, "llama-3.1_8B");
    m = parseError("[pools.llama-3.1_8B]\n");
    expectMessage(m, 1, {"unknown key \"1_8B\" in [pools.llama-3]"});
}

TEST(Config, SyntaxErrorNamesFileLineAndColumn) {
    std::string m = parseError("[defaults]\npool_size = \"1G\"\npolicy = \n");
    EXPECT_TRUE(startsWith(m, "/etc/kvcachefs/kvcachefs.toml:3:")) << m;
    // line:column: description
    EXPECT_GT(m.size(), std::string_view("/etc/kvcachefs/kvcachefs.toml:3:1: ").size()) << m;
    EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(m[kSource.size() + 3]))) << m;

    m = parseError("[defaults\n");
    EXPECT_TRUE(startsWith(m, "/etc/kvcachefs/kvcachefs.toml:1:")) << m;

    // A key given twice is a TOML error, reported where the second one is.
    m = parseError("[defaults]\npolicy = \"lru\"\npolicy = \"lfu\"\n");
    EXPECT_TRUE(startsWith(m, "/etc/kvcachefs/kvcachefs.toml:3:")) << m;
}

TEST(Config, LoadFile) {
    TempFile file("[defaults]\npool_size = \"2G\"\n[pools.llama]\nsize = \"16G\"\n");
    auto r = loadConfig(file.path());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->defaults.size, 2 * GiB);
    ASSERT_EQ(r->pools.size(), 1u);
    EXPECT_EQ(r->pools[0].settings.size, 16 * GiB);
}

TEST(Config, LoadFileErrorsNameThePath) {
    TempFile file("[defaults]\npolcy = \"lru\"\n");
    auto r = loadConfig(file.path());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_TRUE(startsWith(r.error().message, file.path() + ":2: unknown key \"polcy\""))
        << r.error().message;
}

TEST(Config, MissingFile) {
    const std::string path = "/nonexistent/kvcachefs/kvcachefs.toml";
    auto r = loadConfig(path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_NE(r.error().message.find("\"" + path + "\""), std::string::npos) << r.error().message;
}

TEST(Config, DirectoryIsNotAFile) {
    auto r = loadConfig(testing::TempDir());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EISDIR) << r.error().message;
}

TEST(Config, ExampleFileDocumentsTheBuiltInDefaults) {
    const std::filesystem::path path = examplePath();
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    auto r = loadConfig(path.string());
    ASSERT_TRUE(r.ok()) << r.error().message;
    const Config expected = defaultConfig();
    EXPECT_EQ(r->defaults.size, expected.defaults.size);
    EXPECT_EQ(r->defaults.policy, expected.defaults.policy);
    EXPECT_EQ(r->defaults.block_size, expected.defaults.block_size);
    EXPECT_EQ(r->defaults.tier, expected.defaults.tier);
    EXPECT_EQ(r->defaults.dir, expected.defaults.dir);
    EXPECT_EQ(r->defaults.pin_budget, expected.defaults.pin_budget);
    EXPECT_EQ(r->defaults.max_entries, expected.defaults.max_entries);
    EXPECT_EQ(r->shm_prefix, expected.shm_prefix);
    const TierSettings& tiers = r->defaults.tiers;
    const TierSettings& built_in = expected.defaults.tiers;
    EXPECT_FALSE(tiers.any());
    EXPECT_EQ(tiers.disk_dir, built_in.disk_dir);
    EXPECT_EQ(tiers.disk_size, built_in.disk_size);
    EXPECT_EQ(tiers.disk_policy, built_in.disk_policy);
    EXPECT_EQ(tiers.remote_seeds, built_in.remote_seeds);
    EXPECT_EQ(tiers.remote_namespace, built_in.remote_namespace);
    EXPECT_EQ(tiers.remote_timeout_ms, built_in.remote_timeout_ms);
    EXPECT_EQ(tiers.remote_ttl_s, built_in.remote_ttl_s);
    EXPECT_EQ(tiers.remote_layout, built_in.remote_layout);
    EXPECT_EQ(tiers.write_through, built_in.write_through);
    EXPECT_EQ(tiers.demote_min_reads, built_in.demote_min_reads);
    EXPECT_EQ(tiers.demote_queue_bytes, built_in.demote_queue_bytes);
    // The installed file creates no pool: its [pools.NAME] sections are commented out.
    EXPECT_TRUE(r->pools.empty());
}

TEST(Config, ExampleFileExamplesAreValid) {
    // Uncomment the example lines ('#' directly followed by a key or a section), as the file's
    // header tells an operator to, and check that what they get is what the comments say.
    std::istringstream in(readFile(examplePath()));
    std::string text;
    for (std::string line; std::getline(in, line);) {
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#') {
            line.erase(0, 1);
        }
        text += line + "\n";
    }
    auto r = parseConfig(text, "examples/kvcachefs.toml (uncommented)");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->defaults.dir, "/var/lib/kvcachefs");
    const TierSettings& defaults = r->defaults.tiers;
    EXPECT_EQ(defaults.disk_dir, "/var/lib/kvcachefs/tier");
    EXPECT_EQ(defaults.disk_size, 100 * GiB);
    EXPECT_EQ(defaults.disk_policy, "lru");
    EXPECT_EQ(defaults.remote_seeds.size(), 3u);
    EXPECT_EQ(defaults.remote_layout, "llama-3.1-8b/fp16/16");
    EXPECT_FALSE(defaults.write_through);
    ASSERT_EQ(r->pools.size(), 3u);
    EXPECT_EQ(r->pools[0].name, "llama");
    EXPECT_EQ(r->pools[0].settings.size, 16 * GiB);
    EXPECT_EQ(r->pools[0].settings.policy, "s3fifo");
    EXPECT_EQ(r->pools[0].settings.tier, Tier::Cpu);
    EXPECT_EQ(r->pools[1].name, "archive");
    EXPECT_EQ(r->pools[1].settings.tier, Tier::Disk);
    EXPECT_EQ(r->pools[1].settings.dir, "/var/lib/kvcachefs");
    EXPECT_EQ(r->pools[1].settings.block_size, 4096u);
    EXPECT_EQ(r->pools[2].name, "qwen");
    const TierSettings& qwen = r->pools[2].settings.tiers;
    EXPECT_EQ(qwen.disk_dir, "/var/lib/kvcachefs/tier");
    EXPECT_EQ(qwen.disk_size, 100 * GiB);
    EXPECT_EQ(qwen.disk_policy, "lfu");
    EXPECT_EQ(qwen.remote_seeds, (std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:7000"}));
    EXPECT_EQ(qwen.remote_namespace, "prod.qwen");
    EXPECT_EQ(qwen.remote_timeout_ms, 100u);
    EXPECT_EQ(qwen.remote_ttl_s, 86400u);
    EXPECT_EQ(qwen.remote_layout, "qwen2.5-7b/bf16/16");
    EXPECT_TRUE(qwen.write_through);
    EXPECT_EQ(qwen.demote_min_reads, 2u);
    EXPECT_EQ(qwen.demote_queue_bytes, 256 * MiB);
}

TEST(PoolName, Valid) {
    for (std::string_view name : {"llama", "llama-3.1_8B", "a", "x.", "0", "a..b"}) {
        EXPECT_TRUE(validatePoolName(name).ok()) << name;
    }
    EXPECT_TRUE(validatePoolName(std::string(255, 'n')).ok());
}

TEST(PoolName, Invalid) {
    for (std::string_view name : {"", ".", "..", ".stats", "a/b", "a b", "a\nb", "é", "a*"}) {
        Status s = validatePoolName(name);
        ASSERT_FALSE(s.ok()) << name;
        EXPECT_EQ(s.code(), EINVAL) << name;
        EXPECT_NE(s.error().message.find("invalid pool name \""), std::string::npos)
            << s.error().message;
    }
    Status s = validatePoolName("a b");
    EXPECT_NE(s.error().message.find("\"a b\""), std::string::npos) << s.error().message;

    s = validatePoolName(std::string(256, 'n'));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), ENAMETOOLONG);
    EXPECT_NE(s.error().message.find(std::string(256, 'n')), std::string::npos);
}

TEST(Tier, NamesRoundTrip) {
    EXPECT_EQ(tierName(Tier::Cpu), "cpu");
    EXPECT_EQ(tierName(Tier::Disk), "disk");
    ASSERT_TRUE(parseTier("Disk").ok());
    EXPECT_EQ(*parseTier("Disk"), Tier::Disk);
    EXPECT_EQ(*parseTier("cpu"), Tier::Cpu);
    EXPECT_EQ(*parseTier("NVMe"), Tier::Disk);  // the seed's name for a disk tier
    auto gpu = parseTier("gpu");
    ASSERT_FALSE(gpu.ok());
    EXPECT_EQ(gpu.code(), EINVAL);
    EXPECT_NE(gpu.error().message.find("not offered"), std::string::npos) << gpu.error().message;
    EXPECT_NE(gpu.error().message.find("cpu"), std::string::npos);
    auto bad = parseTier("tape");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("\"tape\""), std::string::npos);
}

}  // namespace
}  // namespace kvc
