// Tests of InodeIndex: paths resolve both ways through nested directories, the errors a front
// end replies are the documented ones, a directory is inside itself and its subtree only,
// removed inodes stop counting as entries, and generations never repeat across attaches.
#include "core/inode_index.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace kvc {
namespace {

class InodeIndexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = add(kPoolRootId, 0040755);
        root_->nlink = 2;
        dir_ = add(16, 0040755);
        file_ = add(17, 0100644);
        top_ = add(18, 0100644);
        name(root_, "llama", dir_, 0);
        name(dir_, "blk-01", file_, 1);
        name(root_, "blk-top", top_, 2);
    }

    Inode* add(EntryId id, uint32_t mode) {
        auto ino = std::make_shared<Inode>();
        ino->id = id;
        ino->mode = mode;
        return index_.add(std::move(ino));
    }

    void name(Inode* dir, const std::string& name, Inode* target, uint64_t slot) {
        dir->by_slot.emplace(slot, DirSlot{name, target->id});
        dir->by_name.emplace(name, NameSlot{slot, target->id});
        target->names.emplace_back(dir->id, slot);
        target->nlink++;
    }

    InodeIndex index_{"test"};
    Inode* root_ = nullptr;
    Inode* dir_ = nullptr;
    Inode* file_ = nullptr;
    Inode* top_ = nullptr;
};

TEST_F(InodeIndexTest, PathsResolveBothWays) {
    EXPECT_EQ(index_.resolve("llama/blk-01"), file_);
    EXPECT_EQ(index_.resolve("llama"), dir_);
    EXPECT_EQ(index_.resolve("blk-top"), top_);
    EXPECT_EQ(index_.resolve(""), root_);
    EXPECT_EQ(index_.resolve("llama/none"), nullptr);
    EXPECT_EQ(index_.resolve("blk-top/below"), nullptr);
    EXPECT_EQ(index_.pathOf(*file_), "llama/blk-01");
    EXPECT_EQ(index_.pathOf(*top_), "blk-top");
    EXPECT_EQ(index_.pathOf(dir_->id, "not-yet"), "llama/not-yet");
    EXPECT_EQ(index_.pathOf(kPoolRootId, "x"), "x");
}

TEST_F(InodeIndexTest, LookupsReplyTheDocumentedErrors) {
    auto d = index_.dir(dir_->id);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, dir_);
    EXPECT_EQ(ENOTDIR, index_.dir(file_->id).code());
    EXPECT_EQ(ENOENT, index_.dir(999).code());
    auto c = index_.child(dir_, "blk-01");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c, file_);
    EXPECT_EQ(ENOENT, index_.child(dir_, "blk-02").code());
    dir_->nlink = 0;  // removed, still held open
    EXPECT_EQ(ENOENT, index_.dir(dir_->id).code());
}

TEST_F(InodeIndexTest, ADirectoryIsInsideItselfAndItsSubtreeOnly) {
    EXPECT_TRUE(index_.isInside(dir_, dir_));
    EXPECT_TRUE(index_.isInside(dir_, file_));
    EXPECT_FALSE(index_.isInside(dir_, top_));
    EXPECT_FALSE(index_.isInside(dir_, root_));
}

TEST_F(InodeIndexTest, RemovedInodesStopCountingAsEntries) {
    EXPECT_EQ(index_.size(), 4u);
    EXPECT_EQ(index_.entries(), 4u);
    index_.markRemoved(*top_);
    index_.markRemoved(*top_);  // once only
    EXPECT_EQ(index_.entries(), 3u);
    EXPECT_EQ(index_.find(top_->id), top_) << "a removed inode lives on until erased";
    const EntryId id = top_->id;
    index_.erase(*top_);
    EXPECT_EQ(index_.find(id), nullptr);
    EXPECT_EQ(index_.size(), 3u);
    EXPECT_EQ(index_.entries(), 3u);
}

TEST_F(InodeIndexTest, GenerationsNeverRepeatAcrossAttaches) {
    index_.startGenerations(1);
    const uint64_t first = index_.newGeneration();
    EXPECT_EQ(index_.newGeneration(), first + 1);
    InodeIndex next("test");
    next.startGenerations(2);  // the base the next attach stores
    EXPECT_GT(next.newGeneration(), first + (1ull << 31));
}

}  // namespace
}  // namespace kvc
