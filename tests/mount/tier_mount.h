// Helpers shared by the mount tests of the lower tiers (tiers_test.cpp, tier_model_test.cpp):
// a mount with one pool "p" and tier options, a temporary directory for disk-tier segments, and
// the `+`-joined seed list of a Redis Cluster fixture.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "tests/mount/mount_fixture.h"

namespace kvctest {

// A temporary directory for disk-tier segment files, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/kvc-tier-XXXXXX";
        path_ = mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

inline std::string plusJoined(const std::vector<std::string>& seeds) {
    std::string out;
    for (const auto& s : seeds) out += (out.empty() ? "" : "+") + s;
    return out;
}

// One mount with a pool "p" of `pool_size`, plus the given tier options.
struct TierMount {
    explicit TierMount(const std::string& options) : mount(options) {}
    ::testing::AssertionResult start() {
        auto up = mount.start();
        if (!up) return up;
        if (::mkdir(mount.path("p").c_str(), 0755) != 0)
            return ::testing::AssertionFailure() << "mkdir p: " << strerror(errno);
        return ::testing::AssertionSuccess();
    }
    std::string path(const std::string& n) const { return mount.path("p/" + n); }
    std::map<std::string, std::string> stats() const { return readStats(path(".stats")); }
    uint64_t stat(const std::string& key) const { return statNum(stats(), key); }
    // `.evict 100` sends everything down, once the last writer's release has arrived (it comes
    // after close(2) returns, and an entry open for writing is never evicted).
    ::testing::AssertionResult evictAll() const {
        if (!eventually([&] { return stat("open_entries") == 0; }))
            return ::testing::AssertionFailure() << "entries stay open";
        const auto [err, report] = controlWrite(path(".evict"), "100");
        if (err) return ::testing::AssertionFailure() << ".evict: " << errName(err);
        return ::testing::AssertionSuccess();
    }
    // Every demotion queued so far has been stored (or dropped).
    bool drained() const {
        return eventually([&] { return stat("tier.queue.entries") == 0; }, 10000);
    }
    // Every writer's release has arrived (it comes after close(2) returns, and tells the tiers),
    // and what it queued has been stored.
    bool settled() const {
        return eventually([&] { return stat("open_entries") == 0; }) && drained();
    }
    KvcMount mount;
};

}  // namespace kvctest
