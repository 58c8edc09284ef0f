// POSIX parity against tmpfs: a sequence of steps runs in a tmpfs directory (/dev/shm) and
// inside a pool, and every step's result, errno and observed state must agree. The steps' helpers
// and the runner, shared by parity_test.cpp (files and directories) and parity_nodes_test.cpp
// (symbolic links and special files).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "tests/mount/mount_fixture.h"

namespace kvctest {

// What one step observed: the call's result (fds become 0), errno, and any state it looked at.
struct Outcome {
    long rc = 0;
    int err = 0;
    std::string state;

    bool operator==(const Outcome& o) const {
        return rc == o.rc && err == o.err && state == o.state;
    }
    std::string str() const {
        std::string s = rc < 0 ? "-1 " + errName(err) : std::to_string(rc);
        if (!state.empty()) s += " [" + state + "]";
        return s;
    }
};

inline Outcome call(long rc) {
    Outcome o;
    o.err = rc < 0 ? errno : 0;
    o.rc = rc < 0 ? -1 : 0;
    return o;
}

// Opens and closes: only success or the errno matters.
inline Outcome openClose(const std::string& p, int flags, mode_t mode = 0644) {
    const int fd = open(p.c_str(), flags | O_CLOEXEC, mode);
    Outcome o = call(fd);
    if (fd >= 0) close(fd);
    return o;
}

inline std::string describe(const std::string& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return std::string("stat:") + errName(errno);
    std::ostringstream s;
    s << (S_ISDIR(st.st_mode)    ? "dir"
          : S_ISREG(st.st_mode)  ? "file"
          : S_ISLNK(st.st_mode)  ? "link"
          : S_ISFIFO(st.st_mode) ? "fifo"
          : S_ISSOCK(st.st_mode) ? "sock"
          : S_ISCHR(st.st_mode)  ? "chr"
          : S_ISBLK(st.st_mode)  ? "blk"
                                 : "other")
      << " mode=0" << std::oct << (st.st_mode & 07777) << std::dec << " nlink=" << st.st_nlink;
    if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) s << " size=" << st.st_size;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        s << " rdev=" << major(st.st_rdev) << ":" << minor(st.st_rdev);
    s << " uid=" << st.st_uid << " gid=" << st.st_gid;
    return s.str();
}

inline std::string times(const std::string& p) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) return std::string("stat:") + errName(errno);
    return std::to_string(st.st_atim.tv_sec) + "." + std::to_string(st.st_atim.tv_nsec) + "/" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

inline std::string listing(const std::string& p) {
    std::vector<std::string> names;
    DIR* d = opendir(p.c_str());
    if (!d) return std::string("opendir:") + errName(errno);
    while (dirent* e = readdir(d)) {
        const char t = e->d_type == DT_DIR    ? '/'
                       : e->d_type == DT_REG  ? ' '
                       : e->d_type == DT_LNK  ? '@'
                       : e->d_type == DT_FIFO ? '|'
                       : e->d_type == DT_SOCK ? '='
                       : e->d_type == DT_CHR  ? '%'
                       : e->d_type == DT_BLK  ? '#'
                                              : '?';
        names.push_back(std::string(e->d_name) + (t == ' ' ? "" : std::string(1, t)));
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
    return out;
}

inline std::string contents(const std::string& p) {
    int err = 0;
    auto c = readFile(p, &err);
    return c ? "\"" + *c + "\"" : "read:" + errName(err);
}

inline Outcome writeAt(const std::string& p, int flags, off_t off, const std::string& data) {
    const int fd = open(p.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) return call(-1);
    const long n =
        off < 0 ? write(fd, data.data(), data.size()) : pwrite(fd, data.data(), data.size(), off);
    Outcome o = call(n);
    if (n >= 0) o.rc = n;
    close(fd);
    return o;
}

inline Outcome renameat2(const std::string& a, const std::string& b, unsigned flags) {
    return call(syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags));
}

struct Step {
    std::string what;
    std::function<Outcome(const std::string& base)> run;
};

// Records the state after the call: `state` runs only once `o` has been computed (function
// arguments are evaluated in no fixed order, so the state cannot be a plain argument).
template <class F>
inline Outcome with(Outcome o, F state) {
    o.state = state();
    return o;
}

class ParityTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        char tmpl[] = "/dev/shm/kvcparity.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        tmpfs_dir_ = tmpl;
    }
    void TearDown() override {
        if (!tmpfs_dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(tmpfs_dir_, ec);
        }
        MountTest::TearDown();
    }
    // A directory `u` in the tmpfs directory and in `pool`, owned by `uid` (whose group is the
    // same number), that it can work in: the fixture's work directory and the tmpfs directory
    // are private (mkdtemp). Returns the two paths.
    std::pair<std::string, std::string> ownedDirs(const std::string& pool, uid_t uid) {
        const std::string work = mnt().substr(0, mnt().rfind('/'));
        EXPECT_EQ(0, errnoOf(chmod(work.c_str(), 0755)));
        EXPECT_EQ(0, errnoOf(chmod(tmpfs_dir_.c_str(), 0755)));
        for (const std::string& base : {tmpfs_dir_, pool}) {
            EXPECT_EQ(0, errnoOf(mkdir((base + "/u").c_str(), 0755)));
            EXPECT_EQ(0, errnoOf(chown((base + "/u").c_str(), uid, uid)));
        }
        return {tmpfs_dir_ + "/u", pool + "/u"};
    }

    std::string tmpfs_dir_;
};

