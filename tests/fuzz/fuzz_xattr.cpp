// libFuzzer target: setxattr/getxattr/removexattr with arbitrary names and values on an entry
// keep the pool's invariants; accepted values read back as stored.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/pool.h"

namespace {

struct Fixture {
    std::unique_ptr<kvc::Pool> pool;
    kvc::EntryId id = 0;
};

Fixture& fixture() {
    static Fixture f = [] {
        Fixture x;
        kvc::PoolCreateOptions o;
        o.name = "fuzz";
        o.where.name = "kvcachefs-fuzz-xattr-" + std::to_string(getpid());
        o.settings = kvc::PoolSettings{4 << 20, "lru", 4096, kvc::Tier::Cpu, "", 0, 1024, {}};
        auto made = kvc::Pool::create(o);
        if (!made) std::abort();
        (void)kvc::Segment::remove(o.where);
        x.pool = std::move(*made);
        auto a = x.pool->create(kvc::kPoolRootId, "entry", 0644, 0, 0, kvc::IfExists::Open);
        if (!a) std::abort();
        x.id = a->id;
        x.pool->release(x.id, kvc::Access::Write);
        return x;
    }();
    return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    // First byte: where the name ends; the rest is the value.
    const size_t cut = 1 + data[0] % (size - 1);
    std::string name(reinterpret_cast<const char*>(data + 1), cut - 1);
    if (data[0] & 0x80)
        name = "user.kvcache." + name;
    else if (data[0] & 0x40)
        name = "user." + name;
    const std::string_view value(reinterpret_cast<const char*>(data + cut), size - cut);
    Fixture& f = fixture();
    if (f.pool->setxattr(f.id, name, value, 0)) {
        auto back = f.pool->getxattr(f.id, name);
        // pin_ttl 0 unpins, and an entry without a pin TTL has no pin_ttl to read (README).
        const bool cleared = name == "user.kvcache.pin_ttl" && back.code() == ENODATA;
        if (!back && !cleared) std::abort();
        if (back && name.rfind("user.kvcache.", 0) != 0 && *back != value) std::abort();
        if (data[0] & 1) (void)f.pool->removexattr(f.id, name);
    }
    (void)f.pool->listxattr(f.id);
    f.pool->verify();
    return 0;
}
