// Ordinary tools against a pool, compared with tmpfs: `cp -a`, `tar` (with --xattrs), `rsync
// -aHX` and `mv` copy a tree holding every node type (directories, entries with user.*
// attributes and odd modes, hard links, relative, absolute and dangling symbolic links, a FIFO,
// a socket, device nodes, an empty and a sparse file) into a pool and out of one. Each run on a
// pool must end as the same run on tmpfs does: the same exit status, the same messages, and the
// same tree as describeTree() sees it (types, modes, owners, sizes, devices, hard links, times,
// targets, bytes, attributes, and whether a file has holes).
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "tests/mount/tree_fingerprint.h"

namespace kvctest {
namespace {

struct ToolRun {
    int status = -1;
    std::string output;
};

// `cmd` through /bin/sh, with SRC and DST replaced by the paths given; the output has them
// replaced back, so that runs in two places compare.
ToolRun shell(std::string cmd, const std::string& src, const std::string& dst) {
    auto replace = [](std::string s, const std::string& from, const std::string& to) {
        for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
            s.replace(at, from.size(), to);
        return s;
    };
    cmd = replace(replace(std::move(cmd), "SRC", src), "DST", dst);
    ToolRun r;
    r.status = runProgram({"/bin/sh", "-c", cmd}, &r.output, 120000);
    r.output = replace(replace(r.output, dst, "DST"), src, "SRC");
    return r;
}

class ToolsTest : public MountTest {
  protected:
    void SetUp() override {
        MountTest::SetUp();
        if (HasFatalFailure()) return;
        char tmpl[] = "/dev/shm/kvctools.XXXXXX";
        ASSERT_NE(nullptr, mkdtemp(tmpl));
        tmpfs_ = tmpl;
        pool_ = makePool("tools");
        ASSERT_NO_FATAL_FAILURE(makeTree(tmpfs_ + "/src"));
    }
    void TearDown() override {
        if (!tmpfs_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(tmpfs_, ec);
        }
        MountTest::TearDown();
    }

