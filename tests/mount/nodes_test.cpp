// Symbolic links and special files through a real mount: every node type survives a clean
// remount, kill -9 and a snapshot/restore round trip with its type, mode, owner, times, device
// number, link target and hard links; device nodes open nothing (the mount is nodev); .stats
// counts them apart from entries. Parity of each call against tmpfs: parity_nodes_test.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/mount/mount_fixture.h"
#include "tests/mount/tree_fingerprint.h"

namespace kvctest {
namespace {

std::string fingerprint(const std::string& dir) {
    return describeTree(dir);
}

// One of each type, some with a second name, owners and times set.
void populate(const std::string& pool) {
    ASSERT_EQ(0, errnoOf(mkdir((pool + "/dir").c_str(), 0750)));
    writeFile(pool + "/dir/file", "bytes of an entry");
    ASSERT_EQ(0, errnoOf(symlink("file", (pool + "/dir/link").c_str())));
    ASSERT_EQ(0, errnoOf(symlink("/an/absolute/dangling/target", (pool + "/abs").c_str())));
    ASSERT_EQ(0, errnoOf(symlink(std::string(4095, 'L').c_str(), (pool + "/long").c_str())));
    ASSERT_EQ(0, errnoOf(mkfifo((pool + "/fifo").c_str(), 0620)));
    ASSERT_EQ(0, errnoOf(link((pool + "/fifo").c_str(), (pool + "/dir/fifo2").c_str())));
    ASSERT_EQ(0, errnoOf(mknod((pool + "/sock").c_str(), S_IFSOCK | 0700, 0)));
    ASSERT_EQ(0, errnoOf(mknod((pool + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3))));
    ASSERT_EQ(0, errnoOf(mknod((pool + "/dir/sda").c_str(), S_IFBLK | 0660, makedev(8, 0))));
    ASSERT_EQ(0, errnoOf(lchown((pool + "/dir/link").c_str(), 1234, 5678)));
    ASSERT_EQ(0, errnoOf(chown((pool + "/fifo").c_str(), 42, 43)));
    const timespec t[2] = {{1000, 1}, {2000, 2}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, (pool + "/abs").c_str(), t, AT_SYMLINK_NOFOLLOW)));
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, (pool + "/sock").c_str(), t, 0)));
}

class NodesTest : public MountTest {};

TEST_F(NodesTest, RemountAndKillNineKeepEveryNodeType) {
    const std::string pool = makePool("nodes");
    populate(pool);
    const std::string before = fingerprint(pool);
    ASSERT_NE(before.find("-> /an/absolute/dangling/target"), std::string::npos) << before;
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(fingerprint(pool), before);
    ASSERT_TRUE(mount().killAndRemount());
    EXPECT_EQ(fingerprint(pool), before);
    // Still nodes that work: the link is followed, the FIFO carries bytes.
    EXPECT_EQ(readFile(pool + "/dir/link").value_or(""), "bytes of an entry");
    const int r = open((pool + "/fifo").c_str(), O_RDONLY | O_NONBLOCK);
    const int w = open((pool + "/dir/fifo2").c_str(), O_WRONLY | O_NONBLOCK);
    ASSERT_GE(r, 0);
    ASSERT_GE(w, 0);
    ASSERT_EQ(3, write(w, "abc", 3));
    char buf[4] = {};
    EXPECT_EQ(3, read(r, buf, sizeof buf));
    close(r);
    close(w);
}

TEST_F(NodesTest, DeviceNodesOpenNothingAndStatsCountNodesApart) {
    const std::string pool = makePool("nodes");
    populate(pool);
    // nodev: a device node is only a name with a number.
    EXPECT_EQ(EACCES, errnoOf(open((pool + "/null").c_str(), O_RDONLY)));
    EXPECT_EQ(EACCES, errnoOf(open((pool + "/dir/sda").c_str(), O_RDONLY)));
    const auto stats = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(stats, "entries"), 1u);
    EXPECT_EQ(statNum(stats, "symlinks"), 3u);
    EXPECT_EQ(statNum(stats, "special_files"), 4u);  // fifo (two names, one node), sock, 2 devs
    // Evicting everything leaves every node.
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "100").first);
    const auto after = readStats(pool + "/.stats");
    EXPECT_EQ(statNum(after, "entries"), 0u);
    EXPECT_EQ(statNum(after, "symlinks"), 3u);
    EXPECT_EQ(statNum(after, "special_files"), 4u);
    struct stat st {};
    EXPECT_EQ(0, errnoOf(lstat((pool + "/dir/link").c_str(), &st)));  // there, dangling now
    EXPECT_EQ(ENOENT, statErrno(pool + "/dir/link"));
}

// `kvcachefs snapshot` and `kvcachefs restore` (the commands, through the mount) keep every
// node type; so does the restore= mount option (the daemon's own restore).
TEST_F(NodesTest, SnapshotAndRestoreKeepEveryNodeType) {
    const std::string pool = makePool("nodes");
    populate(pool);
    const std::string before = fingerprint(pool);
    char tmpl[] = "/tmp/kvcnodes.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    const std::string image = std::string(tmpl) + "/nodes.kvs";
    auto kvc = [&](const std::vector<std::string>& args) {
        std::vector<std::string> argv = {KVCACHEFS_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        std::string out;
        const int status = runProgram(argv, &out, 60000);
        EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
        return out;
    };
    const std::string said = kvc({"snapshot", pool, image});
    EXPECT_NE(said.find("7 symbolic links and special files"), std::string::npos) << said;
    EXPECT_NE(said.find("1 hard links"), std::string::npos) << said;
    const std::string copy = makePool("copy");
    kvc({"restore", image, copy});
    EXPECT_EQ(fingerprint(copy), before);
    // Restored over itself (merge), then with --replace: the same again.
    kvc({"restore", image, pool});
    EXPECT_EQ(fingerprint(pool), before);
    kvc({"restore", "--replace", image, copy});
    EXPECT_EQ(fingerprint(copy), before);
    // The daemon restores it at mount into a pool it makes.
    KvcMount other("size=64M,restore=" + image);
    ASSERT_TRUE(other.start());
    EXPECT_EQ(fingerprint(other.path("nodes")), before);
    other.cleanup();
    unlink(image.c_str());
    rmdir(tmpl);
}

}  // namespace
}  // namespace kvctest
