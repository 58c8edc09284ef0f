// The data path (docs/DATA_PATH.md) on a real mount, through libkvcachefs: stores and loads
// agree with the files, the kernel's caches follow, capabilities are enforced, malformed and
// hostile clients change nothing, and the fallback to file I/O gives the same results.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "client/kvcachefs.h"
#include "client/protocol.h"
#include "tests/mount/mount_fixture.h"
#include "tests/mount/tier_mount.h"

namespace kvctest {
namespace {

constexpr size_t kBuffer = 4 << 20;

// A client and one buffer, closed at scope exit.
struct Lib {
    kvc_client* c = nullptr;
    kvc_buffer* b = nullptr;
    int rc = 0;
    explicit Lib(const std::string& dir, int flags = 0, size_t size = kBuffer) {
        rc = kvc_open(dir.c_str(), flags, &c);
        if (rc == 0) rc = kvc_buffer_new(c, size, &b);
    }
    ~Lib() {
        kvc_buffer_free(b);
        kvc_close(c);
    }
    char* data() const { return static_cast<char*>(kvc_buffer_data(b)); }
    // Stores `bytes` as `name` (from the buffer's start); the item's error.
    int store(const std::string& name, std::string_view bytes, const char* parent = nullptr,
              uint32_t mode = 0) {
        std::memcpy(data(), bytes.data(), bytes.size());
        kvc_store_item it{};
        it.name = name.c_str();
        it.length = bytes.size();
        it.parent = parent;
        it.mode = mode;
        if (int r = kvc_store(c, b, &it, 1); r != 0) return -r;
        return it.error;
    }
    // Loads `name` into the buffer's start: {error, bytes}.
    std::pair<int, std::string> load(const std::string& name, size_t capacity = kBuffer) {
        kvc_load_item it{};
        it.name = name.c_str();
        it.capacity = capacity;
        if (int r = kvc_load(c, b, &it, 1); r != 0) return {-r, {}};
        return {it.error, it.error ? std::string() : std::string(data(), it.size)};
    }
};

std::string getXattr(const std::string& path, const char* name) {
    char v[4096];
    const ssize_t n = getxattr(path.c_str(), name, v, sizeof v);
    return n < 0 ? std::string("<") + errName(errno) + ">" : std::string(v, static_cast<size_t>(n));
}

class DataPathTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        pool_ = makePool("p");
    }
    std::string pool_;
};

TEST_F(DataPathTest, TheMountNamesItsSocket) {
    EXPECT_EQ(mount().dataSocket(), getXattr(mnt(), "user.kvcache.data_socket"));
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    EXPECT_EQ(1, kvc_fast_path(lib.c));
}

TEST_F(DataPathTest, AnotherMountNeverTakesALiveSocket) {
    KvcMount other("size=16M,data_socket=" + mount().dataSocket());
    ASSERT_TRUE(other.start());
    // The second mount serves its files, without a data path of its own.
    EXPECT_EQ("<ENODATA>", getXattr(other.path(), "user.kvcache.data_socket"));
    EXPECT_NE(std::string::npos, other.daemonLog().find("no data path"));
    other.cleanup();
    // The first keeps its socket.
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    EXPECT_EQ(1, kvc_fast_path(lib.c));
    EXPECT_EQ(0, lib.store("x", "y"));
}

TEST(DataPathOffTest, WithoutASocketTheLibraryUsesTheFiles) {
    KvcMount m("size=16M,data_socket=none");
    ASSERT_TRUE(m.start());
    EXPECT_EQ("<ENODATA>", getXattr(m.path(), "user.kvcache.data_socket"));
    ASSERT_EQ(0, mkdir(m.path("p").c_str(), 0755));
    Lib lib(m.path("p"));
    ASSERT_EQ(0, lib.rc);
    EXPECT_EQ(0, kvc_fast_path(lib.c));
    EXPECT_EQ(0, lib.store("x", "by the files"));
    EXPECT_EQ("by the files", lib.load("x").second);
    EXPECT_EQ("by the files", readFile(m.path("p/x")).value_or(""));
}

