// Namespace operations on a real mount: pools at the root, entries and directories inside them,
// with POSIX results and errno for every call (issue 3, "Namespace").
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

int renameat2Errno(const std::string& from, const std::string& to, unsigned flags) {
    return errnoOf(syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

struct stat statOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(0, errnoOf(::stat(path.c_str(), &st))) << path << ": " << strerror(errno);
    return st;
}

using NamespaceTest = MountTest;

TEST_F(NamespaceTest, MkdirAtRootCreatesAPoolWithASegment) {
    const std::string pool = makePool("llama");
    const struct stat st = statOf(pool);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(0, statErrno(mount().segmentPath("llama"))) << "no segment in /dev/shm";
    EXPECT_EQ(std::vector<std::string>({".", "..", "llama"}), listDir(mnt()));
    EXPECT_EQ(EEXIST, errnoOf(::mkdir(pool.c_str(), 0755)));
}

TEST_F(NamespaceTest, RegularFileAtRootIsRefused) {
    EXPECT_EQ(EPERM, errnoOf(open(mnt("file").c_str(), O_CREAT | O_WRONLY, 0644)));
    EXPECT_EQ(EPERM, errnoOf(mknod(mnt("file").c_str(), S_IFREG | 0644, 0)));
    EXPECT_EQ(ENOENT, statErrno(mnt("file")));
}

TEST_F(NamespaceTest, RmdirOfEmptyPoolRemovesItsSegment) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, statErrno(mount().segmentPath("p")));
    EXPECT_EQ(0, errnoOf(::rmdir(pool.c_str())));
    EXPECT_EQ(ENOENT, statErrno(pool));
    EXPECT_EQ(ENOENT, statErrno(mount().segmentPath("p")));
    EXPECT_TRUE(mount().segments().empty());
    EXPECT_EQ(ENOENT, errnoOf(::rmdir(pool.c_str())));
}

TEST_F(NamespaceTest, RmdirOfNonEmptyPoolIsENOTEMPTY) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/e", "x"));
    EXPECT_EQ(ENOTEMPTY, errnoOf(::rmdir(pool.c_str())));
    EXPECT_EQ("x", readFile(pool + "/e").value_or(""));
    ASSERT_EQ(0, errnoOf(unlink((pool + "/e").c_str())));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/d").c_str(), 0755)));
    EXPECT_EQ(ENOTEMPTY, errnoOf(::rmdir(pool.c_str())));
    ASSERT_EQ(0, errnoOf(::rmdir((pool + "/d").c_str())));
    EXPECT_EQ(0, errnoOf(::rmdir(pool.c_str())));
}

