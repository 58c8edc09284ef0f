// Tests of the snapshot image format and of restoreIntoPool: round trips of every field, the
// writer's refusals, damaged images (bytes flipped at random offsets, random truncations, wrong
// magic, version or block size: every one refused, with a message naming the problem), an image
// changed after verification, and restores into Pools in test shm segments (merge, replace,
// conflicts, smaller pools, pin budget, hard links).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/pool_restore.h"
#include "core/snapshot_format.h"
#include "core/xattr_rules.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::idOf;
using test::kBlock;
using test::nameSet;
using test::pattern;
using test::putEntry;
using test::sameBytes;

struct Item {
    SnapshotRecord rec;
    std::string data;
};

SnapshotRecord dirRecord(std::string path, uint32_t mode = 0755) {
    SnapshotRecord r;
    r.kind = SnapshotKind::Directory;
    r.path = std::move(path);
    r.mode = 0040000 | mode;
    r.uid = 1000;
    r.gid = 1001;
    r.atime_ns = 1700000000123456789;
    r.mtime_ns = 1700000001000000007;
    r.ctime_ns = 1700000002000000000;
    return r;
}

Item entryItem(std::string path, std::string data, uint32_t mode = 0644) {
    Item it;
    it.rec.kind = SnapshotKind::Entry;
    it.rec.path = std::move(path);
    it.rec.mode = 0100000 | mode;
    it.rec.uid = 1000;
    it.rec.gid = 1001;
    it.rec.atime_ns = 1700000003000000001;
    it.rec.mtime_ns = 1700000004000000002;
    it.rec.ctime_ns = 1700000005000000003;
    it.rec.btime_ns = 1700000000000000004;
    it.rec.data_len = data.size();
    it.data = std::move(data);
    return it;
}

SnapshotHeader header(uint32_t block_size = kBlock) {
    SnapshotHeader h;
    h.block_size = block_size;
    h.pool = "testpool";
    h.policy = "lru";
    h.created_ns = 1700000009000000000;
    h.capacity_bytes = 64ull << 20;
    return h;
}

// A tree with every kind of record and field: nested directories (one read-only, one with
// attributes), empty, small, block-sized and multi-MiB entries, kvcache metadata, other user.*
// attributes and a hard link.
std::vector<Item> sampleItems() {
    std::vector<Item> items;
    items.push_back({dirRecord(""), ""});
    items.push_back({dirRecord("d"), ""});
    items.back().rec.xattrs = {{"user.owner", "team-a"}};
    items.push_back({dirRecord("d/ro", 0555), ""});
    items.push_back(entryItem("empty", ""));
    items.push_back(entryItem("small", "hello snapshot"));
    auto block = entryItem("blk-00a1", pattern(1, kBlock));
    block.rec.priority = -7;
    block.rec.layer = 3;
    block.rec.seq_len = 4096;
    block.rec.access_count = 42;
    block.rec.xattrs = {{"user.engine", "vllm"}, {"user.model", std::string(300, 'm')}};
    items.push_back(block);
    auto child = entryItem("blk-00a2", pattern(2, 3 * kBlock + 17));
    child.rec.parent = "blk-00a1";
    child.rec.pinned = true;
    items.push_back(child);
    auto ttl = entryItem("d/pinned-ttl", pattern(3, 100));
    ttl.rec.pinned = true;
    ttl.rec.pin_ttl_s = 3600;
    items.push_back(ttl);
    items.push_back(entryItem("d/ro/big", pattern(4, 3 * 1024 * 1024 + 5), 0400));
    Item link;
    link.rec = items[4].rec;
    link.rec.kind = SnapshotKind::Link;
    link.rec.path = "d/small-link";
    link.rec.link_target = "small";
    link.rec.data_len = 0;
    items.push_back(link);
    return items;
}

class SnapshotTest : public test::PoolFixture {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/kvcsnaptest.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        dir_ = tmpl;
    }
    void TearDown() override {
        for (const auto& f : files_) unlink(f.c_str());
        rmdir(dir_.c_str());
        PoolFixture::TearDown();
    }

    std::string newFile() {
        files_.push_back(dir_ + "/image" + std::to_string(files_.size()) + ".kvs");
        return files_.back();
    }

    // Writes an image of `items`; fails the test if the writer refuses anything.
    std::string writeImage(const std::vector<Item>& items, const SnapshotHeader& h = header()) {
        const std::string path = newFile();
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        auto w = SnapshotWriter::start(fd, path, h);
        EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().message);
        if (!w.ok()) return path;
        for (const Item& it : items) {
            auto st = (*w)->beginRecord(it.rec);
            EXPECT_TRUE(st.ok()) << it.rec.path << ": " << (st.ok() ? "" : st.error().message);
            // Data in uneven pieces, to cross the writer's buffer boundaries.
            for (size_t off = 0; off < it.data.size();) {
                const size_t n = std::min<size_t>(it.data.size() - off, 300000);
                EXPECT_TRUE((*w)->appendData(it.data.data() + off, n).ok());
                off += n;
            }
            auto end = (*w)->endRecord();
            EXPECT_TRUE(end.ok()) << it.rec.path << ": " << (end.ok() ? "" : end.error().message);
        }
        auto fin = (*w)->finish();
        EXPECT_TRUE(fin.ok()) << (fin.ok() ? "" : fin.error().message);
        close(fd);
        return path;
    }

    static std::string slurp(const std::string& path) {
        std::string out;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        char buf[65536];
        for (ssize_t n; fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0;)
            out.append(buf, static_cast<size_t>(n));
        if (fd >= 0) close(fd);
        return out;
    }

    void spill(const std::string& path, const std::string& bytes) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(static_cast<ssize_t>(bytes.size()), write(fd, bytes.data(), bytes.size()));
        close(fd);
    }

    // The message of the refusal, or "" (and a test failure) if the image was accepted.
    std::string refusal(const std::string& path) {
        auto r = SnapshotReader::open(path);
        EXPECT_FALSE(r.ok()) << "accepted a damaged image";
        return r.ok() ? std::string() : r.error().message;
    }

    // Records and data as the reader hands them out.
    static std::vector<Item> readAll(SnapshotReader& r) {
        std::vector<Item> out;
        r.rewind();
        for (;;) {
            Item it;
            auto more = r.next(it.rec);
            EXPECT_TRUE(more.ok()) << (more.ok() ? "" : more.error().message);
            if (!more.ok() || !*more) break;
            char buf[70000];
            for (;;) {
                auto n = r.readData(buf, sizeof buf);
                EXPECT_TRUE(n.ok());
                if (!n.ok() || *n == 0) break;
                it.data.append(buf, *n);
            }
            auto st = r.checkRecord();
            EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
            out.push_back(std::move(it));
        }
        return out;
    }

    std::string dir_;
    std::vector<std::string> files_;
};

