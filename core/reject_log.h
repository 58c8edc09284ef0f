// The requests a pool refused lately, for operators: a control write or attribute that failed
// with EINVAL says nothing more to `echo` or `setfattr`, so the daemon keeps the reason where
// `cat POOL/.errors` and `kvcachefs status` show it. Kept in memory, for the daemon's lifetime.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace kvc {

struct Rejection {
    int64_t at_ns = 0;    // wall-clock time
    std::string what;     // the control file or attribute written (".size", "user.kvcache.pin")
    int code = 0;         // the errno the caller got
    std::string message;  // why, one line of printable ASCII
};

class RejectLog {
  public:
    static constexpr size_t kKept = 16;           // the latest ones; older ones only count
    static constexpr size_t kMessageBytes = 300;  // a longer message is cut

    void add(std::string_view what, const Error& error, int64_t at_ns);
    std::vector<Rejection> recent() const;  // oldest first
    uint64_t total() const;                 // since the daemon started

  private:
    mutable std::mutex lock_;
    std::deque<Rejection> kept_;
    uint64_t total_ = 0;
};

// `.errors`: one line per kept rejection, oldest first:
//   2026-12-07T12:30:01.123Z .size EINVAL size "12Q": unknown unit ...
// (UTC time, what was written, the errno's name, the message), after a first line
// `rejected_total N`.
std::string formatRejections(const std::vector<Rejection>& kept, uint64_t total);

}  // namespace kvc
