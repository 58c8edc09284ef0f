// restoreImage(): the checks before a restore and the order of its steps (see
// core/snapshot_restore.h for the semantics).
#include "core/snapshot_restore.h"

#include <fmt/format.h>

namespace kvc {
namespace {

// Hands an entry's bytes from the image to a target, counting progress.
class ImageEntrySource : public EntrySource {
  public:
    ImageEntrySource(SnapshotReader& image, const RestoreOptions& options, uint64_t& bytes)
        : image_(image), options_(options), bytes_(bytes) {}

    Result<size_t> read(void* out, size_t len) override {
        auto n = image_.readData(out, len);
        if (!n) return n;
        bytes_ += *n;
        if (options_.progress && (bytes_ - reported_ >= (1u << 20) || *n == 0)) {
            reported_ = bytes_;
            options_.progress(bytes_);
        }
        return n;
    }
    Status finish() override { return image_.checkRecord(); }

  private:
    SnapshotReader& image_;
    const RestoreOptions& options_;
    uint64_t& bytes_;
    uint64_t reported_ = 0;
};

}  // namespace

std::string parentPath(std::string_view path) {
    const size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string baseName(std::string_view path) {
    const size_t slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool isPinAttribute(std::string_view name) {
    return name == "user.kvcache.pinned" || name == "user.kvcache.pin_ttl";
}

std::vector<std::pair<std::string, std::string>> entryAttributes(const SnapshotRecord& e) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!e.parent.empty()) out.emplace_back("user.kvcache.parent", e.parent);
    if (e.layer >= 0) out.emplace_back("user.kvcache.layer", std::to_string(e.layer));
    if (e.seq_len >= 0) out.emplace_back("user.kvcache.seq_len", std::to_string(e.seq_len));
    if (e.priority != 0) out.emplace_back("user.kvcache.priority", std::to_string(e.priority));
    for (const auto& kv : e.xattrs) out.push_back(kv);
    // Last, after the data: a pinned entry is never evicted, and the budget counts its blocks.
    // A pin whose time ran out while the snapshot was taken is not restored.
    if (e.pinned && e.pin_ttl_s > 0)
        out.emplace_back("user.kvcache.pin_ttl", std::to_string(e.pin_ttl_s));
    else if (e.pinned && e.pin_ttl_s < 0)
        out.emplace_back("user.kvcache.pinned", "1");
    return out;
}

namespace {

// The image's block size is the pool's, and no entry of it needs more room than the pool has
// (its blocks of zeros become holes): the pool's capacity in bytes.
Result<uint64_t> checkFits(SnapshotReader& image, RestoreTarget& target) {
    const SnapshotHeader& h = image.header();
    const SnapshotSummary& sum = image.summary();
    auto block_size = target.blockSize();
    if (!block_size) return block_size.error();
    if (*block_size != h.block_size)
        return makeError(EINVAL,
                         fmt::format("snapshot {}: block size {}, pool has {} ({})", image.name(),
                                     h.block_size, *block_size, target.describe("")));
    auto capacity = target.capacityBytes();
    if (!capacity) return capacity.error();
    if (sum.largest_room > *capacity) {
        for (const SnapshotIndexItem& item : image.index())
            if (item.kind == SnapshotKind::Entry && item.room == sum.largest_room)
                return makeError(EFBIG, fmt::format("snapshot {}: entry {} needs {} bytes, more "
                                                    "than the capacity of {} ({} bytes)",
                                                    image.name(), item.path, item.room,
                                                    target.describe(""), *capacity));
    }
    return *capacity;
}

// Merge: `existing` gets what the pool holds now, and no path may be a directory on one side
// and an entry on the other.
Status checkMergeable(SnapshotReader& image, RestoreTarget& target,
                      std::unordered_map<std::string, PathKind>& existing) {
    auto tree = target.listTree();
    if (!tree) return tree.error();
    existing = std::move(*tree);
    for (const SnapshotIndexItem& item : image.index()) {
        auto it = existing.find(item.path);
        if (item.path.empty() || it == existing.end()) continue;
        const bool image_dir = item.kind == SnapshotKind::Directory;
        if (image_dir != (it->second == PathKind::Directory))
            return makeError(image_dir ? ENOTDIR : EISDIR,
                             fmt::format("snapshot {}: {} is {} in the pool but {} in the "
                                         "image; restore with --replace, or move it away",
                                         image.name(), target.describe(item.path),
                                         image_dir ? "an entry" : "a directory",
                                         image_dir ? "a directory" : "an entry"));
    }
    return {};
}

// Every record of the image, in its order, into the target; the directories are kept for
// finishDirectory.
Status putRecords(SnapshotReader& image, RestoreTarget& target, const RestoreOptions& options,
                  const std::unordered_map<std::string, PathKind>& existing, RestoreReport& report,
                  std::vector<SnapshotRecord>& directories) {
    image.rewind();
    SnapshotRecord rec;
    for (;;) {
        auto more = image.next(rec);
        if (!more) return more.error();
        if (!*more) break;
        switch (rec.kind) {
            case SnapshotKind::Directory: {
                if (!rec.path.empty()) {
                    if (auto st = target.makeDirectory(rec, existing.count(rec.path) > 0); !st)
                        return st.error();
                    report.directories++;
                }
                directories.push_back(std::move(rec));
                break;
            }
            case SnapshotKind::Entry: {
                ImageEntrySource source(image, options, report.bytes);
                if (auto st = target.putEntry(rec, source); !st) return st.error();
                report.entries++;
                if (existing.count(rec.path)) report.replaced++;
                break;
            }
            case SnapshotKind::Link:
                if (auto st = target.putLink(rec); !st) return st.error();
                report.links++;
                if (existing.count(rec.path)) report.replaced++;
                break;
            case SnapshotKind::Symlink:
            case SnapshotKind::Special:
                if (auto st = target.putNode(rec); !st) return st.error();
                report.nodes++;
                if (existing.count(rec.path)) report.replaced++;
                break;
        }
    }
    return {};
}

}  // namespace

Result<RestoreReport> restoreImage(SnapshotReader& image, RestoreTarget& target,
                                   const RestoreOptions& options) {
    RestoreReport report;

    // Everything that can be known to fail is checked before the first change.
    auto capacity = checkFits(image, target);
    if (!capacity) return capacity.error();
    std::unordered_map<std::string, PathKind> existing;
    if (!options.replace) {
        if (auto st = checkMergeable(image, target, existing); !st) return st.error();
    }
    const uint64_t data_bytes = image.summary().data_room;
    if (data_bytes > *capacity)
        target.warn(
            fmt::format("the image holds {} bytes of entries and {} has a capacity of {} "
                        "bytes: the pool's policy evicts entries as the restore needs "
                        "room",
                        data_bytes, target.describe(""), *capacity));

    if (options.replace) {
        auto removed = target.removeAll();
        if (!removed) return removed.error();
        report.removed = *removed;
    }

    std::vector<SnapshotRecord> directories;
    if (auto st = putRecords(image, target, options, existing, report, directories); !st)
        return st.error();
    // Deepest first: the image lists a directory before anything inside it.
    for (auto it = directories.rbegin(); it != directories.rend(); ++it)
        if (auto st = target.finishDirectory(*it); !st) return st.error();
    if (options.progress) options.progress(report.bytes);
    report.warnings = target.takeWarnings();
    return report;
}

}  // namespace kvc
