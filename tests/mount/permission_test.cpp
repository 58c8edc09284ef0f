// Multi-user POSIX semantics on a real mount, each scenario checked against tmpfs: owners of new
// nodes (and the group of a setgid directory), other users' private entries (EACCES), removing
// in directories one cannot write and in sticky directories, chmod/chown/chgrp, setuid/setgid
// bits cleared by writes, a pool's owner-only control files, names ("." and "..", lengths) and
// the documented limits (extended attributes, -o max_entries).
//
// The tests run as root (the daemon always has default_permissions, and allow_other as root)
// and act as unprivileged users in forked children: setgroups/setgid/setuid to ids that need no
// passwd entry. A child records "step: result" lines and sends them back through a pipe; the
// parent compares the tmpfs and kvcachefs transcripts and asserts the values a user relies on.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

constexpr gid_t kGroup = 4242;         // a group some of the users below belong to
constexpr gid_t kForeignGroup = 4343;  // a group none of them belongs to

struct User {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;  // supplementary
};
const User kNobody{65534, 65534, {}};
const User kNobodyInGroup{65534, 65534, {kGroup}};
const User kOther{65533, 65533, {}};
const User kOtherInGroup{65533, 65533, {kGroup}};
const User kDirOwner{65532, 65532, {}};

// What a scenario observed: "step: result" lines in order. Results are errno names ("0" for
// success), owners and modes, or short contents; none holds a newline or a tab.
class Transcript {
  public:
    // The errno of a call's result.
    void rc(const std::string& step, long result) { add(step, errName(result < 0 ? errno : 0)); }
    void add(const std::string& step, std::string value) {
        lines_.emplace_back(step, std::move(value));
    }
    void append(const Transcript& t) {
        lines_.insert(lines_.end(), t.lines_.begin(), t.lines_.end());
    }
    // The result of `step`, or "<no step ...>" (a failed assertion then names the step).
    std::string operator[](const std::string& step) const {
        for (const auto& [s, v] : lines_)
            if (s == step) return v;
        return "<no step " + step + ">";
    }
    const std::vector<std::pair<std::string, std::string>>& lines() const { return lines_; }

    std::string encode() const {
        std::string out;
        for (const auto& [s, v] : lines_) {
            out += s + '\t';
            for (char c : v) out += c == '\n' ? ' ' : c;
            out += '\n';
        }
        return out;
    }
    static Transcript decode(const std::string& text) {
        Transcript t;
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            const size_t tab = line.find('\t');
            if (tab == std::string::npos) {
                t.add("<garbled>", line);
            } else {
                t.add(line.substr(0, tab), line.substr(tab + 1));
            }
        }
        return t;
    }

  private:
    std::vector<std::pair<std::string, std::string>> lines_;
};

// "uid:gid 0mode" of a path, or the errno of stat.
std::string owner(const std::string& p) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) return "stat:" + errName(errno);
    char buf[64];
    snprintf(buf, sizeof buf, "%u:%u 0%o", st.st_uid, st.st_gid, st.st_mode & 07777);
    return buf;
}

std::string contents(const std::string& p) {
    int err = 0;
    auto c = readFile(p, &err);
    return c ? *c : "read:" + errName(err);
}

long openClose(const std::string& p, int flags, mode_t mode = 0644) {
    const int fd = open(p.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

// Appends `data` through a descriptor opened O_WRONLY|O_APPEND: -1 with errno, or 0.
long appendTo(const std::string& p, std::string_view data) {
    const int fd = open(p.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return -1;
    const ssize_t n = write(fd, data.data(), data.size());
    const int e = errno;
    close(fd);
    errno = e;
    return n < 0 ? -1 : 0;
}

long renameat2Rc(const std::string& a, const std::string& b, unsigned flags) {
    return syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags);
}

// Runs `body` as `u` (its ids, supplementary groups, umask 022) and returns what it recorded.
Transcript asUser(const User& u, const std::function<void(Transcript&)>& body) {
    return Transcript::decode(runAsUser(u.uid, u.gid, u.groups, [&](std::string& out) {
        Transcript t;
        body(t);
        out = t.encode();
    }));
}

// Fails with a table of the steps whose results differ between tmpfs and kvcachefs, except the
// `known` differences (which the caller asserts itself).
void expectSameAsTmpfs(const Transcript& tmpfs, const Transcript& kvc,
                       const std::set<std::string>& known = {}) {
    std::ostringstream table;
    int differ = 0;
    const size_t n = std::max(tmpfs.lines().size(), kvc.lines().size());
    for (size_t i = 0; i < n; ++i) {
        const auto none = std::make_pair(std::string("<none>"), std::string());
        const auto& a = i < tmpfs.lines().size() ? tmpfs.lines()[i] : none;
        const auto& b = i < kvc.lines().size() ? kvc.lines()[i] : none;
        if (a == b || (a.first == b.first && known.count(a.first))) continue;
        ++differ;
        table << "  " << a.first << "\n      tmpfs:     " << a.second
              << "\n      kvcachefs: " << (a.first == b.first ? "" : "(" + b.first + ") ")
              << b.second << "\n";
    }
    EXPECT_EQ(0, differ) << differ << " of " << n << " steps differ from tmpfs:\n" << table.str();
}

class PermissionTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        // The fixture's work directory is private (mkdtemp): let other users reach the mount.
        const std::string work = mnt().substr(0, mnt().rfind('/'));
        ASSERT_EQ(0, errnoOf(chmod(work.c_str(), 0755)));
        char tmpl[] = "/dev/shm/kvcperm.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        tmpfs_ = tmpl;
        ASSERT_EQ(0, errnoOf(chmod(tmpfs_.c_str(), 0755)));
        pool_ = makePool("perm");
        ASSERT_EQ(0, errnoOf(chmod(pool_.c_str(), 0755)));
    }
    void TearDown() override {
        if (!tmpfs_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(tmpfs_, ec);
        }
        MountTest::TearDown();
    }

    enum class Where { PoolTop, Nested };

    // A fresh directory owned by root, mode 0755, on each side: a new pool (Where::PoolTop, so
    // the pool directory itself is under test) or a directory inside the test pool.
    std::pair<std::string, std::string> bases(const std::string& name, Where where) {
        const std::string t = tmpfs_ + "/" + name;
        const std::string k = where == Where::PoolTop ? makePool(name) : pool_ + "/" + name;
        EXPECT_EQ(0, errnoOf(mkdir(t.c_str(), 0755)));
        if (where == Where::Nested) {
            EXPECT_EQ(0, errnoOf(mkdir(k.c_str(), 0755)));
        }
        for (const std::string& b : {t, k}) EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 0755)));
        return {t, k};
    }

    // Runs `scenario` on tmpfs and on kvcachefs, expects the same transcript (but for the
    // `known` differences), and returns kvcachefs's for explicit checks.
    Transcript onBoth(const std::string& name, Where where,
                      const std::function<Transcript(const std::string&)>& scenario,
                      const std::set<std::string>& known = {}) {
        const auto [t, k] = bases(name, where);
        const Transcript on_tmpfs = scenario(t), on_kvc = scenario(k);
        expectSameAsTmpfs(on_tmpfs, on_kvc, known);
        if (getenv("KVC_PERMISSION_VERBOSE"))
            for (const auto& [s, v] : on_kvc.lines())
                std::printf("  %-50s %s\n", s.c_str(), v.c_str());
        return on_kvc;
    }

    std::string tmpfs_, pool_;
};

// --- owners of new nodes -----------------------------------------------------------------