TEST_F(DataPathTest, StoredEntriesAreFilesWithTheirAttributes) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    const std::string a = pattern(300000, 1), b = pattern(8192, 2);
    ASSERT_EQ(0, lib.store("blk-a", a));
    ASSERT_EQ(0, lib.store("blk-b", b, "blk-a"));
    EXPECT_EQ(a, readFile(pool_ + "/blk-a").value_or("<missing>"));
    EXPECT_EQ(b, readFile(pool_ + "/blk-b").value_or("<missing>"));
    EXPECT_EQ("blk-a", getXattr(pool_ + "/blk-b", "user.kvcache.parent"));
    EXPECT_EQ("1", getXattr(pool_ + "/blk-b", "user.kvcache.committed"));
    struct stat st {};
    ASSERT_EQ(0, stat((pool_ + "/blk-a").c_str(), &st));
    EXPECT_EQ(0644u, st.st_mode & 07777);
    // No temporary is left behind.
    EXPECT_EQ((std::set<std::string>{"blk-a", "blk-b"}), listNames(pool_));
    EXPECT_EQ(std::vector<std::string>({".", "..", "blk-a", "blk-b"}), listDir(pool_));
}

TEST_F(DataPathTest, AStoreSetsEveryAttributeItCarries) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    std::memcpy(lib.data(), "kv", 2);
    const kvc_xattr attrs[] = {{"user.kvcache.seq_len", "512", 3}, {"user.writer", "w\0bin", 5}};
    kvc_store_item it{};
    it.name = "x";
    it.length = 2;
    it.priority = 7;
    it.has_priority = 1;
    it.xattrs = attrs;
    it.xattr_count = 2;
    ASSERT_EQ(0, kvc_store(lib.c, lib.b, &it, 1));
    ASSERT_EQ(0, it.error);
    EXPECT_EQ("512", getXattr(pool_ + "/x", "user.kvcache.seq_len"));
    EXPECT_EQ(std::string("w\0bin", 5), getXattr(pool_ + "/x", "user.writer"));
    EXPECT_EQ("7", getXattr(pool_ + "/x", "user.kvcache.priority"));
    // An attribute the pool refuses fails the item, and nothing is stored under its name.
    const kvc_xattr bad[] = {{"user.kvcache.layer", "not a number", 12}};
    it.name = "y";
    it.xattrs = bad;
    it.xattr_count = 1;
    ASSERT_EQ(0, kvc_store(lib.c, lib.b, &it, 1));
    EXPECT_EQ(EINVAL, it.error);
    EXPECT_EQ((std::set<std::string>{"x"}), listNames(pool_));
}

TEST_F(DataPathTest, LoadsWhatTheFilesHold) {
    ASSERT_EQ(0, writeFile(pool_ + "/f", pattern(70000, 3)));
    ASSERT_EQ(0, mkdir((pool_ + "/d").c_str(), 0755));
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    const auto before = readStats(pool_ + "/.stats");
    auto got = lib.load("f");
    EXPECT_EQ(0, got.first);
    EXPECT_EQ(pattern(70000, 3), got.second);
    EXPECT_EQ(ENOENT, lib.load("absent").first);
    EXPECT_EQ(EOVERFLOW, lib.load("f", 100).first);
    EXPECT_EQ(EISDIR, lib.load("d").first);
    const auto s = readStats(pool_ + "/.stats");
    EXPECT_EQ(1u, statNum(s, "hits") - statNum(before, "hits"));      // the one load that read
    EXPECT_EQ(1u, statNum(s, "misses") - statNum(before, "misses"));  // "absent"
}

