// Tests of takeSnapshot (core/snapshot_source.h) over an in-memory pool: what the image holds
// and in which order, and what happens to an entry that changes under the snapshot (written,
// truncated, replaced, uncommitted, removed) at the moment its bytes are read. Every image is
// read back with the verifying SnapshotReader.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/snapshot_format.h"
#include "core/snapshot_source.h"

namespace kvc {
namespace {

// One inode of the fake pool; names share it for hard links.
struct FakeInode {
    std::string data;
    SourceStat st;
    std::map<std::string, std::string> xattrs;  // as listed (not committed, last_access, ...)
    std::string committed = "1";
    std::string access_count = "1";  // counts our own open
    std::string created = "1700000000.5";
    std::vector<std::pair<size_t, size_t>> holes;  // [begin, end) ranges of zeros, sorted
    size_t bytes_read = 0;                         // through read(), over every open
};

class FakePool;

class FakeOpen : public SourceEntry {
  public:
    FakeOpen(FakePool& pool, std::string path, std::shared_ptr<FakeInode> inode)
        : pool_(pool), path_(std::move(path)), inode_(std::move(inode)) {}
    Result<SourceStat> stat() override { return inode_->st; }
    Result<SourceStat> statPath() override;
    Result<std::string> attribute(std::string_view name) override {
        if (name == "user.kvcache.committed") return inode_->committed;
        return makeError(ENODATA, "no " + std::string(name));
    }
    Result<std::map<std::string, std::string>> attributes(
        std::initializer_list<std::string_view> skip,
        std::initializer_list<std::string_view> also) override {
        std::map<std::string, std::string> out = inode_->xattrs;
        for (std::string_view s : skip) out.erase(std::string(s));
        for (std::string_view a : also) {
            if (a == "user.kvcache.access_count") out[std::string(a)] = inode_->access_count;
            if (a == "user.kvcache.created") out[std::string(a)] = inode_->created;
        }
        return out;
    }
    Result<size_t> read(void* out, size_t len) override;
    Result<uint64_t> skipHole(uint64_t max) override {
        for (const auto& [begin, end] : inode_->holes)
            if (pos_ >= begin && pos_ < end) {
                const size_t n = std::min<uint64_t>(max, end - pos_);
                pos_ += n;
                return uint64_t{n};
            }
        return uint64_t{0};
    }

  private:
    FakePool& pool_;
    std::string path_;
    std::shared_ptr<FakeInode> inode_;
    size_t pos_ = 0;
    bool read_before_ = false;
};

class FakePool : public SnapshotSource {
  public:
    FakePool() { directory(""); }

    SnapshotRecord& directory(const std::string& path) {
        SnapshotRecord& d = dirs[path];
        d.kind = SnapshotKind::Directory;
        d.mode = S_IFDIR | 0755;
        d.uid = 1000;
        d.gid = 1000;
        d.mtime_ns = 1700000000000000000;
        return d;
    }

    std::shared_ptr<FakeInode> entry(const std::string& path, std::string data,
                                     int64_t last_access_s) {
        auto in = std::make_shared<FakeInode>();
        in->data = std::move(data);
        in->st.ino = ++next_ino;
        in->st.size = in->data.size();
        in->st.nlink = 1;
        in->st.mode = S_IFREG | 0644;
        in->st.uid = 1000;
        in->st.gid = 1000;
        in->st.mtime_ns = in->st.ctime_ns = 1700000000000000000;
        names[path] = in;
        last_access[path] = std::to_string(last_access_s) + ".000000000";
        return in;
    }

    // A write that a writer completed: new bytes, a new mtime and ctime.
    static void rewrite(FakeInode& in, std::string data) {
        in.data = std::move(data);
        in.st.size = in.data.size();
        in.st.mtime_ns += 1000;
        in.st.ctime_ns += 1000;
    }

    std::string describe(std::string_view path) const override {
        return "/mnt/p/" + std::string(path);
    }

