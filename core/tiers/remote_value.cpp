// Remote values: encoding and the checks a fetched value must pass.
#include "core/tiers/remote_value.h"

#include <cstring>

#include <fmt/format.h>

#include "core/record_codec.h"
#include "core/xxh3.h"

namespace kvc {
namespace {

// Fixed part of the header, little-endian but for the order key, 104 bytes.
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
    uint32_t flags;                    // kTombstone, or 0
    uint64_t checksum;                 // of the whole value with this field zero
    uint8_t order[kRemoteOrderBytes];  // see kRemoteOrderOffset
    uint8_t reserved[7];
};
static_assert(offsetof(Header, order) == kRemoteOrderOffset);
constexpr uint32_t kTombstone = 1;

void putOrder(Header& h, const Version& v, bool tombstone) {
    for (int i = 0; i < 8; ++i) {
        h.order[i] = static_cast<uint8_t>(v.hlc >> (56 - 8 * i));
        h.order[8 + i] = static_cast<uint8_t>(v.node >> (56 - 8 * i));
    }
    h.order[16] = tombstone ? 0 : 1;
}

Version orderVersion(const Header& h) {
    Version v;
    for (int i = 0; i < 8; ++i) {
        v.hlc = (v.hlc << 8) | h.order[i];
        v.node = (v.node << 8) | h.order[8 + i];
    }
    return v;
}
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

// Offsets in Lua are 1-based: the first 8 bytes are magic, format version and header size (a
// value of another format is not compared, only replaced); the order key follows at 81. Bytes
// are compared one by one: Lua's string comparison follows the server's locale.
const std::string_view kRemotePutScript = R"lua(
local new = ARGV[1]
local head = redis.call('GETRANGE', KEYS[1], 0, 96)
if #head == 97 and string.sub(head, 1, 8) == string.sub(new, 1, 8) then
  local newer = false
  for i = 81, 97 do
    local a, b = string.byte(new, i), string.byte(head, i)
    if a ~= b then
      newer = a > b
      break
    end
  end
  if not newer then return 0 end
end
local r
if ARGV[2] ~= '0' then
  r = redis.pcall('SET', KEYS[1], new, 'PX', ARGV[2])
else
  r = redis.pcall('SET', KEYS[1], new)
end
if type(r) == 'table' and r.err then
  if ARGV[3] == '1' then
    redis.call('DEL', KEYS[1])
    return 2
  end
  return redis.error_reply(r.err)
end
return 1
)lua";

std::string remoteKey(std::string_view name_space, std::string_view pool, std::string_view path) {
    return fmt::format("{{}}{}:{}:{}", name_space, pool, path);
}

uint64_t layoutFingerprint(std::string_view layout) {
    return hashBytes(layout.data(), layout.size());
}

namespace {

std::string encode(Header& h, std::string_view parent, std::string_view path, std::string_view data,
                   uint64_t fingerprint) {
    h.magic = kRemoteMagic;
    h.version = kRemoteVersion;
    h.header_bytes = kRemoteHeaderBytes;
    h.payload_bytes = data.size();
    h.fingerprint = fingerprint;
    h.parent_bytes = static_cast<uint16_t>(parent.size());  // at most 4096
    h.path_bytes = static_cast<uint16_t>(path.size());
    std::string out;
    out.reserve(sizeof h + parent.size() + path.size() + data.size());
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out += parent;
    out += path;
    out += data;
    const uint64_t sum = hashBytes(out.data(), out.size());  // checksum field is zero here
    std::memcpy(out.data() + offsetof(Header, checksum), &sum, sizeof sum);
    return out;
}

}  // namespace

std::string encodeRemoteValue(const EntryImage& image, uint64_t fingerprint) {
    Header h{};
    copyImageMeta(h, image);
    putOrder(h, image.version, false);
    return encode(h, image.parent, image.path, image.data, fingerprint);
}

std::string encodeRemoteTombstone(std::string_view path, const Version& version,
                                  uint64_t fingerprint) {
    Header h{};
    h.flags = kTombstone;
    putOrder(h, version, true);
    return encode(h, {}, path, {}, fingerprint);
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
    const bool tombstone = h.flags == kTombstone;
    if ((h.flags & ~kTombstone) != 0 || h.order[16] != (tombstone ? 0 : 1) ||
        (tombstone && h.parent_bytes + h.payload_bytes != 0)) {
        d.problem = fmt::format("flags {:#x} and rank {} do not agree", h.flags, h.order[16]);
        return d;
    }
    d.image.version = orderVersion(h);
    if (tombstone) {  // a removal applies to every layout's copies of the name
        d.check = RemoteCheck::Removed;
        d.problem = "removed";
        d.image.path = std::string(stored_path);
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
