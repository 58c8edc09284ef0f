// POSIX parity for symbolic links and special files (FIFOs, sockets, device nodes): one sequence
// runs in a tmpfs directory and inside a pool, as root and as an unprivileged user, and every
// step's result, errno and observed state must agree (tests/mount/parity.h). It covers each
// type's creation, chmod, chown, link, rename over and by each type, rmdir of a directory holding
// them, unlink, utimensat, open with O_NOFOLLOW and O_NONBLOCK, ELOOP, and a UNIX socket that
// is bound, connected and opened. Opening a device node is left out: tmpfs in /dev/shm allows
// it, a pool is mounted nodev (mount_test: DeviceNodesOpenNothing).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/mount/parity.h"

namespace kvctest {
namespace {

// A path's access and modification times, not following a link.
std::string ltimes(const std::string& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return std::string("lstat:") + errName(errno);
    return std::to_string(st.st_atim.tv_sec) + "." + std::to_string(st.st_atim.tv_nsec) + "/" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::string linkTarget(const std::string& p) {
    char buf[8192];
    const ssize_t n = readlink(p.c_str(), buf, sizeof buf);
    if (n < 0) return "readlink:" + errName(errno);
    return "->" + std::string(buf, std::min<size_t>(n, 64)) + " (" + std::to_string(n) + ")";
}

Outcome makeNode(const std::string& p, mode_t mode, dev_t dev = 0) {
    return with(call(mknod(p.c_str(), mode, dev)), [&] { return describe(p); });
}

// bind(2) makes a socket node; a client connects through the name.
Outcome bindAndConnect(const std::string& p) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (p.size() >= sizeof addr.sun_path) return Outcome{-1, ENAMETOOLONG, ""};
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    const int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Outcome o = call(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    listen(srv, 1);
    const int cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int rc = connect(cli, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    o.state = describe(p) + " connect:" + (rc == 0 ? std::string("ok") : errName(errno));
    close(cli);
    close(srv);
    return o;
}

std::vector<Step> nodeSequence() {
    auto P = [](const std::string& b, const std::string& rel) { return b + "/" + rel; };
    std::vector<Step> s;
    auto add = [&](std::string what, std::function<Outcome(const std::string&)> f) {
        s.push_back({std::move(what), std::move(f)});
    };
    add("setup k and d", [=](auto& b) {
        writeFile(P(b, "k"), "data");
        return call(mkdir(P(b, "d").c_str(), 0755));
    });
    // --- symbolic links
    add("symlink k sl", [=](auto& b) {
        return with(call(symlink("k", P(b, "sl").c_str())),
                    [&] { return describe(P(b, "sl")) + " " + linkTarget(P(b, "sl")); });
    });
    add("symlink sl (exists)", [=](auto& b) { return call(symlink("x", P(b, "sl").c_str())); });
    add("symlink k (file exists)", [=](auto& b) { return call(symlink("x", P(b, "k").c_str())); });
    add("symlink empty target", [=](auto& b) { return call(symlink("", P(b, "e0").c_str())); });
    add("symlink 4095-byte target", [=](auto& b) {
        const std::string t(4095, 't');
        return with(call(symlink(t.c_str(), P(b, "long").c_str())),
                    [&] { return describe(P(b, "long")) + " " + linkTarget(P(b, "long")); });
    });
    add("symlink 4096-byte target", [=](auto& b) {
        const std::string t(4096, 't');
        return call(symlink(t.c_str(), P(b, "long2").c_str()));
    });
    add("symlink in missing dir",
        [=](auto& b) { return call(symlink("k", P(b, "no/sl").c_str())); });
    add("readlink k (a file)",
        [=](auto& b) { return with({}, [&] { return linkTarget(P(b, "k")); }); });
    add("readlink short buffer", [=](auto& b) {
        char c[2] = {};
        Outcome o = call(readlink(P(b, "long").c_str(), c, 1));
        if (o.rc == 0) o.state = std::string(c, 1);
        return o;
    });
    add("read through sl", [=](auto& b) { return with({}, [&] { return contents(P(b, "sl")); }); });
    add("write through sl", [=](auto& b) {
        return with(writeAt(P(b, "sl"), O_WRONLY | O_TRUNC, -1, "via link"),
                    [&] { return contents(P(b, "k")) + " " + describe(P(b, "sl")); });
    });
    add("open sl O_NOFOLLOW",
        [=](auto& b) { return openClose(P(b, "sl"), O_RDONLY | O_NOFOLLOW); });
    add("open sl O_PATH|O_NOFOLLOW", [=](auto& b) {
        const int fd = open(P(b, "sl").c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        Outcome o = call(fd);
        struct stat st {};
        if (fd >= 0) {
            fstat(fd, &st);
            o.state = S_ISLNK(st.st_mode) ? "link" : "not a link";
            close(fd);
        }
        return o;
    });
    add("symlink dangling", [=](auto& b) { return call(symlink("made", P(b, "dang").c_str())); });
    add("open dangling O_RDONLY", [=](auto& b) { return openClose(P(b, "dang"), O_RDONLY); });
    add("open dangling O_CREAT|O_EXCL",
        [=](auto& b) { return openClose(P(b, "dang"), O_CREAT | O_EXCL | O_WRONLY); });
    add("open dangling O_CREAT (makes the target)", [=](auto& b) {
        return with(openClose(P(b, "dang"), O_CREAT | O_WRONLY, 0640),
                    [&] { return listing(b) + " " + describe(P(b, "made")); });
    });
    add("symlink loop l1 l2", [=](auto& b) {
        symlink("l2", P(b, "l1").c_str());
        return call(symlink("l1", P(b, "l2").c_str()));
    });
    add("open l1 (loop)", [=](auto& b) { return openClose(P(b, "l1"), O_RDONLY); });
    add("stat l1 (loop)", [=](auto& b) {
        struct stat st {};
        return call(stat(P(b, "l1").c_str(), &st));
    });
    add("mkdir through l1 (loop)",
        [=](auto& b) { return call(mkdir(P(b, "l1/x").c_str(), 0755)); });
    add("symlink self", [=](auto& b) {
        symlink("self", P(b, "self").c_str());
        return call(access(P(b, "self").c_str(), F_OK));
    });
    add("symlink to dir, create inside", [=](auto& b) {
        symlink("d", P(b, "dl").c_str());
        return with(openClose(P(b, "dl/x"), O_CREAT | O_WRONLY),
                    [&] { return listing(P(b, "d")) + " " + describe(P(b, "dl/")); });
    });
    add("rmdir dl (a link)", [=](auto& b) { return call(rmdir(P(b, "dl").c_str())); });
    add("unlink dl/ (trailing slash)", [=](auto& b) { return call(unlink(P(b, "dl/").c_str())); });
    add("lchown sl 1000:1000", [=](auto& b) {
        return with(call(lchown(P(b, "sl").c_str(), 1000, 1000)),
                    [&] { return describe(P(b, "sl")) + " " + describe(P(b, "k")); });
    });
    add("lchown sl -1:-1", [=](auto& b) { return call(lchown(P(b, "sl").c_str(), -1, -1)); });
    add("chmod through sl", [=](auto& b) {
        return with(call(chmod(P(b, "sl").c_str(), 0600)),
                    [&] { return describe(P(b, "sl")) + " " + describe(P(b, "k")); });
    });
    add("utimensat sl AT_SYMLINK_NOFOLLOW", [=](auto& b) {
        const timespec t[2] = {{1111, 222}, {3333, 444}};
        return with(call(utimensat(AT_FDCWD, P(b, "sl").c_str(), t, AT_SYMLINK_NOFOLLOW)),
                    [&] { return ltimes(P(b, "sl")); });
    });
    add("utimensat through sl", [=](auto& b) {
        const timespec t[2] = {{5555, 0}, {6666, 0}};
        return with(call(utimensat(AT_FDCWD, P(b, "sl").c_str(), t, 0)),
                    [&] { return ltimes(P(b, "k")); });
    });
    add("link sl sl2 (the link itself)", [=](auto& b) {
        return with(call(link(P(b, "sl").c_str(), P(b, "sl2").c_str())),
                    [&] { return describe(P(b, "sl2")); });
    });
    add("linkat sl kf AT_SYMLINK_FOLLOW", [=](auto& b) {
        return with(call(linkat(AT_FDCWD, P(b, "sl").c_str(), AT_FDCWD, P(b, "kf").c_str(),
                                AT_SYMLINK_FOLLOW)),
                    [&] { return describe(P(b, "kf")); });
    });
    add("rename sl2 over file v", [=](auto& b) {
        writeFile(P(b, "v"), "victim");
        return with(call(rename(P(b, "sl2").c_str(), P(b, "v").c_str())),
                    [&] { return describe(P(b, "v")) + " " + describe(P(b, "sl")); });
    });
    add("rename d over link v",
        [=](auto& b) { return call(rename(P(b, "d").c_str(), P(b, "v").c_str())); });
    add("rename link v over d",
        [=](auto& b) { return call(rename(P(b, "v").c_str(), P(b, "d").c_str())); });
    add("rename file kf over link v", [=](auto& b) {
        return with(call(rename(P(b, "kf").c_str(), P(b, "v").c_str())),
                    [&] { return describe(P(b, "v")) + " " + contents(P(b, "v")); });
    });
    add("renameat2 EXCHANGE sl dl", [=](auto& b) {
        return with(renameat2(P(b, "sl"), P(b, "dl"), RENAME_EXCHANGE),
                    [&] { return linkTarget(P(b, "sl")) + " " + linkTarget(P(b, "dl")); });
    });
    add("lsetxattr user.x on a link",
        [=](auto& b) { return call(lsetxattr(P(b, "sl").c_str(), "user.x", "1", 1, 0)); });
    add("lgetxattr user.x on a link", [=](auto& b) {
        char v[8];
        return call(lgetxattr(P(b, "sl").c_str(), "user.x", v, sizeof v));
    });
    add("unlink sl", [=](auto& b) {
        return with(call(unlink(P(b, "sl").c_str())), [&] { return listing(b); });
    });
    // --- FIFOs
    add("mkfifo p 0640", [=](auto& b) { return makeNode(P(b, "p"), S_IFIFO | 0640); });
    add("mkfifo p (exists)", [=](auto& b) { return call(mkfifo(P(b, "p").c_str(), 0640)); });
    add("open p O_WRONLY|O_NONBLOCK (no reader)",
        [=](auto& b) { return openClose(P(b, "p"), O_WRONLY | O_NONBLOCK); });
    add("open p O_RDONLY|O_NONBLOCK",
        [=](auto& b) { return openClose(P(b, "p"), O_RDONLY | O_NONBLOCK); });
    add("p carries bytes", [=](auto& b) {
        const int r = open(P(b, "p").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        const int w = open(P(b, "p").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        Outcome o = call(w < 0 ? -1 : write(w, "pipe", 4));
        char buf[8] = {};
        const ssize_t n = r < 0 ? -1 : read(r, buf, sizeof buf);
        o.state = "read=" + std::string(buf, n > 0 ? n : 0) + " " + describe(P(b, "p"));
        if (r >= 0) close(r);
        if (w >= 0) close(w);
        return o;
    });
    add("open p O_NOFOLLOW|O_RDONLY|O_NONBLOCK",
        [=](auto& b) { return openClose(P(b, "p"), O_RDONLY | O_NONBLOCK | O_NOFOLLOW); });
    add("chmod p 0600", [=](auto& b) {
        return with(call(chmod(P(b, "p").c_str(), 0600)), [&] { return describe(P(b, "p")); });
    });
    add("chown p 1000:1000", [=](auto& b) {
        return with(call(chown(P(b, "p").c_str(), 1000, 1000)),
                    [&] { return describe(P(b, "p")); });
    });
    add("chown p to own ids", [=](auto& b) {
        return with(call(chown(P(b, "p").c_str(), geteuid(), getegid())),
                    [&] { return describe(P(b, "p")); });
    });
    add("utimensat p", [=](auto& b) {
        const timespec t[2] = {{7777, 1}, {8888, 2}};
        return with(call(utimensat(AT_FDCWD, P(b, "p").c_str(), t, 0)),
                    [&] { return ltimes(P(b, "p")); });
    });
    add("truncate p", [=](auto& b) { return call(truncate(P(b, "p").c_str(), 0)); });
    add("setxattr user.x on p",
        [=](auto& b) { return call(setxattr(P(b, "p").c_str(), "user.x", "1", 1, 0)); });
    add("link p p2", [=](auto& b) {
        return with(call(link(P(b, "p").c_str(), P(b, "p2").c_str())),
                    [&] { return describe(P(b, "p2")); });
    });
    add("rename p2 over file k", [=](auto& b) {
        return with(call(rename(P(b, "p2").c_str(), P(b, "k").c_str())),
                    [&] { return describe(P(b, "k")) + " " + describe(P(b, "p")); });
    });
    // --- sockets
    add("mknod S_IFSOCK s", [=](auto& b) { return makeNode(P(b, "s"), S_IFSOCK | 0644); });
    add("open s O_RDONLY", [=](auto& b) { return openClose(P(b, "s"), O_RDONLY); });
    add("bind srv and connect", [=](auto& b) { return bindAndConnect(P(b, "srv")); });
    add("bind srv again (exists)", [=](auto& b) { return bindAndConnect(P(b, "srv")); });
    add("rename s over fifo p", [=](auto& b) {
        return with(call(rename(P(b, "s").c_str(), P(b, "p").c_str())),
                    [&] { return describe(P(b, "p")) + " " + listing(b); });
    });
    // --- device nodes and mknod's other types
    add("mknod chr c 1:3",
        [=](auto& b) { return makeNode(P(b, "c"), S_IFCHR | 0644, makedev(1, 3)); });
    add("mknod blk bd 8:1",
        [=](auto& b) { return makeNode(P(b, "bd"), S_IFBLK | 0600, makedev(8, 1)); });
    add("mknod S_IFREG r", [=](auto& b) { return makeNode(P(b, "r"), S_IFREG | 0640); });
    add("mknod mode 0 (a file)", [=](auto& b) { return makeNode(P(b, "r0"), 0644); });
    add("mknod S_IFDIR", [=](auto& b) { return makeNode(P(b, "dd"), S_IFDIR | 0755); });
    add("mknod bad type", [=](auto& b) { return makeNode(P(b, "bt"), 0170000 | 0644); });
    add("chmod c 0600", [=](auto& b) {
        return with(call(chmod(P(b, "c").c_str(), 0600)), [&] { return describe(P(b, "c")); });
    });
    add("rename file r over c", [=](auto& b) {
        return with(call(rename(P(b, "r").c_str(), P(b, "c").c_str())),
                    [&] { return describe(P(b, "c")); });
    });
    // --- another user's nodes (made by root before an unprivileged run; absent, ENOENT, in
    // the others): the owner's rights are needed for chmod, chown and setting times, write
    // permission for touching them to now, the directory's for removing them.
    add("others' nodes: chmod, chown, times, remove", [=](auto& b) {
        std::string seen;
        auto rc = [&](long r) { seen += errName(r == 0 ? 0 : errno) + " "; };
        const timespec t[2] = {{1, 0}, {2, 0}};
        for (const char* n : {"root-fifo", "root-sock", "root-chr"}) {
            rc(chmod(P(b, n).c_str(), 0600));
            rc(chown(P(b, n).c_str(), geteuid(), getegid()));
            rc(utimensat(AT_FDCWD, P(b, n).c_str(), t, 0));
            rc(utimensat(AT_FDCWD, P(b, n).c_str(), nullptr, 0));
        }
        rc(lchown(P(b, "root-link").c_str(), geteuid(), getegid()));
        rc(utimensat(AT_FDCWD, P(b, "root-link").c_str(), t, AT_SYMLINK_NOFOLLOW));
        Outcome o = call(unlink(P(b, "root-link").c_str()));
        o.state = seen + describe(P(b, "root-fifo"));
        return o;
    });
    // --- a directory holding every type
    add("rmdir of a directory holding each type", [=](auto& b) {
        mkdir(P(b, "all").c_str(), 0755);
        symlink("x", P(b, "all/l").c_str());
        mkfifo(P(b, "all/p").c_str(), 0644);
        mknod(P(b, "all/s").c_str(), S_IFSOCK | 0644, 0);
        std::string seen;
        for (const char* n : {"l", "p", "s"}) {
            const std::string path = P(b, "all/") + n;
            seen += errName(rmdir(P(b, "all").c_str()) == 0 ? 0 : errno) + " ";
            seen += errName(rmdir(path.c_str()) == 0 ? 0 : errno) + " ";
            unlink(path.c_str());
        }
        Outcome o = call(rmdir(P(b, "all").c_str()));
        o.state = seen;
        return o;
    });
    add("final listing", [=](auto& b) { return with({}, [&] { return listing(b); }); });
    add("final stats", [=](auto& b) {
        return with({}, [&] {
            std::string out;
            for (const char* n : {"k", "p", "dl", "dang", "made", "long", "v", "c", "bd", "r0"})
                out += std::string(n) + ":" + describe(P(b, n)) + "; ";
            return out;
        });
    });
    return s;
}

using ParityNodesTest = ParityTest;

TEST_F(ParityNodesTest, SameResultsAsTmpfsAtPoolTop) {
    expectParity(nodeSequence(), 15, tmpfs_dir_, makePool("parity"));
}

TEST_F(ParityNodesTest, SameResultsAsTmpfsInNestedDirectory) {
    const std::string pool = makePool("parity");
    for (const std::string& base : {tmpfs_dir_, pool})
        ASSERT_EQ(0, errnoOf(mkdir((base + "/a").c_str(), 0755)));
    expectParity(nodeSequence(), 15, tmpfs_dir_ + "/a", pool + "/a");
}

// As an unprivileged user in a directory it owns: device nodes and chown to other ids are
// refused (EPERM) on both.
TEST_F(ParityNodesTest, SameResultsAsTmpfsAsUnprivilegedUser) {
    constexpr uid_t kNobody = 65534;
    const auto [tmpfs, pool] = ownedDirs(makePool("parity"), kNobody);
    ASSERT_FALSE(HasFailure());
    // Root's nodes in the user's directory.
    for (const std::string& base : {tmpfs, pool}) {
        ASSERT_EQ(0, errnoOf(mkfifo((base + "/root-fifo").c_str(), 0666)));
        ASSERT_EQ(0, errnoOf(mknod((base + "/root-sock").c_str(), S_IFSOCK | 0644, 0)));
        ASSERT_EQ(0, errnoOf(mknod((base + "/root-chr").c_str(), S_IFCHR | 0600, makedev(1, 3))));
        ASSERT_EQ(0, errnoOf(symlink("x", (base + "/root-link").c_str())));
    }
    expectParity(nodeSequence(), 20, tmpfs, pool, kNobody);
}

}  // namespace
}  // namespace kvctest
