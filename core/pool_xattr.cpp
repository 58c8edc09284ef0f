// Extended attributes: user.kvcache.* (the entry's cache metadata, parsed and validated) and
// other user.* attributes, stored verbatim within the limits in core/xattr_limits.h.
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "core/aux_chain.h"
#include "core/clock.h"
#include "core/excerpt.h"
#include "core/pool.h"
#include "core/record_codec.h"
#include "core/xattr_rules.h"

namespace kvc {
namespace {

std::string formatTime(int64_t ns) {
    return fmt::format("{}.{:09d}", ns / 1000000000, ns % 1000000000);
}

}  // namespace

Result<std::string> Pool::getxattr(EntryId id, std::string_view name) {
    std::lock_guard lk(meta_);
    expirePins();  // else "pinned" reads 1 after its TTL until something else expires it
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    const KvAttr a = kvAttr(name);
    // A directory's creation time (the pool's own directory: the pool's), its one kvcache
    // attribute.
    if (a == KvAttr::Created && ino->isDir()) return formatTime(ino->btime_ns);
    if (a != KvAttr::None && a != KvAttr::Unknown && ino->isFile()) {
        switch (a) {
            case KvAttr::Priority:
                return std::to_string(ino->priority);
            case KvAttr::Pinned:
                return std::string(ino->pinned ? "1" : "0");
            case KvAttr::PinTtl: {
                if (!ino->pinned || !ino->pin_expires_ns) break;
                const int64_t left = ino->pin_expires_ns - nowNs();
                return std::to_string(left > 0 ? (left + 999999999) / 1000000000 : 0);
            }
            case KvAttr::Parent:
                if (ino->parent.empty()) break;
                return ino->parent;
            case KvAttr::Layer:
                if (ino->layer < 0) break;
                return std::to_string(ino->layer);
            case KvAttr::SeqLen:
                if (ino->seq_len < 0) break;
                return std::to_string(ino->seq_len);
            case KvAttr::AccessCount:
                return std::to_string(ino->access_count);
            case KvAttr::Created:
                return formatTime(ino->btime_ns);
            case KvAttr::LastAccess:
                return formatTime(ino->atime_ns);
            // 1 once the last writer closed it (what survives a crash), 0 while being written.
            case KvAttr::Committed:
                return std::string(ino->dirty ? "0" : "1");
            default:
                break;
        }
        return makeError(ENODATA, fmt::format("{} is not set", name));
    }
    auto it = ino->xattrs.find(std::string(name));
    if (it == ino->xattrs.end()) return makeError(ENODATA, fmt::format("{} is not set", name));
    return it->second;
}

// Only what setxattr takes back, and only when it differs from the default, so that `cp -a`,
// `mv` across pools and `rsync -X` copy an entry's metadata without an EPERM per read-only
// attribute (those stay readable by name). A pin is one attribute: pin_ttl when it has a time
// limit, else pinned (copying both would let `pinned` cancel the limit).
Result<std::vector<std::string>> Pool::listxattr(EntryId id) {
    std::lock_guard lk(meta_);
    expirePins();  // else an expired pin_ttl is listed and then reads ENODATA
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    std::vector<std::string> out;
    if (ino->isFile()) {
        auto add = [&](const char* k) { out.push_back(std::string(kKvcacheXattrPrefix) + k); };
        if (ino->priority != 0) add("priority");
        if (ino->pinned) add(ino->pin_expires_ns ? "pin_ttl" : "pinned");
        if (!ino->parent.empty()) add("parent");
        if (ino->layer >= 0) add("layer");
        if (ino->seq_len >= 0) add("seq_len");
    }
    for (const auto& [k, v] : ino->xattrs) out.push_back(k);
    return out;
}

Status Pool::setxattr(EntryId id, std::string_view name, std::string_view value, int flags) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    if (id == kPoolRootId) return makeError(EPERM, "attributes of a pool directory are not stored");
    auto parsed = parseXattr(name, value, ino->isDir());
    if (!parsed) return parsed.error();  // EOPNOTSUPP for other namespaces, whatever the kind
    // As Linux for user.* (the only attributes a pool keeps): none on links and special files.
    if (ino->isNode()) return makeError(EPERM, "no user.* attributes on links or special files");
    switch (parsed->attr) {
        case KvAttr::None:
            return setUserXattr(ino, name, value, flags);
        case KvAttr::Parent:
            return setChainParent(ino, parsed->text, name);
        case KvAttr::Priority: {
            candidates_->setPriority(ino, static_cast<int32_t>(parsed->number));
            break;
        }
        case KvAttr::Pinned:
        case KvAttr::PinTtl:
            if (auto st = setPin(ino, parsed->number != 0,
                                 parsed->attr == KvAttr::PinTtl ? parsed->number : 0);
                !st)
                return st;
            break;
        case KvAttr::Layer:
        case KvAttr::SeqLen:
            (parsed->attr == KvAttr::Layer ? ino->layer : ino->seq_len) = parsed->number;
            break;
        default:
            break;
    }
    // These fit in the record's fixed fields: writing it needs no room.
    ino->ctime_ns = nowNs();
    persist(ino);
    return {};
}

Status Pool::setPin(Inode* ino, bool pin, int64_t ttl_seconds) {
    if (pin && !ino->pinned && pin_budget_ &&
        pinnedBytes() + ino->blocks * blockSize() > pin_budget_)
        return makeError(EDQUOT, fmt::format("pool {}: pinning {} bytes would pass the pin budget "
                                             "of {} bytes",
                                             name_, ino->blocks * blockSize(), pin_budget_));
    candidates_->untrackPin(*ino);
    ino->pinned = pin;
    ino->pin_expires_ns = 0;
    if (pin && ttl_seconds > 0) {  // bounded by kMaxPinTtlSeconds: no overflow
        ino->pin_expires_ns = nowNs() + ttl_seconds * 1000000000LL;
        candidates_->trackPin(*ino);
    }
    candidates_->refresh(ino);
    return {};
}

