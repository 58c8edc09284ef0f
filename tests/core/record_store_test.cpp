// Tests of RecordStore, on a real segment: what a record keeps comes back at attach field for
// field (a blob inline or in a chain, more extents than the record holds); a damaged record, a
// block claimed twice or a size past the blocks is dropped and its slot reused; a blob that
// finds no free block keeps the last record after a change of metadata and uncommits the entry
// after a change of blocks; a batch of names is written all or nothing, and a batch a crash
// left in the superblock is written whole at attach.
#include "core/record_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/block_allocator.h"
#include "core/inode.h"
#include "core/segment.h"
#include "pool_fixture.h"

namespace kvc {
namespace {

using test::kBlock;

constexpr uint64_t kBlocks = 64;

class RecordStoreTest : public test::PoolFixture {
  protected:
    void SetUp() override {
        PoolFixture::SetUp();
        auto seg = Segment::create(newLocation(), SegmentGeometry{kBlock, kBlocks, 32, 40});
        ASSERT_TRUE(seg.ok()) << seg.error().message;
        segment_ = std::move(*seg);
        allocator_ = std::make_unique<BlockAllocator>(kBlocks);
        store_ = std::make_unique<RecordStore>(*segment_, *allocator_, "test");
    }

    // What attach does: a new allocator and store over the same segment.
    void reattach() {
        allocator_ = std::make_unique<BlockAllocator>(kBlocks);
        store_ = std::make_unique<RecordStore>(*segment_, *allocator_, "test");
    }

    // A committed file in a new slot owning `blocks` blocks in `pieces` extents.
    Inode& newFile(uint64_t blocks, size_t pieces = 1) {
        auto slot = store_->takeInodeSlot();
        EXPECT_TRUE(slot.ok());
        inodes_.push_back(std::make_unique<Inode>());
        Inode& ino = *inodes_.back();
        ino.id = *slot + kFirstEntryId;
        ino.slot = *slot;
        ino.mode = 0100644;
        ino.nlink = 1;
        for (size_t i = 0; i < pieces; ++i) {
            // Every other block, so that the extents cannot coalesce.
            std::vector<Extent> got;
            EXPECT_TRUE(allocator_->allocate(blocks / pieces, got));
            std::vector<Extent> gap;
            EXPECT_TRUE(allocator_->allocate(1, gap));
            for (const Extent& e : got) {
                ino.extents.push_back(e);
                ino.blocks += e.count;
            }
        }
        ino.size = ino.blocks * kBlock;
        return ino;
    }

    std::unique_ptr<Segment> segment_;
    std::unique_ptr<BlockAllocator> allocator_;
    std::unique_ptr<RecordStore> store_;
    std::vector<std::unique_ptr<Inode>> inodes_;
};

TEST_F(RecordStoreTest, EveryFieldOfARecordComesBack) {
    Inode& ino = newFile(20, 10);  // 10 extents: more than a record holds inline
    ASSERT_GT(ino.extents.size(), kInlineExtents);
    ino.uid = 1000;
    ino.gid = 1001;
    ino.priority = -3;
    ino.size = ino.blocks * kBlock - 17;
    ino.atime_ns = 111;
    ino.mtime_ns = 222;
    ino.ctime_ns = 333;
    ino.btime_ns = 44;
    ino.layer = 5;
    ino.seq_len = 4096;
    ino.access_count = 9;
    ino.pinned = true;
    ino.pin_expires_ns = 555;
    ino.has_data_checksum = true;
    ino.data_checksum = 0x1234567890abcdefull;
    ino.parent = "llama/blk-0001";
    ino.xattrs["user.note"] = "hello";
    ASSERT_TRUE(store_->writeInode(ino, Changed::Blocks));

    reattach();
    auto back = store_->readInode(ino.slot);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->id, ino.id);
    EXPECT_EQ(back->mode, ino.mode);
    EXPECT_EQ(back->uid, 1000u);
    EXPECT_EQ(back->gid, 1001u);
    EXPECT_EQ(back->priority, -3);
    EXPECT_EQ(back->size, ino.size);
    EXPECT_EQ(back->atime_ns, 111);
    EXPECT_EQ(back->mtime_ns, 222);
    EXPECT_EQ(back->ctime_ns, 333);
    EXPECT_EQ(back->btime_ns, 44);
    EXPECT_EQ(back->layer, 5);
    EXPECT_EQ(back->seq_len, 4096);
    EXPECT_EQ(back->access_count, 9u);
    EXPECT_TRUE(back->pinned);
    EXPECT_EQ(back->pin_expires_ns, 555);
    EXPECT_TRUE(back->has_data_checksum);
    EXPECT_EQ(back->data_checksum, ino.data_checksum);
    EXPECT_EQ(back->parent, "llama/blk-0001");
    EXPECT_EQ(back->xattrs, ino.xattrs);
    EXPECT_EQ(back->extents, ino.extents);
    EXPECT_EQ(back->blocks, ino.blocks);
    // Its blocks are claimed in the new allocator: claiming them again fails.
    for (const Extent& e : ino.extents) EXPECT_TRUE(allocator_->isAllocated(e));
}

TEST_F(RecordStoreTest, ABlobTooLargeForTheRecordLivesInAChainAndComesBack) {
    Inode& ino = newFile(2);
    ino.xattrs["user.big"] = std::string(3 * kBlock, 'x');
    const uint64_t used_before = allocator_->usedBlocks();
    EXPECT_GT(store_->blocksForBlob(RecordStore::blobOf(ino), ino), 0u);
    ASSERT_TRUE(store_->writeInode(ino, Changed::Metadata));
    EXPECT_FALSE(ino.aux.empty());
    EXPECT_EQ(allocator_->usedBlocks(), used_before + ino.auxBlocks());
    // Unchanged, the blob needs no new chain.
    EXPECT_EQ(store_->blocksForBlob(RecordStore::blobOf(ino), ino), 0u);

    reattach();
    auto back = store_->readInode(ino.slot);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->xattrs, ino.xattrs);
    EXPECT_EQ(back->aux, ino.aux);
    for (const Extent& e : back->aux) EXPECT_TRUE(allocator_->isAllocated(e));
}

