// Control files through the mount: .stats, .policy, .evict, .size and .match in a pool, .stats
// and .metrics at the root. Bad input must give EINVAL and change nothing.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "core/latency.h"
#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

class ControlTest : public MountTest {
  protected:
    std::string options() const override { return "size=1M,block_size=4K,policy=lru"; }

    // A pool with `n` entries e0..e(n-1) of `bytes` each.
    std::string poolWithEntries(const std::string& name, int n, size_t bytes = 4096) {
        const std::string pool = makePool(name);
        for (int i = 0; i < n; ++i)
            EXPECT_EQ(0, writeFile(pool + "/e" + std::to_string(i), pattern(bytes, i)));
        return pool;
    }
    uint64_t stat(const std::string& pool, const std::string& key) {
        return statNum(readStats(pool + "/.stats"), key);
    }
    int countPresent(const std::string& pool, int n) {
        int present = 0;
        for (int i = 0; i < n; ++i) present += statErrno(pool + "/e" + std::to_string(i)) == 0;
        return present;
    }
};

TEST_F(ControlTest, StatsHasEveryFieldAndAddsUp) {
    const std::string pool = poolWithEntries("p", 3, 10000);
    ASSERT_EQ(0, errnoOf(mkdir((pool + "/dir").c_str(), 0755)));
    auto s = readStats(pool + "/.stats");
    for (const char* key :
         {"capacity_bytes", "used_bytes", "free_bytes", "block_size", "blocks_total", "blocks_used",
          "entries", "hits", "misses", "evictions", "evicted_bytes", "policy"})
        EXPECT_TRUE(s.count(key)) << ".stats lacks " << key;
    EXPECT_EQ("lru", s["policy"]);
    EXPECT_EQ(1u << 20, statNum(s, "capacity_bytes"));
    EXPECT_EQ(4096u, statNum(s, "block_size"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "used_bytes") + statNum(s, "free_bytes"));
    EXPECT_EQ(statNum(s, "capacity_bytes"), statNum(s, "blocks_total") * statNum(s, "block_size"));
    EXPECT_EQ(statNum(s, "used_bytes"), statNum(s, "blocks_used") * statNum(s, "block_size"));
    EXPECT_EQ(3u * 3 * 4096, statNum(s, "used_bytes"));  // 10000 bytes take 3 blocks each
    EXPECT_EQ(3u, statNum(s, "entries"));
    EXPECT_EQ(1u, statNum(s, "directories"));
    EXPECT_EQ(0u, statNum(s, "evictions"));
}

TEST_F(ControlTest, StatsCountHitsAndMissesAndAreFreshOnEveryOpen) {
    const std::string pool = poolWithEntries("p", 1);
    const std::string stats_path = pool + "/.stats";
    const int fd = open(stats_path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    const auto before = readStats(stats_path);
    ASSERT_TRUE(readFile(pool + "/e0"));                    // a hit
    EXPECT_EQ(ENOENT, statErrno(pool + "/no-such-entry"));  // a miss
    ASSERT_EQ(0, writeFile(pool + "/new", "x"));
    const auto after = readStats(stats_path);
    EXPECT_GE(statNum(after, "hits"), statNum(before, "hits") + 1);
    EXPECT_GE(statNum(after, "misses"), statNum(before, "misses") + 1);
    EXPECT_EQ(statNum(before, "entries") + 1, statNum(after, "entries"));
    // The descriptor opened before the changes still holds the content of its open.
    char buf[4096];
    const ssize_t n = pread(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    EXPECT_NE(std::string::npos, std::string(buf, n).find("entries 1\n"));
    close(fd);
    struct stat st {};
    ASSERT_EQ(0, ::stat(stats_path.c_str(), &st));
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ControlTest, PolicyReadAndSwitch) {
    const std::string pool = poolWithEntries("p", 4);
    EXPECT_EQ("lru\n", readFile(pool + "/.policy").value_or(""));
    for (const std::string name : {"lfu", "fifo", "priority", "sieve", "s3fifo", "lru"}) {
        EXPECT_EQ(0, writeFile(pool + "/.policy", name + "\n", O_WRONLY | O_TRUNC)) << name;
        EXPECT_EQ(name + "\n", readFile(pool + "/.policy").value_or("")) << name;
        EXPECT_EQ(name, readStats(pool + "/.stats")["policy"]);
    }
    // Without a newline, and in capitals.
    EXPECT_EQ(0, writeFile(pool + "/.policy", "FIFO", O_WRONLY));
    EXPECT_EQ("fifo\n", readFile(pool + "/.policy").value_or(""));
    for (const std::string bad : {"nope\n", "lru fifo\n", "\n", "lru\nlfu\n", "l r u"}) {
        EXPECT_EQ(EINVAL, writeFile(pool + "/.policy", bad, O_WRONLY)) << "\"" << bad << "\"";
        EXPECT_EQ("fifo\n", readFile(pool + "/.policy").value_or("")) << "changed by " << bad;
    }
    EXPECT_EQ(4u, stat(pool, "entries"));
    EXPECT_EQ(0u, stat(pool, "evictions"));
}

TEST_F(ControlTest, EvictPercentages) {
    const std::string pool = poolWithEntries("p", 8);
    auto [err, answer] = controlWrite(pool + "/.evict", "25\n");
    ASSERT_EQ(0, err);
    EXPECT_EQ("evicted_entries 2\nevicted_bytes 8192\n", answer);
    EXPECT_EQ(6u, stat(pool, "entries"));
    EXPECT_EQ(6, countPresent(pool, 8));
    EXPECT_EQ(2u, stat(pool, "evictions"));
    EXPECT_EQ(8192u, stat(pool, "evicted_bytes"));
    // Reading .evict gives the last eviction's counts.
    EXPECT_EQ("evicted_entries 2\nevicted_bytes 8192\n", readFile(pool + "/.evict").value_or(""));
    // LRU order: the oldest entries went first.
    EXPECT_EQ(ENOENT, statErrno(pool + "/e0"));
    EXPECT_EQ(ENOENT, statErrno(pool + "/e1"));
    EXPECT_EQ(0, statErrno(pool + "/e7"));

    EXPECT_EQ(0, controlWrite(pool + "/.evict", "25%").first);  // ceil(6 * 0.25) = 2
    EXPECT_EQ(4u, stat(pool, "entries"));
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "12.5\n").first);  // ceil(4 * 0.125) = 1
    EXPECT_EQ(3u, stat(pool, "entries"));
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "0").first);
    EXPECT_EQ(3u, stat(pool, "entries"));
    EXPECT_EQ(3, countPresent(pool, 8));
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "100%").first);
    EXPECT_EQ(0u, stat(pool, "entries"));
    EXPECT_EQ(0u, stat(pool, "used_bytes"));
}

