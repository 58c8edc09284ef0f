// The rules for names of entries and directories inside a pool (see core/names.h). They need no
// pool state: the pool, the control requests and the snapshot verifier apply the same ones.
#include "core/names.h"

#include <fmt/format.h>

#include "core/excerpt.h"
#include "core/layout.h"
#include "core/xattr_limits.h"

namespace kvc {

Status validateEntryName(std::string_view name) {
    if (name.size() > kMaxNameBytes)
        return makeError(ENAMETOOLONG, fmt::format("name of {} bytes is longer than {}",
                                                   name.size(), kMaxNameBytes));
    if (name.empty() || name == "." || name == ".." ||
        name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos)
        return makeError(EINVAL, "invalid name " + excerpt(name));
    return {};
}

Status validateEntryPath(std::string_view path, std::string_view what) {
    if (path.empty() || path.size() > kMaxParentPathBytes)
        return makeError(
            EINVAL, fmt::format("{}: empty or longer than {} bytes", what, kMaxParentPathBytes));
    while (!path.empty()) {
        const size_t slash = path.find('/');
        if (auto st = validateEntryName(path.substr(0, slash)); !st)
            return makeError(EINVAL, fmt::format("{}: {}", what, st.error().message));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
        if (path.empty()) return makeError(EINVAL, fmt::format("{}: trailing '/'", what));
    }
    return {};
}

Status validateParentPath(std::string_view path) {
    return validateEntryPath(path, "user.kvcache.parent");
}

Status validateSymlinkTarget(std::string_view target) {
    if (target.empty()) return makeError(ENOENT, "a symbolic link needs a target");
    if (target.size() > kMaxSymlinkBytes)
        return makeError(ENAMETOOLONG, fmt::format("a symbolic link's target is {} bytes, more "
                                                   "than {}",
                                                   target.size(), kMaxSymlinkBytes));
    if (target.find('\0') != std::string_view::npos)
        return makeError(EINVAL, "a symbolic link's target holds a NUL byte");
    return {};
}

bool isPoolControlName(std::string_view name) {
    for (std::string_view c : kPoolControlNames)
        if (name == c) return true;
    return false;
}

Status validateNewName(std::string_view name, bool pool_top) {
    if (auto st = validateEntryName(name); !st) return st;
    if (pool_top && isPoolControlName(name))
        return makeError(EEXIST, fmt::format("{} is a control file of the pool", name));
    return {};
}

Status validatePoolPath(std::string_view path, std::string_view what) {
    if (auto st = validateEntryPath(path, what); !st) return st;
    const std::string_view top = path.substr(0, path.find('/'));
    if (isPoolControlName(top))
        return makeError(EEXIST, fmt::format("{}: {} is a control file of the pool", what, top));
    return {};
}

}  // namespace kvc
