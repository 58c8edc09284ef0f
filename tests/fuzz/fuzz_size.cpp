// libFuzzer target: size, block size and percent parsers must never crash, and what they
// accept must be in range.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/size.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto v = kvc::parseBlockSize(text); v && (*v < 4096 || *v > (2u << 20) || (*v & (*v - 1))))
        std::abort();
    if (auto p = kvc::parsePercent(text); p && !(*p >= 0 && *p <= 100)) std::abort();
    if (auto s = kvc::parseSize(text)) (void)kvc::formatSize(*s);
    return 0;
}
