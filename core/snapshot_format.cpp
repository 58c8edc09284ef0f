// The snapshot image format: encoding, the streaming writer, and the verifying reader (see
// core/snapshot_format.h for the layout and the version rules).
#include "core/snapshot_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <new>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "core/chain.h"
#include "core/config.h"
#include "core/excerpt.h"
#include "core/fd_io.h"
#include "core/names.h"
#include "core/size.h"
#include "core/snapshot_restore.h"
#include "core/xattr_rules.h"
#include "core/xxh3.h"

namespace kvc {
namespace {

constexpr char kHeaderMagic[8] = {'K', 'V', 'C', 'S', 'N', 'A', 'P', '\0'};
constexpr char kTrailerMagic[8] = {'K', 'V', 'C', 'S', 'E', 'N', 'D', '\0'};
constexpr char kRecordMagic[4] = {'K', 'V', 'C', 'R'};
constexpr size_t kHeaderFixedBytes = 44;  // up to and including policy_len
constexpr size_t kRecordHeadBytes = 24;
constexpr size_t kTrailerBytes = 40;
// Small pieces (headers, metadata, small entries) are gathered into writes of this size; data
// pieces of kDirectWriteBytes or more go to the file as they are. Buffers that stay in the CPU's
// caches measured faster than 1 MiB ones (the copies in and out of the kernel dominate).
constexpr size_t kIoBufferBytes = 256 << 10;
constexpr size_t kDirectWriteBytes = 64 << 10;
// --- little-endian encoding ------------------------------------------------------------------

class Encoder {
  public:
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(uint16_t v) { le(v, 2); }
    void u32(uint32_t v) { le(v, 4); }
    void u64(uint64_t v) { le(v, 8); }
    void i32(int32_t v) { le(static_cast<uint32_t>(v), 4); }
    void i64(int64_t v) { le(static_cast<uint64_t>(v), 8); }
    void bytes(std::string_view b) { out_.append(b); }
    std::string& str() { return out_; }

  private:
    void le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string out_;
};

// Reads fields from a byte string; every read is bounds-checked and a failed one sticks.
class Decoder {
  public:
    explicit Decoder(std::string_view in) : in_(in) {}
    uint8_t u8() { return static_cast<uint8_t>(le(1)); }
    uint16_t u16() { return static_cast<uint16_t>(le(2)); }
    uint32_t u32() { return static_cast<uint32_t>(le(4)); }
    uint64_t u64() { return le(8); }
    int32_t i32() { return static_cast<int32_t>(static_cast<uint32_t>(le(4))); }
    int64_t i64() { return static_cast<int64_t>(le(8)); }
    std::string_view bytes(size_t n) {
        if (!ok_ || in_.size() < n) {
            ok_ = false;
            return {};
        }
        std::string_view out = in_.substr(0, n);
        in_.remove_prefix(n);
        return out;
    }
    bool ok() const { return ok_; }
    bool done() const { return ok_ && in_.empty(); }