TEST_F(DataPathTest, AReplacedEntryIsSeenByReadersOfTheMount) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(0, lib.store("x", pattern(50000, 1)));
    // The kernel caches the name, its attributes and its pages now.
    ASSERT_EQ(pattern(50000, 1), readFile(pool_ + "/x").value_or(""));
    ASSERT_EQ(0, lib.store("x", pattern(20000, 9)));
    EXPECT_EQ(pattern(20000, 9), readFile(pool_ + "/x").value_or(""));
    // A name the kernel knew to be missing appears too.
    EXPECT_EQ(ENOENT, statErrno(pool_ + "/y"));
    ASSERT_EQ(0, lib.store("y", "new"));
    EXPECT_EQ("new", readFile(pool_ + "/y").value_or(""));
}

TEST_F(DataPathTest, NoReplaceKeepsTheEntry) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(0, lib.store("x", "first"));
    std::memcpy(lib.data(), "second", 6);
    kvc_store_item it{};
    it.name = "x";
    it.length = 6;
    it.no_replace = 1;
    ASSERT_EQ(0, kvc_store(lib.c, lib.b, &it, 1));
    EXPECT_EQ(EEXIST, it.error);
    EXPECT_EQ("first", readFile(pool_ + "/x").value_or(""));
    EXPECT_EQ((std::set<std::string>{"x"}), listNames(pool_));
}

TEST_F(DataPathTest, AChainLoadsItsLeadingRun) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    for (const char* n : {"c0", "c1", "c3"}) ASSERT_EQ(0, lib.store(n, std::string(1000, n[1])));
    const char* names[] = {"c0", "c1", "c2", "c3"};
    kvc_load_item items[4]{};
    for (size_t i = 0; i < 4; ++i) {
        items[i].name = names[i];
        items[i].offset = i * 4096;
        items[i].capacity = 4096;
    }
    size_t leading = 99;
    EXPECT_EQ(2, kvc_load_chain(lib.c, lib.b, items, 4, &leading));
    EXPECT_EQ(2u, leading);
    EXPECT_EQ(std::string(1000, '0'), std::string(lib.data(), 1000));
    EXPECT_EQ(std::string(1000, '1'), std::string(lib.data() + 4096, 1000));
    EXPECT_EQ((std::vector<int>{1, 1, 0, 1}), (std::vector<int>{items[0].cached, items[1].cached,
                                                                items[2].cached, items[3].cached}));
    EXPECT_EQ(0, items[1].error);
    EXPECT_EQ(ENOENT, items[2].error);
    EXPECT_EQ(ENOENT, items[3].error);  // after the run: not loaded
}

TEST_F(DataPathTest, StatTellsManyNamesAtOnce) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(0, lib.store("s", std::string(123, 's')));
    kvc_stat_item items[2]{};
    items[0].name = "s";
    items[1].name = "nope";
    ASSERT_EQ(0, kvc_stat(lib.c, items, 2));
    EXPECT_EQ(0, items[0].error);
    EXPECT_EQ(123u, items[0].size);
    EXPECT_TRUE(S_ISREG(items[0].mode));
    EXPECT_EQ(1, items[0].committed);
    EXPECT_EQ(ENOENT, items[1].error);
}

TEST_F(DataPathTest, ReadAndWriteThroughADescriptorFollowItsAccessMode) {
    ASSERT_EQ(0, writeFile(pool_ + "/e", std::string(10000, 'a')));
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    const int ro = open((pool_ + "/e").c_str(), O_RDONLY);
    ASSERT_GE(ro, 0);
    EXPECT_EQ(100, kvc_pread(lib.c, ro, lib.b, 0, 100, 50));
    EXPECT_EQ(std::string(100, 'a'), std::string(lib.data(), 100));
    std::memset(lib.data(), 'z', 100);
    EXPECT_EQ(-EBADF, kvc_pwrite(lib.c, ro, lib.b, 0, 100, 0));
    const int rw = open((pool_ + "/e").c_str(), O_RDWR);
    ASSERT_GE(rw, 0);
    EXPECT_EQ(100, kvc_pwrite(lib.c, rw, lib.b, 0, 100, 10));
    // The kernel's cached pages of the entry are dropped: read(2) sees the new bytes.
    char got[120];
    ASSERT_EQ(120, pread(ro, got, 120, 0));
    EXPECT_EQ(std::string(10, 'a') + std::string(100, 'z') + std::string(10, 'a'),
              std::string(got, 120));
    close(rw);
    close(ro);
    EXPECT_EQ("1", getXattr(pool_ + "/e", "user.kvcache.committed"));
}

