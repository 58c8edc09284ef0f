// Client bytes in messages. What a user writes into a control file, a name or an xattr value may
// be megabytes long and hold any byte; a message (and so a log line) quotes a bounded, escaped
// excerpt of it instead, so that it stays one short line and cannot carry terminal escapes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kvc {

inline constexpr size_t kExcerptBytes = 64;

// `"text"`: the first `max` bytes of `bytes`, every byte outside printable ASCII written \xNN
// and `"` and `\` written \" and \\; a longer value ends `"..." (N bytes)`.
std::string excerpt(std::string_view bytes, size_t max = kExcerptBytes);

// True if `text` is printable ASCII only (what a log line may carry as it is).
bool isPlainText(std::string_view text);

}  // namespace kvc
