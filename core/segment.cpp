// Segment: creation, attach with validation, sparse backing and in-place growth.
#include "core/segment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "core/checked.h"
#include "core/crash_points.h"
#include "core/record_codec.h"

namespace kvc {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

struct Offsets {
    uint64_t inode_table, dirent_table, data, total;
};

// The regions of a segment with this geometry; nullopt when they do not fit in 64 bits (a
// damaged or hostile superblock, or a request far beyond any host).
std::optional<Offsets> offsetsFor(const SegmentGeometry& g) {
    Offsets o{};
    o.inode_table = kSuperblockBytes;
    auto dirent = checkedMulAdd(g.inode_slots, kInodeRecordBytes, o.inode_table);
    if (dirent) dirent = checkedAlignUp(*dirent, 4096);
    if (!dirent) return std::nullopt;
    o.dirent_table = *dirent;
    auto data = checkedMulAdd(g.dirent_slots, kDirentRecordBytes, o.dirent_table);
    if (data) data = checkedAlignUp(*data, std::max<uint64_t>(g.block_size, 4096));
    if (!data) return std::nullopt;
    o.data = *data;
    auto total = checkedMulAdd(g.block_count, g.block_size, o.data);
    // mmap and ftruncate take signed offsets.
    if (!total || *total > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    o.total = *total;
    return o;
}

uint64_t alignUp(uint64_t v, uint64_t a) {
    return (v + a - 1) / a * a;
}

uint64_t superChecksum(const Superblock& sb) {
    Superblock copy;
    std::memcpy(&copy, &sb, sizeof copy);
    copy.checksum = 0;
    return hashBytes(&copy, sizeof copy);
}

// Room to grow in place: four times the segment, and at least 64 GiB more (less when that
// would not fit in the address space; then mmap refuses it).
uint64_t reservationFor(uint64_t bytes) {
    auto four = checkedMul(bytes, 4);
    auto more = checkedAdd(bytes, 64 * kGiB);
    if (!four || !more) return bytes;
    return alignUp(std::max(*four, *more), 2ull << 20);
}

std::string errnoText(int err) {
    return std::strerror(err);
}

Status validateName(const SegmentLocation& where) {
    if (where.name.empty() || where.name.size() > 250 ||
        where.name.find('/') != std::string::npos || where.name == "." || where.name == "..")
        return makeError(EINVAL, fmt::format("invalid segment name \"{}\"", where.name));
    return {};
}

// Never through a symbolic link (glibc's shm_open adds O_NOFOLLOW too).
int openBacking(const SegmentLocation& where, int flags) {
    if (where.dir.empty()) return shm_open(("/" + where.name).c_str(), flags | O_NOFOLLOW, 0600);
    return ::open((where.dir + "/" + where.name).c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

// Only a regular file that this process's user owns and nobody else may read or write is a
// segment this daemon made: anything else was planted or changed by someone else.
std::optional<std::string> foreignSegment(const struct stat& st) {
    if (!S_ISREG(st.st_mode)) return "not a regular file";
    if (st.st_uid != geteuid())
        return fmt::format("owned by uid {}, not by this daemon's user (uid {})", st.st_uid,
                           geteuid());
    if (st.st_mode & 077)
        return fmt::format("mode {:04o} lets other users read or write it", st.st_mode & 07777);
    return std::nullopt;
}

// The pid that holds a flock on the file of `fd`, from /proc/locks (0 if none is found).
pid_t flockHolder(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return 0;
    const std::string id =
        fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
    std::ifstream locks("/proc/locks");
    std::string line;
    while (std::getline(locks, line)) {
        std::istringstream in(line);
        std::string num, kind, advisory, mode, pid, dev;
        if (in >> num >> kind >> advisory >> mode >> pid >> dev && kind == "FLOCK" && dev == id)
            return static_cast<pid_t>(std::atol(pid.c_str()));
    }
    return 0;
}

}  // namespace

std::string SegmentLocation::describe() const {
    return dir.empty() ? fmt::format("shm segment /dev/shm/{}", name)
                       : fmt::format("segment file {}/{}", dir, name);
}

uint64_t segmentBytes(const SegmentGeometry& g) {
    auto o = offsetsFor(g);
    return o ? o->total : UINT64_MAX;
}

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
    block_size_ = sb_.block_size;
    block_count_ = sb_.block_count;
    data_offset_ = sb_.data_offset;
    inode_table_offset_ = sb_.inode_table_offset;
    dirent_table_offset_ = sb_.dirent_table_offset;
    // Every block the reservation can ever hold (the data region may grow into it).
    const uint64_t room = reserved_bytes_ > data_offset_ ? reserved_bytes_ - data_offset_ : 0;
    wanted_ = BlockBits(room / block_size_);
    mapped_ = BlockBits(room / block_size_);
}

// The copy written goes to the slot the older copy is in, so a crash in the middle of the copy
// leaves the newer one whole.
void Segment::storeSuper() {
    sb_.version = kSegmentFormatVersion;
    sb_.seq++;
    sb_.checksum = superChecksum(sb_);
    crashPoint("superblock");
    std::memcpy(base_ + (sb_.seq & 1) * kSuperblockCopyBytes, &sb_, sizeof sb_);
}

Status Segment::lockExclusive() {
    if (flock(fd_, LOCK_EX | LOCK_NB) == 0) return {};
    const int err = errno;
    if (err != EWOULDBLOCK)
        return makeError(err, fmt::format("cannot lock {}: {}", where_.describe(), errnoText(err)));
    const pid_t holder = flockHolder(fd_);
    std::string who = "another process";
    if (holder > 0) {
        std::ifstream comm(fmt::format("/proc/{}/comm", holder));
        std::string name;
        who = std::getline(comm, name) ? fmt::format("process {} ({})", holder, name)
                                       : fmt::format("process {}", holder);
    }
    return makeError(EBUSY, fmt::format("{} is in use by {} (another kvcachefs daemon of the "
                                        "same instance?)",
                                        where_.describe(), who));
}

Result<std::unique_ptr<Segment>> Segment::create(const SegmentLocation& where,
                                                 const SegmentGeometry& g) {
    if (auto st = validateName(where); !st) return st.error();
    if (g.block_size < 4096 || g.block_size > (2u << 20) || (g.block_size & (g.block_size - 1)))
        return makeError(EINVAL, fmt::format("invalid block size {}: a power of two from 4 KiB "
                                             "to 2 MiB",
                                             g.block_size));
    if (g.block_count == 0 || g.inode_slots == 0 || g.dirent_slots == 0)
        return makeError(EINVAL, "a pool needs at least one block and one entry slot");
    const auto o = offsetsFor(g);
    if (!o)
        return makeError(EFBIG, fmt::format("a segment of {} blocks of {} bytes is larger than "
                                            "any host can map",
                                            g.block_count, g.block_size));
    int fd = openBacking(where, O_RDWR | O_CREAT | O_EXCL);
    if (fd < 0) {
        int err = errno;
        return makeError(err,
                         fmt::format("cannot create {}: {}", where.describe(), errnoText(err)));
    }
    if (ftruncate(fd, static_cast<off_t>(o->total)) != 0) {
        int err = errno;
        ::close(fd);
        (void)remove(where);
        return makeError(err, fmt::format("cannot size {} to {} bytes: {}", where.describe(),
                                          o->total, errnoText(err)));
    }
    auto seg = mapFd(where, fd, o->total);
    if (!seg) {
        ::close(fd);
        (void)remove(where);
        return seg.error();
    }
    // Written whole, with its checksum: a creation interrupted before this is refused at attach.
    (*seg)->updateSuper([&](Superblock& sb) {
        std::memcpy(sb.magic, kSegmentMagic, sizeof sb.magic);
        sb.block_size = g.block_size;
        sb.block_count = g.block_count;
        sb.capacity_blocks = g.block_count;
        sb.inode_slots = g.inode_slots;
        sb.dirent_slots = g.dirent_slots;
        sb.inode_table_offset = o->inode_table;
        sb.dirent_table_offset = o->dirent_table;
        sb.data_offset = o->data;
    });
    (*seg)->loadGeometry();
    return seg;
}

namespace {

// The superblock to attach with: the valid copy with the higher sequence, or why there is none.
Result<Superblock> readSuperblock(int fd, const SegmentLocation& where) {
    Superblock copies[2];
    if (pread(fd, copies, sizeof copies, 0) != static_cast<ssize_t>(sizeof copies))
        return makeError(EIO, fmt::format("cannot read the superblock of {}", where.describe()));
    const Superblock* best = nullptr;
    std::string why = "bad magic (not a kvcachefs pool, or its creation never finished)";
    for (int i = 0; i < 2; ++i) {
        const Superblock& c = copies[i];
        if (std::memcmp(c.magic, kSegmentMagic, sizeof c.magic) != 0) continue;
        bool valid = false;
        if (c.version == kSegmentFormatVersion) {
            valid = c.checksum == superChecksum(c);
            if (!valid) why = "the superblock fails its checksum (damaged)";
        } else if (c.version == kLegacySegmentFormatVersion && i == 0) {
            valid = true;  // version 1: one copy, no checksum; rewritten as version 2 at attach
        } else if (!best) {
            why = fmt::format("format version {} (this build reads version {})", c.version,
                              kSegmentFormatVersion);
        }
        if (valid && (!best || c.seq > best->seq)) best = &c;
    }
    if (!best) return makeError(EINVAL, fmt::format("{} is not usable: {}", where.describe(), why));
    return *best;
}

}  // namespace

Result<std::unique_ptr<Segment>> Segment::attach(const SegmentLocation& where) {
    if (auto st = validateName(where); !st) return st.error();
    int fd = openBacking(where, O_RDWR);
    if (fd < 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot open {}: {}", where.describe(), errnoText(err)));
    }
    auto refuse = [&](int code, std::string why) -> Error {
        ::close(fd);
        return makeError(code, fmt::format("{} is not usable: {}", where.describe(), why));
    };
    struct stat st {};
    if (fstat(fd, &st) != 0) return refuse(EIO, errnoText(errno));
    if (auto foreign = foreignSegment(st)) return refuse(EPERM, *foreign);
    if (static_cast<uint64_t>(st.st_size) < kSuperblockBytes)
        return refuse(EINVAL, "too small to be a kvcachefs pool");
    const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
    auto read = readSuperblock(fd, where);
    if (!read) {
        ::close(fd);
        return read.error();
    }
    const Superblock& sb = *read;
    SegmentGeometry g{sb.block_size, sb.block_count, sb.inode_slots, sb.dirent_slots};
    if (g.block_size < 4096 || g.block_size > (2u << 20) || (g.block_size & (g.block_size - 1)))
        return refuse(EINVAL, fmt::format("block size {} out of range", g.block_size));
    const auto o = offsetsFor(g);
    if (!o || g.block_count == 0 || g.inode_slots == 0 || g.dirent_slots == 0 ||
        sb.inode_table_offset != o->inode_table || sb.dirent_table_offset != o->dirent_table ||
        sb.data_offset != o->data || sb.capacity_blocks > sb.block_count || sb.capacity_blocks == 0)
        return refuse(EINVAL, "inconsistent geometry in the superblock");
    if (file_bytes < o->total)
        return refuse(EINVAL,
                      fmt::format("{} bytes long but its geometry needs {}", file_bytes, o->total));
    auto seg = mapFd(where, fd, o->total);
    if (!seg) {
        ::close(fd);
        return seg.error();
    }
    (*seg)->sb_ = sb;
    (*seg)->sb_.policy[sizeof sb.policy - 1] = 0;
    (*seg)->sb_.pool_name[sizeof sb.pool_name - 1] = 0;
    (*seg)->sb_.inode_high = std::min(sb.inode_high, sb.inode_slots);
    (*seg)->sb_.dirent_high = std::min(sb.dirent_high, sb.dirent_slots);
    (*seg)->loadGeometry();
    return seg;
}

Status Segment::remove(const SegmentLocation& where) {
    if (auto st = validateName(where); !st) return st;
    int rc = where.dir.empty() ? shm_unlink(("/" + where.name).c_str())
                               : ::unlink((where.dir + "/" + where.name).c_str());
    if (rc != 0) {
        int err = errno;
        return makeError(err,
                         fmt::format("cannot remove {}: {}", where.describe(), errnoText(err)));
    }
    return {};
}

bool Segment::exists(const SegmentLocation& where) {
    struct stat st {};
    std::string path = where.dir.empty() ? "/dev/shm/" + where.name : where.dir + "/" + where.name;
    return ::stat(path.c_str(), &st) == 0;
}

// Slots are bounded by the geometry kept in the process: a slot number from anywhere else that
// is out of range is a bug, and writing through it would corrupt another region.
InodeRecord& Segment::inodeRecord(uint64_t slot) {
    if (slot >= sb_.inode_slots) throw std::out_of_range("inode record slot out of range");
    return *reinterpret_cast<InodeRecord*>(base_ + inode_table_offset_ + slot * kInodeRecordBytes);
}

void Segment::clearInodeRecord(uint64_t slot) {
    crashPoint("clear inode record");
    std::memset(static_cast<void*>(&inodeRecord(slot)), 0, sizeof(InodeRecord));
}

DirentRecord& Segment::direntRecord(uint64_t slot) {
    if (slot >= sb_.dirent_slots) throw std::out_of_range("dirent record slot out of range");
    return *reinterpret_cast<DirentRecord*>(base_ + dirent_table_offset_ +
                                            slot * kDirentRecordBytes);
}

Status Segment::backRange(uint64_t offset, uint64_t bytes, std::string_view what) {
    if (fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) != 0) {
        int err = errno;
        if (err == EOPNOTSUPP) return {};  // the filesystem cannot reserve; accept the risk
        return makeError(
            err == EFBIG ? ENOSPC : err,
            fmt::format("cannot back {} of {}: {}", what, where_.describe(), errnoText(err)));
    }
    return {};
}

Status Segment::backBlocks(Extent e) {
    return backRange(blockFileOffset(e.start), e.count * block_size_,
                     fmt::format("{} blocks", e.count));
}

Status Segment::backInodeRecord(uint64_t slot) {
    return backRange(inode_table_offset_ + slot * kInodeRecordBytes, kInodeRecordBytes,
                     "an inode record");
}

Status Segment::backDirentRecord(uint64_t slot) {
    return backRange(dirent_table_offset_ + slot * kDirentRecordBytes, kDirentRecordBytes,
                     "a directory entry record");
}

void Segment::releaseBlocks(Extent e) {
    crashPoint("punch blocks");
    // Under map_mutex_, so that no populate() of these blocks runs after the punch (it would
    // back them again) or finds them wanted afterwards.
    std::lock_guard lk(map_mutex_);
    wanted_.clear(e);
    mapped_count_.fetch_sub(mapped_.count(e), std::memory_order_relaxed);
    mapped_.clear(e);
    // Freed blocks read as zeros afterwards, which is what a hole in a new entry must read as.
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  static_cast<off_t>(blockFileOffset(e.start)),
                  static_cast<off_t>(e.count * block_size_)) != 0)
        std::memset(blockAddress(e.start), 0, e.count * block_size_);
}

