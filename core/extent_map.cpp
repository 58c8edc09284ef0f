// Extent lists with holes: see core/extent_map.h.
#include "core/extent_map.h"

#include <algorithm>

namespace kvc {
namespace {

// `n` blocks of `e` starting `off` blocks into it.
Extent sub(const Extent& e, uint64_t off, uint64_t n) {
    return isHole(e) ? Extent{kHoleStart, n} : Extent{e.start + off, n};
}

// Appends `e`, merging it with the last extent when both are holes or contiguous data.
void append(std::vector<Extent>& out, const Extent& e) {
    if (e.count == 0) return;
    if (!out.empty()) {
        Extent& last = out.back();
        if ((isHole(last) && isHole(e)) ||
            (!isHole(last) && !isHole(e) && last.start + last.count == e.start)) {
            last.count += e.count;
            return;
        }
    }
    out.push_back(e);
}

// Appends the part of `extents` covering entry blocks [begin, end) to `out`.
void slice(const std::vector<Extent>& extents, uint64_t begin, uint64_t end,
           std::vector<Extent>& out) {
    uint64_t pos = 0;
    for (const Extent& e : extents) {
        if (pos >= end) break;
        const uint64_t e_end = pos + e.count;
        const uint64_t from = std::max(pos, begin), to = std::min(e_end, end);
        if (from < to) append(out, sub(e, from - pos, to - from));
        pos = e_end;
    }
}

void dropTrailingHole(std::vector<Extent>& extents) {
    if (!extents.empty() && isHole(extents.back())) extents.pop_back();
}

std::vector<Extent> dataOf(const std::vector<Extent>& extents) {
    std::vector<Extent> data;
    for (const Extent& e : extents)
        if (!isHole(e)) data.push_back(e);
    return data;
}

}  // namespace

uint64_t coveredBlocks(const std::vector<Extent>& extents) {
    uint64_t n = 0;
    for (const Extent& e : extents) n += e.count;
    return n;
}

uint64_t dataBlocks(const std::vector<Extent>& extents) {
    uint64_t n = 0;
    for (const Extent& e : extents)
        if (!isHole(e)) n += e.count;
    return n;
}

std::vector<BlockRange> holesIn(const std::vector<Extent>& extents, BlockRange range) {
    std::vector<BlockRange> holes;
    const uint64_t end = range.first + range.count;
    auto add = [&](uint64_t from, uint64_t to) {
        if (from >= to) return;
        if (!holes.empty() && holes.back().first + holes.back().count == from)
            holes.back().count += to - from;
        else
            holes.push_back({from, to - from});
    };
    uint64_t pos = 0;
    for (const Extent& e : extents) {
        if (pos >= end) break;
        const uint64_t e_end = pos + e.count;
        if (isHole(e)) add(std::max(pos, range.first), std::min(e_end, end));
        pos = e_end;
    }
    add(std::max(pos, range.first), end);
    return holes;
}

std::vector<Extent> replaceBlocks(std::vector<Extent>& extents, uint64_t first, Extent with) {
    const uint64_t covered = coveredBlocks(extents);
    if (first >= covered) {  // past the end (a growing entry, the usual case): no copy
        if (isHole(with)) return {};
        append(extents, Extent{kHoleStart, first - covered});
        append(extents, with);
        return {};
    }
    const uint64_t end = first + with.count;
    std::vector<Extent> out, replaced;
    slice(extents, 0, first, out);
    if (covered < first) append(out, Extent{kHoleStart, first - covered});
    append(out, with);
    if (covered > end) slice(extents, end, covered, out);
    slice(extents, first, end, replaced);
    dropTrailingHole(out);
    extents = std::move(out);
    return dataOf(replaced);
}

std::vector<Extent> keepBlocks(std::vector<Extent>& extents, uint64_t keep) {
    std::vector<Extent> out, cut;
    const uint64_t covered = coveredBlocks(extents);
    if (keep >= covered) return {};
    slice(extents, 0, keep, out);
    slice(extents, keep, covered, cut);
    dropTrailingHole(out);
    extents = std::move(out);
    return dataOf(cut);
}

std::optional<uint64_t> nextDataBlock(const std::vector<Extent>& extents, uint64_t block) {
    uint64_t pos = 0;
    for (const Extent& e : extents) {
        const uint64_t e_end = pos + e.count;
        if (!isHole(e) && e_end > block) return std::max(pos, block);
        pos = e_end;
    }
    return std::nullopt;
}

uint64_t nextHoleBlock(const std::vector<Extent>& extents, uint64_t block) {
    uint64_t pos = 0;
    for (const Extent& e : extents) {
        const uint64_t e_end = pos + e.count;
        if (isHole(e) && e_end > block) return std::max(pos, block);
        pos = e_end;
    }
    return std::max(pos, block);
}

bool extentsFitSize(const std::vector<Extent>& extents, uint64_t size, uint64_t block_size) {
    if (block_size == 0 || size > kMaxEntryBytes) return false;
    const uint64_t limit = size / block_size + (size % block_size != 0);
    uint64_t covered = 0;
    for (const Extent& e : extents) {
        if (e.count == 0 || e.count > limit - covered) return false;
        covered += e.count;
    }
    return extents.empty() || !isHole(extents.back());
}

}  // namespace kvc
