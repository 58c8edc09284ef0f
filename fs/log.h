// Logging for the daemon, with a level: stderr in the foreground (-f); in the background,
// syslog (daemon facility) when /dev/log answers, else stderr, which the daemon then keeps
// across daemonizing (a container's log): lines always go somewhere.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace kvc::fs {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3 };

enum class LogTarget { Stderr, Syslog };
// `background`: the daemon leaves its terminal (no -f). `syslog_socket`: where syslog listens
// (KVCACHEFS_SYSLOG_SOCKET overrides it, for tests). Returns where lines go.
LogTarget logInit(bool background, LogLevel level, std::string syslog_socket = "/dev/log");
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
