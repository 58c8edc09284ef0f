// Daemon lifecycle: clean unmount and reattach of an instance, SIGTERM/SIGINT, kill -9 and
// reattach, and the command line (--help, --version, bad options refused before mounting).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

std::string xattr(const std::string& path, const char* name) {
    char buf[65536];
    const ssize_t n = getxattr(path.c_str(), name, buf, sizeof buf);
    return n < 0 ? "<" + errName(errno) + ">" : std::string(buf, n);
}

using LifecycleTest = MountTest;

TEST_F(LifecycleTest, CleanRemountKeepsEverything) {
    const std::string a = makePool("a");
    const std::string b = makePool("b");
    const std::vector<std::pair<std::string, size_t>> files = {
        {"empty", 0}, {"one", 1}, {"block", 4096}, {"odd", 100001}, {"big", 3 << 20}};
    for (const auto& [n, size] : files) ASSERT_EQ(0, writeFile(a + "/" + n, pattern(size, size)));
    ASSERT_EQ(0, errnoOf(mkdir((a + "/dir").c_str(), 0750)));
    ASSERT_EQ(0, errnoOf(mkdir((a + "/dir/sub").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(a + "/dir/sub/nested", "nested bytes"));
    ASSERT_EQ(0, errnoOf(link((a + "/odd").c_str(), (a + "/dir/odd-link").c_str())));
    ASSERT_EQ(0, writeFile(b + "/other", "pool b"));
    const std::string e = a + "/block";
    const std::string binary("\0bin\xff\0", 6);
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.kvcache.priority", "7", 1, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.kvcache.pinned", "1", 1, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.kvcache.layer", "3", 1, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.kvcache.seq_len", "128", 3, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.kvcache.parent", "one", 3, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(e.c_str(), "user.bin", binary.data(), binary.size(), 0)));
    ASSERT_EQ(0, errnoOf(setxattr((a + "/dir").c_str(), "user.dirtag", "d", 1, 0)));
    ASSERT_EQ(0, errnoOf(chmod((a + "/odd").c_str(), 0600)));
    const timespec t[2] = {{1234567890, 5}, {1234567891, 6}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, (a + "/odd").c_str(), t, 0)));
    ASSERT_EQ(0, writeFile(a + "/.policy", "lfu", O_WRONLY));
    ASSERT_EQ(0, writeFile(b + "/.size", "32M", O_WRONLY));
    const std::string created = xattr(e, "user.kvcache.created");
    // A directory's creation time, the pool's own directory's being the pool's.
    const std::string pool_created = xattr(a, "user.kvcache.created");
    const std::string dir_created = xattr(a + "/dir", "user.kvcache.created");
    EXPECT_GT(std::stod(pool_created), 1.6e9) << pool_created;
    EXPECT_LE(std::stod(pool_created), std::stod(dir_created));
    EXPECT_EQ(EPERM, errnoOf(setxattr(a.c_str(), "user.kvcache.created", "1", 1, 0)));
    const auto stats_a = readStats(a + "/.stats");

    ASSERT_TRUE(mount().remount());

    EXPECT_EQ(std::vector<std::string>({".", "..", "a", "b"}), listDir(mnt()));
    EXPECT_EQ(std::vector<std::string>({".", "..", "big", "block", "dir", "empty", "odd", "one"}),
              listDir(a));
    for (const auto& [n, size] : files)
        EXPECT_EQ(pattern(size, size), readFile(a + "/" + n).value_or("<missing>")) << n;
    EXPECT_EQ("nested bytes", readFile(a + "/dir/sub/nested").value_or(""));
    EXPECT_EQ("pool b", readFile(b + "/other").value_or(""));
    struct stat so {
    }, sl{};
    ASSERT_EQ(0, stat((a + "/odd").c_str(), &so));
    ASSERT_EQ(0, stat((a + "/dir/odd-link").c_str(), &sl));
    EXPECT_EQ(so.st_ino, sl.st_ino);
    EXPECT_EQ(2u, so.st_nlink);
    EXPECT_EQ(S_IFREG | 0600, so.st_mode);
    EXPECT_EQ(1234567891, so.st_mtim.tv_sec);
    EXPECT_EQ(6, so.st_mtim.tv_nsec);
    struct stat sd {};
    ASSERT_EQ(0, stat((a + "/dir").c_str(), &sd));
    EXPECT_EQ(S_IFDIR | 0750, sd.st_mode);
    EXPECT_EQ("7", xattr(e, "user.kvcache.priority"));
    EXPECT_EQ("1", xattr(e, "user.kvcache.pinned"));
    EXPECT_EQ("3", xattr(e, "user.kvcache.layer"));
    EXPECT_EQ("128", xattr(e, "user.kvcache.seq_len"));
    EXPECT_EQ("one", xattr(e, "user.kvcache.parent"));
    EXPECT_EQ(binary, xattr(e, "user.bin"));
    EXPECT_EQ(created, xattr(e, "user.kvcache.created"));
    EXPECT_EQ(pool_created, xattr(a, "user.kvcache.created"));
    EXPECT_EQ(dir_created, xattr(a + "/dir", "user.kvcache.created"));
    EXPECT_EQ("d", xattr(a + "/dir", "user.dirtag"));
    EXPECT_EQ("lfu\n", readFile(a + "/.policy").value_or(""));
    EXPECT_EQ("33554432\n", readFile(b + "/.size").value_or(""));
    const auto after = readStats(a + "/.stats");
    for (const char* k : {"entries", "directories", "used_bytes", "capacity_bytes", "pinned_bytes"})
        EXPECT_EQ(stats_a.at(k), after.at(k)) << k;
    // A deleted pool stays deleted.
    ASSERT_EQ(0, errnoOf(unlink((b + "/other").c_str())));
    ASSERT_EQ(0, errnoOf(rmdir(b.c_str())));
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(std::vector<std::string>({".", "..", "a"}), listDir(mnt()));
    EXPECT_EQ(ENOENT, statErrno(mount().segmentPath("b")));
}