TEST_F(ControlTest, EvictUntilASizeIsFree) {
    const std::string pool = poolWithEntries("p", 200);  // 800 KiB of 1 MiB
    const uint64_t capacity = stat(pool, "capacity_bytes");
    ASSERT_EQ(capacity - 200 * 4096, stat(pool, "free_bytes"));
    auto [err, answer] = controlWrite(pool + "/.evict", "512K\n");
    ASSERT_EQ(0, err);
    EXPECT_GE(stat(pool, "free_bytes"), 512u * 1024);
    // Exactly enough went: 128 KiB more than the 224 KiB that was free needs 72 entries.
    EXPECT_EQ(128u, stat(pool, "entries"));
    EXPECT_EQ("evicted_entries 72\nevicted_bytes 294912\n", answer);
    // Already free: nothing goes.
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "4096B").first);
    EXPECT_EQ(128u, stat(pool, "entries"));
}

TEST_F(ControlTest, EvictRejectsBadInputAndEvictsNothing) {
    const std::string pool = poolWithEntries("p", 8);
    for (const std::string bad : {"abc", "101", "-5", "\n", " ", "25%%", "%", "1e3", "2G", "100.5",
                                  "25 25", "0x10", "512Q"}) {
        EXPECT_EQ(EINVAL, controlWrite(pool + "/.evict", bad).first) << "\"" << bad << "\"";
    }
    // An empty write is no command: it writes nothing and evicts nothing.
    const int fd = open((pool + "/.evict").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(0, write(fd, "", 0));
    close(fd);
    EXPECT_EQ(8u, stat(pool, "entries"));
    EXPECT_EQ(8, countPresent(pool, 8));
    EXPECT_EQ(0u, stat(pool, "evictions"));
}

// A caller may close a control file as soon as its write or read is answered, and the RELEASE
// that frees the daemon's handle may then run before the answering thread has let go of it. Run
// under ASan (the sanitizer suite) a touch of the freed handle aborts the daemon; in any build it
// once corrupted the daemon's heap (a crash in libfuse's fuse_free_req, issue 19 case 13). Four
// threads answer-and-close .evict (accepted and refused) and .match (answered and refused) for
// two seconds; the daemon must still be there and answer.
TEST_F(ControlTest, ClosingRightAfterAnAnswerLeavesTheDaemonWhole) {
    const std::string pool = poolWithEntries("p", 4);
    std::atomic<uint64_t> answered{0}, refused{0}, failed{0};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    auto worker = [&](int t) {
        for (uint64_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
            const bool match = (i + t) % 2 == 1, bad = (i / 2 + t) % 2 == 1;
            const std::string path = pool + (match ? "/.match" : "/.evict");
            const int fd = open(path.c_str(), match ? O_RDWR : O_WRONLY);
            if (fd < 0) {
                ++failed;
                continue;
            }
            const std::string request = match ? (bad ? "e0\n\n" : "e0\ne1\n") : (bad ? "abc" : "0");
            const ssize_t n = write(fd, request.data(), request.size());
            if (n == static_cast<ssize_t>(request.size())) {
                ++answered;
                if (match) {  // the answer (or the refusal of a request with an empty name)
                    char buf[256];
                    if (pread(fd, buf, sizeof buf, 0) < 0) ++(errno == EINVAL ? refused : failed);
                }
            } else {
                ++(n < 0 && errno == EINVAL ? refused : failed);
            }
            close(fd);  // at once: the RELEASE races the end of the answer
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back(worker, t);
    for (auto& th : threads) th.join();
    EXPECT_EQ(0u, failed.load());
    EXPECT_GT(answered.load(), 100u);
    EXPECT_GT(refused.load(), 100u);
    int status = 0;
    EXPECT_FALSE(mount().waitExit(0, &status)) << "the daemon died; wait status " << status;
    EXPECT_EQ(4u, stat(pool, "entries"));
}

TEST_F(ControlTest, SizeReadGrowShrink) {
    const std::string pool = poolWithEntries("p", 50);  // 200 KiB
    EXPECT_EQ("1048576\n", readFile(pool + "/.size").value_or(""));
    ASSERT_EQ(0, writeFile(pool + "/.size", "2M\n", O_WRONLY | O_TRUNC));
    EXPECT_EQ("2097152\n", readFile(pool + "/.size").value_or(""));
    EXPECT_EQ(2u << 20, stat(pool, "capacity_bytes"));
    struct statvfs sv {};
    ASSERT_EQ(0, statvfs(pool.c_str(), &sv));
    EXPECT_EQ(2u << 20, sv.f_blocks * sv.f_frsize);
    // The new room is usable: 1.5 MiB more.
    ASSERT_EQ(0, writeFile(pool + "/big", pattern(1536 * 1024, 99)));
    EXPECT_EQ(0u, stat(pool, "evictions"));
    ASSERT_EQ(0, errnoOf(unlink((pool + "/big").c_str())));
    // Shrinking with room to spare keeps every entry and its bytes.
    ASSERT_EQ(0, writeFile(pool + "/.size", "512K", O_WRONLY));
    EXPECT_EQ(512u * 1024, stat(pool, "capacity_bytes"));
    EXPECT_EQ(50, countPresent(pool, 50));
    for (int i = 0; i < 50; i += 7)
        EXPECT_EQ(pattern(4096, i), readFile(pool + "/e" + std::to_string(i)).value_or(""));
    // Shrinking below what is stored evicts, least recently used first: the 18 oldest of the
    // entries not just read (e1..e6, e8..e13, e15..e20); the ones read above stay.
    ASSERT_EQ(0, writeFile(pool + "/.size", "128K", O_WRONLY));
    EXPECT_EQ(128u * 1024, stat(pool, "capacity_bytes"));
    EXPECT_LE(stat(pool, "used_bytes"), 128u * 1024);
    EXPECT_EQ(32, countPresent(pool, 50));
    for (int i : {1, 6, 8, 13, 15, 20})
        EXPECT_EQ(ENOENT, statErrno(pool + "/e" + std::to_string(i))) << i;
    for (int i : {0, 7, 21, 22, 48})
        EXPECT_EQ(pattern(4096, i), readFile(pool + "/e" + std::to_string(i)).value_or("")) << i;
    // Bad sizes change nothing.
    for (const std::string bad : {"abc", "0", "100", "-1M", "\n", "1.5"}) {
        EXPECT_EQ(EINVAL, writeFile(pool + "/.size", bad, O_WRONLY)) << "\"" << bad << "\"";
    }
    EXPECT_EQ("131072\n", readFile(pool + "/.size").value_or(""));
    EXPECT_EQ(32u, stat(pool, "entries"));
}

TEST_F(ControlTest, SizeShrinkRefusedWhenPinnedDataWouldNotFit) {
    const std::string pool = poolWithEntries("p", 20);
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(0, errnoOf(setxattr((pool + "/e" + std::to_string(i)).c_str(),
                                      "user.kvcache.pinned", "1", 1, 0)));
    const int e = writeFile(pool + "/.size", "64K", O_WRONLY);  // 80 KiB pinned
    EXPECT_NE(0, e);
    EXPECT_EQ(1u << 20, stat(pool, "capacity_bytes"));
    EXPECT_EQ(20, countPresent(pool, 20));
    EXPECT_EQ(0u, stat(pool, "evictions"));
}

TEST_F(ControlTest, MatchReportsTheLeadingCachedRun) {
    const std::string pool = makePool("p");
    for (const char* n : {"c0", "c1", "c2", "c4"}) ASSERT_EQ(0, writeFile(pool + "/" + n, n));
    ASSERT_EQ(0, errnoOf(mkdir((pool + "/dir").c_str(), 0755)));
    const std::string m = pool + "/.match";
    EXPECT_EQ(std::make_pair(0, std::string("3\n111\n")), controlWrite(m, "c0\nc1\nc2\n"));
    EXPECT_EQ(std::make_pair(0, std::string("0\n00\n")), controlWrite(m, "x\ny\n"));
    EXPECT_EQ(std::make_pair(0, std::string("2\n1101\n")), controlWrite(m, "c0\nc1\nc3\nc4\n"));
    EXPECT_EQ(std::make_pair(0, std::string("0\n0111\n")), controlWrite(m, "c3\nc0\nc1\nc2"));
    EXPECT_EQ(std::make_pair(0, std::string("1\n1\n")), controlWrite(m, "c2"));
    // A directory is not a cached block.
    EXPECT_EQ(std::make_pair(0, std::string("1\n10\n")), controlWrite(m, "c0\ndir\n"));
    // Reading before any write gives nothing; a second write on one descriptor answers anew.
    const int fd = open(m.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char buf[64];
    EXPECT_EQ(0, pread(fd, buf, sizeof buf, 0));
    ASSERT_EQ(6, write(fd, "c0\nc1\n", 6));
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    EXPECT_EQ("2\n11\n", std::string(buf, n > 0 ? n : 0));
    ASSERT_EQ(3, write(fd, "zz\n", 3));
    n = pread(fd, buf, sizeof buf, 0);
    EXPECT_EQ("0\n0\n", std::string(buf, n > 0 ? n : 0));
    close(fd);
}

TEST_F(ControlTest, MatchRequestInSeveralWritesIsAnsweredWhole) {
    const std::string pool = makePool("p");
    for (const char* n : {"c0", "c1", "c2"}) ASSERT_EQ(0, writeFile(pool + "/" + n, n));
    const int fd = open((pool + "/.match").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    // A chain written in three pieces, one of them cutting a name in two.
    for (const char* piece : {"c0\nc", "1\n", "c2\nc3\n"})
        ASSERT_EQ(static_cast<ssize_t>(strlen(piece)), write(fd, piece, strlen(piece)));
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    EXPECT_EQ("3\n1110\n", std::string(buf, n > 0 ? n : 0));
    // A bad piece is refused and leaves the request as it was.
    ASSERT_EQ(3, write(fd, "c2\n", 3));
    EXPECT_EQ(-1, write(fd, "a/b\n", 4));
    EXPECT_EQ(EINVAL, errno);
    ASSERT_EQ(3, write(fd, "c0\n", 3));
    n = pread(fd, buf, sizeof buf, 0);
    EXPECT_EQ("2\n11\n", std::string(buf, n > 0 ? n : 0));
    close(fd);
}

TEST_F(ControlTest, MatchSkipsEntriesStillBeingWritten) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/c0", "done"));
    const int fd = open((pool + "/c1").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(4, write(fd, "half", 4));
    EXPECT_EQ("1\n10\n", controlWrite(pool + "/.match", "c0\nc1\n").second);
    close(fd);
    EXPECT_TRUE(
        eventually([&] { return controlWrite(pool + "/.match", "c0\nc1\n").second == "2\n11\n"; }));
}

TEST_F(ControlTest, MatchRejectsMalformedInput) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/c0", "x"));
    const auto before = readStats(pool + "/.stats");
    for (const std::string& bad :
         {std::string("\n"), std::string("a/b\n"), std::string(300, 'n') + "\n",
          std::string("c0\n\nc1\n"), std::string(".\n"), std::string("..\n"),
          std::string("c0\n") + std::string(256, 'x'), std::string("a\0b\n", 4)}) {
        EXPECT_EQ(EINVAL, controlWrite(pool + "/.match", bad).first)
            << "\"" << bad.substr(0, 20) << "\"";
    }
    const auto after = readStats(pool + "/.stats");
    for (const char* key : {"match_requests", "blocks_requested", "blocks_hit", "prefix_blocks_hit",
                            "hits", "misses"})
        EXPECT_EQ(statNum(before, key), statNum(after, key)) << key << " changed";
}

TEST_F(ControlTest, MatchCountersInStats) {
    const std::string pool = makePool("p");
    for (const char* n : {"c0", "c1", "c2"}) ASSERT_EQ(0, writeFile(pool + "/" + n, n));
    const auto before = readStats(pool + "/.stats");
    ASSERT_EQ(0, controlWrite(pool + "/.match", "c0\nc1\nc2\nc3\n").first);  // 3 leading of 4
    ASSERT_EQ(0, controlWrite(pool + "/.match", "c9\nc1\n").first);          // 0 leading, 1 hit
    const auto after = readStats(pool + "/.stats");
    auto delta = [&](const char* key) { return statNum(after, key) - statNum(before, key); };
    EXPECT_EQ(2u, delta("match_requests"));
    EXPECT_EQ(6u, delta("blocks_requested"));
    EXPECT_EQ(4u, delta("blocks_hit"));
    EXPECT_EQ(3u, delta("prefix_blocks_hit"));
    EXPECT_EQ(4u, delta("hits"));
    EXPECT_EQ(2u, delta("misses"));
    EXPECT_EQ("0.5000", after.at("prefix_hit_ratio"));
}

TEST_F(ControlTest, MatchNamesAreMatchedExactly) {
    // A name is every byte of its line: a trailing CR or space is part of it, not trimmed away.
    const std::string pool = makePool("p");
    for (const char* n : {"c0\r", "c1 ", "c2"}) ASSERT_EQ(0, writeFile(pool + "/" + n, n));
    const std::string m = pool + "/.match";
    EXPECT_EQ(std::make_pair(0, std::string("3\n111\n")), controlWrite(m, "c0\r\nc1 \nc2\n"));
    EXPECT_EQ(std::make_pair(0, std::string("0\n001\n")), controlWrite(m, "c0\nc1\nc2\n"));
    EXPECT_EQ(std::make_pair(0, std::string("0\n01\n")), controlWrite(m, "c2\r\nc2\n"));
}

// Names of the longest form (255 bytes), as a request at the bound holds them.
std::string longName(size_t i) {
    std::string n = "blk-" + std::to_string(i) + "-";
    return n + std::string(255 - n.size(), 'k');
}

// `count` long names, one per line.
std::string longRequest(size_t count) {
    std::string text;
    for (size_t i = 0; i < count; ++i) text += longName(i) + "\n";
    return text;
}

constexpr size_t kMatchMaxNames = 8192;  // README, "Control files"

TEST_F(ControlTest, MatchRequestBeyondItsBoundIsE2big) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/" + longName(0), "x"));
    ASSERT_EQ(0, writeFile(pool + "/" + longName(1), "x"));
    const std::string full = longRequest(kMatchMaxNames);  // 2 MiB, in several FUSE writes
    ASSERT_EQ(2u << 20, full.size());
    const std::string answer = "2\n11" + std::string(kMatchMaxNames - 2, '0') + "\n";
    const auto [err, got_full] = controlWrite(pool + "/.match", full);
    EXPECT_EQ(0, err);
    EXPECT_TRUE(answer == got_full) << got_full.size() << " bytes: " << got_full.substr(0, 32);
    std::string short_names;
    for (size_t i = 0; i <= kMatchMaxNames; ++i) short_names += "a\n";  // the count is the bound
    EXPECT_EQ(E2BIG, controlWrite(pool + "/.match", short_names).first);
    // A refused piece leaves the request as it was: the read answers the names before it. (A
    // write(2) the kernel cut in pieces returns what the pieces before the refused one took.)
    const int fd = open((pool + "/.match").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const std::string over = full + "one-more\n";
    const ssize_t took = write(fd, over.data(), over.size());
    ASSERT_GE(took, 0) << "the first piece holds names within the bound: " << errName(errno);
    EXPECT_LE(static_cast<size_t>(took), full.size());
    EXPECT_EQ(-1, write(fd, over.data() + took, over.size() - took));
    EXPECT_EQ(E2BIG, errno);
    // Where the kernel cut depends on the caller's buffer (pages): the request holds exactly
    // the names in the bytes taken (a name cut short is one too, not cached).
    const size_t names = (static_cast<size_t>(took) + 255) / 256;
    ASSERT_GE(names, 2u);
    const std::string taken = "2\n11" + std::string(names - 2, '0') + "\n";
    std::string got(answer.size() + 16, '\0');
    const ssize_t n = pread(fd, got.data(), got.size(), 0);
    got.resize(n > 0 ? n : 0);
    EXPECT_TRUE(taken == got) << got.size() << " bytes for " << names
                              << " names: " << got.substr(0, 32);
    close(fd);
}

TEST_F(ControlTest, MatchRequestInSmallPiecesCostsLinearTime) {
    // A request at the bound, written 64 bytes at a time (32768 writes, names cut anywhere).
    // Parsing each piece once takes ~1 s here; re-parsing the whole request at every write (the
    // old daemon) took minutes, so the loop gives up at the deadline.
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/" + longName(0), "x"));
    const std::string full = longRequest(kMatchMaxNames);
    const int fd = open((pool + "/.match").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + std::chrono::seconds(20);
    size_t off = 0;
    for (; off < full.size() && std::chrono::steady_clock::now() < deadline; off += 64)
        ASSERT_EQ(64, write(fd, full.data() + off, 64)) << "at byte " << off;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(full.size(), off) << "only " << off << " bytes written in " << seconds << " s";
    std::string got(kMatchMaxNames + 16, '\0');
    const ssize_t n = pread(fd, got.data(), got.size(), 0);
    if (off == full.size()) {
        EXPECT_EQ("1\n1" + std::string(kMatchMaxNames - 1, '0') + "\n",
                  got.substr(0, n > 0 ? n : 0));
    }
    close(fd);
}

// The daemon's resident memory, in bytes.
uint64_t residentBytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

TEST_F(ControlTest, MatchRequestsMemoryIsBoundedAndReturnedAtClose) {
    const std::string pool = makePool("p");
    const std::string full = longRequest(kMatchMaxNames);
    const uint64_t before = residentBytes(mount().pid());
    ASSERT_GT(before, 0u);
    // Requests at the bound held open on many descriptors, unanswered.
    constexpr int kOpen = 40;
    std::vector<int> fds;
    for (int i = 0; i < kOpen; ++i) {
        const int fd = open((pool + "/.match").c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
        ASSERT_EQ(static_cast<ssize_t>(full.size()), write(fd, full.data(), full.size()));
    }
    const uint64_t held = residentBytes(mount().pid());
    // Each descriptor holds its request once (no copies of its names): 2 MiB, plus a margin.
    EXPECT_LT(held, before + kOpen * (full.size() + (512u << 10)))
        << "resident " << before << " -> " << held << " bytes";
    for (int fd : fds) close(fd);
    uint64_t after = 0;
    EXPECT_TRUE(eventually([&] {
        after = residentBytes(mount().pid());
        return after < before + (16u << 20);
    })) << "resident "
        << before << " -> " << held << " -> " << after << " bytes after close";
}

TEST_F(ControlTest, RejectedValuesAreLoggedAsShortEscapedExcerpts) {
    const std::string pool = makePool("p");
    std::string hostile;
    while (hostile.size() < (1u << 20)) hostile += "\x1b[31mred\x07";
    EXPECT_EQ(EINVAL, writeFile(pool + "/.policy", hostile, O_WRONLY));
    EXPECT_EQ(EINVAL, writeFile(pool + "/.size", "12\x1b]0;x\x07", O_WRONLY));
    EXPECT_EQ(EINVAL, writeFile(pool + "/.evict", "\x1b[2J%", O_WRONLY));
    EXPECT_EQ(EINVAL, controlWrite(pool + "/.match", "c0\n\x1b[1m/x\n").first);
    ASSERT_TRUE(mount().unmount());
    const std::string log = mount().daemonLog();
    EXPECT_EQ(std::string::npos, log.find('\x1b'));
    EXPECT_EQ(std::string::npos, log.find('\x07'));
    std::istringstream lines(log);
    size_t longest = 0;
    for (std::string line; std::getline(lines, line);) longest = std::max(longest, line.size());
    EXPECT_LT(longest, 1200u);
    // What was refused is still named, escaped.
    EXPECT_NE(std::string::npos, log.find("unknown policy \"\\x1b[31mred\\x07"))
        << log.substr(0, 4000);
    // How long the value was (the kernel may cut the 1 MiB write where the caller's buffer
    // crosses a page: the first piece is refused, and its length is what the log gives).
    std::smatch length;
    ASSERT_TRUE(std::regex_search(log, length, std::regex(R"(\((\d+) bytes\))")))
        << "the excerpt says how long the value was";
    EXPECT_GE(std::stoul(length[1].str()), 1000000u);
    EXPECT_NE(std::string::npos, log.find("\\x1b[1m/x")) << log.substr(0, 4000);
}

// .errors keeps why control writes and kvcache attributes were refused (the caller only got
// EINVAL), newest last, the latest 16; hostile bytes arrive escaped, on one line each.
TEST_F(ControlTest, ErrorsKeepsWhyWritesWereRefused) {
    const std::string pool = poolWithEntries("p", 1);
    EXPECT_EQ("rejected_total 0\n", readFile(pool + "/.errors").value_or("?"));
    EXPECT_EQ(EINVAL, controlWrite(pool + "/.size", "12Q\n").first);
    EXPECT_EQ(EINVAL, controlWrite(pool + "/.evict", "200%\n").first);
    EXPECT_EQ(EINVAL,
              errnoOf(setxattr((pool + "/e0").c_str(), "user.kvcache.priority", "high", 4, 0)));
    // Not kept: what the caller's flags asked for, and attributes that are not kvcache's.
    EXPECT_EQ(ENODATA,
              errnoOf(setxattr((pool + "/e0").c_str(), "user.note", "1", 1, XATTR_REPLACE)));
    EXPECT_EQ(EOPNOTSUPP, errnoOf(setxattr((pool + "/e0").c_str(), "trusted.x", "1", 1, 0)));
    auto text = readFile(pool + "/.errors");
    ASSERT_TRUE(text);
    std::vector<std::string> lines;
    std::istringstream in(*text);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    ASSERT_EQ(4u, lines.size()) << *text;
    EXPECT_EQ("rejected_total 3", lines[0]);
    const std::regex line(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (E[A-Z0-9]+) (.+)$)");
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[1], m, line)) << lines[1];
    EXPECT_EQ(".size", m[1].str());
    EXPECT_EQ("EINVAL", m[2].str());
    EXPECT_NE(m[3].str().find("12Q"), std::string::npos) << lines[1];
    ASSERT_TRUE(std::regex_match(lines[2], m, line)) << lines[2];
    EXPECT_EQ(".evict", m[1].str());
    ASSERT_TRUE(std::regex_match(lines[3], m, line)) << lines[3];
    EXPECT_EQ("user.kvcache.priority", m[1].str());
    EXPECT_NE(m[3].str().find("high"), std::string::npos) << lines[3];

    // Hostile input: escaped, one line; only the latest 16 are kept, every one is counted.
    EXPECT_EQ(EINVAL, writeFile(pool + "/.policy", "\x1b[2J\nx", O_WRONLY));
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(EINVAL, controlWrite(pool + "/.size", "-" + std::to_string(i) + "\n").first);
    text = readFile(pool + "/.errors");
    ASSERT_TRUE(text);
    EXPECT_EQ(std::string::npos, text->find('\x1b'));
    lines.clear();
    in = std::istringstream(*text);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    ASSERT_EQ(17u, lines.size()) << *text;
    EXPECT_EQ("rejected_total 24", lines[0]);
    EXPECT_NE(lines[16].find("-19"), std::string::npos) << lines[16];
    // Read-only, and another pool's refusals are its own.
    const int e = writeFile(pool + "/.errors", "x", O_WRONLY);
    EXPECT_TRUE(e == EACCES || e == EPERM) << errName(e);
    EXPECT_EQ("rejected_total 0\n", readFile(makePool("q") + "/.errors").value_or("?"));
}

// ".5G" and "1e3K" (what some tools write) are refused everywhere a size is taken, with the
// same message saying what to write instead: mount options, the config file, .size and .evict.
TEST_F(ControlTest, SizesOtherToolsWriteAreRefusedAlikeEverywhere) {
    const std::string half = "invalid size \".5G\": a number starts with a digit (write \"0.5G\")";
    const std::string exp =
        "invalid size \"1e3K\": no exponents; write the digits, as in \"1000K\"";
    char dir[] = "/tmp/kvcmt-sizes.XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    const std::string other = std::string(dir) + "/mnt", config = std::string(dir) + "/c.toml";
    ASSERT_EQ(0, mkdir(other.c_str(), 0755));
    auto start = [&](const std::string& options) {
        std::string out;
        const int status = runProgram({KVCACHEFS_BIN, other, "-f", "-o", options}, &out, 10000);
        std::string ignored;  // had it mounted, it would still run: take it down
        runProgram({"fusermount3", "-u", "-z", other}, &ignored);
        EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0) << out;
        return out;
    };
    const std::string isolated = "instance=sizes,shm_prefix=" + mount().shmPrefix() + "x";
    std::ofstream(config) << "";
    EXPECT_NE(start("size=.5G," + isolated + ",config=" + config).find(half), std::string::npos);
    std::ofstream(config) << "[defaults]\npool_size = \"1e3K\"\n";
    EXPECT_NE(start("size=64M," + isolated + ",config=" + config).find(exp), std::string::npos);
    unlink(config.c_str());
    rmdir(other.c_str());
    rmdir(dir);

    const std::string pool = makePool("p");
    EXPECT_EQ(EINVAL, controlWrite(pool + "/.size", ".5G\n").first);
    EXPECT_EQ(EINVAL, controlWrite(pool + "/.evict", "1e3K\n").first);
    const std::string errors = readFile(pool + "/.errors").value_or("");
    EXPECT_NE(errors.find(".size EINVAL " + half), std::string::npos) << errors;
    EXPECT_NE(errors.find(".evict EINVAL " + exp), std::string::npos) << errors;
}

TEST_F(ControlTest, ControlFilesAreNotListedButReachable) {
    const std::string pool = poolWithEntries("p", 1);
    std::vector<std::string> names;
    DIR* d = opendir(pool.c_str());
    ASSERT_NE(nullptr, d);
    while (dirent* e = readdir(d)) names.emplace_back(e->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::vector<std::string>({".", "..", "e0"}), names);
    for (const char* c : {".stats", ".policy", ".evict", ".size", ".match", ".errors"}) {
        struct stat st {};
        ASSERT_EQ(0, ::stat((pool + "/" + c).c_str(), &st)) << c;
        EXPECT_TRUE(S_ISREG(st.st_mode)) << c;
        // Names of control files cannot be taken, removed or renamed over.
        EXPECT_EQ(EEXIST,
                  errnoOf(open((pool + "/" + c).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)))
            << c;
        EXPECT_EQ(EEXIST, errnoOf(mkdir((pool + "/" + c).c_str(), 0755))) << c;
        EXPECT_EQ(EPERM, errnoOf(unlink((pool + "/" + c).c_str()))) << c;
        EXPECT_EQ(EPERM, errnoOf(rename((pool + "/e0").c_str(), (pool + "/" + c).c_str()))) << c;
    }
    // Control files have no extended attributes.
    EXPECT_EQ(EPERM, errnoOf(setxattr((pool + "/.stats").c_str(), "user.x", "1", 1, 0)));
    // .stats is read-only.
    const int e = writeFile(pool + "/.stats", "entries 0\n", O_WRONLY);
    EXPECT_TRUE(e == EACCES || e == EPERM || e == EBADF) << errName(e);
    EXPECT_EQ(1u, stat(pool, "entries"));
    EXPECT_EQ("pool p", readFile(pool + "/.stats").value_or("").substr(0, 6));
    // Inside a subdirectory the names are ordinary.
    ASSERT_EQ(0, errnoOf(mkdir((pool + "/sub").c_str(), 0755)));
    EXPECT_EQ(ENOENT, statErrno(pool + "/sub/.stats"));
    // At the root: .stats and .metrics, not listed.
    names.clear();
    d = opendir(mnt().c_str());
    ASSERT_NE(nullptr, d);
    while (dirent* en = readdir(d)) names.emplace_back(en->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::vector<std::string>({".", "..", "p"}), names);
    EXPECT_EQ(0, statErrno(mnt(".stats")));
    EXPECT_EQ(0, statErrno(mnt(".metrics")));
    EXPECT_EQ(ENOENT, statErrno(mnt(".policy")));
}

TEST_F(ControlTest, RootStatsAreTotalsOverPools) {
    const std::string a = poolWithEntries("a", 3, 5000);
    const std::string b = poolWithEntries("b", 2, 100);
    const auto sa = readStats(a + "/.stats"), sb = readStats(b + "/.stats");
    const auto root = readStats(mnt(".stats"));
    EXPECT_EQ("2", root.at("pools"));
    for (const char* key : {"capacity_bytes", "used_bytes", "free_bytes", "entries", "blocks_total",
                            "blocks_used", "hits", "misses", "evictions"})
        EXPECT_EQ(statNum(sa, key) + statNum(sb, key), statNum(root, key)) << key;
    EXPECT_EQ(5u, statNum(root, "entries"));
    EXPECT_EQ(EACCES, writeFile(mnt(".stats"), "x", O_WRONLY));
}

TEST_F(ControlTest, MetricsParseAsPrometheusText) {
    poolWithEntries("a", 3);
    poolWithEntries("b", 1);
    auto text = readFile(mnt(".metrics"));
    ASSERT_TRUE(text);
    ASSERT_FALSE(text->empty());
    EXPECT_EQ('\n', text->back());
    const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*,?)?\})? ([-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|NaN|\+?Inf|-Inf))( -?[0-9]+)?$)");
    const std::regex help(R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
    const std::regex type(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    std::istringstream in(*text);
    std::string line;
    std::map<std::string, std::string> types;
    int samples = 0;
    std::map<std::string, double> entries;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::smatch m;
        if (line[0] == '#') {
            if (std::regex_match(line, m, type)) {
                EXPECT_FALSE(types.count(m[1])) << "TYPE twice for " << m[1];
                types[m[1]] = m[2];
            } else {
                EXPECT_TRUE(std::regex_match(line, help)) << "bad comment line: " << line;
            }
            continue;
        }
        ASSERT_TRUE(std::regex_match(line, m, sample)) << "not a Prometheus sample: " << line;
        ++samples;
        // A histogram's samples are its name with _bucket, _sum or _count.
        std::string family = m[1];
        for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
            const std::string base =
                family.substr(0, family.size() - std::min(family.size(), suffix.size()));
            if (family.ends_with(suffix) && types.count(base) && types[base] == "histogram") {
                family = base;
                break;
            }
        }
        EXPECT_TRUE(types.count(family)) << m[1] << " has no TYPE before its samples";
        if (types[family] == "counter") {
            EXPECT_NE(std::string::npos, std::string(m[1]).rfind("_total"))
                << "counter without _total: " << m[1];
        }
        // Only the info metric names the policy: a series must not change with it.
        if (m[1] != "kvcachefs_pool_info") {
            EXPECT_EQ(std::string(m[2]).find("policy="), std::string::npos) << line;
        }
        if (m[1] == "kvcachefs_entries") {
            const std::string labels = m[2];
            const size_t at = labels.find("pool=\"");
            ASSERT_NE(std::string::npos, at);
            entries[labels.substr(at + 6, labels.find('"', at + 6) - at - 6)] = std::stod(m[7]);
        }
    }
    EXPECT_GE(samples, 10);
    EXPECT_EQ(3.0, entries["a"]);
    EXPECT_EQ(1.0, entries["b"]);
    for (const char* info : {"kvcachefs_pool_info{pool=\"a\",policy=\"lru\",tier=\"cpu\"} 1\n",
                             "kvcachefs_build_info{version=\"", "kvcachefs_start_time_seconds "})
        EXPECT_NE(text->find(info), std::string::npos) << info;
    EXPECT_EQ(text->find("_ratio"), std::string::npos) << "ratios are the queries' to compute";
}