    Result<SourceDirectory> readDirectory(std::string_view path, bool with_xattrs) override {
        const std::string p(path);
        if (gone_dirs.count(p) || !dirs.count(p)) return makeError(ENOENT, "gone: " + p);
        SourceDirectory out;
        out.record = dirs.at(p);
        if (!with_xattrs) out.record.xattrs.clear();
        auto isChild = [&](const std::string& c) {
            if (c.empty() || c == p) return false;
            const std::string prefix = p.empty() ? "" : p + "/";
            return c.compare(0, prefix.size(), prefix) == 0 &&
                   c.find('/', prefix.size()) == std::string::npos;
        };
        auto base = [&](const std::string& c) { return c.substr(c.rfind('/') + 1); };
        // Listed in reverse: the rules sort.
        for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
            if (isChild(it->first))
                out.children.push_back({base(it->first), SourceKind::Directory});
        for (auto it = names.rbegin(); it != names.rend(); ++it)
            if (isChild(it->first))
                out.children.push_back({base(it->first), SourceKind::Entry, it->second->st.size});
        for (const std::string& o : others)
            if (isChild(o)) out.children.push_back({base(o), SourceKind::Other});
        for (const auto& [n, node] : nodes)
            if (isChild(n)) out.children.push_back({base(n), SourceKind::Node});
        return out;
    }

    // A symbolic link or special file; `ino` shared by names that are hard links.
    SourceNode& node(const std::string& path, uint32_t mode, uint64_t ino, std::string target = {},
                     uint64_t rdev = 0) {
        SourceNode& n = nodes[path];
        n.stat.mode = mode;
        n.stat.uid = 7;
        n.stat.gid = 8;
        n.stat.mtime_ns = 1600000000000000001;
        n.stat.rdev = rdev;
        n.stat.ino = ino;
        n.stat.nlink = 1;
        n.target = std::move(target);
        return n;
    }

    Result<SourceNode> readNode(std::string_view path) override {
        auto it = nodes.find(std::string(path));
        if (it == nodes.end()) return makeError(ENOENT, "gone: " + std::string(path));
        return it->second;
    }

    std::optional<std::string> entryAttribute(std::string_view path,
                                              std::string_view name) override {
        auto it = last_access.find(std::string(path));
        if (name != "user.kvcache.last_access" || it == last_access.end()) return std::nullopt;
        return it->second;
    }

    Result<std::unique_ptr<SourceEntry>> openEntry(std::string_view path) override {
        const std::string p(path);
        opens[p]++;
        auto it = names.find(p);
        if (it == names.end()) return makeError(ENOENT, "gone: " + p);
        return std::unique_ptr<SourceEntry>(std::make_unique<FakeOpen>(*this, p, it->second));
    }

    std::map<std::string, SnapshotRecord> dirs;
    std::set<std::string> gone_dirs;
    std::map<std::string, std::shared_ptr<FakeInode>> names;
    std::map<std::string, std::string> last_access;
    std::set<std::string> others;  // what a source does not know
    std::map<std::string, SourceNode> nodes;
    std::map<std::string, int> opens;
    // Called at the first read of each open of a path, with the open inode and the attempt.
    std::function<void(const std::string& path, FakeInode& open, int attempt)> on_read;
    uint64_t next_ino = 100;
};

Result<SourceStat> FakeOpen::statPath() {
    auto it = pool_.names.find(path_);
    return it == pool_.names.end() ? inode_->st : it->second->st;
}

Result<size_t> FakeOpen::read(void* out, size_t len) {
    if (!read_before_) {
        read_before_ = true;
        if (pool_.on_read) pool_.on_read(path_, *inode_, pool_.opens[path_]);
    }
    if (pos_ >= inode_->data.size()) return size_t{0};
    const size_t n = std::min(len, inode_->data.size() - pos_);
    std::memcpy(out, inode_->data.data() + pos_, n);
    pos_ += n;
    inode_->bytes_read += n;
    return n;
}

struct Item {
    SnapshotRecord rec;
    std::string data;
};

class SnapshotSourceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/kvcsourcetest.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        dir_ = tmpl;
        path_ = dir_ + "/image.kvs";
    }
    void TearDown() override {
        unlink(path_.c_str());
        rmdir(dir_.c_str());
    }

