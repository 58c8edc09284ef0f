// Result<T>: a value or an error (an errno code and a message naming the problem).
// Core functions return it instead of throwing; the FUSE adapter turns the errno into exactly one
// fuse_reply_err, and commands print the message. Exceptions are kept for broken invariants.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace kvc {

struct Error {
    int code = EIO;       // positive errno value
    std::string message;  // for people: names the input or object concerned
};

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }
    int code() const { return ok() ? 0 : error().code; }

  private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an error.
template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }
    int code() const { return ok_ ? 0 : error_.code; }

  private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

inline Error makeError(int code, std::string message) {
    return Error{code, std::move(message)};
}

}  // namespace kvc
