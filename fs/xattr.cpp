// Extended attributes of entries and directories (see core/pool_xattr.cpp for the rules).
// The root and control files have none.
#include <cstring>
#include <string>

#include "core/clock.h"
#include "core/xattr_rules.h"
#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {
namespace {

constexpr const char* kDataSocketXattr = "user.kvcache.data_socket";

// The pool of a node that can carry attributes, or nullptr (the root, control files).
std::shared_ptr<PoolSlot> attributable(fuse_req_t req, fuse_ino_t ino) {
    const NodeRef ref = splitIno(ino);
    if (ino == FUSE_ROOT_ID || isControlNode(ref)) return nullptr;
    return poolOf(req, ino);
}

void replySized(fuse_req_t req, const std::string& value, size_t size) {
    if (size == 0) return (void)fuse_reply_xattr(req, value.size());
    if (size < value.size()) return replyError(req, ERANGE);
    fuse_reply_buf(req, value.data(), value.size());
}

}  // namespace

void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
    guarded(req, "setxattr", [&] {
        auto slot = attributable(req, ino);
        if (!slot) return replyError(req, EPERM);
        auto st =
            slot->pool->setxattr(splitIno(ino).local, name, std::string_view(value, size), flags);
        if (!st) {
            // A kvcache attribute's value refused (not the create/replace flags' answers): kept
            // for the pool's .errors, as a control write's.
            if (std::string_view(name).starts_with(kKvcacheXattrPrefix) &&
                st.error().code != EEXIST && st.error().code != ENODATA)
                slot->rejects.add(name, st.error(), nowNs());
            return replyError(req, st.error(), "setxattr");
        }
        replyOk(req);
    });
}

void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    guarded(req, "getxattr", [&] {
        // The root's one attribute, read-only and not listed: where the data path listens.
        if (ino == FUSE_ROOT_ID && std::strcmp(name, kDataSocketXattr) == 0) {
            const std::string& path = fsOf(req).dataSocket();
            if (path.empty()) return replyError(req, ENODATA);
            return replySized(req, path, size);
        }
        auto slot = attributable(req, ino);
        if (!slot) return replyError(req, ENODATA);
        auto v = slot->pool->getxattr(splitIno(ino).local, name);
        if (!v) return replyError(req, v.error(), "getxattr");
        replySized(req, *v, size);
    });
}

void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    guarded(req, "listxattr", [&] {
        auto slot = attributable(req, ino);
        std::string all;
        if (slot) {
            auto names = slot->pool->listxattr(splitIno(ino).local);
            if (!names) return replyError(req, names.error(), "listxattr");
            for (const auto& n : *names) all.append(n).push_back('\0');
        }
        replySized(req, all, size);
    });
}

void opRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    guarded(req, "removexattr", [&] {
        auto slot = attributable(req, ino);
        if (!slot) return replyError(req, EPERM);
        auto st = slot->pool->removexattr(splitIno(ino).local, name);
        if (!st) return replyError(req, st.error(), "removexattr");
        replyOk(req);
    });
}

}  // namespace kvc::fs
