// Chains of extents for metadata blobs: see aux_chain.h.
#include "core/aux_chain.h"

#include <algorithm>
#include <cstring>

#include "core/checked.h"
#include "core/segment.h"

namespace kvc {

uint64_t auxChainBlocks(uint64_t bytes, uint32_t block_size) {
    const uint64_t payload = block_size - kAuxLinkBytes;
    return (bytes + payload - 1) / payload;
}

std::vector<Extent> trimAuxChain(const std::vector<Extent>& extents, uint64_t bytes,
                                 uint32_t block_size, std::vector<Extent>& unused) {
    std::vector<Extent> chain;
    uint64_t left = bytes;
    for (const Extent& e : extents) {
        if (left == 0) {
            unused.push_back(e);
            continue;
        }
        // Blocks of this extent needed for what is left after its link.
        const uint64_t need =
            std::min<uint64_t>(e.count, (left + kAuxLinkBytes + block_size - 1) / block_size);
        chain.push_back({e.start, need});
        if (need < e.count) unused.push_back({e.start + need, e.count - need});
        left -= std::min<uint64_t>(left, need * block_size - kAuxLinkBytes);
    }
    return chain;
}

void writeAuxChain(Segment& seg, const std::vector<Extent>& chain, std::string_view bytes) {
    const uint64_t bs = seg.blockSize();
    size_t done = 0;
    for (size_t i = 0; i < chain.size(); ++i) {
        char* at = seg.blockAddress(chain[i].start);
        const Extent next = i + 1 < chain.size() ? chain[i + 1] : Extent{};
        std::memcpy(at, &next, kAuxLinkBytes);
        const size_t n = std::min<size_t>(bytes.size() - done, chain[i].count * bs - kAuxLinkBytes);
        std::memcpy(at + kAuxLinkBytes, bytes.data() + done, n);
        done += n;
    }
}

bool auxChainHolds(Segment& seg, const std::vector<Extent>& chain, bool chained,
                   std::string_view bytes) {
    const uint64_t bs = seg.blockSize();
    const size_t skip = chained ? kAuxLinkBytes : 0;
    size_t done = 0;
    for (const Extent& e : chain) {
        const size_t n = std::min<size_t>(bytes.size() - done, e.count * bs - skip);
        if (std::memcmp(seg.blockAddress(e.start) + skip, bytes.data() + done, n) != 0)
            return false;
        done += n;
    }
    return done == bytes.size();
}

std::optional<AuxRead> readAuxChain(Segment& seg, Extent first, uint64_t bytes, bool chained,
                                    uint64_t blocks) {
    const uint64_t bs = seg.blockSize();
    const size_t skip = chained ? kAuxLinkBytes : 0;
    AuxRead out;
    Extent cur = first;
    // Each step takes at least one block of the region, so a loop ends within `blocks` steps.
    for (uint64_t steps = 0; out.blob.size() < bytes; ++steps) {
        const auto end = checkedAdd(cur.start, cur.count);
        if (cur.count == 0 || !end || *end > blocks || steps >= blocks) return std::nullopt;
        const char* at = seg.blockAddress(cur.start);
        const size_t n = std::min<size_t>(bytes - out.blob.size(), cur.count * bs - skip);
        out.blob.append(at + skip, n);
        out.chain.push_back(cur);
        if (!chained) break;
        std::memcpy(&cur, at, kAuxLinkBytes);
    }
    if (out.blob.size() != bytes) return std::nullopt;
    return out;
}

}  // namespace kvc