  private:
    uint64_t le(size_t n) {
        std::string_view b = bytes(n);
        uint64_t v = 0;
        for (size_t i = 0; i < b.size(); ++i)
            v |= uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
        return v;
    }
    std::string_view in_;
    bool ok_ = true;
};

uint64_t loadLe64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    return v;
}

std::string le64(uint64_t v) {
    Encoder e;
    e.u64(v);
    return std::move(e.str());
}

// --- validation shared by writer and reader ---------------------------------------------------

// Symbolic links, FIFOs, sockets, character and block devices.
bool isNodeType(uint32_t type) {
    return type == 0120000 || type == 0010000 || type == 0140000 || type == 0020000 ||
           type == 0060000;
}

std::string_view kindName(SnapshotKind k) {
    switch (k) {
        case SnapshotKind::Directory:
            return "directory";
        case SnapshotKind::Entry:
            return "entry";
        case SnapshotKind::Link:
            return "link";
        case SnapshotKind::Symlink:
            return "symlink";
        case SnapshotKind::Special:
            return "special file";
    }
    return "record";
}

// A pool-relative path: components that are valid entry names, no leading or trailing '/'.
std::string checkPath(std::string_view path, std::string_view what) {
    if (path.size() > kSnapshotMaxPathBytes)
        return fmt::format("{} of {} bytes is longer than {}", what, path.size(),
                           kSnapshotMaxPathBytes);
    if (path.empty()) return fmt::format("{} is empty", what);
    while (true) {
        const size_t slash = path.find('/');
        const std::string_view part = path.substr(0, slash);
        if (part.empty() || part == "." || part == ".." || part.size() > 255 ||
            part.find('\0') != std::string_view::npos)
            return fmt::format("{} has an invalid component {:?}", what, part);
        if (slash == std::string_view::npos) return {};
        path.remove_prefix(slash + 1);
    }
}

// Field values a pool could have produced. Empty when the record is valid.
std::string validateRecord(const SnapshotRecord& r) {
    const uint32_t type = r.mode & 0170000;
    if ((r.mode & ~(0170000u | 07777u)) != 0) return fmt::format("mode {:o} is invalid", r.mode);
    if (r.kind == SnapshotKind::Directory) {
        if (type != 0040000) return fmt::format("directory with mode {:o}", r.mode);
        if (!r.path.empty())
            if (auto e = checkPath(r.path, "path"); !e.empty()) return e;
        if (r.data_len || !r.link_target.empty() || !r.parent.empty() || r.pinned || r.priority ||
            r.pin_ttl_s != -1 || r.layer != -1 || r.seq_len != -1 || r.access_count)
            return "directory with entry data or entry attributes";
        if (r.path.empty() && !r.xattrs.empty()) return "pool directory with attributes";
    } else if (r.kind == SnapshotKind::Entry || r.kind == SnapshotKind::Link) {
        // A link takes the type of what it names: an entry, a symbolic link or a special file.
        if (type != 0100000 && !(r.kind == SnapshotKind::Link && isNodeType(type)))
            return fmt::format("{} with mode {:o}", kindName(r.kind), r.mode);
        if (auto e = checkPath(r.path, "path"); !e.empty()) return e;
        if (r.kind == SnapshotKind::Entry && !r.link_target.empty())
            return "entry with a link target";
        if (r.rdev) return fmt::format("{} with a device number", kindName(r.kind));
        if (r.kind == SnapshotKind::Link) {
            if (r.data_len) return "link with data";
            if (auto e = checkPath(r.link_target, "link target"); !e.empty()) return e;
        }
    } else if (r.kind == SnapshotKind::Symlink || r.kind == SnapshotKind::Special) {
        const bool symlink = r.kind == SnapshotKind::Symlink;
        if (symlink ? type != 0120000 : !isNodeType(type) || type == 0120000)
            return fmt::format("{} with mode {:o}", kindName(r.kind), r.mode);
        if (auto e = checkPath(r.path, "path"); !e.empty()) return e;
        if (symlink) {
            if (auto st = validateSymlinkTarget(r.link_target); !st)
                return "symbolic link: " + st.error().message;
        } else if (!r.link_target.empty()) {
            return "special file with a link target";
        }
        if (r.rdev && type != 0020000 && type != 0060000)
            return fmt::format("{} with a device number", kindName(r.kind));
        if (r.data_len || !r.parent.empty() || r.pinned || r.priority || r.pin_ttl_s != -1 ||
            r.layer != -1 || r.seq_len != -1 || r.access_count || !r.xattrs.empty())
            return fmt::format("{} with entry data or attributes", kindName(r.kind));
    } else {
        return fmt::format("unknown record kind {}", static_cast<int>(r.kind));
    }
    if (r.pin_ttl_s < -1 || r.layer < -1 || r.seq_len < -1)
        return "negative pin_ttl, layer or seq_len";
    if (r.pin_ttl_s >= 0 && !r.pinned) return "pin_ttl on an entry that is not pinned";
    if (!r.parent.empty())
        if (auto e = checkPath(r.parent, "user.kvcache.parent"); !e.empty()) return e;
    size_t total = 0;
    for (size_t i = 0; i < r.xattrs.size(); ++i) {
        const auto& [k, v] = r.xattrs[i];
        if (k.size() <= 5 || k.compare(0, 5, "user.") != 0 || k.size() > kMaxXattrNameBytes ||
            k.compare(0, kKvcacheXattrPrefix.size(), kKvcacheXattrPrefix) == 0 ||
            k.find('\0') != std::string::npos)
            return fmt::format("attribute name {:?} is not a stored user.* attribute", k);
        if (v.size() > kMaxXattrValueBytes)
            return fmt::format("attribute {} of {} bytes is larger than {}", k, v.size(),
                               kMaxXattrValueBytes);
        if (i > 0 && !(r.xattrs[i - 1].first < k)) return "attributes not in ascending order";
        total += k.size() + v.size();
    }
    if (auto st = checkXattrTotals(r.xattrs.size(), total); !st) return st.error().message;
    return {};
}

// What a restore would make of a record, checked by the pool's own rules (core/names.h,
// core/xattr_rules.h), so that an image a pool would refuse in part is refused whole: names a
// pool keeps for its control files, and every attribute a restore sets (core/snapshot_restore.h)
// with the value it would set. Links only add a name. Empty when a pool would take it all.
std::string checkRestorable(const SnapshotRecord& r) {
    if (r.path.empty()) return {};
    if (auto st = validatePoolPath(r.path, "path"); !st) return st.error().message;
    if (r.kind != SnapshotKind::Directory && r.kind != SnapshotKind::Entry) return {};
    const bool dir = r.kind == SnapshotKind::Directory;
    for (const auto& [k, v] : dir ? r.xattrs : entryAttributes(r)) {
        auto parsed = parseXattr(k, v, dir);
        if (!parsed)
            return fmt::format("a pool refuses {} {}: {}", k, excerpt(v), parsed.error().message);
        // Chains are checked on the parent as a pool stores it.
        if (parsed->attr == KvAttr::Parent && parsed->text != v)
            return fmt::format("user.kvcache.parent {} is not as a pool stores it", excerpt(v));
    }
    return {};
}

std::string encodeMeta(const SnapshotRecord& r) {
    Encoder e;
    e.u16(static_cast<uint16_t>(r.path.size()));
    e.bytes(r.path);
    e.u32(r.mode);
    e.u32(r.uid);
    e.u32(r.gid);
    e.i64(r.atime_ns);
    e.i64(r.mtime_ns);
    e.i64(r.ctime_ns);
    e.i64(r.btime_ns);
    e.i32(r.priority);
    e.u8(r.pinned ? 1 : 0);
    e.i64(r.pin_ttl_s);
    e.i64(r.layer);
    e.i64(r.seq_len);
    e.u64(r.access_count);
    e.u16(static_cast<uint16_t>(r.parent.size()));
    e.bytes(r.parent);
    e.u16(static_cast<uint16_t>(r.link_target.size()));
    e.bytes(r.link_target);
    e.u16(static_cast<uint16_t>(r.xattrs.size()));
    for (const auto& [k, v] : r.xattrs) {
        e.u8(static_cast<uint8_t>(k.size()));
        e.u32(static_cast<uint32_t>(v.size()));
        e.bytes(k);
        e.bytes(v);
    }
    e.u64(r.rdev);  // version 2
    return std::move(e.str());
}

// Empty on success. Every length is checked by the Decoder against the bytes present; the
// values are checked by validateRecord once data_len is known.
std::string decodeMeta(std::string_view meta, uint32_t version, SnapshotRecord& r) {
    Decoder d(meta);
    r.path = std::string(d.bytes(d.u16()));
    r.mode = d.u32();
    r.uid = d.u32();
    r.gid = d.u32();
    r.atime_ns = d.i64();
    r.mtime_ns = d.i64();
    r.ctime_ns = d.i64();
    r.btime_ns = d.i64();
    r.priority = d.i32();
    const uint8_t pinned = d.u8();
    r.pinned = pinned == 1;
    r.pin_ttl_s = d.i64();
    r.layer = d.i64();
    r.seq_len = d.i64();
    r.access_count = d.u64();
    r.parent = std::string(d.bytes(d.u16()));
    r.link_target = std::string(d.bytes(d.u16()));
    const uint16_t count = d.u16();
    if (!d.ok()) return "meta ends early";
    if (pinned > 1) return fmt::format("pinned is {}, not 0 or 1", pinned);
    if (count > kMaxXattrsPerEntry)
        return fmt::format("{} attributes, more than {}", count, kMaxXattrsPerEntry);
    r.xattrs.clear();
    r.xattrs.reserve(count);
    for (uint16_t i = 0; i < count && d.ok(); ++i) {
        const uint8_t klen = d.u8();
        const uint32_t vlen = d.u32();
        if (vlen > kMaxXattrValueBytes)
            return fmt::format("attribute value of {} bytes is larger than {}", vlen,
                               kMaxXattrValueBytes);
        std::string k(d.bytes(klen));
        std::string v(d.bytes(vlen));
        r.xattrs.emplace_back(std::move(k), std::move(v));
    }
    r.rdev = version >= 2 ? d.u64() : 0;
    if (!d.ok()) return "meta ends early";
    if (!d.done()) return "meta has bytes after its last field";
    return {};
}

std::string parentDir(std::string_view path) {
    const size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string encodeRecordHead(SnapshotKind kind, uint32_t meta_len, uint64_t data_len) {
    Encoder e;
    e.bytes(std::string_view(kRecordMagic, 4));
    e.u8(static_cast<uint8_t>(kind));
    e.u8(0);
    e.u8(0);
    e.u8(0);
    e.u32(meta_len);
    e.u32(0);
    e.u64(data_len);
    return std::move(e.str());
}

std::string checkHeader(const SnapshotHeader& h) {
    if (h.block_size < kMinBlockSize || h.block_size > kMaxBlockSize ||
        (h.block_size & (h.block_size - 1)))
        return fmt::format("block size {} is not a power of two from {} to {}", h.block_size,
                           kMinBlockSize, kMaxBlockSize);
    if (h.flags != 0) return fmt::format("unknown flags {:#x}", h.flags);
    if (auto st = validatePoolName(h.pool); !st) return st.error().message;
    if (h.policy.empty() || h.policy.size() > kSnapshotMaxPolicyBytes)
        return fmt::format("policy name of {} bytes", h.policy.size());
    for (char c : h.policy)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
            return fmt::format("policy name {:?} has a character that is not allowed", h.policy);
    return {};
}

std::string errnoText(int e) {
    return std::strerror(e);
}

}  // namespace

namespace snapshot_detail {

// An xxh3-64 state that can be restarted.
struct Hasher {
    Hasher() : state(XXH3_createState()) {
        if (!state) throw std::bad_alloc();
        reset();
    }
    ~Hasher() { XXH3_freeState(state); }
    void reset() { XXH3_64bits_reset(state); }
    void update(const void* p, size_t n) { XXH3_64bits_update(state, p, n); }
    uint64_t digest() const { return XXH3_64bits_digest(state); }
    XXH3_state_t* state;
};

// The tree must be restorable in one pass: the pool's directory first, every record's
// directory before it, unique paths, and links naming an earlier entry.
class TreeCheck {
  public:
    std::string check(const SnapshotRecord& r) const {
        const bool is_root = r.kind == SnapshotKind::Directory && r.path.empty();
        if (seen_.empty())
            return is_root ? std::string()
                           : "the first record is not the pool's "
                             "directory";
        if (is_root) return "a second record for the pool's directory";
        if (seen_.count(r.path)) return fmt::format("path {:?} appears twice", r.path);
        auto dir = seen_.find(parentDir(r.path));
        if (dir == seen_.end() || dir->second != SnapshotKind::Directory)
            return fmt::format("{:?} comes before its directory", r.path);
        if (r.kind == SnapshotKind::Link) {
            auto t = seen_.find(r.link_target);
            if (t == seen_.end() ||
                (t->second != SnapshotKind::Entry && t->second != SnapshotKind::Symlink &&
                 t->second != SnapshotKind::Special))
                return fmt::format("link {:?} names {:?}, which is not an earlier entry or node",
                                   r.path, r.link_target);
        }
        return {};
    }
    void add(const SnapshotRecord& r) {
        seen_.emplace(r.path, r.kind);
        if (r.kind == SnapshotKind::Entry && !r.parent.empty()) parents_.emplace(r.path, r.parent);
        if (r.kind == SnapshotKind::Link) links_.emplace(r.path, r.link_target);
    }

