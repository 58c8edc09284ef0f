#include "tests/mount/tree_fingerprint.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <sstream>
#include <vector>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

std::string userXattrs(const std::string& path) {
    std::vector<char> names(65536);
    const ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
    if (n < 0) return "listxattr:" + errName(errno);
    std::map<std::string, std::string> attrs;
    for (ssize_t i = 0; i < n;) {
        const std::string name(names.data() + i);
        i += static_cast<ssize_t>(name.size()) + 1;
        if (name.rfind("user.", 0) != 0 || name.rfind("user.kvcache.", 0) == 0) continue;
        std::vector<char> value(65536);
        const ssize_t v = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        attrs[name] = v < 0 ? "getxattr:" + errName(errno) : std::string(value.data(), v);
    }
    std::string out;
    for (const auto& [k, v] : attrs) out += " " + k + "=" + v;
    return out;
}

struct Walker {
    const std::string& top;
    const TreeView& view;
    std::map<std::pair<dev_t, ino_t>, std::string> inodes;  // first path of each inode
    std::ostringstream out;

    void walk(const std::string& rel) {
        for (const std::string& name : listDir(top + "/" + rel)) {
            if (name == "." || name == "..") continue;
            const std::string path = top + "/" + rel + name;
            struct stat st {};
            if (lstat(path.c_str(), &st) != 0) {
                out << rel << name << " lstat:" << errName(errno) << "\n";
                continue;
            }
            out << rel << name << " mode=" << std::oct << st.st_mode << std::dec
                << " nlink=" << st.st_nlink << " uid=" << st.st_uid << " gid=" << st.st_gid;
            if (!S_ISDIR(st.st_mode)) out << " size=" << st.st_size;
            if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
                out << " rdev=" << major(st.st_rdev) << ":" << minor(st.st_rdev);
            if (!S_ISDIR(st.st_mode) || view.dir_mtimes)
                out << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
            if (st.st_nlink > 1 && !S_ISDIR(st.st_mode)) {
                auto [it, first] = inodes.emplace(std::make_pair(st.st_dev, st.st_ino), rel + name);
                if (!first) out << " same-inode-as=" << it->second;
            }
            if (S_ISLNK(st.st_mode)) {
                char buf[4096];
                const ssize_t n = readlink(path.c_str(), buf, sizeof buf);
                out << " -> " << (n < 0 ? errName(errno) : std::string(buf, n));
            } else if (S_ISREG(st.st_mode)) {
                int err = 0;
                auto data = readFile(path, &err);
                out << " bytes="
                    << (data ? std::to_string(std::hash<std::string>{}(*data))
                             : "read:" + errName(err));
                if (view.holes) out << (st.st_blocks * 512 < st.st_size ? " holes" : " no-holes");
            }
            if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) out << userXattrs(path);
            out << "\n";
            if (S_ISDIR(st.st_mode)) walk(rel + name + "/");
        }
    }
};

}  // namespace

std::string describeTree(const std::string& dir, const TreeView& view) {
    Walker w{dir, view, {}, {}};
    w.walk("");
    return w.out.str();
}

}  // namespace kvctest