TEST_F(NamespaceTest, CreateFlags) {
    const std::string f = makePool("p") + "/e";
    int fd = open(f.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0640);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(5, write(fd, "hello", 5));
    close(fd);
    EXPECT_EQ(0640u, statOf(f).st_mode & 07777);
    EXPECT_EQ(EEXIST, errnoOf(open(f.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)));
    // O_CREAT without O_EXCL opens the existing entry, contents unchanged.
    fd = open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
    EXPECT_EQ("hello", readFile(f).value_or(""));
    // O_APPEND writes at the end whatever the offset.
    fd = open(f.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
    ASSERT_EQ(6, write(fd, " world", 6));
    close(fd);
    EXPECT_EQ("hello world", readFile(f).value_or(""));
    // O_TRUNC empties it.
    fd = open(f.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    close(fd);
    EXPECT_EQ(0, statOf(f).st_size);
    EXPECT_EQ("", readFile(f).value_or("?"));
    EXPECT_EQ(ENOENT, errnoOf(open((f + "-missing").c_str(), O_RDONLY)));
}

TEST_F(NamespaceTest, ReadWriteAtOffsetsAndHolesReadZeros) {
    const std::string f = makePool("p") + "/e";
    const int fd = open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    const std::string a = pattern(1000, 1), b = pattern(5000, 2);
    ASSERT_EQ(1000, pwrite(fd, a.data(), a.size(), 0));
    // A hole from 1000 to 20000, then data straddling a block boundary.
    ASSERT_EQ(5000, pwrite(fd, b.data(), b.size(), 20000));
    struct stat st {};
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(25000, st.st_size);
    std::string back(25000, 'x');
    ASSERT_EQ(25000, pread(fd, back.data(), back.size(), 0));
    EXPECT_EQ(a, back.substr(0, 1000));
    EXPECT_EQ(std::string(19000, '\0'), back.substr(1000, 19000));
    EXPECT_EQ(b, back.substr(20000));
    // Overwrite in the middle; reads at odd offsets and past the end.
    ASSERT_EQ(3, pwrite(fd, "XYZ", 3, 4095));
    char buf[8] = {};
    ASSERT_EQ(5, pread(fd, buf, 5, 4094));
    EXPECT_EQ(std::string("\0XYZ\0", 5), std::string(buf, 5));
    EXPECT_EQ(0, pread(fd, buf, 8, 25000));
    EXPECT_EQ(0, pread(fd, buf, 8, 1 << 30));
    close(fd);
    // Another descriptor sees the same bytes.
    auto all = readFile(f);
    ASSERT_TRUE(all);
    EXPECT_EQ(std::string("\0XYZ\0", 5), all->substr(4094, 5));
    EXPECT_EQ(b, all->substr(20000));
}

TEST_F(NamespaceTest, TruncateUpAndDown) {
    const std::string f = makePool("p") + "/e";
    const std::string data = pattern(10000, 3);
    ASSERT_EQ(0, writeFile(f, data));
    ASSERT_EQ(0, errnoOf(truncate(f.c_str(), 100)));
    EXPECT_EQ(100, statOf(f).st_size);
    EXPECT_EQ(data.substr(0, 100), readFile(f).value_or(""));
    // Growing again reads zeros past the old end (not the bytes that were there before).
    ASSERT_EQ(0, errnoOf(truncate(f.c_str(), 9000)));
    auto grown = readFile(f);
    ASSERT_TRUE(grown);
    ASSERT_EQ(9000u, grown->size());
    EXPECT_EQ(data.substr(0, 100), grown->substr(0, 100));
    EXPECT_EQ(std::string(8900, '\0'), grown->substr(100));
    const int fd = open(f.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, 0));
    struct stat st {};
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(0, st.st_size);
    ASSERT_EQ(0, ftruncate(fd, 1 << 20));
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(1 << 20, st.st_size);
    char c = 'x';
    ASSERT_EQ(1, pread(fd, &c, 1, (1 << 20) - 1));
    EXPECT_EQ('\0', c);
    EXPECT_EQ(EINVAL, errnoOf(ftruncate(fd, -1)));
    close(fd);
    EXPECT_EQ(EISDIR, errnoOf(truncate(mnt("p").c_str(), 0)));
    EXPECT_EQ(ENOENT, errnoOf(truncate((f + "x").c_str(), 0)));
}

TEST_F(NamespaceTest, UnlinkWhileOpenStaysReadableUntilClose) {
    const std::string pool = makePool("p");
    const std::string f = pool + "/e";
    const std::string data = pattern(256 * 1024, 4);
    ASSERT_EQ(0, writeFile(f, data));
    const uint64_t used_before = statNum(readStats(pool + "/.stats"), "used_bytes");
    EXPECT_GE(used_before, data.size());
    const int fd = open(f.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, errnoOf(unlink(f.c_str())));
    EXPECT_EQ(ENOENT, statErrno(f));
    EXPECT_EQ(std::vector<std::string>({".", ".."}), listDir(pool));
    struct stat st {};
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(0u, st.st_nlink);
    std::string back(data.size(), 'x');
    EXPECT_EQ(static_cast<ssize_t>(data.size()), pread(fd, back.data(), back.size(), 0));
    EXPECT_EQ(data, back);
    // The blocks are still held while the descriptor is open, and return at the last close.
    EXPECT_EQ(used_before, statNum(readStats(pool + "/.stats"), "used_bytes"));
    close(fd);
    EXPECT_TRUE(eventually([&] {
        return statNum(readStats(pool + "/.stats"), "used_bytes") < data.size();
    })) << "blocks not freed after the last close";
    EXPECT_EQ(0u, statNum(readStats(pool + "/.stats"), "entries"));
    // A new entry with the same name is a new, empty file.
    ASSERT_EQ(0, writeFile(f, ""));
    EXPECT_EQ(0, statOf(f).st_size);
}

TEST_F(NamespaceTest, RenameWithinPoolReplacesTarget) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/a", "AAA"));
    ASSERT_EQ(0, writeFile(pool + "/b", "BBBBBB"));
    const ino_t ino_a = statOf(pool + "/a").st_ino;
    ASSERT_EQ(0, errnoOf(rename((pool + "/a").c_str(), (pool + "/b").c_str())));
    EXPECT_EQ(ENOENT, statErrno(pool + "/a"));
    EXPECT_EQ("AAA", readFile(pool + "/b").value_or(""));
    EXPECT_EQ(ino_a, statOf(pool + "/b").st_ino);
    EXPECT_EQ(std::vector<std::string>({".", "..", "b"}), listDir(pool));
    // Into a subdirectory and back, and onto itself.
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/d").c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(rename((pool + "/b").c_str(), (pool + "/d/c").c_str())));
    EXPECT_EQ("AAA", readFile(pool + "/d/c").value_or(""));
    EXPECT_EQ(0, errnoOf(rename((pool + "/d/c").c_str(), (pool + "/d/c").c_str())));
    EXPECT_EQ(ENOENT, errnoOf(rename((pool + "/nope").c_str(), (pool + "/x").c_str())));
    // Only two entries' worth of data was ever stored: the replaced one's blocks went.
    EXPECT_EQ(1u, statNum(readStats(pool + "/.stats"), "entries"));
}