    // Restored, the entries' chain parents must not loop (core/chain.h): a verifier refuses
    // what a restore would otherwise break up. O(entries).
    std::string checkChains() const {
        // The entry record a path names in the image (a link names its target's record).
        auto entryAt = [&](std::string_view path) -> std::optional<std::string_view> {
            if (auto l = links_.find(std::string(path)); l != links_.end()) path = l->second;
            auto e = seen_.find(std::string(path));
            if (e == seen_.end() || e->second != SnapshotKind::Entry) return std::nullopt;
            return std::string_view(e->first);
        };
        auto parent = [&](std::string_view entry) -> std::optional<std::string_view> {
            auto p = parents_.find(std::string(entry));
            if (p == parents_.end()) return std::nullopt;
            return entryAt(p->second);
        };
        ChainLoopFinder<std::string_view> finder;
        for (const auto& child : parents_)
            if (auto loop = finder.loopFrom(std::string_view(child.first), parent))
                return fmt::format(
                    "the chain parents (user.kvcache.parent) from {} on make a "
                    "loop, which no eviction could ever break",
                    excerpt(*loop));
        return {};
    }

  private:
    std::unordered_map<std::string, SnapshotKind> seen_;
    std::unordered_map<std::string, std::string> parents_;  // entry path -> its parent's path
    std::unordered_map<std::string, std::string> links_;    // link path -> entry path
};

}  // namespace snapshot_detail

using snapshot_detail::Hasher;
using snapshot_detail::TreeCheck;

// ============================================================================================
// Writer

SnapshotWriter::~SnapshotWriter() = default;

Error SnapshotWriter::ioError(const char* what) const {
    const int e = errno;
    return makeError(e, fmt::format("snapshot {}: {}: {}", name_, what, errnoText(e)));
}

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::start(int fd, std::string name,
                                                              const SnapshotHeader& header) {
    if (auto e = checkHeader(header); !e.empty())
        return makeError(EINVAL, fmt::format("snapshot {}: {}", name, e));
    if (header.version != kSnapshotFormatVersion)
        return makeError(EINVAL, fmt::format("snapshot {}: this build writes format version {}, "
                                             "not {}",
                                             name, kSnapshotFormatVersion, header.version));
    std::unique_ptr<SnapshotWriter> w(new SnapshotWriter);
    w->fd_ = fd;
    w->name_ = std::move(name);
    w->base_ = lseek(fd, 0, SEEK_CUR);
    w->seekable_ = w->base_ >= 0;
    if (!w->seekable_) w->base_ = 0;
    w->buffer_.reserve(kIoBufferBytes);
    w->record_hash_ = std::make_unique<Hasher>();
    w->image_hash_ = std::make_unique<Hasher>();
    w->tree_ = std::make_unique<TreeCheck>();

    Encoder e;
    e.bytes(std::string_view(kHeaderMagic, 8));
    e.u32(kSnapshotFormatVersion);
    e.u32(static_cast<uint32_t>(kHeaderFixedBytes + header.pool.size() + header.policy.size() + 8));
    e.u32(header.block_size);
    e.u32(header.flags);
    e.i64(header.created_ns);
    e.u64(header.capacity_bytes);
    e.u16(static_cast<uint16_t>(header.pool.size()));
    e.u16(static_cast<uint16_t>(header.policy.size()));
    e.bytes(header.pool);
    e.bytes(header.policy);
    const uint64_t sum = XXH3_64bits(e.str().data(), e.str().size());
    e.u64(sum);
    if (auto st = w->put(e.str().data(), e.str().size()); !st) return st.error();
    const std::string s = le64(sum);
    w->image_hash_->update(s.data(), s.size());
    return w;
}

Status SnapshotWriter::put(const void* data, size_t len) {
    if (failed_) return makeError(EIO, fmt::format("snapshot {}: an earlier write failed", name_));
    if (buffer_.size() + len > kIoBufferBytes || len >= kDirectWriteBytes)
        if (auto st = flush(); !st) return st;
    if (len >= kDirectWriteBytes) {
        // Large pieces (an entry's bytes) go straight to the file.
        if (!writeAll(fd_, data, len)) {
            failed_ = true;
            return ioError("write");
        }
        flushed_ += len;
    } else {
        const char* p = static_cast<const char*>(data);
        buffer_.insert(buffer_.end(), p, p + len);
    }
    logical_ += len;
    return {};
}

Status SnapshotWriter::flush() {
    if (!writeAll(fd_, buffer_.data(), buffer_.size())) {
        failed_ = true;
        return ioError("write");
    }
    flushed_ += buffer_.size();
    buffer_.clear();
    return {};
}

Status SnapshotWriter::beginRecord(const SnapshotRecord& rec) {
    if (in_record_)
        return makeError(
            EINVAL, fmt::format("snapshot {}: record {:?} begun inside another", name_, rec.path));
    auto invalid = [&](const std::string& why) {
        return makeError(EINVAL,
                         fmt::format("snapshot {}: cannot store {:?}: {}", name_, rec.path, why));
    };
    if (auto e = validateRecord(rec); !e.empty()) return invalid(e);
    if (auto e = tree_->check(rec); !e.empty()) return invalid(e);
    const std::string meta = encodeMeta(rec);
    const std::string head =
        encodeRecordHead(rec.kind, static_cast<uint32_t>(meta.size()), rec.data_len);
    record_start_ = logical_;
    record_hash_->reset();
    record_hash_->update(head.data(), head.size());
    record_hash_->update(meta.data(), meta.size());
    if (auto st = put(head.data(), head.size()); !st) return st;
    if (auto st = put(meta.data(), meta.size()); !st) return st;
    in_record_ = true;
    data_left_ = rec.data_len;
    pending_ = rec;
    pending_.xattrs.clear();
    return {};
}

Status SnapshotWriter::appendData(const void* data, size_t len) {
    if (!in_record_ || len > data_left_)
        return makeError(EINVAL, fmt::format("snapshot {}: {:?}: more data than the {} bytes "
                                             "declared",
                                             name_, pending_.path, pending_.data_len));
    record_hash_->update(data, len);
    data_left_ -= len;
    return put(data, len);
}

Status SnapshotWriter::appendZeros(uint64_t len) {
    if (!in_record_ || len > data_left_)
        return makeError(EINVAL, fmt::format("snapshot {}: {:?}: more data than the {} bytes "
                                             "declared",
                                             name_, pending_.path, pending_.data_len));
    static const std::vector<char> zeros(kIoBufferBytes, 0);
    if (!seekable_ || len < kDirectWriteBytes) {
        for (uint64_t left = len; left > 0;) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
            if (auto st = appendData(zeros.data(), n); !st) return st;
            left -= n;
        }
        return {};
    }
    for (uint64_t left = len; left > 0;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zeros.size()));
        record_hash_->update(zeros.data(), n);
        left -= n;
    }
    if (failed_) return makeError(EIO, fmt::format("snapshot {}: an earlier write failed", name_));
    if (auto st = flush(); !st) return st;
    // The bytes after it (the rest of the record, the trailer) give the file its size.
    if (lseek(fd_, static_cast<off_t>(len), SEEK_CUR) < 0) {
        failed_ = true;
        return ioError("lseek");
    }
    flushed_ += len;
    logical_ += len;
    data_left_ -= len;
    return {};
}

