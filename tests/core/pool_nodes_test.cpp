// Tests of nodes that are neither entries nor directories: symbolic links, FIFOs, sockets and
// device nodes. They take names like entries (rename, link, unlink, rmdir of what holds them),
// keep their attributes, hold no blocks, are never evicted, survive a crash and a clean detach,
// and a record of theirs that fails a check is dropped, never served.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <string>

#include "core/layout.h"
#include "core/names.h"
#include "core/record_codec.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::getEntry;
using test::idOf;
using test::kBlock;
using test::pattern;
using test::putEntry;

class PoolNodes : public test::PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        pool_ = makePool(16);
        ASSERT_NE(pool_, nullptr);
        where_ = pool_->location();
    }
    void TearDown() override {
        pool_.reset();
        PoolFixture::TearDown();
    }
    Pool& p() { return *pool_; }
    // The process dies (no detach), or detaches cleanly; then a new one attaches.
    void reattach(bool clean) {
        if (clean) pool_->detach();
        pool_.reset();
        auto again = Pool::attach(where_);
        ASSERT_TRUE(again.ok()) << again.error().message;
        pool_ = std::move(*again);
    }
    EntryAttr attrOf(std::string_view name, EntryId dir = kPoolRootId) {
        const EntryId id = idOf(p(), dir, name);
        EXPECT_NE(id, 0u) << name;
        auto a = p().getattr(id);
        EXPECT_TRUE(a.ok()) << name;
        return a.ok() ? *a : EntryAttr{};
    }

    std::unique_ptr<Pool> pool_;
    SegmentLocation where_;
};

TEST_F(PoolNodes, EveryKindKeepsItsTypeModeOwnerAndDevice) {
    auto l = p().symlink(kPoolRootId, "link", "../somewhere/else", 1000, 1001);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_EQ(l->mode, uint32_t(S_IFLNK | 0777));
    EXPECT_EQ(l->size, std::strlen("../somewhere/else"));
    EXPECT_EQ(l->uid, 1000u);
    EXPECT_EQ(l->gid, 1001u);
    EXPECT_EQ(l->blocks512, 0u);
    auto f = p().mknod(kPoolRootId, "fifo", S_IFIFO | 0640, 0, 0, 0);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->mode, uint32_t(S_IFIFO | 0640));
    auto s = p().mknod(kPoolRootId, "sock", S_IFSOCK | 0600, 0, 0, 0);
    ASSERT_TRUE(s.ok());
    auto c = p().mknod(kPoolRootId, "null", S_IFCHR | 0666, makedev(1, 3), 0, 0);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->rdev, makedev(1, 3));
    auto b = p().mknod(kPoolRootId, "disk", S_IFBLK | 0660, makedev(8, 1), 0, 6);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->rdev, makedev(8, 1));
    // A regular file by mknod is an empty committed entry.
    auto r = p().mknod(kPoolRootId, "plain", S_IFREG | 0600, 0, 0, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->mode, uint32_t(S_IFREG | 0600));
    EXPECT_TRUE(r->committed);
    EXPECT_EQ(getEntry(p(), r->id), "");
    // Directories come from mkdir, and no other type exists.
    EXPECT_EQ(p().mknod(kPoolRootId, "d", S_IFDIR | 0755, 0, 0, 0).code(), EINVAL);
    EXPECT_EQ(p().mknod(kPoolRootId, "x", 0170000 | 0644, 0, 0, 0).code(), EINVAL);
    EXPECT_EQ(p().mknod(kPoolRootId, "fifo", S_IFIFO | 0644, 0, 0, 0).code(), EEXIST);
    EXPECT_EQ(p().symlink(kPoolRootId, "sock", "t", 0, 0).code(), EEXIST);
    EXPECT_EQ(p().symlink(kPoolRootId, ".stats", "t", 0, 0).code(), EEXIST);

    auto t = p().readlink(l->id);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(*t, "../somewhere/else");
    EXPECT_EQ(p().readlink(f->id).code(), EINVAL);
    EXPECT_EQ(p().readlink(r->id).code(), EINVAL);

    const PoolStats st = p().stats();
    EXPECT_EQ(st.symlinks, 1u);
    EXPECT_EQ(st.special_files, 4u);
    EXPECT_EQ(st.entries, 1u);  // "plain"
    EXPECT_EQ(st.blocks_used, 0u);
    p().verify();
}