TEST_F(RecordStoreTest, ADamagedRecordIsDroppedAndItsSlotReused) {
    Inode& ino = newFile(1);
    ASSERT_TRUE(store_->writeInode(ino, Changed::Blocks));
    segment_->inodeRecord(ino.slot).size ^= 1;  // one bit, checksum not updated

    reattach();
    EXPECT_FALSE(store_->readInode(ino.slot));
    EXPECT_EQ(RecordState::Free, segment_->inodeRecord(ino.slot).state);
    EXPECT_EQ(allocator_->usedBlocks(), 0u) << "the dropped record's blocks were claimed";
    auto slot = store_->takeInodeSlot();
    ASSERT_TRUE(slot.ok());
    EXPECT_EQ(*slot, ino.slot);
}

TEST_F(RecordStoreTest, ABlockClaimedByTwoRecordsStaysWithTheFirst) {
    Inode& a = newFile(2);
    Inode& b = newFile(1);
    b.extents = a.extents;  // a hostile or damaged segment: b names a's blocks
    b.blocks = a.blocks;
    ASSERT_TRUE(store_->writeInode(a, Changed::Blocks));
    ASSERT_TRUE(store_->writeInode(b, Changed::Blocks));

    reattach();
    EXPECT_TRUE(store_->readInode(a.slot));
    EXPECT_FALSE(store_->readInode(b.slot));
    EXPECT_EQ(allocator_->usedBlocks(), a.blocks);
}

// A size past the blocks is a hole (core/extent_map.h), and holes come back as they were; blocks
// past the size, or a hole at the end of the list, cannot be an entry's: the record is dropped.
TEST_F(RecordStoreTest, HolesComeBackAndExtentsPastTheSizeAreDropped) {
    Inode& sparse = newFile(1);
    sparse.extents.insert(sparse.extents.begin(), Extent{kHoleStart, 3});
    sparse.size = 9 * kBlock + 1;
    ASSERT_TRUE(store_->writeInode(sparse, Changed::Blocks));
    Inode& past = newFile(2);
    past.size = kBlock;
    ASSERT_TRUE(store_->writeInode(past, Changed::Blocks));
    Inode& trailing = newFile(1);
    trailing.extents.push_back(Extent{kHoleStart, 1});
    trailing.size = 4 * kBlock;
    ASSERT_TRUE(store_->writeInode(trailing, Changed::Blocks));
    reattach();
    auto back = store_->readInode(sparse.slot);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->extents, sparse.extents);
    EXPECT_EQ(back->blocks, 1u);
    EXPECT_EQ(back->size.load(), 9 * kBlock + 1);
    EXPECT_FALSE(store_->readInode(past.slot));
    EXPECT_FALSE(store_->readInode(trailing.slot));
    EXPECT_EQ(allocator_->usedBlocks(), 1u);
}

