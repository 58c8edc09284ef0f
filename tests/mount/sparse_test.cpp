// Sparse entries through a real mount, against tmpfs: a write of one byte at 2 GiB + 1 in a
// 64 MiB pool succeeds as on tmpfs (same results, errno, st_size, zeros, SEEK_DATA/SEEK_HOLE),
// takes one block and evicts nothing; the entry survives a remount, a kill -9, and a snapshot
// restored into a pool smaller than it.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

constexpr off_t kFar = (off_t{2} << 30) + 1;  // 2 GiB + 1

// The 64 MiB pool is far smaller than the entry.
class SparseMountTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        char shm[] = "/dev/shm/kvcsparse.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(shm));
        tmpfs_ = shm;
        char tmp[] = "/tmp/kvcsparse.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmp));
        work_ = tmp;
    }
    void TearDown() override {
        for (const std::string& dir : {tmpfs_, work_}) {
            if (dir.empty()) continue;
            if (DIR* d = opendir(dir.c_str())) {
                while (dirent* e = readdir(d))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        unlink((dir + "/" + e->d_name).c_str());
                closedir(d);
            }
            rmdir(dir.c_str());
        }
        MountTest::TearDown();
    }

    std::string tmpfs_;
    std::string work_;
};

// What a program sees of a sparse file: every call's result and errno, in one string.
std::string observe(const std::string& path) {
    std::ostringstream s;
    auto rc = [&](const char* what, long r) {
        s << what << "=" << (r < 0 ? "-1 " + errName(errno) : std::to_string(r)) << "\n";
    };
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return "open: " + errName(errno);
    rc("pwrite far", pwrite(fd, "x", 1, kFar));
    rc("pwrite at the largest offset", pwrite(fd, "y", 1, INT64_MAX));
    struct stat st {};
    fstat(fd, &st);
    s << "size=" << st.st_size << "\n";
    char buf[8192];
    memset(buf, 'u', sizeof buf);
    rc("pread start", pread(fd, buf, sizeof buf, 0));
    s << "zeros=" << (buf[0] == 0 && memcmp(buf, buf + 1, sizeof buf - 1) == 0) << "\n";
    memset(buf, 'u', sizeof buf);
    rc("pread around", pread(fd, buf, 16, kFar - 8));
    s << "around=" << std::string(buf, 16).find('x') << " " << int(buf[0]) << int(buf[15]) << "\n";
    rc("pread past", pread(fd, buf, 16, kFar + 1));
    for (off_t at : {off_t{0}, off_t{4096}, kFar - 1, kFar, kFar + 1, kFar + 100}) {
        s << "at " << at << ": ";
        rc("SEEK_DATA", lseek(fd, at, SEEK_DATA));
        s << "at " << at << ": ";
        rc("SEEK_HOLE", lseek(fd, at, SEEK_HOLE));
    }
    rc("ftruncate 1 TiB", ftruncate(fd, off_t{1} << 40));
    fstat(fd, &st);
    s << "size=" << st.st_size << "\n";
    rc("SEEK_HOLE after the data", lseek(fd, kFar, SEEK_HOLE));
    rc("SEEK_DATA in the new hole", lseek(fd, kFar + 4096, SEEK_DATA));
    rc("ftruncate back", ftruncate(fd, kFar + 1));
    rc("fallocate", fallocate(fd, 0, 8192, 8192));
    fstat(fd, &st);
    s << "size=" << st.st_size << "\n";
    rc("punch without keep size", fallocate(fd, FALLOC_FL_PUNCH_HOLE, kFar - 1, 2));
    rc("punch the byte", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kFar - 1, 2));
    fstat(fd, &st);
    s << "size=" << st.st_size << "\n";
    memset(buf, 'u', sizeof buf);
    rc("pread punched", pread(fd, buf, 16, kFar - 8));
    s << "punched zeros=" << (buf[0] == 0 && memcmp(buf, buf + 1, 9) == 0) << "\n";
    // (Where SEEK_DATA finds fallocated blocks differs: tmpfs reports its unwritten pages as a
    // hole, a pool its reserved blocks as data; both are allowed. Not compared.)
    close(fd);
    return s.str();
}