TEST_F(DataPathTest, DescriptorsOfOtherFilesAreRefused) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    char tmpl[] = "/tmp/kvcdp.XXXXXX";
    const int tmpfs = mkstemp(tmpl);
    ASSERT_GE(tmpfs, 0);
    unlink(tmpl);
    ASSERT_EQ(0, ftruncate(tmpfs, 4096));
    EXPECT_EQ(-EXDEV, kvc_pread(lib.c, tmpfs, lib.b, 0, 10, 0));
    close(tmpfs);
    const int stats = open((pool_ + "/.stats").c_str(), O_RDONLY);
    ASSERT_GE(stats, 0);
    EXPECT_EQ(-EINVAL, kvc_pread(lib.c, stats, lib.b, 0, 10, 0));
    close(stats);
    // A descriptor of another kvcachefs mount.
    KvcMount other;
    ASSERT_TRUE(other.start());
    ASSERT_EQ(0, mkdir(other.path("q").c_str(), 0755));
    ASSERT_EQ(0, writeFile(other.path("q/e"), "other"));
    const int foreign = open(other.path("q/e").c_str(), O_RDONLY);
    ASSERT_GE(foreign, 0);
    EXPECT_EQ(-EXDEV, kvc_pread(lib.c, foreign, lib.b, 0, 5, 0));
    close(foreign);
    other.cleanup();
    // Ranges past the buffer are refused by the library before they are sent.
    const int e = open((pool_ + "/.match").c_str(), O_RDONLY);
    EXPECT_EQ(-EINVAL, kvc_pread(lib.c, e, lib.b, kBuffer - 4, 10, 0));
    close(e);
}

