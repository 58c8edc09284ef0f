// Integrity through real mounts: what a hostile or careless local user could do to the segments
// and the control files of an instance must never corrupt a pool or stop the daemon. Each test
// here reproduces a bug found by hostile testing (a second daemon on one instance, segments
// planted in /dev/shm, `.size` near 2^64, pool names with ".tmp", rmdir of a pool whose removed
// entry is still open) and checks what a user would see.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

constexpr uid_t kNobody = 65534;

using IntegrityTest = MountTest;

off_t fileSize(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// Writes `len` bytes of `byte` at `offset` of a file.
void poke(const std::string& path, off_t offset, const std::string& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), offset), (ssize_t)bytes.size());
    ::close(fd);
}

// Bug 1: as the owner of a chowned pool, a `.size` whose byte count overflows the segment's
// arithmetic used to shrink the shm object (every entry then read EIO and the instance could no
// longer be mounted). Now it is EFBIG and nothing changes.
TEST_F(IntegrityTest, SizeNearTwoToTheSixtyFourChangesNothing) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/e", pattern(100000, 1)));
    ASSERT_EQ(0, errnoOf(chown(pool.c_str(), kNobody, kNobody)));
    // The mountpoint's directory is root's 0700 work directory: let the user through.
    const std::string work = mnt().substr(0, mnt().rfind('/'));
    ASSERT_EQ(0, errnoOf(chmod(work.c_str(), 0755)));
    const off_t segment_bytes = fileSize(mount().segmentPath("p"));
    const std::string errs = runAsUser(kNobody, kNobody, {}, [&](std::string& out) {
        for (const char* v :
             {"18446744073709551615", "18446744073709547520", "9223372036854775807", "16E"})
            out += errName(writeFile(pool + "/.size", v, O_WRONLY | O_TRUNC)) + " ";
    });
    EXPECT_EQ("EFBIG EFBIG EFBIG EINVAL ", errs);  // "16E" is past what the parser takes
    EXPECT_EQ(segment_bytes, fileSize(mount().segmentPath("p")));
    EXPECT_EQ(pattern(100000, 1), readFile(pool + "/e").value_or("<unreadable>"));
    EXPECT_EQ(0, errnoOf(truncate((pool + "/e").c_str(), 5000)));
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(pattern(100000, 1).substr(0, 5000), readFile(pool + "/e").value_or("<gone>"));
}

// Bug 2: a second daemon on the same instance used to attach the same segments, and the two
// wrote each other's blocks. Now it refuses to start and names the daemon that has the instance.
TEST_F(IntegrityTest, SecondDaemonOnTheSameInstanceIsRefused) {
    const std::string pool = makePool("x");
    ASSERT_EQ(0, writeFile(pool + "/X1", pattern(8192, 11)));
    char dir[] = "/tmp/kvcmt-second.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    const std::string second = std::string(dir) + "/mnt";
    const std::string config = std::string(dir) + "/empty.toml";
    ASSERT_EQ(0, mkdir(second.c_str(), 0755));
    std::ofstream(config).close();
    std::string out;
    const int status = runProgram({KVCACHEFS_BIN, second, "-f", "-o",
                                   "size=64M,instance=" + mount().instance() +
                                       ",shm_prefix=" + mount().shmPrefix() + ",config=" + config},
                                  &out, 10000);
    // Had it mounted, it would still be running (killed at the timeout): take it down.
    std::string ignored;
    runProgram({"fusermount3", "-u", "-z", second}, &ignored);
    rmdir(second.c_str());
    unlink(config.c_str());
    rmdir(dir);
    ASSERT_TRUE(status != -1 && WIFEXITED(status)) << out;
    EXPECT_NE(0, WEXITSTATUS(status)) << out;
    EXPECT_NE(out.find("already served by another kvcachefs daemon"), std::string::npos) << out;
    EXPECT_NE(out.find("pid " + std::to_string(mount().pid())), std::string::npos) << out;
    EXPECT_NE(out.find(mount().path()), std::string::npos) << out;
    EXPECT_EQ(pattern(8192, 11), readFile(pool + "/X1").value_or("<gone>"));
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(pattern(8192, 11), readFile(pool + "/X1").value_or("<gone>"));
}