Status Pool::setChainParent(Inode* ino, const std::string& path, std::string_view attr) {
    // Refuse a chain that would loop back to this entry: it could never be evicted.
    ChainLoopFinder<Inode*> finder;
    if (candidates_->chainLoop(ino, path, finder))
        return makeError(EINVAL, fmt::format("user.kvcache.parent: {} would make a loop in the "
                                             "chain",
                                             excerpt(path)));
    InodeBlob next = RecordStore::blobOf(*ino);
    next.parent = path;
    if (auto st = roomForBlob(next, ino); !st) return st;
    const std::string before = ino->parent;
    const int64_t ctime_before = ino->ctime_ns;
    // A nameless entry (unlinked, still open) gave its reference back when its last name went:
    // it holds none to drop, and takes none.
    auto setParent = [&](const std::string& to) {
        if (ino->nlink > 0) candidates_->dropChainRef(ino);
        ino->parent = to;
        candidates_->addChainRef(ino);
    };
    setParent(path);
    ino->ctime_ns = nowNs();
    if (!persist(ino)) {
        setParent(before);
        ino->ctime_ns = ctime_before;
        return makeError(ENOSPC, fmt::format("pool {}: no room to store {}", name_, attr));
    }
    return {};
}

Status Pool::setUserXattr(Inode* ino, std::string_view name, std::string_view value, int flags) {
    const std::string key(name);
    auto it = ino->xattrs.find(key);
    if ((flags & kXattrCreate) && it != ino->xattrs.end())
        return makeError(EEXIST, fmt::format("{} exists", name));
    if ((flags & kXattrReplace) && it == ino->xattrs.end())
        return makeError(ENODATA, fmt::format("{} is not set", name));
    size_t total = 0;
    for (const auto& [k, v] : ino->xattrs)
        if (k != key) total += k.size() + v.size();
    const size_t count = ino->xattrs.size() + (it == ino->xattrs.end() ? 1 : 0);
    if (auto st = checkXattrTotals(count, total + key.size() + value.size()); !st) return st;
    // A blob that no longer fits in the record needs blocks of its own: make room first.
    InodeBlob next = RecordStore::blobOf(*ino);
    next.xattrs[key] = std::string(value);
    if (auto st = roomForBlob(next, ino); !st) return st;
    std::optional<std::string> before;
    if (it != ino->xattrs.end()) before = it->second;
    const int64_t ctime_before = ino->ctime_ns;
    ino->xattrs[key] = std::string(value);
    ino->ctime_ns = nowNs();
    if (!persist(ino)) {
        // Not stored: the attribute and the entry's record are as they were.
        if (before)
            ino->xattrs[key] = *before;
        else
            ino->xattrs.erase(key);
        ino->ctime_ns = ctime_before;
        return makeError(ENOSPC, fmt::format("pool {}: no room to store {}", name_, name));
    }
    return {};
}

Status Pool::removexattr(EntryId id, std::string_view name) {
    std::lock_guard lk(meta_);
    Inode* ino = index_.find(id);
    if (!ino) return makeError(ENOENT, "no such entry");
    const KvAttr a = kvAttr(name);
    const bool kv = a != KvAttr::None && ino->isFile();
    const std::string key(name);
    if (!kv || a == KvAttr::Parent) {
        // The blob shrinks, but one still too large for the record goes to a new chain first.
        InodeBlob next = RecordStore::blobOf(*ino);
        if (kv ? std::exchange(next.parent, {}).empty() : next.xattrs.erase(key) == 0)
            return makeError(ENODATA, fmt::format("{} is not set", name));
        if (auto st = roomForBlob(next, ino); !st) return st;
    }
    const int64_t ctime_before = ino->ctime_ns;
    std::optional<std::string> removed;  // what a removal of the blob's part takes away
    if (kv) {
        switch (a) {
            case KvAttr::Priority:
                candidates_->setPriority(ino, 0);
                break;
            case KvAttr::Pinned:
            case KvAttr::PinTtl:
                candidates_->untrackPin(*ino);
                ino->pinned = false;
                ino->pin_expires_ns = 0;
                candidates_->refresh(ino);
                break;
            case KvAttr::Parent:
                if (ino->nlink > 0) candidates_->dropChainRef(ino);  // see setxattr
                removed = std::exchange(ino->parent, {});
                break;
            case KvAttr::Layer:
                ino->layer = -1;
                break;
            case KvAttr::SeqLen:
                ino->seq_len = -1;
                break;
            case KvAttr::Unknown:
                return makeError(ENODATA, fmt::format("{} is not set", name));
            default:
                return makeError(EPERM, fmt::format("{} is read-only", name));
        }
    } else {
        auto it = ino->xattrs.find(key);
        removed = std::move(it->second);
        ino->xattrs.erase(it);
    }
    ino->ctime_ns = nowNs();
    if (!persist(ino) && removed) {
        // Room was made, yet the chain could not be backed: the attribute stays, as recorded.
        if (kv) {
            ino->parent = std::move(*removed);
            candidates_->addChainRef(ino);
        } else {
            ino->xattrs[key] = std::move(*removed);
        }
        ino->ctime_ns = ctime_before;
        return makeError(ENOSPC,
                         fmt::format("pool {}: no room to store the removal of {}", name_, name));
    }
    return {};
}

}  // namespace kvc
