// Extended attributes through the mount: user.kvcache.* (validated, some read-only) and other
// user.* attributes (verbatim, within the documented limits), with the errno of each misuse.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

class XattrTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        pool_ = makePool("p");
        entry_ = pool_ + "/e";
        ASSERT_EQ(0, writeFile(entry_, "data"));
    }
    int set(const std::string& name, std::string_view value, int flags = 0) {
        return errnoOf(setxattr(entry_.c_str(), name.c_str(), value.data(), value.size(), flags));
    }
    // The value, or "<ERRNO>" on error.
    std::string get(const std::string& name, const std::string& path = {}) {
        char buf[70000];
        const ssize_t n =
            getxattr((path.empty() ? entry_ : path).c_str(), name.c_str(), buf, sizeof buf);
        return n < 0 ? "<" + errName(errno) + ">" : std::string(buf, n);
    }
    std::set<std::string> list(const std::string& path) {
        char buf[65536];
        const ssize_t n = listxattr(path.c_str(), buf, sizeof buf);
        std::set<std::string> out;
        for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1) out.insert(buf + i);
        return out;
    }
    int remove(const std::string& name) {
        return errnoOf(removexattr(entry_.c_str(), name.c_str()));
    }

    std::string pool_, entry_;
};

TEST_F(XattrTest, KvcacheAttributesRoundTrip) {
    EXPECT_EQ("0", get("user.kvcache.priority"));
    EXPECT_EQ("0", get("user.kvcache.pinned"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.layer"));
    EXPECT_EQ(0, set("user.kvcache.priority", "5"));
    EXPECT_EQ("5", get("user.kvcache.priority"));
    EXPECT_EQ(0, set("user.kvcache.priority", "-3"));
    EXPECT_EQ("-3", get("user.kvcache.priority"));
    EXPECT_EQ(0, set("user.kvcache.priority", "7\n"));  // `setfattr -v "$(echo 7)"`-style input
    EXPECT_EQ("7", get("user.kvcache.priority"));
    EXPECT_EQ(0, set("user.kvcache.pinned", "1"));
    EXPECT_EQ("1", get("user.kvcache.pinned"));
    EXPECT_EQ(0, set("user.kvcache.layer", "12"));
    EXPECT_EQ("12", get("user.kvcache.layer"));
    EXPECT_EQ(0, set("user.kvcache.seq_len", "4096"));
    EXPECT_EQ("4096", get("user.kvcache.seq_len"));
    ASSERT_EQ(0, writeFile(pool_ + "/blk-0", "parent"));
    EXPECT_EQ(0, set("user.kvcache.parent", "blk-0"));
    EXPECT_EQ("blk-0", get("user.kvcache.parent"));
    // listxattr shows what is set and settable; read-only attributes are read by name.
    EXPECT_EQ(
        (std::set<std::string>{"user.kvcache.priority", "user.kvcache.pinned", "user.kvcache.layer",
                               "user.kvcache.seq_len", "user.kvcache.parent"}),
        list(entry_));
    // Removing resets to the default or unsets.
    EXPECT_EQ(0, remove("user.kvcache.priority"));
    EXPECT_EQ("0", get("user.kvcache.priority"));
    EXPECT_EQ(0, remove("user.kvcache.layer"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.layer"));
    EXPECT_FALSE(list(entry_).count("user.kvcache.layer"));
    EXPECT_EQ(0, remove("user.kvcache.pinned"));
    EXPECT_EQ("0", get("user.kvcache.pinned"));
    EXPECT_EQ(0, remove("user.kvcache.parent"));
    EXPECT_EQ(ENODATA, remove("user.kvcache.parent"));
}

TEST_F(XattrTest, PinTtlPinsForAWhile) {
    EXPECT_EQ(0, set("user.kvcache.pin_ttl", "60"));
    EXPECT_EQ("1", get("user.kvcache.pinned"));
    const std::string ttl = get("user.kvcache.pin_ttl");
    EXPECT_TRUE(ttl == "60" || ttl == "59") << ttl;
    EXPECT_TRUE(list(entry_).count("user.kvcache.pin_ttl"));
    EXPECT_EQ(0, set("user.kvcache.pinned", "0"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.pin_ttl"));
    EXPECT_EQ(EINVAL, set("user.kvcache.pin_ttl", "-1"));
    EXPECT_EQ("0", get("user.kvcache.pinned"));
}

TEST_F(XattrTest, BadValuesAreEINVALAndChangeNothing) {
    ASSERT_EQ(0, set("user.kvcache.priority", "4"));
    ASSERT_EQ(0, set("user.kvcache.layer", "2"));
    ASSERT_EQ(0, set("user.kvcache.seq_len", "9"));
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"user.kvcache.priority", "abc"},
        {"user.kvcache.priority", "1.5"},
        {"user.kvcache.priority", ""},
        {"user.kvcache.priority", "99999999999"},
        {"user.kvcache.priority", "5x"},
        {"user.kvcache.priority", "0x10"},
        {"user.kvcache.pinned", "2"},
        {"user.kvcache.pinned", "-1"},
        {"user.kvcache.pinned", "yes"},
        {"user.kvcache.pinned", ""},
        {"user.kvcache.layer", "-1"},
        {"user.kvcache.layer", "x"},
        {"user.kvcache.seq_len", "-5"},
        {"user.kvcache.seq_len", "1e3"},
        {"user.kvcache.parent", ""},
        {"user.kvcache.parent", "a/"},
        {"user.kvcache.parent", ".."},
        {"user.kvcache.parent", "e"},  // itself: a loop
        {"user.kvcache.parent", std::string(300, 'p')},
        {"user.kvcache.bogus", "1"},
    };
    for (const auto& [name, value] : bad)
        EXPECT_EQ(EINVAL, set(name, value)) << name << "=\"" << value << "\"";
    EXPECT_EQ("4", get("user.kvcache.priority"));
    EXPECT_EQ("0", get("user.kvcache.pinned"));
    EXPECT_EQ("2", get("user.kvcache.layer"));
    EXPECT_EQ("9", get("user.kvcache.seq_len"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent"));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.bogus"));
}

TEST_F(XattrTest, ParentLoopsAreRefused) {
    ASSERT_EQ(0, writeFile(pool_ + "/a", "a"));
    ASSERT_EQ(0, writeFile(pool_ + "/b", "b"));
    const std::string a = pool_ + "/a", b = pool_ + "/b";
    ASSERT_EQ(0, errnoOf(setxattr(b.c_str(), "user.kvcache.parent", "a", 1, 0)));
    EXPECT_EQ(EINVAL, errnoOf(setxattr(a.c_str(), "user.kvcache.parent", "b", 1, 0)));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", a));
}

TEST_F(XattrTest, NoRenameLinkOrExchangeCanCloseAChainLoop) {
    // Each succeeds as POSIX says; the entry whose new name closed a loop forgets its parent, so
    // every entry stays evictable (.evict 100 empties the pool), also after a remount.
    auto path = [&](const std::string& name) { return pool_ + "/" + name; };
    auto put = [&](const std::string& name, const std::string& parent) {
        ASSERT_EQ(0, writeFile(path(name), name));
        if (!parent.empty()) {
            ASSERT_EQ(0, errnoOf(setxattr(path(name).c_str(), "user.kvcache.parent", parent.data(),
                                          parent.size(), 0)));
        }
    };
    ASSERT_EQ(0, errnoOf(unlink(entry_.c_str())));
    put("a", "b");  // a -> b -> c, c absent: `mv a c` would make a -> b -> a
    put("b", "c");
    ASSERT_EQ(0, errnoOf(rename(path("a").c_str(), path("c").c_str())));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("c")));
    EXPECT_EQ("c", get("user.kvcache.parent", path("b")));
    put("x", "y");  // x -> y, y absent: `ln x y` makes x its own parent
    ASSERT_EQ(0, errnoOf(link(path("x").c_str(), path("y").c_str())));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("x")));
    put("p", "q");  // p -> q -> r: exchanging p and r puts p at r, so q -> p -> q
    put("q", "r");
    put("r", "");
    ASSERT_EQ(0, errnoOf(syscall(SYS_renameat2, AT_FDCWD, path("p").c_str(), AT_FDCWD,
                                 path("r").c_str(), RENAME_EXCHANGE)));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("r")));
    EXPECT_EQ("r", get("user.kvcache.parent", path("q")));
    ASSERT_EQ(0, errnoOf(mkdir(path("d").c_str(), 0755)));  // d/m -> e/n; renaming f to e:
    ASSERT_EQ(0, errnoOf(mkdir(path("f").c_str(), 0755)));  // f/n -> d/m becomes e/n -> d/m
    put("d/m", "e/n");
    put("f/n", "d/m");
    ASSERT_EQ(0, errnoOf(rename(path("f").c_str(), path("e").c_str())));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("e/n")));
    EXPECT_EQ("e/n", get("user.kvcache.parent", path("d/m")));

    ASSERT_TRUE(mount().remount());  // the forgotten hints stay forgotten
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("c")));
    EXPECT_EQ("<ENODATA>", get("user.kvcache.parent", path("e/n")));
    ASSERT_EQ(0, writeFile(path(".evict"), "100", O_WRONLY));
    EXPECT_EQ((std::set<std::string>{"d", "e"}), listNames(pool_));  // directories stay
    EXPECT_EQ(std::set<std::string>{}, listNames(path("d")));
    EXPECT_EQ(std::set<std::string>{}, listNames(path("e")));
    const auto stats = readStats(path(".stats"));
    EXPECT_EQ(0u, statNum(stats, "entries"));
}