Status SnapshotWriter::endRecord() {
    if (!in_record_) return makeError(EINVAL, fmt::format("snapshot {}: no record", name_));
    if (data_left_)
        return makeError(EINVAL, fmt::format("snapshot {}: {:?}: {} of {} bytes missing", name_,
                                             pending_.path, data_left_, pending_.data_len));
    const std::string sum = le64(record_hash_->digest());
    if (auto st = put(sum.data(), sum.size()); !st) return st;
    image_hash_->update(sum.data(), sum.size());
    tree_->add(pending_);
    records_++;
    in_record_ = false;
    return {};
}

Status SnapshotWriter::abandonRecord() {
    if (!in_record_) return {};
    in_record_ = false;
    if (record_start_ >= flushed_) {
        buffer_.resize(record_start_ - flushed_);
    } else {
        // Part of the record already reached the file: cut it off again.
        // The image cannot go on after a failure here: it would hold part of a record.
        failed_ = true;
        if (!seekable_)
            return makeError(ESPIPE, fmt::format("snapshot {}: cannot drop {:?} from an output "
                                                 "that is not a file",
                                                 name_, pending_.path));
        buffer_.clear();  // all of it belongs to the record
        const off_t at = static_cast<off_t>(base_ + static_cast<int64_t>(record_start_));
        if (ftruncate(fd_, at) != 0) return ioError("ftruncate");
        if (lseek(fd_, at, SEEK_SET) < 0) return ioError("lseek");
        failed_ = false;
        flushed_ = record_start_;
    }
    logical_ = record_start_;
    return {};
}

