// Unit tests of core/xattr_rules.h: what each user.kvcache.* name means, which are read-only,
// what values parse (and to what), and the errors setxattr(2) gives: EOPNOTSUPP, ERANGE, EINVAL,
// EPERM, E2BIG, and ENOSPC for the totals of one node.
#include "core/xattr_rules.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace kvc {
namespace {

const std::pair<std::string_view, KvAttr> kNames[] = {
    {"priority", KvAttr::Priority},
    {"pinned", KvAttr::Pinned},
    {"pin_ttl", KvAttr::PinTtl},
    {"parent", KvAttr::Parent},
    {"layer", KvAttr::Layer},
    {"seq_len", KvAttr::SeqLen},
    {"access_count", KvAttr::AccessCount},
    {"created", KvAttr::Created},
    {"last_access", KvAttr::LastAccess},
    {"committed", KvAttr::Committed},
};

std::string kv(std::string_view name) {
    return "user.kvcache." + std::string(name);
}

// The number a value parses to on an entry (EXPECTs that it parses).
int64_t numberOf(std::string_view name, std::string_view value) {
    auto p = parseXattr(kv(name), value, false);
    EXPECT_TRUE(p.ok()) << name << "=" << value << ": " << (p ? "" : p.error().message);
    return p ? p->number : -12345;
}

int errorOf(std::string_view name, std::string_view value, bool directory = false) {
    auto p = parseXattr(name, value, directory);
    return p.ok() ? 0 : p.error().code;
}

TEST(KvAttrNames, EachNameHasItsMeaning) {
    for (const auto& [name, attr] : kNames) EXPECT_EQ(kvAttr(kv(name)), attr) << name;
}

TEST(KvAttrNames, OtherNames) {
    EXPECT_EQ(kvAttr("user.mime_type"), KvAttr::None);
    EXPECT_EQ(kvAttr("user.kvcache"), KvAttr::None);
    EXPECT_EQ(kvAttr("trusted.kvcache.priority"), KvAttr::None);
    EXPECT_EQ(kvAttr("user.kvcache.bogus"), KvAttr::Unknown);
    EXPECT_EQ(kvAttr("user.kvcache.Priority"), KvAttr::Unknown);
    EXPECT_EQ(kvAttr("user.kvcache.priority2"), KvAttr::Unknown);
}

TEST(KvAttrNames, ReadOnlyAreTheFourStatistics) {
    for (const auto& [name, attr] : kNames) {
        const bool read_only = name == "access_count" || name == "created" ||
                               name == "last_access" || name == "committed";
        EXPECT_EQ(isReadOnly(attr), read_only) << name;
    }
    EXPECT_FALSE(isReadOnly(KvAttr::None));
}

TEST(ParseXattr, OnlyUserNamespace) {
    for (std::string_view name : {"trusted.x", "security.selinux", "system.posix_acl_access",
                                  "user", "USER.x", "userx.y", ""})
        EXPECT_EQ(errorOf(name, "v"), EOPNOTSUPP) << name;
}

TEST(ParseXattr, NameLengthBound) {
    const std::string longest = "user." + std::string(kMaxXattrNameBytes - 5, 'n');
    ASSERT_EQ(longest.size(), kMaxXattrNameBytes);
    auto p = parseXattr(longest, "v", false);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->attr, KvAttr::None);
    EXPECT_EQ(errorOf(longest + "n", "v"), ERANGE);
}

TEST(ParseXattr, OtherUserAttributesAreStoredAsTheyAre) {
    for (bool directory : {false, true}) {
        auto p = parseXattr("user.note", "  any bytes\n", directory);
        ASSERT_TRUE(p.ok()) << p.error().message;
        EXPECT_EQ(p->attr, KvAttr::None);
        EXPECT_TRUE(p->text.empty());  // the pool stores the value itself
    }
    EXPECT_TRUE(parseXattr("user.big", std::string(kMaxXattrValueBytes, 'v'), false).ok());
    EXPECT_EQ(errorOf("user.big", std::string(kMaxXattrValueBytes + 1, 'v')), E2BIG);
    EXPECT_EQ(errorOf("user.big", std::string(kMaxXattrValueBytes + 1, 'v'), true), E2BIG);
}

TEST(ParseXattr, UnknownKvcacheNameIsEinval) {
    EXPECT_EQ(errorOf("user.kvcache.bogus", "1"), EINVAL);
    EXPECT_EQ(errorOf("user.kvcache.", "1"), EINVAL);
    EXPECT_EQ(errorOf("user.kvcache.bogus", "1", true), EINVAL);
}

TEST(ParseXattr, ReadOnlyNamesAreEperm) {
    for (std::string_view name : {"access_count", "created", "last_access", "committed"}) {
        auto p = parseXattr(kv(name), "1", false);
        ASSERT_FALSE(p.ok()) << name;
        EXPECT_EQ(p.error().code, EPERM) << name;
        EXPECT_NE(p.error().message.find(kv(name)), std::string::npos) << p.error().message;
    }
}