void expectSameRecord(const SnapshotRecord& a, const SnapshotRecord& b) {
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.mode, b.mode) << a.path;
    EXPECT_EQ(a.uid, b.uid);
    EXPECT_EQ(a.gid, b.gid);
    EXPECT_EQ(a.atime_ns, b.atime_ns);
    EXPECT_EQ(a.mtime_ns, b.mtime_ns);
    EXPECT_EQ(a.ctime_ns, b.ctime_ns);
    EXPECT_EQ(a.btime_ns, b.btime_ns);
    EXPECT_EQ(a.priority, b.priority);
    EXPECT_EQ(a.pinned, b.pinned);
    EXPECT_EQ(a.pin_ttl_s, b.pin_ttl_s);
    EXPECT_EQ(a.layer, b.layer);
    EXPECT_EQ(a.seq_len, b.seq_len);
    EXPECT_EQ(a.access_count, b.access_count);
    EXPECT_EQ(a.parent, b.parent);
    EXPECT_EQ(a.link_target, b.link_target);
    EXPECT_EQ(a.rdev, b.rdev);
    EXPECT_EQ(a.xattrs, b.xattrs) << a.path;
    EXPECT_EQ(a.data_len, b.data_len);
}

// --- format -------------------------------------------------------------------------------

TEST_F(SnapshotTest, RoundTripKeepsEveryFieldAndByte) {
    const auto items = sampleItems();
    const std::string path = writeImage(items);
    auto r = SnapshotReader::open(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    const SnapshotHeader& h = (*r)->header();
    EXPECT_EQ(kSnapshotFormatVersion, h.version);
    EXPECT_EQ(kBlock, h.block_size);
    EXPECT_EQ("testpool", h.pool);
    EXPECT_EQ("lru", h.policy);
    EXPECT_EQ(1700000009000000000, h.created_ns);
    EXPECT_EQ(64ull << 20, h.capacity_bytes);
    const SnapshotSummary& s = (*r)->summary();
    EXPECT_EQ(items.size(), s.records);
    EXPECT_EQ(2u, s.directories);
    EXPECT_EQ(6u, s.entries);
    EXPECT_EQ(1u, s.links);
    uint64_t bytes = 0;
    for (const Item& it : items) bytes += it.data.size();
    EXPECT_EQ(bytes, s.data_bytes);
    EXPECT_EQ(3u * 1024 * 1024 + 5, s.largest_entry);
    struct stat st {};
    ASSERT_EQ(0, stat(path.c_str(), &st));
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), s.file_bytes);
    // Only the entries' bytes are stored, plus a little framing and metadata per record.
    EXPECT_LT(s.file_bytes, bytes + items.size() * 1024);

    const auto got = readAll(**r);
    ASSERT_EQ(items.size(), got.size());
    for (size_t i = 0; i < items.size(); ++i) {
        expectSameRecord(items[i].rec, got[i].rec);
        EXPECT_TRUE(sameBytes(got[i].data, items[i].data)) << items[i].rec.path;
    }
    // A second pass reads the same.
    EXPECT_EQ(items.size(), readAll(**r).size());
}

TEST_F(SnapshotTest, SkippingDataStillHandsOutEveryRecord) {
    const std::string path = writeImage(sampleItems());
    auto r = SnapshotReader::open(path);
    ASSERT_TRUE(r.ok());
    SnapshotRecord rec;
    std::vector<std::string> paths;
    for (;;) {
        auto more = (*r)->next(rec);
        ASSERT_TRUE(more.ok());
        if (!*more) break;
        paths.push_back(rec.path);
    }
    EXPECT_EQ(sampleItems().size(), paths.size());
}

TEST_F(SnapshotTest, AbandonedRecordsLeaveNoTrace) {
    const std::string path = newFile();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    auto w = SnapshotWriter::start(fd, path, header());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->beginRecord(dirRecord("")).ok());
    ASSERT_TRUE((*w)->endRecord().ok());
    // A small record still in the buffer, and a large one already partly in the file.
    for (size_t size : {size_t{100}, size_t{5} << 20}) {
        Item torn = entryItem("torn", pattern(9, size));
        ASSERT_TRUE((*w)->beginRecord(torn.rec).ok());
        ASSERT_TRUE((*w)->appendData(torn.data.data(), torn.data.size() / 2).ok());
        ASSERT_TRUE((*w)->abandonRecord().ok());
    }
    Item kept = entryItem("torn", pattern(10, 5000));  // the same path may be written again
    ASSERT_TRUE((*w)->beginRecord(kept.rec).ok());
    ASSERT_TRUE((*w)->appendData(kept.data.data(), kept.data.size()).ok());
    ASSERT_TRUE((*w)->endRecord().ok());
    ASSERT_TRUE((*w)->finish().ok());
    close(fd);

    auto r = SnapshotReader::open(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    const auto got = readAll(**r);
    ASSERT_EQ(2u, got.size());
    EXPECT_TRUE(sameBytes(got[1].data, kept.data));
    struct stat st {};
    ASSERT_EQ(0, stat(path.c_str(), &st));
    EXPECT_LT(st.st_size, 8000);
}

