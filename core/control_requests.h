// Parsers of what clients write into control files (`.evict`, `.match`, `.policy`, `.size`).
// They live in core so unit tests and fuzzers drive them without a mount; every malformed
// input is an EINVAL error whose message names the problem.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace kvc {

// `.evict`: a percentage of the entries ("25", "25%", "12.5") or bytes to free ("512M").
struct EvictRequest {
    bool by_percent = false;
    double percent = 0;
    uint64_t bytes = 0;
};
Result<EvictRequest> parseEvictRequest(std::string_view text);

// `.match`: entry names, one per line, in chain order; a final newline (and CR before each
// newline) is allowed; an empty line or an invalid name is an error.
Result<std::vector<std::string>> parseMatchRequest(std::string_view text);

// `.policy` and `.size`: a word or a size with surrounding whitespace (`echo` adds a newline).
std::string_view trimRequest(std::string_view text);

}  // namespace kvc
