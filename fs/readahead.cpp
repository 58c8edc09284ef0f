// The kernel gives every FUSE mount 128 KiB of read-ahead, and INIT can only lower it. With
// 1 MiB, sequential reads and the page faults of a mapped entry become 1 MiB requests instead
// of 128 KiB ones (4 KiB ones for a mapping advised MADV_SEQUENTIAL): cold mmap reads ran 10x
// faster (docs/PERFORMANCE.md). The window lives in sysfs under the mount's device number,
// which /proc/self/mountinfo gives without touching the mountpoint (docs/DECISIONS.md, D6).
// Needs root.
#include "fs/readahead.h"

#include <fstream>
#include <sstream>

namespace kvc::fs {
namespace {

// A mountinfo field with its octal escapes (\040 for a space, ...) undone.
std::string unescapeMountinfo(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        auto octal = [&](size_t k) {
            return k < field.size() && field[k] >= '0' && field[k] <= '7';
        };
        if (field[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
            out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                     (field[i + 3] - '0'));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

}  // namespace

std::string raiseReadahead(const std::string& mountpoint, unsigned kib) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line, device;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, major_minor, root, point;
        fields >> id >> parent >> major_minor >> root >> point;
        if (unescapeMountinfo(point) == mountpoint) device = major_minor;  // the topmost wins
    }
    if (device.empty()) return mountpoint + " is not in /proc/self/mountinfo";
    const std::string knob_path = "/sys/class/bdi/" + device + "/read_ahead_kb";
    std::ofstream knob(knob_path);
    knob << kib << '\n';
    knob.flush();
    if (!knob) return "cannot write " + knob_path + " (not root?)";
    return {};
}

}  // namespace kvc::fs
