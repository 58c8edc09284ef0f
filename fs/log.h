// Logging for the daemon: stderr in the foreground, syslog in the background, with a level.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace kvc::fs {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3 };

void logInit(bool use_syslog, LogLevel level);
bool logEnabled(LogLevel level);
// One line: a message longer than kMaxLogMessageBytes or with bytes outside printable ASCII is
// logged as an escaped excerpt (core/excerpt.h), never raw.
inline constexpr size_t kMaxLogMessageBytes = 1024;
void logWrite(LogLevel level, std::string_view message);

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
    if (logEnabled(level)) logWrite(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace kvc::fs