Transcript newNodes(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 0777)));
    Transcript t;
    t.append(asUser(kNobodyInGroup, [&](Transcript& r) {
        r.rc("nobody creat f", openClose(b + "/f", O_CREAT | O_WRONLY, 0644));
        r.add("owner f", owner(b + "/f"));
        r.rc("nobody mkdir d", mkdir((b + "/d").c_str(), 0777));
        r.add("owner d", owner(b + "/d"));
        r.rc("nobody mknod m", mknod((b + "/m").c_str(), S_IFREG | 0600, 0));
        r.add("owner m", owner(b + "/m"));
        r.rc("nobody creat d/g", openClose(b + "/d/g", O_CREAT | O_EXCL | O_RDWR, 0666));
        r.add("owner d/g", owner(b + "/d/g"));
        r.rc("nobody chmod d 0777", chmod((b + "/d").c_str(), 0777));
    }));
    t.append(asUser(kOtherInGroup, [&](Transcript& r) {
        r.rc("other creat d/o", openClose(b + "/d/o", O_CREAT | O_WRONLY, 0640));
        r.add("owner d/o", owner(b + "/d/o"));
        r.rc("other mkdir d/od", mkdir((b + "/d/od").c_str(), 0700));
        r.add("owner d/od", owner(b + "/d/od"));
        r.rc("other rename d/g d/g2", rename((b + "/d/g").c_str(), (b + "/d/g2").c_str()));
        r.add("owner d/g2 (renamed by other)", owner(b + "/d/g2"));
        // fs.protected_hardlinks decides this one; it is the same on both sides.
        r.rc("other link d/g2 d/l", link((b + "/d/g2").c_str(), (b + "/d/l").c_str()));
        r.add("owner d/l", owner(b + "/d/l"));
    }));
    return t;
}

TEST_F(PermissionTest, NewNodesGetTheCallersUidAndGid) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "own" : "ownd", w, newNodes);
        EXPECT_EQ("65534:65534 0644", k["owner f"]);
        EXPECT_EQ("65534:65534 0755", k["owner d"]);
        EXPECT_EQ("65534:65534 0600", k["owner m"]);
        EXPECT_EQ("65534:65534 0644", k["owner d/g"]);
        // The primary group, not a supplementary one.
        EXPECT_EQ("65533:65533 0640", k["owner d/o"]);
        EXPECT_EQ("65533:65533 0700", k["owner d/od"]);
        EXPECT_EQ("65534:65534 0644", k["owner d/g2 (renamed by other)"]);
    }
}

Transcript setgidDir(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chown(b.c_str(), kDirOwner.uid, kGroup)));
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 02777)));
    Transcript t;
    t.add("owner base", owner(b));
    t.append(asUser(kOther, [&](Transcript& r) {
        r.rc("other creat f", openClose(b + "/f", O_CREAT | O_WRONLY, 0644));
        r.add("owner f", owner(b + "/f"));
        r.rc("other mknod m", mknod((b + "/m").c_str(), S_IFREG | 0644, 0));
        r.add("owner m", owner(b + "/m"));
        r.rc("other mkdir d 0755", mkdir((b + "/d").c_str(), 0755));
        r.add("owner d", owner(b + "/d"));
        r.rc("other mkdir d/e 0700", mkdir((b + "/d/e").c_str(), 0700));
        r.add("owner d/e", owner(b + "/d/e"));
        r.rc("other creat d/e/f", openClose(b + "/d/e/f", O_CREAT | O_WRONLY, 0600));
        r.add("owner d/e/f", owner(b + "/d/e/f"));
        // Not a member of the group: a setgid-executable file loses its setgid bit.
        r.rc("other creat x 02755", openClose(b + "/x", O_CREAT | O_WRONLY, 02755));
        r.add("owner x", owner(b + "/x"));
        // A directory that drops the bit passes neither group nor bit on.
        r.rc("other mkdir plain", mkdir((b + "/plain").c_str(), 0755));
        r.rc("other chmod plain 0755", chmod((b + "/plain").c_str(), 0755));
        r.add("owner plain", owner(b + "/plain"));
        r.rc("other creat plain/f", openClose(b + "/plain/f", O_CREAT | O_WRONLY, 0644));
        r.add("owner plain/f", owner(b + "/plain/f"));
    }));
    t.append(asUser(kOtherInGroup, [&](Transcript& r) {
        r.rc("member creat y 02755", openClose(b + "/y", O_CREAT | O_WRONLY, 02755));
        r.add("owner y", owner(b + "/y"));
    }));
    return t;
}

TEST_F(PermissionTest, SetgidDirectoryGivesItsGroupAndBit) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "sg" : "sgd", w, setgidDir);
        EXPECT_EQ("65532:4242 02777", k["owner base"]);
        EXPECT_EQ("65533:4242 0644", k["owner f"]);
        EXPECT_EQ("65533:4242 0644", k["owner m"]);
        EXPECT_EQ("65533:4242 02755", k["owner d"]);
        EXPECT_EQ("65533:4242 02700", k["owner d/e"]);
        EXPECT_EQ("65533:4242 0600", k["owner d/e/f"]);
        EXPECT_EQ("65533:4242 0755", k["owner x"]);
        EXPECT_EQ("65533:4242 0755", k["owner plain"]);
        EXPECT_EQ("65533:65533 0644", k["owner plain/f"]);
        EXPECT_EQ("65533:4242 02755", k["owner y"]);
    }
}

// --- access to other users' entries ------------------------------------------------------

Transcript privateEntry(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 0777)));
    const std::string f = b + "/secret";
    Transcript t;
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.rc("nobody write secret 0600",
             writeFile(f, "secret", O_WRONLY | O_CREAT, 0600) == 0 ? 0 : -1);
        r.rc("nobody setxattr user.tag", setxattr(f.c_str(), "user.tag", "t", 1, 0));
    }));
    t.append(asUser(kOther, [&](Transcript& r) {
        r.rc("other stat", statErrno(f) == 0 ? 0 : -1);
        r.rc("other open O_RDONLY", openClose(f, O_RDONLY));
        r.rc("other open O_WRONLY", openClose(f, O_WRONLY));
        r.rc("other open O_RDWR", openClose(f, O_RDWR));
        r.rc("other append", appendTo(f, "x"));
        r.rc("other open O_CREAT|O_TRUNC", openClose(f, O_CREAT | O_TRUNC | O_WRONLY));
        r.rc("other truncate", truncate(f.c_str(), 0));
        char buf[16];
        r.rc("other getxattr user.tag", getxattr(f.c_str(), "user.tag", buf, sizeof buf));
        r.rc("other setxattr user.tag", setxattr(f.c_str(), "user.tag", "o", 1, 0));
        r.rc("other setxattr user.kvcache.pinned",
             setxattr(f.c_str(), "user.kvcache.pinned", "1", 1, 0));
        r.rc("other removexattr user.tag", removexattr(f.c_str(), "user.tag"));
        r.rc("other utimensat now", utimensat(AT_FDCWD, f.c_str(), nullptr, 0));
        const timespec ts[2] = {{1, 0}, {2, 0}};
        r.rc("other utimensat explicit", utimensat(AT_FDCWD, f.c_str(), ts, 0));
        r.rc("other chmod 0666", chmod(f.c_str(), 0666));
        r.rc("other chown to self", chown(f.c_str(), kOther.uid, kOther.gid));
    }));
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.add("nobody reads secret", contents(f));
        char buf[16];
        const ssize_t n = getxattr(f.c_str(), "user.tag", buf, sizeof buf);
        r.add("nobody getxattr user.tag", n < 0 ? errName(errno) : std::string(buf, n));
        r.add("owner secret", owner(f));
    }));
    return t;
}

