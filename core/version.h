// Version: what orders the committed versions of a name, on one host and across hosts that share
// a remote tier, so that a lower tier can tell an older copy from a newer one.
//
// A version is a hybrid logical clock reading (nanoseconds since the epoch: the wall clock, or one
// more than the last reading when that is ahead) and the id of the clock that issued it,
// compared in that order: two
// clocks never issue the same version, and a clock that has seen a version (a copy promoted from
// the cluster, a removal found there) only issues later ones afterwards, whatever its host's
// wall clock says. Version {0, 0} is "none" (an entry committed by a build that kept none): older
// than every other.
#pragma once

#include <compare>
#include <cstdint>
#include <random>

#include "core/clock.h"

namespace kvc {

struct Version {
    uint64_t hlc = 0;
    uint64_t node = 0;
    auto operator<=>(const Version&) const = default;
    bool none() const { return hlc == 0 && node == 0; }
};

// Issues versions for one pool; the caller serialises the calls (the pool's meta_).
class HybridClock {
  public:
    // `node` 0: a random id, fixed for this clock's life.
    explicit HybridClock(uint64_t node = 0) : node_(node ? node : randomNode()) {}

    // A version later than every one issued or observed, and not behind the wall clock.
    // Nanoseconds, so that of two changes on one host's clocks the later one is newer (a
    // coarser clock with a counter orders two hosts' changes in one tick by their counters).
    Version tick() {
        const uint64_t wall = static_cast<uint64_t>(nowNs());
        last_ = last_ + 1 > wall ? last_ + 1 : wall;
        return Version{last_, node_};
    }
    // A version seen elsewhere: what this clock issues afterwards is later. One more than
    // kMaxAheadNs ahead of this host's wall clock is not followed (a broken clock or a forged
    // value must not push every later version of this pool out of range); false then.
    bool observe(const Version& v) {
        const uint64_t wall = static_cast<uint64_t>(nowNs());
        if (v.hlc > wall + kMaxAheadNs) return false;
        if (v.hlc > last_) last_ = v.hlc;
        return true;
    }
    static constexpr uint64_t kMaxAheadNs = uint64_t{3600} * 1000000000;
    uint64_t node() const { return node_; }

  private:
    static uint64_t randomNode() {
        std::random_device rd;
        const uint64_t n = (uint64_t{rd()} << 32) | rd();
        return n ? n : 1;
    }
    uint64_t last_ = 0;
    uint64_t node_;
};

}  // namespace kvc