TEST_F(NamespaceTest, Renameat2NoReplaceAndExchange) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/a", "A"));
    ASSERT_EQ(0, writeFile(pool + "/b", "BB"));
    EXPECT_EQ(EEXIST, renameat2Errno(pool + "/a", pool + "/b", RENAME_NOREPLACE));
    EXPECT_EQ("A", readFile(pool + "/a").value_or(""));
    EXPECT_EQ("BB", readFile(pool + "/b").value_or(""));
    EXPECT_EQ(0, renameat2Errno(pool + "/a", pool + "/c", RENAME_NOREPLACE));
    EXPECT_EQ(ENOENT, statErrno(pool + "/a"));
    EXPECT_EQ(0, renameat2Errno(pool + "/c", pool + "/b", RENAME_EXCHANGE));
    EXPECT_EQ("BB", readFile(pool + "/c").value_or(""));
    EXPECT_EQ("A", readFile(pool + "/b").value_or(""));
    // Exchange of a file and a directory swaps them too.
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/d").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(pool + "/d/inner", "I"));
    EXPECT_EQ(0, renameat2Errno(pool + "/d", pool + "/c", RENAME_EXCHANGE));
    EXPECT_TRUE(S_ISDIR(statOf(pool + "/c").st_mode));
    EXPECT_EQ("I", readFile(pool + "/c/inner").value_or(""));
    EXPECT_EQ("BB", readFile(pool + "/d").value_or(""));
    EXPECT_EQ(ENOENT, renameat2Errno(pool + "/b", pool + "/missing", RENAME_EXCHANGE));
    EXPECT_EQ(EINVAL, renameat2Errno(pool + "/b", pool + "/d", RENAME_EXCHANGE | RENAME_NOREPLACE));
}