TEST_F(PermissionTest, AnotherUsersPrivateEntryIsEACCES) {
    const Transcript k = onBoth("priv", Where::Nested, privateEntry);
    for (const char* step :
         {"other open O_RDONLY", "other open O_WRONLY", "other open O_RDWR", "other append",
          "other open O_CREAT|O_TRUNC", "other truncate", "other getxattr user.tag",
          "other setxattr user.tag", "other setxattr user.kvcache.pinned",
          "other removexattr user.tag", "other utimensat now"})
        EXPECT_EQ("EACCES", k[step]) << step;
    EXPECT_EQ("0", k["other stat"]);
    EXPECT_EQ("EPERM", k["other utimensat explicit"]);
    EXPECT_EQ("EPERM", k["other chmod 0666"]);
    EXPECT_EQ("EPERM", k["other chown to self"]);
    EXPECT_EQ("secret", k["nobody reads secret"]);
    EXPECT_EQ("t", k["nobody getxattr user.tag"]);
    EXPECT_EQ("65534:65534 0600", k["owner secret"]);
}

Transcript readOnlyDirectory(const std::string& b) {
    // b stays root's 0755; inside, a root-owned 0755 directory holding nobody's entries.
    const std::string ro = b + "/ro";
    EXPECT_EQ(0, errnoOf(mkdir(ro.c_str(), 0755)));
    EXPECT_EQ(0, writeFile(ro + "/e", "e", O_WRONLY | O_CREAT, 0666));
    EXPECT_EQ(0, errnoOf(chmod((ro + "/e").c_str(), 0666)));
    EXPECT_EQ(0, errnoOf(chown((ro + "/e").c_str(), kNobody.uid, kNobody.gid)));
    EXPECT_EQ(0, errnoOf(mkdir((ro + "/sub").c_str(), 0777)));
    EXPECT_EQ(0, errnoOf(chown((ro + "/sub").c_str(), kNobody.uid, kNobody.gid)));
    EXPECT_EQ(0, errnoOf(mkdir((b + "/w").c_str(), 0777)));
    EXPECT_EQ(0, errnoOf(chmod((b + "/w").c_str(), 0777)));
    EXPECT_EQ(0, errnoOf(mkdir((b + "/closed").c_str(), 0700)));
    EXPECT_EQ(0, writeFile(b + "/closed/e", "c"));
    Transcript t;
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.rc("creat in the 0755 base", openClose(b + "/x", O_CREAT | O_WRONLY));
        r.rc("mkdir in the 0755 base", mkdir((b + "/y").c_str(), 0755));
        r.rc("unlink own ro/e", unlink((ro + "/e").c_str()));
        r.rc("rename ro/e ro/e2", rename((ro + "/e").c_str(), (ro + "/e2").c_str()));
        r.rc("rename ro/e out to w/e", rename((ro + "/e").c_str(), (b + "/w/e").c_str()));
        r.rc("rename w/n into ro", (openClose(b + "/w/n", O_CREAT | O_WRONLY) == 0)
                                       ? rename((b + "/w/n").c_str(), (ro + "/n").c_str())
                                       : -1);
        r.rc("creat ro/new", openClose(ro + "/new", O_CREAT | O_WRONLY));
        r.rc("mknod ro/new", mknod((ro + "/new").c_str(), S_IFREG | 0644, 0));
        r.rc("mkdir ro/newd", mkdir((ro + "/newd").c_str(), 0755));
        r.rc("rmdir own ro/sub", rmdir((ro + "/sub").c_str()));
        r.rc("link ro/e ro/l", link((ro + "/e").c_str(), (ro + "/l").c_str()));
        r.rc("link ro/e w/l (writable target)", link((ro + "/e").c_str(), (b + "/w/l").c_str()));
        r.rc("write own ro/e (0666)", appendTo(ro + "/e", "+"));
        r.rc("stat closed/e", statErrno(b + "/closed/e") == 0 ? 0 : -1);
        r.rc("open closed/e", openClose(b + "/closed/e", O_RDONLY));
        r.rc("opendir closed", openClose(b + "/closed", O_RDONLY | O_DIRECTORY));
    }));
    t.add("listing ro", std::to_string(std::distance(std::filesystem::directory_iterator(ro),
                                                     std::filesystem::directory_iterator())));
    t.add("contents ro/e", contents(ro + "/e"));
    return t;
}

TEST_F(PermissionTest, RemovingAndCreatingNeedWriteOnTheDirectory) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "ro" : "rod", w, readOnlyDirectory);
        for (const char* step :
             {"creat in the 0755 base", "mkdir in the 0755 base", "unlink own ro/e",
              "rename ro/e ro/e2", "rename ro/e out to w/e", "rename w/n into ro", "creat ro/new",
              "mknod ro/new", "mkdir ro/newd", "rmdir own ro/sub", "link ro/e ro/l",
              "stat closed/e", "open closed/e", "opendir closed"})
            EXPECT_EQ("EACCES", k[step]) << step;
        EXPECT_EQ("0", k["link ro/e w/l (writable target)"]);
        EXPECT_EQ("0", k["write own ro/e (0666)"]);
        EXPECT_EQ("2", k["listing ro"]);
        EXPECT_EQ("e+", k["contents ro/e"]);
    }
}

Transcript stickyDirectory(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chown(b.c_str(), kDirOwner.uid, kDirOwner.gid)));
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 01777)));
    Transcript t;
    t.add("owner base", owner(b));
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.rc("nobody creat n 0666", openClose(b + "/n", O_CREAT | O_WRONLY, 0666));
        r.rc("nobody chmod n 0666", chmod((b + "/n").c_str(), 0666));
        r.rc("nobody creat n2", openClose(b + "/n2", O_CREAT | O_WRONLY, 0644));
        r.rc("nobody mkdir nd 0777", mkdir((b + "/nd").c_str(), 0777));
        r.rc("nobody chmod nd 0777", chmod((b + "/nd").c_str(), 0777));
    }));
    t.append(asUser(kOther, [&](Transcript& r) {
        r.rc("other creat o", openClose(b + "/o", O_CREAT | O_WRONLY, 0644));
        r.rc("other unlink n", unlink((b + "/n").c_str()));
        r.rc("other rename n m", rename((b + "/n").c_str(), (b + "/m").c_str()));
        r.rc("other rename o over n", rename((b + "/o").c_str(), (b + "/n").c_str()));
        r.rc("other exchange o n", renameat2Rc(b + "/o", b + "/n", RENAME_EXCHANGE));
        r.rc("other rmdir nd (empty, 0777)", rmdir((b + "/nd").c_str()));
        r.rc("other rename nd x", rename((b + "/nd").c_str(), (b + "/x").c_str()));
        r.rc("other write n (0666)", appendTo(b + "/n", "w"));
        r.rc("other creat in nd", openClose(b + "/nd/f", O_CREAT | O_WRONLY));
        r.rc("other setxattr user.tag on the dir", setxattr(b.c_str(), "user.tag", "1", 1, 0));
        r.rc("other rename own o o2", rename((b + "/o").c_str(), (b + "/o2").c_str()));
        r.rc("other unlink own o2", unlink((b + "/o2").c_str()));
    }));
    t.append(asUser(kDirOwner, [&](Transcript& r) {
        r.rc("dir owner unlink n2", unlink((b + "/n2").c_str()));
    }));
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.rc("nobody unlink own n", unlink((b + "/n").c_str()));
        r.rc("nobody unlink nd/f (nd is nobody's, not sticky)", unlink((b + "/nd/f").c_str()));
        r.rc("nobody rmdir own nd", rmdir((b + "/nd").c_str()));
    }));
    return t;
}

