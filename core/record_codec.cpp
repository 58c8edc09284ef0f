// Encoding of inode blobs and record checksums (xxh3).
#include "core/record_codec.h"

#include <cstring>

#include "core/xxh3.h"

namespace kvc {
namespace {

template <class T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

class Reader {
  public:
    explicit Reader(std::string_view b) : b_(b) {}
    template <class T>
    bool get(T& v) {
        if (b_.size() < sizeof v) return false;
        std::memcpy(&v, b_.data(), sizeof v);
        b_.remove_prefix(sizeof v);
        return true;
    }
    bool bytes(size_t n, std::string& out) {
        if (b_.size() < n) return false;
        out.assign(b_.data(), n);
        b_.remove_prefix(n);
        return true;
    }
    bool done() const { return b_.empty(); }

  private:
    std::string_view b_;
};

}  // namespace

std::string encodeBlob(const InodeBlob& blob) {
    std::string out;
    put<uint32_t>(out, static_cast<uint32_t>(blob.parent.size()));
    out += blob.parent;
    put<uint32_t>(out, static_cast<uint32_t>(blob.xattrs.size()));
    for (const auto& [k, v] : blob.xattrs) {
        put<uint32_t>(out, static_cast<uint32_t>(k.size()));
        out += k;
        put<uint32_t>(out, static_cast<uint32_t>(v.size()));
        out += v;
    }
    put<uint32_t>(out, static_cast<uint32_t>(blob.extra_extents.size()));
    for (const Extent& e : blob.extra_extents) {
        put(out, e.start);
        put(out, e.count);
    }
    if (!blob.target.empty()) {
        put<uint32_t>(out, static_cast<uint32_t>(blob.target.size()));
        out += blob.target;
    }
    return out;
}

std::optional<InodeBlob> decodeBlob(std::string_view bytes) {
    Reader r(bytes);
    InodeBlob blob;
    uint32_t n = 0;
    if (!r.get(n) || !r.bytes(n, blob.parent)) return std::nullopt;
    uint32_t count = 0;
    if (!r.get(count)) return std::nullopt;
    for (uint32_t i = 0; i < count; ++i) {
        std::string k, v;
        uint32_t kl = 0, vl = 0;
        if (!r.get(kl) || !r.bytes(kl, k) || !r.get(vl) || !r.bytes(vl, v)) return std::nullopt;
        blob.xattrs.emplace(std::move(k), std::move(v));
    }
    if (!r.get(count)) return std::nullopt;
    for (uint32_t i = 0; i < count; ++i) {
        Extent e;
        if (!r.get(e.start) || !r.get(e.count)) return std::nullopt;
        blob.extra_extents.push_back(e);
    }
    if (!r.done()) {
        uint32_t len = 0;
        if (!r.get(len) || len == 0 || !r.bytes(len, blob.target)) return std::nullopt;
    }
    if (!r.done()) return std::nullopt;
    return blob;
}

uint64_t hashBytes(const void* data, size_t len) {
    return XXH3_64bits(data, len);
}

uint64_t inodeRecordChecksum(const InodeRecord& rec) {
    InodeRecord copy;
    std::memcpy(&copy, &rec, sizeof copy);
    copy.checksum = 0;
    return hashBytes(&copy, sizeof copy);
}

uint64_t direntRecordChecksum(const DirentRecord& rec) {
    DirentRecord copy;
    std::memcpy(&copy, &rec, sizeof copy);
    copy.checksum = 0;
    return hashBytes(&copy, sizeof copy);
}

}  // namespace kvc