TEST_F(NamespaceTest, HardLinksShareBlocks) {
    const std::string pool = makePool("p");
    const std::string data = pattern(20000, 5);
    ASSERT_EQ(0, writeFile(pool + "/a", data));
    const uint64_t used = statNum(readStats(pool + "/.stats"), "used_bytes");
    ASSERT_EQ(0, errnoOf(link((pool + "/a").c_str(), (pool + "/b").c_str())));
    const struct stat sa = statOf(pool + "/a"), sb = statOf(pool + "/b");
    EXPECT_EQ(2u, sa.st_nlink);
    EXPECT_EQ(2u, sb.st_nlink);
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sa.st_blocks, sb.st_blocks);
    EXPECT_GE(sa.st_blocks * 512, 20000);
    EXPECT_EQ(used, statNum(readStats(pool + "/.stats"), "used_bytes")) << "a link copied data";
    // A write through one name is read through the other.
    const int fd = open((pool + "/b").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(4, pwrite(fd, "LINK", 4, 100));
    close(fd);
    EXPECT_EQ("LINK", readFile(pool + "/a").value_or("").substr(100, 4));
    EXPECT_EQ(EEXIST, errnoOf(link((pool + "/a").c_str(), (pool + "/b").c_str())));
    ASSERT_EQ(0, errnoOf(unlink((pool + "/a").c_str())));
    EXPECT_EQ(1u, statOf(pool + "/b").st_nlink);
    EXPECT_EQ(data.substr(0, 100), readFile(pool + "/b").value_or("").substr(0, 100));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/d").c_str(), 0755)));
    EXPECT_EQ(EPERM, errnoOf(link((pool + "/d").c_str(), (pool + "/d2").c_str())));
}

TEST_F(NamespaceTest, ChmodChownUtimens) {
    const std::string f = makePool("p") + "/e";
    ASSERT_EQ(0, writeFile(f, "x"));
    ASSERT_EQ(0, errnoOf(chmod(f.c_str(), 0600)));
    EXPECT_EQ(S_IFREG | 0600, statOf(f).st_mode);
    ASSERT_EQ(0, errnoOf(chown(f.c_str(), 1234, 5678)));
    EXPECT_EQ(1234u, statOf(f).st_uid);
    EXPECT_EQ(5678u, statOf(f).st_gid);
    const struct timespec times[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, f.c_str(), times, 0)));
    struct stat st = statOf(f);
    EXPECT_EQ(1000000000, st.st_atim.tv_sec);
    EXPECT_EQ(123456789, st.st_atim.tv_nsec);
    EXPECT_EQ(1500000000, st.st_mtim.tv_sec);
    EXPECT_EQ(987654321, st.st_mtim.tv_nsec);
    // UTIME_OMIT keeps one, UTIME_NOW sets the other to now.
    const struct timespec now_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, f.c_str(), now_omit, 0)));
    st = statOf(f);
    EXPECT_EQ(1000000000, st.st_atim.tv_sec);
    EXPECT_GT(st.st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(ENOENT, errnoOf(chmod((f + "x").c_str(), 0600)));
    const std::string d = mnt("p/dir");
    ASSERT_EQ(0, errnoOf(::mkdir(d.c_str(), 0700)));
    ASSERT_EQ(0, errnoOf(chmod(d.c_str(), 0750)));
    EXPECT_EQ(S_IFDIR | 0750, statOf(d).st_mode);
}

// A time past what an entry holds (about 292 years either side of 1970, in nanoseconds) is
// clamped to the edge, as a filesystem clamps a time beyond its range: never wrapped round to a
// time on the other side.
TEST_F(NamespaceTest, ATimeBeyondTheRangeIsClampedNotWrapped) {
    const std::string f = makePool("p") + "/e";
    ASSERT_EQ(0, writeFile(f, "x"));
    const time_t far = time_t{1} << 40;  // about 35,000 years
    const struct timespec times[2] = {{-far, 0}, {far, 0}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, f.c_str(), times, 0)));
    const struct stat st = statOf(f);
    EXPECT_EQ(INT64_MIN / 1000000000 - 1, st.st_atim.tv_sec);
    EXPECT_EQ(INT64_MAX / 1000000000, st.st_mtim.tv_sec);
}

