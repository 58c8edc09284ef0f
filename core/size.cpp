// Parsing and printing of sizes and percentages; see size.h for the accepted forms.
//
// Everything is exact integer arithmetic on the digits as written: strtod/strtoull depend on the
// locale, accept forms we do not want ("0x10", "1e9", "inf") and round "1.1G" through binary
// floating point.
#include "core/size.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <limits>

#include "core/excerpt.h"
#include "core/text.h"

namespace kvc {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// A number as written: digits, optionally a point and more digits. Both parts are non-empty
// when present, so "1.", ".5" and "1..5" are rejected rather than guessed at.
struct DecimalText {
    std::string_view whole;
    std::string_view fraction;  // empty when there is no point
    std::string_view rest;      // what follows the number
};

// Returns an empty `whole` when the text does not start with a digit; sets `bad_fraction` when a
// point is not followed by a digit.
DecimalText splitDecimal(std::string_view s, bool& bad_fraction) {
    DecimalText d;
    size_t i = 0;
    while (i < s.size() && isDigit(s[i])) ++i;
    d.whole = s.substr(0, i);
    bad_fraction = false;
    if (!d.whole.empty() && i < s.size() && s[i] == '.') {
        size_t start = ++i;
        while (i < s.size() && isDigit(s[i])) ++i;
        d.fraction = s.substr(start, i - start);
        bad_fraction = d.fraction.empty();
    }
    d.rest = s.substr(i);
    return d;
}

// The unit as the user wrote it, quoted for a message: 'X', with control bytes escaped.
std::string quoteUnit(std::string_view unit) {
    std::string q = fmt::format("{:?}", unit);
    q.front() = '\'';
    q.back() = '\'';
    return q;
}

// The shift of a unit (K = 10, M = 20, ...), or -1 when the unit is not one we know.
int unitShift(std::string_view unit) {
    if (unit.empty() || equalsIgnoreCase(unit, "b")) return 0;
    static constexpr std::string_view kPrefixes = "kmgtpe";
    size_t index = kPrefixes.find(toLower(unit.front()));
    if (index == std::string_view::npos) return -1;
    std::string_view suffix = unit.substr(1);
    if (!suffix.empty() && !equalsIgnoreCase(suffix, "b") && !equalsIgnoreCase(suffix, "ib")) {
        return -1;
    }
    return static_cast<int>(10 * (index + 1));
}

// floor(0.<digits> * unit), exactly: schoolbook multiplication of the decimal fraction by
// `unit`, from the last digit up; the carry out of the top is the integral part. The carry stays
// below `unit`, so 9 * unit + carry < 10 * 2^60 fits in 64 bits for every unit up to E.
uint64_t fractionTimes(std::string_view digits, uint64_t unit) {
    uint64_t carry = 0;
    for (size_t i = digits.size(); i-- > 0;) {
        uint64_t t = static_cast<uint64_t>(digits[i] - '0') * unit + carry;
        carry = t / 10;
    }
    return carry;
}

// parseSize() with the noun used in messages ("size", "block size").
Result<uint64_t> parseSizeAs(std::string_view text, std::string_view what) {
    std::string_view s = trim(text);
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL, fmt::format("invalid {} {}: {}", what, excerpt(s), reason));
    };
    if (s.empty()) return fail("empty; expected a number with an optional unit, as in \"16G\"");
    if (s.front() == '-') return fail("must not be negative");

    bool bad_fraction = false;
    DecimalText d = splitDecimal(s, bad_fraction);
    if (d.whole.empty() && s.front() == '.' && s.size() > 1 && isDigit(s[1]))
        return fail(fmt::format("a number starts with a digit (write \"0{}\")", s));
    if (d.whole.empty()) return fail("expected a number with an optional unit, as in \"16G\"");
    if (bad_fraction) return fail("expected a digit after '.'");

    std::string_view unit = trim(d.rest);
    // "1e3K": no exponents (a size is exact; 1e3 would be 1000, not a power of two).
    if (!unit.empty() && (unit.front() == 'e' || unit.front() == 'E') && unit.size() > 1 &&
        (isDigit(unit[1]) || unit[1] == '+' || unit[1] == '-'))
        return fail("no exponents; write the digits, as in \"1000K\"");
    int shift = unitShift(unit);
    if (shift < 0) {
        return fail(
            fmt::format("unknown unit {} (expected K, M, G, T, P or E, optionally "
                        "followed by B or iB)",
                        quoteUnit(unit)));
    }
    if (shift == 0 && !d.fraction.empty()) {
        return fail("a fraction of a byte; use a unit for a decimal size, as in \"1.5G\"");
    }

    auto too_large = [&] {
        return fail(fmt::format("too large (the largest size is {} bytes)", kMaxU64));
    };
    uint64_t value = 0;
    for (char c : d.whole) {
        uint64_t digit = static_cast<uint64_t>(c - '0');
        if (value > (kMaxU64 - digit) / 10) return too_large();
        value = value * 10 + digit;
    }
    if (shift > 0) {
        if (value > (kMaxU64 >> shift)) return too_large();
        value <<= shift;
        uint64_t fraction = fractionTimes(d.fraction, uint64_t{1} << shift);
        if (value > kMaxU64 - fraction) return too_large();
        value += fraction;
    }
    return value;
}

}  // namespace

