// mmap(MAP_SHARED) of entries: read and write mappings, bytes written through a mapping reach
// the pool (the segment itself, and a remounted daemon), and coherence with read()/write() of
// another process. Forked children report through their exit status and leave with _exit, so
// they never run the fixture's cleanup.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

class MmapTest : public MountTest {
  protected:
    std::string options() const override { return "size=8M"; }
};

// Runs `child` in a forked process; returns its exit code (or 200 + signal).
template <class F>
int inChild(F child) {
    const pid_t pid = fork();
    if (pid == 0) _exit(child());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// True if `needle` occurs in the file at `path` (the pool's shm segment).
bool fileContains(const std::string& path, const std::string& needle) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    fstat(fd, &st);
    void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return false;
    const bool found = memmem(p, st.st_size, needle.data(), needle.size()) != nullptr;
    munmap(p, st.st_size);
    return found;
}

TEST_F(MmapTest, ReadMappingSeesTheEntry) {
    const std::string f = makePool("p") + "/e";
    const std::string data = pattern(3 * 4096 + 100, 11);
    ASSERT_EQ(0, writeFile(f, data));
    const int fd = open(f.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* p = mmap(nullptr, data.size(), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(MAP_FAILED, p) << strerror(errno);
    EXPECT_EQ(0, memcmp(p, data.data(), data.size()));
    // The tail of the last page past EOF reads zeros.
    const char* page_end = static_cast<const char*>(p) + data.size();
    EXPECT_EQ(0, page_end[0]);
    EXPECT_EQ(0, page_end[4096 - 100 - 1]);
    munmap(p, data.size());
    close(fd);
}

TEST_F(MmapTest, WritesThroughAMappingReachTheSegment) {
    const std::string pool = makePool("p");
    const std::string f = pool + "/e";
    const size_t len = 64 * 1024;
    const std::string data = pattern(len, 12);
    int fd = open(f.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, len));
    char* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ASSERT_NE(MAP_FAILED, p) << strerror(errno);
    memcpy(p, data.data(), len);
    ASSERT_EQ(0, msync(p, len, MS_SYNC));
    // After msync the bytes are in the pool's segment, not only in the page cache.
    EXPECT_TRUE(fileContains(mount().segmentPath("p"), data.substr(len - 8192, 8192)));
    // A second change, flushed by munmap + close alone.
    memcpy(p + 100, "MUNMAP-FLUSHED", 14);
    ASSERT_EQ(0, munmap(p, len));
    ASSERT_EQ(0, close(fd));
    std::string expect = data;
    expect.replace(100, 14, "MUNMAP-FLUSHED");
    EXPECT_EQ(expect, readFile(f).value_or(""));
    // A remounted daemon (a new process attaching the segment) serves the same bytes.
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(expect, readFile(f).value_or(""));
}

TEST_F(MmapTest, MappingWritesAreReadByAnotherProcess) {
    const std::string f = makePool("p") + "/e";
    const size_t len = 16 * 4096;
    ASSERT_EQ(0, writeFile(f, std::string(len, '.')));
    const std::string data = pattern(len, 13);
    {
        // Process A writes through a mapping, msyncs and unmaps.
        const int fd = open(f.c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        char* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
        ASSERT_NE(MAP_FAILED, p);
        memcpy(p, data.data(), len);
        ASSERT_EQ(0, msync(p, len, MS_SYNC));
        ASSERT_EQ(0, munmap(p, len));
        close(fd);
    }
    // Process B reads with read().
    EXPECT_EQ(0, inChild([&] {
                  auto got = readFile(f);
                  if (!got) return 2;
                  return *got == data ? 0 : 1;
              }));
}

TEST_F(MmapTest, WritesOfAnotherProcessAppearInAMapping) {
    const std::string f = makePool("p") + "/e";
    const size_t len = 8 * 4096;
    ASSERT_EQ(0, writeFile(f, std::string(len, '.')));
    const int fd = open(f.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ASSERT_NE(MAP_FAILED, p);
    ASSERT_EQ('.', p[5000]);  // fault the pages in before the other process writes
    const std::string from_b = pattern(6000, 14);
    // Process B writes with write() at an offset spanning two pages.
    EXPECT_EQ(0, inChild([&] {
                  const int bfd = open(f.c_str(), O_WRONLY);
                  if (bfd < 0) return 2;
                  const bool ok = pwrite(bfd, from_b.data(), from_b.size(), 3000) ==
                                  static_cast<ssize_t>(from_b.size());
                  close(bfd);
                  return ok ? 0 : 1;
              }));
    EXPECT_EQ(0, memcmp(p + 3000, from_b.data(), from_b.size()));
    EXPECT_EQ('.', p[2999]);
    EXPECT_EQ('.', p[9000]);
    // And A's next mapping write is seen by B, while A keeps the mapping.
    memcpy(p + len - 10, "0123456789", 10);
    ASSERT_EQ(0, msync(p, len, MS_SYNC));
    EXPECT_EQ(0, inChild([&] {
                  const int bfd = open(f.c_str(), O_RDONLY);
                  char buf[10];
                  const bool ok = bfd >= 0 && pread(bfd, buf, 10, len - 10) == 10 &&
                                  memcmp(buf, "0123456789", 10) == 0;
                  close(bfd);
                  return ok ? 0 : 1;
              }));
    munmap(p, len);
    close(fd);
}

TEST_F(MmapTest, TwoProcessesShareOneMapping) {
    const std::string f = makePool("p") + "/e";
    const size_t len = 4 * 4096;
    ASSERT_EQ(0, writeFile(f, std::string(len, '\0')));
    const int fd = open(f.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    volatile char* p =
        static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    ASSERT_NE(MAP_FAILED, const_cast<char*>(p));
    // B maps the file itself (its own open and mmap) and writes a flag A is waiting for.
    const pid_t pid = fork();
    if (pid == 0) {
        const int bfd = open(f.c_str(), O_RDWR);
        char* q =
            static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0));
        if (q == MAP_FAILED) _exit(2);
        memcpy(q + 4096, "from B", 6);
        q[0] = 1;
        msync(q, len, MS_SYNC);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(1, p[0]);
    EXPECT_EQ(0, memcmp(const_cast<char*>(p) + 4096, "from B", 6));
    munmap(const_cast<char*>(p), len);
    close(fd);
    EXPECT_EQ("from B", readFile(f).value_or("").substr(4096, 6));
}

TEST_F(MmapTest, MappingOutlivesUnlink) {
    const std::string pool = makePool("p");
    const std::string f = pool + "/e";
    const std::string data = pattern(5 * 4096, 15);
    ASSERT_EQ(0, writeFile(f, data));
    const int fd = open(f.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    void* p = mmap(nullptr, data.size(), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(MAP_FAILED, p);
    close(fd);  // the mapping alone keeps the entry
    ASSERT_EQ(0, errnoOf(unlink(f.c_str())));
    EXPECT_EQ(0, memcmp(p, data.data(), data.size()));
    munmap(p, data.size());
    EXPECT_TRUE(eventually([&] { return statNum(readStats(pool + "/.stats"), "used_bytes") == 0; }))
        << "blocks not returned after the mapping went";
}

}  // namespace
}  // namespace kvctest
