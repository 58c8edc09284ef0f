// Remote values: encoding and the checks a fetched value must pass.
#include "core/tiers/remote_value.h"

#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "core/record_codec.h"

namespace kvc {
namespace {

// Fixed part of the header, little-endian, 80 bytes.
struct Header {
    uint32_t magic;
    uint16_t version;
    uint16_t header_bytes;  // kRemoteHeaderBytes: room to grow without a new version
    uint64_t payload_bytes;
    uint64_t fingerprint;
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    int32_t priority;
    int64_t layer;
    int64_t seq_len;
    int64_t mtime_ns;
    uint16_t parent_bytes;
    uint16_t path_bytes;
    uint32_t reserved;
    uint64_t checksum;  // of the whole value with this field zero
};
static_assert(sizeof(Header) == kRemoteHeaderBytes);
static_assert(std::endian::native == std::endian::little, "the value layout is little-endian");

// XXH3-64 of the value with the checksum field read as zero, without copying the value (it may be
// megabytes): the same as hashBytes() of such a copy.
uint64_t checksumOf(std::string_view value) {
    constexpr size_t at = offsetof(Header, checksum);
    constexpr uint64_t zero = 0;
    XXH3_state_t* state = XXH3_createState();
    XXH3_64bits_reset(state);
    XXH3_64bits_update(state, value.data(), at);
    XXH3_64bits_update(state, &zero, sizeof zero);
    XXH3_64bits_update(state, value.data() + at + sizeof zero, value.size() - at - sizeof zero);
    const uint64_t sum = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    return sum;
}

}  // namespace

std::string remoteKey(std::string_view name_space, std::string_view pool, std::string_view path) {
    return fmt::format("{{}}{}:{}:{}", name_space, pool, path);
}

uint64_t layoutFingerprint(std::string_view layout) {
    return hashBytes(layout.data(), layout.size());
}

std::string encodeRemoteValue(const EntryImage& image, uint64_t fingerprint) {
    Header h{};
    h.magic = kRemoteMagic;
    h.version = kRemoteVersion;
    h.header_bytes = kRemoteHeaderBytes;
    h.payload_bytes = image.data.size();
    h.fingerprint = fingerprint;
    copyImageMeta(h, image);
    h.parent_bytes = static_cast<uint16_t>(image.parent.size());  // at most 4096
    h.path_bytes = static_cast<uint16_t>(image.path.size());
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out += image.parent;
    out += image.path;
    out += image.data;
    const uint64_t sum = hashBytes(out.data(), out.size());  // checksum field is zero here
    std::memcpy(out.data() + offsetof(Header, checksum), &sum, sizeof sum);
    return out;
}

DecodedValue decodeRemoteValue(std::string_view value, uint64_t fingerprint,
                               std::string_view path) {
    DecodedValue d;
    Header h{};
    if (value.size() < sizeof h) {
        d.problem = fmt::format("{} bytes, shorter than the header", value.size());
        return d;
    }
    std::memcpy(&h, value.data(), sizeof h);
    if (h.magic != kRemoteMagic || h.header_bytes != kRemoteHeaderBytes) {
        d.problem = "not a kvcachefs value (bad magic)";
        return d;
    }
    if (h.version != kRemoteVersion) {
        d.problem =
            fmt::format("format version {}, this build reads {}", h.version, kRemoteVersion);
        return d;
    }
    if (value.size() != sizeof h + h.parent_bytes + h.path_bytes + h.payload_bytes) {
        d.problem = fmt::format("{} bytes, the header says {}", value.size(),
                                sizeof h + h.parent_bytes + h.path_bytes + h.payload_bytes);
        return d;
    }
    if (checksumOf(value) != h.checksum) {
        d.problem = "checksum mismatch";
        return d;
    }
    const std::string_view stored_path = value.substr(sizeof h + h.parent_bytes, h.path_bytes);
    if (stored_path != path) {
        d.problem = fmt::format("value of \"{}\" stored under \"{}\"", stored_path, path);
        return d;
    }
    if (h.fingerprint != fingerprint) {
        d.check = RemoteCheck::OtherLayout;
        d.problem = "written for another layout";
        return d;
    }
    d.check = RemoteCheck::Ok;
    EntryImage& img = d.image;
    img.path = std::string(stored_path);
    img.parent = std::string(value.substr(sizeof h, h.parent_bytes));
    img.data = std::string(value.substr(sizeof h + h.parent_bytes + h.path_bytes));
    copyImageMeta(img, h);
    return d;
}

}  // namespace kvc
