// How an entry is stored in the remote tier: its key, and a value that carries a small header
// before the bytes (docs/TIERS.md has the byte layout).
//
// Keys are "{}NAMESPACE:POOL:PATH". The leading empty hash tag makes Redis Cluster hash the whole
// key, so a brace in an entry's name can never pull keys onto one slot: keys spread over all
// masters. A value is checked whole (magic, version, lengths, layout fingerprint, checksum)
// before anything of it is used.
//
// Every value carries the version of the entry it holds (core/version.h), and a removal leaves
// a tombstone value of its own version where the entry was. The cluster only moves forward:
// values are stored by a script (kRemotePutScript) that keeps what the key holds when that is
// not older.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/entry_image.h"

namespace kvc {

inline constexpr uint32_t kRemoteMagic = 0x5243564b;  // "KVCR" little-endian
inline constexpr uint16_t kRemoteVersion = 2;
inline constexpr size_t kRemoteHeaderBytes = 104;
// Where a value's order key is: the version's clock and node (big-endian, so that the bytes
// compare as the numbers do), then a rank: 1 for a copy, 0 for a tombstone, so that a tombstone
// left at an entry's own version (its older copies obsolete) sorts below that entry's copy.
inline constexpr size_t kRemoteOrderOffset = 80;
inline constexpr size_t kRemoteOrderBytes = 17;

// Stores ARGV[1] at KEYS[1] (with PX ARGV[2] unless that is "0") unless the key holds a value
// of this format whose order key is not older; 1: stored, 0: kept the newer value. A tombstone
// (ARGV[3] "1") that Redis refuses to store (maxmemory with noeviction) deletes the older value
// instead: 2. Any other refusal is an error.
extern const std::string_view kRemotePutScript;

std::string remoteKey(std::string_view name_space, std::string_view pool, std::string_view path);

// A 64-bit fingerprint of the KV layout's name (remote_layout): values written under another
// layout are not ours to use.
uint64_t layoutFingerprint(std::string_view layout);

// A copy of an entry, with image.version.
std::string encodeRemoteValue(const EntryImage& image, uint64_t fingerprint);
// A tombstone: the copies of `path` older than `version` are obsolete (removed, renamed away,
// replaced). A lookup that finds it misses.
std::string encodeRemoteTombstone(std::string_view path, const Version& version,
                                  uint64_t fingerprint);

enum class RemoteCheck {
    Ok,
    Removed,      // a tombstone: a miss, kept (image.path and image.version are set)
    Corrupt,      // damaged or not ours at all: a miss, and the value is deleted
    OtherLayout,  // intact but of another layout: a miss, left alone for its owners
};

struct DecodedValue {
    RemoteCheck check = RemoteCheck::Corrupt;
    std::string problem;  // why it is not Ok, for the log
    EntryImage image;
};

// `path` is the path the key was built from: a value stored under another path is corrupt.
DecodedValue decodeRemoteValue(std::string_view value, uint64_t fingerprint, std::string_view path);

}  // namespace kvc