    // The tree every tool copies.
    static void makeTree(const std::string& t) {
        auto ok = [](long rc, const std::string& what) { ASSERT_EQ(0, errnoOf(rc)) << what; };
        ok(mkdir(t.c_str(), 0755), t);
        ok(mkdir((t + "/dir").c_str(), 0750), "dir");
        ok(mkdir((t + "/dir/deep").c_str(), 0700), "deep");
        ok(mkdir((t + "/empty-dir").c_str(), 0755), "empty-dir");
        ASSERT_EQ(0, writeFile(t + "/file", pattern(10000, 1)));
        ASSERT_EQ(0, writeFile(t + "/dir/deep/block", pattern(3 * 4096, 2)));
        ASSERT_EQ(0, writeFile(t + "/empty", ""));
        ASSERT_EQ(0, writeFile(t + "/setgid", "x"));
        ok(chmod((t + "/setgid").c_str(), 02640), "chmod setgid");
        ASSERT_EQ(0, writeFile(t + "/readonly", "ro"));
        ok(chmod((t + "/readonly").c_str(), 0400), "chmod readonly");
        ok(lsetxattr((t + "/file").c_str(), "user.model", "llama", 5, 0), "xattr");
        ok(lsetxattr((t + "/dir").c_str(), "user.team", "a", 1, 0), "dir xattr");
        ok(link((t + "/file").c_str(), (t + "/dir/hardlink").c_str()), "hard link");
        ok(symlink("file", (t + "/rel-link").c_str()), "rel-link");
        ok(symlink("../file", (t + "/dir/up-link").c_str()), "up-link");
        ok(symlink("/etc/hostname", (t + "/abs-link").c_str()), "abs-link");
        ok(symlink("nowhere", (t + "/dangling").c_str()), "dangling");
        ok(symlink("dir", (t + "/dir-link").c_str()), "dir-link");
        ok(mkfifo((t + "/fifo").c_str(), 0640), "fifo");
        ok(link((t + "/fifo").c_str(), (t + "/dir/fifo-link").c_str()), "fifo link");
        ok(mknod((t + "/sock").c_str(), S_IFSOCK | 0600, 0), "sock");
        ok(mknod((t + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), "chr");
        ok(mknod((t + "/dir/loop0").c_str(), S_IFBLK | 0660, makedev(7, 0)), "blk");
        ok(chown((t + "/dir/deep").c_str(), 1000, 1001), "chown");
        ok(lchown((t + "/rel-link").c_str(), 1002, 1003), "lchown");
        // A sparse file: 8 MiB, written only at its end.
        const int fd = open((t + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
        ok(fd, "sparse");
        ok(pwrite(fd, "end", 3, (8 << 20) - 3), "sparse write");
        close(fd);
        // Times last (the writes above changed the directories'), and old ones on every path:
        // a tool that skips a time which already agrees to the second (rsync) then behaves the
        // same whatever second the test runs in. Children before their directories.
        std::vector<std::string> paths;
        for (const auto& e : std::filesystem::recursive_directory_iterator(t))
            paths.push_back(e.path().string());
        std::sort(paths.rbegin(), paths.rend());
        paths.push_back(t);
        for (size_t i = 0; i < paths.size(); ++i) {
            const timespec old[2] = {{1000000000, long(i)}, {1100000000 + long(i), long(7 * i)}};
            ok(utimensat(AT_FDCWD, paths[i].c_str(), old, AT_SYMLINK_NOFOLLOW), paths[i]);
        }
    }

    // Runs `cmd` from `src` to `dst_name` under tmpfs and under the pool; both must end alike.
    void expectSameAsTmpfs(const std::string& cmd, const std::string& src_tmpfs,
                           const std::string& src_pool, const std::string& dst_name,
                           const TreeView& view = {true, true}) {
        SCOPED_TRACE(cmd);
        const ToolRun on_tmpfs = shell(cmd, src_tmpfs, tmpfs_ + "/" + dst_name);
        const ToolRun on_pool = shell(cmd, src_pool, pool_ + "/" + dst_name);
        EXPECT_EQ(on_tmpfs.status, on_pool.status);
        EXPECT_EQ(on_tmpfs.output, on_pool.output);
        EXPECT_TRUE(WIFEXITED(on_tmpfs.status)) << on_tmpfs.output;
        const std::string want = describeTree(tmpfs_ + "/" + dst_name, view);
        EXPECT_NE(want.find("dangling"), std::string::npos) << "nothing was copied: " << want;
        EXPECT_EQ(want, describeTree(pool_ + "/" + dst_name, view));
    }

    std::string tmpfs_, pool_;
};

// Into a pool: each tool's copy of the tmpfs tree is the copy it makes on tmpfs.
TEST_F(ToolsTest, CopiesIntoAPoolAreTheCopiesOnTmpfs) {
    const std::string src = tmpfs_ + "/src";
    expectSameAsTmpfs("cp -a SRC DST", src, src, "cp");
    expectSameAsTmpfs("mkdir DST && tar --xattrs -C SRC -cf - . | tar --xattrs -C DST -xpf -", src,
                      src, "tar");
    expectSameAsTmpfs("rsync -aHX SRC/ DST/", src, src, "rsync");
    // mv across filesystems copies and removes: the source goes on both sides.
    ASSERT_EQ(0, shell("cp -a SRC DST", src, tmpfs_ + "/mv-a").status);
    ASSERT_EQ(0, shell("cp -a SRC DST", src, tmpfs_ + "/mv-b").status);
    expectSameAsTmpfs("mv SRC DST", tmpfs_ + "/mv-a", tmpfs_ + "/mv-b", "mv");
    EXPECT_NE(0, statErrno(tmpfs_ + "/mv-a"));
    EXPECT_NE(0, statErrno(tmpfs_ + "/mv-b"));
}

// Out of a pool, and within one: the pool's tree copies as the same tree on tmpfs does.
TEST_F(ToolsTest, CopiesOutOfAndWithinAPoolAreTheCopiesOnTmpfs) {
    const std::string src = tmpfs_ + "/src";
    ASSERT_EQ(0, shell("cp -a SRC DST", src, pool_ + "/tree").status);
    ASSERT_EQ(0, shell("cp -a SRC DST", src, tmpfs_ + "/tree").status);
    const std::string in_pool = pool_ + "/tree", in_tmpfs = tmpfs_ + "/tree";
    ASSERT_EQ(describeTree(in_tmpfs, {true, true}), describeTree(in_pool, {true, true}));
    struct Out {
        const char* cmd;
        const char* name;
    };
    for (const Out& o :
         {Out{"cp -a SRC DST", "out-cp"},
          Out{"mkdir DST && tar --xattrs -C SRC -cf - . | tar --xattrs -C DST -xpf -", "out-tar"},
          Out{"rsync -aHX SRC/ DST/", "out-rsync"}}) {
        SCOPED_TRACE(o.cmd);
        const ToolRun from_tmpfs = shell(o.cmd, in_tmpfs, tmpfs_ + "/" + o.name + "-t");
        const ToolRun from_pool = shell(o.cmd, in_pool, tmpfs_ + "/" + o.name + "-p");
        EXPECT_EQ(from_tmpfs.status, from_pool.status);
        EXPECT_EQ(from_tmpfs.output, from_pool.output);
        EXPECT_EQ(describeTree(tmpfs_ + "/" + o.name + "-t", {true, true}),
                  describeTree(tmpfs_ + "/" + o.name + "-p", {true, true}));
    }
    // Within one filesystem mv renames: the same tree under the new name, on both.
    ASSERT_EQ(0, shell("mv SRC DST", in_tmpfs, tmpfs_ + "/moved").status);
    ASSERT_EQ(0, shell("mv SRC DST", in_pool, pool_ + "/moved").status);
    EXPECT_EQ(describeTree(tmpfs_ + "/moved", {true, true}),
              describeTree(pool_ + "/moved", {true, true}));
    // cp -a within the pool as well.
    expectSameAsTmpfs("cp -a SRC DST", tmpfs_ + "/moved", pool_ + "/moved", "again");
}

}  // namespace
}  // namespace kvctest
