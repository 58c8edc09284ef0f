// Unit tests of core/config.h: a full file, inheritance from [defaults], every kind of error
// (with the file, line and key it must name), pool names, files that cannot be read, and the
// example configuration shipped in examples/.
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
        {"[pools.a]\ntier = \"gpu\"\n", 2, {"pools.a.tier:", "invalid tier \"gpu\""}},
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
    ASSERT_EQ(r->pools.size(), 2u);
    EXPECT_EQ(r->pools[0].name, "llama");
    EXPECT_EQ(r->pools[0].settings.size, 16 * GiB);
    EXPECT_EQ(r->pools[0].settings.policy, "s3fifo");
    EXPECT_EQ(r->pools[0].settings.tier, Tier::Cpu);
    EXPECT_EQ(r->pools[1].name, "archive");
    EXPECT_EQ(r->pools[1].settings.tier, Tier::Disk);
    EXPECT_EQ(r->pools[1].settings.dir, "/var/lib/kvcachefs");
    EXPECT_EQ(r->pools[1].settings.block_size, 4096u);
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
    auto bad = parseTier("gpu");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.code(), EINVAL);
    EXPECT_NE(bad.error().message.find("\"gpu\""), std::string::npos);
}

}  // namespace
}  // namespace kvc