    // Takes a snapshot of `pool` with small reads (so a change lands between two of them) and
    // reads the image back, verified.
    Result<SnapshotReport> take(FakePool& pool, std::vector<Item>& items,
                                SnapshotOptions options = {}) {
        options.read_bytes = 4;
        const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        SnapshotHeader h;
        h.block_size = 4096;
        h.pool = "p";
        h.policy = "lru";
        auto w = SnapshotWriter::start(fd, path_, h);
        EXPECT_TRUE(w) << w.error().message;
        auto report = takeSnapshot(pool, **w, options);
        if (report) {
            auto st = (*w)->finish();
            EXPECT_TRUE(st) << st.error().message;
        }
        ::close(fd);
        if (!report) return report;
        auto r = SnapshotReader::open(path_);
        EXPECT_TRUE(r) << r.error().message;
        if (!r) return report;
        SnapshotRecord rec;
        while (true) {
            auto more = (*r)->next(rec);
            EXPECT_TRUE(more);
            if (!more || !*more) break;
            Item it{rec, {}};
            char buf[256];
            while (true) {
                auto n = (*r)->readData(buf, sizeof buf);
                EXPECT_TRUE(n);
                if (!n || *n == 0) break;
                it.data.append(buf, *n);
            }
            items.push_back(std::move(it));
        }
        return report;
    }

    static std::vector<std::string> paths(const std::vector<Item>& items) {
        std::vector<std::string> out;
        for (const Item& i : items) out.push_back(i.rec.path);
        return out;
    }
    static const Item* find(const std::vector<Item>& items, const std::string& path) {
        for (const Item& i : items)
            if (i.rec.path == path) return &i;
        return nullptr;
    }

    std::string dir_, path_;
};

TEST_F(SnapshotSourceTest, DirectoriesFirstThenEntriesLeastRecentlyUsedFirst) {
    FakePool pool;
    pool.directory("z");
    pool.directory("a");
    pool.directory("a/b");
    pool.entry("z/e1", "third entry", 300);
    pool.entry("a/b/e2", "first", 100);
    pool.entry("e3", "second one", 200);
    uint64_t walked = 0;
    uint64_t progress = 0;
    SnapshotOptions options;
    options.walked = [&](uint64_t total) { walked = total; };
    options.progress = [&](uint64_t done) { progress = done; };
    std::vector<Item> items;
    auto report = take(pool, items, options);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "a", "a/b", "z", "a/b/e2", "e3", "z/e1"}),
              paths(items));
    EXPECT_EQ("first", find(items, "a/b/e2")->data);
    EXPECT_EQ("second one", find(items, "e3")->data);
    EXPECT_EQ("third entry", find(items, "z/e1")->data);
    EXPECT_EQ(3u, report->directories);
    EXPECT_EQ(3u, report->entries);
    EXPECT_EQ(26u, report->bytes);
    EXPECT_EQ(26u, walked);
    EXPECT_EQ(26u, progress);
    EXPECT_TRUE(report->skipped.empty());
    EXPECT_EQ(0u, report->gone);
}

TEST_F(SnapshotSourceTest, RecordsTakeTheMetadataAsUsersLeftIt) {
    FakePool pool;
    pool.directory("d").xattrs = {{"user.kvcache.parent", "x"}, {"user.note", "kept"}};
    auto in = pool.entry("d/e", "bytes", 1700000123);
    in->xattrs = {{"user.kvcache.priority", "5"},
                  {"user.kvcache.pin_ttl", "30"},
                  {"user.kvcache.layer", "7"},
                  {"user.kvcache.parent", "d/p"},
                  {"user.model", "llama"}};
    in->access_count = "4";
    auto plain = pool.entry("plain", "x", 1);
    plain->xattrs = {{"user.kvcache.pin_ttl", "-1"}};
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;

    const Item* d = find(items, "d");
    ASSERT_NE(nullptr, d);
    EXPECT_EQ((std::vector<std::pair<std::string, std::string>>{{"user.note", "kept"}}),
              d->rec.xattrs);
    const Item* e = find(items, "d/e");
    ASSERT_NE(nullptr, e);
    EXPECT_EQ(5, e->rec.priority);
    EXPECT_TRUE(e->rec.pinned);  // a pin with a time limit is a pin
    EXPECT_EQ(30, e->rec.pin_ttl_s);
    EXPECT_EQ(7, e->rec.layer);
    EXPECT_EQ("d/p", e->rec.parent);
    EXPECT_EQ(3u, e->rec.access_count);  // without the snapshot's own open
    EXPECT_EQ(1700000000500000000, e->rec.btime_ns);
    EXPECT_EQ(1700000123000000000, e->rec.atime_ns);  // last_access before our open
    EXPECT_EQ((std::vector<std::pair<std::string, std::string>>{{"user.model", "llama"}}),
              e->rec.xattrs);
    EXPECT_EQ(0u, find(items, "plain")->rec.access_count);
}

