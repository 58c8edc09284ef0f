// BlockBits: one bit per block of a segment's reservation, set and read without a lock.
//
// The bits live in an anonymous mapping reserved without backing (MAP_NORESERVE), so a pool whose
// reservation reaches tens of GiB costs memory only for the pages of bits ever set. Reads are
// atomic (std::atomic_ref) and may run beside writers; callers that need a set and a test to go
// together hold a lock of their own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/layout.h"

namespace kvc {

class BlockBits {
  public:
    BlockBits() = default;
    // Room for `blocks` bits, all clear; throws std::bad_alloc if the mapping fails.
    explicit BlockBits(uint64_t blocks);
    ~BlockBits();
    BlockBits(BlockBits&& other) noexcept;
    BlockBits& operator=(BlockBits&& other) noexcept;
    BlockBits(const BlockBits&) = delete;
    BlockBits& operator=(const BlockBits&) = delete;

    uint64_t size() const { return blocks_; }
    // Extents past size() are cut to it.
    void set(Extent e);
    void clear(Extent e);
    bool test(uint64_t block) const;
    // True when every block of `e` is set (and `e` is within size(); an empty `e` is not).
    bool all(Extent e) const;
    // How many blocks of `e` are set.
    uint64_t count(Extent e) const;

  private:
    template <typename Op>
    void apply(Extent e, Op op);

    uint64_t* words_ = nullptr;
    uint64_t blocks_ = 0;
    size_t bytes_ = 0;
};

}  // namespace kvc
