// libFuzzer target: the `.evict` and `.match` request parsers, and a pool fed with what they
// accept (`.policy` names, `.size` values, `.evict` and `.match` requests) keeps its invariants.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/control_requests.h"
#include "core/pool.h"
#include "core/size.h"
#include "core/text.h"

namespace {

kvc::Pool& pool() {
    static std::unique_ptr<kvc::Pool> p = [] {
        kvc::PoolCreateOptions o;
        o.name = "fuzz";
        o.where.name = "kvcachefs-fuzz-control-" + std::to_string(getpid());
        o.settings = kvc::PoolSettings{1 << 20, "lru", 4096, kvc::Tier::Cpu, "", 0, 1024, {}};
        auto made = kvc::Pool::create(o);
        if (!made) std::abort();
        (void)kvc::Segment::remove(o.where);  // nameless from the start: nothing left behind
        auto pool = std::move(*made);
        for (int i = 0; i < 8; ++i) {
            auto a = pool->create(kvc::kPoolRootId, "e" + std::to_string(i), 0644, 0, 0,
                                  kvc::IfExists::Open);
            if (!a) std::abort();
            (void)pool->write(a->id, 0, "kv", 2);
            pool->release(a->id, kvc::Access::Write);
        }
        return pool;
    }();
    return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    kvc::Pool& p = pool();
    // The request in two pieces, cut where the first byte says: the cut must not matter.
    kvc::MatchRequest whole, pieces;
    const size_t cut = size ? data[0] % (size + 1) : 0;
    const bool ok = whole.append(text).ok();
    if (pieces.append(text.substr(0, cut)).ok() && pieces.append(text.substr(cut)).ok() != ok)
        std::abort();
    if (ok)
        if (auto names = whole.names()) (void)p.match(kvc::kPoolRootId, *names);
    if (auto r = kvc::parseEvictRequest(text); r && !r->by_percent)
        (void)p.evictUntilFree(r->bytes);
    (void)p.setPolicy(kvc::trim(text));
    if (auto s = kvc::parseSize(kvc::trim(text)); s && *s <= (8u << 20)) (void)p.resize(*s);
    p.verify();
    return 0;
}