TEST_F(LifecycleTest, SigtermUnmountsCleanly) {
    const std::string p = makePool("p");
    ASSERT_EQ(0, writeFile(p + "/e", "kept"));
    mount().signal(SIGTERM);
    int status = -1;
    ASSERT_TRUE(mount().waitExit(10000, &status)) << "daemon still running after SIGTERM";
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(0, WEXITSTATUS(status));
    EXPECT_FALSE(mount().isMounted());
    EXPECT_FALSE(mount().segments().empty()) << "segments of a clean unmount stay for reattach";
    ASSERT_TRUE(mount().start());
    EXPECT_EQ("kept", readFile(p + "/e").value_or(""));
}

// close() waits for FLUSH, which commits the entry: a daemon stopped right after it keeps the
// entry even though the RELEASE that follows is never handled.
TEST_F(LifecycleTest, EntryClosedJustBeforeSigtermIsKept) {
    const std::string p = makePool("p");
    for (int i = 0; i < 30; ++i) {
        const std::string name = "e" + std::to_string(i);
        ASSERT_EQ(0, writeFile(p + "/" + name, name));
        mount().signal(SIGTERM);
        ASSERT_TRUE(mount().waitExit(10000, nullptr));
        ASSERT_TRUE(mount().start());
        ASSERT_EQ(name, readFile(p + "/" + name).value_or("<lost>")) << "iteration " << i;
    }
}

TEST_F(LifecycleTest, SigintUnmountsCleanly) {
    makePool("p");
    mount().signal(SIGINT);
    int status = -1;
    ASSERT_TRUE(mount().waitExit(10000, &status));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_FALSE(mount().isMounted());
}

