// How an entry is stored in the remote tier: its key, and a value that carries a small header
// before the bytes (docs/TIERS.md has the byte layout).
//
// Keys are "{}NAMESPACE:POOL:PATH". The leading empty hash tag makes Redis Cluster hash the whole
// key, so a brace in an entry's name can never pull keys onto one slot: keys spread over all
// masters. A value is checked whole (magic, version, lengths, layout fingerprint, checksum)
// before anything of it is used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/entry_image.h"

namespace kvc {

inline constexpr uint32_t kRemoteMagic = 0x5243564b;  // "KVCR" little-endian
inline constexpr uint16_t kRemoteVersion = 1;
inline constexpr size_t kRemoteHeaderBytes = 80;

std::string remoteKey(std::string_view name_space, std::string_view pool, std::string_view path);

// A 64-bit fingerprint of the KV layout's name (remote_layout): values written under another
// layout are not ours to use.
uint64_t layoutFingerprint(std::string_view layout);

std::string encodeRemoteValue(const EntryImage& image, uint64_t fingerprint);

enum class RemoteCheck {
    Ok,
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