namespace {

// Reads a byte of every page of [p, p + len). A populate gives this process's page tables the
// pages, but on a VM with shadow paging (PVM) the host still takes its fault at the first real
// access (about 10 us per page); this takes it here, so that the copies later do not. The bytes
// are discarded: a write racing with the read changes nothing, hence no race detection here.
__attribute__((no_sanitize("thread"))) void touchPages(const char* p, uint64_t len) {
    static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    char sink = 0;
    for (uint64_t at = 0; at < len; at += page) sink ^= *static_cast<const volatile char*>(p + at);
    (void)sink;
}

}  // namespace

bool Segment::wantMapped(Extent e) {
    wanted_.set(e);
    return !mapped_.all(e);
}

uint64_t Segment::populate(Extent e) {
    std::lock_guard lk(map_mutex_);
    // Only wanted blocks, which are within the data region (a shrink forgets those past it).
    if (e.start >= wanted_.size()) return 0;
    const uint64_t end = e.start + std::min(e.count, wanted_.size() - e.start);
    uint64_t done = 0;
    for (uint64_t b = e.start; b < end;) {
        if (!wanted_.test(b) || mapped_.test(b)) {
            ++b;
            continue;
        }
        uint64_t n = 1;
        while (b + n < end && wanted_.test(b + n) && !mapped_.test(b + n)) ++n;
        // A failure (no memory, a kernel without MADV_POPULATE_WRITE) leaves them unmapped:
        // copies go through the file, as before.
        if (madvise(blockAddress(b), n * block_size_, MADV_POPULATE_WRITE) == 0) {
            touchPages(blockAddress(b), n * block_size_);
            mapped_.set({b, n});
            mapped_count_.fetch_add(n, std::memory_order_relaxed);
            done += n;
        }
        b += n;
    }
    return done;
}