TEST_F(NamespaceTest, StatReportsSizeBlocksNlinkAndTimes) {
    const std::string pool = makePool("p");
    const std::string f = pool + "/e";
    struct timespec before {};
    clock_gettime(CLOCK_REALTIME, &before);
    ASSERT_EQ(0, writeFile(f, pattern(10000, 6)));
    struct stat st = statOf(f);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(10000, st.st_size);
    EXPECT_EQ(1u, st.st_nlink);
    EXPECT_GE(st.st_blocks * 512, 10000);  // 3 blocks of 4 KiB
    EXPECT_LE(st.st_blocks * 512, 3 * 4096);
    EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec);
    EXPECT_GE(st.st_ctim.tv_sec, before.tv_sec);
    // A later write moves mtime forward.
    const struct timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, f.c_str(), old, 0)));
    ASSERT_EQ(0, writeFile(f, "y", O_WRONLY));
    st = statOf(f);
    EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec);
    EXPECT_EQ(10000, st.st_size);
    // Entries are not sparse (README): growing one allocates its blocks, and st_blocks says
    // so truthfully, matching the pool's used_bytes.
    EXPECT_EQ(ENOENT, errnoOf(truncate((pool + "/grown").c_str(), 0)));
    ASSERT_EQ(0, writeFile(pool + "/grown", ""));
    const uint64_t used = statNum(readStats(pool + "/.stats"), "used_bytes");
    ASSERT_EQ(0, errnoOf(truncate((pool + "/grown").c_str(), 1 << 20)));
    st = statOf(pool + "/grown");
    EXPECT_EQ(1 << 20, st.st_size);
    EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512,
              statNum(readStats(pool + "/.stats"), "used_bytes") - used);
    const struct stat d = statOf(pool);
    EXPECT_TRUE(S_ISDIR(d.st_mode));
    EXPECT_GE(d.st_nlink, 2u);
}

TEST_F(NamespaceTest, ReaddirListsEntriesNotControlFiles) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/e1", "1"));
    ASSERT_EQ(0, writeFile(pool + "/e2", "2"));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/sub").c_str(), 0755)));
    EXPECT_EQ(std::vector<std::string>({".", "..", "e1", "e2", "sub"}), listDir(pool));
    EXPECT_EQ(std::vector<std::string>({".", ".."}), listDir(pool + "/sub"));
    EXPECT_EQ(std::vector<std::string>({".", "..", "p"}), listDir(mnt()));
    // d_type is right for files and directories.
    DIR* d = opendir(pool.c_str());
    ASSERT_NE(nullptr, d);
    while (dirent* e = readdir(d)) {
        if (std::string(e->d_name) == "e1") {
            EXPECT_EQ(DT_REG, e->d_type);
        } else if (std::string(e->d_name) == "sub") {
            EXPECT_EQ(DT_DIR, e->d_type);
        }
    }
    closedir(d);
}

