// Unit tests of core/size.h: every accepted and rejected spelling of a size, block size and
// percentage, the exact arithmetic at the edges of uint64_t, and messages that name the input.
#include "core/size.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

namespace kvc {
namespace {

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;
constexpr uint64_t TiB = 1024 * GiB;
constexpr uint64_t PiB = 1024 * TiB;
constexpr uint64_t EiB = 1024 * PiB;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

uint64_t sizeOf(std::string_view text) {
    auto r = parseSize(text);
    EXPECT_TRUE(r.ok()) << "\"" << text << "\": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ~uint64_t{0} - 1;
}

// Expects a rejection with EINVAL whose message quotes the (trimmed) input and contains `reason`.
void expectRejected(std::string_view text, std::string_view quoted, std::string_view reason) {
    auto r = parseSize(text);
    ASSERT_FALSE(r.ok()) << "\"" << text << "\" parsed as " << *r;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find("invalid size \"" + std::string(quoted) + "\""),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
}

TEST(ParseSize, PlainBytes) {
    EXPECT_EQ(sizeOf("0"), 0u);
    EXPECT_EQ(sizeOf("4096"), 4096u);
    EXPECT_EQ(sizeOf("000123"), 123u);
    EXPECT_EQ(sizeOf("100b"), 100u);
    EXPECT_EQ(sizeOf("100B"), 100u);
    EXPECT_EQ(sizeOf("18446744073709551615"), kMax);
}

TEST(ParseSize, BinaryUnitsInAnyCase) {
    EXPECT_EQ(sizeOf("4K"), 4 * KiB);
    EXPECT_EQ(sizeOf("4k"), 4 * KiB);
    EXPECT_EQ(sizeOf("512M"), 512 * MiB);
    EXPECT_EQ(sizeOf("16G"), 16 * GiB);
    EXPECT_EQ(sizeOf("1T"), TiB);
    EXPECT_EQ(sizeOf("2P"), 2 * PiB);
    EXPECT_EQ(sizeOf("15E"), 15 * EiB);
}

TEST(ParseSize, ByteSuffixesAreBinaryToo) {
    EXPECT_EQ(sizeOf("16GiB"), 16 * GiB);
    EXPECT_EQ(sizeOf("16gib"), 16 * GiB);
    EXPECT_EQ(sizeOf("16GIB"), 16 * GiB);
    EXPECT_EQ(sizeOf("16gb"), 16 * GiB);
    EXPECT_EQ(sizeOf("16GB"), 16 * GiB);
    EXPECT_EQ(sizeOf("4kB"), 4 * KiB);
    EXPECT_EQ(sizeOf("4KiB"), 4 * KiB);
    EXPECT_EQ(sizeOf("1TiB"), TiB);
}

TEST(ParseSize, Whitespace) {
    EXPECT_EQ(sizeOf("  16G  "), 16 * GiB);
    EXPECT_EQ(sizeOf("16G\n"), 16 * GiB);
    EXPECT_EQ(sizeOf("\t4096\r\n"), 4096u);
    EXPECT_EQ(sizeOf("16 GiB"), 16 * GiB);
    EXPECT_EQ(sizeOf("512 B"), 512u);
}

TEST(ParseSize, DecimalsWithAUnitAreExactAndRoundDown) {
    EXPECT_EQ(sizeOf("1.5G"), GiB + GiB / 2);
    EXPECT_EQ(sizeOf("0.5K"), 512u);
    EXPECT_EQ(sizeOf("1.25M"), MiB + MiB / 4);
    EXPECT_EQ(sizeOf("4.0K"), 4 * KiB);
    // 0.1 KiB = 102.4 bytes: rounded down, not through binary floating point.
    EXPECT_EQ(sizeOf("0.1K"), 102u);
    EXPECT_EQ(sizeOf("0.001K"), 1u);
    EXPECT_EQ(sizeOf("0.0009K"), 0u);
    // 1.1 GiB = 1181116006.4 bytes.
    EXPECT_EQ(sizeOf("1.1G"), 1181116006u);
    // Many fraction digits stay exact: 0.99999999999999999999 EiB is one byte short of 1 EiB
    // rounded down (EiB * (1 - 1e-20) = EiB - 0.0115...).
    EXPECT_EQ(sizeOf("0.99999999999999999999E"), EiB - 1);
    EXPECT_EQ(sizeOf("1.5 GiB"), GiB + GiB / 2);
    // The largest size can be written with a unit: 2^64 - 1 = 15.99999999999999999913... EiB.
    EXPECT_EQ(sizeOf("15.999999999999999999E"), kMax - 1);
    EXPECT_EQ(sizeOf("15.9999999999999999999E"), kMax);
    EXPECT_EQ(sizeOf("17179869183.99999999999G"), kMax);
}

TEST(ParseSize, RejectsEmpty) {
    expectRejected("", "", "empty");
    expectRejected("   \n", "", "empty");
}

TEST(ParseSize, RejectsNegative) {
    expectRejected("-1G", "-1G", "negative");
    expectRejected("-0", "-0", "negative");
}

TEST(ParseSize, RejectsUnknownUnits) {
    auto r = parseSize("12X");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find("invalid size \"12X\": unknown unit 'X'"), std::string::npos)
        << r.error().message;
    expectRejected("1G2", "1G2", "unknown unit 'G2'");
    expectRejected("16GiBs", "16GiBs", "unknown unit");
    expectRejected("16iB", "16iB", "unknown unit");
    expectRejected("16Gi", "16Gi", "unknown unit");
    expectRejected("1KK", "1KK", "unknown unit");
    expectRejected("16 G B", "16 G B", "unknown unit");
}

TEST(ParseSize, RejectsMalformedNumbers) {
    expectRejected("G", "G", "expected a number");
    expectRejected("GiB", "GiB", "expected a number");
    expectRejected("1..5G", "1..5G", "after '.'");
    expectRejected("1.G", "1.G", "after '.'");
    // Forms other tools take, refused with the form to write instead (every size of kvcachefs
    // goes through parseSize: mount options, the config file, .size and .evict).
    expectRejected(".5G", ".5G", "a number starts with a digit (write \"0.5G\")");
    expectRejected("1e3K", "1e3K", "no exponents; write the digits, as in \"1000K\"");
    expectRejected("2E+3", "2E+3", "no exponents");
    expectRejected("+5G", "+5G", "expected a number");
    expectRejected("0x10", "0x10", "unknown unit");
    expectRejected("1e9", "1e9", "no exponents");
    expectRejected("1,5G", "1,5G", "unknown unit");
    expectRejected("1 2", "1 2", "unknown unit");
}

TEST(ParseSize, RejectsFractionalBytes) {
    expectRejected("1.5", "1.5", "fraction of a byte");
    expectRejected("1.0", "1.0", "fraction of a byte");
    expectRejected("1.5B", "1.5B", "fraction of a byte");
}

TEST(ParseSize, RejectsOverflow) {
    expectRejected("18446744073709551616", "18446744073709551616", "too large");
    expectRejected("99999999999999999999999", "99999999999999999999999", "too large");
    expectRejected("17179869184G", "17179869184G", "too large");
    expectRejected("16E", "16E", "too large");
    expectRejected("16EiB", "16EiB", "too large");
    expectRejected("16.0E", "16.0E", "too large");
    expectRejected("17179869184.5G", "17179869184.5G", "too large");
}

TEST(ParseSize, MessageEscapesControlCharacters) {
    auto r = parseSize("1\x01G");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message.find('\x01'), std::string::npos) << r.error().message;
}

