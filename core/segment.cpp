// Segment: creation, attach with validation, sparse backing and in-place growth.
#include "core/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace kvc {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

struct Offsets {
    uint64_t inode_table, dirent_table, data, total;
};

Offsets offsetsFor(const SegmentGeometry& g) {
    Offsets o{};
    o.inode_table = kSuperblockBytes;
    o.dirent_table = alignUp(o.inode_table + g.inode_slots * kInodeRecordBytes, 4096);
    o.data = alignUp(o.dirent_table + g.dirent_slots * kDirentRecordBytes,
                     std::max<uint64_t>(g.block_size, 4096));
    o.total = o.data + g.block_count * g.block_size;
    return o;
}

// Room to grow in place: four times the segment, and at least 64 GiB more.
uint64_t reservationFor(uint64_t bytes) {
    return alignUp(std::max(bytes * 4, bytes + 64 * kGiB), 2ull << 20);
}

std::string errnoText(int err) { return std::strerror(err); }

Status validateName(const SegmentLocation& where) {
    if (where.name.empty() || where.name.size() > 250 ||
        where.name.find('/') != std::string::npos || where.name == "." || where.name == "..")
        return makeError(EINVAL, fmt::format("invalid segment name \"{}\"", where.name));
    return {};
}

int openBacking(const SegmentLocation& where, int flags) {
    if (where.dir.empty()) return shm_open(("/" + where.name).c_str(), flags, 0600);
    return ::open((where.dir + "/" + where.name).c_str(), flags | O_CLOEXEC, 0600);
}

}  // namespace

std::string SegmentLocation::describe() const {
    return dir.empty() ? fmt::format("shm segment /dev/shm/{}", name)
                       : fmt::format("segment file {}/{}", dir, name);
}

uint64_t segmentBytes(const SegmentGeometry& g) { return offsetsFor(g).total; }