TEST_F(PoolNodes, TargetsAreBoundedAsOnLinuxAndLongOnesLiveInBlocks) {
    EXPECT_EQ(p().symlink(kPoolRootId, "empty", "", 0, 0).code(), ENOENT);
    const std::string longest(kMaxSymlinkBytes, 'x');
    EXPECT_EQ(p().symlink(kPoolRootId, "over", longest + "x", 0, 0).code(), ENAMETOOLONG);
    EXPECT_EQ(p().symlink(kPoolRootId, "nul", std::string("a\0b", 3), 0, 0).code(), EINVAL);
    EXPECT_EQ(p().stats().symlinks, 0u);

    std::string target = pattern(7, kMaxSymlinkBytes);
    for (char& ch : target)
        if (ch == '\0') ch = '/';
    auto l = p().symlink(kPoolRootId, "long", target, 0, 0);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_EQ(l->size, kMaxSymlinkBytes);
    EXPECT_EQ(*p().readlink(l->id), target);
    p().verify();
    reattach(false);
    const EntryId id = idOf(p(), kPoolRootId, "long");
    ASSERT_NE(id, 0u);
    EXPECT_EQ(*p().readlink(id), target);
    // Its blocks (the record's overflow) go with it.
    ASSERT_TRUE(p().unlink(kPoolRootId, "long").ok());
    EXPECT_EQ(p().stats().blocks_used, 0u);
    p().verify();
}

TEST_F(PoolNodes, NodesHoldNoBytesAndOpenNothing) {
    auto l = p().symlink(kPoolRootId, "link", "target", 0, 0);
    auto f = p().mknod(kPoolRootId, "fifo", S_IFIFO | 0644, 0, 0, 0);
    ASSERT_TRUE(l.ok() && f.ok());
    EXPECT_EQ(p().open(l->id, Access::Read).code(), ELOOP);
    EXPECT_EQ(p().open(f->id, Access::Write).code(), ENXIO);
    char buf[8];
    EXPECT_EQ(p().read(l->id, 0, buf, sizeof buf).code(), EINVAL);
    EXPECT_EQ(p().write(f->id, 0, "x", 1).code(), EINVAL);
    EXPECT_EQ(p().allocate(f->id, 0, kBlock).code(), EINVAL);
    AttrChange grow;
    grow.size = 10;
    EXPECT_EQ(p().setattr(f->id, grow).code(), EINVAL);
    EXPECT_FALSE(p().exportEntry(std::string_view("link")).ok());
    // create(O_CREAT) does not open a node as an entry either.
    EXPECT_EQ(p().create(kPoolRootId, "fifo", 0644, 0, 0, IfExists::Open).code(), EEXIST);
    // No user.* attributes on links and special files, as Linux; their kvcache ones read empty.
    EXPECT_EQ(p().setxattr(f->id, "user.a", "1", 0).code(), EPERM);
    EXPECT_EQ(p().setxattr(l->id, "user.kvcache.priority", "3", 0).code(), EPERM);
    // Other namespaces are unsupported on every kind (cp -a's ACL copy takes that as "none").
    EXPECT_EQ(p().setxattr(f->id, "system.posix_acl_access", "x", 0).code(), EOPNOTSUPP);
    auto names = p().listxattr(l->id);
    ASSERT_TRUE(names.ok());
    EXPECT_TRUE(names->empty());
    EXPECT_EQ(p().stats().blocks_used, 0u);
}