bool Segment::isMapped(uint64_t file_offset, uint64_t len) const {
    if (file_offset < data_offset_ || len == 0) return false;
    const uint64_t first = (file_offset - data_offset_) / block_size_;
    const uint64_t last = (file_offset - data_offset_ + len - 1) / block_size_;
    return mapped_.all({first, last - first + 1});
}

// The file grows first, then the mapping, then the superblock: a crash in between leaves a
// file longer than its geometry, which attach accepts.
Status Segment::grow(uint64_t block_count) {
    if (block_count <= block_count_) return {};
    const auto new_bytes = checkedMulAdd(block_count, block_size_, data_offset_);
    if (!new_bytes || *new_bytes > reserved_bytes_)
        return makeError(EFBIG, fmt::format("{} can grow in place to at most {} bytes until the "
                                            "next mount",
                                            where_.describe(), reserved_bytes_));
    if (ftruncate(fd_, static_cast<off_t>(*new_bytes)) != 0) {
        int err = errno;
        return makeError(err, fmt::format("cannot grow {}: {}", where_.describe(), errnoText(err)));
    }
    if (mmap(base_ + mapped_bytes_, *new_bytes - mapped_bytes_, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(mapped_bytes_)) == MAP_FAILED) {
        int err = errno;
        // Back to the size the superblock describes, so that nothing changed.
        (void)ftruncate(fd_, static_cast<off_t>(mapped_bytes_));
        return makeError(
            err, fmt::format("cannot map the grown {}: {}", where_.describe(), errnoText(err)));
    }
    mapped_bytes_ = *new_bytes;
    block_count_ = block_count;
    updateSuper([&](Superblock& sb) { sb.block_count = block_count; });
    return {};
}

