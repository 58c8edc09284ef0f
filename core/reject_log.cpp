#include "core/reject_log.h"

#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "core/excerpt.h"

namespace kvc {
namespace {

// A message may quote client bytes: keep it one printable line of bounded length (else quoted
// and escaped).
std::string oneLine(std::string_view message) {
    if (isPlainText(message) && message.size() <= RejectLog::kMessageBytes)
        return std::string(message);
    return excerpt(message, RejectLog::kMessageBytes);
}

std::string utcTime(int64_t ns) {
    const time_t sec = static_cast<time_t>(ns / 1000000000);
    tm t{};
    gmtime_r(&sec, &t);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", t.tm_year + 1900, t.tm_mon + 1,
                       t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, (ns / 1000000) % 1000);
}

}  // namespace

void RejectLog::add(std::string_view what, const Error& error, int64_t at_ns) {
    Rejection r{at_ns, oneLine(what), error.code, oneLine(error.message)};
    std::lock_guard lk(lock_);
    ++total_;
    kept_.push_back(std::move(r));
    if (kept_.size() > kKept) kept_.pop_front();
}

std::vector<Rejection> RejectLog::recent() const {
    std::lock_guard lk(lock_);
    return {kept_.begin(), kept_.end()};
}

uint64_t RejectLog::total() const {
    std::lock_guard lk(lock_);
    return total_;
}

std::string formatRejections(const std::vector<Rejection>& kept, uint64_t total) {
    std::string out = fmt::format("rejected_total {}\n", total);
    for (const Rejection& r : kept) {
        const char* code = strerrorname_np(r.code);
        out += fmt::format("{} {} {} {}\n", utcTime(r.at_ns), r.what, code ? code : "EIO",
                           r.message.empty() ? "-" : r.message);
    }
    return out;
}

}  // namespace kvc
