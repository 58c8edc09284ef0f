// Helpers shared by the FUSE callbacks: finding the filesystem and pool of a request, turning
// core results into exactly one reply, and the exception boundary.
#pragma once

#include <fuse_lowlevel.h>

#include <exception>
#include <memory>

#include "core/result.h"
#include "fs/filesystem.h"
#include "fs/log.h"

namespace kvc::fs {

inline Filesystem& fsOf(fuse_req_t req) {
    return *static_cast<Filesystem*>(fuse_req_userdata(req));
}

// Every error reply goes through replyError: with a core Error (logged at debug level with the
// operation), or with an errno the adapter decided itself. replyOk is a success with no data.
inline void replyError(fuse_req_t req, const Error& e, const char* op) {
    log(LogLevel::Debug, "{}: {} ({})", op, e.message,
        strerrorname_np(e.code) ? strerrorname_np(e.code) : "?");
    fuse_reply_err(req, e.code);
}

inline void replyError(fuse_req_t req, int code) {
    fuse_reply_err(req, code);
}

inline void replyOk(fuse_req_t req) {
    fuse_reply_err(req, 0);
}

// `attr_timeout`: how long the kernel may cache the attributes (the entry's name is cached for
// the mount's timeout).
void replyEntry(fuse_req_t req, const struct stat& st, uint64_t generation, double attr_timeout);
void replyPoolEntry(fuse_req_t req, uint32_t pool, const EntryAttr& a);

// The pool an inode belongs to, or nullptr (the pool was deleted).
std::shared_ptr<PoolSlot> poolOf(fuse_req_t req, fuse_ino_t ino);

// A request on a control file first waits for the releases the requesting thread's earlier
// closes owe (fs/close_order.h), so that what the pool answers follows those closes.
inline void awaitOwnCloses(fuse_req_t req) {
    fsOf(req).closeOrder().awaitReleases(fuse_req_ctx(req)->pid);
}

// Runs a callback body; anything thrown becomes EIO (logged once), never crossing into libfuse.
template <class F>
void guarded(fuse_req_t req, const char* op, F&& body) noexcept {
    try {
        body();
    } catch (const std::exception& e) {
        log(LogLevel::Error, "{}: internal error: {}", op, e.what());
        replyError(req, EIO);
    } catch (...) {
        log(LogLevel::Error, "{}: internal error", op);
        replyError(req, EIO);
    }
}

// Group and mode bits a new node gets in `dir_attr`'s directory (setgid directories pass their
// group, and to subdirectories their setgid bit).
void inheritFromDir(const EntryAttr& dir_attr, bool is_dir, uint32_t& gid, uint32_t& mode);

}  // namespace kvc::fs
