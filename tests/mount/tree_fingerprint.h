// What a user sees of a directory tree, as text to compare: for every path below a directory
// (sorted, not following links) its type, mode, owner, size, device, link count, which names
// share an inode, modification time, a link's target, a regular file's bytes (hashed) and its
// user.* attributes (not user.kvcache.*, which only a pool has). The mount tests compare trees
// before and after a remount or a restore, and after ordinary tools copied them.
#pragma once

#include <string>

namespace kvctest {

struct TreeView {
    bool dir_mtimes = true;  // tools that leave a directory's mtime to the copy say false
    bool holes = false;      // whether a file has fewer blocks than its size needs
};

std::string describeTree(const std::string& dir, const TreeView& view = {});

}  // namespace kvctest
