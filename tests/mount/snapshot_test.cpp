// The snapshot and restore commands and the restore= mount option, on real mounts: a round trip
// (bytes, xattrs, modes, owners, times, hard links and the directory tree come back, after rmdir
// of the pool or with --replace, and merge semantics), damaged images and a wrong block size
// leave the pool exactly as it was, a snapshot taken while a writer rewrites entries restores
// only versions the writer completed, and restore= loads an image at mount (or fails the mount).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/snapshot_format.h"
#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

// What a user can see of one path, minus what legitimately differs after a restore (ctime,
// atime, access counters, the seconds left on a pin).
struct Node {
    bool dir = false;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    int64_t mtime_ns = 0;
    std::string data;
    std::map<std::string, std::string> xattrs;
    ino_t ino = 0;  // for hard links only: compared as groups, not values
    bool operator==(const Node& o) const {
        return dir == o.dir && mode == o.mode && uid == o.uid && gid == o.gid &&
               mtime_ns == o.mtime_ns && data == o.data && xattrs == o.xattrs;
    }
};
using Tree = std::map<std::string, Node>;

void PrintTo(const Node& n, std::ostream* os) {
    *os << (n.dir ? "dir" : "entry") << " mode " << std::oct << n.mode << std::dec << " uid "
        << n.uid << " gid " << n.gid << " mtime " << n.mtime_ns << " " << n.data.size()
        << "B xattrs {";
    for (const auto& [k, v] : n.xattrs) *os << k << "=" << v.substr(0, 40) << " ";
    *os << "}";
}

std::map<std::string, std::string> xattrsOf(const std::string& path) {
    std::map<std::string, std::string> out;
    char names[65536];
    const ssize_t n = llistxattr(path.c_str(), names, sizeof names);
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
        const std::string name = names + i;
        if (name == "user.kvcache.access_count" || name == "user.kvcache.created" ||
            name == "user.kvcache.last_access" || name == "user.kvcache.pin_ttl")
            continue;
        std::string value(70000, '\0');
        const ssize_t len = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (len >= 0) out[name] = value.substr(0, static_cast<size_t>(len));
    }
    return out;
}

void capture(const std::string& root, const std::string& rel, Tree& out) {
    DIR* d = opendir((root + (rel.empty() ? "" : "/" + rel)).c_str());
    ASSERT_NE(nullptr, d) << rel;
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
    closedir(d);
    for (const std::string& name : names) {
        const std::string p = rel.empty() ? name : rel + "/" + name;
        const std::string full = root + "/" + p;
        struct stat st {};
        ASSERT_EQ(0, lstat(full.c_str(), &st)) << full;
        Node n;
        n.dir = S_ISDIR(st.st_mode);
        n.mode = st.st_mode;
        n.uid = st.st_uid;
        n.gid = st.st_gid;
        n.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
        n.ino = st.st_ino;
        n.xattrs = xattrsOf(full);
        if (!n.dir) n.data = readFile(full).value_or("<unreadable>");
        out[p] = n;
        if (n.dir) capture(root, p, out);
    }
}

Tree treeOf(const std::string& pool) {
    Tree t;
    capture(pool, "", t);
    return t;
}

// Paths grouped by inode: hard links must stay links, and only those.
std::set<std::set<std::string>> linkGroups(const Tree& t) {
    std::map<ino_t, std::set<std::string>> by;
    for (const auto& [p, n] : t)
        if (!n.dir) by[n.ino].insert(p);
    std::set<std::set<std::string>> out;
    for (auto& [i, g] : by) out.insert(g);
    return out;
}

uint64_t fnv(std::string_view s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

int setX(const std::string& path, const std::string& name, const std::string& value) {
    return errnoOf(setxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0));
}

class SnapshotMountTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        char tmpl[] = "/tmp/kvcsnapmt.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        work_ = tmpl;
    }
    void TearDown() override {
        if (!work_.empty()) {
            DIR* d = opendir(work_.c_str());
            while (d && readdir(d)) {
            }
            if (d) {
                rewinddir(d);
                while (dirent* e = readdir(d))
                    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        unlink((work_ + "/" + e->d_name).c_str());
                closedir(d);
            }
            rmdir(work_.c_str());
        }
        MountTest::TearDown();
    }

    // Runs `kvcachefs ARGS...`; returns the exit status (-1 if it did not exit normally).
    int kvc(const std::vector<std::string>& args, std::string* output = nullptr) {
        std::vector<std::string> argv = {KVCACHEFS_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        std::string out;
        const int status = runProgram(argv, &out, 60000);
        if (output) *output = out;
        return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    std::string file(const std::string& name) const { return work_ + "/" + name; }

    // A pool with every kind of thing a snapshot must keep.
    void populate(const std::string& pool) {
        ASSERT_EQ(0, errnoOf(::mkdir((pool + "/layers").c_str(), 0755)));
        ASSERT_EQ(0, errnoOf(::mkdir((pool + "/layers/0").c_str(), 0750)));
        ASSERT_EQ(0, errnoOf(::mkdir((pool + "/sealed").c_str(), 0755)));
        ASSERT_EQ(0, writeFile(pool + "/empty", ""));
        ASSERT_EQ(0, writeFile(pool + "/blk-00a1", pattern(4096, 1)));
        ASSERT_EQ(0, writeFile(pool + "/blk-00a2", pattern(1 << 20 | 3, 2)));
        ASSERT_EQ(0, writeFile(pool + "/layers/0/kv", pattern(5 << 20, 3)));
        ASSERT_EQ(0, writeFile(pool + "/sealed/inside", "in a read-only directory"));
        ASSERT_EQ(0, writeFile(pool + "/private", "mode 0600, other owner"));
        ASSERT_EQ(0, setX(pool + "/blk-00a2", "user.kvcache.parent", "blk-00a1"));
        ASSERT_EQ(0, setX(pool + "/blk-00a2", "user.kvcache.priority", "-4"));
        ASSERT_EQ(0, setX(pool + "/blk-00a2", "user.kvcache.layer", "7"));
        ASSERT_EQ(0, setX(pool + "/blk-00a2", "user.kvcache.seq_len", "2048"));
        ASSERT_EQ(0, setX(pool + "/blk-00a2", "user.engine", "vllm"));
        ASSERT_EQ(0, setX(pool + "/blk-00a1", "user.kvcache.pinned", "1"));
        ASSERT_EQ(0, setX(pool + "/layers/0/kv", "user.kvcache.pin_ttl", "3600"));
        ASSERT_EQ(0, setX(pool + "/layers/0/kv", "user.blob", std::string(3000, 'b')));
        ASSERT_EQ(0, setX(pool + "/layers", "user.note", "directory attribute"));
        ASSERT_EQ(0,
                  errnoOf(::link((pool + "/blk-00a1").c_str(), (pool + "/layers/alias").c_str())));
        ASSERT_EQ(0, errnoOf(::chown((pool + "/private").c_str(), 1234, 5678)));
        ASSERT_EQ(0, errnoOf(::chmod((pool + "/private").c_str(), 0600)));
        const timespec old[2] = {{1600000000, 5}, {1600000001, 123456789}};
        ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, (pool + "/empty").c_str(), old, 0)));
        ASSERT_EQ(0, errnoOf(::chmod((pool + "/sealed").c_str(), 0555)));
    }

    std::string work_;
};

