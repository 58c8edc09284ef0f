// Parsers of control-file requests.
#include "core/control_requests.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/names.h"
#include "core/size.h"
#include "core/text.h"

namespace kvc {

Result<EvictRequest> parseEvictRequest(std::string_view text) {
    const std::string_view v = trim(text);
    EvictRequest r;
    // A bare number or a trailing '%' is a percentage; anything with a unit is a size.
    const bool percent =
        (!v.empty() && v.back() == '%') ||
        (!v.empty() && v.find_first_not_of("0123456789.") == std::string_view::npos);
    if (percent) {
        auto p = parsePercent(v);
        if (!p) return p.error();
        r.by_percent = true;
        r.percent = *p;
        return r;
    }
    auto bytes = parseSize(v);
    if (!bytes) return bytes.error();
    r.bytes = *bytes;
    return r;
}

namespace {

// Name `number` of a request, complete.
Status checkMatchName(std::string_view name, size_t number) {
    if (number > kMatchMaxNames)
        return makeError(E2BIG, fmt::format(".match: a request holds at most {} names ({} bytes)",
                                            kMatchMaxNames, kMatchMaxBytes));
    if (auto st = validateEntryName(name); !st)
        return makeError(EINVAL, fmt::format(".match line {}: {}", number, st.error().message));
    return {};
}

}  // namespace

MatchRequest::~MatchRequest() {
    if (buf_) ::munmap(buf_, kMatchMaxBytes);
}

Status MatchRequest::append(std::string_view piece) {
    if (piece.size() > kMatchMaxBytes - len_)
        return checkMatchName({}, kMatchMaxNames + 1);  // the E2BIG of too many names
    if (piece.empty()) return {};
    if (!buf_) {
        void* m = ::mmap(nullptr, kMatchMaxBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) return makeError(ENOMEM, ".match: no memory for the request");
        buf_ = static_cast<char*>(m);
    }
    const size_t old_len = len_, old_count = count_, old_line = line_;
    auto undo = [&](const Status& st) {
        len_ = old_len;
        count_ = old_count;
        line_ = old_line;
        return st;
    };
    std::memcpy(buf_ + len_, piece.data(), piece.size());
    len_ += piece.size();
    // Only the new bytes are scanned; a name begun by an earlier piece ends in this one.
    for (size_t at = old_len; at < len_;) {
        const void* nl = std::memchr(buf_ + at, '\n', len_ - at);
        if (!nl) break;
        const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - buf_);
        if (auto st = checkMatchName({buf_ + line_, end - line_}, count_ + 1); !st) return undo(st);
        count_++;
        line_ = at = end + 1;
    }
    // The name still being written may yet end well ("." may become ".x"): it is refused now
    // only for what no continuation mends. Its bytes from earlier pieces passed this already.
    if (line_ < len_) {
        const std::string_view name(buf_ + line_, len_ - line_);
        const size_t fresh = std::max(old_len, line_) - line_;
        if (count_ + 1 > kMatchMaxNames || name.size() > kMaxNameBytes ||
            name.find_first_of(std::string_view("/\0", 2), fresh) != std::string_view::npos)
            return undo(checkMatchName(name, count_ + 1));
    }
    return {};
}

Result<std::vector<std::string_view>> MatchRequest::names() const {
    const std::string_view last(buf_ + line_, len_ - line_);
    if (count_ == 0 && last.empty()) return makeError(EINVAL, ".match: no names given");
    if (!last.empty())
        if (auto st = checkMatchName(last, count_ + 1); !st) return st.error();
    std::vector<std::string_view> out;
    out.reserve(count_ + !last.empty());
    for (size_t at = 0; at < line_;) {
        const size_t end = static_cast<size_t>(
            static_cast<const char*>(std::memchr(buf_ + at, '\n', line_ - at)) - buf_);
        out.emplace_back(buf_ + at, end - at);
        at = end + 1;
    }
    if (!last.empty()) out.push_back(last);
    return out;
}

void MatchRequest::clear() {
    // A large request's pages go back now; a small one's are kept for the next request.
    constexpr size_t kKeepBytes = 64 << 10;
    if (len_ > kKeepBytes) ::madvise(buf_, len_, MADV_DONTNEED);
    len_ = count_ = line_ = 0;
}

}  // namespace kvc
