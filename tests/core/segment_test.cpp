// Tests of Segment: a new segment is sparse (a 64 GiB pool costs almost no memory), blocks are
// backed and released on demand, attach sees what was written and refuses a superblock with the
// wrong magic, version or geometry (with a message saying why), create twice is EEXIST, and
// remove, grow and shrink behave.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>

#include "core/layout.h"
#include "core/segment.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::kBlock;
using test::PoolFixture;

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kMiB = 1ull << 20;

SegmentGeometry smallGeometry(uint64_t blocks = 64) {
    return SegmentGeometry{kBlock, blocks, 128, 160};
}

uint64_t processRssBytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            uint64_t kib = 0;
            status >> kib;
            return kib * 1024;
        }
        std::getline(status, key);
    }
    return 0;
}

std::string shmPath(const SegmentLocation& where) { return "/dev/shm/" + where.name; }

uint64_t backingBytes(const SegmentLocation& where) {
    struct stat st {};
    if (::stat(shmPath(where).c_str(), &st) != 0) return UINT64_MAX;
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Overwrites bytes of the backing object, as a stray writer or a bad upgrade would.
void pokeBacking(const SegmentLocation& where, size_t offset, const void* bytes, size_t len) {
    const int fd = ::open(shmPath(where).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes, len, static_cast<off_t>(offset)), static_cast<ssize_t>(len));
    ::close(fd);
}

class SegmentTest : public PoolFixture {};

TEST_F(SegmentTest, SixtyFourGibSegmentIsSparse) {
    const SegmentLocation where = newLocation();
    const SegmentGeometry g{kBlock, 64 * kGiB / kBlock, 65536, 81920};
    const uint64_t rss_before = processRssBytes();
    auto seg = Segment::create(where, g);
    ASSERT_TRUE(seg.ok()) << seg.error().message;
    Segment& s = **seg;
    EXPECT_EQ(s.blockCount(), g.block_count);
    EXPECT_GE(s.mappedBytes(), 64 * kGiB);
    EXPECT_EQ(s.mappedBytes(), segmentBytes(g));

    struct stat st {};
    ASSERT_EQ(::fstat(s.fd(), &st), 0);
    EXPECT_GE(static_cast<uint64_t>(st.st_size), 64 * kGiB);
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, kMiB);
    EXPECT_LT(s.residentBytes(), kMiB);
    EXPECT_EQ(s.residentBytes(), static_cast<uint64_t>(st.st_blocks) * 512);

    // Writing one block far into the pool backs that block only.
    const uint64_t far = g.block_count - 7;
    ASSERT_TRUE(s.backBlocks({far, 1}).ok());
    std::memset(s.blockAddress(far), 0xab, kBlock);
    EXPECT_GE(s.residentBytes(), kBlock);
    EXPECT_LT(s.residentBytes(), kMiB + kBlock);
    s.releaseBlocks({far, 1});
    EXPECT_EQ(static_cast<unsigned char>(s.blockAddress(far)[100]), 0u);  // a hole reads zeros
    EXPECT_LT(s.residentBytes(), kMiB);
    EXPECT_LT(processRssBytes(), rss_before + 64 * kMiB);
}

TEST_F(SegmentTest, SixtyFourGibPoolIsSparse) {
    const uint64_t rss_before = processRssBytes();
    auto pool = makePool(64 * kGiB / kBlock);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->capacityBytes(), 64 * kGiB);
    auto st = pool->stats();
    EXPECT_EQ(st.capacity_bytes, 64 * kGiB);
    EXPECT_LT(st.resident_bytes, kMiB);
    EXPECT_LT(backingBytes(pool->location()), kMiB);
    // A 1 MiB entry costs about 1 MiB, not more.
    const std::string data = test::pattern(1, kMiB);
    const EntryId id = test::putEntry(*pool, kPoolRootId, "blk", data);
    EXPECT_TRUE(test::sameBytes(test::getEntry(*pool, id), data));
    EXPECT_LT(pool->stats().resident_bytes, 3 * kMiB);
    EXPECT_LT(processRssBytes(), rss_before + 64 * kMiB);
    pool->verify();
}