// Bug 3: /dev/shm is writable by everyone. A junk file, a valid segment owned by another user,
// one that others may write, and a segment whose superblock was damaged are each refused alone
// (logged, counted in the root .stats, left in place); the instance mounts and serves its pools.
TEST_F(IntegrityTest, PlantedAndDamagedSegmentsAreRefusedAloneTheRestServed) {
    const std::string good = makePool("good");
    ASSERT_EQ(0, writeFile(good + "/blk", pattern(50000, 3)));
    const std::string hurt = makePool("hurt");
    ASSERT_EQ(0, writeFile(hurt + "/blk", pattern(50000, 4)));
    ASSERT_TRUE(mount().unmount());

    // Junk under a pool's name, made by another user, and by the daemon's own user.
    const std::string junk = mount().segmentPath("junk");
    runAsUser(kNobody, kNobody, {},
              [&](std::string&) { std::ofstream(junk) << "not a pool at all"; });
    const std::string own_junk = mount().segmentPath("ownjunk");
    std::ofstream(own_junk) << std::string(8192, 'j');
    ASSERT_EQ(0, errnoOf(chmod(own_junk.c_str(), 0600)));
    // A real segment (a copy of "good") planted by another user: it would be attached as a pool
    // owned by that user, and entries written into it later readable from /dev/shm.
    const std::string evil = mount().segmentPath("evil");
    ASSERT_EQ(0, system(("cp " + mount().segmentPath("good") + " " + evil).c_str()));
    ASSERT_EQ(0, errnoOf(chown(evil.c_str(), kNobody, kNobody)));
    const std::string open_to_all = mount().segmentPath("open");
    ASSERT_EQ(0, system(("cp " + mount().segmentPath("good") + " " + open_to_all).c_str()));
    ASSERT_EQ(0, errnoOf(chmod(open_to_all.c_str(), 0666)));
    // Both superblock copies of "hurt" lose a byte of their capacity (one copy alone is
    // recovered from the other).
    for (off_t copy : {0, 2048}) poke(mount().segmentPath("hurt"), copy + 24, "\x01");

    ASSERT_TRUE(mount().start());
    EXPECT_EQ(std::set<std::string>({"good"}), listNames(mnt()));
    EXPECT_EQ(pattern(50000, 3), readFile(good + "/blk").value_or("<gone>"));
    const auto root = readStats(mnt(".stats"));
    EXPECT_EQ(5u, statNum(root, "pools_refused"));
    EXPECT_EQ("EPERM", root.count("refused.junk") ? root.at("refused.junk") : "");
    EXPECT_EQ("EINVAL", root.count("refused.ownjunk") ? root.at("refused.ownjunk") : "");
    EXPECT_EQ("EPERM", root.count("refused.evil") ? root.at("refused.evil") : "");
    EXPECT_EQ("EPERM", root.count("refused.open") ? root.at("refused.open") : "");
    EXPECT_EQ("EINVAL", root.count("refused.hurt") ? root.at("refused.hurt") : "");
    const std::string log = mount().daemonLog();
    EXPECT_NE(log.find("pool evil: refused"), std::string::npos) << log;
    EXPECT_NE(log.find("checksum"), std::string::npos) << log;
    // Left for the operator to look at, never removed or reused by the daemon.
    for (const std::string& p : {junk, own_junk, evil, open_to_all})
        EXPECT_EQ(0, statErrno(p)) << p;
    EXPECT_EQ(EEXIST, errnoOf(mkdir(mnt("evil").c_str(), 0755)));
    // New pools still work.
    const std::string fresh = makePool("fresh");
    ASSERT_EQ(0, writeFile(fresh + "/blk", "fresh"));
    EXPECT_EQ("fresh", readFile(fresh + "/blk").value_or(""));
}

// A lock file planted under the instance's lock name does not keep the daemon from starting.
TEST_F(IntegrityTest, PlantedInstanceLockIsReplaced) {
    ASSERT_TRUE(mount().unmount());
    const std::string lock =
        "/dev/shm/" + mount().shmPrefix() + "." + mount().instance() + "..lock";
    unlink(lock.c_str());
    runAsUser(kNobody, kNobody, {}, [&](std::string&) {
        const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0666);
        if (fd >= 0) fchmod(fd, 0666);
    });
    ASSERT_TRUE(mount().start());
    struct stat st {};
    ASSERT_EQ(0, stat(lock.c_str(), &st));
    EXPECT_EQ(geteuid(), st.st_uid);
    EXPECT_EQ(0600u, st.st_mode & 07777);
}

// Bug 6: pool names containing ".tmp" are valid, and used to vanish at the next mount.
TEST_F(IntegrityTest, PoolNamesWithTmpReattach) {
    for (const char* name : {"kv.tmp1", "a.tmp", "tmp"}) {
        const std::string pool = makePool(name);
        ASSERT_EQ(0, writeFile(pool + "/e", name));
    }
    ASSERT_TRUE(mount().remount());
    for (const char* name : {"kv.tmp1", "a.tmp", "tmp"})
        EXPECT_EQ(name, readFile(mnt(name) + "/e").value_or("<gone>")) << name;
    EXPECT_EQ(0u, statNum(readStats(mnt(".stats")), "pools_refused"));
}