TEST_F(SnapshotSourceTest, UncommittedRestoreTemporariesAndOtherFilesAreLeftOut) {
    FakePool pool;
    pool.entry("open", "being written", 1)->committed = "0";
    pool.entry(".kvcrestore.12.0", "a restore's", 2);
    pool.entry("kept", "ok", 3);
    pool.others.insert("fifo");
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "kept"}), paths(items));
    EXPECT_EQ((std::vector<std::string>{".kvcrestore.12.0", "open"}), report->skipped);
    EXPECT_EQ(1, pool.opens["open"]);  // not read again
    EXPECT_EQ(0, pool.opens[".kvcrestore.12.0"]);
}

// Links and special files follow the directories, before the entries, with their target or
// device; a second name of one (same inode) is a link record; one gone since the walk is gone.
TEST_F(SnapshotSourceTest, SymbolicLinksAndSpecialFilesFollowTheDirectories) {
    FakePool pool;
    pool.directory("d");
    pool.entry("e", "bytes", 1);
    pool.node("d/link", S_IFLNK | 0777, 1, "../e");
    pool.node("fifo", S_IFIFO | 0640, 2).stat.nlink = 2;
    pool.node("d/fifo2", S_IFIFO | 0640, 2).stat.nlink = 2;
    pool.node("null", S_IFCHR | 0666, 3, {}, makedev(1, 3));
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "d", "d/fifo2", "d/link", "fifo", "null", "e"}),
              paths(items));
    EXPECT_EQ(SnapshotKind::Special, find(items, "d/fifo2")->rec.kind);
    EXPECT_EQ(SnapshotKind::Link, find(items, "fifo")->rec.kind);
    EXPECT_EQ("d/fifo2", find(items, "fifo")->rec.link_target);
    EXPECT_EQ(uint32_t(S_IFIFO | 0640), find(items, "fifo")->rec.mode);
    const Item* link = find(items, "d/link");
    EXPECT_EQ(SnapshotKind::Symlink, link->rec.kind);
    EXPECT_EQ("../e", link->rec.link_target);
    EXPECT_EQ(7u, link->rec.uid);
    EXPECT_EQ(1600000000000000001, link->rec.mtime_ns);
    EXPECT_EQ(makedev(1, 3), find(items, "null")->rec.rdev);
    EXPECT_EQ(3u, report->nodes);
    EXPECT_EQ(1u, report->links);
    EXPECT_EQ(1u, report->entries);
}

// Holes are not read: the image holds their zeros all the same, in a file that has holes too.
TEST_F(SnapshotSourceTest, HolesAreNotReadAndTheImageHoldsTheirZeros) {
    FakePool pool;
    std::string bytes(3 << 20, '\0');
    bytes.replace(0, 5, "start");
    bytes.replace(bytes.size() - 3, 3, "end");
    auto in = pool.entry("sparse", bytes, 1);
    in->holes = {{4096, bytes.size() - 4096}};
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_NE(nullptr, find(items, "sparse"));
    EXPECT_TRUE(find(items, "sparse")->data == bytes);
    EXPECT_EQ(2u * 4096, in->bytes_read);
    struct stat st {};
    ASSERT_EQ(0, ::stat(path_.c_str(), &st));
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20) << "the image has no hole";
}

TEST_F(SnapshotSourceTest, AnEntryWrittenWhileReadIsReadAgainWhole) {
    FakePool pool;
    pool.entry("e", "old version bytes", 1);
    pool.entry("after", "next", 2);
    pool.on_read = [&](const std::string& path, FakeInode& in, int attempt) {
        if (path == "e" && attempt == 1) FakePool::rewrite(in, "the new version");
    };
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "e", "after"}), paths(items));
    EXPECT_EQ("the new version", find(items, "e")->data);
    EXPECT_EQ(2, pool.opens["e"]);
    EXPECT_TRUE(report->skipped.empty());
    EXPECT_EQ(2u, report->entries);
}

TEST_F(SnapshotSourceTest, AnEntryThatKeepsChangingIsLeftOutAndTheImageStaysValid) {
    FakePool pool;
    pool.entry("busy", "version 0 of it", 1);
    pool.entry("calm", "calm", 2);
    int version = 0;
    pool.on_read = [&](const std::string& path, FakeInode& in, int) {
        if (path == "busy") FakePool::rewrite(in, "version " + std::to_string(++version));
    };
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "calm"}), paths(items));
    EXPECT_EQ((std::vector<std::string>{"busy"}), report->skipped);
    EXPECT_EQ(2, pool.opens["busy"]);  // read twice, no more
}

