// Declarations of the FUSE callbacks, one family per .cpp file.
#pragma once

#include <fuse_lowlevel.h>

namespace kvc::fs {

// lookup.cpp
void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
// namespace.cpp
void opMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void opRmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void opUnlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void opRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
void opLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void opSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void opMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void opReadlink(fuse_req_t req, fuse_ino_t ino);
// open.cpp
void opCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
// read.cpp
void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void opLseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi);
// write.cpp
void opWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi);
void opFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi);
// readdir.cpp
void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void opReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void opFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
// statfs.cpp
void opStatfs(fuse_req_t req, fuse_ino_t ino);
// xattr.cpp
void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void opRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

}  // namespace kvc::fs
