// Small text helpers shared by the parsers in core/ (see core/text.h).
#include "core/text.h"

namespace kvc {

std::string toLower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = toLower(c);
    return out;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (toLower(a[i]) != toLower(b[i])) return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    return trimChars(s, kAsciiSpace, kAsciiSpace);
}

std::string_view trimChars(std::string_view s, std::string_view leading,
                           std::string_view trailing) {
    const size_t first = s.find_first_not_of(leading);
    if (first == std::string_view::npos) return s.substr(s.size());
    const size_t last = s.find_last_not_of(trailing);
    if (last == std::string_view::npos || last < first) return s.substr(s.size());
    return s.substr(first, last - first + 1);
}

}  // namespace kvc