TEST_F(SegmentTest, AttachSeesWhatWasWritten) {
    const SegmentLocation where = newLocation();
    {
        auto seg = Segment::create(where, smallGeometry());
        ASSERT_TRUE(seg.ok()) << seg.error().message;
        ASSERT_TRUE((*seg)->backBlocks({3, 2}).ok());
        std::memcpy((*seg)->blockAddress(4), "hello", 5);
    }
    auto seg = Segment::attach(where);
    ASSERT_TRUE(seg.ok()) << seg.error().message;
    EXPECT_EQ((*seg)->blockSize(), kBlock);
    EXPECT_EQ((*seg)->blockCount(), 64u);
    EXPECT_EQ((*seg)->super().inode_slots, 128u);
    EXPECT_EQ((*seg)->super().dirent_slots, 160u);
    EXPECT_EQ(std::memcmp((*seg)->blockAddress(4), "hello", 5), 0);
    EXPECT_EQ(std::memcmp((*seg)->super().magic, kSegmentMagic, sizeof kSegmentMagic), 0);
    EXPECT_EQ((*seg)->super().version, kSegmentFormatVersion);
}

TEST_F(SegmentTest, CreateTwiceIsEexist) {
    const SegmentLocation where = newLocation();
    auto first = Segment::create(where, smallGeometry());
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto second = Segment::create(where, smallGeometry());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.code(), EEXIST);
    EXPECT_NE(second.error().message.find(where.name), std::string::npos)
        << second.error().message;
    // The first one is untouched.
    EXPECT_TRUE(Segment::attach(where).ok());
}

TEST_F(SegmentTest, RemoveDeletesTheName) {
    const SegmentLocation where = newLocation();
    auto seg = Segment::create(where, smallGeometry());
    ASSERT_TRUE(seg.ok());
    EXPECT_TRUE(Segment::exists(where));
    ASSERT_TRUE(Segment::remove(where).ok());
    EXPECT_FALSE(Segment::exists(where));
    EXPECT_EQ(Segment::remove(where).code(), ENOENT);
    EXPECT_EQ(Segment::attach(where).code(), ENOENT);
    // The existing mapping still works until it goes.
    ASSERT_TRUE((*seg)->backBlocks({0, 1}).ok());
    std::memcpy((*seg)->blockAddress(0), "x", 1);
    // And the name can be used again.
    EXPECT_TRUE(Segment::create(where, smallGeometry()).ok());
}

TEST_F(SegmentTest, InvalidNamesAndGeometryAreRefused) {
    for (const char* name : {"", "a/b", ".", ".."}) {
        auto seg = Segment::create(SegmentLocation{name, ""}, smallGeometry());
        EXPECT_EQ(seg.code(), EINVAL) << '"' << name << '"';
    }
    const SegmentLocation where = newLocation();
    EXPECT_EQ(Segment::create(where, SegmentGeometry{1000, 64, 8, 8}).code(), EINVAL);
    EXPECT_EQ(Segment::create(where, SegmentGeometry{kBlock, 0, 8, 8}).code(), EINVAL);
    EXPECT_EQ(Segment::create(where, SegmentGeometry{kBlock, 8, 0, 8}).code(), EINVAL);
    EXPECT_FALSE(Segment::exists(where));
}

size_t openFds() {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (::readdir(d)) ++n;
        ::closedir(d);
    }
    return n;
}

TEST_F(SegmentTest, ASegmentTooLargeToMapFailsCleanly) {
    const SegmentLocation where = newLocation();
    const size_t fds = openFds();
    // 4 PiB: the file can be sized (sparse) but no address space can hold it.
    auto seg = Segment::create(where, SegmentGeometry{kBlock, 1ull << 40, 128, 160});
    ASSERT_FALSE(seg.ok());
    EXPECT_EQ(seg.code(), ENOMEM) << seg.error().message;
    EXPECT_FALSE(Segment::exists(where));
    EXPECT_EQ(openFds(), fds);
}

