// The rules of extended attributes that need no pool state (see core/xattr_rules.h): the names
// in user.kvcache., which are read-only, how values parse, and the bounds.
#include "core/xattr_rules.h"

#include <charconv>
#include <cstdint>

#include <fmt/format.h>

#include "core/excerpt.h"
#include "core/names.h"
#include "core/text.h"

namespace kvc {
namespace {

// A value without the blanks and newlines around it, nor the terminator a C string may carry.
std::string_view trimValue(std::string_view v) {
    return trimChars(v, " \t\n", std::string_view(" \t\n\0", 4));
}

template <class T>
Result<T> parseInt(std::string_view attr, std::string_view value, T lo, T hi) {
    const std::string_view v = trimValue(value);
    T out{};
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi)
        return makeError(EINVAL, fmt::format("{}: {} is not an integer in [{}, {}]", attr,
                                             excerpt(value), lo, hi));
    return out;
}

}  // namespace

KvAttr kvAttr(std::string_view name) {
    if (name.substr(0, kKvcacheXattrPrefix.size()) != kKvcacheXattrPrefix) return KvAttr::None;
    const std::string_view k = name.substr(kKvcacheXattrPrefix.size());
    if (k == "priority") return KvAttr::Priority;
    if (k == "pinned") return KvAttr::Pinned;
    if (k == "pin_ttl") return KvAttr::PinTtl;
    if (k == "parent") return KvAttr::Parent;
    if (k == "layer") return KvAttr::Layer;
    if (k == "seq_len") return KvAttr::SeqLen;
    if (k == "access_count") return KvAttr::AccessCount;
    if (k == "created") return KvAttr::Created;
    if (k == "last_access") return KvAttr::LastAccess;
    if (k == "committed") return KvAttr::Committed;
    return KvAttr::Unknown;
}

bool isReadOnly(KvAttr a) {
    return a == KvAttr::AccessCount || a == KvAttr::Created || a == KvAttr::LastAccess ||
           a == KvAttr::Committed;
}

Result<ParsedXattr> parseXattr(std::string_view name, std::string_view value, bool directory) {
    if (name.substr(0, 5) != "user.")
        return makeError(
            EOPNOTSUPP, fmt::format("only user.* attributes are supported, not {}", excerpt(name)));
    if (name.size() > kMaxXattrNameBytes)
        return makeError(ERANGE,
                         fmt::format("attribute name longer than {} bytes", kMaxXattrNameBytes));
    ParsedXattr out;
    out.attr = kvAttr(name);
    auto number = [&](auto parsed) -> Result<ParsedXattr> {
        if (!parsed) return parsed.error();
        out.number = *parsed;
        return out;
    };
    switch (out.attr) {
        case KvAttr::None:
            if (value.size() > kMaxXattrValueBytes)
                return makeError(E2BIG, fmt::format("value of {} bytes is larger than {}",
                                                    value.size(), kMaxXattrValueBytes));
            return out;
        case KvAttr::Unknown:
            return makeError(EINVAL, fmt::format("unknown attribute {} (see the README for the "
                                                 "user.kvcache.* names)",
                                                 excerpt(name)));
        default:
            break;
    }
    if (directory)
        return makeError(EPERM, "user.kvcache.* attributes apply to entries, not directories");
    if (isReadOnly(out.attr)) return makeError(EPERM, fmt::format("{} is read-only", name));
    switch (out.attr) {
        case KvAttr::Priority:
            return number(parseInt<int32_t>(name, value, INT32_MIN, INT32_MAX));
        case KvAttr::Pinned:
            return number(parseInt<int64_t>(name, value, 0, 1));
        case KvAttr::PinTtl:
            return number(parseInt<int64_t>(name, value, 0, kMaxPinTtlSeconds));
        case KvAttr::Layer:
        case KvAttr::SeqLen:
            return number(parseInt<int64_t>(name, value, 0, INT64_MAX));
        case KvAttr::Parent:
            out.text = std::string(trimValue(value));
            if (auto st = validateParentPath(out.text); !st) return st.error();
            return out;
        default:
            return out;
    }
}

Status checkXattrTotals(size_t count, size_t bytes) {
    if (bytes > kMaxXattrBytesPerEntry || count > kMaxXattrsPerEntry)
        return makeError(ENOSPC, fmt::format("attributes would pass {} bytes or {} names",
                                             kMaxXattrBytesPerEntry, kMaxXattrsPerEntry));
    return {};
}

}  // namespace kvc