TEST_F(PermissionTest, StickyDirectoryKeepsOthersEntries) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "st" : "std", w, stickyDirectory);
        EXPECT_EQ("65532:65532 01777", k["owner base"]);
        for (const char* step : {"other unlink n", "other rename n m", "other rename o over n",
                                 "other exchange o n", "other rmdir nd (empty, 0777)",
                                 "other rename nd x", "other setxattr user.tag on the dir"})
            EXPECT_EQ("EPERM", k[step]) << step;
        for (const char* step :
             {"other write n (0666)", "other creat in nd", "other rename own o o2",
              "other unlink own o2", "dir owner unlink n2", "nobody unlink own n",
              "nobody unlink nd/f (nd is nobody's, not sticky)", "nobody rmdir own nd"})
            EXPECT_EQ("0", k[step]) << step;
    }
}

// --- chmod, chown, chgrp ----------------------------------------------------------------------

Transcript chmodChown(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 0777)));
    const std::string f = b + "/f", g = b + "/g";
    Transcript t;
    t.append(asUser(kNobodyInGroup, [&](Transcript& r) {
        r.rc("nobody creat f", openClose(f, O_CREAT | O_WRONLY, 0644));
        r.rc("nobody creat g", openClose(g, O_CREAT | O_WRONLY, 0644));
        r.rc("nobody chmod f 0640", chmod(f.c_str(), 0640));
        r.rc("nobody chown f to other", chown(f.c_str(), kOther.uid, -1));
        r.rc("nobody chown f to itself", chown(f.c_str(), kNobody.uid, -1));
        r.rc("nobody chgrp f to member group", chown(f.c_str(), -1, kGroup));
        r.add("owner f", owner(f));
        r.rc("nobody chgrp f to foreign group", chown(f.c_str(), -1, kForeignGroup));
        r.rc("nobody chgrp f back to own group", chown(f.c_str(), -1, kNobody.gid));
        const int fd = open(f.c_str(), O_RDONLY | O_CLOEXEC);
        r.rc("nobody fchmod f 0604", fchmod(fd, 0604));
        r.rc("nobody fchown f to other", fchown(fd, kOther.uid, -1));
        close(fd);
        r.rc("nobody chmod base (root's)", chmod(b.c_str(), 0700));
        r.rc("nobody chown base to itself", chown(b.c_str(), kNobody.uid, -1));
    }));
    t.append(asUser(kOtherInGroup, [&](Transcript& r) {
        r.rc("other chmod f", chmod(f.c_str(), 0666));
        r.rc("other chown f to itself", chown(f.c_str(), kOther.uid, -1));
        r.rc("other chgrp f to a group it is in", chown(f.c_str(), -1, kGroup));
        r.rc("other chown f to no change", chown(f.c_str(), -1, -1));
    }));
    // root gives g a group nobody is not in; nobody's chmod g+s then loses the setgid bit.
    EXPECT_EQ(0, errnoOf(chown(g.c_str(), -1, kForeignGroup)));
    t.append(asUser(kNobody, [&](Transcript& r) {
        r.rc("nobody chmod g 02755 (not in its group)", chmod(g.c_str(), 02755));
        r.add("owner g", owner(g));
        r.rc("nobody chmod g 04755", chmod(g.c_str(), 04755));
        r.add("owner g after 04755", owner(g));
    }));
    t.rc("root chown f to other", chown(f.c_str(), kOther.uid, kForeignGroup));
    t.add("owner f at the end", owner(f));
    t.add("owner base at the end", owner(b));
    return t;
}

TEST_F(PermissionTest, ChmodChownAndChgrpFollowPosix) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "cc" : "ccd", w, chmodChown);
        EXPECT_EQ("0", k["nobody chmod f 0640"]);
        EXPECT_EQ("EPERM", k["nobody chown f to other"]);
        EXPECT_EQ("0", k["nobody chown f to itself"]);
        EXPECT_EQ("0", k["nobody chgrp f to member group"]);
        EXPECT_EQ("65534:4242 0640", k["owner f"]);
        EXPECT_EQ("EPERM", k["nobody chgrp f to foreign group"]);
        EXPECT_EQ("0", k["nobody chgrp f back to own group"]);
        EXPECT_EQ("0", k["nobody fchmod f 0604"]);
        EXPECT_EQ("EPERM", k["nobody fchown f to other"]);
        EXPECT_EQ("EPERM", k["nobody chmod base (root's)"]);
        EXPECT_EQ("EPERM", k["nobody chown base to itself"]);
        EXPECT_EQ("EPERM", k["other chmod f"]);
        EXPECT_EQ("EPERM", k["other chown f to itself"]);
        EXPECT_EQ("EPERM", k["other chgrp f to a group it is in"]);
        EXPECT_EQ("0", k["nobody chmod g 02755 (not in its group)"]);
        EXPECT_EQ("65534:4343 0755", k["owner g"]);
        EXPECT_EQ("65534:4343 04755", k["owner g after 04755"]);
        EXPECT_EQ("0", k["root chown f to other"]);
        EXPECT_EQ("65533:4343 0604", k["owner f at the end"]);
        EXPECT_EQ("0:0 0777", k["owner base at the end"]);
    }
}

// --- setuid and setgid bits cleared by writes ---------------------------------------------

// Files s1..s8 of nobody's, mode 06777 unless said otherwise, then changed by various users.
Transcript killPriv(const std::string& b) {
    EXPECT_EQ(0, errnoOf(chmod(b.c_str(), 0777)));
    auto s = [&](int i) { return b + "/s" + std::to_string(i); };
    Transcript t;
    t.append(asUser(kNobody, [&](Transcript& r) {
        for (int i = 1; i <= 8; ++i) {
            writeFile(s(i), "data", O_WRONLY | O_CREAT, 0644);
            r.rc("nobody chmod s" + std::to_string(i), chmod(s(i).c_str(), i == 6 ? 02767 : 06777));
        }
        r.rc("nobody (owner) writes s1", appendTo(s(1), "o"));
        r.add("mode s1 after owner write", owner(s(1)));
    }));
    t.append(asUser(kOther, [&](Transcript& r) {
        r.rc("other writes s2", appendTo(s(2), "x"));
        r.add("mode s2 after other write", owner(s(2)));
        r.rc("other truncates s3", truncate(s(3).c_str(), 1));
        r.add("mode s3 after other truncate", owner(s(3)));
        r.rc("other opens s4 O_TRUNC", openClose(s(4), O_WRONLY | O_TRUNC));
        r.add("mode s4 after other O_TRUNC", owner(s(4)));
        r.rc("other writes s6 (setgid, no group x)", appendTo(s(6), "x"));
        r.add("mode s6 after other write", owner(s(6)));
        r.rc("other writes s8 with pwrite at 0", [&] {
            const int fd = open(s(8).c_str(), O_WRONLY | O_CLOEXEC);
            const long rc = fd < 0 ? -1 : pwrite(fd, "Z", 1, 0);
            if (fd >= 0) close(fd);
            return rc < 0 ? -1L : 0L;
        }());
        r.add("mode s8 after other pwrite", owner(s(8)));
    }));
    t.rc("root writes s5", appendTo(s(5), "r"));
    t.add("mode s5 after root write", owner(s(5)));
    t.rc("root chowns s7 to other", chown(s(7).c_str(), kOther.uid, -1));
    t.add("mode s7 after root chown", owner(s(7)));
    t.add("contents s2", contents(s(2)));
    return t;
}