Segment::~Segment() {
    if (base_) munmap(base_, reserved_bytes_);
    if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Segment>> Segment::mapFd(const SegmentLocation& where, int fd,
                                                uint64_t bytes) {
    std::unique_ptr<Segment> seg(new Segment);
    seg->where_ = where;
    seg->reserved_bytes_ = reservationFor(bytes);
    void* reserve = mmap(nullptr, seg->reserved_bytes_, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve == MAP_FAILED) {
        int err = errno;
        return makeError(err, fmt::format("cannot reserve {} bytes of address space for {}: {}",
                                          seg->reserved_bytes_, where.describe(), errnoText(err)));
    }
    seg->base_ = static_cast<char*>(reserve);
    if (mmap(seg->base_, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
        MAP_FAILED) {
        int err = errno;
        return makeError(err, fmt::format("cannot map {}: {}", where.describe(), errnoText(err)));
    }
    seg->mapped_bytes_ = bytes;
    // Owned only now: on the failures above the caller still owns (and closes) the fd, and
    // the destructor must not close it a second time.
    seg->fd_ = fd;
    return seg;
}

void Segment::loadGeometry() {
    const Superblock& sb = super();
    block_size_ = sb.block_size;
    block_count_ = sb.block_count;
    data_offset_ = sb.data_offset;
}

Result<std::unique_ptr<Segment>> Segment::create(const SegmentLocation& where,
                                                 const SegmentGeometry& g) {
    if (auto st = validateName(where); !st) return st.error();
    if (g.block_size < 4096 || g.block_size > (2u << 20) || (g.block_size & (g.block_size - 1)))
        return makeError(EINVAL, fmt::format("invalid block size {}: a power of two from 4 KiB "
                                             "to 2 MiB", g.block_size));
    if (g.block_count == 0 || g.inode_slots == 0 || g.dirent_slots == 0)
        return makeError(EINVAL, "a pool needs at least one block and one entry slot");
    const Offsets o = offsetsFor(g);
    int fd = openBacking(where, O_RDWR | O_CREAT | O_EXCL);
    if (fd < 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot create {}: {}", where.describe(), errnoText(err)));
    }
    if (ftruncate(fd, static_cast<off_t>(o.total)) != 0) {
        int err = errno;
        ::close(fd);
        (void)remove(where);
        return makeError(err, fmt::format("cannot size {} to {} bytes: {}", where.describe(),
                                          o.total, errnoText(err)));
    }
    auto seg = mapFd(where, fd, o.total);
    if (!seg) {
        ::close(fd);
        (void)remove(where);
        return seg.error();
    }
    Superblock& sb = (*seg)->super();
    sb.version = kSegmentFormatVersion;
    sb.block_size = g.block_size;
    sb.block_count = g.block_count;
    sb.capacity_blocks = g.block_count;
    sb.inode_slots = g.inode_slots;
    sb.dirent_slots = g.dirent_slots;
    sb.inode_table_offset = o.inode_table;
    sb.dirent_table_offset = o.dirent_table;
    sb.data_offset = o.data;
    // The magic goes last: a segment whose creation was interrupted is refused at attach.
#if defined(__SANITIZE_THREAD__)
    // GCC refuses thread fences under ThreadSanitizer (-Werror=tsan); a compiler barrier keeps
    // the order in which the stores are made, which is what an interrupted creation needs.
    std::atomic_signal_fence(std::memory_order_release);
#else
    std::atomic_thread_fence(std::memory_order_release);
#endif
    std::memcpy(sb.magic, kSegmentMagic, sizeof sb.magic);
    (*seg)->loadGeometry();
    return seg;
}

Result<std::unique_ptr<Segment>> Segment::attach(const SegmentLocation& where) {
    if (auto st = validateName(where); !st) return st.error();
    int fd = openBacking(where, O_RDWR);
    if (fd < 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot open {}: {}", where.describe(), errnoText(err)));
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < kSuperblockBytes) {
        ::close(fd);
        return makeError(EINVAL, fmt::format("{} is too small to be a kvcachefs pool",
                                             where.describe()));
    }
    const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
    Superblock sb;
    if (pread(fd, &sb, sizeof sb, 0) != static_cast<ssize_t>(sizeof sb)) {
        ::close(fd);
        return makeError(EIO, fmt::format("cannot read the superblock of {}", where.describe()));
    }
    auto refuse = [&](std::string why) -> Error {
        ::close(fd);
        return makeError(EINVAL, fmt::format("{} is not usable: {}", where.describe(), why));
    };
    if (std::memcmp(sb.magic, kSegmentMagic, sizeof sb.magic) != 0)
        return refuse("bad magic (not a kvcachefs pool, or its creation never finished)");
    if (sb.version != kSegmentFormatVersion)
        return refuse(fmt::format("format version {} (this build reads version {})", sb.version,
                                  kSegmentFormatVersion));
    SegmentGeometry g{sb.block_size, sb.block_count, sb.inode_slots, sb.dirent_slots};
    if (g.block_size < 4096 || g.block_size > (2u << 20) || (g.block_size & (g.block_size - 1)))
        return refuse(fmt::format("block size {} out of range", g.block_size));
    const Offsets o = offsetsFor(g);
    if (sb.inode_table_offset != o.inode_table || sb.dirent_table_offset != o.dirent_table ||
        sb.data_offset != o.data || sb.capacity_blocks > sb.block_count || g.block_count == 0)
        return refuse("inconsistent geometry in the superblock");
    if (file_bytes < o.total)
        return refuse(fmt::format("{} bytes long but its geometry needs {}", file_bytes, o.total));
    auto seg = mapFd(where, fd, o.total);
    if (!seg) {
        ::close(fd);
        return seg.error();
    }
    (*seg)->loadGeometry();
    return seg;
}

Status Segment::remove(const SegmentLocation& where) {
    if (auto st = validateName(where); !st) return st;
    int rc = where.dir.empty() ? shm_unlink(("/" + where.name).c_str())
                               : ::unlink((where.dir + "/" + where.name).c_str());
    if (rc != 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot remove {}: {}", where.describe(), errnoText(err)));
    }
    return {};
}

bool Segment::exists(const SegmentLocation& where) {
    struct stat st {};
    std::string path = where.dir.empty() ? "/dev/shm/" + where.name : where.dir + "/" + where.name;
    return ::stat(path.c_str(), &st) == 0;
}

InodeRecord& Segment::inodeRecord(uint64_t slot) {
    return *reinterpret_cast<InodeRecord*>(base_ + super().inode_table_offset +
                                           slot * kInodeRecordBytes);
}

void Segment::clearInodeRecord(uint64_t slot) {
    std::memset(static_cast<void*>(&inodeRecord(slot)), 0, sizeof(InodeRecord));
}

DirentRecord& Segment::direntRecord(uint64_t slot) {
    return *reinterpret_cast<DirentRecord*>(base_ + super().dirent_table_offset +
                                            slot * kDirentRecordBytes);
}

Status Segment::backRange(uint64_t offset, uint64_t bytes, std::string_view what) {
    if (fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) != 0) {
        int err = errno;
        if (err == EOPNOTSUPP) return {};  // the filesystem cannot reserve; accept the risk
        return makeError(err == EFBIG ? ENOSPC : err,
                         fmt::format("cannot back {} of {}: {}", what, where_.describe(),
                                     errnoText(err)));
    }
    return {};
}

Status Segment::backBlocks(Extent e) {
    return backRange(blockFileOffset(e.start), e.count * block_size_,
                     fmt::format("{} blocks", e.count));
}

Status Segment::backInodeRecord(uint64_t slot) {
    return backRange(super().inode_table_offset + slot * kInodeRecordBytes, kInodeRecordBytes,
                     "an inode record");
}

Status Segment::backDirentRecord(uint64_t slot) {
    return backRange(super().dirent_table_offset + slot * kDirentRecordBytes, kDirentRecordBytes,
                     "a directory entry record");
}

void Segment::releaseBlocks(Extent e) {
    // Freed blocks read as zeros afterwards, which is what a hole in a new entry must read as.
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(blockFileOffset(e.start)),
                  static_cast<off_t>(e.count * block_size_)) != 0)
        std::memset(blockAddress(e.start), 0, e.count * block_size_);
}