TEST(FormatSize, ExactValuesHaveNoDecimals) {
    EXPECT_EQ(formatSize(0), "0 B");
    EXPECT_EQ(formatSize(1), "1 B");
    EXPECT_EQ(formatSize(512), "512 B");
    EXPECT_EQ(formatSize(1023), "1023 B");
    EXPECT_EQ(formatSize(KiB), "1 KiB");
    EXPECT_EQ(formatSize(4 * KiB), "4 KiB");
    EXPECT_EQ(formatSize(16 * GiB), "16 GiB");
    EXPECT_EQ(formatSize(1023 * MiB), "1023 MiB");
    EXPECT_EQ(formatSize(TiB), "1 TiB");
    EXPECT_EQ(formatSize(3 * PiB), "3 PiB");
    EXPECT_EQ(formatSize(15 * EiB), "15 EiB");
}

TEST(FormatSize, OtherValuesHaveOneDecimalRoundedDown) {
    EXPECT_EQ(formatSize(GiB + GiB / 2), "1.5 GiB");
    EXPECT_EQ(formatSize(4 * KiB + 1), "4.0 KiB");
    EXPECT_EQ(formatSize(1536), "1.5 KiB");
    EXPECT_EQ(formatSize(2 * GiB - 1), "1.9 GiB");
    EXPECT_EQ(formatSize(MiB - 1), "1023.9 KiB");
    EXPECT_EQ(formatSize(kMax), "15.9 EiB");
}

