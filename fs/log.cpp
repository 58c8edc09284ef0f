// Daemon logging: one line per message, to syslog (daemon facility) or stderr.
#include "fs/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/excerpt.h"

namespace kvc::fs {
namespace {

std::atomic<bool> g_syslog{false};
std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

}  // namespace

LogTarget logInit(bool background, LogLevel level, std::string syslog_socket) {
    if (const char* s = std::getenv("KVCACHEFS_SYSLOG_SOCKET")) syslog_socket = s;
    struct stat st {};
    const bool listening = ::stat(syslog_socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    g_syslog = background && listening;
    g_level = static_cast<int>(level);
    if (g_syslog) openlog("kvcachefs", LOG_PID, LOG_DAEMON);
    return g_syslog ? LogTarget::Syslog : LogTarget::Stderr;
}

bool logEnabled(LogLevel level) {
    return static_cast<int>(level) <= g_level.load();
}

void logWrite(LogLevel level, std::string_view raw) {
    static constexpr const char* kNames[] = {"error", "warning", "info", "debug"};
    static constexpr int kPriorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    const int i = static_cast<int>(level);
    // Messages quote what clients wrote as excerpts already (core/excerpt.h); one that does not
    // is cut and escaped whole here, so no line is ever long or carries a control byte.
    std::string escaped;
    if (raw.size() > kMaxLogMessageBytes || !isPlainText(raw))
        escaped = excerpt(raw, kMaxLogMessageBytes);
    const std::string_view message = escaped.empty() ? raw : escaped;
    if (g_syslog) {
        syslog(kPriorities[i], "%.*s", static_cast<int>(message.size()), message.data());
    } else {
        std::string line = std::string("kvcachefs[") + std::to_string(getpid()) + "] " + kNames[i] +
                           ": " + std::string(message) + "\n";
        fputs(line.c_str(), stderr);
    }
}

}  // namespace kvc::fs