Status SnapshotWriter::finish() {
    if (in_record_)
        return makeError(EINVAL,
                         fmt::format("snapshot {}: {:?} was not finished", name_, pending_.path));
    if (records_ == 0)
        return makeError(EINVAL,
                         fmt::format("snapshot {}: no record for the pool's directory", name_));
    Encoder e;
    e.bytes(std::string_view(kTrailerMagic, 8));
    e.u64(records_);
    e.u64(logical_ + kTrailerBytes);
    e.u64(image_hash_->digest());
    e.u64(XXH3_64bits(e.str().data(), e.str().size()));
    if (auto st = put(e.str().data(), e.str().size()); !st) return st;
    return flush();
}

// ============================================================================================
// Reader

namespace {

// Sequential reads through a buffer, with the position known, over a descriptor whose size was
// taken once: a read past that size means the file shrank under us.
class SeqReader {
  public:
    // The buffer is no larger than the file: small images are common in tests and tools.
    SeqReader(int fd, uint64_t file_size)
        : fd_(fd), buf_(static_cast<size_t>(std::min<uint64_t>(kIoBufferBytes, file_size + 1))) {}
    uint64_t pos() const { return pos_; }
    void seek(uint64_t pos) {
        if (pos >= start_ && pos <= start_ + len_) {
            at_ = static_cast<size_t>(pos - start_);
        } else {
            start_ = pos;
            len_ = at_ = 0;
        }
        pos_ = pos;
    }
    // Up to `max` bytes at the position, from the buffer; empty at the end of the file.
    Result<std::string_view> chunk(size_t max) {
        if (at_ == len_) {
            start_ = pos_;
            at_ = len_ = 0;
            ssize_t n;
            do {
                n = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(pos_));
            } while (n < 0 && errno == EINTR);
            if (n < 0) return makeError(errno, errnoText(errno));
            len_ = static_cast<size_t>(n);
        }
        const size_t n = std::min(max, len_ - at_);
        std::string_view out(buf_.data() + at_, n);
        at_ += n;
        pos_ += n;
        return out;
    }
    // Up to `max` bytes into `out`: what the buffer holds, else, for a request at least as large
    // as the buffer, straight from the file (no second copy of an entry's bytes).
    Result<size_t> readInto(char* out, size_t max) {
        if (at_ == len_ && max >= buf_.size()) {
            ssize_t n;
            do {
                n = ::pread(fd_, out, max, static_cast<off_t>(pos_));
            } while (n < 0 && errno == EINTR);
            if (n < 0) return makeError(errno, errnoText(errno));
            pos_ += static_cast<uint64_t>(n);
            start_ = pos_;
            at_ = len_ = 0;
            return static_cast<size_t>(n);
        }
        auto c = chunk(max);
        if (!c) return c.error();
        std::memcpy(out, c->data(), c->size());
        return c->size();
    }
    // Exactly `n` bytes; false (with the error, if any) when the file ends first.
    Result<bool> read(std::string& out, size_t n) {
        out.clear();
        while (out.size() < n) {
            auto c = chunk(n - out.size());
            if (!c) return c.error();
            if (c->empty()) return false;
            out.append(*c);
        }
        return true;
    }

  private:
    int fd_;
    std::vector<char> buf_;
    uint64_t start_ = 0;  // file offset of buf_[0]
    size_t len_ = 0, at_ = 0;
    uint64_t pos_ = 0;
};

}  // namespace

struct SnapshotReader::Cursor {
    Cursor(int fd, uint64_t size) : in(fd, size) {}
    SeqReader in;
    Hasher hash;
    size_t next = 0;  // index of the record next() returns
    bool in_record = false;
    uint64_t data_left = 0;
    uint64_t record_end = 0;  // offset of the record's checksum
};

SnapshotReader::~SnapshotReader() {
    if (fd_ >= 0) ::close(fd_);
}

Error SnapshotReader::damaged(std::string what) const {
    return makeError(EBADMSG, fmt::format("snapshot {}: {}", name_, what));
}

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::open(const std::string& path,
                                                             const SnapshotProgress& progress) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        return makeError(e, fmt::format("snapshot {}: {}", path, errnoText(e)));
    }
    return fromFd(fd, path, progress);
}

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::fromFd(int fd, std::string name,
                                                               const SnapshotProgress& progress) {
    std::unique_ptr<SnapshotReader> r(new SnapshotReader);
    r->fd_ = fd;
    r->name_ = std::move(name);
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        return makeError(e, fmt::format("snapshot {}: {}", r->name_, errnoText(e)));
    }
    if (!S_ISREG(st.st_mode))
        return makeError(EINVAL, fmt::format("snapshot {}: not a regular file", r->name_));
    r->size_ = static_cast<uint64_t>(st.st_size);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (auto v = r->verify(progress); !v) return v.error();
    r->cursor_ = std::make_unique<Cursor>(fd, r->size_);
    r->rewind();
    return r;
}

// Where a record starts, as messages name it.
struct RecordPlace {
    uint64_t number;
    uint64_t at;         // byte offset of its header
    uint64_t remaining;  // bytes from there to the end of the file
};

// A record's fixed header, checked against the bytes that remain.
struct RecordHead {
    uint8_t kind;
    uint32_t meta_len;
    uint64_t data_len;
};