TEST(FormatSize, OutputParsesBack) {
    for (uint64_t v : {uint64_t{0}, uint64_t{512}, 4 * KiB, 16 * GiB, GiB + GiB / 2, 3 * PiB}) {
        EXPECT_EQ(sizeOf(formatSize(v)), v) << formatSize(v);
    }
}

TEST(ParseBlockSize, AcceptsPowersOfTwoInRange) {
    auto bs = [](std::string_view t) {
        auto r = parseBlockSize(t);
        EXPECT_TRUE(r.ok()) << t << ": " << (r.ok() ? "" : r.error().message);
        return r.ok() ? *r : 0u;
    };
    EXPECT_EQ(bs("4K"), 4096u);
    EXPECT_EQ(bs("4096"), 4096u);
    EXPECT_EQ(bs("8k"), 8192u);
    EXPECT_EQ(bs("64KiB"), 65536u);
    EXPECT_EQ(bs("1M"), 1048576u);
    EXPECT_EQ(bs(" 2M\n"), 2097152u);
    EXPECT_EQ(bs("0.5M"), 524288u);
}

TEST(ParseBlockSize, RejectsWithMessageNamingInput) {
    struct Case {
        const char* text;
        const char* reason;
    };
    for (const Case& c : {Case{"1K", "from 4 KiB to 2 MiB"}, Case{"0", "from 4 KiB to 2 MiB"},
                          Case{"4M", "from 4 KiB to 2 MiB"}, Case{"2049K", "from 4 KiB to 2 MiB"},
                          Case{"12K", "not a power of two"}, Case{"4097", "not a power of two"},
                          Case{"1.5M", "not a power of two"}, Case{"4X", "unknown unit"},
                          Case{"-4K", "negative"}, Case{"", "empty"}}) {
        auto r = parseBlockSize(c.text);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_EQ(r.error().code, EINVAL);
        EXPECT_NE(r.error().message.find(std::string("invalid block size \"") + c.text + "\""),
                  std::string::npos)
            << r.error().message;
        EXPECT_NE(r.error().message.find(c.reason), std::string::npos) << r.error().message;
    }
}

TEST(ParsePercent, Accepts) {
    auto pct = [](std::string_view t) {
        auto r = parsePercent(t);
        EXPECT_TRUE(r.ok()) << t << ": " << (r.ok() ? "" : r.error().message);
        return r.ok() ? *r : -1.0;
    };
    EXPECT_EQ(pct("25"), 25.0);
    EXPECT_EQ(pct("25%"), 25.0);
    EXPECT_EQ(pct("25 %"), 25.0);
    EXPECT_EQ(pct("12.5"), 12.5);
    EXPECT_EQ(pct("12.5%\n"), 12.5);
    EXPECT_EQ(pct("25\n"), 25.0);
    EXPECT_EQ(pct("  7 \r\n"), 7.0);
    EXPECT_EQ(pct("0"), 0.0);
    EXPECT_EQ(pct("100"), 100.0);
    EXPECT_EQ(pct("100.0%"), 100.0);
    EXPECT_EQ(pct("0.001"), 0.001);
}

TEST(ParsePercent, Rejects) {
    for (const char* text : {"", "\n", "%", "-5", "101", "100.01", "abc", "25%%", "%25", "1e2",
                             "inf", "nan", "1..5", ".5", "5.", "25 percent", "0x10", "+5"}) {
        auto r = parsePercent(text);
        EXPECT_FALSE(r.ok()) << "\"" << text << "\" parsed as " << (r.ok() ? *r : 0.0);
        if (r.ok()) continue;
        EXPECT_EQ(r.error().code, EINVAL);
        EXPECT_NE(r.error().message.find("invalid percentage \""), std::string::npos)
            << r.error().message;
    }
    auto r = parsePercent("abc\n");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("\"abc\""), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace kvc