Status Segment::grow(uint64_t block_count) {
    if (block_count <= block_count_) return {};
    const uint64_t new_bytes = data_offset_ + block_count * block_size_;
    if (new_bytes > reserved_bytes_)
        return makeError(EFBIG, fmt::format("{} can grow in place to at most {} bytes until the "
                                            "next mount", where_.describe(), reserved_bytes_));
    if (ftruncate(fd_, static_cast<off_t>(new_bytes)) != 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot grow {}: {}", where_.describe(), errnoText(err)));
    }
    if (mmap(base_ + mapped_bytes_, new_bytes - mapped_bytes_, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(mapped_bytes_)) == MAP_FAILED) {
        int err = errno;
        return makeError(err, fmt::format("cannot map the grown {}: {}", where_.describe(),
                                          errnoText(err)));
    }
    mapped_bytes_ = new_bytes;
    block_count_ = block_count;
    super().block_count = block_count;
    return {};
}

Status Segment::shrink(uint64_t block_count) {
    if (block_count >= block_count_) return {};
    const uint64_t new_bytes = data_offset_ + block_count * block_size_;
    if (ftruncate(fd_, static_cast<off_t>(new_bytes)) != 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot shrink {}: {}", where_.describe(),
                                          errnoText(err)));
    }
    // Keep the tail reserved but inaccessible, so a later grow maps it again.
    mmap(base_ + new_bytes, mapped_bytes_ - new_bytes, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    mapped_bytes_ = new_bytes;
    block_count_ = block_count;
    super().block_count = block_count;
    return {};
}

uint64_t Segment::residentBytes() const {
    struct stat st {};
    if (fstat(fd_, &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace kvc
