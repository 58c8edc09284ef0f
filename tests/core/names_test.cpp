// Unit tests of core/names.h: which names and pool-relative paths a pool takes, with the errno
// each refusal gives (EINVAL, ENAMETOOLONG, EEXIST), the bounds, and messages that say what was
// checked.
#include "core/names.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "core/layout.h"
#include "core/xattr_limits.h"

namespace kvc {
namespace {

constexpr std::string_view kControlNames[] = {".stats", ".policy", ".evict", ".size", ".match"};

int codeOf(const Status& st) {
    return st.ok() ? 0 : st.error().code;
}

// `parts` names of `length` bytes joined by '/'.
std::string pathOf(size_t parts, size_t length) {
    std::string out;
    for (size_t i = 0; i < parts; ++i) {
        if (i) out += '/';
        out += std::string(length, static_cast<char>('a' + i % 26));
    }
    return out;
}

TEST(EntryName, OrdinaryNamesAreValid) {
    for (std::string_view name : {"a", "blk-00a1", "...", ".hidden", "a b", "x.y.z", "é"})
        EXPECT_TRUE(validateEntryName(name).ok()) << name;
}

TEST(EntryName, EmptyDotsSlashAndNulAreInvalid) {
    for (std::string_view name :
         {std::string_view(""), std::string_view("."), std::string_view(".."),
          std::string_view("a/b"), std::string_view("/"), std::string_view("a/"),
          std::string_view("a\0b", 3), std::string_view("\0", 1)}) {
        auto st = validateEntryName(name);
        EXPECT_EQ(codeOf(st), EINVAL) << "name of " << name.size() << " bytes";
    }
}

TEST(EntryName, LengthBoundIsNameMax) {
    EXPECT_EQ(kMaxNameBytes, 255u);
    EXPECT_TRUE(validateEntryName(std::string(kMaxNameBytes, 'n')).ok());
    auto st = validateEntryName(std::string(kMaxNameBytes + 1, 'n'));
    EXPECT_EQ(codeOf(st), ENAMETOOLONG);
    EXPECT_NE(st.error().message.find(std::to_string(kMaxNameBytes + 1)), std::string::npos)
        << st.error().message;
    // Too long is said before anything else about the name.
    EXPECT_EQ(codeOf(validateEntryName(std::string(kMaxNameBytes + 1, '/'))), ENAMETOOLONG);
}

TEST(EntryPath, NamesJoinedBySlashes) {
    for (std::string_view path : {"a", "a/b", "dir/sub/blk-1", ".../x"})
        EXPECT_TRUE(validateEntryPath(path, "what").ok()) << path;
}

TEST(EntryPath, BadShapesAreEinvalNamingWhat) {
    for (std::string_view path :
         {std::string_view(""), std::string_view("/a"), std::string_view("a/"),
          std::string_view("a//b"), std::string_view("a/./b"), std::string_view("a/.."),
          std::string_view("/"), std::string_view("a/\0", 3)}) {
        auto st = validateEntryPath(path, "the thing");
        ASSERT_EQ(codeOf(st), EINVAL) << path;
        EXPECT_TRUE(st.error().message.starts_with("the thing: ")) << st.error().message;
    }
}

TEST(EntryPath, ATooLongNameInsideIsEinval) {
    const std::string path = "a/" + std::string(kMaxNameBytes + 1, 'n');
    auto st = validateEntryPath(path, "p");
    EXPECT_EQ(codeOf(st), EINVAL);
    EXPECT_TRUE(validateEntryPath("a/" + std::string(kMaxNameBytes, 'n'), "p").ok());
}

TEST(EntryPath, LengthBound) {
    std::string path = pathOf(17, 240);  // 17 names of 240 bytes and 16 slashes
    ASSERT_EQ(path.size(), kMaxParentPathBytes);
    EXPECT_TRUE(validateEntryPath(path, "p").ok());
    path += "z";
    auto st = validateEntryPath(path, "p");
    EXPECT_EQ(codeOf(st), EINVAL);
    EXPECT_NE(st.error().message.find(std::to_string(kMaxParentPathBytes)), std::string::npos)
        << st.error().message;
}

TEST(ParentPath, IsAnEntryPathNamedForTheAttribute) {
    EXPECT_TRUE(validateParentPath("blk-00a1").ok());
    EXPECT_TRUE(validateParentPath("dir/blk-00a1").ok());
    auto st = validateParentPath("dir//blk");
    ASSERT_EQ(codeOf(st), EINVAL);
    EXPECT_TRUE(st.error().message.starts_with("user.kvcache.parent: ")) << st.error().message;
    EXPECT_EQ(codeOf(validateParentPath("")), EINVAL);
}

TEST(PoolControlName, OnlyTheFiveControlFiles) {
    for (std::string_view c : kControlNames) EXPECT_TRUE(isPoolControlName(c)) << c;
    for (std::string_view name :
         {"", ".", "stats", ".Stats", ".stats2", ".stat", "x.stats", ".policy/", ".pin_budget"})
        EXPECT_FALSE(isPoolControlName(name)) << name;
}

TEST(NewName, ControlNamesAreTakenAtThePoolTopOnly) {
    for (std::string_view c : kControlNames) {
        auto st = validateNewName(c, true);
        ASSERT_EQ(codeOf(st), EEXIST) << c;
        EXPECT_NE(st.error().message.find(c), std::string::npos) << st.error().message;
        EXPECT_TRUE(validateNewName(c, false).ok()) << c;
    }
    EXPECT_TRUE(validateNewName("blk", true).ok());
}

TEST(NewName, InvalidNamesKeepTheirOwnError) {
    EXPECT_EQ(codeOf(validateNewName("", true)), EINVAL);
    EXPECT_EQ(codeOf(validateNewName("..", false)), EINVAL);
    EXPECT_EQ(codeOf(validateNewName("a/b", true)), EINVAL);
    EXPECT_EQ(codeOf(validateNewName(std::string(kMaxNameBytes + 1, 'n'), true)), ENAMETOOLONG);
}

TEST(PoolPath, AControlNameFirstIsEexist) {
    for (std::string_view c : kControlNames) {
        for (const std::string& path : {std::string(c), std::string(c) + "/x"}) {
            auto st = validatePoolPath(path, "where");
            ASSERT_EQ(codeOf(st), EEXIST) << path;
            EXPECT_TRUE(st.error().message.starts_with("where: ")) << st.error().message;
        }
        // Deeper down, the name is an ordinary one.
        EXPECT_TRUE(validatePoolPath("dir/" + std::string(c), "where").ok()) << c;
    }
}

TEST(PoolPath, AnInvalidPathIsEinvalFirst) {
    EXPECT_EQ(codeOf(validatePoolPath("", "where")), EINVAL);
    EXPECT_EQ(codeOf(validatePoolPath(".stats/", "where")), EINVAL);
    EXPECT_EQ(codeOf(validatePoolPath("a//b", "where")), EINVAL);
    EXPECT_TRUE(validatePoolPath("a/b", "where").ok());
}

}  // namespace
}  // namespace kvc