inline std::vector<Outcome> runSteps(const std::vector<Step>& steps, const std::string& dir) {
    std::vector<Outcome> out;
    for (const Step& s : steps) {
        errno = 0;
        out.push_back(s.run(dir));
    }
    return out;
}

// Outcomes through a pipe: rc, errno, the length of the state, the state (which may hold any
// byte: file contents).
inline void putOutcomes(std::string& buf, const std::vector<Outcome>& outcomes) {
    for (const Outcome& o : outcomes) {
        const uint32_t len = static_cast<uint32_t>(o.state.size());
        buf.append(reinterpret_cast<const char*>(&o.rc), sizeof o.rc);
        buf.append(reinterpret_cast<const char*>(&o.err), sizeof o.err);
        buf.append(reinterpret_cast<const char*>(&len), sizeof len);
        buf += o.state;
    }
}

inline std::vector<Outcome> takeOutcomes(std::string_view& buf, size_t n) {
    std::vector<Outcome> out;
    for (size_t i = 0; i < n; ++i) {
        Outcome o;
        uint32_t len = 0;
        if (buf.size() < sizeof o.rc + sizeof o.err + sizeof len) break;
        memcpy(&o.rc, buf.data(), sizeof o.rc);
        memcpy(&o.err, buf.data() + sizeof o.rc, sizeof o.err);
        memcpy(&len, buf.data() + sizeof o.rc + sizeof o.err, sizeof len);
        buf.remove_prefix(sizeof o.rc + sizeof o.err + sizeof len);
        if (buf.size() < len) break;
        o.state = std::string(buf.substr(0, len));
        buf.remove_prefix(len);
        out.push_back(std::move(o));
    }
    return out;
}

// Runs the sequence in both directories as `uid` and `gid` (no supplementary groups) and
// returns the outcomes on tmpfs and on the pool.
inline std::pair<std::vector<Outcome>, std::vector<Outcome>> runStepsAs(
    uid_t uid, gid_t gid, const std::vector<Step>& steps, const std::string& tmpfs_dir,
    const std::string& pool_dir) {
    const std::string buf = runAsUser(
        uid, gid, {},
        [&](std::string& out) {
            putOutcomes(out, runSteps(steps, tmpfs_dir));
            putOutcomes(out, runSteps(steps, pool_dir));
        },
        60000);
    std::string_view rest = buf;
    auto on_tmpfs = takeOutcomes(rest, steps.size());
    auto on_pool = takeOutcomes(rest, steps.size());
    return {std::move(on_tmpfs), std::move(on_pool)};
}

// Runs the sequence in both directories (as root, or as `as_uid` with its own group) and fails
// with a table of the steps that differ.
// `min_errors`: the sequence must have exercised errors, not only successes.
inline void expectParity(const std::vector<Step>& steps, int min_errors,
                         const std::string& tmpfs_dir, const std::string& pool_dir,
                         std::optional<uid_t> as_uid = std::nullopt) {
    const mode_t old_umask = umask(022);
    std::vector<Outcome> on_tmpfs, on_pool;
    if (as_uid) {
        std::tie(on_tmpfs, on_pool) = runStepsAs(*as_uid, *as_uid, steps, tmpfs_dir, pool_dir);
    } else {
        on_tmpfs = runSteps(steps, tmpfs_dir);
        on_pool = runSteps(steps, pool_dir);
    }
    umask(old_umask);
    ASSERT_EQ(steps.size(), on_tmpfs.size()) << "outcomes lost on the way from the child";
    ASSERT_EQ(steps.size(), on_pool.size()) << "outcomes lost on the way from the child";
    std::ostringstream table;
    int mismatches = 0;
    const bool verbose = getenv("KVC_PARITY_VERBOSE") != nullptr;
    for (size_t i = 0; i < steps.size(); ++i) {
        if (verbose)
            std::printf("%3zu. %-45s %s%s\n", i, steps[i].what.c_str(), on_tmpfs[i].str().c_str(),
                        on_tmpfs[i] == on_pool[i] ? "" : "   MISMATCH");
        if (on_tmpfs[i] == on_pool[i]) continue;
        ++mismatches;
        table << "  " << i << ". " << steps[i].what << "\n      tmpfs:     " << on_tmpfs[i].str()
              << "\n      kvcachefs: " << on_pool[i].str() << "\n";
    }
    EXPECT_EQ(0, mismatches) << mismatches << " of " << steps.size()
                             << " steps differ from tmpfs:\n"
                             << table.str();
    int errors = 0;
    for (const Outcome& o : on_tmpfs) errors += o.rc < 0;
    EXPECT_GT(errors, min_errors);
}

}  // namespace kvctest