TEST_F(SnapshotTest, WriterRefusesWhatAReaderWouldRefuse) {
    const std::string path = newFile();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    SnapshotHeader bad = header();
    bad.block_size = 3000;
    EXPECT_EQ(EINVAL, SnapshotWriter::start(fd, path, bad).code());
    bad = header();
    bad.pool = ".hidden";
    EXPECT_EQ(EINVAL, SnapshotWriter::start(fd, path, bad).code());

    auto w = SnapshotWriter::start(fd, path, header());
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(entryItem("a", "x").rec).code()) << "before the root";
    ASSERT_TRUE((*w)->beginRecord(dirRecord("")).ok());
    ASSERT_TRUE((*w)->endRecord().ok());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(entryItem("nodir/a", "x").rec).code());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(entryItem("a//b", "x").rec).code());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(entryItem("..", "x").rec).code());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(dirRecord("")).code()) << "a second root";
    Item kv = entryItem("a", "x");
    kv.rec.xattrs = {{"user.kvcache.priority", "1"}};
    EXPECT_EQ(EINVAL, (*w)->beginRecord(kv.rec).code()) << "kvcache attributes are fields";
    kv.rec.xattrs = {{"user.b", "1"}, {"user.a", "2"}};
    EXPECT_EQ(EINVAL, (*w)->beginRecord(kv.rec).code()) << "attributes out of order";
    kv.rec.xattrs = {{"trusted.a", "1"}};
    EXPECT_EQ(EINVAL, (*w)->beginRecord(kv.rec).code());
    Item link;
    link.rec = entryItem("l", "").rec;
    link.rec.kind = SnapshotKind::Link;
    link.rec.link_target = "missing";
    EXPECT_EQ(EINVAL, (*w)->beginRecord(link.rec).code());

    Item a = entryItem("a", "abc");
    ASSERT_TRUE((*w)->beginRecord(a.rec).ok());
    EXPECT_EQ(EINVAL, (*w)->appendData("abcd", 4).code()) << "more than declared";
    ASSERT_TRUE((*w)->appendData("ab", 2).ok());
    EXPECT_EQ(EINVAL, (*w)->endRecord().code()) << "less than declared";
    ASSERT_TRUE((*w)->appendData("c", 1).ok());
    ASSERT_TRUE((*w)->endRecord().ok());
    EXPECT_EQ(EINVAL, (*w)->beginRecord(entryItem("a", "").rec).code()) << "a path twice";
    ASSERT_TRUE((*w)->finish().ok());
    close(fd);
    EXPECT_TRUE(SnapshotReader::open(path).ok());
}

// --- damaged images -----------------------------------------------------------------------

// A smaller image for the many damage trials: the same kinds of record, small entries.
std::vector<Item> smallItems() {
    std::vector<Item> items = sampleItems();
    for (Item& it : items)
        if (it.data.size() > 20000) {
            it.data.resize(20000);
            it.rec.data_len = it.data.size();
        }
    return items;
}

TEST_F(SnapshotTest, EveryFlippedByteIsRefused) {
    const std::string good = slurp(writeImage(smallItems()));
    ASSERT_TRUE(SnapshotReader::open(files_.back()).ok());
    const std::string path = newFile();
    std::mt19937_64 rng(20261128);
    // Half the trials anywhere, half in the first and last 300 bytes, where the header, the
    // first records' framing and metadata, and the trailer are.
    for (int trial = 0; trial < 1500; ++trial) {
        size_t at;
        if (trial % 2 == 0) {
            at = rng() % good.size();
        } else {
            const size_t k = rng() % 600;
            at = k < 300 ? k : good.size() - (k - 300) - 1;
        }
        std::string bad = good;
        bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
        spill(path, bad);
        auto r = SnapshotReader::open(path);
        ASSERT_FALSE(r.ok()) << "a flip at byte " << at << " of " << good.size()
                             << " was accepted (trial " << trial << ")";
        EXPECT_NE(std::string::npos, r.error().message.find(path)) << r.error().message;
    }
}

TEST_F(SnapshotTest, EveryTruncationIsRefusedAndSaysWhere) {
    const std::string good = slurp(writeImage(smallItems()));
    const std::string path = newFile();
    std::mt19937_64 rng(1128);
    std::vector<size_t> lengths = {0,
                                   1,
                                   7,
                                   8,
                                   15,
                                   16,
                                   17,
                                   good.size() - 1,
                                   good.size() - 8,
                                   good.size() - 39,
                                   good.size() - 40,
                                   good.size() - 41};
    for (int i = 0; i < 400; ++i) lengths.push_back(rng() % good.size());
    for (size_t len : lengths) {
        spill(path, good.substr(0, len));
        const std::string msg = refusal(path);
        if (len == 0)
            EXPECT_NE(std::string::npos, msg.find("empty file")) << msg;
        else
            EXPECT_NE(std::string::npos, msg.find("truncated at byte " + std::to_string(len)))
                << "length " << len << ": " << msg;
    }
    // Extra bytes after the trailer are refused too.
    spill(path, good + "x");
    EXPECT_NE(std::string::npos, refusal(path).find("follow the trailer"));
}

TEST_F(SnapshotTest, ChecksumFailureNamesTheRecord) {
    const auto items = smallItems();
    std::string bytes = slurp(writeImage(items));
    // The last byte of "small"'s data: record 5.
    const size_t at = bytes.find("hello snapshot") + 13;
    ASSERT_NE(std::string::npos, bytes.find("hello snapshot"));
    bytes[at] = 'X';
    const std::string path = newFile();
    spill(path, bytes);
    const std::string msg = refusal(path);
    EXPECT_NE(std::string::npos, msg.find("snapshot " + path + ": record 5 at byte ")) << msg;
    EXPECT_NE(std::string::npos, msg.find("fails its checksum")) << msg;
}

