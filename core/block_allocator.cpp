// BlockAllocator: free-extent trees with best fit and coalescing.
#include "core/block_allocator.h"

#include <stdexcept>
#include <string>

namespace kvc {

BlockAllocator::BlockAllocator(uint64_t block_count) : block_count_(block_count) {
    if (block_count > 0) insertFree(0, block_count);
}

void BlockAllocator::insertFree(uint64_t start, uint64_t count) {
    by_start_.emplace(start, count);
    by_size_.emplace(count, start);
    free_blocks_ += count;
}

void BlockAllocator::eraseFree(std::map<uint64_t, uint64_t>::iterator it) {
    by_size_.erase({it->second, it->first});
    free_blocks_ -= it->second;
    by_start_.erase(it);
}

void BlockAllocator::takeFrom(std::map<uint64_t, uint64_t>::iterator it, uint64_t count,
                              std::vector<Extent>& out) {
    const uint64_t start = it->first, len = it->second;
    eraseFree(it);
    if (len > count) insertFree(start + count, len - count);
    if (!out.empty() && out.back().start + out.back().count == start)
        out.back().count += count;
    else
        out.push_back({start, count});
}

bool BlockAllocator::allocate(uint64_t count, std::vector<Extent>& out, uint64_t hint) {
    if (count == 0) return true;
    if (count > free_blocks_) return false;
    uint64_t left = count;
    if (hint != UINT64_MAX) {
        if (auto it = by_start_.find(hint); it != by_start_.end()) {
            const uint64_t take = std::min(left, it->second);
            takeFrom(it, take, out);
            left -= take;
        }
    }
    while (left > 0) {
        // Best fit: the smallest hole that holds the rest; else the largest hole, and go on.
        auto fit = by_size_.lower_bound({left, 0});
        if (fit == by_size_.end()) fit = std::prev(by_size_.end());
        const uint64_t take = std::min(left, fit->first);
        takeFrom(by_start_.find(fit->second), take, out);
        left -= take;
    }
    return true;
}

void BlockAllocator::free(Extent e) {
    if (e.count == 0) return;
    if (e.start + e.count > block_count_ || e.start + e.count < e.start)
        throw std::logic_error("free of an extent outside the pool");
    uint64_t start = e.start, count = e.count;
    auto next = by_start_.lower_bound(start);
    if (next != by_start_.end() && next->first < start + count)
        throw std::logic_error("double free: extent overlaps a free extent");
    if (next != by_start_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second > start)
            throw std::logic_error("double free: extent overlaps a free extent");
        if (prev->first + prev->second == start) {
            start = prev->first;
            count += prev->second;
            eraseFree(prev);
        }
    }
    if (next != by_start_.end() && next->first == start + count) {
        count += next->second;
        eraseFree(next);
    }
    insertFree(start, count);
}

bool BlockAllocator::reserve(Extent e) {
    if (e.count == 0) return true;
    if (e.start + e.count > block_count_ || e.start + e.count < e.start) return false;
    auto it = by_start_.upper_bound(e.start);
    if (it == by_start_.begin()) return false;
    --it;
    const uint64_t hole_start = it->first, hole_len = it->second;
    if (hole_start + hole_len < e.start + e.count) return false;
    eraseFree(it);
    if (e.start > hole_start) insertFree(hole_start, e.start - hole_start);
    const uint64_t end = e.start + e.count, hole_end = hole_start + hole_len;
    if (hole_end > end) insertFree(end, hole_end - end);
    return true;
}

bool BlockAllocator::resize(uint64_t block_count) {
    if (block_count > block_count_) {
        const uint64_t old = block_count_;
        block_count_ = block_count;
        free({old, block_count - old});
        return true;
    }
    if (block_count == block_count_) return true;
    const uint64_t cut = block_count_ - block_count;
    if (!reserve({block_count, cut})) return false;  // some cut block is in use
    // The cut blocks are now "used" but gone: forget them.
    block_count_ = block_count;
    return true;
}

uint64_t BlockAllocator::largestFreeExtent() const {
    return by_size_.empty() ? 0 : by_size_.rbegin()->first;
}

bool BlockAllocator::isAllocated(Extent e) const {
    if (e.start + e.count > block_count_) return false;
    auto it = by_start_.upper_bound(e.start);
    if (it != by_start_.end() && it->first < e.start + e.count) return false;
    if (it == by_start_.begin()) return true;
    --it;
    return it->first + it->second <= e.start;
}

void BlockAllocator::verify() const {
    if (by_start_.size() != by_size_.size())
        throw std::logic_error("free indexes disagree in size");
    uint64_t total = 0, prev_end = 0;
    bool first = true;
    for (auto [start, count] : by_start_) {
        if (count == 0) throw std::logic_error("empty free extent");
        if (!first && start <= prev_end)
            throw std::logic_error("free extents overlap or were not coalesced at block " +
                                   std::to_string(start));
        if (start + count > block_count_) throw std::logic_error("free extent beyond the pool");
        if (!by_size_.count({count, start}))
            throw std::logic_error("free extent missing from the size index");
        prev_end = start + count;
        first = false;
        total += count;
    }
    if (total != free_blocks_) throw std::logic_error("free block count is wrong");
}

}  // namespace kvc