TEST_F(DataPathTest, AnotherUserGetsOnlyWhatTheFilesWouldGiveIt) {
    // The mount's temporary directory must be searchable for the user to reach the mount.
    ASSERT_EQ(0, chmod(mnt().substr(0, mnt().rfind('/')).c_str(), 0755));
    ASSERT_EQ(0, chmod(pool_.c_str(), 0755));
    ASSERT_EQ(0, writeFile(pool_ + "/secret", "root only", O_WRONLY | O_CREAT | O_TRUNC, 0600));
    ASSERT_EQ(0, writeFile(pool_ + "/public", "anyone", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    const std::string out = runAsUser(65534, 65534, {}, [&](std::string& o) {
        Lib lib(pool_);
        o += std::to_string(lib.rc) + " " + std::to_string(kvc_fast_path(lib.c)) + ";";
        if (lib.rc) return;
        o += errName(lib.load("secret").first) + ";";
        auto pub = lib.load("public");
        o += errName(pub.first) + ":" + pub.second + ";";
        o += errName(lib.store("mine", "x")) + ";";  // the pool is 0755 root's
        const int fd = open((pool_ + "/public").c_str(), O_RDONLY);
        std::memset(lib.data(), 'w', 4);
        o += std::to_string(kvc_pwrite(lib.c, fd, lib.b, 0, 4, 0)) + ";";
        close(fd);
    });
    EXPECT_EQ("0 1;EACCES;0:anyone;EACCES;" + std::to_string(-EBADF) + ";", out);
    EXPECT_EQ("anyone", readFile(pool_ + "/public").value_or(""));
    EXPECT_EQ(ENOENT, statErrno(pool_ + "/mine"));
    // In a directory it may write, it stores entries it owns.
    ASSERT_EQ(0, mkdir((pool_ + "/shared").c_str(), 0755));
    ASSERT_EQ(0, chmod((pool_ + "/shared").c_str(), 0777));
    const std::string out2 = runAsUser(65534, 65534, {}, [&](std::string& o) {
        Lib lib(pool_ + "/shared");
        o = lib.rc ? std::to_string(lib.rc) : errName(lib.store("mine", "x"));
    });
    EXPECT_EQ("0", out2);
    struct stat st {};
    ASSERT_EQ(0, stat((pool_ + "/shared/mine").c_str(), &st));
    EXPECT_EQ(65534u, st.st_uid);
}

// --- hostile clients ------------------------------------------------------------------------

int connectRaw(const std::string& path) {
    const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(s);
        return -1;
    }
    const timeval tv{5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

// The status of the daemon's reply to `msg`, or -errno if none came.
int rawStatus(int s, const std::vector<char>& msg) {
    if (send(s, msg.data(), msg.size(), MSG_NOSIGNAL) < 0) return -errno;
    char reply[256];
    const ssize_t n = recv(s, reply, sizeof reply, 0);
    if (n < static_cast<ssize_t>(sizeof(kvc::wire::ReplyHeader))) return n < 0 ? -errno : -EPROTO;
    kvc::wire::ReplyHeader h;
    std::memcpy(&h, reply, sizeof h);
    return h.status;
}

TEST_F(DataPathTest, MalformedRequestsGetAnErrorAndChangeNothing) {
    const int s = connectRaw(mount().dataSocket());
    ASSERT_GE(s, 0);
    EXPECT_EQ(EPROTO, rawStatus(s, std::vector<char>(7, 'x')));
    std::vector<char> req;
    kvc::wire::beginRequest(req, kvc::wire::Op::Store, 1);
    kvc::wire::finishRequest(req, 5000);  // more items than allowed, and none there
    EXPECT_EQ(EPROTO, rawStatus(s, req));
    kvc::wire::beginRequest(req, kvc::wire::Op::Hello, 2);
    kvc::wire::finishRequest(req, 0);
    reinterpret_cast<kvc::wire::RequestHeader*>(req.data())->version = 99;
    EXPECT_EQ(EPROTONOSUPPORT, rawStatus(s, req));
    // A store without its directory's descriptor.
    kvc::wire::beginRequest(req, kvc::wire::Op::Store, 3);
    kvc::wire::Item it;
    it.name = "x";
    it.length = 10;
    kvc::wire::addStore(req, it);
    kvc::wire::finishRequest(req, 1);
    EXPECT_EQ(EBADF, rawStatus(s, req));
    // Garbage of every length up to a few items.
    std::vector<char> junk(600);
    for (size_t len = 0; len < junk.size(); len += 37) {
        for (size_t i = 0; i < len; ++i) junk[i] = static_cast<char>(i * 7 + len);
        std::vector<char> m(junk.begin(), junk.begin() + static_cast<long>(len));
        if (m.empty()) continue;
        EXPECT_NE(0, rawStatus(s, m)) << len;
    }
    close(s);
    // A batch with one range past the buffer stores none of its items.
    Lib lib(pool_, 0, 1 << 20);
    ASSERT_EQ(0, lib.rc);
    kvc_store_item items[2]{};
    items[0].name = "good";
    items[0].length = 100;
    items[1].name = "bad";
    items[1].offset = (1 << 20) - 10;
    items[1].length = 100;
    EXPECT_EQ(-EINVAL, kvc_store(lib.c, lib.b, items, 2));
    EXPECT_EQ((std::set<std::string>{}), listNames(pool_));
    // The daemon serves on.
    EXPECT_EQ(0, lib.store("after", "ok"));
    EXPECT_EQ("ok", readFile(pool_ + "/after").value_or(""));
}

TEST_F(DataPathTest, AClientThatNeverReadsItsRepliesBlocksNobody) {
    const int s = connectRaw(mount().dataSocket());
    ASSERT_GE(s, 0);
    std::vector<char> req;
    kvc::wire::beginRequest(req, kvc::wire::Op::Hello, 1);
    kvc::wire::finishRequest(req, 0);
    // Requests whose replies are never read, until the socket takes no more.
    const int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    for (int i = 0; i < 100000 && send(s, req.data(), req.size(), flags) >= 0; ++i) {
    }
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(1, kvc_fast_path(lib.c));
    EXPECT_EQ(0, lib.store("still", "served"));
    EXPECT_EQ("served", lib.load("still").second);
    close(s);
}

TEST_F(DataPathTest, AClientKilledMidStoreLeavesNoPartialEntry) {
    const std::string big = pattern(3 << 20, 5);
    for (int round = 0; round < 5; ++round) {
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            Lib lib(pool_);
            for (int i = 0;; ++i) lib.store("k" + std::to_string(i % 4), big);
        }
        sleepMs(30 + round * 20);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
    }
    // Every name holds the whole entry, and no temporary is left.
    for (const std::string& n : listNames(pool_)) {
        EXPECT_EQ(0u, n.rfind("k", 0)) << n;
        EXPECT_TRUE(readFile(pool_ + "/" + n).value_or("") == big) << n;
    }
    // No block is held by anything but those entries (no temporary, no half-written one).
    EXPECT_TRUE(
        eventually([&] { return statNum(readStats(pool_ + "/.stats"), "open_entries") == 0; }));
    const auto s = readStats(pool_ + "/.stats");
    EXPECT_EQ(statNum(s, "entries"), listNames(pool_).size());
    EXPECT_EQ(statNum(s, "used_bytes"), statNum(s, "entries") * big.size());
}

TEST_F(DataPathTest, ADeadDaemonGivesAnErrorNotAHang) {
    Lib lib(pool_);
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(0, lib.store("a", pattern(3 << 20, 4)));
    // Loads in a loop while the daemon is killed: the loop ends with an error, soon.
    std::atomic<int> error{0};
    std::atomic<uint64_t> loads{0};
    std::thread loader([&] {
        for (;;) {
            auto got = lib.load("a");
            if (got.first) return error.store(got.first);
            if (got.second.size() != 3u << 20) return error.store(-1);
            loads++;
        }
    });
    ASSERT_TRUE(eventually([&] { return loads > 3; }));
    mount().signal(SIGKILL);
    int status;
    ASSERT_TRUE(mount().waitExit(5000, &status));
    // The library's own timeout is 30 s; a closed socket must not take that long.
    const bool ended = eventually([&] { return error != 0; }, 5000);
    loader.join();  // at the latest after the library's timeout
    EXPECT_TRUE(ended);
    EXPECT_NE(-1, error.load()) << "a load returned part of the entry";
    // And after it, every call fails at once.
    EXPECT_NE(0, lib.load("a").first);
    EXPECT_NE(0, lib.store("b", "x"));
}

// --- races ------------------------------------------------------------------------------------

// Each stored entry begins with its name and a serial, and ends with a checksum of the rest.
std::string block(const std::string& name, uint64_t serial, size_t size) {
    std::string b = pattern(size, static_cast<uint32_t>(serial * 131 + name.size()));
    const std::string head = name + "#" + std::to_string(serial) + "#";
    b.replace(0, head.size(), head);
    uint64_t sum = 1469598103934665603ull;
    for (size_t i = 0; i + 8 < size; ++i)
        sum = (sum ^ static_cast<unsigned char>(b[i])) * 1099511628211ull;
    std::memcpy(b.data() + size - 8, &sum, 8);
    return b;
}

bool wellFormed(const std::string& name, const std::string& b) {
    if (b.size() < 64 || b.compare(0, name.size() + 1, name + "#") != 0) return false;
    const uint64_t serial = std::strtoull(b.c_str() + name.size() + 1, nullptr, 10);
    return b == block(name, serial, b.size());
}

TEST_F(DataPathTest, LoadsNeverReturnAnotherEntrysBytesWhileThePoolChanges) {
    constexpr size_t kSize = 64 << 10;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> loads{0}, bad{0}, stores{0};
    auto worker = [&](int who) {
        Lib lib(pool_);
        if (lib.rc) return bad++, void();
        for (uint64_t serial = 1; !stop; ++serial) {
            const std::string name = "n" + std::to_string((serial * 7 + who) % 40);
            if (lib.store(name, block(name, serial * 2 + who, kSize)) == 0) stores++;
            auto got = lib.load("n" + std::to_string((serial * 3 + who) % 40));
            if (got.first == 0) {
                loads++;
                const std::string n = "n" + std::to_string((serial * 3 + who) % 40);
                if (!wellFormed(n, got.second)) bad++;
            }
        }
    };
    std::thread a(worker, 0), b(worker, 1);
    // Meanwhile: eviction, unlink, rename (which moves an entry's bytes under another name:
    // such a load is allowed to be the entry renamed, so renames only go to names outside n*).
    for (int i = 0; i < 200; ++i) {
        controlWrite(pool_ + "/.evict", "30");
        unlink((pool_ + "/n" + std::to_string(i % 40)).c_str());
        rename((pool_ + "/n" + std::to_string((i + 7) % 40)).c_str(), (pool_ + "/moved").c_str());
        truncate((pool_ + "/moved").c_str(), 100);
        sleepMs(5);
    }
    stop = true;
    a.join();
    b.join();
    EXPECT_EQ(0u, bad.load());
    EXPECT_GT(loads.load(), 0u);
    EXPECT_GT(stores.load(), 0u);
    // Every entry left reads back whole through the mount too.
    for (const std::string& n : listNames(pool_))
        if (n != "moved") {
            EXPECT_TRUE(wellFormed(n, readFile(pool_ + "/" + n).value_or(""))) << n;
        }
}

// --- lower tiers ------------------------------------------------------------------------------

TEST(DataPathTiersTest, StoresGoDownAndLoadsBringThemBack) {
    TempDir disk;
    ASSERT_FALSE(disk.path().empty());
    TierMount m("size=1M,block_size=4K,disk_dir=" + disk.path() + ",disk_size=16M");
    ASSERT_TRUE(m.start());
    Lib lib(m.mount.path("p"));
    ASSERT_EQ(0, lib.rc);
    ASSERT_EQ(1, kvc_fast_path(lib.c));
    // 24 blocks of 64 KiB through the data path into a 1 MiB pool: most go down to disk.
    std::string parent;
    for (int i = 0; i < 24; ++i) {
        const std::string n = "t" + std::to_string(i);
        ASSERT_EQ(
            0, lib.store(n, pattern(64 << 10, 500 + i), parent.empty() ? nullptr : parent.c_str()))
            << n;
        parent = n;
    }
    ASSERT_TRUE(m.settled());
    EXPECT_GT(m.stat("tier.disk.entries"), 0u);
    // A chain load promotes what it matches below, and loads it: 8 blocks, which the pool holds
    // at once (a longer run would push its own head down again before it is loaded).
    std::vector<std::string> names;
    std::vector<kvc_load_item> items(8);
    for (int i = 0; i < 24; ++i) names.push_back("t" + std::to_string(i));
    for (size_t i = 0; i < items.size(); ++i) {
        items[i].name = names[i].c_str();
        items[i].offset = i * (64 << 10);
        items[i].capacity = 64 << 10;
    }
    size_t leading = 0;
    const long loaded = kvc_load_chain(lib.c, lib.b, items.data(), items.size(), &leading);
    EXPECT_EQ(8u, leading);
    EXPECT_GT(loaded, 0);
    for (long i = 0; i < loaded; ++i)
        EXPECT_EQ(pattern(64 << 10, 500 + static_cast<uint32_t>(i)),
                  std::string(lib.data() + i * (64 << 10), 64 << 10))
            << i;
    // Every block loads back alone, whichever tier holds it.
    for (int i = 0; i < 24; ++i) {
        // What the last promotions pushed down is stored below before it is asked for.
        ASSERT_TRUE(m.settled());
        auto got = lib.load(names[i]);
        EXPECT_EQ(0, got.first) << names[i];
        EXPECT_EQ(pattern(64 << 10, 500 + i), got.second) << names[i];
    }
    EXPECT_GT(m.stat("tier.disk.promotions"), 0u);
}

// --- the fallback -----------------------------------------------------------------------------

// The same chain stores and loads, with and without the fast path, on two pools.
std::map<std::string, std::string> runSequence(const std::string& dir, int flags) {
    Lib lib(dir, flags);
    std::map<std::string, std::string> seen;
    if (lib.rc) return {{"open", std::to_string(lib.rc)}};
    seen["fast"] = std::to_string(kvc_fast_path(lib.c));
    std::string parent;
    for (int i = 0; i < 6; ++i) {
        const std::string name = "b" + std::to_string(i);
        const std::string bytes = block(name, i, 8192);
        std::memcpy(lib.data(), bytes.data(), bytes.size());
        const kvc_xattr attrs[] = {{"user.kvcache.seq_len", "16", 2}, {"user.writer", "me", 2}};
        kvc_store_item it{};
        it.name = name.c_str();
        it.length = bytes.size();
        it.parent = parent.empty() ? nullptr : parent.c_str();
        it.xattrs = attrs;
        it.xattr_count = 2;
        const int rc = kvc_store(lib.c, lib.b, &it, 1);
        seen["store " + name] = rc ? std::to_string(rc) : errName(it.error);
        parent = name;
    }
    const char* chain[] = {"b0", "b1", "b2", "b9", "b3"};
    kvc_load_item items[5]{};
    for (size_t i = 0; i < 5; ++i) {
        items[i].name = chain[i];
        items[i].offset = i * 8192;
        items[i].capacity = 8192;
    }
    size_t leading = 0;
    const long loaded = kvc_load_chain(lib.c, lib.b, items, 5, &leading);
    seen["chain"] = std::to_string(loaded) + "/" + std::to_string(leading);
    for (int i = 0; i < 3; ++i)
        seen["load b" + std::to_string(i * 2)] =
            errName(lib.load("b" + std::to_string(i * 2)).first);
    seen["load none"] = errName(lib.load("none").first);
    return seen;
}

TEST_F(DataPathTest, TheFallbackGivesTheSameEntriesAndCounters) {
    const std::string other = makePool("q");
    auto fast = runSequence(pool_, 0);
    auto files = runSequence(other, KVC_NO_FAST_PATH);
    EXPECT_EQ("1", fast["fast"]);
    EXPECT_EQ("0", files["fast"]);
    fast.erase("fast");
    files.erase("fast");
    EXPECT_EQ(fast, files);
    EXPECT_EQ("3/3", fast["chain"]);
    EXPECT_EQ(listNames(pool_), listNames(other));
    for (const std::string& n : listNames(pool_)) {
        EXPECT_EQ(readFile(pool_ + "/" + n), readFile(other + "/" + n)) << n;
        for (const char* x : {"user.kvcache.parent", "user.kvcache.seq_len", "user.writer",
                              "user.kvcache.committed"})
            EXPECT_EQ(getXattr(pool_ + "/" + n, x), getXattr(other + "/" + n, x)) << n << " " << x;
    }
    auto s1 = readStats(pool_ + "/.stats"), s2 = readStats(other + "/.stats");
    for (const char* k : {"entries", "hits", "misses", "match_requests", "prefix_hits"})
        EXPECT_EQ(s1[k], s2[k]) << k;
}

}  // namespace
}  // namespace kvctest