// Rewrites the header's version field and its checksum, as a future writer would.
std::string withVersion(std::string bytes, uint32_t version) {
    for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<char>((version >> (8 * i)) & 0xff);
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
        len |= uint32_t{static_cast<unsigned char>(bytes[12 + i])} << (8 * i);
    const uint64_t sum = XXH3_64bits(bytes.data(), len - 8);
    for (int i = 0; i < 8; ++i) bytes[len - 8 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
    return bytes;
}

TEST_F(SnapshotTest, WrongMagicAndVersionAreRefusedByName) {
    const std::string good = slurp(writeImage(smallItems()));
    const std::string path = newFile();
    std::string bad = good;
    bad[0] = 'X';
    spill(path, bad);
    EXPECT_NE(std::string::npos, refusal(path).find("not a kvcachefs snapshot (bad magic)"));
    spill(path, "plain text that happens to be long enough to be a header\n");
    EXPECT_NE(std::string::npos, refusal(path).find("bad magic"));

    spill(path, withVersion(good, 7));
    EXPECT_NE(std::string::npos, refusal(path).find("format version 7, this build reads 1 to 2"));
    spill(path, withVersion(good, 0));
    EXPECT_NE(std::string::npos, refusal(path).find("format version 0, this build reads 1 to 2"));
    // A future version whose header is longer than this version's is still named.
    {
        std::string future(8, '\0');
        std::memcpy(future.data(), good.data(), 8);
        const uint32_t version = 3, len = 300;
        for (uint32_t v : {version, len})
            for (int i = 0; i < 4; ++i) future.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
        future.resize(len - 8, 'f');
        const uint64_t sum = XXH3_64bits(future.data(), future.size());
        for (int i = 0; i < 8; ++i) future.push_back(static_cast<char>((sum >> (8 * i)) & 0xff));
        future += "whatever a version 3 image holds after its header";
        spill(path, future);
        EXPECT_NE(std::string::npos,
                  refusal(path).find("format version 3, this build reads 1 to 2"));
    }
    // A version changed without its checksum is damage, not a version.
    bad = good;
    bad[8] = 3;
    spill(path, bad);
    EXPECT_NE(std::string::npos, refusal(path).find("header fails its checksum"));
    // The untouched image still reads: the helper itself is right.
    spill(path, withVersion(good, kSnapshotFormatVersion));
    EXPECT_TRUE(SnapshotReader::open(path).ok());
}

TEST_F(SnapshotTest, ReorderedOrMissingRecordsAreRefused) {
    // Two images that differ in one record: swapping a whole valid record for another keeps
    // every record checksum right; the image checksum catches it.
    auto items = smallItems();
    const std::string a = slurp(writeImage(items));
    items[4].data = "HELLO SNAPSHOT";  // same length, other bytes
    const std::string b = slurp(writeImage(items));
    ASSERT_EQ(a.size(), b.size());
    const size_t from = a.find("hello snapshot") - 200, to = from + 400;
    std::string mixed = a.substr(0, from) + b.substr(from, to - from) + a.substr(to);
    const std::string path = newFile();
    spill(path, mixed);
    EXPECT_NE(std::string::npos, refusal(path).find("image checksum")) << refusal(path);
}

TEST_F(SnapshotTest, ImageChangedAfterVerificationIsCaughtBeforeUse) {
    const std::string path = writeImage(sampleItems());
    auto r = SnapshotReader::open(path);
    ASSERT_TRUE(r.ok());
    const std::string bytes = slurp(path);
    const size_t at = bytes.find("hello snapshot");
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_EQ(1, pwrite(fd, "J", 1, static_cast<off_t>(at)));
    close(fd);
    auto pool = makePool(4096);
    ASSERT_TRUE(pool);
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_FALSE(rep.ok());
    EXPECT_NE(std::string::npos, rep.error().message.find("changed since it was verified"))
        << rep.error().message;
    // The entry being written when it was caught is not visible, not even under its temporary
    // name; what was restored before it is whole.
    EXPECT_EQ(0u, idOf(*pool, kPoolRootId, "small"));
    for (const std::string& n : nameSet(*pool, kPoolRootId))
        EXPECT_EQ(std::string::npos, n.find(".kvcrestore")) << n;
    EXPECT_NE(0u, idOf(*pool, kPoolRootId, "empty"));
}

// --- restoreIntoPool ------------------------------------------------------------------------

// Resolves a pool-relative path by readdir (no lookups), 0 if absent.
EntryId resolve(Pool& pool, const std::string& path) {
    EntryId cur = kPoolRootId;
    size_t start = 0;
    while (cur && start <= path.size()) {
        const size_t slash = path.find('/', start);
        cur = idOf(pool, cur, path.substr(start, slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return cur;
}

std::map<std::string, std::string> userXattrs(Pool& pool, EntryId id) {
    std::map<std::string, std::string> out;
    auto names = pool.listxattr(id);
    EXPECT_TRUE(names.ok());
    if (!names.ok()) return out;
    // Defaults and read-only attributes are not listed: read them by name.
    for (const char* n : {"user.kvcache.priority", "user.kvcache.pinned", "user.kvcache.committed"})
        names->push_back(n);
    for (const auto& n : *names) {
        auto v = pool.getxattr(id, n);
        if (v.ok()) out[n] = *v;
    }
    return out;
}

// The pool holds exactly what the items describe (paths, kinds, bytes, metadata).
void expectPoolHolds(Pool& pool, const std::vector<Item>& items) {
    std::set<std::string> want;
    for (const Item& it : items) {
        if (it.rec.path.empty()) continue;
        want.insert(it.rec.path);
        const EntryId id = resolve(pool, it.rec.path);
        ASSERT_NE(0u, id) << it.rec.path << " is missing";
        auto a = pool.getattr(id);
        ASSERT_TRUE(a.ok());
        EXPECT_EQ(it.rec.mode, a->mode) << it.rec.path;
        EXPECT_EQ(it.rec.uid, a->uid) << it.rec.path;
        EXPECT_EQ(it.rec.gid, a->gid) << it.rec.path;
        EXPECT_EQ(it.rec.mtime_ns, a->mtime_ns) << it.rec.path;
        const auto x = userXattrs(pool, id);
        for (const auto& [k, v] : it.rec.xattrs) EXPECT_EQ(v, x.count(k) ? x.at(k) : "<unset>");
        if (it.rec.kind == SnapshotKind::Directory) continue;
        if (it.rec.kind == SnapshotKind::Link) {
            EXPECT_EQ(resolve(pool, it.rec.link_target), id) << it.rec.path << " is not a link";
            continue;
        }
        EXPECT_EQ(it.rec.atime_ns, a->atime_ns) << it.rec.path;
        EXPECT_TRUE(sameBytes(getEntry(pool, id), it.data)) << it.rec.path;
        EXPECT_EQ(it.rec.parent, x.count("user.kvcache.parent") ? x.at("user.kvcache.parent") : "");
        EXPECT_EQ(std::to_string(it.rec.priority), x.at("user.kvcache.priority"));
        EXPECT_EQ(it.rec.pinned ? "1" : "0", x.at("user.kvcache.pinned")) << it.rec.path;
        if (it.rec.pin_ttl_s > 0) {
            ASSERT_TRUE(x.count("user.kvcache.pin_ttl")) << it.rec.path;
            const long left = std::strtol(x.at("user.kvcache.pin_ttl").c_str(), nullptr, 10);
            EXPECT_LE(left, it.rec.pin_ttl_s);
            EXPECT_GE(left, it.rec.pin_ttl_s - 60);
        }
        if (it.rec.layer >= 0) {
            EXPECT_EQ(std::to_string(it.rec.layer), x.at("user.kvcache.layer"));
        }
        if (it.rec.seq_len >= 0) {
            EXPECT_EQ(std::to_string(it.rec.seq_len), x.at("user.kvcache.seq_len"));
        }
        EXPECT_EQ("1", x.at("user.kvcache.committed")) << it.rec.path;
    }
    // Nothing else, and no temporary names left.
    std::function<void(EntryId, const std::string&)> walk = [&](EntryId dir,
                                                                const std::string& prefix) {
        for (const std::string& n : test::listNames(pool, dir)) {
            const std::string p = prefix.empty() ? n : prefix + "/" + n;
            EXPECT_TRUE(want.count(p)) << "unexpected " << p;
            const EntryId id = idOf(pool, dir, n);
            auto a = pool.getattr(id);
            if (a.ok() && (a->mode & 0170000) == 0040000) walk(id, p);
        }
    };
    walk(kPoolRootId, "");
}

TEST_F(SnapshotTest, RestoreIntoPoolRoundTrip) {
    const auto items = sampleItems();
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    auto pool = makePool(4096);  // 16 MiB
    ASSERT_TRUE(pool);
    uint64_t progress = 0;
    PoolRestoreOptions o;
    o.restore.progress = [&](uint64_t done) { progress = done; };
    auto rep = restoreIntoPool(*pool, **r, o);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(2u, rep->directories);
    EXPECT_EQ(6u, rep->entries);
    EXPECT_EQ(1u, rep->links);
    EXPECT_EQ((*r)->summary().data_bytes, rep->bytes);
    EXPECT_EQ(rep->bytes, progress);
    EXPECT_TRUE(rep->warnings.empty());
    expectPoolHolds(*pool, items);
    auto link = pool->getattr(resolve(*pool, "small"));
    EXPECT_EQ(2u, link->nlink);
    // The chain parent is protected by its restored child, like the original.
    EXPECT_NO_THROW(pool->verify());
    // Restoring the same image again (merge) changes nothing visible.
    auto again = restoreIntoPool(*pool, **r, o);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(7u, again->replaced);
    expectPoolHolds(*pool, items);
    EXPECT_NO_THROW(pool->verify());
}

TEST_F(SnapshotTest, MergeReplacesSameNamesAndKeepsTheRest) {
    auto pool = makePool(256);
    ASSERT_TRUE(pool);
    putEntry(*pool, kPoolRootId, "a", "old bytes of a");
    putEntry(*pool, kPoolRootId, "keep", "kept");
    std::vector<Item> items = {{dirRecord(""), ""}, entryItem("a", "new a"), entryItem("b", "b")};
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(1u, rep->replaced);
    EXPECT_EQ((std::set<std::string>{"a", "b", "keep"}), nameSet(*pool, kPoolRootId));
    EXPECT_EQ("new a", getEntry(*pool, idOf(*pool, kPoolRootId, "a")));
    EXPECT_EQ("kept", getEntry(*pool, idOf(*pool, kPoolRootId, "keep")));
}

TEST_F(SnapshotTest, ReplaceEmptiesThePoolFirst) {
    auto pool = makePool(4096);
    ASSERT_TRUE(pool);
    putEntry(*pool, kPoolRootId, "a", "old");
    auto d = pool->mkdir(kPoolRootId, "olddir", 0755, 0, 0);
    ASSERT_TRUE(d.ok());
    pool->forget(d->id, 1);
    putEntry(*pool, d->id, "inner", "x");
    const auto items = sampleItems();
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    PoolRestoreOptions o;
    o.restore.replace = true;
    auto rep = restoreIntoPool(*pool, **r, o);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(2u, rep->removed);
    expectPoolHolds(*pool, items);
}

TEST_F(SnapshotTest, RefusalsChangeNothing) {
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    putEntry(*pool, kPoolRootId, "e", "entry");
    auto d = pool->mkdir(kPoolRootId, "dir", 0755, 0, 0);
    ASSERT_TRUE(d.ok());
    pool->forget(d->id, 1);
    const auto before = nameSet(*pool, kPoolRootId);

    auto refused = [&](const std::vector<Item>& items, const SnapshotHeader& h, bool replace,
                       const std::string& want) {
        auto r = SnapshotReader::open(writeImage(items, h));
        ASSERT_TRUE(r.ok());
        PoolRestoreOptions o;
        o.restore.replace = replace;
        auto rep = restoreIntoPool(*pool, **r, o);
        ASSERT_FALSE(rep.ok());
        EXPECT_NE(std::string::npos, rep.error().message.find(want)) << rep.error().message;
        EXPECT_EQ(before, nameSet(*pool, kPoolRootId));
        EXPECT_EQ("entry", getEntry(*pool, idOf(*pool, kPoolRootId, "e")));
    };
    const std::vector<Item> plain = {{dirRecord(""), ""}, entryItem("new", "n")};
    // Wrong block size, even with --replace.
    refused(plain, header(8192), true, "block size 8192, pool has 4096");
    // An entry larger than the whole pool.
    refused({{dirRecord(""), ""}, entryItem("huge", pattern(5, 65 * kBlock))}, header(), true,
            "entry huge needs 266240 bytes, more than the capacity");
    // Merge conflicts: an entry where the pool has a directory, and the other way round.
    refused({{dirRecord(""), ""}, entryItem("new", "n"), entryItem("dir", "x")}, header(), false,
            "pool testpool: dir is a directory in the pool but an entry in the image");
    refused({{dirRecord(""), ""}, {dirRecord("e"), ""}}, header(), false,
            "e is an entry in the pool but a directory in the image");
}

// An entry larger than the pool whose blocks are zeros but one needs one block: the verifier
// counts its room, and the restore leaves the zeros as holes.
TEST_F(SnapshotTest, SparseEntriesLargerThanThePoolRestoreAsHoles) {
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    std::string sparse(200 * kBlock + 3, '\0');
    sparse[150 * kBlock + 7] = 's';
    const std::string tail = std::string(kBlock, '\0') + "t";  // a partial last block
    auto r = SnapshotReader::open(writeImage(
        {{dirRecord(""), ""}, entryItem("sparse", sparse), entryItem("tail", tail)}, header()));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(sparse.size(), (*r)->summary().largest_entry);
    EXPECT_EQ(uint64_t{kBlock}, (*r)->summary().largest_room);
    EXPECT_EQ(2 * uint64_t{kBlock}, (*r)->summary().data_room);
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    const EntryId id = idOf(*pool, kPoolRootId, "sparse");
    EXPECT_EQ(pool->getattr(id)->blocks512, kBlock / 512);
    EXPECT_TRUE(sameBytes(getEntry(*pool, id), sparse));
    const EntryId t = idOf(*pool, kPoolRootId, "tail");
    EXPECT_EQ(pool->getattr(t)->blocks512, kBlock / 512);
    EXPECT_TRUE(sameBytes(getEntry(*pool, t), tail));
    pool->verify();
}

TEST_F(SnapshotTest, ImagesWhoseChainsLoopAreRefusedAndChangeNothing) {
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    putEntry(*pool, kPoolRootId, "e", "entry");
    const auto before = nameSet(*pool, kPoolRootId);
    auto withParent = [](std::string path, std::string parent) {
        Item it = entryItem(std::move(path), "kv");
        it.rec.parent = std::move(parent);
        return it;
    };
    Item link;
    link.rec = withParent("x", "y").rec;
    link.rec.kind = SnapshotKind::Link;
    link.rec.path = "y";
    link.rec.link_target = "x";
    link.rec.data_len = 0;
    const std::vector<std::vector<Item>> loops = {
        {{dirRecord(""), ""}, withParent("a", "b"), withParent("b", "a")},
        {{dirRecord(""), ""}, withParent("s", "s")},
        {{dirRecord(""), ""}, withParent("x", "y"), link},  // x's parent is x, by its link
        {{dirRecord(""), ""},
         {dirRecord("d"), ""},
         withParent("d/a", "c"),
         withParent("c", "b"),
         withParent("b", "d/a"),
         withParent("tail", "c")},
    };
    for (const auto& items : loops) {
        auto r = SnapshotReader::open(writeImage(items));
        ASSERT_FALSE(r.ok()) << items[1].rec.path;
        EXPECT_EQ(EBADMSG, r.code());
        EXPECT_NE(std::string::npos, r.error().message.find("make a loop")) << r.error().message;
        EXPECT_EQ(before, nameSet(*pool, kPoolRootId));
    }
    // Chains that end, at an entry, a directory or a path the image lacks, are restored whole.
    auto r = SnapshotReader::open(writeImage({{dirRecord(""), ""},
                                              {dirRecord("d"), ""},
                                              withParent("a", "b"),
                                              withParent("b", "c"),
                                              withParent("c", "d"),
                                              withParent("d/x", "a"),
                                              withParent("d/y", "d/x")}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_TRUE(restoreIntoPool(*pool, **r, {}).ok());
    EXPECT_EQ((std::set<std::string>{"a", "b", "c", "d", "e"}), nameSet(*pool, kPoolRootId));
    auto parent = pool->getxattr(idOf(*pool, kPoolRootId, "a"), "user.kvcache.parent");
    EXPECT_EQ("b", parent.ok() ? *parent : parent.error().message);
}

// Everything a restore would be refused by the pool (a control file's name at the top, an
// attribute value setxattr refuses) is refused by the verifier, so nothing of such an image is
// restored: each bad record comes after a good one that a half-done restore would leave behind.
// So is a parent the pool would store otherwise ("s\n" is stored as "s": a loop the chain check
// of the image cannot see, which the restore's rename then silently breaks).
TEST_F(SnapshotTest, ImagesAPoolWouldRefuseInPartAreRefusedWhole) {
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    putEntry(*pool, kPoolRootId, "e", "entry");
    const auto before = nameSet(*pool, kPoolRootId);
    auto good = entryItem("good", "kv");
    auto pinnedFor = [](int64_t seconds) {
        Item it = entryItem("pinned", "kv");
        it.rec.pinned = true;
        it.rec.pin_ttl_s = seconds;
        return it;
    };
    auto withParent = [](std::string path, std::string parent) {
        Item it = entryItem(std::move(path), "kv");
        it.rec.parent = std::move(parent);
        return it;
    };
    Item link;
    link.rec = good.rec;
    link.rec.kind = SnapshotKind::Link;
    link.rec.path = ".match";
    link.rec.link_target = "good";
    link.rec.data_len = 0;
    const std::vector<std::pair<std::string, std::vector<Item>>> refused = {
        {"control file", {{dirRecord(""), ""}, good, entryItem(".policy", "lru")}},
        {"control file", {{dirRecord(""), ""}, good, {dirRecord(".stats"), ""}}},
        {"control file", {{dirRecord(""), ""}, good, link}},
        {"user.kvcache.pin_ttl", {{dirRecord(""), ""}, good, pinnedFor(kMaxPinTtlSeconds + 1)}},
        {"user.kvcache.parent", {{dirRecord(""), ""}, good, withParent("s", "s\n")}},
    };
    for (const auto& [want, items] : refused) {
        auto r = SnapshotReader::open(writeImage(items));
        EXPECT_FALSE(r.ok()) << want;
        if (r.ok()) {
            // What the restore then does: part of the image, or a name no one can reach.
            auto rep = restoreIntoPool(*pool, **r, {});
            ADD_FAILURE() << want << ": restore " << (rep.ok() ? "ok" : rep.error().message)
                          << "; pool now holds " << nameSet(*pool, kPoolRootId).size();
            continue;
        }
        EXPECT_EQ(EBADMSG, r.code());
        EXPECT_NE(std::string::npos, r.error().message.find(want)) << r.error().message;
        EXPECT_EQ(before, nameSet(*pool, kPoolRootId));
    }
    // Control files' names below the top, and the longest pin, are fine.
    auto r = SnapshotReader::open(writeImage({{dirRecord(""), ""},
                                              {dirRecord("d"), ""},
                                              entryItem("d/.policy", "x"),
                                              pinnedFor(kMaxPinTtlSeconds)}));
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto rep = restoreIntoPool(*pool, **r, {});
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ((std::set<std::string>{"d", "e", "pinned"}), nameSet(*pool, kPoolRootId));
    EXPECT_NO_THROW(pool->verify());
}

// The pool keeps its control files' names at the top whatever the front end: no entry,
// directory, link or rename takes them there (they would be unreachable through a mount).
TEST_F(SnapshotTest, ControlFileNamesAreRefusedAtThePoolsTop) {
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    const EntryId e = putEntry(*pool, kPoolRootId, "e", "entry");
    for (const char* name : {".stats", ".policy", ".evict", ".size", ".match"}) {
        EXPECT_EQ(EEXIST, pool->create(kPoolRootId, name, 0644, 0, 0, IfExists::Fail).code())
            << name;
        EXPECT_EQ(EEXIST, pool->mkdir(kPoolRootId, name, 0755, 0, 0).code()) << name;
        EXPECT_EQ(EEXIST, pool->link(e, kPoolRootId, name).code()) << name;
        EXPECT_EQ(EEXIST, pool->rename(kPoolRootId, "e", kPoolRootId, name, 0).code()) << name;
        EntryImage img;
        img.path = std::string(name) + "/x";
        img.mode = 0100644;
        EXPECT_EQ(EEXIST, pool->importEntry(img).code()) << name;
    }
    EXPECT_EQ((std::set<std::string>{"e"}), nameSet(*pool, kPoolRootId));
    auto d = pool->mkdir(kPoolRootId, "d", 0755, 0, 0);
    ASSERT_TRUE(d.ok());
    pool->forget(d->id, 1);
    auto made = pool->create(d->id, ".policy", 0644, 0, 0, IfExists::Fail);
    ASSERT_TRUE(made.ok()) << "only the top is reserved";
    pool->release(made->id, Access::Write);
    pool->forget(made->id, 1);
    EXPECT_NO_THROW(pool->verify());
}

TEST_F(SnapshotTest, SmallerPoolEvictsByPolicyAndWarns) {
    // 40 entries of 4 blocks into a pool of 32 blocks: the oldest restored go first (LRU).
    std::vector<Item> items = {{dirRecord(""), ""}};
    for (int i = 0; i < 40; ++i)
        items.push_back(entryItem("e" + std::to_string(100 + i), pattern(i, 4 * kBlock)));
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    auto pool = makePool(32);
    ASSERT_TRUE(pool);
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(40u, rep->entries);
    ASSERT_EQ(1u, rep->warnings.size());
    EXPECT_NE(std::string::npos, rep->warnings[0].find("evicts")) << rep->warnings[0];
    const auto names = nameSet(*pool, kPoolRootId);
    EXPECT_LE(names.size(), 8u);
    EXPECT_GE(names.size(), 7u);
    for (int i = 33; i < 40; ++i) {
        const std::string n = "e" + std::to_string(100 + i);
        ASSERT_TRUE(names.count(n)) << n << " (restored late) was evicted";
        EXPECT_TRUE(sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, n)), items[i + 1].data));
    }
    EXPECT_NO_THROW(pool->verify());
}

TEST_F(SnapshotTest, PinsBeyondThePinBudgetAreRestoredUnpinned) {
    std::vector<Item> items = {{dirRecord(""), ""}};
    for (int i = 0; i < 3; ++i) {
        items.push_back(entryItem("p" + std::to_string(i), pattern(i, 2 * kBlock)));
        items.back().rec.pinned = true;
    }
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    auto pool = makePool(64, "lru", 5 * kBlock);  // room to pin two of them
    ASSERT_TRUE(pool);
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    ASSERT_EQ(1u, rep->warnings.size());
    EXPECT_NE(std::string::npos, rep->warnings[0].find("p2: restored unpinned"));
    EXPECT_EQ("1", *pool->getxattr(idOf(*pool, kPoolRootId, "p0"), "user.kvcache.pinned"));
    EXPECT_EQ("0", *pool->getxattr(idOf(*pool, kPoolRootId, "p2"), "user.kvcache.pinned"));
    EXPECT_TRUE(sameBytes(getEntry(*pool, idOf(*pool, kPoolRootId, "p2")), items[3].data));
}

TEST_F(SnapshotTest, CreatedPoolTakesTheImagesRootModeAndOwner) {
    std::vector<Item> items = {{dirRecord("", 0750), ""}, entryItem("a", "a")};
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok());
    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    PoolRestoreOptions o;
    o.created_pool = true;
    ASSERT_TRUE(restoreIntoPool(*pool, **r, o).ok());
    auto a = pool->getattr(kPoolRootId);
    EXPECT_EQ(0040750u, a->mode);
    EXPECT_EQ(1000u, a->uid);
    // An existing pool keeps its own.
    auto other = makePool(64);
    ASSERT_TRUE(other);
    ASSERT_TRUE(restoreIntoPool(*other, **r).ok());
    EXPECT_EQ(0040755u, other->getattr(kPoolRootId)->mode);
}

// --- symbolic links and special files (version 2) -----------------------------------------

Item nodeItem(SnapshotKind kind, std::string path, uint32_t mode, std::string target = {},
              uint64_t rdev = 0) {
    Item it;
    it.rec.kind = kind;
    it.rec.path = std::move(path);
    it.rec.mode = mode;
    it.rec.uid = 1000;
    it.rec.gid = 1001;
    it.rec.atime_ns = 1700000006000000001;
    it.rec.mtime_ns = 1700000007000000002;
    it.rec.link_target = std::move(target);
    it.rec.rdev = rdev;
    return it;
}

std::vector<Item> nodeItems() {
    std::vector<Item> items;
    items.push_back({dirRecord(""), ""});
    items.push_back({dirRecord("d"), ""});
    items.push_back(nodeItem(SnapshotKind::Symlink, "d/link", 0120777, "../f"));
    items.push_back(nodeItem(SnapshotKind::Symlink, "long", 0120777, std::string(4095, 'x')));
    items.push_back(nodeItem(SnapshotKind::Special, "fifo", 0010640));
    items.push_back(nodeItem(SnapshotKind::Special, "sock", 0140755));
    items.push_back(nodeItem(SnapshotKind::Special, "null", 0020666, {}, (1u << 8) | 3));
    items.push_back(nodeItem(SnapshotKind::Special, "d/sda", 0060660, {}, 8u << 8));
    Item second = nodeItem(SnapshotKind::Link, "d/fifo2", 0010640, "fifo");
    items.push_back(second);
    items.push_back(entryItem("f", "bytes"));
    return items;
}

TEST_F(SnapshotTest, NodeRecordsRoundTripAndRestoreIntoAPool) {
    const auto items = nodeItems();
    auto r = SnapshotReader::open(writeImage(items));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(6u, (*r)->summary().nodes);
    EXPECT_EQ(1u, (*r)->summary().links);
    const auto got = readAll(**r);
    ASSERT_EQ(items.size(), got.size());
    for (size_t i = 0; i < items.size(); ++i) expectSameRecord(items[i].rec, got[i].rec);

    auto pool = makePool(64);
    ASSERT_TRUE(pool);
    auto rep = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_EQ(6u, rep->nodes);
    EXPECT_EQ(1u, rep->links);
    for (const Item& it : items) {
        if (it.rec.kind == SnapshotKind::Directory || it.rec.kind == SnapshotKind::Entry) continue;
        SCOPED_TRACE(it.rec.path);
        auto a = pool->getattr(resolve(*pool, it.rec.path));
        ASSERT_TRUE(a.ok());
        EXPECT_EQ(a->mode, it.rec.mode);
        EXPECT_EQ(a->uid, 1000u);
        EXPECT_EQ(a->mtime_ns,
                  it.rec.kind == SnapshotKind::Link ? items[4].rec.mtime_ns : it.rec.mtime_ns);
        if (it.rec.kind == SnapshotKind::Symlink) {
            EXPECT_EQ(*pool->readlink(a->id), it.rec.link_target);
        }
        EXPECT_EQ(a->rdev, it.rec.rdev);
    }
    EXPECT_EQ(2u, pool->getattr(resolve(*pool, "fifo"))->nlink);
    EXPECT_EQ(resolve(*pool, "fifo"), resolve(*pool, "d/fifo2"));
    const PoolStats st = pool->stats();
    EXPECT_EQ(2u, st.symlinks);
    EXPECT_EQ(4u, st.special_files);
    // Merged again: every node replaced in place, nothing added.
    auto again = restoreIntoPool(*pool, **r);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(2u, pool->stats().symlinks);
    EXPECT_NO_THROW(pool->verify());
}

TEST_F(SnapshotTest, WriterAndReaderRefuseNodeRecordsAPoolCannotHold) {
    auto refused = [&](Item bad, const char* why) {
        const std::string path = newFile();
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        auto w = SnapshotWriter::start(fd, path, header());
        ASSERT_TRUE(w.ok());
        ASSERT_TRUE((*w)->beginRecord(dirRecord("")).ok());
        ASSERT_TRUE((*w)->endRecord().ok());
        auto st = (*w)->beginRecord(bad.rec);
        EXPECT_FALSE(st.ok()) << why;
        close(fd);
    };
    auto with = [](Item it, auto change) {
        change(it.rec);
        return it;
    };
    const Item link = nodeItem(SnapshotKind::Symlink, "l", 0120777, "t");
    const Item fifo = nodeItem(SnapshotKind::Special, "p", 0010644);
    refused(with(link, [](auto& r) { r.link_target.clear(); }), "empty target");
    refused(with(link, [](auto& r) { r.link_target = std::string(4096, 't'); }), "long target");
    refused(with(link, [](auto& r) { r.link_target = std::string("a\0b", 3); }), "NUL");
    refused(with(link, [](auto& r) { r.mode = 0100644; }), "symlink with a file's mode");
    refused(with(link, [](auto& r) { r.data_len = 1; }), "symlink with data");
    refused(with(link, [](auto& r) { r.xattrs = {{"user.a", "1"}}; }), "symlink attributes");
    refused(with(fifo, [](auto& r) { r.mode = 0120777; }), "special with a link's mode");
    refused(with(fifo, [](auto& r) { r.mode = 0040755; }), "special with a directory's mode");
    refused(with(fifo, [](auto& r) { r.rdev = 5; }), "FIFO with a device number");
    refused(with(fifo, [](auto& r) { r.link_target = "x"; }), "special with a target");
    refused(with(fifo, [](auto& r) { r.priority = 3; }), "special with kvcache attributes");
    refused(with(entryItem("e", ""), [](auto& r) { r.rdev = 1; }), "entry with a device");
    // A link record names an earlier entry or node, never a directory.
    const std::string path = newFile();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auto w = SnapshotWriter::start(fd, path, header());
    ASSERT_TRUE(w.ok());
    for (const SnapshotRecord& rec : {dirRecord(""), dirRecord("d")}) {
        ASSERT_TRUE((*w)->beginRecord(rec).ok());
        ASSERT_TRUE((*w)->endRecord().ok());
    }
    EXPECT_FALSE((*w)->beginRecord(nodeItem(SnapshotKind::Link, "x", 0010644, "d").rec).ok());
    close(fd);
}

// An image as a version 1 writer made it: the same records without the rdev field that ends
// every record's meta in version 2, every checksum computed again.
std::string asVersion1(const std::string& v2) {
    auto load = [&](size_t at, int bytes) {
        uint64_t v = 0;
        for (int i = 0; i < bytes; ++i)
            v |= uint64_t{static_cast<unsigned char>(v2[at + i])} << (8 * i);
        return v;
    };
    auto put = [](std::string& out, uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    const size_t header_len = load(12, 4);
    std::string out = v2.substr(0, header_len);
    out[8] = 1;
    const uint64_t head_sum = XXH3_64bits(out.data(), header_len - 8);
    out.resize(header_len - 8);
    put(out, head_sum, 8);
    std::string sums;
    put(sums, head_sum, 8);
    size_t at = header_len;
    uint64_t records = 0;
    while (v2.compare(at, 7, "KVCSEND") != 0 || v2[at + 7] != '\0') {
        const uint64_t meta_len = load(at + 8, 4), data_len = load(at + 16, 8);
        const size_t start = out.size();
        std::string head = v2.substr(at, 24);
        for (int i = 0; i < 4; ++i)
            head[8 + i] = static_cast<char>(((meta_len - 8) >> (8 * i)) & 0xff);
        out += head;
        out += v2.substr(at + 24, meta_len - 8);  // without rdev
        out += v2.substr(at + 24 + meta_len, data_len);
        const uint64_t sum = XXH3_64bits(out.data() + start, out.size() - start);
        put(out, sum, 8);
        put(sums, sum, 8);
        at += 24 + meta_len + data_len + 8;
        records++;
    }
    const size_t trailer = out.size();
    out += "KVCSEND";
    out.push_back('\0');
    put(out, records, 8);
    put(out, trailer + 40, 8);
    put(out, XXH3_64bits(sums.data(), sums.size()), 8);
    put(out, XXH3_64bits(out.data() + trailer, 32), 8);
    return out;
}

TEST_F(SnapshotTest, VersionOneImagesStillRead) {
    const auto items = sampleItems();
    const std::string path = newFile();
    spill(path, asVersion1(slurp(writeImage(items))));
    auto r = SnapshotReader::open(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(1u, (*r)->header().version);
    const auto got = readAll(**r);
    ASSERT_EQ(items.size(), got.size());
    for (size_t i = 0; i < items.size(); ++i) {
        expectSameRecord(items[i].rec, got[i].rec);
        EXPECT_TRUE(sameBytes(got[i].data, items[i].data)) << items[i].rec.path;
    }
    auto pool = makePool(4096);
    ASSERT_TRUE(pool);
    ASSERT_TRUE(restoreIntoPool(*pool, **r).ok());
    expectPoolHolds(*pool, items);
    // Version 1 has no symbolic links or special files: such a record is unknown to it.
    spill(path, asVersion1(slurp(writeImage(nodeItems()))));
    EXPECT_NE(std::string::npos, refusal(path).find("bad record header (kind 4)"));
}

}  // namespace
}  // namespace kvc
