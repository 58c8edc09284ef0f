#include "client/protocol.h"

#include <cstring>
#include <string>

namespace kvc::wire {
namespace {

constexpr size_t pad8(size_t n) {
    return (n + 7) & ~size_t{7};
}

Error malformed(const std::string& why) {
    return makeError(EPROTO, "malformed request: " + why);
}

// Reads fixed-size records and byte strings from a message, never past its end.
class Cursor {
  public:
    Cursor(const char* p, size_t n) : p_(p), left_(n) {}
    template <class T>
    bool take(T& out) {
        if (left_ < sizeof(T)) return false;
        std::memcpy(&out, p_, sizeof(T));
        p_ += sizeof(T);
        left_ -= sizeof(T);
        return true;
    }
    // `n` bytes, then the zeros that pad them (with what came before, from an 8-byte boundary)
    // to a multiple of 8.
    bool bytes(size_t n, std::string_view& out) {
        if (n > left_) return false;
        out = std::string_view(p_, n);
        p_ += n;
        left_ -= n;
        return true;
    }
    bool padTo8(size_t used) {
        const size_t pad = pad8(used) - used;
        if (pad > left_) return false;
        for (size_t i = 0; i < pad; ++i)
            if (p_[i] != 0) return false;
        p_ += pad;
        left_ -= pad;
        return true;
    }
    size_t left() const { return left_; }