TEST_F(PoolNodes, AttributesChangeButALinksModeDoesNot) {
    auto l = p().symlink(kPoolRootId, "link", "t", 0, 0);
    auto f = p().mknod(kPoolRootId, "fifo", S_IFIFO | 0644, 0, 0, 0);
    ASSERT_TRUE(l.ok() && f.ok());
    AttrChange own;
    own.uid = 7;
    own.gid = 8;
    own.atime_ns = 1'000'000'123;
    own.mtime_ns = 2'000'000'456;
    auto a = p().setattr(l->id, own);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->uid, 7u);
    EXPECT_EQ(a->mtime_ns, 2'000'000'456);
    AttrChange mode;
    mode.mode = 0600;
    EXPECT_EQ(p().setattr(l->id, mode).code(), EOPNOTSUPP);
    auto m = p().setattr(f->id, mode);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->mode, uint32_t(S_IFIFO | 0600));
    reattach(false);
    EXPECT_EQ(attrOf("link").uid, 7u);
    EXPECT_EQ(attrOf("link").mtime_ns, 2'000'000'456);
    EXPECT_EQ(attrOf("fifo").mode, uint32_t(S_IFIFO | 0600));
}

TEST_F(PoolNodes, NamesMoveLinkAndGoAsAnEntrysDo) {
    auto d = p().mkdir(kPoolRootId, "dir", 0755, 0, 0);
    ASSERT_TRUE(d.ok());
    auto l = p().symlink(d->id, "link", "t", 0, 0);
    auto f = p().mknod(d->id, "fifo", S_IFIFO | 0644, 0, 0, 0);
    ASSERT_TRUE(l.ok() && f.ok());
    // A directory holding nodes is not empty.
    EXPECT_EQ(p().rmdir(kPoolRootId, "dir").code(), ENOTEMPTY);
    // Hard links of a node.
    auto second = p().link(f->id, kPoolRootId, "fifo2");
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(second->nlink, 2u);
    // Renames: over an entry, over another node; a directory over a node is refused.
    putEntry(p(), kPoolRootId, "file", "bytes");
    ASSERT_TRUE(p().rename(d->id, "link", kPoolRootId, "file", 0).ok());
    EXPECT_EQ(*p().readlink(idOf(p(), kPoolRootId, "file")), "t");
    EXPECT_EQ(p().stats().entries, 0u);
    ASSERT_TRUE(p().rename(kPoolRootId, "file", kPoolRootId, "fifo2", 0).ok());
    EXPECT_EQ(attrOf("fifo", d->id).nlink, 1u);
    auto e = p().mkdir(kPoolRootId, "e", 0755, 0, 0);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(p().rename(kPoolRootId, "e", kPoolRootId, "fifo2", 0).code(), ENOTDIR);
    EXPECT_EQ(p().rename(kPoolRootId, "fifo2", kPoolRootId, "e", 0).code(), EISDIR);
    ASSERT_TRUE(p().rename(kPoolRootId, "fifo2", d->id, "fifo", Pool::kRenameExchange).ok());
    EXPECT_EQ(attrOf("fifo2").mode & S_IFMT, uint32_t(S_IFIFO));
    EXPECT_EQ(attrOf("fifo", d->id).mode & S_IFMT, uint32_t(S_IFLNK));
    reattach(false);
    EXPECT_EQ(attrOf("fifo2").mode & S_IFMT, uint32_t(S_IFIFO));
    EXPECT_EQ(*p().readlink(idOf(p(), idOf(p(), kPoolRootId, "dir"), "fifo")), "t");
    const EntryId dir = idOf(p(), kPoolRootId, "dir");
    ASSERT_TRUE(p().unlink(dir, "fifo").ok());
    ASSERT_TRUE(p().rmdir(kPoolRootId, "dir").ok());
    ASSERT_TRUE(p().unlink(kPoolRootId, "fifo2").ok());
    EXPECT_EQ(p().stats().symlinks + p().stats().special_files, 0u);
    p().verify();
}

