// Unit tests of core/text.h: trimming, case folding and character classes are ASCII only, so a
// size, a policy name or a control request means the same in any locale, and bytes outside ASCII
// are kept as they are.
#include "core/text.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace kvc {
namespace {

TEST(Text, CharacterClasses) {
    for (char c : std::string_view(" \t\n\v\f\r")) EXPECT_TRUE(isSpace(c)) << int(c);
    for (char c : {'a', '0', '\0', '_', '\x85', '\xa0'}) EXPECT_FALSE(isSpace(c)) << int(c);
    for (char c : std::string_view("0123456789")) EXPECT_TRUE(isDigit(c)) << c;
    for (char c : {'a', ' ', '/', ':', '\xb2'}) EXPECT_FALSE(isDigit(c)) << int(c);
}

TEST(Text, TrimTakesAsciiWhitespaceFromBothEnds) {
    EXPECT_EQ(trim("  64M\n"), "64M");
    EXPECT_EQ(trim("\t\v\f\r lru \r\n"), "lru");
    EXPECT_EQ(trim("a b"), "a b");  // inside stays
    EXPECT_EQ(trim(" a b "), "a b");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim(" \n\t"), "");
    // Not whitespace here: NUL and bytes outside ASCII (a no-break space in Latin-1 or UTF-8).
    EXPECT_EQ(trim(std::string_view("x\0", 2)), std::string_view("x\0", 2));
    EXPECT_EQ(trim("\xa0x\xc2\xa0"), "\xa0x\xc2\xa0");
}

TEST(Text, TrimReturnsAPartOfItsArgument) {
    const std::string_view s = "  abc  ";
    const std::string_view t = trim(s);
    EXPECT_EQ(t.data(), s.data() + 2);
    EXPECT_EQ(t.size(), 3u);
}

TEST(Text, TrimCharsHasOneSetPerEnd) {
    const std::string_view trailing_nul(" \n\0", 3);
    EXPECT_EQ(trimChars(std::string_view(" 7\n\0", 4), " \n", trailing_nul), "7");
    // NUL is taken from the end only.
    EXPECT_EQ(trimChars(std::string_view("\0"
                                         "7",
                                         2),
                        " \n", trailing_nul),
              std::string_view("\0"
                               "7",
                               2));
    EXPECT_EQ(trimChars(std::string_view(" \0", 2), " \n", trailing_nul), "");
    EXPECT_EQ(trimChars("xxaxx", "x", ""), "axx");
    EXPECT_EQ(trimChars("xxaxx", "", "x"), "xxa");
    EXPECT_EQ(trimChars("xxxx", "x", "y"), "");
    EXPECT_EQ(trimChars("yyyy", "x", "y"), "");
    EXPECT_EQ(trimChars("", "x", "x"), "");
}

TEST(Text, EqualsIgnoreCase) {
    EXPECT_TRUE(equalsIgnoreCase("LRU", "lru"));
    EXPECT_TRUE(equalsIgnoreCase("S3Fifo", "s3fifo"));
    EXPECT_TRUE(equalsIgnoreCase("", ""));
    EXPECT_FALSE(equalsIgnoreCase("lru", "lr"));
    EXPECT_FALSE(equalsIgnoreCase("lru", "lfu"));
    EXPECT_FALSE(equalsIgnoreCase("lru+admit", "lru admit"));
    // Only ASCII letters fold: '@' and '`' are not 'A' - 1 and 'a' - 1 in another case, and
    // bytes outside ASCII compare as they are.
    EXPECT_FALSE(equalsIgnoreCase("@", "`"));
    EXPECT_FALSE(equalsIgnoreCase("[", "{"));
    EXPECT_FALSE(equalsIgnoreCase("\xc3\x89", "\xc3\xa9"));  // É and é in UTF-8
    EXPECT_TRUE(equalsIgnoreCase("\xc3\x89", "\xc3\x89"));
}

TEST(Text, ToLower) {
    EXPECT_EQ(toLower('A'), 'a');
    EXPECT_EQ(toLower('Z'), 'z');
    EXPECT_EQ(toLower('z'), 'z');
    EXPECT_EQ(toLower('@'), '@');
    EXPECT_EQ(toLower('['), '[');
    EXPECT_EQ(toLower('\xc9'), '\xc9');
    EXPECT_EQ(toLower(std::string_view("Disk")), "disk");
    EXPECT_EQ(toLower(std::string_view("CPU-1 \xc3\x89")), "cpu-1 \xc3\x89");
    EXPECT_EQ(toLower(std::string_view("")), "");
}

}  // namespace
}  // namespace kvc