TEST_F(SnapshotMountTest, RoundTripThroughRmdirReplaceAndMerge) {
    const std::string pool = makePool("llama");
    populate(pool);
    const Tree before = treeOf(pool);
    ASSERT_EQ(10u, before.size());
    const std::string image = file("llama.kvs");

    std::string out;
    ASSERT_EQ(0, kvc({"snapshot", pool, image}, &out)) << out;
    // Not a terminal: one summary line, nothing else.
    EXPECT_EQ(1, std::count(out.begin(), out.end(), '\n')) << out;
    EXPECT_NE(std::string::npos, out.find("6 entries, 3 directories")) << out;
    EXPECT_NE(std::string::npos, out.find("1 hard links, 0 skipped")) << out;
    struct stat st {};
    ASSERT_EQ(0, stat(image.c_str(), &st));
    EXPECT_EQ(0600u, st.st_mode & 07777);
    // Only the entries' bytes are stored.
    EXPECT_LT(st.st_size, (6 << 20) + 100000);

    // Delete everything, the pool too; restore makes it again.
    ASSERT_EQ(0, errnoOf(::chmod((pool + "/sealed").c_str(), 0755)));
    std::function<void(const std::string&)> wipe = [&](const std::string& dir) {
        DIR* d = opendir(dir.c_str());
        ASSERT_NE(nullptr, d);
        std::vector<std::pair<std::string, bool>> names;
        while (dirent* e = readdir(d))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                names.emplace_back(e->d_name, e->d_type == DT_DIR);
        closedir(d);
        for (const auto& [n, isdir] : names) {
            if (isdir) {
                wipe(dir + "/" + n);
                ASSERT_EQ(0, errnoOf(::rmdir((dir + "/" + n).c_str())));
            } else {
                ASSERT_EQ(0, errnoOf(::unlink((dir + "/" + n).c_str())));
            }
        }
    };
    wipe(pool);
    ASSERT_EQ(0, errnoOf(::rmdir(pool.c_str())));
    ASSERT_EQ(ENOENT, statErrno(pool));
    ASSERT_EQ(0, kvc({"restore", image, pool}, &out)) << out;
    EXPECT_EQ(1, std::count(out.begin(), out.end(), '\n')) << out;
    EXPECT_NE(std::string::npos, out.find("6 entries, 3 directories")) << out;
    Tree after = treeOf(pool);
    EXPECT_EQ(before, after);
    EXPECT_EQ(linkGroups(before), linkGroups(after));
    EXPECT_EQ("1", xattrsOf(pool + "/blk-00a1").at("user.kvcache.pinned"));
    char ttl[32] = {};
    ASSERT_GT(getxattr((pool + "/layers/0/kv").c_str(), "user.kvcache.pin_ttl", ttl, 31), 0);
    EXPECT_GT(std::atoi(ttl), 3500);
    // The pins are real again: evicting everything leaves the pinned entries.
    EXPECT_EQ(0, controlWrite(pool + "/.evict", "100").first);
    EXPECT_EQ(0, statErrno(pool + "/blk-00a1"));
    EXPECT_EQ(0, statErrno(pool + "/layers/0/kv"));
    EXPECT_EQ(ENOENT, statErrno(pool + "/private"));

    // --replace: whatever the pool holds goes first.
    ASSERT_EQ(0, writeFile(pool + "/stray", "not in the image"));
    ASSERT_EQ(0, errnoOf(::mkdir((pool + "/straydir").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(pool + "/blk-00a2", "changed"));
    ASSERT_EQ(0, kvc({"restore", "--replace", image, pool}, &out)) << out;
    EXPECT_NE(std::string::npos, out.find("entries removed first")) << out;
    after = treeOf(pool);
    EXPECT_EQ(before, after);
    EXPECT_EQ(linkGroups(before), linkGroups(after));

    // Merge (the default): the image's entries replace same names, other entries stay.
    ASSERT_EQ(0, writeFile(pool + "/blk-00a2", "changed again"));
    ASSERT_EQ(0, writeFile(pool + "/extra", "kept"));
    ASSERT_EQ(0, kvc({"restore", image, pool}, &out)) << out;
    EXPECT_NE(std::string::npos, out.find("7 replaced")) << out;
    after = treeOf(pool);
    ASSERT_EQ(1u, after.count("extra"));
    EXPECT_EQ("kept", after["extra"].data);
    after.erase("extra");
    EXPECT_EQ(before, after);
    // No temporary names are left anywhere.
    for (const auto& [p, n] : treeOf(pool)) EXPECT_EQ(std::string::npos, p.find(".kvcrestore"));
}

TEST_F(SnapshotMountTest, DamagedImagesAndWrongBlockSizeChangeNothing) {
    const std::string pool = makePool("p");
    populate(pool);
    const std::string image = file("p.kvs");
    std::string out;
    ASSERT_EQ(0, kvc({"snapshot", pool, image}, &out)) << out;
    const std::string good = readFile(image).value();
    // The pool now differs from the image, so a restore would be visible.
    ASSERT_EQ(0, writeFile(pool + "/blk-00a2", "newer"));
    ASSERT_EQ(0, writeFile(pool + "/only-here", "x"));
    const Tree before = treeOf(pool);

    struct Case {
        std::string name, bytes, message;
    };
    std::vector<Case> cases;
    std::string flipped = good;
    flipped[good.size() / 2] ^= 0x20;
    cases.push_back({"flip", flipped, "fails its checksum"});
    std::string late = good;
    late[good.size() - 20] ^= 1;
    cases.push_back({"trailer", late, "trailer fails its checksum"});
    cases.push_back({"truncated", good.substr(0, good.size() * 2 / 3),
                     "truncated at byte " + std::to_string(good.size() * 2 / 3)});
    cases.push_back({"cut-trailer", good.substr(0, good.size() - 1), "truncated"});
    std::string magic = good;
    magic[1] = 'X';
    cases.push_back({"magic", magic, "not a kvcachefs snapshot (bad magic)"});
    std::string version = good;
    version[8] = 3;  // without its checksum: refused as a damaged header
    cases.push_back({"version", version, "header fails its checksum"});
    cases.push_back({"empty", "", "empty file"});
    for (const Case& c : cases) {
        const std::string bad = file(c.name + ".kvs");
        ASSERT_EQ(0, writeFile(bad, c.bytes));
        for (bool replace : {false, true}) {
            std::vector<std::string> args = {"restore", bad, pool};
            if (replace) args.insert(args.begin() + 1, "--replace");
            EXPECT_EQ(1, kvc(args, &out)) << c.name;
            EXPECT_NE(std::string::npos, out.find(c.message)) << c.name << ": " << out;
            EXPECT_NE(std::string::npos, out.find(bad)) << "the message names the file: " << out;
            EXPECT_EQ(before, treeOf(pool)) << c.name << (replace ? " --replace" : "");
        }
        // Nor is a pool made for it.
        EXPECT_EQ(1, kvc({"restore", bad, mnt("fresh")}, &out)) << c.name;
        EXPECT_EQ(ENOENT, statErrno(mnt("fresh"))) << c.name;
    }

    // Another mount whose pools have 8 KiB blocks refuses the 4 KiB image, pool unchanged.
    KvcMount other("size=64M,block_size=8K");
    ASSERT_TRUE(other.start());
    ASSERT_EQ(0, errnoOf(::mkdir(other.path("q").c_str(), 0755)));
    ASSERT_EQ(0, writeFile(other.path("q/mine"), "mine"));
    EXPECT_EQ(1, kvc({"restore", "--replace", image, other.path("q")}, &out));
    EXPECT_NE(std::string::npos, out.find("block size 4096, pool has 8192")) << out;
    EXPECT_EQ("mine", readFile(other.path("q/mine")).value_or(""));
    EXPECT_EQ(1, kvc({"restore", image, other.path("new")}, &out));
    EXPECT_NE(std::string::npos, out.find("block size 4096, pool has 8192")) << out;
    EXPECT_EQ(ENOENT, statErrno(other.path("new"))) << "the pool made for it is removed again";
    other.cleanup();
}

TEST_F(SnapshotMountTest, CommandsRefuseWhatTheyCannotDo) {
    const std::string pool = makePool("p");
    ASSERT_EQ(0, writeFile(pool + "/e", "e"));
    std::string out;
    EXPECT_EQ(1, kvc({"snapshot", mnt(), file("x.kvs")}, &out));
    EXPECT_NE(std::string::npos, out.find("is not a kvcachefs pool directory")) << out;
    EXPECT_EQ(1, kvc({"snapshot", "/tmp", file("x.kvs")}, &out));
    EXPECT_NE(std::string::npos, out.find("/tmp is not a kvcachefs pool")) << out;
    EXPECT_EQ(1, kvc({"snapshot", pool, pool + "/inside.kvs"}, &out));
    EXPECT_NE(std::string::npos, out.find("is on the kvcachefs mount")) << out;
    EXPECT_EQ(1, kvc({"snapshot", pool, "/nonexistent-dir/x.kvs"}, &out));
    EXPECT_NE(std::string::npos, out.find("/nonexistent-dir")) << out;
    EXPECT_EQ(1, kvc({"restore", file("missing.kvs"), pool}, &out));
    EXPECT_NE(std::string::npos, out.find("missing.kvs: No such file")) << out;
    EXPECT_EQ(2, kvc({"snapshot", pool}, &out));
    EXPECT_NE(std::string::npos, out.find("usage:")) << out;
    EXPECT_EQ(2, kvc({"restore", "--bogus", "a", "b"}, &out));
    // An existing image is replaced whole, and no temporary file is left next to it.
    const std::string image = file("p.kvs");
    ASSERT_EQ(0, writeFile(image, "old contents"));
    ASSERT_EQ(0, kvc({"snapshot", pool + "/", image}, &out)) << out;
    EXPECT_NE("old contents", readFile(image).value_or(""));
    DIR* d = opendir(work_.c_str());
    ASSERT_NE(nullptr, d);
    while (dirent* e = readdir(d)) EXPECT_EQ(nullptr, strstr(e->d_name, ".tmp.")) << e->d_name;
    closedir(d);
}

TEST_F(SnapshotMountTest, SnapshotWhileAWriterRunsRestoresOnlyCompletedVersions) {
    const std::string pool = makePool("w");
    // Entries nobody touches must all be there; rewritten ones hold a version a writer
    // completed (or are absent), never a mix of two.
    std::map<std::string, uint64_t> still;
    for (int i = 0; i < 30; ++i) {
        const std::string data = pattern(8192 + i * 1000, 1000 + i);
        ASSERT_EQ(0, writeFile(pool + "/still-" + std::to_string(i), data));
        still["still-" + std::to_string(i)] = fnv(data);
    }
    std::mutex m;
    std::map<std::string, std::set<uint64_t>> versions;  // every version a writer began
    std::atomic<bool> stop{false};
    std::atomic<int> rewrites{0};
    auto writer = [&](int id) {
        std::mt19937 rng(id);
        for (uint32_t n = 0; !stop; ++n) {
            // Each writer has names of its own: two writers interleaving pieces in one entry
            // would make a mix that no writer wrote, whatever the snapshot does.
            const std::string name = "hot-" + std::to_string(id) + "-" + std::to_string(rng() % 3);
            const std::string data = pattern(4096 * (1 + rng() % 64), id * 1000000 + n);
            {
                std::lock_guard lk(m);
                versions[name].insert(fnv(data));
            }
            const std::string path = pool + "/" + name;
            if (n % 4 == 3) {  // replace by rename, as careful writers do
                const std::string tmp = path + ".tmp" + std::to_string(id);
                ASSERT_EQ(0, writeFile(tmp, data));
                ASSERT_EQ(0, errnoOf(::rename(tmp.c_str(), path.c_str())));
            } else {  // rewrite in place, in pieces: the hard case
                const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ASSERT_GE(fd, 0);
                for (size_t off = 0; off < data.size(); off += 16384) {
                    const size_t len = std::min<size_t>(16384, data.size() - off);
                    ASSERT_EQ(static_cast<ssize_t>(len), ::write(fd, data.data() + off, len));
                    if (off == 0) std::this_thread::yield();
                }
                ASSERT_EQ(0, ::close(fd));
            }
            rewrites++;
        }
    };
    // A large entry patched in place, one block at a time, each patch opened and closed: it is
    // hardly ever uncommitted, so only the before/after comparison can tell that it changed
    // while it was read. Patch n writes the 8-byte stamp n all over one block, so any content
    // tells which patches it holds, and whether that is the state after some patch K.
    const std::string patched_path = pool + "/patched";
    constexpr size_t kPatchBlocks = 1024;
    auto stampBlock = [](uint64_t n) {
        std::string b(4096, '\0');
        for (size_t i = 0; i < b.size(); i += 8) std::memcpy(&b[i], &n, 8);
        return b;
    };
    std::string initial;
    for (size_t i = 0; i < kPatchBlocks; ++i) initial += stampBlock(0);
    ASSERT_EQ(0, writeFile(patched_path, initial));
    std::vector<uint32_t> patch_log;  // the block patch n+1 wrote; read after the join
    auto patcher = [&] {
        std::mt19937 rng(3);
        for (uint64_t n = 1; !stop; ++n) {
            const uint32_t block = rng() % kPatchBlocks;
            patch_log.push_back(block);
            const std::string data = stampBlock(n);
            const int fd = ::open(patched_path.c_str(), O_WRONLY | O_CLOEXEC);
            ASSERT_GE(fd, 0);
            ASSERT_EQ(4096, ::pwrite(fd, data.data(), data.size(), off_t{block} * 4096));
            ASSERT_EQ(0, ::close(fd));
            rewrites++;
        }
    };
    auto wholePatchState = [&](const std::string& data) -> ::testing::AssertionResult {
        if (data.size() != initial.size())
            return ::testing::AssertionFailure() << data.size() << " bytes";
        std::vector<uint64_t> seen(kPatchBlocks), want(kPatchBlocks, 0);
        uint64_t last = 0;
        for (size_t b = 0; b < kPatchBlocks; ++b) {
            std::memcpy(&seen[b], data.data() + b * 4096, 8);
            if (data.compare(b * 4096, 4096, stampBlock(seen[b])) != 0)
                return ::testing::AssertionFailure() << "block " << b << " is half written";
            last = std::max(last, seen[b]);
        }
        if (last > patch_log.size()) return ::testing::AssertionFailure() << "patch " << last;
        for (uint64_t n = 1; n <= last; ++n) want[patch_log[n - 1]] = n;
        if (seen != want)
            return ::testing::AssertionFailure()
                   << "holds patch " << last << " but not every patch before it";
        return ::testing::AssertionSuccess();
    };
    std::thread w1(writer, 1), w2(writer, 2), w3(patcher);
    ASSERT_TRUE(eventually([&] { return rewrites > 20; }, 10000));
    std::vector<std::string> images;
    std::string summaries;
    for (int i = 0; i < 4; ++i) {
        images.push_back(file("w" + std::to_string(i) + ".kvs"));
        std::string out;
        EXPECT_EQ(0, kvc({"snapshot", pool, images.back()}, &out)) << out;
        summaries += out;
    }
    stop = true;
    w1.join();
    w2.join();
    w3.join();
    ASSERT_GT(rewrites.load(), 40) << "the writers hardly ran";

    for (size_t i = 0; i < images.size(); ++i) {
        const std::string target = mnt("r" + std::to_string(i));
        std::string out;
        ASSERT_EQ(0, kvc({"restore", images[i], target}, &out)) << out;
        const Tree t = treeOf(target);
        for (const auto& [name, sum] : still) {
            ASSERT_EQ(1u, t.count(name)) << name << " missing from image " << i;
            EXPECT_EQ(sum, fnv(t.at(name).data)) << name;
        }
        if (t.count("patched")) {
            EXPECT_TRUE(wholePatchState(t.at("patched").data)) << "patched, image " << i;
        }
        for (const auto& [path, node] : t) {
            if (path.rfind("still-", 0) == 0 || path == "patched") continue;
            const std::string name = path.substr(0, path.find(".tmp"));
            ASSERT_TRUE(versions.count(name)) << path;
            EXPECT_TRUE(versions.at(name).count(fnv(node.data)))
                << path << " (" << node.data.size() << " bytes) in image " << i
                << " is no version a writer wrote: torn";
        }
    }
    std::printf("summaries:\n%s", summaries.c_str());
}

TEST_F(SnapshotMountTest, RestoreOptionLoadsTheImageAtMount) {
    const std::string pool = makePool("llama");
    populate(pool);
    const Tree before = treeOf(pool);
    const std::string image = file("llama.kvs");
    std::string out;
    ASSERT_EQ(0, kvc({"snapshot", pool, image}, &out)) << out;

    // A new instance: the pool is created from the image before the mount serves, with the
    // source pool's size (64M), not the new mount's default.
    {
        KvcMount fresh("size=32M,restore=" + image);
        ASSERT_TRUE(fresh.start());
        EXPECT_EQ(64u << 20, statNum(readStats(fresh.path("llama/.stats")), "capacity_bytes"));
        const Tree t = treeOf(fresh.path("llama"));
        EXPECT_EQ(before, t);
        EXPECT_EQ(linkGroups(before), linkGroups(t));
        EXPECT_NE(std::string::npos, fresh.daemonLog().find("pool llama: restored 6 entries"))
            << fresh.daemonLog();
        // A remount of the same instance with restore= again merges: no duplicates, no loss.
        ASSERT_EQ(0, writeFile(fresh.path("llama/added-later"), "x"));
        ASSERT_TRUE(fresh.remount());
        Tree again = treeOf(fresh.path("llama"));
        EXPECT_EQ(1u, again.erase("added-later"));
        EXPECT_EQ(before, again);
        fresh.cleanup();
    }
    // A damaged image fails the mount with the reader's message, and leaves no segment.
    std::string bad = readFile(image).value();
    bad[bad.size() / 3] ^= 4;
    const std::string bad_image = file("bad.kvs");
    ASSERT_EQ(0, writeFile(bad_image, bad));
    KvcMount broken("size=64M,restore=" + bad_image);
    auto started = broken.start();
    EXPECT_FALSE(started);
    EXPECT_NE(std::string::npos, broken.daemonLog().find("option restore: snapshot " + bad_image))
        << broken.daemonLog();
    EXPECT_TRUE(broken.segments().empty());
    broken.cleanup();
}

// An entry record of an image written by hand: two bytes "kv".
kvc::SnapshotRecord entryRecord(std::string path, std::string parent = "") {
    kvc::SnapshotRecord e;
    e.kind = kvc::SnapshotKind::Entry;
    e.path = std::move(path);
    e.parent = std::move(parent);
    e.mode = 0100644;
    e.data_len = 2;
    return e;
}

// An image of pool `pool` holding `records` after the pool's directory, written with the
// format's own writer: images no pool could have produced.
std::string writeImageOf(const std::string& path, const std::string& pool,
                         const std::vector<kvc::SnapshotRecord>& records) {
    kvc::SnapshotHeader h;
    h.block_size = 4096;
    h.pool = pool;
    h.policy = "lru";
    h.capacity_bytes = 64u << 20;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    auto w = kvc::SnapshotWriter::start(fd, path, h);
    EXPECT_TRUE(w.ok());
    if (!w.ok()) return path;
    kvc::SnapshotRecord root;
    root.kind = kvc::SnapshotKind::Directory;
    root.mode = 040755;
    EXPECT_TRUE((*w)->beginRecord(root).ok() && (*w)->endRecord().ok());
    for (const kvc::SnapshotRecord& r : records) {
        auto st = (*w)->beginRecord(r);
        EXPECT_TRUE(st.ok()) << r.path << ": " << (st.ok() ? "" : st.error().message);
        if (r.data_len) {
            EXPECT_TRUE((*w)->appendData("kv", 2).ok());
        }
        EXPECT_TRUE((*w)->endRecord().ok()) << r.path;
    }
    EXPECT_TRUE((*w)->finish().ok());
    ::close(fd);
    return path;
}

// An image whose chain parents loop (a -> b -> a, s -> s) cannot come from a pool.
std::string writeLoopingImage(const std::string& path) {
    return writeImageOf(
        path, "looped",
        {entryRecord("a", "b"), entryRecord("b", "a"), entryRecord("s", "s"), entryRecord("free")});
}

TEST_F(SnapshotMountTest, ImagesWhoseChainsLoopAreRefusedWhole) {
    const std::string pool = makePool("p");
    populate(pool);
    const Tree before = treeOf(pool);
    const std::string image = writeLoopingImage(file("loop.kvs"));
    std::string out;
    for (bool replace : {false, true}) {
        std::vector<std::string> args = {"restore", image, pool};
        if (replace) args.insert(args.begin() + 1, "--replace");
        EXPECT_EQ(1, kvc(args, &out));
        EXPECT_NE(std::string::npos, out.find("make a loop")) << out;
        EXPECT_EQ(before, treeOf(pool)) << (replace ? "--replace" : "merge");
    }
    EXPECT_EQ(1, kvc({"restore", image, mnt("fresh")}, &out));
    EXPECT_EQ(ENOENT, statErrno(mnt("fresh")));
    // Nor does restore= mount it.
    KvcMount broken("size=64M,restore=" + image);
    EXPECT_FALSE(broken.start());
    EXPECT_NE(std::string::npos, broken.daemonLog().find("make a loop")) << broken.daemonLog();
    EXPECT_TRUE(broken.segments().empty());
    broken.cleanup();
}

// An image that a pool would refuse in part (a control file's name at the top, a pin longer than
// a pool takes) is refused whole by both ways of restoring, before anything changes: the good
// entry before the bad one is not restored either.
TEST_F(SnapshotMountTest, ImagesAPoolWouldRefuseInPartAreRefusedWhole) {
    const std::string pool = makePool("p");
    populate(pool);
    const Tree before = treeOf(pool);
    kvc::SnapshotRecord long_pin = entryRecord("pinned");
    long_pin.pinned = true;
    long_pin.pin_ttl_s = 200LL * 365 * 86400;
    const std::vector<std::pair<std::string, kvc::SnapshotRecord>> cases = {
        {"control file", entryRecord(".policy")},
        {"user.kvcache.pin_ttl", long_pin},
    };
    int n = 0;
    for (const auto& [want, bad] : cases) {
        const std::string image = writeImageOf(file("bad" + std::to_string(n++) + ".kvs"), "p",
                                               {entryRecord("good"), bad});
        std::string out;
        for (bool replace : {false, true}) {
            std::vector<std::string> args = {"restore", image, pool};
            if (replace) args.insert(args.begin() + 1, "--replace");
            EXPECT_EQ(1, kvc(args, &out)) << out;
            EXPECT_NE(std::string::npos, out.find(want)) << out;
            EXPECT_EQ(before, treeOf(pool)) << want << (replace ? " --replace" : " merge");
        }
        EXPECT_EQ(1, kvc({"restore", image, mnt("fresh")}, &out)) << out;
        EXPECT_EQ(ENOENT, statErrno(mnt("fresh"))) << want;
        KvcMount broken("size=64M,restore=" + image);
        EXPECT_FALSE(broken.start()) << want;
        EXPECT_NE(std::string::npos, broken.daemonLog().find(want)) << broken.daemonLog();
        EXPECT_TRUE(broken.segments().empty());
        broken.cleanup();
    }
}

// Times before 1970 with a fraction of a second (touch -d '1969-12-31 23:59:58.5') read back
// as set, and a snapshot of them restores (utimensat refuses a negative tv_nsec).
TEST_F(SnapshotMountTest, TimesBefore1970RoundTrip) {
    const std::string pool = makePool("old");
    const std::string entry = pool + "/e";
    ASSERT_EQ(0, writeFile(entry, "kv"));
    const timespec old[2] = {{-3, 250000000}, {-2, 500000000}};
    ASSERT_EQ(0, errnoOf(utimensat(AT_FDCWD, entry.c_str(), old, 0)));
    struct stat st {};
    ASSERT_EQ(0, stat(entry.c_str(), &st));
    EXPECT_EQ(-2, st.st_mtim.tv_sec);
    EXPECT_EQ(500000000, st.st_mtim.tv_nsec);
    const std::string image = file("old.kvs");
    std::string out;
    ASSERT_EQ(0, kvc({"snapshot", pool, image}, &out)) << out;
    ASSERT_EQ(0, kvc({"restore", "--replace", image, pool}, &out)) << out;
    ASSERT_EQ(0, stat(entry.c_str(), &st));
    EXPECT_EQ(-2, st.st_mtim.tv_sec);
    EXPECT_EQ(500000000, st.st_mtim.tv_nsec);
}

}  // namespace
}  // namespace kvctest