TEST_F(XattrTest, ReadOnlyAttributesAreEPERM) {
    for (const char* n :
         {"user.kvcache.access_count", "user.kvcache.created", "user.kvcache.last_access"}) {
        const std::string before = get(n);
        EXPECT_NE('<', before[0]) << n << ": " << before;
        EXPECT_EQ(EPERM, set(n, "5")) << n;
        EXPECT_EQ(EPERM, remove(n)) << n;
    }
    // access_count counts opens for reading; created is a time in seconds.nanoseconds.
    const uint64_t count = std::stoull(get("user.kvcache.access_count"));
    ASSERT_TRUE(readFile(entry_));
    ASSERT_TRUE(readFile(entry_));
    EXPECT_EQ(count + 2, std::stoull(get("user.kvcache.access_count")));
    const std::string created = get("user.kvcache.created");
    EXPECT_NE(std::string::npos, created.find('.'));
    EXPECT_GT(std::stod(created), 1.6e9);
    EXPECT_GE(std::stod(get("user.kvcache.last_access")), std::stod(created));
}

// listxattr lists only what setxattr takes back, so ordinary tools copy entries cleanly: `cp -a`
// out of the mount (to tmpfs) and back, and `mv` within a pool and between pools, print nothing
// (no "Operation not permitted" per read-only attribute), carry no read-only attribute out, and
// keep the settable ones (priority, parent, the pin, user.*).
TEST_F(XattrTest, CpAndMvCopyEntriesWithoutWarnings) {
    char tmpl[] = "/dev/shm/kvcxattr-cp.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl)) << "tmpfs at /dev/shm";
    const std::string outside = tmpl;
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::string out;
            runProgram({"rm", "-rf", dir}, &out);
        }
    } cleanup{outside};
    ASSERT_EQ(0, writeFile(pool_ + "/blk-0", "parent"));
    ASSERT_EQ(0, set("user.kvcache.priority", "5"));
    ASSERT_EQ(0, set("user.kvcache.parent", "blk-0"));
    ASSERT_EQ(0, set("user.kvcache.pin_ttl", "600"));
    ASSERT_EQ(0, set("user.model", "llama"));
    ASSERT_EQ("1", get("user.kvcache.committed"));  // read-only ones are there, by name

    auto quiet = [](const std::vector<std::string>& argv) {
        std::string out;
        const int status = runProgram(argv, &out);
        EXPECT_EQ(0, status) << argv[0] << ": " << out;
        EXPECT_EQ("", out) << argv[0] << " " << argv[1] << " warned";
    };
    auto expectCopied = [&](const std::string& path) {
        EXPECT_EQ("data", readFile(path).value_or("<unreadable>")) << path;
        EXPECT_EQ("5", get("user.kvcache.priority", path)) << path;
        EXPECT_EQ("blk-0", get("user.kvcache.parent", path)) << path;
        EXPECT_EQ("llama", get("user.model", path)) << path;
    };
    quiet({"cp", "-a", entry_, outside + "/e"});
    const auto copied = list(outside + "/e");
    EXPECT_EQ((std::set<std::string>{"user.kvcache.priority", "user.kvcache.parent",
                                     "user.kvcache.pin_ttl", "user.model"}),
              copied);
    expectCopied(outside + "/e");
    quiet({"cp", "-a", outside + "/e", pool_ + "/back"});
    expectCopied(pool_ + "/back");
    EXPECT_EQ("1", get("user.kvcache.pinned", pool_ + "/back"));
    EXPECT_EQ(list(entry_), list(pool_ + "/back"));
    quiet({"mv", pool_ + "/back", pool_ + "/moved"});
    expectCopied(pool_ + "/moved");
    ASSERT_EQ(0, errnoOf(::mkdir(mnt("q").c_str(), 0755)));
    quiet({"mv", pool_ + "/moved", mnt("q/moved")});  // another pool: a copy and an unlink
    expectCopied(mnt("q/moved"));
    EXPECT_EQ("1", get("user.kvcache.pinned", mnt("q/moved")));
}