Result<uint64_t> parseSize(std::string_view text) {
    return parseSizeAs(text, "size");
}

std::string formatSize(uint64_t bytes) {
    static constexpr std::array<std::string_view, 7> kUnits = {"B",   "KiB", "MiB", "GiB",
                                                               "TiB", "PiB", "EiB"};
    size_t index = 0;
    while (index + 1 < kUnits.size() && bytes >> (10 * (index + 1)) != 0) ++index;
    if (index == 0) return fmt::format("{} B", bytes);

    const unsigned shift = static_cast<unsigned>(10 * index);
    const uint64_t whole = bytes >> shift;
    const uint64_t remainder = bytes & ((uint64_t{1} << shift) - 1);
    if (remainder == 0) return fmt::format("{} {}", whole, kUnits[index]);
    // remainder < 2^60, so remainder * 10 cannot overflow. Rounding down keeps whole < 1024.
    const uint64_t tenth = (remainder * 10) >> shift;
    return fmt::format("{}.{} {}", whole, tenth, kUnits[index]);
}

Result<uint32_t> parseBlockSize(std::string_view text) {
    auto parsed = parseSizeAs(text, "block size");
    if (!parsed) return parsed.error();
    const uint64_t value = *parsed;
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL,
                         fmt::format("invalid block size {}: {}", excerpt(trim(text)), reason));
    };
    if (value < kMinBlockSize || value > kMaxBlockSize) {
        return fail(fmt::format("must be from {} to {}", formatSize(kMinBlockSize),
                                formatSize(kMaxBlockSize)));
    }
    if ((value & (value - 1)) != 0) return fail("not a power of two");
    return static_cast<uint32_t>(value);
}

Result<double> parsePercent(std::string_view text) {
    std::string_view s = trim(text);
    auto fail = [&]() -> Error {
        return makeError(EINVAL, fmt::format("invalid percentage {}: expected a number from 0 "
                                             "to 100, as in \"25\" or \"12.5%\"",
                                             excerpt(s)));
    };
    std::string_view number = s;
    if (!number.empty() && number.back() == '%') number = trim(number.substr(0, number.size() - 1));

    // Check the form ourselves: from_chars would also take "inf", "nan", "1e2" and "-5".
    bool bad_fraction = false;
    DecimalText d = splitDecimal(number, bad_fraction);
    if (d.whole.empty() || bad_fraction || !d.rest.empty()) return fail();

    double value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) return fail();
    if (value > 100.0) return fail();
    return value;
}

}  // namespace kvc
