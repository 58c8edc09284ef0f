// A whole string as a number, for values read back as text (.stats lines, user.kvcache.*
// attributes): "12" -> 12; "", "12x", " 12" and, for an unsigned T, "-1" -> nullopt.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace kvc {

template <class T>
std::optional<T> parseNumber(std::string_view text) {
    T v{};
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return v;
}

}  // namespace kvc