TEST_F(PermissionTest, WritesByOtherUsersClearSetuidAndSetgid) {
    // The kernel's FUSE module clears setgid on a write only when group execute is set too
    // (fs/fuse/dir.c, fuse_setattr); tmpfs also clears it, without group execute, for a writer
    // outside the file's group. kvcachefs cannot tell: the kernel sends it nothing then.
    const Transcript k = onBoth("kp", Where::PoolTop, killPriv, {"mode s6 after other write"});
    EXPECT_EQ("65534:65534 0777", k["mode s1 after owner write"]);
    EXPECT_EQ("65534:65534 0777", k["mode s2 after other write"]);
    EXPECT_EQ("65534:65534 0777", k["mode s3 after other truncate"]);
    EXPECT_EQ("65534:65534 0777", k["mode s4 after other O_TRUNC"]);
    EXPECT_EQ("65534:65534 02767", k["mode s6 after other write"]);  // tmpfs: 0767
    EXPECT_EQ("65534:65534 0777", k["mode s8 after other pwrite"]);
    EXPECT_EQ("65534:65534 06777", k["mode s5 after root write"]);
    EXPECT_EQ("65533:65534 0777", k["mode s7 after root chown"]);
    EXPECT_EQ("datax", k["contents s2"]);
    // What the kernel showed is what the daemon stored: the modes survive a remount.
    std::vector<std::string> before;
    for (int i = 1; i <= 8; ++i) before.push_back(owner(mnt("kp/s" + std::to_string(i))));
    ASSERT_TRUE(mount().remount());
    for (int i = 1; i <= 8; ++i)
        EXPECT_EQ(before[i - 1], owner(mnt("kp/s" + std::to_string(i)))) << "s" << i;
}

// --- control files ----------------------------------------------------------------------------

// Opens a control file for writing (as `echo data > file` does, or without O_TRUNC) and writes
// `data`: the errno of the open or the write.
std::string controlWriteErr(const std::string& path, const std::string& data,
                            int flags = O_WRONLY | O_TRUNC) {
    const int fd = open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return errName(errno);
    const ssize_t n = write(fd, data.data(), data.size());
    const int e = n < 0 ? errno : 0;
    close(fd);
    return errName(e);
}

TEST_F(PermissionTest, ControlFilesOfAnotherUsersPool) {
    const std::string p = makePool("ctl");
    for (int i = 0; i < 4; ++i) ASSERT_EQ(0, writeFile(p + "/e" + std::to_string(i), "x"));
    const std::string capacity = contents(p + "/.size");
    const Transcript k = asUser(kNobody, [&](Transcript& r) {
        for (const char* c : {".policy", ".evict", ".size"}) {
            const std::string f = p + "/" + c;
            r.rc(std::string("open O_WRONLY ") + c, openClose(f, O_WRONLY));
            r.rc(std::string("open O_RDWR ") + c, openClose(f, O_RDWR));
            r.rc(std::string("truncate ") + c, truncate(f.c_str(), 0));
            r.rc(std::string("open O_RDONLY ") + c, openClose(f, O_RDONLY));
        }
        r.add("write .policy", controlWriteErr(p + "/.policy", "fifo\n"));
        r.add("write .evict", controlWriteErr(p + "/.evict", "100\n"));
        r.add("write .size", controlWriteErr(p + "/.size", "1M\n"));
        r.add("read .policy", contents(p + "/.policy"));
        const auto stats = readStats(p + "/.stats");
        r.add(".stats pool", stats.count("pool") ? stats.at("pool") : "<none>");
        r.add(".stats entries", stats.count("entries") ? stats.at("entries") : "<none>");
        const auto [err, answer] = controlWrite(p + "/.match", "e0\ne1\nmissing\ne3\n");
        r.add(".match", errName(err) + " " + answer);
        r.rc("open O_WRONLY .stats", openClose(p + "/.stats", O_WRONLY));
        r.rc("read root .stats", readFile(mnt(".stats")) ? 0 : -1);
        r.rc("read root .metrics", readFile(mnt(".metrics")) ? 0 : -1);
        r.rc("open O_WRONLY root .stats", openClose(mnt(".stats"), O_WRONLY));
        r.rc("unlink .policy", unlink((p + "/.policy").c_str()));
        r.rc("chmod .policy", chmod((p + "/.policy").c_str(), 0666));
    });
    for (const char* c : {".policy", ".evict", ".size"}) {
        EXPECT_EQ("EACCES", k[std::string("open O_WRONLY ") + c]) << c;
        EXPECT_EQ("EACCES", k[std::string("open O_RDWR ") + c]) << c;
        EXPECT_EQ("EACCES", k[std::string("truncate ") + c]) << c;
        EXPECT_EQ("0", k[std::string("open O_RDONLY ") + c]) << c;
    }
    EXPECT_EQ("EACCES", k["write .policy"]);
    EXPECT_EQ("EACCES", k["write .evict"]);
    EXPECT_EQ("EACCES", k["write .size"]);
    EXPECT_EQ("lru ", k["read .policy"]);
    EXPECT_EQ("ctl", k[".stats pool"]);
    EXPECT_EQ("4", k[".stats entries"]);
    EXPECT_EQ("0 2 1101 ", k[".match"]);
    EXPECT_EQ("EACCES", k["open O_WRONLY .stats"]);
    EXPECT_EQ("0", k["read root .stats"]);
    EXPECT_EQ("0", k["read root .metrics"]);
    EXPECT_EQ("EACCES", k["open O_WRONLY root .stats"]);
    EXPECT_EQ("EACCES", k["unlink .policy"]);  // the pool directory is root's 0755
    EXPECT_EQ("EPERM", k["chmod .policy"]);
    // Nothing changed.
    EXPECT_EQ("lru\n", contents(p + "/.policy"));
    EXPECT_EQ(capacity, contents(p + "/.size"));
    const auto stats = readStats(p + "/.stats");
    EXPECT_EQ(4u, statNum(stats, "entries"));
    EXPECT_EQ(0u, statNum(stats, "evictions"));
    EXPECT_EQ(1u, statNum(stats, "match_requests"));

    // A pool whose directory others cannot search hides its control files too.
    ASSERT_EQ(0, errnoOf(chmod(p.c_str(), 0700)));
    const Transcript closed = asUser(kNobody, [&](Transcript& r) {
        r.rc("read .stats of a 0700 pool", readFile(p + "/.stats") ? 0 : -1);
        r.rc("open .match of a 0700 pool", openClose(p + "/.match", O_RDWR));
    });
    EXPECT_EQ("EACCES", closed["read .stats of a 0700 pool"]);
    EXPECT_EQ("EACCES", closed["open .match of a 0700 pool"]);
}

