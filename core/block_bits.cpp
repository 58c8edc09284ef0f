// BlockBits: word-wise atomic bit operations over a sparse anonymous mapping.
#include "core/block_bits.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <new>
#include <utility>

namespace kvc {

BlockBits::BlockBits(uint64_t blocks) : blocks_(blocks) {
    bytes_ = static_cast<size_t>((blocks + 63) / 64 * sizeof(uint64_t));
    if (bytes_ == 0) return;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    words_ = static_cast<uint64_t*>(p);
}

BlockBits::~BlockBits() {
    if (words_) ::munmap(words_, bytes_);
}

BlockBits::BlockBits(BlockBits&& other) noexcept
    : words_(std::exchange(other.words_, nullptr)),
      blocks_(std::exchange(other.blocks_, 0)),
      bytes_(std::exchange(other.bytes_, 0)) {}

BlockBits& BlockBits::operator=(BlockBits&& other) noexcept {
    if (this != &other) {
        if (words_) ::munmap(words_, bytes_);
        words_ = std::exchange(other.words_, nullptr);
        blocks_ = std::exchange(other.blocks_, 0);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

// Calls op(word index, mask) for the words covering `e` (cut to size()).
template <typename Op>
void BlockBits::apply(Extent e, Op op) {
    if (e.start >= blocks_) return;
    const uint64_t end = e.start + std::min(e.count, blocks_ - e.start);
    for (uint64_t b = e.start; b < end;) {
        const uint64_t bit = b % 64, n = std::min<uint64_t>(64 - bit, end - b);
        const uint64_t mask = n == 64 ? ~0ull : ((1ull << n) - 1) << bit;
        op(b / 64, mask);
        b += n;
    }
}

void BlockBits::set(Extent e) {
    apply(e, [&](uint64_t w, uint64_t mask) {
        std::atomic_ref<uint64_t>(words_[w]).fetch_or(mask, std::memory_order_release);
    });
}

void BlockBits::clear(Extent e) {
    apply(e, [&](uint64_t w, uint64_t mask) {
        std::atomic_ref<uint64_t>(words_[w]).fetch_and(~mask, std::memory_order_release);
    });
}

bool BlockBits::test(uint64_t block) const {
    if (block >= blocks_) return false;
    const uint64_t word =
        std::atomic_ref<uint64_t>(words_[block / 64]).load(std::memory_order_acquire);
    return (word >> (block % 64)) & 1;
}

bool BlockBits::all(Extent e) const {
    if (e.count == 0 || e.start >= blocks_ || e.count > blocks_ - e.start) return false;
    bool every = true;
    const_cast<BlockBits*>(this)->apply(e, [&](uint64_t w, uint64_t mask) {
        const uint64_t word = std::atomic_ref<uint64_t>(words_[w]).load(std::memory_order_acquire);
        every = every && (word & mask) == mask;
    });
    return every;
}

uint64_t BlockBits::count(Extent e) const {
    uint64_t n = 0;
    const_cast<BlockBits*>(this)->apply(e, [&](uint64_t w, uint64_t mask) {
        const uint64_t word = std::atomic_ref<uint64_t>(words_[w]).load(std::memory_order_acquire);
        n += static_cast<uint64_t>(std::popcount(word & mask));
    });
    return n;
}

}  // namespace kvc