TEST_F(NamespaceTest, ReaddirStaysCorrectWhileUnlinking) {
    const std::string pool = makePool("p");
    // Enough long names to need several FUSE readdir requests.
    constexpr int kN = 600;
    std::set<std::string> all;
    for (int i = 0; i < kN; ++i) {
        char name[64];
        snprintf(name, sizeof name, "entry-with-a-long-name-to-fill-pages-%04d", i);
        all.insert(name);
        ASSERT_EQ(0, writeFile(pool + "/" + name, ""));
    }
    std::multiset<std::string> seen;
    std::set<std::string> removed_unseen;
    DIR* d = opendir(pool.c_str());
    ASSERT_NE(nullptr, d);
    int n = 0;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        seen.insert(name);
        EXPECT_TRUE(all.count(name)) << "readdir returned " << name;
        // A name removed before it was returned may still come back from a batch the kernel
        // already had; it is gone either way.
        const int rc = errnoOf(unlink((pool + "/" + name).c_str()));
        if (!removed_unseen.count(name)) {
            EXPECT_EQ(0, rc) << name;
        } else {
            EXPECT_EQ(ENOENT, rc) << name;
        }
        // Every third step also removes a name further on, which may not be returned then.
        if (++n % 3 == 0) {
            const int next = std::stoi(name.substr(name.size() - 4)) + 7;
            char other[64];
            snprintf(other, sizeof other, "entry-with-a-long-name-to-fill-pages-%04d", next);
            if (next < kN && !seen.count(other) && unlink((pool + "/" + other).c_str()) == 0)
                removed_unseen.insert(other);
        }
    }
    closedir(d);
    for (const std::string& name : all) {
        const size_t c = seen.count(name);
        EXPECT_LE(c, 1u) << name << " returned twice";
        if (!removed_unseen.count(name)) {
            EXPECT_EQ(1u, c) << name << " was skipped";
        }
    }
    EXPECT_GT(removed_unseen.size(), 10u);
    EXPECT_EQ(std::vector<std::string>({".", ".."}), listDir(pool));
    EXPECT_EQ(0u, statNum(readStats(pool + "/.stats"), "entries"));
}

TEST_F(NamespaceTest, NestedDirectories) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/a").c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/a/b").c_str(), 0755)));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/a/b/c").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(pool + "/a/b/c/f", "deep"));
    EXPECT_EQ("deep", readFile(pool + "/a/b/c/f").value_or(""));
    EXPECT_EQ(ENOENT, errnoOf(::mkdir((pool + "/x/y").c_str(), 0755)));
    EXPECT_EQ(ENOTDIR, errnoOf(::mkdir((pool + "/a/b/c/f/g").c_str(), 0755)));
    EXPECT_EQ(ENOTEMPTY, errnoOf(::rmdir((pool + "/a").c_str())));
    EXPECT_EQ(ENOTDIR, errnoOf(::rmdir((pool + "/a/b/c/f").c_str())));
    EXPECT_EQ(EISDIR, errnoOf(unlink((pool + "/a/b").c_str())));
    // Moving a directory moves what is in it.
    ASSERT_EQ(0, errnoOf(rename((pool + "/a/b").c_str(), (pool + "/b2").c_str())));
    EXPECT_EQ("deep", readFile(pool + "/b2/c/f").value_or(""));
    EXPECT_EQ(EINVAL, errnoOf(rename((pool + "/b2").c_str(), (pool + "/b2/c/inside").c_str())));
    ASSERT_EQ(0, errnoOf(unlink((pool + "/b2/c/f").c_str())));
    ASSERT_EQ(0, errnoOf(::rmdir((pool + "/b2/c").c_str())));
    ASSERT_EQ(0, errnoOf(::rmdir((pool + "/b2").c_str())));
    ASSERT_EQ(0, errnoOf(::rmdir((pool + "/a").c_str())));
    EXPECT_EQ(0u, statNum(readStats(pool + "/.stats"), "directories"));
}

