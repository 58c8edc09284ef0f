// Unit tests of core/control_requests.h (the `.match` request: exact names, pieces cut anywhere,
// its bound) and core/excerpt.h (what a message quotes of client bytes).
#include "core/control_requests.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "core/excerpt.h"

namespace kvc {
namespace {

std::vector<std::string> namesOf(const MatchRequest& r) {
    auto names = r.names();
    EXPECT_TRUE(names.ok()) << names.error().message;
    if (!names) return {};
    return {names->begin(), names->end()};
}

std::vector<std::string> parsed(std::string_view text) {
    MatchRequest r;
    auto st = r.append(text);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return namesOf(r);
}

std::string longName(size_t i) {
    std::string n = std::to_string(i) + "-";
    return n + std::string(kMaxNameBytes - n.size(), 'k');
}

TEST(MatchRequest, NamesAreTakenByteForByte) {
    using V = std::vector<std::string>;
    EXPECT_EQ(parsed("c0\nc1\n"), (V{"c0", "c1"}));
    EXPECT_EQ(parsed("c0\nc1"), (V{"c0", "c1"}));  // the last newline is optional
    // Nothing is trimmed: a CR, a space or a tab is part of the name.
    EXPECT_EQ(parsed("c0\r\nc1 \n\tc2\r"), (V{"c0\r", "c1 ", "\tc2\r"}));
    EXPECT_EQ(parsed("\r\n"), (V{"\r"}));
    EXPECT_EQ(parsed("...\n.x\n"), (V{"...", ".x"}));
}

TEST(MatchRequest, BadNamesAreEinvalAndChangeNothing) {
    for (const std::string& bad :
         {std::string("\n"), std::string("a/b\n"), std::string(kMaxNameBytes + 1, 'n'),
          std::string("c0\n\nc1\n"), std::string(".\n"), std::string("..\n"),
          std::string("a\0b\n", 4), std::string("c0\n") + std::string(256, 'x')}) {
        MatchRequest r;
        ASSERT_TRUE(r.append("ok\n").ok());
        auto st = r.append(bad);
        ASSERT_FALSE(st.ok()) << excerpt(bad);
        EXPECT_EQ(EINVAL, st.code()) << excerpt(bad);
        EXPECT_EQ(namesOf(r), std::vector<std::string>{"ok"}) << excerpt(bad);
        EXPECT_EQ(3u, r.bytes());
    }
    MatchRequest empty;
    EXPECT_EQ(EINVAL, empty.names().code());
    // "." may still become ".x": refused only when the request ends there.
    MatchRequest dot;
    ASSERT_TRUE(dot.append("c0\n.").ok());
    EXPECT_EQ(EINVAL, dot.names().code());
    ASSERT_TRUE(dot.append("x").ok());
    EXPECT_EQ(namesOf(dot), (std::vector<std::string>{"c0", ".x"}));
}

TEST(MatchRequest, PiecesCutAnywhereGiveTheSameNames) {
    const std::string text =
        "blk-00a1\nblk-00a2\r\n" + std::string(kMaxNameBytes, 'z') + "\n.x\n..y";
    const std::vector<std::string> whole = parsed(text);
    ASSERT_EQ(5u, whole.size());
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        MatchRequest r;
        ASSERT_TRUE(r.append(text.substr(0, cut)).ok()) << cut;
        ASSERT_TRUE(r.append(text.substr(cut)).ok()) << cut;
        EXPECT_EQ(whole, namesOf(r)) << cut;
    }
    MatchRequest bytewise;
    for (char c : text) ASSERT_TRUE(bytewise.append(std::string_view(&c, 1)).ok());
    EXPECT_EQ(whole, namesOf(bytewise));
    // A bad byte in a name cut in two is refused in the piece that brings it.
    MatchRequest r;
    ASSERT_TRUE(r.append("c0\nab").ok());
    EXPECT_EQ(EINVAL, r.append("c/d\n").code());
    EXPECT_EQ(EINVAL, r.append(std::string(kMaxNameBytes, 'q')).code());
    EXPECT_EQ(namesOf(r), (std::vector<std::string>{"c0", "ab"}));
}

TEST(MatchRequest, BoundIsE2bigAndLeavesTheRequestAsItWas) {
    static_assert(kMatchMaxBytes == kMatchMaxNames * (kMaxNameBytes + 1));
    MatchRequest r;
    for (size_t i = 0; i < kMatchMaxNames; ++i) ASSERT_TRUE(r.append(longName(i) + "\n").ok()) << i;
    EXPECT_EQ(kMatchMaxBytes, r.bytes());
    EXPECT_EQ(E2BIG, r.append("x").code());
    EXPECT_EQ(E2BIG, r.append("x\n").code());
    auto names = r.names();
    ASSERT_TRUE(names.ok());
    ASSERT_EQ(kMatchMaxNames, names->size());
    EXPECT_EQ(longName(kMatchMaxNames - 1), names->back());

    // Short names: the count is the bound, whatever the bytes.
    MatchRequest s;
    std::string many;
    for (size_t i = 0; i < kMatchMaxNames; ++i) many += "n\n";
    ASSERT_TRUE(s.append(many).ok());
    EXPECT_EQ(E2BIG, s.append("n").code());
    MatchRequest t;
    EXPECT_EQ(E2BIG, t.append(many + "n\n").code());
    EXPECT_EQ(0u, t.bytes());
    // A request starts afresh after clear().
    s.clear();
    ASSERT_TRUE(s.append("a\nb").ok());
    EXPECT_EQ(namesOf(s), (std::vector<std::string>{"a", "b"}));
}

TEST(Excerpt, IsBoundedQuotedAndEscaped) {
    EXPECT_EQ("\"lru\"", excerpt("lru"));
    EXPECT_EQ("\"a\\x1b[31m\\x0d\\x0a\\\"q\\\\\\xff\"", excerpt("a\x1b[31m\r\n\"q\\\xff"));
    const std::string big(1 << 20, 'x');
    const std::string e = excerpt(big);
    EXPECT_EQ("\"" + std::string(kExcerptBytes, 'x') + "\"... (1048576 bytes)", e);
    EXPECT_TRUE(isPlainText(e));
    EXPECT_TRUE(isPlainText(excerpt(std::string("\0\x7f\x80\n", 4))));
    EXPECT_FALSE(isPlainText("a\nb"));
    EXPECT_FALSE(isPlainText("\x1b"));
    EXPECT_TRUE(isPlainText("plain text, \"quoted\""));
}

}  // namespace
}  // namespace kvc