TEST_F(LifecycleTest, KillNineThenRemountKeepsClosedEntries) {
    const std::string p = makePool("p");
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(0, writeFile(p + "/closed" + std::to_string(i), pattern(10000 + i * 999, i)));
    ASSERT_EQ(0, errnoOf(setxattr((p + "/closed3").c_str(), "user.kvcache.priority", "9", 1, 0)));
    // One entry is open for writing, half written, when the daemon dies.
    const std::string partial = pattern(200000, 77);
    const int fd = open((p + "/writing").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(100000, write(fd, partial.data(), 100000));
    ASSERT_TRUE(mount().killAndRemount());
    close(fd);  // on the dead connection
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(pattern(10000 + i * 999, i),
                  readFile(p + "/closed" + std::to_string(i)).value_or("<missing>"))
            << "closed" << i;
    EXPECT_EQ("9", xattr(p + "/closed3", "user.kvcache.priority"));
    int err = 0;
    auto w = readFile(p + "/writing", &err);
    if (w) {
        EXPECT_EQ(partial.substr(0, 100000), *w) << "an entry open at the crash must be whole";
    } else {
        EXPECT_EQ(ENOENT, err);
    }
    // The pool is usable and consistent after the crash.
    const auto s = readStats(p + "/.stats");
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes") + statNum(s, "free_bytes"));
    EXPECT_EQ(w ? 21u : 20u, statNum(s, "entries"));
    ASSERT_EQ(0, writeFile(p + "/after", "after the crash"));
    EXPECT_EQ("after the crash", readFile(p + "/after").value_or(""));
    // A second crash right after reattaching loses nothing either.
    ASSERT_TRUE(mount().killAndRemount());
    EXPECT_EQ("after the crash", readFile(p + "/after").value_or(""));
    EXPECT_EQ(pattern(10000, 0), readFile(p + "/closed0").value_or(""));
}

// --- command line -------------------------------------------------------------------------

TEST(CommandLineTest, HelpListsOptions) {
    std::string out;
    const int st = runProgram({KVCACHEFS_BIN, "--help"}, &out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << out;
    for (const char* opt :
         {"size=", "policy=", "block_size=", "instance=", "config=", "tier=", "dir="})
        EXPECT_NE(std::string::npos, out.find(opt)) << "--help does not mention " << opt;
    for (const char* policy : {"lru", "lfu", "fifo", "priority", "sieve", "s3fifo"})
        EXPECT_NE(std::string::npos, out.find(policy)) << policy;
}

TEST(CommandLineTest, Version) {
    std::string out;
    const int st = runProgram({KVCACHEFS_BIN, "--version"}, &out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << out;
    EXPECT_EQ(0u, out.find("kvcachefs ")) << out;
}

TEST(CommandLineTest, BadOptionsNameTheOptionAndMountNothing) {
    KvcMount m;  // a mountpoint and a unique prefix; never started
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"size=12X", "size"},
        {"policy=nope", "policy"},
        {"block_size=3000", "block_size"},
        {"block_size=4M", "block_size"},
        {"size=1K,block_size=4K", "size"},
        {"instance=bad/name", "instance"},
        {"shm_prefix=a/b", "shm_prefix"},
        {"tier=gpu", "tier"},
        {"timeout=soon", "timeout"},
        {"max_entries=many", "max_entries"},
        {"config=/nonexistent/kvcachefs.toml", "config"},
        {"no_such_option=1", "no_such_option"},
    };
    for (const auto& [opt, name] : cases) {
        std::string out;
        const std::string opts =
            "instance=" + m.instance() + ",shm_prefix=" + m.shmPrefix() + "," + opt;
        const int st = runProgram({KVCACHEFS_BIN, m.path(), "-f", "-o", opts}, &out, 10000);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << opt << ": status " << st << "\n"
                                                           << out;
        EXPECT_NE(std::string::npos, out.find(name)) << opt << ": message does not name it:\n"
                                                     << out;
        EXPECT_FALSE(m.isMounted()) << opt << " mounted anyway";
        EXPECT_TRUE(m.segments().empty()) << opt << " made segments";
    }
    // Without a mountpoint.
    std::string out;
    const int st = runProgram({KVCACHEFS_BIN, "-f"}, &out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << out;
    EXPECT_NE(std::string::npos, out.find("mountpoint")) << out;
}

}  // namespace
}  // namespace kvctest
