// What the commands share (see cli/command_util.h).
#include "cli/command_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "cli/progress.h"
#include "core/fd_io.h"
#include "core/parse_number.h"

namespace kvc::cli {
namespace {

// --- interrupted commands ----------------------------------------------------------------

volatile sig_atomic_t g_has_temp = 0;
char g_temp_path[PATH_MAX + 1];

extern "C" void removeTempAndDie(int sig) {
    if (g_has_temp) unlink(g_temp_path);  // async-signal-safe
    signal(sig, SIG_DFL);
    raise(sig);
}

// --- .stats ------------------------------------------------------------------------------

std::map<std::string, std::string> keyValues(const std::string& text) {
    std::map<std::string, std::string> out;
    for (auto& [k, v] : statsLines(text)) out[k] = std::move(v);
    return out;
}

}  // namespace

Result<std::string> readWhole(const std::string& path) {
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.fd < 0) return sysError("open", path);
    std::string out;
    if (!readAll(f.fd, out)) return sysError("read", path);
    return out;
}

StatsLines statsLines(const std::string& text) {
    StatsLines out;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        const size_t sp = line.find(' ');
        if (sp != std::string::npos) out.emplace_back(line.substr(0, sp), line.substr(sp + 1));
        start = end + 1;
    }
    return out;
}

Result<StatsLines> readStats(const std::string& dir) {
    auto text = readWhole(dir + "/.stats");
    if (!text) return text.error();
    return statsLines(*text);
}

// --- system-call helpers -----------------------------------------------------------------

Error sysError(std::string_view what, std::string_view path) {
    const int e = errno;
    return makeError(e, fmt::format("{}: {}: {}", path, what, std::strerror(e)));
}

std::string dirOf(const std::string& path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string withoutTrailingSlash(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

int fail(std::string_view command, const std::string& message, ProgressMeter* meter) {
    if (meter) meter->clear();
    std::fprintf(stderr, "kvcachefs %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 message.c_str());
    return 1;
}

Result<std::vector<DirName>> listDir(int dirfd, const std::string& path) {
    DIR* d = fdopendir(::dup(dirfd));
    if (!d) return sysError("opendir", path);
    std::vector<DirName> out;
    errno = 0;
    while (dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                is_dir = S_ISDIR(st.st_mode);
        }
        out.push_back({e->d_name, is_dir});
        errno = 0;
    }
    const int e = errno;
    closedir(d);
    if (e) {
        errno = e;
        return sysError("readdir", path);
    }
    return out;
}

Result<std::vector<DirName>> listDir(const std::string& path) {
    Fd dfd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.fd < 0) return sysError("opendir", path);
    return listDir(dfd.fd, path);
}

// --- pools -------------------------------------------------------------------------------

Result<PoolInfo> readPoolInfo(const std::string& pool_dir) {
    auto text = readWhole(pool_dir + "/.stats");
    if (!text)
        return makeError(text.code(), fmt::format("{} is not a kvcachefs pool (no .stats: {})",
                                                  pool_dir, std::strerror(text.code())));
    const auto kv = keyValues(*text);
    PoolInfo info;
    auto get = [&](const char* key) -> std::string {
        auto it = kv.find(key);
        return it == kv.end() ? std::string() : it->second;
    };
    info.name = get("pool");
    info.policy = get("policy");
    info.block_size = parseNumber<uint32_t>(get("block_size")).value_or(0);
    info.capacity_bytes = parseNumber<uint64_t>(get("capacity_bytes")).value_or(0);
    if (info.name.empty() || !info.block_size)
        return makeError(EINVAL, fmt::format("{} is not a kvcachefs pool directory (its .stats "
                                             "names no pool; is it the mount's root?)",
                                             pool_dir));
    return info;
}

bool isMountRoot(const std::string& dir) {
    auto text = readWhole(dir + "/.stats");
    return text && keyValues(*text).count("pools") > 0;
}

// --- TemporaryPath -----------------------------------------------------------------------

TemporaryPath::TemporaryPath() {
    struct sigaction sa {};
    sa.sa_handler = removeTempAndDie;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

TemporaryPath::~TemporaryPath() {
    if (g_has_temp) unlink(g_temp_path);
    g_has_temp = 0;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, SIG_DFL);
}

void TemporaryPath::set(const std::string& path) {
    g_has_temp = 0;
    std::snprintf(g_temp_path, sizeof g_temp_path, "%s", path.c_str());
    g_has_temp = 1;
}

void TemporaryPath::release() {
    g_has_temp = 0;
}

}  // namespace kvc::cli