TEST_F(SegmentTest, AttachRefusesWrongMagic) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    pokeBacking(where, offsetof(Superblock, magic), "NOTAPOOL", 8);
    auto seg = Segment::attach(where);
    ASSERT_FALSE(seg.ok());
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("magic"), std::string::npos) << seg.error().message;
    EXPECT_NE(seg.error().message.find(where.name), std::string::npos) << seg.error().message;
}

TEST_F(SegmentTest, AttachRefusesAnotherFormatVersionThroughTheMapping) {
    const SegmentLocation where = newLocation();
    {
        auto seg = Segment::create(where, smallGeometry());
        ASSERT_TRUE(seg.ok());
        (*seg)->super().version = kSegmentFormatVersion + 41;
    }
    auto seg = Segment::attach(where);
    ASSERT_FALSE(seg.ok());
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find(std::to_string(kSegmentFormatVersion + 41)),
              std::string::npos)
        << seg.error().message;
}

TEST_F(SegmentTest, AttachRefusesInconsistentGeometry) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());

    const uint32_t bad_block = 3000;
    pokeBacking(where, offsetof(Superblock, block_size), &bad_block, sizeof bad_block);
    auto seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("block size"), std::string::npos) << seg.error().message;
    const uint32_t good_block = kBlock;
    pokeBacking(where, offsetof(Superblock, block_size), &good_block, sizeof good_block);
    ASSERT_TRUE(Segment::attach(where).ok());

    const uint64_t bad_offset = 12345;
    pokeBacking(where, offsetof(Superblock, data_offset), &bad_offset, sizeof bad_offset);
    seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("geometry"), std::string::npos) << seg.error().message;
}

TEST_F(SegmentTest, AttachRefusesATruncatedSegment) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    ASSERT_EQ(::truncate(shmPath(where).c_str(), 8 * kBlock), 0);
    auto seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("bytes long"), std::string::npos) << seg.error().message;
    ASSERT_EQ(::truncate(shmPath(where).c_str(), 100), 0);
    seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("too small"), std::string::npos) << seg.error().message;
}

TEST_F(SegmentTest, GrowMapsNewBlocksInPlaceAndShrinkGivesThemBack) {
    const SegmentLocation where = newLocation();
    auto seg = Segment::create(where, smallGeometry(16));
    ASSERT_TRUE(seg.ok());
    Segment& s = **seg;
    ASSERT_TRUE(s.backBlocks({2, 1}).ok());
    std::memcpy(s.blockAddress(2), "keep", 4);
    char* const before = s.blockAddress(2);

    ASSERT_TRUE(s.grow(64).ok());
    EXPECT_EQ(s.blockCount(), 64u);
    EXPECT_EQ(s.super().block_count, 64u);
    EXPECT_EQ(s.blockAddress(2), before);  // pointers stay valid
    EXPECT_EQ(std::memcmp(s.blockAddress(2), "keep", 4), 0);
    ASSERT_TRUE(s.backBlocks({63, 1}).ok());
    std::memcpy(s.blockAddress(63), "tail", 4);
    {
        auto other = Segment::attach(where);  // another process would see the same
        ASSERT_TRUE(other.ok()) << other.error().message;
        EXPECT_EQ((*other)->blockCount(), 64u);
        EXPECT_EQ(std::memcmp((*other)->blockAddress(63), "tail", 4), 0);
    }

    ASSERT_TRUE(s.shrink(8).ok());
    EXPECT_EQ(s.blockCount(), 8u);
    struct stat st {};
    ASSERT_EQ(::fstat(s.fd(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), s.dataOffset() + 8 * kBlock);
    EXPECT_EQ(std::memcmp(s.blockAddress(2), "keep", 4), 0);
    // Grown again, the cut blocks come back as zeros.
    ASSERT_TRUE(s.grow(64).ok());
    EXPECT_EQ(s.blockAddress(63)[0], 0);
    auto again = Segment::attach(where);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ((*again)->blockCount(), 64u);

    EXPECT_EQ(s.grow(UINT64_MAX / kBlock / 2).code(), EFBIG);
}

}  // namespace
}  // namespace kvc
