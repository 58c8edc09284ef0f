// Eviction through the mount: a 1 MiB pool of 4 KiB blocks (256 blocks) filled with 64 KiB
// entries (16 blocks each, so 16 fill it). Writes past capacity evict by the pool's policy;
// pinned entries, entries open for writing and chain parents stay; ENOSPC only when nothing can
// go. An evicted name disappears; a reader that had it open keeps its bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

constexpr size_t kEntry = 64 * 1024;

class EvictionTest : public MountTest {
  protected:
    std::string options() const override { return "size=1M,block_size=4K,policy=lru"; }

    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        pool_ = makePool("p");
    }
    std::string path(const std::string& name) const { return pool_ + "/" + name; }
    static std::string name(int i) {
        char b[16];
        snprintf(b, sizeof b, "e%02d", i);
        return b;
    }
    int put(const std::string& n) { return writeFile(path(n), content(n)); }
    static std::string content(const std::string& n) {
        return pattern(kEntry, static_cast<uint32_t>(std::hash<std::string>{}(n)));
    }
    // Eviction removes the name at once in the pool; the kernel's cached name goes a moment
    // later (the daemon's notifier), so absence is polled briefly.
    bool gone(const std::string& n) {
        return eventually([&] { return statErrno(path(n)) == ENOENT; }, 3000);
    }
    bool intact(const std::string& n) { return readFile(path(n)).value_or("") == content(n); }
    std::map<std::string, std::string> stats() { return readStats(pool_ + "/.stats"); }
    int pin(const std::string& n) {
        return errnoOf(setxattr(path(n).c_str(), "user.kvcache.pinned", "1", 1, 0));
    }

    std::string pool_;
};