// One pass over the whole image, made by open() before any record is handed out: the header,
// each record and the trailer are read once and checked before anything that depends on them.
// It fills the reader's header, index, checksums and summary.
struct SnapshotReader::Verifier {
    Verifier(SnapshotReader& reader, const SnapshotProgress& on_progress)
        : r(reader), in(reader.fd_, reader.size_), progress(on_progress) {}

    Status readHeader();
    bool trailerAtEnd() const;
    // The record at the read position, checked and added to the index; false at the trailer.
    Result<bool> readRecord(uint64_t number);
    Status readTrailer();

    SnapshotReader& r;
    SeqReader in;
    const SnapshotProgress& progress;
    bool trailer_at_end = false;  // a valid trailer ends the file
    Hasher image;                 // the header's checksum, then every record's
    Hasher hash;                  // the record being read
    TreeCheck tree;

  private:
    Error truncatedAt(std::string_view inside) const;
    Error overrun(const RecordPlace& place, std::string claim) const;
    Status readExact(std::string& out, size_t n);
    Status decodeHeader(const std::string& head, uint32_t version);
    bool trailerStartsAt(uint64_t at) const;
    Result<RecordHead> readRecordHead(const RecordPlace& place);
    Status hashData(uint64_t data_len);
    Result<SnapshotRecord> decodeRecord(const RecordHead& head, const RecordPlace& place);
    void addToSummary(const SnapshotRecord& rec);

    std::string meta_;  // the record being read
    uint64_t last_progress_ = 0;
    // Of the record's data read so far: blocks (of the image's block size) with a byte that is
    // not zero; the others need no room in a pool (holes).
    uint64_t data_blocks_ = 0;
};

Error SnapshotReader::Verifier::truncatedAt(std::string_view inside) const {
    return r.damaged(fmt::format("truncated at byte {} ({})", r.size_, inside));
}

// What a record claims is told as claimed: its lengths may be the damaged part.
Error SnapshotReader::Verifier::overrun(const RecordPlace& p, std::string claim) const {
    if (trailer_at_end)
        return r.damaged(
            fmt::format("record {} at byte {} claims {}, but only {} bytes "
                        "remain before the trailer",
                        p.number, p.at, claim, p.remaining - kTrailerBytes));
    return truncatedAt(fmt::format("record {} at byte {} needs {}, {} bytes remain", p.number, p.at,
                                   claim, p.remaining));
}

Status SnapshotReader::Verifier::readExact(std::string& out, size_t n) {
    auto got = in.read(out, n);
    if (!got) return r.damaged(fmt::format("read error: {}", got.error().message));
    if (!*got)
        return r.damaged(fmt::format("the file shrank to {} bytes while being read", in.pos()));
    return {};
}

// Header: magic, version and length first; nothing after them is trusted before the header's
// checksum matches. Then the image checksum starts with the header's.
Status SnapshotReader::Verifier::readHeader() {
    std::string buf;
    if (r.size_ == 0) return r.damaged("empty file, not a kvcachefs snapshot");
    if (r.size_ < 16) {
        if (auto st = readExact(buf, static_cast<size_t>(r.size_)); !st) return st;
        if (std::memcmp(buf.data(), kHeaderMagic, std::min<size_t>(8, buf.size())) != 0)
            return r.damaged("not a kvcachefs snapshot (bad magic)");
        return truncatedAt("inside the header");
    }
    if (auto st = readExact(buf, 16); !st) return st;
    if (std::memcmp(buf.data(), kHeaderMagic, 8) != 0)
        return r.damaged("not a kvcachefs snapshot (bad magic)");
    Decoder fixed(std::string_view(buf).substr(8));
    const uint32_t version = fixed.u32();
    const uint32_t header_len = r.header_len_ = fixed.u32();
    // A bound for every version (a newer header may be longer than this version's); the exact
    // length of a version 1 header is checked once its fields are read.
    constexpr size_t kMaxHeader = 65536;
    if (header_len < 24 || header_len > kMaxHeader)
        return r.damaged(
            fmt::format("header length {} is impossible (format version {})", header_len, version));
    if (header_len > r.size_) return truncatedAt("inside the header");
    std::string rest;
    if (auto st = readExact(rest, header_len - 16); !st) return st;
    const std::string head = buf + rest;
    if (XXH3_64bits(head.data(), header_len - 8) != loadLe64(head.data() + header_len - 8))
        return r.damaged("the header fails its checksum");
    if (version < kSnapshotOldestVersion || version > kSnapshotFormatVersion)
        return r.damaged(fmt::format("format version {}, this build reads {} to {}", version,
                                     kSnapshotOldestVersion, kSnapshotFormatVersion));
    if (auto st = decodeHeader(head, version); !st) return st;
    const std::string s = le64(loadLe64(head.data() + header_len - 8));
    image.update(s.data(), s.size());
    return {};
}

// The fields of a header whose checksum matched.
Status SnapshotReader::Verifier::decodeHeader(const std::string& head, uint32_t version) {
    SnapshotHeader& h = r.header_;
    Decoder d(std::string_view(head).substr(16, r.header_len_ - 24));
    h.version = version;
    h.block_size = d.u32();
    h.flags = d.u32();
    h.created_ns = d.i64();
    h.capacity_bytes = d.u64();
    const uint16_t pool_len = d.u16();
    const uint16_t policy_len = d.u16();
    h.pool = std::string(d.bytes(pool_len));
    h.policy = std::string(d.bytes(policy_len));
    if (!d.done()) return r.damaged("the header's lengths do not add up");
    if (auto e = checkHeader(h); !e.empty()) return r.damaged("header: " + e);
    return {};
}

// A valid trailer at the very end tells a damaged length from a file cut short.
bool SnapshotReader::Verifier::trailerAtEnd() const {
    if (r.size_ < r.header_len_ + kTrailerBytes) return false;
    std::string t(kTrailerBytes, '\0');
    return ::pread(r.fd_, t.data(), t.size(), static_cast<off_t>(r.size_ - kTrailerBytes)) ==
               static_cast<ssize_t>(kTrailerBytes) &&
           std::memcmp(t.data(), kTrailerMagic, 8) == 0 &&
           XXH3_64bits(t.data(), 32) == loadLe64(t.data() + 32) &&
           loadLe64(t.data() + 16) == r.size_;
}