TEST_F(NamespaceTest, FsyncAndFdatasync) {
    const std::string f = makePool("p") + "/e";
    const int fd = open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(3, write(fd, "abc", 3));
    EXPECT_EQ(0, errnoOf(fsync(fd)));
    EXPECT_EQ(0, errnoOf(fdatasync(fd)));
    close(fd);
    const int dfd = open(mnt("p").c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(dfd, 0);
    EXPECT_EQ(0, errnoOf(fsync(dfd)));
    close(dfd);
    EXPECT_EQ("abc", readFile(f).value_or(""));
}

TEST_F(NamespaceTest, RenameAndLinkAcrossPoolsAreEXDEV) {
    const std::string a = makePool("a"), b = makePool("b");
    ASSERT_EQ(0, writeFile(a + "/e", "data"));
    EXPECT_EQ(EXDEV, errnoOf(rename((a + "/e").c_str(), (b + "/e").c_str())));
    EXPECT_EQ(EXDEV, errnoOf(link((a + "/e").c_str(), (b + "/e").c_str())));
    EXPECT_EQ(EXDEV, renameat2Errno(a + "/e", b + "/e", RENAME_NOREPLACE));
    EXPECT_EQ("data", readFile(a + "/e").value_or(""));
    EXPECT_EQ(ENOENT, statErrno(b + "/e"));
    // Pools themselves cannot be renamed or have entries moved to the root.
    EXPECT_NE(0, errnoOf(rename(a.c_str(), mnt("c").c_str())));
    EXPECT_NE(0, errnoOf(rename((a + "/e").c_str(), mnt("e").c_str())));
    EXPECT_EQ(0, statErrno(a + "/e"));
}

// The mount's root holds pools only; in a pool, control files' names stay theirs. (Every node
// type inside a pool: parity_nodes_test.cpp and nodes_test.cpp.)
TEST_F(NamespaceTest, NodesAtTheRootAreEPERMAndControlNamesStayTaken) {
    const std::string pool = makePool("p");
    EXPECT_EQ(EPERM, errnoOf(symlink("target", mnt("l").c_str())));
    EXPECT_EQ(EPERM, errnoOf(mkfifo(mnt("f").c_str(), 0644)));
    EXPECT_EQ(EPERM, errnoOf(mknod(mnt("c").c_str(), S_IFCHR | 0644, makedev(1, 3))));
    EXPECT_EQ(EEXIST, errnoOf(symlink("target", (pool + "/.stats").c_str())));
    EXPECT_EQ(EEXIST, errnoOf(mkfifo((pool + "/.evict").c_str(), 0644)));
    EXPECT_EQ(std::vector<std::string>({".", ".."}), listDir(pool));
    // mknod of a regular file is a create.
    EXPECT_EQ(0, errnoOf(mknod((pool + "/r").c_str(), S_IFREG | 0600, 0)));
    EXPECT_EQ(S_IFREG | 0600, statOf(pool + "/r").st_mode);
}

TEST_F(NamespaceTest, NamesOver255BytesAreENAMETOOLONG) {
    const std::string pool = makePool("p");
    const std::string n255(255, 'n'), n256(256, 'n');
    EXPECT_EQ(0, writeFile(pool + "/" + n255, "ok"));
    EXPECT_EQ("ok", readFile(pool + "/" + n255).value_or(""));
    EXPECT_EQ(ENAMETOOLONG, writeFile(pool + "/" + n256, "no"));
    EXPECT_EQ(ENAMETOOLONG, errnoOf(::mkdir((pool + "/" + n256).c_str(), 0755)));
    EXPECT_EQ(ENAMETOOLONG,
              errnoOf(rename((pool + "/" + n255).c_str(), (pool + "/" + n256).c_str())));
    EXPECT_EQ(ENAMETOOLONG, errnoOf(::mkdir(mnt(n256).c_str(), 0755)));
}

TEST_F(NamespaceTest, StatfsOnAPoolReportsItsCapacity) {
    const std::string pool = makePool("p");
    auto stats = readStats(pool + "/.stats");
    struct statvfs sv {};
    ASSERT_EQ(0, errnoOf(statvfs(pool.c_str(), &sv)));
    EXPECT_EQ(statNum(stats, "capacity_bytes"), sv.f_blocks * sv.f_frsize);
    EXPECT_EQ(64ull << 20, sv.f_blocks * sv.f_frsize);
    EXPECT_EQ(sv.f_blocks, sv.f_bfree);
    EXPECT_EQ(255u, sv.f_namemax);
    ASSERT_EQ(0, writeFile(pool + "/e", pattern(1 << 20, 7)));
    ASSERT_EQ(0, errnoOf(statvfs(pool.c_str(), &sv)));
    EXPECT_EQ(statNum(readStats(pool + "/.stats"), "free_bytes"), sv.f_bfree * sv.f_frsize);
    EXPECT_LE(sv.f_bfree * sv.f_frsize, (63ull << 20));
}

}  // namespace
}  // namespace kvctest
