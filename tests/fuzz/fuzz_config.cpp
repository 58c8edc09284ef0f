// libFuzzer target: the TOML config parser rejects or accepts, never crashes; an accepted config
// has valid pools.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto cfg = kvc::parseConfig(text, "fuzz.toml");
    if (cfg)
        for (const auto& p : cfg->pools)
            if (!kvc::validatePoolName(p.name) || p.settings.block_size < 4096) std::abort();
    return 0;
}
