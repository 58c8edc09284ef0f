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
#include <vector>

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

std::string shmPath(const SegmentLocation& where) {
    return "/dev/shm/" + where.name;
}

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
    EXPECT_NE(second.error().message.find(where.name), std::string::npos) << second.error().message;
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

// Overwrites the same bytes of both superblock copies.
void pokeBothCopies(const SegmentLocation& where, size_t offset, const void* bytes, size_t len) {
    pokeBacking(where, offset, bytes, len);
    pokeBacking(where, kSuperblockCopyBytes + offset, bytes, len);
}

// Writes a superblock with valid checksums but the values `change` makes, to both copies: what
// a buggy writer (not a damaged byte) would leave.
template <class Change>
void sealBothCopies(const SegmentLocation& where, Change change) {
    auto seg = Segment::attach(where);
    ASSERT_TRUE(seg.ok()) << seg.error().message;
    (*seg)->updateSuper(change);
    (*seg)->updateSuper([](Superblock&) {});
}

TEST_F(SegmentTest, AttachRefusesWrongMagic) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    pokeBothCopies(where, offsetof(Superblock, magic), "NOTAPOOL", 8);
    auto seg = Segment::attach(where);
    ASSERT_FALSE(seg.ok());
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("magic"), std::string::npos) << seg.error().message;
    EXPECT_NE(seg.error().message.find(where.name), std::string::npos) << seg.error().message;
}

TEST_F(SegmentTest, AttachRefusesAnotherFormatVersion) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    const uint32_t version = kSegmentFormatVersion + 41;
    pokeBothCopies(where, offsetof(Superblock, version), &version, sizeof version);
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

    sealBothCopies(where, [](Superblock& sb) { sb.block_size = 3000; });
    auto seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("block size"), std::string::npos) << seg.error().message;

    const SegmentLocation other = newLocation();
    ASSERT_TRUE(Segment::create(other, smallGeometry()).ok());
    sealBothCopies(other, [](Superblock& sb) { sb.data_offset = 12345; });
    seg = Segment::attach(other);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("geometry"), std::string::npos) << seg.error().message;
}

// Slot counts whose table sizes wrap around 64 bits must not pass as a small consistent
// geometry (they would place the tables anywhere in the address space).
TEST_F(SegmentTest, AttachRefusesGeometryThatOverflows) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    sealBothCopies(where, [](Superblock& sb) {
        sb.inode_slots = (UINT64_MAX / kInodeRecordBytes) + 2;  // * 1024 wraps to 1024
    });
    auto seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("geometry"), std::string::npos) << seg.error().message;
}

// One flipped byte in the newest copy: attach takes the other copy, one change older, and never
// acts on the damaged one. Both damaged: refused, naming the checksum.
TEST_F(SegmentTest, DamagedSuperblockCopyIsNeverUsed) {
    const SegmentLocation where = newLocation();
    {
        auto seg = Segment::create(where, smallGeometry(64));
        ASSERT_TRUE(seg.ok());
        (*seg)->updateSuper([](Superblock& sb) { sb.capacity_blocks = 32; });  // newest: 32
    }
    const uint64_t seq = 2;  // create wrote seq 1 (copy 1), the change seq 2 (copy 0)
    const uint8_t flip = 0xff;
    pokeBacking(where, (seq & 1) * kSuperblockCopyBytes + offsetof(Superblock, capacity_blocks),
                &flip, 1);
    {
        auto seg = Segment::attach(where);
        ASSERT_TRUE(seg.ok()) << seg.error().message;
        EXPECT_EQ((*seg)->super().capacity_blocks, 64u);  // the older copy, not 0xff..
    }
    pokeBacking(where,
                ((seq + 1) & 1) * kSuperblockCopyBytes + offsetof(Superblock, capacity_blocks),
                &flip, 1);
    auto seg = Segment::attach(where);
    ASSERT_FALSE(seg.ok());
    EXPECT_EQ(seg.code(), EINVAL);
    EXPECT_NE(seg.error().message.find("checksum"), std::string::npos) << seg.error().message;
}