TEST_F(EvictionTest, FillPastCapacityEvictsLeastRecentlyUsed) {
    for (int i = 0; i < 12; ++i) ASSERT_EQ(0, put(name(i)));
    EXPECT_EQ(0u, statNum(stats(), "evictions"));
    // Reading e00..e02 makes them the most recently used.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(intact(name(i)));
    // Eight more entries need 128 blocks; 64 are free: four entries go, e03..e06.
    for (int i = 12; i < 20; ++i) ASSERT_EQ(0, put(name(i))) << name(i);
    const auto s = stats();
    EXPECT_EQ(4u, statNum(s, "evictions"));
    EXPECT_EQ(4 * kEntry, statNum(s, "evicted_bytes"));
    EXPECT_EQ(16u, statNum(s, "entries"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes"));
    for (int i = 3; i < 7; ++i) {
        EXPECT_TRUE(gone(name(i))) << name(i) << " should have been evicted";
        EXPECT_EQ(ENOENT, errnoOf(open(path(name(i)).c_str(), O_RDONLY)));
    }
    for (int i : {0, 1, 2, 7, 8, 11, 12, 19})
        EXPECT_TRUE(intact(name(i))) << name(i) << " should have stayed, intact";
    // The last write succeeded and is whole.
    EXPECT_EQ(kEntry, static_cast<size_t>([&] {
                  struct stat st {};
                  ::stat(path(name(19)).c_str(), &st);
                  return st.st_size;
              }()));
    // An evicted name can be written again, as a new entry.
    EXPECT_EQ(0, put(name(3)));
    EXPECT_TRUE(intact(name(3)));
}

TEST_F(EvictionTest, PinnedEntriesSurvive) {
    for (int i = 0; i < 16; ++i) ASSERT_EQ(0, put(name(i)));
    ASSERT_EQ(0, pin(name(0)));
    ASSERT_EQ(0, pin(name(1)));
    for (int i = 16; i < 20; ++i) ASSERT_EQ(0, put(name(i)));
    EXPECT_TRUE(intact(name(0)));
    EXPECT_TRUE(intact(name(1)));
    for (int i = 2; i < 6; ++i) EXPECT_TRUE(gone(name(i))) << name(i);
    EXPECT_TRUE(intact(name(6)));
    EXPECT_EQ(2 * kEntry, statNum(stats(), "pinned_bytes"));
}

TEST_F(EvictionTest, EverythingPinnedMeansENOSPCAndNothingDamaged) {
    for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(0, put(name(i)));
        ASSERT_EQ(0, pin(name(i)));
    }
    const int fd = open(path("extra").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    const std::string data = content("extra");
    EXPECT_EQ(ENOSPC, errnoOf(write(fd, data.data(), data.size())));
    EXPECT_EQ(0, close(fd));
    EXPECT_EQ(0u, statNum(stats(), "evictions"));
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(intact(name(i))) << name(i);
    // Growing by truncation makes a hole: it needs no room.
    EXPECT_EQ(0, errnoOf(truncate(path("extra").c_str(), 4096)));
    // .evict cannot free pinned entries either: only the empty "extra" goes.
    EXPECT_EQ("evicted_entries 1\nevicted_bytes 0\n",
              controlWrite(pool_ + "/.evict", "100").second);
    EXPECT_EQ(16u, statNum(stats(), "entries"));
    EXPECT_EQ(ENOENT, statErrno(path("extra")));
    // Unpinning one makes room again: it is the one that goes.
    ASSERT_EQ(0, errnoOf(setxattr(path(name(5)).c_str(), "user.kvcache.pinned", "0", 1, 0)));
    EXPECT_EQ(0, put("extra"));
    EXPECT_TRUE(gone(name(5)));
    EXPECT_TRUE(intact("extra"));
    EXPECT_TRUE(intact(name(4)));
}

TEST_F(EvictionTest, FallocateReservesBlocksAndEvictsLikeAWrite) {
    for (int i = 0; i < 16; ++i) ASSERT_EQ(0, put(name(i)));
    const int fd = open(path("big").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    // Half the pool: the eight least recently used entries make room, as for a write.
    ASSERT_EQ(0, errnoOf(fallocate(fd, 0, 0, 8 * kEntry)));
    struct stat st {};
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(static_cast<off_t>(8 * kEntry), st.st_size);
    auto s = stats();
    EXPECT_EQ(8u, statNum(s, "evictions"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes"));
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(gone(name(i))) << name(i);
    for (int i = 8; i < 16; ++i) EXPECT_TRUE(intact(name(i))) << name(i);
    // The reserved bytes read as zeros, and writes into them need no more room.
    std::string back(8 * kEntry, 'x');
    ASSERT_EQ(static_cast<ssize_t>(back.size()), pread(fd, back.data(), back.size(), 0));
    EXPECT_EQ(std::string(8 * kEntry, '\0'), back);
    const std::string data = content("big");
    ASSERT_EQ(static_cast<ssize_t>(data.size()), pwrite(fd, data.data(), data.size(), kEntry));
    EXPECT_EQ(8u, statNum(stats(), "evictions"));
    // Within the size, nothing changes; reserving beyond the size is not supported; more new
    // blocks than the whole pool has is ENOSPC at once, evicting nothing (a size past the pool
    // is a hole, not an error).
    EXPECT_EQ(0, errnoOf(fallocate(fd, 0, kEntry, kEntry)));
    EXPECT_EQ(EOPNOTSUPP, errnoOf(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 16 * kEntry)));
    EXPECT_EQ(ENOSPC, errnoOf(fallocate(fd, 0, 0, 25 * kEntry)));
    EXPECT_EQ(8u, statNum(stats(), "evictions"));
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(static_cast<off_t>(8 * kEntry), st.st_size);
    EXPECT_EQ(0, close(fd));
    std::string want(8 * kEntry, '\0');
    want.replace(kEntry, data.size(), data);
    EXPECT_EQ(want, readFile(path("big")).value_or(""));
    // Everything else pinned: growing "big" has nowhere to go, and changes nothing.
    for (int i = 8; i < 16; ++i) ASSERT_EQ(0, pin(name(i)));
    const int again = open(path("big").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(again, 0);
    ASSERT_EQ(0, pin("big"));
    EXPECT_EQ(ENOSPC, errnoOf(fallocate(again, 0, 0, 9 * kEntry)));
    EXPECT_EQ(0, close(again));
    EXPECT_EQ(want, readFile(path("big")).value_or(""));
    EXPECT_EQ(8u, statNum(stats(), "evictions"));
}

TEST_F(EvictionTest, EntriesOpenForWritingAreNotEvicted) {
    // e00 is the oldest, but a writer holds it open.
    const int fd = open(path(name(0)).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    const std::string c0 = content(name(0));
    ASSERT_EQ(static_cast<ssize_t>(kEntry), write(fd, c0.data(), c0.size()));
    for (int i = 1; i < 20; ++i) ASSERT_EQ(0, put(name(i)));
    EXPECT_EQ(0, statErrno(path(name(0))));
    EXPECT_TRUE(gone(name(1)));
    close(fd);
    EXPECT_TRUE(intact(name(0)));
}

TEST_F(EvictionTest, EvictedEntryStaysReadableThroughAnOpenDescriptor) {
    for (int i = 0; i < 16; ++i) ASSERT_EQ(0, put(name(i)));
    const int fd = open(path(name(0)).c_str(), O_RDONLY);  // also makes e00 most recent
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, controlWrite(pool_ + "/.evict", "100").first);
    EXPECT_EQ(ENOENT, statErrno(path(name(0))));  // .evict waits for the kernel to forget it
    EXPECT_EQ(0u, statNum(stats(), "entries"));
    std::string back(kEntry, '\0');
    EXPECT_EQ(static_cast<ssize_t>(kEntry), pread(fd, back.data(), kEntry, 0));
    EXPECT_EQ(content(name(0)), back);
    EXPECT_EQ(kEntry, statNum(stats(), "used_bytes"));  // its blocks, until the close
    close(fd);
    EXPECT_TRUE(eventually([&] { return statNum(stats(), "used_bytes") == 0; }));
}

TEST_F(EvictionTest, ChainsEvictLeavesBeforeParents) {
    // c0 <- c1 <- c2: the oldest entries, but c0 and c1 have cached children.
    for (const char* c : {"c0", "c1", "c2"}) ASSERT_EQ(0, put(c));
    ASSERT_EQ(0, errnoOf(setxattr(path("c1").c_str(), "user.kvcache.parent", "c0", 2, 0)));
    ASSERT_EQ(0, errnoOf(setxattr(path("c2").c_str(), "user.kvcache.parent", "c1", 2, 0)));
    for (int i = 0; i < 13; ++i) ASSERT_EQ(0, put(name(i)));  // the pool is now full
    ASSERT_EQ(0u, statNum(stats(), "evictions"));
    // Presence is checked with stat, which is no access (a read would make c0/c1 recent).
    ASSERT_EQ(0, put(name(13)));
    EXPECT_TRUE(gone("c2")) << "the leaf goes first";
    EXPECT_EQ(0, statErrno(path("c1")));
    EXPECT_EQ(0, statErrno(path("c0")));
    ASSERT_EQ(0, put(name(14)));
    EXPECT_TRUE(gone("c1")) << "then its parent, now a leaf";
    EXPECT_EQ(0, statErrno(path("c0")));
    ASSERT_EQ(0, put(name(15)));
    EXPECT_TRUE(gone("c0"));
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(intact(name(i))) << name(i);
    EXPECT_EQ(3u, statNum(stats(), "evictions"));
}

TEST_F(EvictionTest, OtherPoliciesEvictToo) {
    for (const char* policy : {"lfu", "fifo", "priority", "sieve", "s3fifo"}) {
        SCOPED_TRACE(policy);
        ASSERT_EQ(0, writeFile(pool_ + "/.policy", policy, O_WRONLY));
        for (int i = 0; i < 24; ++i) ASSERT_EQ(0, put(name(i)));
        const auto s = stats();
        EXPECT_LE(statNum(s, "used_bytes"), statNum(s, "capacity_bytes"));
        EXPECT_EQ(16u, statNum(s, "entries"));
        EXPECT_TRUE(intact(name(23)));
        ASSERT_EQ(0, controlWrite(pool_ + "/.evict", "100").first);
        ASSERT_EQ(0u, statNum(stats(), "entries"));
    }
}

}  // namespace
}  // namespace kvctest