TEST_F(SnapshotSourceTest, TruncatedReplacedOrUncommittedWhileReadIsNeverStoredTorn) {
    FakePool pool;
    pool.entry("truncated", "long enough to need several reads", 1);
    pool.entry("replaced", "the first inode's bytes", 2);
    pool.entry("reopened", "its writer came back", 3);
    pool.on_read = [&](const std::string& path, FakeInode& in, int attempt) {
        if (attempt != 1) return;
        if (path == "truncated") {
            in.data.resize(6);  // the size as the open sees it changes too
            in.st.size = 6;
        } else if (path == "replaced") {
            pool.entry("replaced", "a second inode", 2);  // renamed over it
        } else if (path == "reopened") {
            in.committed = "0";
        }
    };
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "truncated", "replaced"}), paths(items));
    EXPECT_EQ("long e", find(items, "truncated")->data);
    EXPECT_EQ("a second inode", find(items, "replaced")->data);
    EXPECT_EQ((std::vector<std::string>{"reopened"}), report->skipped);
    EXPECT_EQ(2, pool.opens["truncated"]);
    EXPECT_EQ(2, pool.opens["replaced"]);
    EXPECT_EQ(2, pool.opens["reopened"]);
}

TEST_F(SnapshotSourceTest, EntriesAndDirectoriesGoneMeanwhileArePassedOver) {
    FakePool pool;
    pool.entry("evicted", "x", 1);
    pool.entry("stays", "y", 2);
    pool.directory("vanishing");
    pool.gone_dirs.insert("vanishing");
    SnapshotOptions options;
    options.walked = [&](uint64_t) { pool.names.erase("evicted"); };
    std::vector<Item> items;
    auto report = take(pool, items, options);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "stays"}), paths(items));
    EXPECT_EQ(1u, report->gone);
    EXPECT_TRUE(report->skipped.empty());
    EXPECT_EQ(0u, report->directories);
}

TEST_F(SnapshotSourceTest, FurtherNamesOfAnEntryBecomeLinksToTheFirstStored) {
    FakePool pool;
    auto in = pool.entry("b/second", "shared bytes", 5);
    pool.directory("b");
    in->st.nlink = 2;
    pool.names["a-first"] = in;
    pool.last_access["a-first"] = "4.0";
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ((std::vector<std::string>{"", "b", "a-first", "b/second"}), paths(items));
    EXPECT_EQ(SnapshotKind::Entry, find(items, "a-first")->rec.kind);
    EXPECT_EQ("shared bytes", find(items, "a-first")->data);
    const Item* link = find(items, "b/second");
    EXPECT_EQ(SnapshotKind::Link, link->rec.kind);
    EXPECT_EQ("a-first", link->rec.link_target);
    EXPECT_EQ(1u, report->entries);
    EXPECT_EQ(1u, report->links);
}

TEST_F(SnapshotSourceTest, APoolThatIsGoneOrAValueThatIsNotANumberFails) {
    {
        FakePool pool;
        pool.gone_dirs.insert("");
        std::vector<Item> items;
        auto report = take(pool, items);
        ASSERT_FALSE(report);
        EXPECT_EQ(ENOENT, report.code());
    }
    FakePool pool;
    pool.entry("e", "x", 1)->xattrs = {{"user.kvcache.priority", "high"}};
    std::vector<Item> items;
    auto report = take(pool, items);
    ASSERT_FALSE(report);
    EXPECT_EQ(EIO, report.code());
    EXPECT_NE(std::string::npos, report.error().message.find("/mnt/p/e")) << report.error().message;
    EXPECT_NE(std::string::npos, report.error().message.find("user.kvcache.priority"));
}

TEST(SnapshotSourceTimes, AttributeTimesAreSecondsWithUpToNineDecimals) {
    EXPECT_EQ(1700000000000000123, parseAttributeTime("1700000000.000000123"));
    EXPECT_EQ(1500000000, parseAttributeTime("1.5"));
    EXPECT_EQ(2000000000, parseAttributeTime("2"));
    EXPECT_EQ(std::nullopt, parseAttributeTime("1."));
    EXPECT_EQ(std::nullopt, parseAttributeTime("1.0000000001"));
    EXPECT_EQ(std::nullopt, parseAttributeTime("x.5"));
    EXPECT_EQ(std::nullopt, parseAttributeTime(""));
}

}  // namespace
}  // namespace kvc
