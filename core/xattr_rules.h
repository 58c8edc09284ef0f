// The rules of extended attributes that need no pool state: which names exist, which are
// read-only, what values parse, and the bounds in core/xattr_limits.h. Pool::setxattr applies
// them, and the snapshot verifier applies the same to every attribute a restore would set, so
// that an image a pool would refuse in part is refused whole before anything changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/xattr_limits.h"

namespace kvc {

// The namespace of an entry's cache metadata.
inline constexpr std::string_view kKvcacheXattrPrefix = "user.kvcache.";

// The longest pin user.kvcache.pin_ttl takes, in seconds (100 years).
inline constexpr int64_t kMaxPinTtlSeconds = 100LL * 365 * 86400;

// What a name in the user.kvcache. namespace means (None: another user.* attribute).
enum class KvAttr {
    None,
    Priority,
    Pinned,
    PinTtl,
    Parent,
    Layer,
    SeqLen,
    AccessCount,
    Created,
    LastAccess,
    Committed,
    Unknown
};

KvAttr kvAttr(std::string_view name);
// access_count, created, last_access, committed: readable by name, never set.
bool isReadOnly(KvAttr attr);

struct ParsedXattr {
    KvAttr attr = KvAttr::None;
    int64_t number = 0;  // priority, pinned (0/1), pin_ttl seconds, layer, seq_len
    std::string text;    // parent: the path as stored (trimmed)
};

// A value for `name` on an entry or a directory (`directory`), as setxattr(2) would give it:
// EOPNOTSUPP outside user.*, ERANGE for a long name, EINVAL for an unknown user.kvcache.* name
// or a value that does not parse, EPERM for a read-only one or a user.kvcache.* name on a
// directory, E2BIG for a value over kMaxXattrValueBytes.
Result<ParsedXattr> parseXattr(std::string_view name, std::string_view value, bool directory);
// ENOSPC when one node's stored user.* attributes (names and values) would pass the bounds.
Status checkXattrTotals(size_t count, size_t bytes);

}  // namespace kvc