TEST(ParseXattr, KvcacheNamesOnADirectoryAreEperm) {
    for (const auto& [name, attr] : kNames) EXPECT_EQ(errorOf(kv(name), "1", true), EPERM) << name;
}

TEST(ParseXattr, Priority) {
    EXPECT_EQ(numberOf("priority", "0"), 0);
    EXPECT_EQ(numberOf("priority", "-7"), -7);
    EXPECT_EQ(numberOf("priority", "2147483647"), INT32_MAX);
    EXPECT_EQ(numberOf("priority", "-2147483648"), INT32_MIN);
    for (std::string_view v : {"2147483648", "-2147483649", "", "1.5", "ten", "0x10", "+1", "1 2"})
        EXPECT_EQ(errorOf(kv("priority"), v), EINVAL) << v;
    EXPECT_EQ(parseXattr(kv("priority"), "3", false)->attr, KvAttr::Priority);
}

TEST(ParseXattr, Pinned) {
    EXPECT_EQ(numberOf("pinned", "1"), 1);
    EXPECT_EQ(numberOf("pinned", "0"), 0);
    for (std::string_view v : {"2", "-1", "yes", ""}) EXPECT_EQ(errorOf(kv("pinned"), v), EINVAL);
}

TEST(ParseXattr, PinTtlUpToAHundredYears) {
    EXPECT_EQ(kMaxPinTtlSeconds, int64_t{3153600000});
    EXPECT_EQ(numberOf("pin_ttl", "0"), 0);
    EXPECT_EQ(numberOf("pin_ttl", "3600"), 3600);
    EXPECT_EQ(numberOf("pin_ttl", "3153600000"), kMaxPinTtlSeconds);
    auto p = parseXattr(kv("pin_ttl"), "3153600001", false);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, EINVAL);
    EXPECT_NE(p.error().message.find("3153600000"), std::string::npos) << p.error().message;
    EXPECT_EQ(errorOf(kv("pin_ttl"), "-1"), EINVAL);
}

TEST(ParseXattr, LayerAndSeqLenAreNonNegative) {
    for (std::string_view name : {"layer", "seq_len"}) {
        EXPECT_EQ(numberOf(name, "0"), 0);
        EXPECT_EQ(numberOf(name, "31"), 31);
        EXPECT_EQ(numberOf(name, "9223372036854775807"), INT64_MAX);
        EXPECT_EQ(errorOf(kv(name), "-1"), EINVAL) << name;
        EXPECT_EQ(errorOf(kv(name), "9223372036854775808"), EINVAL) << name;
    }
}

TEST(ParseXattr, NumbersMayHaveBlanksANewlineAndATerminator) {
    // What `echo` and C strings add around a number.
    EXPECT_EQ(numberOf("priority", " 42\n"), 42);
    EXPECT_EQ(numberOf("layer", "\t5 "), 5);
    EXPECT_EQ(numberOf("pinned", std::string("1\0", 2)), 1);
    EXPECT_EQ(numberOf("seq_len", std::string("8\n\0", 3)), 8);
    EXPECT_EQ(errorOf(kv("priority"), std::string("\0"
                                                  "1",
                                                  2)),
              EINVAL);
    EXPECT_EQ(errorOf(kv("priority"), " \n"), EINVAL);
}

TEST(ParseXattr, BadNumberMessageNamesTheAttribute) {
    auto p = parseXattr(kv("layer"), "many", false);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, EINVAL);
    EXPECT_NE(p.error().message.find("user.kvcache.layer"), std::string::npos) << p.error().message;
    EXPECT_NE(p.error().message.find("many"), std::string::npos) << p.error().message;
}

TEST(ParseXattr, ParentIsATrimmedPoolPath) {
    auto p = parseXattr(kv("parent"), " dir/blk-00a1\n", false);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->attr, KvAttr::Parent);
    EXPECT_EQ(p->text, "dir/blk-00a1");
    for (std::string_view v : {"", "\n", "/abs", "a//b", "a/", "..", "a/./b"}) {
        auto bad = parseXattr(kv("parent"), v, false);
        ASSERT_FALSE(bad.ok()) << v;
        EXPECT_EQ(bad.error().code, EINVAL) << v;
        EXPECT_TRUE(bad.error().message.starts_with("user.kvcache.parent")) << bad.error().message;
    }
    const std::string longest(kMaxParentPathBytes, 'p');  // one name too long: still EINVAL
    EXPECT_EQ(errorOf(kv("parent"), longest), EINVAL);
}

TEST(XattrTotals, BoundsPerNode) {
    EXPECT_TRUE(checkXattrTotals(0, 0).ok());
    EXPECT_TRUE(checkXattrTotals(kMaxXattrsPerEntry, kMaxXattrBytesPerEntry).ok());
    auto names = checkXattrTotals(kMaxXattrsPerEntry + 1, 0);
    ASSERT_FALSE(names.ok());
    EXPECT_EQ(names.error().code, ENOSPC);
    auto bytes = checkXattrTotals(1, kMaxXattrBytesPerEntry + 1);
    ASSERT_FALSE(bytes.ok());
    EXPECT_EQ(bytes.error().code, ENOSPC);
}

}  // namespace
}  // namespace kvc