bool SnapshotReader::Verifier::trailerStartsAt(uint64_t at) const {
    if (r.size_ - at < 8) return false;
    std::string peek(8, '\0');
    return ::pread(r.fd_, peek.data(), 8, static_cast<off_t>(at)) == 8 &&
           std::memcmp(peek.data(), kTrailerMagic, 8) == 0;
}

Result<bool> SnapshotReader::Verifier::readRecord(uint64_t number) {
    const uint64_t at = in.pos();
    const RecordPlace place{number, at, r.size_ - at};
    if (trailerStartsAt(at)) return false;
    if (place.remaining == 0)
        return truncatedAt(fmt::format("no trailer after record {}", number - 1));
    auto head = readRecordHead(place);
    if (!head) return head.error();
    if (auto st = readExact(meta_, head->meta_len); !st) return st.error();
    hash.update(meta_.data(), meta_.size());
    if (auto st = hashData(head->data_len); !st) return st.error();
    std::string sum;
    if (auto st = readExact(sum, 8); !st) return st.error();
    const uint64_t checksum = hash.digest();
    if (checksum != loadLe64(sum.data()))
        return r.damaged(fmt::format("record {} at byte {} fails its checksum", number, at));
    auto rec = decodeRecord(*head, place);
    if (!rec) return rec.error();
    image.update(sum.data(), sum.size());
    r.checksums_.push_back(checksum);
    addToSummary(*rec);
    const uint64_t room = std::min(head->data_len, data_blocks_ * r.header_.block_size);
    r.summary_.data_room += room;
    r.summary_.largest_room = std::max(r.summary_.largest_room, room);
    r.index_.push_back(
        SnapshotIndexItem{rec->kind, std::move(rec->path), head->data_len, at, room});
    return true;
}

// The fixed header of a record: its lengths are checked against the bytes left before anything
// is read or summed. The record's checksum starts with it.
Result<RecordHead> SnapshotReader::Verifier::readRecordHead(const RecordPlace& p) {
    if (p.remaining < kRecordHeadBytes)
        return overrun(p, fmt::format("a {}-byte header", kRecordHeadBytes));
    std::string rh;
    if (auto st = readExact(rh, kRecordHeadBytes); !st) return st.error();
    if (std::memcmp(rh.data(), kRecordMagic, 4) != 0)
        return r.damaged(fmt::format("record {} at byte {}: bad record magic", p.number, p.at));
    Decoder d(std::string_view(rh).substr(4));
    const uint8_t kind = d.u8();
    const uint32_t reserved = uint32_t{d.u8()} | uint32_t{d.u8()} << 8 | uint32_t{d.u8()} << 16;
    const uint32_t meta_len = d.u32();
    const uint32_t reserved2 = d.u32();
    const uint64_t data_len = d.u64();
    // Kinds 4 and 5 came with version 2: a version 1 image holding one is damaged.
    const uint8_t last_kind =
        uint8_t(r.header_.version < 2 ? SnapshotKind::Link : SnapshotKind::Special);
    if (kind < 1 || kind > last_kind || reserved || reserved2)
        return r.damaged(
            fmt::format("record {} at byte {}: bad record header (kind {})", p.number, p.at, kind));
    if (meta_len > kSnapshotMaxMetaBytes)
        return r.damaged(fmt::format("record {} at byte {}: meta of {} bytes is larger than {}",
                                     p.number, p.at, meta_len, kSnapshotMaxMetaBytes));
    const uint64_t after_head = p.remaining - kRecordHeadBytes;
    if (meta_len > after_head || data_len > after_head - meta_len ||
        8 > after_head - meta_len - data_len)
        return overrun(p, fmt::format("{} bytes of metadata and {} of data", meta_len, data_len));
    hash.reset();
    hash.update(rh.data(), rh.size());
    return RecordHead{kind, meta_len, data_len};
}

// A record's data goes into its checksum in pieces, with progress told as it goes.
Status SnapshotReader::Verifier::hashData(uint64_t data_len) {
    const uint64_t bs = r.header_.block_size;
    uint64_t pos = 0;      // in the data
    bool nonzero = false;  // in the block at pos
    data_blocks_ = 0;
    for (uint64_t left = data_len; left > 0;) {
        auto c = in.chunk(static_cast<size_t>(std::min<uint64_t>(left, kIoBufferBytes)));
        if (!c) return r.damaged(fmt::format("read error: {}", c.error().message));
        if (c->empty()) return r.damaged("the file shrank while being read");
        hash.update(c->data(), c->size());
        for (size_t i = 0; i < c->size();) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(c->size() - i, bs - pos % bs));
            const char* b = c->data() + i;
            if (!nonzero) nonzero = b[0] != 0 || std::memcmp(b, b + 1, n - 1) != 0;
            i += n;
            pos += n;
            if (pos % bs == 0 || pos == data_len) {
                data_blocks_ += nonzero;
                nonzero = false;
            }
        }
        left -= c->size();
        if (progress && in.pos() - last_progress_ >= kIoBufferBytes) {
            last_progress_ = in.pos();
            progress(in.pos());
        }
    }
    return {};
}

// The metadata of a record whose checksum matched, checked on its own, in the tree of the
// records before it, and against what a pool would take.
Result<SnapshotRecord> SnapshotReader::Verifier::decodeRecord(const RecordHead& head,
                                                              const RecordPlace& p) {
    SnapshotRecord rec;
    rec.kind = static_cast<SnapshotKind>(head.kind);
    if (auto e = decodeMeta(meta_, r.header_.version, rec); !e.empty())
        return r.damaged(fmt::format("record {} at byte {}: {}", p.number, p.at, e));
    rec.data_len = head.data_len;
    if (auto e = validateRecord(rec); !e.empty())
        return r.damaged(fmt::format("record {} ({:?}): {}", p.number, rec.path, e));
    if (auto e = tree.check(rec); !e.empty())
        return r.damaged(fmt::format("record {}: {}", p.number, e));
    if (auto e = checkRestorable(rec); !e.empty())
        return r.damaged(fmt::format("record {} ({:?}): {}", p.number, rec.path, e));
    tree.add(rec);
    return rec;
}