TEST_F(SparseMountTest, FarWriteBehavesAsOnTmpfsAndTakesOneBlock) {
    const std::string pool = makePool("p");
    const std::string on_tmpfs = observe(tmpfs_ + "/sparse");
    const std::string on_pool = observe(pool + "/sparse");
    EXPECT_EQ(on_pool, on_tmpfs);
    EXPECT_NE(std::string::npos, on_pool.find("pwrite far=1\n")) << on_pool;
    EXPECT_NE(std::string::npos, on_pool.find("size=2147483650\n")) << on_pool;
    EXPECT_NE(std::string::npos, on_pool.find("at 0: SEEK_DATA=2147483648\n")) << on_pool;
    struct stat st {};
    ASSERT_EQ(0, stat((pool + "/sparse").c_str(), &st));
    EXPECT_EQ(st.st_size, kFar + 1);
    EXPECT_LE(st.st_blocks * 512, 4 * 4096) << "the holes take blocks";
    const auto stats = readStats(pool + "/.stats");
    EXPECT_LE(statNum(stats, "blocks_used"), 4u);
    EXPECT_EQ(statNum(stats, "evictions"), 0u);
}

// What must survive: size, blocks, the byte, and zeros around it.
void expectSparseEntry(const std::string& path) {
    struct stat st {};
    ASSERT_EQ(0, stat(path.c_str(), &st)) << path;
    EXPECT_EQ(st.st_size, kFar + 1);
    EXPECT_LE(st.st_blocks * 512, 2 * 4096);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    char buf[16];
    ASSERT_EQ(16, pread(fd, buf, 16, kFar - 15));
    EXPECT_EQ(std::string(buf, 16), std::string(15, '\0') + "x");
    ASSERT_EQ(16, pread(fd, buf, 16, 4096));
    EXPECT_EQ(std::string(buf, 16), std::string(16, '\0'));
    EXPECT_EQ(lseek(fd, 0, SEEK_DATA), kFar - 1);
    EXPECT_EQ(lseek(fd, kFar, SEEK_HOLE), kFar + 1);
    close(fd);
}

// One byte at 2 GiB + 1 in a new entry.
void writeFar(const std::string& path) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(1, pwrite(fd, "x", 1, kFar));
    ASSERT_EQ(0, close(fd));
}

TEST_F(SparseMountTest, SurvivesARemountAndAKill) {
    const std::string pool = makePool("p");
    ASSERT_NO_FATAL_FAILURE(writeFar(pool + "/sparse"));
    expectSparseEntry(pool + "/sparse");
    ASSERT_TRUE(mount().remount());
    expectSparseEntry(pool + "/sparse");
    ASSERT_TRUE(mount().killAndRemount());
    expectSparseEntry(pool + "/sparse");
}

TEST_F(SparseMountTest, SnapshotRestoresIntoAPoolSmallerThanTheEntry) {
    const std::string pool = makePool("p");
    ASSERT_NO_FATAL_FAILURE(writeFar(pool + "/sparse"));
    ASSERT_EQ(0, writeFile(pool + "/dense", pattern(100000, 7)));
    const std::string image = work_ + "/p.kvs";
    auto kvc = [&](const std::vector<std::string>& args) {
        std::vector<std::string> argv = {KVCACHEFS_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        std::string out;
        const int status = runProgram(argv, &out, 100000);
        EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    };
    kvc({"snapshot", pool, image});
    // The snapshot read no hole: its image holds the zeros as a hole of its own.
    struct stat ist {};
    ASSERT_EQ(0, stat(image.c_str(), &ist));
    EXPECT_LT(static_cast<uint64_t>(ist.st_blocks) * 512, uint64_t{16} << 20);
    ASSERT_EQ(0, unlink((pool + "/sparse").c_str()));
    ASSERT_EQ(0, unlink((pool + "/dense").c_str()));
    kvc({"restore", image, pool});
    expectSparseEntry(pool + "/sparse");
    EXPECT_EQ(readFile(pool + "/dense"), pattern(100000, 7));
    // The restore= option takes the same way, through the Pool API.
    ASSERT_EQ(0, unlink((pool + "/sparse").c_str()));
    KvcMount second("size=64M,restore=" + image);
    ASSERT_TRUE(second.start());
    expectSparseEntry(second.path("p/sparse"));
}

}  // namespace
}  // namespace kvctest
