// Parsers of what clients write into control files (`.evict`, `.match`, `.policy`, `.size`).
// They live in core so unit tests and fuzzers drive them without a mount; every malformed
// input is an EINVAL error whose message names the problem.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/layout.h"
#include "core/result.h"

namespace kvc {

// `.evict`: a percentage of the entries ("25", "25%", "12.5") or bytes to free ("512M").
struct EvictRequest {
    bool by_percent = false;
    double percent = 0;
    uint64_t bytes = 0;
};
Result<EvictRequest> parseEvictRequest(std::string_view text);

// `.match`: entry names, one per line, in chain order, each taken byte for byte as it is (a name
// may end in '\r' or a space: nothing is trimmed); the last name's newline is optional. An empty
// line or an invalid name is EINVAL.
//
// Bound: kMatchMaxNames names per request (E2BIG beyond), so a request holds at most
// kMatchMaxBytes bytes (every name at its 255 bytes, with its newline). That is a 128K-token
// context in blocks of 16 tokens (vLLM's default), or 512K tokens in SGLang pages of 64; a longer
// chain is asked in pieces (the leading cached run composes: ask for the next piece only if the
// previous one was cached whole).
inline constexpr size_t kMatchMaxNames = 8192;
inline constexpr size_t kMatchMaxBytes = kMatchMaxNames * (kMaxNameBytes + 1);

// A `.match` request that arrives in pieces (one per write(2): a buffered writer flushes a long
// request in several, cutting names anywhere). Each piece is checked once, as it arrives, so a
// request costs time linear in its size. Its bytes live in a private mapping reserved at the
// first piece (kMatchMaxBytes of address space, backed only as written) and returned whole when
// the request is destroyed.
class MatchRequest {
  public:
    MatchRequest() = default;
    ~MatchRequest();
    MatchRequest(const MatchRequest&) = delete;
    MatchRequest& operator=(const MatchRequest&) = delete;

    // Adds one piece: all of it, or (EINVAL, E2BIG, ENOMEM) nothing.
    Status append(std::string_view piece);
    // The names so far, viewing this request's bytes (valid until the next append or clear);
    // EINVAL if there are none or the last, unterminated name is invalid.
    Result<std::vector<std::string_view>> names() const;
    // Starts a new request (keeps the mapping).
    void clear();
    size_t bytes() const { return len_; }

  private:
    char* buf_ = nullptr;
    size_t len_ = 0;    // bytes held
    size_t count_ = 0;  // names ended by a newline
    size_t line_ = 0;   // where the name after them starts
};

}  // namespace kvc