  private:
    const char* p_;
    size_t left_;
};

void putBytes(std::vector<char>& out, const void* p, size_t n) {
    const size_t at = out.size();
    out.resize(at + n);
    if (n) std::memcpy(out.data() + at, p, n);
}

template <class T>
void put(std::vector<char>& out, const T& v) {
    putBytes(out, &v, sizeof(T));
}

void putPadded(std::vector<char>& out, std::string_view a, std::string_view b = {}) {
    putBytes(out, a.data(), a.size());
    putBytes(out, b.data(), b.size());
    out.resize(out.size() + pad8(a.size() + b.size()) - a.size() - b.size(), 0);
}

bool knownOp(uint16_t op) {
    return op >= static_cast<uint16_t>(Op::Hello) && op <= static_cast<uint16_t>(Op::Write);
}

// A store's attributes: (u32 name length, u32 value length, name, value) until the end.
Status decodeXattrs(std::string_view block,
                    std::vector<std::pair<std::string_view, std::string_view>>& out) {
    Cursor c(block.data(), block.size());
    while (c.left() > 0) {
        uint32_t lens[2];
        if (out.size() >= kMaxStoreXattrs) return malformed("too many attributes");
        if (!c.take(lens)) return malformed("short attribute");
        if (lens[0] == 0 || lens[0] > kMaxNameBytes || lens[1] > kMaxXattrValue)
            return malformed("attribute length");
        std::string_view name, value;
        if (!c.bytes(lens[0], name) || !c.bytes(lens[1], value)) return malformed("attribute");
        out.emplace_back(name, value);
    }
    return {};
}

// One item of `op` from the cursor.
Result<Item> decodeItem(Op op, Cursor& c) {
    Item it;
    switch (op) {
        case Op::Register: {
            RegisterItem w{};
            if (!c.take(w)) return malformed("short register item");
            it.length = w.size;
            return it;
        }
        case Op::Unregister: {
            BufferItem w{};
            if (!c.take(w) || w.reserved) return malformed("bad buffer item");
            it.buffer = w.buffer;
            return it;
        }
        case Op::Store: {
            StoreItemWire w{};
            if (!c.take(w)) return malformed("short store item");
            if (w.name_len == 0 || w.name_len > kMaxNameBytes) return malformed("name length");
            if (w.parent_len > kMaxParentBytes) return malformed("parent length");
            if (w.flags & ~(kStoreNoReplace | kStorePriority)) return malformed("store flags");
            if (w.mode & ~07777u) return malformed("mode");
            if (w.reserved) return malformed("reserved store field");
            std::string_view attrs;
            if (!c.bytes(w.name_len, it.name) || !c.bytes(w.parent_len, it.parent) ||
                !c.bytes(w.xattrs_len, attrs) ||
                !c.padTo8(size_t{w.name_len} + w.parent_len + w.xattrs_len))
                return malformed("store item names");
            if (auto st = decodeXattrs(attrs, it.xattrs); !st) return st.error();
            it.buffer = w.buffer;
            it.offset = w.offset;
            it.length = w.length;
            it.mode = w.mode;
            it.flags = w.flags;
            it.priority = w.priority;
            return it;
        }
        case Op::Load:
        case Op::LoadChain: {
            LoadItemWire w{};
            if (!c.take(w)) return malformed("short load item");
            if (w.name_len == 0 || w.name_len > kMaxNameBytes) return malformed("name length");
            if (!c.bytes(w.name_len, it.name) || !c.padTo8(w.name_len))
                return malformed("load item name");
            it.buffer = w.buffer;
            it.offset = w.offset;
            it.length = w.capacity;
            return it;
        }
        case Op::Stat: {
            NameItemWire w{};
            if (!c.take(w) || w.reserved) return malformed("short name item");
            if (w.name_len == 0 || w.name_len > kMaxNameBytes) return malformed("name length");
            if (!c.bytes(w.name_len, it.name) || !c.padTo8(w.name_len)) return malformed("name");
            return it;
        }
        case Op::Read:
        case Op::Write: {
            RangeItemWire w{};
            if (!c.take(w) || w.reserved) return malformed("bad range item");
            it.buffer = w.buffer;
            it.offset = w.buffer_offset;
            it.file_offset = w.file_offset;
            it.length = w.length;
            return it;
        }
        case Op::Hello:
            break;
    }
    return malformed("no items expected");
}

// How many items `op` takes: [min, max].
std::pair<uint32_t, uint32_t> itemBounds(Op op) {
    switch (op) {
        case Op::Hello:
            return {0, 0};
        case Op::Register:
        case Op::Unregister:
        case Op::Read:
        case Op::Write:
            return {1, 1};
        default:
            return {1, kMaxItems};
    }
}

}  // namespace

bool needsDescriptor(Op op) {
    return op != Op::Hello && op != Op::Unregister;
}

Result<Request> decodeRequest(const char* data, size_t len) {
    if (len > kMaxMessage) return malformed("too long");
    Cursor c(data, len);
    RequestHeader h{};
    if (!c.take(h)) return malformed("short header");
    if (h.magic != kRequestMagic) return malformed("bad magic");
    if (h.version != kVersion)
        return makeError(EPROTONOSUPPORT,
                         "protocol version " + std::to_string(h.version) + " (this daemon: 1)");
    if (!knownOp(h.op)) return malformed("unknown op " + std::to_string(h.op));
    if (h.flags || h.reserved) return malformed("reserved header fields");
    if (h.body_bytes != c.left()) return malformed("body length");
    Request r;
    r.op = static_cast<Op>(h.op);
    r.id = h.id;
    const auto [lo, hi] = itemBounds(r.op);
    if (h.count < lo || h.count > hi) return malformed("item count");
    r.items.reserve(h.count);
    for (uint32_t i = 0; i < h.count; ++i) {
        auto it = decodeItem(r.op, c);
        if (!it) return it.error();
        r.items.push_back(*it);
    }
    if (c.left() != 0) return malformed("bytes after the items");
    return r;
}

void beginRequest(std::vector<char>& out, Op op, uint64_t id) {
    out.clear();
    RequestHeader h{kRequestMagic, kVersion, static_cast<uint16_t>(op), id, 0, 0, 0, 0};
    put(out, h);
}

void addStore(std::vector<char>& out, const Item& item) {
    std::vector<char> attrs;
    for (const auto& [name, value] : item.xattrs) {
        const uint32_t lens[2] = {static_cast<uint32_t>(name.size()),
                                  static_cast<uint32_t>(value.size())};
        put(attrs, lens);
        putBytes(attrs, name.data(), name.size());
        putBytes(attrs, value.data(), value.size());
    }
    StoreItemWire w{item.buffer,
                    static_cast<uint32_t>(item.name.size()),
                    item.offset,
                    item.length,
                    item.mode,
                    item.flags,
                    item.priority,
                    static_cast<uint32_t>(item.parent.size()),
                    static_cast<uint32_t>(attrs.size()),
                    0};
    put(out, w);
    std::string tail(item.parent);
    tail.append(attrs.data(), attrs.size());
    putPadded(out, item.name, tail);
}

void addLoad(std::vector<char>& out, const Item& item) {
    LoadItemWire w{item.buffer, static_cast<uint32_t>(item.name.size()), item.offset, item.length};
    put(out, w);
    putPadded(out, item.name);
}

void addName(std::vector<char>& out, std::string_view name) {
    NameItemWire w{static_cast<uint32_t>(name.size()), 0};
    put(out, w);
    putPadded(out, name);
}

void addRange(std::vector<char>& out, const Item& item) {
    RangeItemWire w{item.buffer, 0, item.offset, item.file_offset, item.length};
    put(out, w);
}

void addRegister(std::vector<char>& out, uint64_t size) {
    put(out, RegisterItem{size});
}

void addBuffer(std::vector<char>& out, uint32_t buffer) {
    put(out, BufferItem{buffer, 0});
}

void finishRequest(std::vector<char>& out, uint32_t count) {
    RequestHeader h{};
    std::memcpy(&h, out.data(), sizeof h);
    h.count = count;
    h.body_bytes = static_cast<uint32_t>(out.size() - sizeof h);
    std::memcpy(out.data(), &h, sizeof h);
}

std::vector<char> encodeReply(Op op, uint64_t id, const std::vector<ItemResult>& results,
                              const ChainSummary* chain, const HelloInfo* hello) {
    std::vector<char> out;
    const size_t body = (chain ? sizeof *chain : 0) + (hello ? sizeof *hello : 0) +
                        results.size() * sizeof(ItemResult);
    out.reserve(sizeof(ReplyHeader) + body);
    put(out, ReplyHeader{kReplyMagic, kVersion, static_cast<uint16_t>(op), id, 0,
                         static_cast<uint32_t>(results.size()), static_cast<uint32_t>(body), 0});
    if (hello) put(out, *hello);
    if (chain) put(out, *chain);
    for (const ItemResult& r : results) put(out, r);
    return out;
}

std::vector<char> encodeError(Op op, uint64_t id, int status) {
    std::vector<char> out;
    put(out, ReplyHeader{kReplyMagic, kVersion, static_cast<uint16_t>(op), id, status, 0, 0, 0});
    return out;
}

Result<Reply> decodeReply(const char* data, size_t len, Op op, uint64_t id) {
    Cursor c(data, len);
    ReplyHeader h{};
    if (!c.take(h) || h.magic != kReplyMagic)
        return makeError(EPROTO, "the daemon's reply is malformed");
    if (h.op != static_cast<uint16_t>(op) || h.id != id)
        return makeError(EPROTO, "the daemon answered another request");
    if (h.body_bytes != c.left()) return makeError(EPROTO, "the reply's length is wrong");
    Reply r;
    r.op = op;
    r.id = id;
    r.status = h.status;
    if (h.status != 0) return r;
    if (op == Op::Hello && !c.take(r.hello)) return makeError(EPROTO, "short hello reply");
    if (op == Op::LoadChain && !c.take(r.chain)) return makeError(EPROTO, "short chain reply");
    if (c.left() != size_t{h.count} * sizeof(ItemResult))
        return makeError(EPROTO, "the reply's item count is wrong");
    r.results.resize(h.count);
    for (ItemResult& it : r.results) (void)c.take(it);
    return r;
}

}  // namespace kvc::wire