// A version-1 segment (one copy, no checksum) is read and rewritten as version 2.
TEST_F(SegmentTest, VersionOneSegmentIsUpgradedAtAttach) {
    const SegmentLocation where = newLocation();
    {
        auto seg = Segment::create(where, smallGeometry(64));
        ASSERT_TRUE(seg.ok());
        ASSERT_TRUE((*seg)->backBlocks({3, 1}).ok());
        std::memcpy((*seg)->blockAddress(3), "old!", 4);
    }
    // Lay it out as version 1 did: the superblock at 0 without seq and checksum, nothing at 2 KiB.
    Superblock v1{};
    {
        const int fd = ::open(shmPath(where).c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pread(fd, &v1, sizeof v1, kSuperblockCopyBytes), (ssize_t)sizeof v1);
        ::close(fd);
    }
    v1.version = kLegacySegmentFormatVersion;
    v1.seq = 0;
    v1.checksum = 0;
    std::vector<char> page(kSuperblockBytes, 0);
    std::memcpy(page.data(), &v1, sizeof v1);
    pokeBacking(where, 0, page.data(), page.size());

    auto seg = Segment::attach(where);
    ASSERT_TRUE(seg.ok()) << seg.error().message;
    EXPECT_EQ((*seg)->blockCount(), 64u);
    EXPECT_EQ(std::memcmp((*seg)->blockAddress(3), "old!", 4), 0);
    (*seg)->updateSuper([](Superblock&) {});
    EXPECT_EQ((*seg)->super().version, kSegmentFormatVersion);
}

// A segment someone else could have written is never attached: another owner, group or world
// access, or a symbolic link in its place.
TEST_F(SegmentTest, AttachRefusesSegmentsOthersCouldWrite) {
    const SegmentLocation where = newLocation();
    ASSERT_TRUE(Segment::create(where, smallGeometry()).ok());
    ASSERT_EQ(::chmod(shmPath(where).c_str(), 0666), 0);
    auto seg = Segment::attach(where);
    EXPECT_EQ(seg.code(), EPERM);
    EXPECT_NE(seg.error().message.find("mode 0666"), std::string::npos) << seg.error().message;
    ASSERT_EQ(::chmod(shmPath(where).c_str(), 0600), 0);
    if (geteuid() == 0) {
        ASSERT_EQ(::chown(shmPath(where).c_str(), 65534, 65534), 0);
        seg = Segment::attach(where);
        EXPECT_EQ(seg.code(), EPERM);
        EXPECT_NE(seg.error().message.find("uid 65534"), std::string::npos) << seg.error().message;
        ASSERT_EQ(::chown(shmPath(where).c_str(), 0, 0), 0);
    }
    ASSERT_TRUE(Segment::attach(where).ok());

    const SegmentLocation link = newLocation();
    ASSERT_EQ(::symlink(shmPath(where).c_str(), shmPath(link).c_str()), 0);
    EXPECT_EQ(Segment::attach(link).code(), ELOOP);
    ::unlink(shmPath(link).c_str());
}

// One daemon per segment: a second attach (another process, or another object) gets EBUSY.
TEST_F(SegmentTest, ExclusiveLockRefusesASecondHolder) {
    const SegmentLocation where = newLocation();
    auto seg = Segment::create(where, smallGeometry());
    ASSERT_TRUE(seg.ok());
    ASSERT_TRUE((*seg)->lockExclusive().ok());
    auto other = Segment::attach(where);
    ASSERT_TRUE(other.ok());
    auto st = (*other)->lockExclusive();
    EXPECT_EQ(st.code(), EBUSY);
    EXPECT_NE(st.error().message.find(where.name), std::string::npos) << st.error().message;
    seg->reset();
    EXPECT_TRUE((*other)->lockExclusive().ok());
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
    // So large that offsets wrap around 64 bits: refused, and the segment keeps its size.
    ASSERT_EQ(::fstat(s.fd(), &st), 0);
    const off_t size_before = st.st_size;
    EXPECT_EQ(s.grow(UINT64_MAX / kBlock + 1).code(), EFBIG);
    EXPECT_EQ(s.grow(UINT64_MAX).code(), EFBIG);
    ASSERT_EQ(::fstat(s.fd(), &st), 0);
    EXPECT_EQ(st.st_size, size_before);
    EXPECT_EQ(s.blockCount(), 64u);
}

}  // namespace
}  // namespace kvc
