// Parsers of control-file requests.
#include "core/control_requests.h"

#include <cctype>

#include "core/names.h"
#include "core/size.h"

namespace kvc {

std::string_view trimRequest(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
}

Result<EvictRequest> parseEvictRequest(std::string_view text) {
    const std::string_view v = trimRequest(text);
    EvictRequest r;
    // A bare number or a trailing '%' is a percentage; anything with a unit is a size.
    const bool percent = (!v.empty() && v.back() == '%') ||
                         (!v.empty() && v.find_first_not_of("0123456789.") == std::string_view::npos);
    if (percent) {
        auto p = parsePercent(v);
        if (!p) return p.error();
        r.by_percent = true;
        r.percent = *p;
        return r;
    }
    auto bytes = parseSize(v);
    if (!bytes) return bytes.error();
    r.bytes = *bytes;
    return r;
}

Result<std::vector<std::string>> parseMatchRequest(std::string_view rest) {
    std::vector<std::string> names;
    if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
    if (rest.empty()) return makeError(EINVAL, ".match: no names given");
    while (true) {
        const size_t nl = rest.find('\n');
        std::string_view name = rest.substr(0, nl);
        if (!name.empty() && name.back() == '\r') name.remove_suffix(1);
        if (auto st = validateEntryName(name); !st)
            return makeError(EINVAL, ".match line " + std::to_string(names.size() + 1) + ": " +
                                         st.error().message);
        names.emplace_back(name);
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    return names;
}

}  // namespace kvc
