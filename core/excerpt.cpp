// excerpt(): see core/excerpt.h.
#include "core/excerpt.h"

#include <algorithm>

namespace kvc {
namespace {

bool plain(unsigned char c) {
    return c >= 0x20 && c < 0x7f;
}

}  // namespace

std::string excerpt(std::string_view bytes, size_t max) {
    static constexpr char kHex[] = "0123456789abcdef";
    const std::string_view shown = bytes.substr(0, max);
    std::string out;
    out.reserve(shown.size() + 32);
    out += '"';
    for (const char ch : shown) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (plain(c)) {
            out += ch;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    out += '"';
    if (shown.size() < bytes.size()) out += "... (" + std::to_string(bytes.size()) + " bytes)";
    return out;
}

bool isPlainText(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return plain(static_cast<unsigned char>(c)); });
}

}  // namespace kvc