// Bug 7: rmdir of a pool while an entry of it that was unlinked (or evicted) is still open or
// mapped used to succeed, and the descriptor then read ENOENT (a mapping got SIGBUS). Now rmdir
// says EBUSY until the last descriptor and mapping are gone.
TEST_F(IntegrityTest, RmdirOfPoolWithAnOpenRemovedEntryIsBusy) {
    const std::string pool = makePool("busy");
    const std::string bytes = pattern(3 * 4096, 7);
    ASSERT_EQ(0, writeFile(pool + "/e", bytes));
    const int fd = ::open((pool + "/e").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* map = mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(MAP_FAILED, map);
    ASSERT_EQ(0, errnoOf(unlink((pool + "/e").c_str())));
    EXPECT_EQ(EBUSY, errnoOf(rmdir(pool.c_str())));
    std::string got(bytes.size(), '\0');
    EXPECT_EQ((ssize_t)bytes.size(), pread(fd, got.data(), got.size(), 0));
    EXPECT_EQ(bytes, got);
    EXPECT_EQ(0, std::memcmp(map, bytes.data(), bytes.size()));
    ::close(fd);
    EXPECT_EQ(EBUSY, errnoOf(rmdir(pool.c_str())));  // still mapped
    EXPECT_EQ(0, std::memcmp(map, bytes.data(), bytes.size()));
    munmap(map, bytes.size());
    EXPECT_TRUE(eventually([&] { return rmdir(pool.c_str()) == 0; }));
    EXPECT_EQ(ENOENT, statErrno(mount().segmentPath("busy")));
}

// Freed blocks stay backed and go to the next writes as they are (docs/ARCHITECTURE.md, "Sparse
// entries"): another user's new entry must read zeros wherever it wrote nothing, never the bytes
// of the entry that had its blocks (a partial block, a block past a hole, an fallocated range).
TEST_F(IntegrityTest, ANewEntryNeverShowsTheBytesOfAFreedOne) {
    const std::string pool = makePool("reuse");
    const std::string work = mnt().substr(0, mnt().rfind('/'));  // mkdtemp's 0700
    ASSERT_EQ(0, errnoOf(chmod(work.c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(chmod(pool.c_str(), 01777)));
    const std::string secret(256 * 1024, 'S');
    ASSERT_EQ(0, writeFile(pool + "/secret", secret));
    ASSERT_EQ(0, errnoOf(chmod((pool + "/secret").c_str(), 0600)));
    ASSERT_EQ(0, errnoOf(unlink((pool + "/secret").c_str())));
    EXPECT_GE(statNum(readStats(pool + "/.stats"), "retained_bytes"), secret.size());

    const std::string got = runAsUser(kNobody, kNobody, {}, [&](std::string& out) {
        const std::string path = pool + "/mine";
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fd < 0) {
            out = "open: " + errName(errno);
            return;
        }
        // Block 1 written in part, block 0 a hole; then 64 KiB allocated, then the size set.
        (void)!::pwrite(fd, "abc", 3, 5000);
        (void)!::fallocate(fd, 0, 16384, 65536);
        (void)!::ftruncate(fd, 128 * 1024);
        ::close(fd);
        out = readFile(path).value_or("<unreadable>");
    });
    ASSERT_EQ(got.size(), 128u * 1024) << got.substr(0, 64);
    EXPECT_EQ(std::string::npos, got.find('S')) << "a byte of the freed entry at " << got.find('S');
    std::string want(128 * 1024, '\0');
    want.replace(5000, 3, "abc");
    EXPECT_TRUE(got == want);
}

// Bug 4: an entry whose metadata needs more than its record (hundreds of extents, a 64 KiB
// user.* xattr) in a fragmented pool used to be written as uncommitted, silently: close
// returned, user.kvcache.committed read 1, and the entry was gone at the next mount. The
// metadata now takes any free blocks (a chain of extents).
TEST_F(IntegrityTest, LargeMetadataInAFragmentedPoolIsCommittedAndKept) {
    const std::string pool = makePool("frag");
    ASSERT_EQ(0, writeFile(pool + "/.size", "4M", O_WRONLY | O_TRUNC));
    const uint64_t blocks = statNum(readStats(pool + "/.stats"), "capacity_bytes") / 4096;
    // Fill the pool with one-block entries, then free every other one: only one-block holes.
    for (uint64_t i = 0; i < blocks; ++i)
        ASSERT_EQ(0, writeFile(pool + "/f" + std::to_string(i), pattern(4096, i))) << i;
    for (uint64_t i = 0; i < blocks; i += 2)
        ASSERT_EQ(0, unlink((pool + "/f" + std::to_string(i)).c_str()));
    // An entry grown one block at a time: one extent per block.
    const std::string big = pool + "/big";
    const int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::string want;
    for (int i = 0; i < 400; ++i) {
        const std::string block = pattern(4096, 100000 + i);
        ASSERT_EQ(4096, pwrite(fd, block.data(), block.size(), static_cast<off_t>(want.size())));
        want += block;
    }
    ASSERT_EQ(0, close(fd));
    char committed[8] = {};
    ASSERT_EQ(1, getxattr(big.c_str(), "user.kvcache.committed", committed, sizeof committed));
    EXPECT_EQ('1', committed[0]);
    const std::string tagged = pool + "/f1";
    const std::string value(65536, 'v');
    ASSERT_EQ(0, errnoOf(setxattr(tagged.c_str(), "user.big", value.data(), value.size(), 0)));

    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(want, readFile(big).value_or("<gone>"));
    std::string got(70000, '\0');
    const ssize_t n = getxattr(tagged.c_str(), "user.big", got.data(), got.size());
    ASSERT_EQ(65536, n) << errName(errno);
    got.resize(static_cast<size_t>(n));
    EXPECT_EQ(value, got);
    EXPECT_EQ(pattern(4096, 1), readFile(tagged).value_or("<gone>"));
}

// Flips a byte in the middle of `needle` inside a pool's segment file; false if not found.
bool corruptSegment(const std::string& segment, const std::string& needle) {
    std::string bytes = readFile(segment).value_or("");
    const size_t at = bytes.find(needle);
    if (at == std::string::npos) return false;
    const off_t pos = static_cast<off_t>(at + needle.size() / 2);
    const char flipped = static_cast<char>(~bytes[static_cast<size_t>(pos)]);
    const int fd = ::open(segment.c_str(), O_WRONLY);
    if (fd < 0) return false;
    const bool ok = pwrite(fd, &flipped, 1, pos) == 1;
    ::close(fd);
    return ok;
}

// Data checksums: after kill -9, an entry whose bytes changed in the segment is dropped at the
// remount (a miss, counted in .stats), the others are served byte-identical.
TEST_F(IntegrityTest, AfterACrashADamagedEntryIsAMissNeverWrongBytes) {
    const std::string pool = makePool("sum");
    const std::string good = pattern(20000, 31), bad = pattern(20000, 32);
    ASSERT_EQ(0, writeFile(pool + "/good", good));
    ASSERT_EQ(0, writeFile(pool + "/bad", bad));
    mount().signal(SIGKILL);
    ASSERT_TRUE(mount().waitExit(10000, nullptr));
    ASSERT_TRUE(corruptSegment(mount().segmentPath("sum"), bad.substr(8192, 256)));
    std::string out;
    runProgram({"fusermount3", "-u", "-z", mnt()}, &out);
    ASSERT_TRUE(mount().start());
    EXPECT_EQ(std::set<std::string>({"good"}), listNames(pool));
    EXPECT_EQ(good, readFile(pool + "/good").value_or("<gone>"));
    EXPECT_EQ(ENOENT, statErrno(pool + "/bad"));
    EXPECT_EQ(1u, statNum(readStats(pool + "/.stats"), "checksum_failures"));
    EXPECT_NE(mount().daemonLog().find("failed their checksum"), std::string::npos);
}

// -o verify_reads: damage found at an open for reading is a miss (ENOENT), never the bytes.
class VerifyReadsTest : public MountTest {
  protected:
    std::string options() const override { return "size=64M,verify_reads"; }
};

TEST_F(VerifyReadsTest, ADamagedEntryIsDroppedAtItsNextOpen) {
    const std::string pool = makePool("v");
    const std::string bytes = pattern(30000, 41);
    ASSERT_EQ(0, writeFile(pool + "/e", bytes));
    ASSERT_EQ(0, writeFile(pool + "/other", "other"));
    EXPECT_EQ(bytes, readFile(pool + "/e").value_or("<gone>"));
    ASSERT_TRUE(corruptSegment(mount().segmentPath("v"), bytes.substr(12000, 256)));
    int err = 0;
    EXPECT_FALSE(readFile(pool + "/e", &err).has_value());
    EXPECT_EQ(ENOENT, err);
    // The name goes from the kernel's cache when the daemon's invalidation lands (as after an
    // eviction): at once, or a moment later.
    EXPECT_TRUE(eventually([&] { return statErrno(pool + "/e") == ENOENT; }));
    EXPECT_EQ("other", readFile(pool + "/other").value_or("<gone>"));
    EXPECT_EQ(1u, statNum(readStats(pool + "/.stats"), "checksum_failures"));
}

}  // namespace
}  // namespace kvctest