TEST_F(PermissionTest, ChownOfAPoolMovesItsControlFilesToTheNewOwner) {
    const std::string p = makePool("moved");
    ASSERT_EQ(0, writeFile(p + "/e", "x"));
    // Root looks them up first, so the kernel has their attributes cached as root's.
    for (const char* c : {".policy", ".evict", ".size", ".stats", ".match"})
        ASSERT_EQ(0, statErrno(p + "/" + c)) << c;
    ASSERT_EQ(0, errnoOf(chown(p.c_str(), kNobody.uid, kNobody.gid)));
    for (const char* c : {".policy", ".evict", ".size"})
        EXPECT_EQ("65534:65534 0644", owner(p + "/" + c)) << c;
    Transcript k = asUser(kNobody, [&](Transcript& r) {
        r.add("owner writes .policy", controlWriteErr(p + "/.policy", "lfu\n"));
        r.add("owner writes .size", controlWriteErr(p + "/.size", "32M\n"));
        r.add("owner writes .evict", controlWriteErr(p + "/.evict", "100\n"));
    });
    k.append(asUser(kOther, [&](Transcript& r) {
        r.add("other writes .policy", controlWriteErr(p + "/.policy", "fifo\n"));
    }));
    EXPECT_EQ("0", k["owner writes .policy"]);
    EXPECT_EQ("0", k["owner writes .size"]);
    EXPECT_EQ("0", k["owner writes .evict"]);
    EXPECT_EQ("EACCES", k["other writes .policy"]);
    EXPECT_EQ("lfu\n", contents(p + "/.policy"));
    EXPECT_EQ(std::to_string(32 << 20) + "\n", contents(p + "/.size"));
    EXPECT_EQ(ENOENT, statErrno(p + "/e"));

    // The ownership is the pool's: it survives a remount.
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ("65534:65534 0755", owner(p));
    EXPECT_EQ("65534:65534 0644", owner(p + "/.policy"));

    // Taking the pool back takes the control files back at once, although the former owner
    // used them a moment ago and the kernel had their attributes cached (a client that writes
    // without O_TRUNC leaves nothing that would make the kernel fetch them again).
    k = asUser(kNobody, [&](Transcript& r) {
        r.add("owner writes .policy after remount",
              controlWriteErr(p + "/.policy", "fifo\n", O_WRONLY));
        r.rc("owner opens .size after remount", openClose(p + "/.size", O_WRONLY));
        r.rc("owner opens .evict after remount", openClose(p + "/.evict", O_WRONLY));
    });
    EXPECT_EQ("0", k["owner writes .policy after remount"]);
    EXPECT_EQ("0", k["owner opens .size after remount"]);
    EXPECT_EQ("0", k["owner opens .evict after remount"]);
    ASSERT_EQ(0, errnoOf(chown(p.c_str(), 0, 0)));
    k = asUser(kNobody, [&](Transcript& r) {
        r.add("former owner writes .policy", controlWriteErr(p + "/.policy", "sieve\n", O_WRONLY));
        r.add("former owner writes .size", controlWriteErr(p + "/.size", "8M\n", O_WRONLY));
        r.add("former owner writes .evict", controlWriteErr(p + "/.evict", "100\n", O_WRONLY));
    });
    EXPECT_EQ("EACCES", k["former owner writes .policy"]);
    EXPECT_EQ("EACCES", k["former owner writes .size"]);
    EXPECT_EQ("EACCES", k["former owner writes .evict"]);
    for (const char* c : {".policy", ".evict", ".size"})
        EXPECT_EQ("0:0 0644", owner(p + "/" + c)) << c;
    EXPECT_EQ("fifo\n", contents(p + "/.policy"));
    EXPECT_EQ(std::to_string(32 << 20) + "\n", contents(p + "/.size"));
}

TEST_F(PermissionTest, OnlyRootManagesPools) {
    // The mount's root is root's 0755 and keeps that mode: only root creates and removes pools
    // (a difference from a tmpfs root, whose mode and owner root may change).
    makePool("mine");
    ASSERT_EQ(0, errnoOf(chown(mnt("mine").c_str(), kNobody.uid, kNobody.gid)));
    EXPECT_EQ("0:0 0755", owner(mnt()));
    EXPECT_EQ(EPERM, errnoOf(chmod(mnt().c_str(), 01777)));
    EXPECT_EQ(EPERM, errnoOf(chown(mnt().c_str(), kNobody.uid, -1)));
    const Transcript k = asUser(kNobody, [&](Transcript& r) {
        r.rc("mkdir a pool", mkdir(mnt("newpool").c_str(), 0755));
        r.rc("rmdir own empty pool", rmdir(mnt("mine").c_str()));
        r.rc("chmod the mount root", chmod(mnt().c_str(), 0777));
        r.rc("chmod own pool 0700", chmod(mnt("mine").c_str(), 0700));
        r.rc("creat in own pool", openClose(mnt("mine/e"), O_CREAT | O_WRONLY));
        r.add("owner of the entry", owner(mnt("mine/e")));
    });
    EXPECT_EQ("EACCES", k["mkdir a pool"]);
    EXPECT_EQ("EACCES", k["rmdir own empty pool"]);
    EXPECT_EQ("EPERM", k["chmod the mount root"]);
    EXPECT_EQ("0", k["chmod own pool 0700"]);
    EXPECT_EQ("0", k["creat in own pool"]);
    EXPECT_EQ("65534:65534 0644", k["owner of the entry"]);
    EXPECT_EQ(ENOENT, statErrno(mnt("newpool")));
    EXPECT_EQ("65534:65534 0700", owner(mnt("mine")));
    // Pools made by root are root's, with the mode asked for.
    ASSERT_EQ(0, errnoOf(mkdir(mnt("rootpool").c_str(), 0750)));
    EXPECT_EQ("0:0 0750", owner(mnt("rootpool")));
}

// --- names --------------------------------------------------------------------------------

