// The data path's wire format (docs/DATA_PATH.md): shared by the daemon (fs/data_service.cpp)
// and the client library (client/kvcachefs.cpp). One request is one SOCK_SEQPACKET message,
// answered by one reply message; numbers are in the host's byte order (the socket is local).
//
//   request  = RequestHeader, then `count` items of the op's kind
//   reply    = ReplyHeader, then (chain loads) a ChainSummary, then `count` ItemResults
//
// Items are variable-length: a fixed part, then its names, padded to 8 bytes. Descriptors travel
// as SCM_RIGHTS ancillary data: a request that names a directory or an entry carries exactly one.
// Nothing here trusts a byte: decodeRequest checks every length and count against the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace kvc::wire {

inline constexpr uint32_t kRequestMagic = 0x5143564b;  // "KVCQ"
inline constexpr uint32_t kReplyMagic = 0x5243564b;    // "KVCR"
inline constexpr uint16_t kVersion = 1;

// Bounds of one request; a daemon answers HELLO with the ones it applies.
inline constexpr size_t kMaxMessage = 128 * 1024;  // fits the default socket buffers
inline constexpr uint32_t kMaxItems = 1024;
inline constexpr uint32_t kMaxBuffers = 64;  // registered per connection
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxParentBytes = 4096;

enum class Op : uint16_t {
    Hello = 1,       // no items, no descriptor; the reply's count is kVersion's bounds
    Register = 2,    // one memfd; one RegisterItem; the reply's value is the buffer id
    Unregister = 3,  // one BufferItem
    Store = 4,       // a directory; StoreItems
    Load = 5,        // a directory; LoadItems
    LoadChain = 6,   // a directory; LoadItems, the names of a chain in order
    Stat = 7,        // a directory; NameItems
    Read = 8,        // an entry opened for reading; one RangeItem
    Write = 9,       // an entry opened for writing; one RangeItem
};

struct RequestHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint64_t id;  // echoed in the reply
    uint32_t count;
    uint32_t body_bytes;  // what follows the header: the message's length minus 32
    uint32_t flags;       // none defined: must be 0
    uint32_t reserved;    // 0
};
static_assert(sizeof(RequestHeader) == 32);

struct ReplyHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint64_t id;
    int32_t status;  // 0, or an errno for the whole request (then no items follow)
    uint32_t count;
    uint32_t body_bytes;
    uint32_t reserved;
};
static_assert(sizeof(ReplyHeader) == 32);

// Hello's reply body.
struct HelloInfo {
    uint32_t max_message;
    uint32_t max_items;
    uint32_t max_buffers;
    uint32_t reserved;
};

struct RegisterItem {
    uint64_t size;  // bytes of the memfd to map, from offset 0
};
struct BufferItem {
    uint32_t buffer;
    uint32_t reserved;
};

// Flags of a StoreItem.
inline constexpr uint32_t kStoreNoReplace = 1;  // EEXIST if the name exists
inline constexpr uint32_t kStorePriority = 2;   // `priority` is set

struct StoreItemWire {
    uint32_t buffer;
    uint32_t name_len;
    uint64_t offset;  // in the buffer
    uint64_t length;
    uint32_t mode;  // permission bits
    uint32_t flags;
    int32_t priority;
    uint32_t parent_len;  // user.kvcache.parent, 0: none
    uint32_t xattrs_len;  // bytes of extended attributes set with the entry, 0: none
    uint32_t reserved;
    // then name_len bytes of name, parent_len bytes of parent, xattrs_len bytes of attributes
    // (each: u32 name length, u32 value length, the name, the value), zeros to a multiple of 8
};
static_assert(sizeof(StoreItemWire) == 48);
inline constexpr size_t kMaxStoreXattrs = 32;  // per item
inline constexpr size_t kMaxXattrValue = 65536;

struct LoadItemWire {
    uint32_t buffer;
    uint32_t name_len;
    uint64_t offset;    // in the buffer
    uint64_t capacity;  // bytes available there
    // then the name, zeros to a multiple of 8
};
static_assert(sizeof(LoadItemWire) == 24);

struct NameItemWire {
    uint32_t name_len;
    uint32_t reserved;
    // then the name, zeros to a multiple of 8
};

struct RangeItemWire {
    uint32_t buffer;
    uint32_t reserved;
    uint64_t buffer_offset;
    uint64_t file_offset;
    uint64_t length;
};
static_assert(sizeof(RangeItemWire) == 32);

// Flags of an ItemResult.
inline constexpr uint32_t kResultCommitted = 1;  // Stat: the entry is complete
inline constexpr uint32_t kResultCached = 2;     // LoadChain: the pool has the name (as .match)

struct ItemResult {
    int32_t status;  // 0 or an errno
    uint32_t mode;   // Stat: st_mode
    uint64_t value;  // bytes stored, loaded, read or written; Stat: the size; Register: the id
    uint32_t flags;
    uint32_t uid;  // Stat
    uint32_t gid;  // Stat
    uint32_t reserved;
};
static_assert(sizeof(ItemResult) == 32);

struct ChainSummary {
    uint64_t leading;  // the match's leading cached run
    uint64_t loaded;   // names of that run loaded
};

// A decoded request: views into the message, valid while it lives.
struct Item {
    uint32_t buffer = 0;
    uint64_t offset = 0;  // buffer offset
    uint64_t length = 0;  // store/read/write: bytes; load: capacity; register: the size
    uint64_t file_offset = 0;
    uint32_t mode = 0;
    uint32_t flags = 0;
    int32_t priority = 0;
    std::string_view name;
    std::string_view parent;
    std::vector<std::pair<std::string_view, std::string_view>> xattrs;  // Store: set with it
};
struct Request {
    Op op{};
    uint64_t id = 0;
    std::vector<Item> items;
};

// Whether `op` names a directory (Store, Load, LoadChain, Stat), an entry (Read, Write) or a
// memfd (Register) by the one descriptor it carries.
bool needsDescriptor(Op op);

// EPROTO for a malformed message (a wrong magic, lengths that do not add up, a count past the
// bounds, an unknown op, nonzero reserved fields); EPROTONOSUPPORT for another version.
Result<Request> decodeRequest(const char* data, size_t len);

// Builders for the client, appending to `out`.
void beginRequest(std::vector<char>& out, Op op, uint64_t id);
void addStore(std::vector<char>& out, const Item& item);
void addLoad(std::vector<char>& out, const Item& item);
void addName(std::vector<char>& out, std::string_view name);
void addRange(std::vector<char>& out, const Item& item);
void addRegister(std::vector<char>& out, uint64_t size);
void addBuffer(std::vector<char>& out, uint32_t buffer);
// Sets the header's count and body_bytes once the items are in.
void finishRequest(std::vector<char>& out, uint32_t count);

// A reply as the client reads it.
struct Reply {
    Op op{};
    uint64_t id = 0;
    int32_t status = 0;
    ChainSummary chain{};
    HelloInfo hello{};
    std::vector<ItemResult> results;
};
// EPROTO when the reply does not match `op` and `id` or its lengths do not add up.
Result<Reply> decodeReply(const char* data, size_t len, Op op, uint64_t id);
// For the daemon: a reply to `op`/`id` with the given results (status 0) or an error.
std::vector<char> encodeReply(Op op, uint64_t id, const std::vector<ItemResult>& results,
                              const ChainSummary* chain = nullptr,
                              const HelloInfo* hello = nullptr);
std::vector<char> encodeError(Op op, uint64_t id, int status);

}  // namespace kvc::wire
