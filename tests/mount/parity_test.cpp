// POSIX parity: one sequence of namespace and attribute operations runs in a tmpfs directory
// (/dev/shm) and inside a pool; every step's result, errno and observed state must agree. It
// runs as root and again as an unprivileged user (a forked child with uid and gid 65534), for
// whom permission checks and the clearing of setuid bits come into play.
// Symbolic links and special files have a sequence of their own (parity_nodes_test.cpp).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <tuple>

#include "tests/mount/parity.h"

namespace kvctest {
namespace {

// The sequence. `b` is the directory it runs in; every path is relative to it.
std::vector<Step> sequence() {
    auto P = [](const std::string& b, const std::string& rel) { return b + "/" + rel; };
    const std::string n256(256, 'n');
    std::vector<Step> s;
    auto add = [&](std::string what, std::function<Outcome(const std::string&)> f) {
        s.push_back({std::move(what), std::move(f)});
    };
    // --- directories
    add("mkdir d", [=](auto& b) {
        return with(call(mkdir(P(b, "d").c_str(), 0755)),
                    [&] { return std::string(describe(P(b, "d"))); });
    });
    add("mkdir d (exists)", [=](auto& b) { return call(mkdir(P(b, "d").c_str(), 0755)); });
    add("mkdir d/sub", [=](auto& b) { return call(mkdir(P(b, "d/sub").c_str(), 0700)); });
    add("stat d (nlink counts subdirs)",
        [=](auto& b) { return with({}, [&] { return std::string(describe(P(b, "d"))); }); });
    add("mkdir missing/x", [=](auto& b) { return call(mkdir(P(b, "missing/x").c_str(), 0755)); });
    add("mkdir 256-byte name", [=](auto& b) { return call(mkdir(P(b, n256).c_str(), 0755)); });
    add("mkdir m 0751", [=](auto& b) {
        return with(call(mkdir(P(b, "m").c_str(), 0751)),
                    [&] { return std::string(describe(P(b, "m"))); });
    });
    // --- files
    add("creat f", [=](auto& b) {
        return with(openClose(P(b, "f"), O_CREAT | O_WRONLY, 0644),
                    [&] { return std::string(describe(P(b, "f"))); });
    });
    add("open f O_CREAT|O_EXCL",
        [=](auto& b) { return openClose(P(b, "f"), O_CREAT | O_EXCL | O_WRONLY); });
    add("open d O_CREAT|O_EXCL",
        [=](auto& b) { return openClose(P(b, "d"), O_CREAT | O_EXCL | O_WRONLY); });
    add("open missing O_RDONLY", [=](auto& b) { return openClose(P(b, "missing"), O_RDONLY); });
    add("open f/x O_CREAT", [=](auto& b) { return openClose(P(b, "f/x"), O_CREAT | O_WRONLY); });
    add("open missing/x O_CREAT",
        [=](auto& b) { return openClose(P(b, "missing/x"), O_CREAT | O_WRONLY); });
    add("open d O_WRONLY", [=](auto& b) { return openClose(P(b, "d"), O_WRONLY); });
    add("open d O_RDWR|O_CREAT", [=](auto& b) { return openClose(P(b, "d"), O_RDWR | O_CREAT); });
    add("open d O_RDONLY", [=](auto& b) { return openClose(P(b, "d"), O_RDONLY); });
    add("open f O_DIRECTORY",
        [=](auto& b) { return openClose(P(b, "f"), O_RDONLY | O_DIRECTORY); });
    add("open f/ (trailing slash)", [=](auto& b) { return openClose(P(b, "f/"), O_RDONLY); });
    add("open 256-byte name O_CREAT",
        [=](auto& b) { return openClose(P(b, n256), O_CREAT | O_WRONLY); });
    add("creat c 0 mode", [=](auto& b) {
        return with(openClose(P(b, "c"), O_CREAT | O_WRONLY, 0),
                    [&] { return std::string(describe(P(b, "c"))); });
    });
    add("mkdir f (exists as file)", [=](auto& b) { return call(mkdir(P(b, "f").c_str(), 0755)); });
    add("mkdir f/x", [=](auto& b) { return call(mkdir(P(b, "f/x").c_str(), 0755)); });
    // --- data
    add("write f", [=](auto& b) {
        return with(writeAt(P(b, "f"), O_WRONLY | O_TRUNC, -1, "hello world"),
                    [&] { return std::string(contents(P(b, "f"))); });
    });
    add("pwrite f past end (hole)", [=](auto& b) {
        return with(writeAt(P(b, "f"), O_WRONLY, 15, "X"),
                    [&] { return std::string(contents(P(b, "f"))); });
    });
    add("append f", [=](auto& b) {
        return with(writeAt(P(b, "f"), O_WRONLY | O_APPEND, -1, "!"),
                    [&] { return std::string(contents(P(b, "f"))); });
    });
    add("O_TRUNC f", [=](auto& b) {
        return with(openClose(P(b, "f"), O_WRONLY | O_TRUNC),
                    [&] { return std::string(describe(P(b, "f"))); });
    });
    add("write f again", [=](auto& b) {
        return with(writeAt(P(b, "f"), O_WRONLY, -1, "0123456789"),
                    [&] { return std::string(contents(P(b, "f"))); });
    });
    add("write to O_RDONLY fd", [=](auto& b) { return writeAt(P(b, "f"), O_RDONLY, -1, "z"); });
    // --- rmdir / unlink
    add("rmdir f", [=](auto& b) { return call(rmdir(P(b, "f").c_str())); });
    add("rmdir d (not empty)", [=](auto& b) { return call(rmdir(P(b, "d").c_str())); });
    add("rmdir missing", [=](auto& b) { return call(rmdir(P(b, "missing").c_str())); });
    add("rmdir d/sub/.", [=](auto& b) { return call(rmdir(P(b, "d/sub/.").c_str())); });
    add("rmdir d/sub/..", [=](auto& b) { return call(rmdir(P(b, "d/sub/..").c_str())); });
    add("unlink d", [=](auto& b) { return call(unlink(P(b, "d").c_str())); });
    add("unlink missing", [=](auto& b) { return call(unlink(P(b, "missing").c_str())); });
    add("unlink f/x", [=](auto& b) { return call(unlink(P(b, "f/x").c_str())); });
    add("unlink c", [=](auto& b) {
        return with(call(unlink(P(b, "c").c_str())), [&] { return std::string(listing(b)); });
    });
    // --- rename
    add("rename f g", [=](auto& b) {
        return with(call(rename(P(b, "f").c_str(), P(b, "g").c_str())),
                    [&] { return std::string(listing(b)); });
    });
    add("rename f g (gone)",
        [=](auto& b) { return call(rename(P(b, "f").c_str(), P(b, "g").c_str())); });
    add("rename g g", [=](auto& b) {
        return with(call(rename(P(b, "g").c_str(), P(b, "g").c_str())),
                    [&] { return std::string(contents(P(b, "g"))); });
    });
    add("rename d d/sub/x (into itself)",
        [=](auto& b) { return call(rename(P(b, "d").c_str(), P(b, "d/sub/x").c_str())); });
    add("rename d d/sub (onto own child)",
        [=](auto& b) { return call(rename(P(b, "d").c_str(), P(b, "d/sub").c_str())); });
    add("rename d/sub d (onto own parent)",
        [=](auto& b) { return call(rename(P(b, "d/sub").c_str(), P(b, "d").c_str())); });
    add("mkdir e", [=](auto& b) { return call(mkdir(P(b, "e").c_str(), 0755)); });
    add("rename g e (file onto dir)",
        [=](auto& b) { return call(rename(P(b, "g").c_str(), P(b, "e").c_str())); });
    add("rename e g (dir onto file)",
        [=](auto& b) { return call(rename(P(b, "e").c_str(), P(b, "g").c_str())); });
    add("rename e d (onto non-empty dir)",
        [=](auto& b) { return call(rename(P(b, "e").c_str(), P(b, "d").c_str())); });
    add("rename d/sub e (onto empty dir)", [=](auto& b) {
        return with(call(rename(P(b, "d/sub").c_str(), P(b, "e").c_str())),
                    [&] { return std::string(listing(b) + " d:" + listing(P(b, "d"))); });
    });
    add("rename missing x",
        [=](auto& b) { return call(rename(P(b, "missing").c_str(), P(b, "x").c_str())); });
    add("rename g missing/x",
        [=](auto& b) { return call(rename(P(b, "g").c_str(), P(b, "missing/x").c_str())); });
    add("rename g g/x",
        [=](auto& b) { return call(rename(P(b, "g").c_str(), P(b, "g/x").c_str())); });
    add("rename g 256-byte name",
        [=](auto& b) { return call(rename(P(b, "g").c_str(), P(b, n256).c_str())); });
    add("rename g d/g2 (into subdir)", [=](auto& b) {
        return with(call(rename(P(b, "g").c_str(), P(b, "d/g2").c_str())),
                    [&] { return std::string(listing(P(b, "d"))); });
    });
    add("rename d/g2 g (back)", [=](auto& b) {
        return with(call(rename(P(b, "d/g2").c_str(), P(b, "g").c_str())),
                    [&] { return std::string(contents(P(b, "g"))); });
    });
    add("creat k", [=](auto& b) {
        return with(writeAt(P(b, "k"), O_CREAT | O_WRONLY, -1, "kk"),
                    [&] { return std::string({}); });
    });
    add("renameat2 NOREPLACE g k", [=](auto& b) {
        return with(renameat2(P(b, "g"), P(b, "k"), RENAME_NOREPLACE),
                    [&] { return std::string(contents(P(b, "k"))); });
    });
    add("renameat2 NOREPLACE g n", [=](auto& b) {
        return with(renameat2(P(b, "g"), P(b, "n"), RENAME_NOREPLACE),
                    [&] { return std::string(listing(b)); });
    });
    add("renameat2 EXCHANGE n missing",
        [=](auto& b) { return renameat2(P(b, "n"), P(b, "missing"), RENAME_EXCHANGE); });
    add("renameat2 EXCHANGE n k", [=](auto& b) {
        return with(renameat2(P(b, "n"), P(b, "k"), RENAME_EXCHANGE),
                    [&] { return std::string(contents(P(b, "n")) + contents(P(b, "k"))); });
    });
    add("renameat2 EXCHANGE k e (file/dir)", [=](auto& b) {
        return with(renameat2(P(b, "k"), P(b, "e"), RENAME_EXCHANGE),
                    [&] { return std::string(describe(P(b, "k")) + " " + describe(P(b, "e"))); });
    });
    add("renameat2 EXCHANGE e k (back)",
        [=](auto& b) { return renameat2(P(b, "e"), P(b, "k"), RENAME_EXCHANGE); });
    add("renameat2 both flags", [=](auto& b) {
        return renameat2(P(b, "n"), P(b, "k"), RENAME_EXCHANGE | RENAME_NOREPLACE);
    });
    add("renameat2 unknown flag",
        [=](auto& b) { return renameat2(P(b, "n"), P(b, "k2"), 1u << 7); });
    // --- links
    add("link n h", [=](auto& b) {
        return with(call(link(P(b, "n").c_str(), P(b, "h").c_str())),
                    [&] { return std::string(describe(P(b, "n"))); });
    });
    add("link n h (exists)",
        [=](auto& b) { return call(link(P(b, "n").c_str(), P(b, "h").c_str())); });
    add("link d dl (directory)",
        [=](auto& b) { return call(link(P(b, "d").c_str(), P(b, "dl").c_str())); });
    add("link missing x",
        [=](auto& b) { return call(link(P(b, "missing").c_str(), P(b, "x").c_str())); });
    add("link n missing/x",
        [=](auto& b) { return call(link(P(b, "n").c_str(), P(b, "missing/x").c_str())); });
    add("link n d/h2", [=](auto& b) {
        return with(call(link(P(b, "n").c_str(), P(b, "d/h2").c_str())),
                    [&] { return std::string(describe(P(b, "h"))); });
    });
    add("rename n h (same inode)", [=](auto& b) {
        return with(call(rename(P(b, "n").c_str(), P(b, "h").c_str())),
                    [&] { return std::string(listing(b)); });
    });
    add("unlink d/h2", [=](auto& b) {
        return with(call(unlink(P(b, "d/h2").c_str())),
                    [&] { return std::string(describe(P(b, "h"))); });
    });
    add("rename h over k (last link of k)", [=](auto& b) {
        return with(call(rename(P(b, "h").c_str(), P(b, "k").c_str())),
                    [&] { return std::string(describe(P(b, "k")) + describe(P(b, "n"))); });
    });
    // --- attributes
    add("chmod k 0600", [=](auto& b) {
        return with(call(chmod(P(b, "k").c_str(), 0600)),
                    [&] { return std::string(describe(P(b, "k"))); });
    });
    add("chmod k 04755", [=](auto& b) {
        return with(call(chmod(P(b, "k").c_str(), 04755)),
                    [&] { return std::string(describe(P(b, "k"))); });
    });
    add("chmod d 0700", [=](auto& b) {
        return with(call(chmod(P(b, "d").c_str(), 0700)),
                    [&] { return std::string(describe(P(b, "d"))); });
    });
    add("chmod missing", [=](auto& b) { return call(chmod(P(b, "missing").c_str(), 0600)); });
    add("chown k 1000:1000", [=](auto& b) {
        return with(call(chown(P(b, "k").c_str(), 1000, 1000)),
                    [&] { return std::string(describe(P(b, "k"))); });
    });
    add("chown k -1:2000", [=](auto& b) {
        return with(call(chown(P(b, "k").c_str(), -1, 2000)),
                    [&] { return std::string(describe(P(b, "k"))); });
    });
    add("truncate k 100", [=](auto& b) {
        return with(call(truncate(P(b, "k").c_str(), 100)),
                    [&] { return std::string(describe(P(b, "k"))); });
    });
    add("truncate k 3", [=](auto& b) {
        return with(call(truncate(P(b, "k").c_str(), 3)),
                    [&] { return std::string(contents(P(b, "k"))); });
    });
    add("truncate d", [=](auto& b) { return call(truncate(P(b, "d").c_str(), 0)); });
    add("truncate missing", [=](auto& b) { return call(truncate(P(b, "missing").c_str(), 0)); });
    add("truncate k -1", [=](auto& b) { return call(truncate(P(b, "k").c_str(), -1)); });
    add("ftruncate O_RDONLY fd", [=](auto& b) {
        const int fd = open(P(b, "k").c_str(), O_RDONLY);
        Outcome o = call(ftruncate(fd, 0));
        close(fd);
        return o;
    });
    // fallocate(2) mode 0, on an open descriptor: grows with zeros, never shrinks.
    auto falloc = [](const std::string& path, int flags, off_t off, off_t len) {
        const int fd = open(path.c_str(), flags | O_CLOEXEC);
        Outcome o = call(fallocate(fd, 0, off, len));
        close(fd);
        return o;
    };
    add("fallocate k 5 10000", [=](auto& b) {
        return with(falloc(P(b, "k"), O_WRONLY, 5, 10000),
                    [&] { return describe(P(b, "k")) + " " + contents(P(b, "k")); });
    });
    add("fallocate k 0 1", [=](auto& b) {
        return with(falloc(P(b, "k"), O_RDWR, 0, 1),
                    [&] { return describe(P(b, "k")) + " " + contents(P(b, "k")); });
    });
    add("fallocate O_RDONLY fd", [=](auto& b) { return falloc(P(b, "k"), O_RDONLY, 0, 4096); });
    add("fallocate k len 0", [=](auto& b) { return falloc(P(b, "k"), O_WRONLY, 0, 0); });
    add("utimensat k", [=](auto& b) {
        const timespec t[2] = {{1111, 222}, {3333, 444}};
        return with(call(utimensat(AT_FDCWD, P(b, "k").c_str(), t, 0)),
                    [&] { return std::string(times(P(b, "k"))); });
    });
    add("utimensat k OMIT/set", [=](auto& b) {
        const timespec t[2] = {{0, UTIME_OMIT}, {5555, 666}};
        return with(call(utimensat(AT_FDCWD, P(b, "k").c_str(), t, 0)),
                    [&] { return std::string(times(P(b, "k"))); });
    });
    add("utimensat d", [=](auto& b) {
        const timespec t[2] = {{7777, 0}, {8888, 0}};
        return with(call(utimensat(AT_FDCWD, P(b, "d").c_str(), t, 0)),
                    [&] { return std::string(times(P(b, "d"))); });
    });
    add("utimensat missing", [=](auto& b) {
        const timespec t[2] = {{1, 0}, {1, 0}};
        return call(utimensat(AT_FDCWD, P(b, "missing").c_str(), t, 0));
    });
    add("utimensat bad nsec", [=](auto& b) {
        const timespec t[2] = {{1, 2000000000}, {1, 0}};
        return call(utimensat(AT_FDCWD, P(b, "k").c_str(), t, 0));
    });
    // --- open files and removed names
    add("unlink open file, fstat", [=](auto& b) {
        writeFile(P(b, "o"), "open data");
        const int fd = open(P(b, "o").c_str(), O_RDWR);
        Outcome o = call(unlink(P(b, "o").c_str()));
        struct stat st {};
        fstat(fd, &st);
        char buf[32] = {};
        const ssize_t n = pread(fd, buf, sizeof buf, 0);
        close(fd);
        o.state =
            "nlink=" + std::to_string(st.st_nlink) + " read=" + std::string(buf, n > 0 ? n : 0);
        return o;
    });
    add("rmdir dir holding only an unlinked open file", [=](auto& b) {
        mkdir(P(b, "r").c_str(), 0755);
        writeFile(P(b, "r/f"), "x");
        const int fd = open(P(b, "r/f").c_str(), O_RDONLY);
        unlink(P(b, "r/f").c_str());
        Outcome o = call(rmdir(P(b, "r").c_str()));
        close(fd);
        return o;
    });
    add("create in a removed directory", [=](auto& b) {
        mkdir(P(b, "gone").c_str(), 0755);
        const int dfd = open(P(b, "gone").c_str(), O_RDONLY | O_DIRECTORY);
        rmdir(P(b, "gone").c_str());
        const int fd = openat(dfd, "x", O_CREAT | O_WRONLY, 0644);
        Outcome o = call(fd);
        if (fd >= 0) close(fd);
        o.state = "mkdirat:" + errName(mkdirat(dfd, "y", 0755) == 0 ? 0 : errno);
        close(dfd);
        return o;
    });
    add("rename dir d to d2", [=](auto& b) {
        return with(call(rename(P(b, "d").c_str(), P(b, "d2").c_str())),
                    [&] { return std::string(describe(P(b, "d2"))); });
    });
    add("rename . x", [=](auto& b) { return call(rename(P(b, ".").c_str(), P(b, "x").c_str())); });
    add("rename k ..",
        [=](auto& b) { return call(rename(P(b, "k").c_str(), P(b, "..").c_str())); });
    add("final listing", [=](auto& b) {
        return with({}, [&] { return std::string(listing(b) + " d2:" + listing(P(b, "d2"))); });
    });
    add("final stats", [=](auto& b) {
        return with({}, [&] {
            return std::string(describe(P(b, "d2")) + "; " + describe(P(b, "e")) + "; " +
                               describe(P(b, "k")) + "; " + describe(P(b, "m")));
        });
    });
    return s;
}

TEST_F(ParityTest, SameResultsAsTmpfsAtPoolTop) {
    expectParity(sequence(), 40, tmpfs_dir_, makePool("parity"));
}

TEST_F(ParityTest, SameResultsAsTmpfsInNestedDirectory) {
    const std::string pool = makePool("parity");
    for (const std::string& base : {tmpfs_dir_, pool}) {
        ASSERT_EQ(0, errnoOf(mkdir((base + "/a").c_str(), 0755)));
        ASSERT_EQ(0, errnoOf(mkdir((base + "/a/b").c_str(), 0755)));
    }
    expectParity(sequence(), 40, tmpfs_dir_ + "/a/b", pool + "/a/b");
}

// The same sequence by an unprivileged user in a directory it owns: chown and chgrp to ids it
// does not have fail (EPERM), truncate and writes clear the setuid bit that chmod set.
TEST_F(ParityTest, SameResultsAsTmpfsAsUnprivilegedUser) {
    constexpr uid_t kNobody = 65534;
    const auto [tmpfs, pool] = ownedDirs(makePool("parity"), kNobody);
    ASSERT_FALSE(HasFailure());
    expectParity(sequence(), 40, tmpfs, pool, kNobody);
}

}  // namespace
}  // namespace kvctest
