// Overflow-checked arithmetic for sizes, offsets and counts that come from outside (control
// files, xattrs, images, mount options, segments): a result that does not fit is nullopt, never
// a value that wrapped around.
#pragma once

#include <cstdint>
#include <optional>

namespace kvc {

inline std::optional<uint64_t> checkedAdd(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

inline std::optional<uint64_t> checkedMul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// a * b + c
inline std::optional<uint64_t> checkedMulAdd(uint64_t a, uint64_t b, uint64_t c) {
    auto m = checkedMul(a, b);
    return m ? checkedAdd(*m, c) : std::nullopt;
}

// a rounded up to a multiple of `to` (a power of two or any non-zero value).
inline std::optional<uint64_t> checkedAlignUp(uint64_t a, uint64_t to) {
    auto s = checkedAdd(a, to - 1);
    if (!s) return std::nullopt;
    return *s / to * to;
}

}  // namespace kvc