Transcript names(const std::string& b) {
    const std::string n255(255, 'n'), n256(256, 'n'), n1000(1000, 'n'), n1100(1100, 'n');
    Transcript t;
    t.rc("creat f", openClose(b + "/f", O_CREAT | O_WRONLY));
    t.rc("mkdir d", mkdir((b + "/d").c_str(), 0755));
    for (const char* dot : {".", ".."}) {
        const std::string d = dot, p = b + "/" + d;
        t.rc("mkdir " + d, mkdir(p.c_str(), 0755));
        t.rc("creat " + d, openClose(p, O_CREAT | O_WRONLY));
        t.rc("creat O_EXCL " + d, openClose(p, O_CREAT | O_EXCL | O_WRONLY));
        t.rc("mknod " + d, mknod(p.c_str(), S_IFREG | 0644, 0));
        t.rc("link f " + d, link((b + "/f").c_str(), p.c_str()));
        t.rc("rename f " + d, rename((b + "/f").c_str(), p.c_str()));
        t.rc("rename d d/" + d, rename((b + "/d").c_str(), (b + "/d/" + d).c_str()));
        t.rc("renameat2 NOREPLACE f " + d, renameat2Rc(b + "/f", p, RENAME_NOREPLACE));
        t.rc("unlink " + d, unlink(p.c_str()));
        t.rc("rmdir d/" + d, rmdir((b + "/d/" + d).c_str()));
    }
    // Names that merely contain or start with dots are ordinary (".x" is not a control file).
    for (const char* name : {"...", "..x", ".x", "x.", "a..b"}) {
        t.rc(std::string("creat ") + name, openClose(b + "/" + name, O_CREAT | O_WRONLY));
        t.rc(std::string("mkdir d/") + name, mkdir((b + "/d/" + name).c_str(), 0755));
    }
    // Lengths: 255 bytes is the most; the kernel passes names up to 1024 bytes to FUSE, so the
    // daemon refuses 256..1024 itself.
    t.rc("link f 255", link((b + "/f").c_str(), (b + "/" + n255).c_str()));
    t.rc("stat 255", statErrno(b + "/" + n255) == 0 ? 0 : -1);
    for (const auto& [label, n] :
         {std::pair{"256", n256}, std::pair{"1000", n1000}, std::pair{"1100", n1100}}) {
        const std::string l = label, p = b + "/" + n;
        t.rc("creat " + l, openClose(p, O_CREAT | O_WRONLY));
        t.rc("mknod " + l, mknod(p.c_str(), S_IFREG | 0644, 0));
        t.rc("mkdir d/" + l, mkdir((b + "/d/" + n).c_str(), 0755));
        t.rc("link f " + l, link((b + "/f").c_str(), p.c_str()));
        t.rc("rename f " + l, rename((b + "/f").c_str(), p.c_str()));
        t.rc("renameat2 NOREPLACE f " + l, renameat2Rc(b + "/f", p, RENAME_NOREPLACE));
        t.rc("renameat2 EXCHANGE f " + l, renameat2Rc(b + "/f", p, RENAME_EXCHANGE));
        t.rc("stat " + l, statErrno(p) == 0 ? 0 : -1);
        t.rc("unlink " + l, unlink(p.c_str()));
        t.rc("rmdir " + l, rmdir(p.c_str()));
        t.rc("setxattr on " + l, setxattr(p.c_str(), "user.x", "1", 1, 0));
    }
    // Extended attribute names: 255 bytes at most (XATTR_NAME_MAX).
    const std::string x255 = "user." + std::string(250, 'x'), x256 = x255 + "x";
    t.rc("setxattr 255-byte name", setxattr((b + "/f").c_str(), x255.c_str(), "v", 1, 0));
    t.rc("setxattr 256-byte name", setxattr((b + "/f").c_str(), x256.c_str(), "v", 1, 0));
    t.rc("getxattr 256-byte name", getxattr((b + "/f").c_str(), x256.c_str(), nullptr, 0));
    t.rc("removexattr 256-byte name", removexattr((b + "/f").c_str(), x256.c_str()));
    // A path longer than PATH_MAX.
    std::string deep = b;
    while (deep.size() <= PATH_MAX) deep += "/" + n255;
    t.rc("stat a path over PATH_MAX", statErrno(deep) == 0 ? 0 : -1);
    std::vector<std::string> listing;
    for (const auto& e : std::filesystem::directory_iterator(b))
        listing.push_back(e.path().filename().string().size() > 20
                              ? std::to_string(e.path().filename().string().size()) + "-byte name"
                              : e.path().filename().string());
    std::sort(listing.begin(), listing.end());
    std::string all;
    for (const auto& n : listing) all += (all.empty() ? "" : ",") + n;
    t.add("listing", all);
    return t;
}

TEST_F(PermissionTest, DotNamesAndLongNames) {
    for (Where w : {Where::PoolTop, Where::Nested}) {
        SCOPED_TRACE(w == Where::PoolTop ? "at the top of a pool" : "in a directory of a pool");
        const Transcript k = onBoth(w == Where::PoolTop ? "nm" : "nmd", w, names);
        for (const char* step : {"mkdir .", "mkdir ..", "creat O_EXCL .", "creat O_EXCL ..",
                                 "mknod .", "mknod ..", "link f .", "link f .."})
            EXPECT_EQ("EEXIST", k[step]) << step;
        EXPECT_EQ("EISDIR", k["creat ."]);
        EXPECT_EQ("EISDIR", k["creat .."]);
        EXPECT_EQ("EISDIR", k["unlink ."]);
        EXPECT_EQ("EINVAL", k["rmdir d/."]);
        EXPECT_EQ("ENOTEMPTY", k["rmdir d/.."]);
        EXPECT_NE("0", k["rename f ."]);
        EXPECT_NE("0", k["rename d d/.."]);
        for (const char* name : {"...", "..x", ".x", "x.", "a..b"}) {
            EXPECT_EQ("0", k[std::string("creat ") + name]) << name;
            EXPECT_EQ("0", k[std::string("mkdir d/") + name]) << name;
        }
        EXPECT_EQ("0", k["link f 255"]);
        EXPECT_EQ("0", k["stat 255"]);
        for (const char* l : {"256", "1000", "1100"})
            for (const std::string op :
                 {"creat ", "mknod ", "mkdir d/", "link f ", "rename f ", "renameat2 NOREPLACE f ",
                  "renameat2 EXCHANGE f ", "stat ", "unlink ", "rmdir ", "setxattr on "})
                EXPECT_EQ("ENAMETOOLONG", k[op + l]) << op << l;
        EXPECT_EQ("0", k["setxattr 255-byte name"]);
        EXPECT_EQ("ERANGE", k["setxattr 256-byte name"]);
        EXPECT_EQ("ENAMETOOLONG", k["stat a path over PATH_MAX"]);
        EXPECT_EQ("...,..x,.x,255-byte name,a..b,d,f,x.", k["listing"]);
    }
}

TEST_F(PermissionTest, PoolNames) {
    // A pool's name is part of its segment's name, "PREFIX.INSTANCE.NAME" in /dev/shm, which the
    // daemon keeps to 250 bytes (ENAMETOOLONG beyond); pool names are letters, digits, '_', '.'
    // and '-', not starting with '.' (EINVAL otherwise). The fixture's instance is its prefix.
    const size_t longest = 250 - 2 * mount().shmPrefix().size() - 2;
    EXPECT_EQ(0, errnoOf(mkdir(mnt(std::string(longest, 'p')).c_str(), 0755)));
    EXPECT_EQ(0, statErrno(mount().segmentPath(std::string(longest, 'p'))));
    EXPECT_EQ(ENAMETOOLONG, errnoOf(mkdir(mnt(std::string(longest + 1, 'q')).c_str(), 0755)));
    EXPECT_EQ(ENAMETOOLONG, errnoOf(mkdir(mnt(std::string(255, 'q')).c_str(), 0755)));
    EXPECT_EQ(ENAMETOOLONG, statErrno(mnt(std::string(256, 'q'))));
    for (const char* bad : {".hidden", "a b", "a:b", "tab\t", "ü"})
        EXPECT_EQ(EINVAL, errnoOf(mkdir(mnt(bad).c_str(), 0755))) << bad;
    EXPECT_EQ(EEXIST, errnoOf(mkdir(mnt(".").c_str(), 0755)));
    EXPECT_EQ(EEXIST, errnoOf(mkdir(mnt("..").c_str(), 0755)));
    EXPECT_EQ(EEXIST, errnoOf(mkdir(mnt(".stats").c_str(), 0755)));
    for (const char* good : {"a.b", "A-Z_0.9", "x..", "-"})
        EXPECT_EQ(0, errnoOf(mkdir(mnt(good).c_str(), 0755))) << good;
}

// --- documented limits --------------------------------------------------------------------

