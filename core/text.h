// Small text helpers shared by the parsers in core/ (sizes, options, the config file, control
// requests, attribute values). ASCII only: the result never depends on the locale.
#pragma once

#include <string>
#include <string_view>

namespace kvc {

// The ASCII whitespace characters: what isspace() takes in the "C" locale.
inline constexpr std::string_view kAsciiSpace = " \t\n\v\f\r";

inline bool isSpace(char c) {
    return kAsciiSpace.find(c) != std::string_view::npos;
}

inline bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

// 'A'-'Z' to 'a'-'z'; any other byte as it is.
inline char toLower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s` with every ASCII letter in lower case.
std::string toLower(std::string_view s);

// Equal when ASCII letters are compared without their case.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// `s` without ASCII whitespace at either end.
std::string_view trim(std::string_view s);

// `s` without the characters in `leading` at its start and those in `trailing` at its end.
std::string_view trimChars(std::string_view s, std::string_view leading, std::string_view trailing);

}  // namespace kvc