TEST_F(RecordStoreTest, WithoutRoomForTheBlobOnlyAChangeOfBlocksUncommits) {
    Inode& ino = newFile(2);
    ASSERT_TRUE(store_->writeInode(ino, Changed::Blocks));
    std::vector<Extent> rest;  // the pool is full
    ASSERT_TRUE(allocator_->allocate(allocator_->freeBlocks(), rest));

    ino.xattrs["user.big"] = std::string(2 * kBlock, 'x');
    EXPECT_FALSE(store_->writeInode(ino, Changed::Metadata));
    EXPECT_FALSE(ino.dirty);
    EXPECT_EQ(RecordState::File, segment_->inodeRecord(ino.slot).state) << "the last record stays";

    EXPECT_FALSE(store_->writeInode(ino, Changed::Blocks));
    EXPECT_TRUE(ino.dirty);
    EXPECT_EQ(RecordState::Dirty, segment_->inodeRecord(ino.slot).state);
    reattach();
    EXPECT_FALSE(store_->readInode(ino.slot)) << "an uncommitted entry came back";
}

TEST_F(RecordStoreTest, ARemovedInodeWritesNoRecord) {
    Inode& ino = newFile(1);
    ASSERT_TRUE(store_->writeInode(ino, Changed::Blocks));
    store_->clearInode(ino.slot);
    ino.nlink = 0;
    EXPECT_TRUE(store_->writeInode(ino, Changed::Metadata));
    EXPECT_EQ(RecordState::Free, segment_->inodeRecord(ino.slot).state);
}

TEST_F(RecordStoreTest, NamesComeBackAndADamagedOneIsFreed) {
    auto a = store_->takeNameSlot();
    auto b = store_->takeNameSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    store_->writeName(*a, kPoolRootId, 20, "blk-1");
    store_->writeName(*b, kPoolRootId, 21, "blk-2");
    segment_->direntRecord(*b).name[0] ^= 1;

    reattach();
    auto got = store_->readName(*a);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->dir, kPoolRootId);
    EXPECT_EQ(got->inode, 20u);
    EXPECT_EQ(got->name, "blk-1");
    EXPECT_FALSE(store_->readName(*b));
    auto again = store_->takeNameSlot();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *b) << "the damaged name's slot is reused";
}

TEST_F(RecordStoreTest, ABatchOfNamesIsWrittenAtCommitAndNotBefore) {
    auto a = store_->takeNameSlot();
    auto b = store_->takeNameSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    store_->writeName(*a, kPoolRootId, 20, "old");
    {
        RecordStore::NameBatch batch(*store_);
        store_->freeName(*a);
        store_->writeName(*b, kPoolRootId, 20, "new");
        EXPECT_TRUE(store_->readName(*a)) << "written before the batch committed";
        EXPECT_EQ(0u, segment_->direntRecord(*b).state);
        batch.commit();
    }
    EXPECT_EQ(0u, segment_->direntRecord(*a).state);
    auto got = store_->readName(*b);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->name, "new");
    EXPECT_EQ(0u, segment_->super().name_intent_count);
}

TEST_F(RecordStoreTest, ABatchACrashLeftInTheSuperblockIsWrittenWholeAtAttach) {
    auto a = store_->takeNameSlot();
    auto b = store_->takeNameSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    store_->writeName(*a, kPoolRootId, 20, "old");
    // A crash after the batch reached the superblock, before any record was written.
    NameIntent clear{};
    clear.slot = *a;
    NameIntent add{};
    add.slot = *b;
    add.dir_id = kPoolRootId;
    add.inode_id = 20;
    add.name_len = 3;
    std::memcpy(add.name, "new", 3);
    segment_->updateSuper([&](Superblock& sb) {
        sb.name_intents[0] = clear;
        sb.name_intents[1] = add;
        sb.name_intent_count = 2;
    });

    reattach();
    store_->replayNameBatch();
    EXPECT_EQ(0u, segment_->super().name_intent_count);
    EXPECT_FALSE(store_->readName(*a));
    auto got = store_->readName(*b);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->name, "new");
}

TEST_F(RecordStoreTest, SlotsRunOutWithENOSPC) {
    for (int i = 0; i < 32; ++i) ASSERT_TRUE(store_->takeInodeSlot().ok()) << i;
    auto over = store_->takeInodeSlot();
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(ENOSPC, over.code());
    store_->reuseInodeSlot(7);
    auto again = store_->takeInodeSlot();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(7u, *again);
}

}  // namespace
}  // namespace kvc