void SnapshotReader::Verifier::addToSummary(const SnapshotRecord& rec) {
    SnapshotSummary& s = r.summary_;
    switch (rec.kind) {
        case SnapshotKind::Directory:
            if (!rec.path.empty()) s.directories++;
            break;
        case SnapshotKind::Entry:
            s.entries++;
            s.data_bytes += rec.data_len;
            s.largest_entry = std::max(s.largest_entry, rec.data_len);
            break;
        case SnapshotKind::Link:
            s.links++;
            break;
        case SnapshotKind::Symlink:
        case SnapshotKind::Special:
            s.nodes++;
            break;
    }
}

// The trailer: right after the last record, the last bytes of the file, and agreeing with the
// records read.
Status SnapshotReader::Verifier::readTrailer() {
    const uint64_t at = in.pos();
    if (r.size_ - at < kTrailerBytes) return truncatedAt("inside the trailer");
    if (r.size_ - at > kTrailerBytes)
        return r.damaged(fmt::format("{} bytes follow the trailer at byte {}",
                                     r.size_ - at - kTrailerBytes, at));
    std::string t;
    if (auto st = readExact(t, kTrailerBytes); !st) return st;
    if (XXH3_64bits(t.data(), 32) != loadLe64(t.data() + 32))
        return r.damaged("the trailer fails its checksum");
    const uint64_t count = loadLe64(t.data() + 8);
    const uint64_t total = loadLe64(t.data() + 16);
    if (count != r.index_.size())
        return r.damaged(
            fmt::format("the trailer counts {} records, the file has {}", count, r.index_.size()));
    if (total != r.size_)
        return r.damaged(
            fmt::format("the trailer says the image is {} bytes, the file has {}", total, r.size_));
    if (loadLe64(t.data() + 24) != image.digest())
        return r.damaged(
            "the image checksum does not match its records (records missing, "
            "reordered or replaced)");
    return {};
}

Status SnapshotReader::verify(const SnapshotProgress& progress) {
    Verifier v(*this, progress);
    if (auto st = v.readHeader(); !st) return st;
    v.trailer_at_end = v.trailerAtEnd();
    index_.clear();
    checksums_.clear();
    summary_ = SnapshotSummary{};
    summary_.file_bytes = size_;
    for (uint64_t number = 1;; ++number) {
        auto more = v.readRecord(number);
        if (!more) return more.error();
        if (!*more) break;
    }
    if (auto st = v.readTrailer(); !st) return st;
    if (index_.empty() || index_.front().kind != SnapshotKind::Directory)
        return damaged("no record for the pool's directory");
    if (auto e = v.tree.checkChains(); !e.empty()) return damaged(e);
    summary_.records = index_.size();
    if (progress) progress(size_);
    return {};
}

void SnapshotReader::rewind() {
    cursor_->next = 0;
    cursor_->in_record = false;
    cursor_->data_left = 0;
}

Result<bool> SnapshotReader::next(SnapshotRecord& rec) {
    Cursor& c = *cursor_;
    c.in_record = false;
    if (c.next >= index_.size()) return false;
    const size_t i = c.next++;
    const uint64_t at = index_[i].offset;
    const auto changed = [&](std::string_view what) {
        return damaged(
            fmt::format("record {} at byte {} changed since it was verified ({}); "
                        "was the file modified?",
                        i + 1, at, what));
    };
    c.in.seek(at);
    std::string rh, meta;
    auto got = c.in.read(rh, kRecordHeadBytes);
    if (!got || !*got) return changed("cannot read it again");
    Decoder d(std::string_view(rh).substr(4));
    const uint8_t kind = d.u8();
    d.bytes(3);
    const uint32_t meta_len = d.u32();
    d.u32();
    const uint64_t data_len = d.u64();
    if (std::memcmp(rh.data(), kRecordMagic, 4) != 0 || kind != uint8_t(index_[i].kind) ||
        data_len != index_[i].data_len || meta_len > kSnapshotMaxMetaBytes ||
        at + kRecordHeadBytes + meta_len + data_len + 8 > size_)
        return changed("its header");
    got = c.in.read(meta, meta_len);
    if (!got || !*got) return changed("cannot read it again");
    rec = SnapshotRecord{};
    rec.kind = static_cast<SnapshotKind>(kind);
    if (auto e = decodeMeta(meta, header_.version, rec); !e.empty() || rec.path != index_[i].path)
        return changed("its metadata");
    rec.data_len = data_len;
    c.hash.reset();
    c.hash.update(rh.data(), rh.size());
    c.hash.update(meta.data(), meta.size());
    c.in_record = true;
    c.data_left = data_len;
    c.record_end = at + kRecordHeadBytes + meta_len + data_len;
    return true;
}

Result<size_t> SnapshotReader::readData(void* out, size_t len) {
    Cursor& c = *cursor_;
    if (!c.in_record || c.data_left == 0) return size_t{0};
    char* dst = static_cast<char*>(out);
    size_t done = 0;
    while (done < len && c.data_left > 0) {
        auto n = c.in.readInto(dst + done,
                               static_cast<size_t>(std::min<uint64_t>(len - done, c.data_left)));
        if (!n) return damaged(fmt::format("read error: {}", n.error().message));
        if (*n == 0) return damaged("the file shrank since it was verified");
        c.hash.update(dst + done, *n);
        done += *n;
        c.data_left -= *n;
    }
    return done;
}

Status SnapshotReader::checkRecord() {
    Cursor& c = *cursor_;
    const size_t i = c.next - 1;
    if (!c.in_record || c.data_left != 0)
        return makeError(
            EINVAL, fmt::format("snapshot {}: record {} was not read to its end", name_, i + 1));
    std::string sum;
    c.in.seek(c.record_end);
    auto got = c.in.read(sum, 8);
    if (!got || !*got || loadLe64(sum.data()) != c.hash.digest() ||
        c.hash.digest() != checksums_[i])
        return damaged(
            fmt::format("record {} ({:?}) changed since it was verified; was the file "
                        "modified?",
                        i + 1, index_[i].path));
    c.in_record = false;
    return {};
}

std::string_view snapshotKindName(SnapshotKind kind) {
    return kindName(kind);
}

}  // namespace kvc