// The superblock first (capacity and extent both cut), then the file: a crash in between
// leaves a file longer than its geometry, which attach accepts.
Status Segment::shrink(uint64_t block_count) {
    if (block_count >= block_count_) return {};
    const uint64_t new_bytes = data_offset_ + block_count * block_size_;  // below the current
    updateSuper([&](Superblock& sb) {
        sb.block_count = block_count;
        sb.capacity_blocks = std::min(sb.capacity_blocks, block_count);
    });
    {
        std::lock_guard lk(map_mutex_);
        const Extent cut{block_count, block_count_ - block_count};
        wanted_.clear(cut);
        mapped_count_.fetch_sub(mapped_.count(cut), std::memory_order_relaxed);
        mapped_.clear(cut);
    }
    block_count_ = block_count;
    if (ftruncate(fd_, static_cast<off_t>(new_bytes)) != 0) {
        // The blocks past the cut are free and stay mapped: only memory is not given back.
        int err = errno;
        return makeError(err,
                         fmt::format("cannot shrink {}: {}", where_.describe(), errnoText(err)));
    }
    // Keep the tail reserved but inaccessible, so a later grow maps it again.
    mmap(base_ + new_bytes, mapped_bytes_ - new_bytes, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    mapped_bytes_ = new_bytes;
    return {};
}

uint64_t Segment::residentBytes() const {
    struct stat st {};
    if (fstat(fd_, &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace kvc