TEST_F(XattrTest, OtherUserAttributesAreStoredVerbatim) {
    const std::string binary("\0\x01\xff value\0with NULs\n", 21);
    EXPECT_EQ(0, set("user.model", "llama-3-8b"));
    EXPECT_EQ(0, set("user.bin", binary));
    EXPECT_EQ(0, set("user.empty", ""));
    EXPECT_EQ("llama-3-8b", get("user.model"));
    EXPECT_EQ(binary, get("user.bin"));
    EXPECT_EQ("", get("user.empty"));
    const auto names = list(entry_);
    EXPECT_TRUE(names.count("user.model"));
    EXPECT_TRUE(names.count("user.bin"));
    EXPECT_TRUE(names.count("user.empty"));
    // XATTR_CREATE / XATTR_REPLACE.
    EXPECT_EQ(EEXIST, set("user.model", "x", XATTR_CREATE));
    EXPECT_EQ(ENODATA, set("user.missing", "x", XATTR_REPLACE));
    EXPECT_EQ(0, set("user.model", "mistral", XATTR_REPLACE));
    EXPECT_EQ("mistral", get("user.model"));
    EXPECT_EQ(0, set("user.new", "n", XATTR_CREATE));
    EXPECT_EQ(0, remove("user.model"));
    EXPECT_EQ("<ENODATA>", get("user.model"));
    EXPECT_EQ(ENODATA, remove("user.model"));
    EXPECT_FALSE(list(entry_).count("user.model"));
    // Hard links share attributes.
    ASSERT_EQ(0, errnoOf(link(entry_.c_str(), (pool_ + "/e2").c_str())));
    EXPECT_EQ(binary, get("user.bin", pool_ + "/e2"));
}

