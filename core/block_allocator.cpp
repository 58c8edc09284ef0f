// BlockAllocator: free-extent trees with best fit and coalescing.
#include "core/block_allocator.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

namespace kvc {

BlockAllocator::BlockAllocator(uint64_t block_count, Zeroer zero)
    : block_count_(block_count), zero_(std::move(zero)) {
    if (block_count > 0) insertFree(0, block_count);
}

namespace {

void appendMerged(std::vector<Extent>& out, Extent e) {
    if (!out.empty() && out.back().start + out.back().count == e.start)
        out.back().count += e.count;
    else
        out.push_back(e);
}

}  // namespace

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
                              std::vector<Extent>& out, std::vector<Extent>* stale) {
    const uint64_t start = it->first, len = it->second;
    eraseFree(it);
    if (len > count) insertFree(start + count, len - count);
    unstale({start, count}, stale);
    appendMerged(out, {start, count});
}

void BlockAllocator::takeRange(Extent e) {
    auto it = std::prev(by_start_.upper_bound(e.start));
    const uint64_t hole_start = it->first, hole_end = it->first + it->second;
    eraseFree(it);
    if (e.start > hole_start) insertFree(hole_start, e.start - hole_start);
    if (hole_end > e.start + e.count) insertFree(e.start + e.count, hole_end - e.start - e.count);
}

void BlockAllocator::addStale(Extent e) {
    uint64_t start = e.start, count = e.count;
    auto next = stale_.lower_bound(start);
    if (next != stale_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            start = prev->first;
            count += prev->second;
            stale_.erase(prev);
        }
    }
    if (next != stale_.end() && next->first == start + count) {
        count += next->second;
        stale_.erase(next);
    }
    stale_.emplace(start, count);
    stale_blocks_ += e.count;
}

void BlockAllocator::unstale(Extent e, std::vector<Extent>* stale) {
    if (stale_blocks_ == 0) return;
    const uint64_t end = e.start + e.count;
    auto it = stale_.upper_bound(e.start);
    if (it != stale_.begin() && std::prev(it)->first + std::prev(it)->second > e.start) --it;
    while (it != stale_.end() && it->first < end) {
        const uint64_t s = it->first, s_end = it->first + it->second;
        it = stale_.erase(it);
        if (s < e.start) stale_.emplace(s, e.start - s);
        if (s_end > end) stale_.emplace(end, s_end - end);  // sorts before `it`: the loop ends
        const Extent part{std::max(s, e.start), std::min(s_end, end) - std::max(s, e.start)};
        stale_blocks_ -= part.count;
        if (stale) {
            stale->push_back(part);
        } else {
            if (!zero_) throw std::logic_error("stale blocks taken with no way to zero them");
            zero_(part);
        }
    }
}

bool BlockAllocator::allocate(uint64_t count, std::vector<Extent>& out, uint64_t hint) {
    return allocateFrom(count, out, hint, nullptr);
}

bool BlockAllocator::allocateReusing(uint64_t count, std::vector<Extent>& out,
                                     std::vector<Extent>& stale, uint64_t hint) {
    return allocateFrom(count, out, hint, &stale);
}

bool BlockAllocator::allocateFrom(uint64_t count, std::vector<Extent>& out, uint64_t hint,
                                  std::vector<Extent>* stale) {
    if (count == 0) return true;
    if (count > free_blocks_) return false;
    uint64_t left = count;
    if (hint != UINT64_MAX) {
        if (auto it = by_start_.find(hint); it != by_start_.end()) {
            const uint64_t take = std::min(left, it->second);
            takeFrom(it, take, out, stale);
            left -= take;
        }
    }
    // Stale blocks first, lowest first: their pages are the host's already.
    while (stale && left > 0 && !stale_.empty()) {
        const Extent piece{stale_.begin()->first, std::min(left, stale_.begin()->second)};
        takeRange(piece);
        unstale(piece, stale);
        appendMerged(out, piece);
        left -= piece.count;
    }
    while (left > 0) {
        // Best fit: the smallest hole that holds the rest; else the largest hole, and go on.
        auto fit = by_size_.lower_bound({left, 0});
        if (fit == by_size_.end()) fit = std::prev(by_size_.end());
        const uint64_t take = std::min(left, fit->first);
        takeFrom(by_start_.find(fit->second), take, out, stale);
        left -= take;
    }
    return true;
}

void BlockAllocator::free(Extent e, Freed holds) {
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
    if (holds == Freed::Stale) addStale(e);
}

bool BlockAllocator::reserve(Extent e) {
    if (e.count == 0) return true;
    if (e.start + e.count > block_count_ || e.start + e.count < e.start) return false;
    auto it = by_start_.upper_bound(e.start);
    if (it == by_start_.begin()) return false;
    --it;
    if (it->first + it->second < e.start + e.count) return false;
    takeRange(e);
    unstale(e, nullptr);
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

std::vector<Extent> BlockAllocator::freeList() const {
    std::vector<Extent> all;
    all.reserve(by_start_.size());
    for (auto [start, count] : by_start_) all.push_back({start, count});
    return all;
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
    uint64_t stale = 0;
    prev_end = 0;
    first = true;
    for (auto [start, count] : stale_) {
        if (count == 0) throw std::logic_error("empty stale extent");
        if (!first && start <= prev_end)
            throw std::logic_error("stale extents overlap or were not coalesced at block " +
                                   std::to_string(start));
        auto free = by_start_.upper_bound(start);
        if (free == by_start_.begin() ||
            std::prev(free)->first + std::prev(free)->second < start + count)
            throw std::logic_error("stale blocks that are not free at block " +
                                   std::to_string(start));
        prev_end = start + count;
        first = false;
        stale += count;
    }
    if (stale != stale_blocks_) throw std::logic_error("stale block count is wrong");
}

}  // namespace kvc