TEST_F(PoolNodes, EvictionPassesNodesByAndCapacityCountsBlocksOnly) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(p().symlink(kPoolRootId, "l" + std::to_string(i), "t", 0, 0).ok());
        ASSERT_TRUE(p().mknod(kPoolRootId, "f" + std::to_string(i), S_IFIFO | 0644, 0, 0, 0).ok());
    }
    putEntry(p(), kPoolRootId, "a", pattern(1, 4 * kBlock));
    auto r = p().evictPercent(100);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->entries, 1u);
    const PoolStats st = p().stats();
    EXPECT_EQ(st.entries, 0u);
    EXPECT_EQ(st.symlinks, 5u);
    EXPECT_EQ(st.special_files, 5u);
    // A full pool still takes its whole capacity of entry bytes beside the nodes.
    putEntry(p(), kPoolRootId, "full", pattern(2, 16 * kBlock));
    EXPECT_EQ(getEntry(p(), idOf(p(), kPoolRootId, "full")), pattern(2, 16 * kBlock));
    p().verify();
}

TEST_F(PoolNodes, ACleanDetachAndACrashKeepEveryNode) {
    ASSERT_TRUE(p().symlink(kPoolRootId, "link", "a/b/c", 5, 6).ok());
    ASSERT_TRUE(p().mknod(kPoolRootId, "chr", S_IFCHR | 0620, makedev(4, 64), 0, 5).ok());
    ASSERT_TRUE(p().mknod(kPoolRootId, "sock", S_IFSOCK | 0755, 0, 0, 0).ok());
    for (bool clean : {true, false}) {
        reattach(clean);
        EXPECT_EQ(*p().readlink(idOf(p(), kPoolRootId, "link")), "a/b/c") << clean;
        EXPECT_EQ(attrOf("link").uid, 5u);
        EXPECT_EQ(attrOf("chr").rdev, makedev(4, 64));
        EXPECT_EQ(attrOf("chr").mode, uint32_t(S_IFCHR | 0620));
        EXPECT_EQ(attrOf("sock").mode, uint32_t(S_IFSOCK | 0755));
        p().verify();
    }
}

// A node's record that says something a pool never writes (a node with blocks, a link whose
// size is not its target's, a device number on a FIFO, a file type its state denies) fails a
// check at attach: the node is dropped, nothing else is.
TEST_F(PoolNodes, ADamagedNodeRecordIsDroppedAtAttach) {
    struct Damage {
        const char* name;
        void (*apply)(InodeRecord&);
    };
    const Damage damages[] = {
        {"size", [](InodeRecord& r) { r.size = 99; }},
        {"rdev", [](InodeRecord& r) { r.rdev = 5; }},
        {"extents",
         [](InodeRecord& r) {
             r.extent_count = 1;
             r.extents[0] = Extent{0, 1};
         }},
        {"state", [](InodeRecord& r) { r.state = RecordState::File; }},
        {"type", [](InodeRecord& r) { r.mode = 0170000 | 0644; }},
    };
    for (const Damage& d : damages) {
        SCOPED_TRACE(d.name);
        ASSERT_TRUE(p().symlink(kPoolRootId, "link", "target", 0, 0).ok());
        ASSERT_TRUE(p().mknod(kPoolRootId, "fifo", S_IFIFO | 0644, 0, 0, 0).ok());
        putEntry(p(), kPoolRootId, "keep", "bytes");
        const EntryId victim =
            idOf(p(), kPoolRootId, std::string_view(d.name) == "rdev" ? "fifo" : "link");
        pool_->detach();
        InodeRecord& rec = pool_->segment().inodeRecord(victim - kFirstEntryId);
        d.apply(rec);
        rec.checksum = inodeRecordChecksum(rec);  // a valid record, saying the wrong thing
        reattach(false);
        EXPECT_EQ(p().stats().symlinks + p().stats().special_files, 1u);
        EXPECT_EQ(getEntry(p(), idOf(p(), kPoolRootId, "keep")), "bytes");
        p().verify();
        for (const char* n : {"link", "fifo", "keep"}) (void)p().unlink(kPoolRootId, n);
    }
}

}  // namespace
}  // namespace kvc