TEST_F(XattrTest, SmallBuffersAreERANGE) {
    ASSERT_EQ(0, set("user.long", std::string(100, 'v')));
    ASSERT_EQ(0, set("user.kvcache.priority", "3"));  // listed too: more than 10 bytes of names
    char buf[10];
    EXPECT_EQ(ERANGE, errnoOf(getxattr(entry_.c_str(), "user.long", buf, sizeof buf)));
    EXPECT_EQ(100, getxattr(entry_.c_str(), "user.long", nullptr, 0));
    EXPECT_EQ(ERANGE, errnoOf(listxattr(entry_.c_str(), buf, sizeof buf)));
    const ssize_t need = listxattr(entry_.c_str(), nullptr, 0);
    EXPECT_GT(need, 10);
    std::string all(need, '\0');
    EXPECT_EQ(need, listxattr(entry_.c_str(), all.data(), all.size()));
}

TEST_F(XattrTest, ValueLimits) {
    EXPECT_EQ(0, set("user.max", std::string(65536, 'm')));
    EXPECT_EQ(std::string(65536, 'm'), get("user.max"));
    EXPECT_EQ(E2BIG, set("user.toobig", std::string(65537, 't')));
    EXPECT_EQ("<ENODATA>", get("user.toobig"));
    // Per entry, at most 256 KiB of names and values: the fourth 64 KiB value does not fit.
    EXPECT_EQ(0, set("user.v1", std::string(65536, '1')));
    EXPECT_EQ(0, set("user.v2", std::string(65536, '2')));
    EXPECT_EQ(ENOSPC, set("user.v3", std::string(65536, '3')));
    EXPECT_EQ(std::string(65536, '2'), get("user.v2"));
    EXPECT_EQ("data", readFile(entry_).value_or(""));
    const std::string long_name = "user." + std::string(251, 'n');  // 256 bytes
    EXPECT_EQ(ERANGE, set(long_name, "x"));
}

TEST_F(XattrTest, OtherNamespacesAreRefused) {
    for (const char* n : {"trusted.x", "security.x", "system.x", "nonsense"}) {
        const int e = set(n, "1");
        EXPECT_TRUE(e == EOPNOTSUPP || e == EPERM) << n << ": " << errName(e);
    }
    EXPECT_EQ(0u, list(entry_).count("trusted.x"));
}

TEST_F(XattrTest, DirectoriesAndPools) {
    const std::string dir = pool_ + "/d";
    ASSERT_EQ(0, errnoOf(mkdir(dir.c_str(), 0755)));
    EXPECT_EQ(0, errnoOf(setxattr(dir.c_str(), "user.tag", "t", 1, 0)));
    EXPECT_EQ("t", get("user.tag", dir));
    EXPECT_EQ(EPERM, errnoOf(setxattr(dir.c_str(), "user.kvcache.priority", "1", 1, 0)));
    EXPECT_EQ(EPERM, errnoOf(setxattr(pool_.c_str(), "user.tag", "t", 1, 0)));
    EXPECT_EQ(EPERM, errnoOf(setxattr(mnt().c_str(), "user.tag", "t", 1, 0)));
    EXPECT_EQ(ENODATA, errnoOf(getxattr(mnt().c_str(), "user.tag", nullptr, 0)));
}

}  // namespace
}  // namespace kvctest