// The latency histograms count what the pool did: every write, read, .match request and
// eviction pass, in cumulative buckets that end at +Inf with the count.
TEST_F(ControlTest, MetricsHistogramsCountOperations) {
    ASSERT_EQ(0, ::mkdir(mnt("h").c_str(), 0755));
    const std::string block(4096, 'x');
    for (int i = 0; i < 5; ++i) ASSERT_EQ(0, writeFile(mnt("h/e" + std::to_string(i)), block));
    // O_DIRECT: past the page cache, so that every read reaches the daemon.
    void* buf = nullptr;
    ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
    std::unique_ptr<void, decltype(&free)> keep(buf, &free);
    for (int i = 0; i < 5; ++i) {
        const int fd = open(mnt("h/e" + std::to_string(i)).c_str(), O_RDONLY | O_DIRECT);
        ASSERT_GE(fd, 0) << strerror(errno);
        EXPECT_EQ(4096, pread(fd, buf, 4096, 0));
        close(fd);
    }
    for (int i = 0; i < 3; ++i) ASSERT_EQ(0, controlWrite(mnt("h/.match"), "e0\ne1\n").first);
    ASSERT_EQ(0, controlWrite(mnt("h/.evict"), "40\n").first);
    auto text = readFile(mnt(".metrics"));
    ASSERT_TRUE(text);
    auto sample = [&](const std::string& series) -> double {
        const size_t at = text->find("\n" + series + " ");
        if (at == std::string::npos) return -1;
        return std::stod(text->substr(at + series.size() + 2));
    };
    // Each write(2) of 4 KiB is one FUSE write, each direct read one FUSE read.
    EXPECT_GE(sample("kvcachefs_write_duration_seconds_count{pool=\"h\"}"), 5);
    EXPECT_GE(sample("kvcachefs_read_duration_seconds_count{pool=\"h\"}"), 5);
    EXPECT_EQ(3, sample("kvcachefs_match_duration_seconds_count{pool=\"h\"}"));
    EXPECT_EQ(1, sample("kvcachefs_eviction_duration_seconds_count{pool=\"h\"}"));
    for (const char* op : {"read", "write", "match", "eviction"}) {
        const std::string name = std::string("kvcachefs_") + op + "_duration_seconds";
        // The buckets in order: kLatencyBoundsNs in seconds, then +Inf; cumulative counts.
        const std::regex bucket("^" + name + R"re(_bucket\{pool="h",le="([^"]+)"\} (\S+)$)re");
        std::vector<std::pair<std::string, double>> buckets;
        std::istringstream in(*text);
        for (std::string line; std::getline(in, line);) {
            std::smatch m;
            if (std::regex_match(line, m, bucket)) buckets.emplace_back(m[1], std::stod(m[2]));
        }
        ASSERT_EQ(kvc::kLatencyBoundsNs.size() + 1, buckets.size()) << name;
        for (size_t i = 0; i + 1 < buckets.size(); ++i) {
            EXPECT_NEAR(double(kvc::kLatencyBoundsNs[i]) / 1e9, std::stod(buckets[i].first), 1e-12)
                << name << " " << buckets[i].first;
            EXPECT_LE(buckets[i].second, buckets[i + 1].second) << name << " " << buckets[i].first;
        }
        EXPECT_EQ("+Inf", buckets.back().first);
        const double count = sample(name + "_count{pool=\"h\"}");
        EXPECT_EQ(count, buckets.back().second) << name;
        EXPECT_GT(sample(name + "_sum{pool=\"h\"}"), 0) << name;
    }
}

// The kernel sends RELEASE after close(2) returns, without waiting: a control file read right
// after a close still answers as of the close (fs/close_order.h). A mapping keeps the entry
// open after its descriptor's close; .stats then says so (once the wait for a release that
// does not come is over).
TEST_F(ControlTest, ControlFilesAnswerAfterTheCallersCloses) {
    const std::string pool = makePool("p");
    const std::string block(8192, 'c');
    for (int i = 0; i < 200; ++i) {
        ASSERT_EQ(0, writeFile(pool + "/e" + std::to_string(i), block));
        ASSERT_EQ(0u, stat(pool, "open_entries")) << "after close " << i;
        ASSERT_TRUE(readFile(pool + "/e" + std::to_string(i)));
        ASSERT_EQ(0u, stat(pool, "open_entries")) << "after read " << i;
    }
    const int fd = open((pool + "/e199").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0) << strerror(errno);
    void* map = mmap(nullptr, block.size(), PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(MAP_FAILED, map);
    close(fd);
    EXPECT_EQ(1u, stat(pool, "open_entries"));
    EXPECT_EQ('c', static_cast<const char*>(map)[0]);
    munmap(map, block.size());
}

// Prometheus's own checker (promtool, from Debian's prometheus package) reads .metrics without
// an error or a lint finding.
TEST_F(ControlTest, MetricsPassPromtool) {
    poolWithEntries("a", 2);
    ASSERT_EQ(0, controlWrite(mnt("a/.policy"), "s3fifo\n").first);
    std::string out;
    const int status =
        runProgram({"/bin/sh", "-c", "promtool check metrics < " + mnt(".metrics")}, &out, 30000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_EQ(out.find("error"), std::string::npos) << out;
}

}  // namespace
}  // namespace kvctest
