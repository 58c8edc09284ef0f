// libFuzzer target: the data path's request decoder (client/protocol.h), and a pool fed with
// the stores, loads, chain loads and stats it accepts (core/transfer.h), as root and as another
// user, keeps its invariants. The request's buffer is a fixed 64 KiB area; ranges outside it are
// refused as the daemon refuses them.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/protocol.h"
#include "core/pool.h"
#include "core/transfer.h"

namespace {

constexpr size_t kBuffer = 64 << 10;

kvc::Pool& pool() {
    static std::unique_ptr<kvc::Pool> p = [] {
        kvc::PoolCreateOptions o;
        o.name = "fuzz";
        o.where.name = "kvcachefs-fuzz-data-" + std::to_string(getpid());
        o.settings = kvc::PoolSettings{1 << 20, "lru", 4096, kvc::Tier::Cpu, "", 0, 1024, {}};
        auto made = kvc::Pool::create(o);
        if (!made) std::abort();
        (void)kvc::Segment::remove(o.where);  // nameless from the start: nothing left behind
        return std::move(*made);
    }();
    return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static std::vector<char> buffer(kBuffer, 'b');
    auto req = kvc::wire::decodeRequest(reinterpret_cast<const char*>(data), size);
    if (!req) return 0;
    if (req->items.size() > kvc::wire::kMaxItems) std::abort();
    const char* begin = reinterpret_cast<const char*>(data);
    for (const kvc::wire::Item& it : req->items) {
        // Every view lies inside the message.
        for (std::string_view v : {it.name, it.parent})
            if (!v.empty() && (v.data() < begin || v.data() + v.size() > begin + size))
                std::abort();
    }
    const kvc::Credentials who{static_cast<uint32_t>(req->id & 1 ? 1000 : 0), 1000, {}};
    kvc::Pool& p = pool();
    auto inBuffer = [](const kvc::wire::Item& it) {
        return it.offset <= kBuffer && it.length <= kBuffer - it.offset;
    };
    for (const kvc::wire::Item& it : req->items) {
        if (req->op != kvc::wire::Op::Stat && !inBuffer(it)) return 0;
    }
    switch (req->op) {
        case kvc::wire::Op::Store:
            for (const kvc::wire::Item& it : req->items) {
                kvc::StoreItem s;
                s.name = it.name;
                s.data = buffer.data() + it.offset;
                s.len = it.length;
                s.mode = it.mode;
                s.parent = it.parent;
                if (it.flags & kvc::wire::kStorePriority) s.priority = it.priority;
                s.replace = !(it.flags & kvc::wire::kStoreNoReplace);
                s.xattrs = it.xattrs;
                (void)kvc::storeEntry(p, kvc::kPoolRootId, s, ".kvc-data.fuzz", who);
            }
            break;
        case kvc::wire::Op::Load:
            for (const kvc::wire::Item& it : req->items)
                (void)kvc::loadEntry(p, kvc::kPoolRootId, it.name, buffer.data() + it.offset,
                                     it.length, who);
            break;
        case kvc::wire::Op::LoadChain: {
            std::vector<std::string_view> names;
            std::vector<kvc::LoadSlot> slots;
            for (const kvc::wire::Item& it : req->items) {
                names.push_back(it.name);
                slots.push_back({buffer.data() + it.offset, it.length});
            }
            (void)kvc::loadChain(p, kvc::kPoolRootId, names, slots, who);
            break;
        }
        case kvc::wire::Op::Stat:
            for (const kvc::wire::Item& it : req->items)
                (void)kvc::statName(p, kvc::kPoolRootId, it.name, who);
            break;
        default:
            break;
    }
    p.verify();
    return 0;
}
