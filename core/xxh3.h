// xxh3, as every checksum of kvcachefs computes it (records, entries' bytes, snapshot images,
// tier values): Debian's libxxhash, through its runtime dispatch on x86-64, which picks the
// widest vector unit the CPU has (AVX-512, AVX2, else SSE2). The results are the same bytes on
// every unit; only the speed differs: on this project's test machine, hashing a 2 MiB block
// runs at about 34 GB/s instead of 14 GB/s with the SSE2 baseline the library is built for,
// and the data path hashes every block it stores and (with verify_reads) every block it loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include <xxhash.h>

#if defined(__x86_64__) || defined(__i386__)
// Replaces XXH3_64bits, XXH3_64bits_update and their kin by the dispatching versions.
#include <xxh_x86dispatch.h>
#endif

namespace kvc {

// xxh3-64 of bytes given in pieces: the same value as XXH3_64bits of them all at once.
class Xxh3Stream {
  public:
    Xxh3Stream() : state_(XXH3_createState()) {
        if (!state_) throw std::bad_alloc();
        XXH3_64bits_reset(state_);
    }
    ~Xxh3Stream() { XXH3_freeState(state_); }
    Xxh3Stream(const Xxh3Stream&) = delete;
    Xxh3Stream& operator=(const Xxh3Stream&) = delete;

    void update(const void* data, size_t len) { XXH3_64bits_update(state_, data, len); }
    uint64_t digest() const { return XXH3_64bits_digest(state_); }

  private:
    XXH3_state_t* state_;
};

}  // namespace kvc
