// Remote values: keys spread over slots, values round-trip with their metadata, and every
// damaged value (each flipped byte, each truncation, another path) is refused.
#include <gtest/gtest.h>

#include <set>

#include "core/tiers/redis_cluster.h"
#include "core/tiers/remote_value.h"

namespace kvc {
namespace {

EntryImage sample() {
    EntryImage img;
    img.path = "llama/blk-{00af}";
    img.data = std::string("kv\0bytes", 8) + std::string(300, 'x');
    img.mode = 0100640;
    img.uid = 1000;
    img.gid = 100;
    img.priority = -3;
    img.layer = 7;
    img.seq_len = 4096;
    img.mtime_ns = 1700000000123456789;
    img.parent = "llama/blk-00ae";
    img.version = Version{0x0123456789abcdef, 0xfedcba9876543210};
    return img;
}

TEST(RemoteValueTest, RoundTripKeepsBytesAndMetadata) {
    const EntryImage img = sample();
    const uint64_t fp = layoutFingerprint("llama-70b fp16");
    const std::string v = encodeRemoteValue(img, fp);
    EXPECT_EQ(v.size(), kRemoteHeaderBytes + img.parent.size() + img.path.size() + img.data.size());
    const DecodedValue d = decodeRemoteValue(v, fp, img.path);
    ASSERT_EQ(d.check, RemoteCheck::Ok) << d.problem;
    EXPECT_EQ(d.image.data, img.data);
    EXPECT_EQ(d.image.path, img.path);
    EXPECT_EQ(d.image.parent, img.parent);
    EXPECT_EQ(d.image.mode, img.mode);
    EXPECT_EQ(d.image.uid, img.uid);
    EXPECT_EQ(d.image.gid, img.gid);
    EXPECT_EQ(d.image.priority, img.priority);
    EXPECT_EQ(d.image.layer, img.layer);
    EXPECT_EQ(d.image.seq_len, img.seq_len);
    EXPECT_EQ(d.image.mtime_ns, img.mtime_ns);
    EXPECT_EQ(d.image.version, img.version);
}

// The order key is big-endian at a fixed offset (the put script compares its bytes), a copy's
// rank is 1 and a tombstone's 0.
TEST(RemoteValueTest, TheOrderKeyComparesAsTheVersionsDo) {
    EntryImage img = sample();
    const std::string v = encodeRemoteValue(img, 1);
    const std::string t = encodeRemoteTombstone(img.path, img.version, 1);
    const std::string_view kv = std::string_view(v).substr(kRemoteOrderOffset, kRemoteOrderBytes);
    const std::string_view kt = std::string_view(t).substr(kRemoteOrderOffset, kRemoteOrderBytes);
    EXPECT_EQ(kv.substr(0, 16), kt.substr(0, 16));
    EXPECT_GT(kv, kt) << "a copy sorts above its own version's tombstone";
    EXPECT_EQ(static_cast<uint8_t>(kv[0]), 0x01);
    EXPECT_EQ(static_cast<uint8_t>(kv[8]), 0xfe);
    img.version.hlc = 0x0123456789abcdef + 0x100;  // a carry into a higher byte
    const std::string later = encodeRemoteValue(img, 1);
    EXPECT_GT(std::string_view(later).substr(kRemoteOrderOffset, kRemoteOrderBytes), kv);
}

TEST(RemoteValueTest, ATombstoneDecodesAsRemovedWithItsVersion) {
    const std::string t = encodeRemoteTombstone("a/b", Version{77, 3}, layoutFingerprint("x"));
    EXPECT_EQ(t.size(), kRemoteHeaderBytes + 3);
    // Whatever the layout: a removal is of the name.
    const DecodedValue d = decodeRemoteValue(t, layoutFingerprint("y"), "a/b");
    EXPECT_EQ(d.check, RemoteCheck::Removed);
    EXPECT_EQ(d.image.version, (Version{77, 3}));
    EXPECT_EQ(decodeRemoteValue(t, 1, "a/c").check, RemoteCheck::Corrupt);
    for (size_t i = 0; i < t.size(); ++i) {
        std::string bad = t;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        EXPECT_EQ(decodeRemoteValue(bad, layoutFingerprint("x"), "a/b").check, RemoteCheck::Corrupt)
            << "byte " << i;
    }
}

TEST(RemoteValueTest, EveryFlippedByteAndEveryTruncationIsCorrupt) {
    const EntryImage img = sample();
    const std::string v = encodeRemoteValue(img, 1);
    for (size_t i = 0; i < v.size(); ++i) {
        std::string bad = v;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        EXPECT_EQ(decodeRemoteValue(bad, 1, img.path).check, RemoteCheck::Corrupt) << "byte " << i;
    }
    for (size_t n = 0; n < v.size(); ++n)
        EXPECT_EQ(decodeRemoteValue(v.substr(0, n), 1, img.path).check, RemoteCheck::Corrupt)
            << n << " bytes";
    EXPECT_EQ(decodeRemoteValue(v + "x", 1, img.path).check, RemoteCheck::Corrupt);
    EXPECT_EQ(decodeRemoteValue("", 1, img.path).check, RemoteCheck::Corrupt);
}

TEST(RemoteValueTest, AnotherPathIsCorruptAnotherLayoutIsLeftAlone) {
    const EntryImage img = sample();
    const std::string v = encodeRemoteValue(img, layoutFingerprint("a"));
    EXPECT_EQ(decodeRemoteValue(v, layoutFingerprint("a"), "llama/other").check,
              RemoteCheck::Corrupt);
    const DecodedValue d = decodeRemoteValue(v, layoutFingerprint("b"), img.path);
    EXPECT_EQ(d.check, RemoteCheck::OtherLayout);
    EXPECT_FALSE(d.problem.empty());
}

TEST(RemoteValueTest, KeysHashWholeAndSpreadOverSlots) {
    EXPECT_EQ(remoteKey("ns", "pool", "a/b"), "{}ns:pool:a/b");
    // A brace pair in a name would be a hash tag if the key did not start with an empty one.
    EXPECT_NE(keySlot(remoteKey("ns", "p", "{x}1")), keySlot(remoteKey("ns", "p", "{x}2")));
    std::set<uint16_t> slots;
    for (int i = 0; i < 1000; ++i)
        slots.insert(keySlot(remoteKey("ns", "p", "blk-" + std::to_string(i))));
    EXPECT_GT(slots.size(), 950u);
}

}  // namespace
}  // namespace kvc