TEST_F(PermissionTest, XattrLimitsHoldForTheOwner) {
    // README: names up to 255 bytes, values up to 64 KiB (E2BIG), at most 256 attributes and
    // 256 KiB of names and values per entry (ENOSPC); user.kvcache.* are not counted.
    ASSERT_EQ(0, errnoOf(chmod(pool_.c_str(), 0777)));
    const std::string a = pool_ + "/a", b = pool_ + "/b";
    const Transcript k = asUser(kNobody, [&](Transcript& r) {
        writeFile(a, "a");
        writeFile(b, "b");
        auto set = [](const std::string& p, const std::string& n, size_t len, int flags = 0) {
            const std::string v(len, 'v');
            return setxattr(p.c_str(), n.c_str(), v.data(), v.size(), flags);
        };
        int made = 0;
        for (int i = 0; i < 256; ++i) {
            char n[32];
            snprintf(n, sizeof n, "user.a%03d", i);
            made += set(a, n, 1) == 0;
        }
        r.add("attributes made", std::to_string(made));
        r.rc("257th attribute", set(a, "user.one-too-many", 1));
        r.rc("replace an existing one", set(a, "user.a000", 100, XATTR_REPLACE));
        r.rc("user.kvcache.priority beside 256",
             setxattr(a.c_str(), "user.kvcache.priority", "7", 1, 0));
        r.rc("remove one", removexattr(a.c_str(), "user.a001"));
        r.rc("then another fits", set(a, "user.new", 1));
        const ssize_t listed = listxattr(a.c_str(), nullptr, 0);
        r.rc("listxattr size", listed);
        // Names "user.b0".."user.b3" (7 bytes each) and values filling exactly 256 KiB.
        const size_t last = 262144 - 4 * 7 - 3 * 65536;
        for (int i = 0; i < 3; ++i)
            r.rc("64 KiB value " + std::to_string(i), set(b, "user.b" + std::to_string(i), 65536));
        r.rc("last value fills 256 KiB exactly", set(b, "user.b3", last));
        r.rc("one more byte of value", set(b, "user.b3", last + 1));
        r.rc("one more attribute", set(b, "user.c", 0));
        r.rc("a shorter value", set(b, "user.b3", last - 10));
        r.rc("then a small attribute fits", set(b, "user.c", 3));
        r.rc("65537-byte value", set(b, "user.big", 65537));
        char buf[8];
        r.rc(
            "b3 still readable",
            getxattr(b.c_str(), "user.b3", nullptr, 0) == static_cast<ssize_t>(last - 10) ? 0 : -1);
        r.rc("getxattr into small buffer", getxattr(b.c_str(), "user.b0", buf, sizeof buf));
    });
    EXPECT_EQ("256", k["attributes made"]);
    EXPECT_EQ("ENOSPC", k["257th attribute"]);
    EXPECT_EQ("0", k["replace an existing one"]);
    EXPECT_EQ("0", k["user.kvcache.priority beside 256"]);
    EXPECT_EQ("0", k["remove one"]);
    EXPECT_EQ("0", k["then another fits"]);
    EXPECT_EQ("0", k["listxattr size"]);
    for (int i = 0; i < 3; ++i) EXPECT_EQ("0", k["64 KiB value " + std::to_string(i)]);
    EXPECT_EQ("0", k["last value fills 256 KiB exactly"]);
    EXPECT_EQ("ENOSPC", k["one more byte of value"]);
    EXPECT_EQ("ENOSPC", k["one more attribute"]);
    EXPECT_EQ("0", k["a shorter value"]);
    EXPECT_EQ("0", k["then a small attribute fits"]);
    EXPECT_EQ("E2BIG", k["65537-byte value"]);
    EXPECT_EQ("0", k["b3 still readable"]);
    EXPECT_EQ("ERANGE", k["getxattr into small buffer"]);
    // The limits hold across a remount (the attributes live in the segment).
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(ENOSPC, errnoOf(setxattr(a.c_str(), "user.again", "1", 1, 0)));
    EXPECT_EQ(100, getxattr(a.c_str(), "user.a000", nullptr, 0));
}

// A pool of at most 8 entries (-o max_entries has no minimum; the automatic value, used when it
// is 0, is one per block and at least 65536).
class MaxEntriesTest : public MountTest {
  protected:
    std::string options() const override { return "size=1M,max_entries=8"; }
};

TEST_F(MaxEntriesTest, EntriesPerPoolAreLimitedWithENOSPC) {
    const std::string p = makePool("p");
    auto stats = readStats(p + "/.stats");
    EXPECT_EQ(8u, statNum(stats, "max_entries"));
    struct statvfs sv {};
    ASSERT_EQ(0, errnoOf(statvfs(p.c_str(), &sv)));
    EXPECT_EQ(8u, sv.f_files);
    EXPECT_EQ(8u, sv.f_ffree);
    for (int i = 0; i < 8; ++i) ASSERT_EQ(0, writeFile(p + "/e" + std::to_string(i), "x")) << i;
    EXPECT_EQ(ENOSPC, writeFile(p + "/e8", "x"));
    EXPECT_EQ(ENOSPC, errnoOf(mkdir((p + "/d").c_str(), 0755)));
    EXPECT_EQ(ENOSPC, errnoOf(mknod((p + "/m").c_str(), S_IFREG | 0644, 0)));
    // The limit does not evict: all 8 are still there, and nothing else changed.
    stats = readStats(p + "/.stats");
    EXPECT_EQ(8u, statNum(stats, "entries"));
    EXPECT_EQ(0u, statNum(stats, "evictions"));
    for (int i = 0; i < 8; ++i) EXPECT_EQ("x", contents(p + "/e" + std::to_string(i))) << i;
    ASSERT_EQ(0, errnoOf(statvfs(p.c_str(), &sv)));
    EXPECT_EQ(0u, sv.f_ffree);
    // Renames need no new slot.
    EXPECT_EQ(0, errnoOf(rename((p + "/e0").c_str(), (p + "/r0").c_str())));
    EXPECT_EQ(0, errnoOf(rename((p + "/r0").c_str(), (p + "/e0").c_str())));
    // Directories count as entries. An unlinked entry's slot comes back when the kernel forgets
    // the inode, which it tells the daemon a moment after unlink(2) returns: until then a
    // create at the limit is still ENOSPC.
    ASSERT_EQ(0, errnoOf(unlink((p + "/e2").c_str())));
    int mkdir_err = 0;
    EXPECT_TRUE(eventually([&] {
        mkdir_err = errnoOf(mkdir((p + "/d").c_str(), 0755));
        return mkdir_err != ENOSPC;
    })) << "the slot of an unlinked entry did not come back";
    EXPECT_EQ(0, mkdir_err);
    EXPECT_EQ(ENOSPC, writeFile(p + "/d/f", "x"));
    stats = readStats(p + "/.stats");
    EXPECT_EQ(7u, statNum(stats, "entries"));
    EXPECT_EQ(1u, statNum(stats, "directories"));
    // An unlinked entry that is still open keeps its slot until the last close.
    const int fd = open((p + "/e3").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, errnoOf(unlink((p + "/e3").c_str())));
    EXPECT_EQ(ENOSPC, writeFile(p + "/n", "x"));
    close(fd);
    EXPECT_TRUE(eventually([&] { return writeFile(p + "/n", "x") == 0; }))
        << "the slot of a closed, unlinked entry did not come back";
    // Hard links take no entry but a name; names are limited too (ENOSPC), never corrupted.
    int links = 0, err = 0;
    for (; links < 100; ++links) {
        err = errnoOf(link((p + "/e4").c_str(), (p + "/l" + std::to_string(links)).c_str()));
        if (err) break;
    }
    EXPECT_EQ(ENOSPC, err);
    EXPECT_GE(links, 1);
    struct stat st {};
    ASSERT_EQ(0, errnoOf(stat((p + "/e4").c_str(), &st)));
    EXPECT_EQ(static_cast<nlink_t>(links + 1), st.st_nlink);
    // The limit is the pool's: a remount keeps it.
    ASSERT_TRUE(mount().remount());
    EXPECT_EQ(8u, statNum(readStats(p + "/.stats"), "max_entries"));
    EXPECT_EQ(ENOSPC, writeFile(p + "/after", "x"));
    std::printf("  a pool of max_entries=8 took %d hard links beside its 8 entries\n", links);
}

}  // namespace
}  // namespace kvctest
