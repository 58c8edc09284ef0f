// Sizes and percentages as people write them: "16G", "1.5GiB", "4096", "25%".
//
// One parser serves mount options, the config file and control files, so `size=16G` means the
// same thing everywhere. Units are binary (1K = 1024) whatever the spelling (K, KB, KiB): a cache
// pool is carved into power-of-two blocks, and a decimal "GB" that silently meant 10^9 would
// leave a pool 7% smaller than asked for. Parsing never touches the locale.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace kvc {

// Parses a byte count: digits with an optional unit K, M, G, T, P or E (binary, any case),
// optionally followed by "B" or "iB"; a bare "B" means bytes. A decimal fraction needs a unit
// ("1.5G"; the result is rounded down to whole bytes); "1.5" alone is an error, as are empty,
// negative and overflowing values. Whitespace around the text and between number and unit is
// ignored, so formatSize()'s output parses back. Errors are EINVAL naming the input.
Result<uint64_t> parseSize(std::string_view text);

// Formats a byte count for people: "0 B", "512 B", "16 GiB", "1.5 GiB". A value that is a whole
// number of its unit prints without decimals; any other value prints one decimal, rounded down,
// so "4.0 KiB" means "a little over 4 KiB" and a size is never overstated.
std::string formatSize(uint64_t bytes);

// The smallest and largest block size a pool accepts. 4 KiB is the page size, so a block can be
// mapped on its own; 2 MiB is a huge page and bounds what one entry wastes in its last block.
inline constexpr uint64_t kMinBlockSize = 4096;
inline constexpr uint64_t kMaxBlockSize = 2 * 1024 * 1024;

// parseSize() plus: a power of two between kMinBlockSize and kMaxBlockSize.
Result<uint32_t> parseBlockSize(std::string_view text);

// Parses a percentage from 0 to 100: "25", "25%", "12.5", with surrounding whitespace or a
// trailing newline (`echo 25 > .evict`).
Result<double> parsePercent(std::string_view text);

}  // namespace kvc
