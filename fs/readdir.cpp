// opendir, readdir, releasedir. Offsets: 1 is ".", 2 is "..", then each name's cookie + 2
// (the root lists pools by index). Control files are not listed.
#include <sys/stat.h>

#include <vector>

#include "fs/ops.h"
#include "fs/reply.h"

namespace kvc::fs {

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    guarded(req, "opendir", [&] {
        const NodeRef ref = splitIno(ino);
        if (isControlNode(ref)) return replyError(req, ENOTDIR);
        if (ino != FUSE_ROOT_ID) {
            auto slot = poolOf(req, ino);
            if (!slot) return replyError(req, ENOENT);
            auto a = slot->pool->getattr(ref.local);
            if (!a) return replyError(req, a.error(), "opendir");
            if (!S_ISDIR(a->mode)) return replyError(req, ENOTDIR);
        }
        fi->fh = 0;
        fuse_reply_open(req, fi);
    });
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    guarded(req, "readdir", [&] {
        std::vector<char> buf(size);
        size_t used = 0;
        auto add = [&](const char* name, fuse_ino_t child, uint32_t mode, off_t next) {
            struct stat st {};
            st.st_ino = child;
            st.st_mode = mode;
            const size_t len =
                fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
            if (len > size - used) return false;
            used += len;
            return true;
        };
        if (off < 1 && !add(".", ino, S_IFDIR, 1))
            return (void)fuse_reply_buf(req, buf.data(), used);
        if (off < 2 && !add("..", FUSE_ROOT_ID, S_IFDIR, 2))
            return (void)fuse_reply_buf(req, buf.data(), used);
        if (ino == FUSE_ROOT_ID) {
            for (const auto& slot : fsOf(req).pools()) {
                const off_t next = static_cast<off_t>(slot->index) + 2;
                if (next <= off) continue;
                if (!add(slot->name.c_str(), makeIno(slot->index, kPoolRootId), S_IFDIR, next))
                    break;
            }
            return (void)fuse_reply_buf(req, buf.data(), used);
        }
        auto slot = poolOf(req, ino);
        if (!slot) return replyError(req, ENOENT);
        const NodeRef ref = splitIno(ino);
        const uint64_t cookie = off > 2 ? static_cast<uint64_t>(off) - 2 : 0;
        auto entries = slot->pool->readdir(ref.local, cookie, size / 32 + 1);
        if (!entries) return replyError(req, entries.error(), "readdir");
        for (const DirEntry& e : *entries)
            if (!add(e.name.c_str(), makeIno(ref.pool, e.id), e.mode,
                     static_cast<off_t>(e.cookie + 2)))
                break;
        fuse_reply_buf(req, buf.data(), used);
    });
}

void opReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    replyOk(req);
}

void opFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
    replyOk(req);
}

}  // namespace kvc::fs
