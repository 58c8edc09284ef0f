// The dispatch of the kvcachefs binary's commands (see cli/commands.h).
#include "cli/commands.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/restore_command.h"
#include "cli/snapshot_command.h"

namespace kvc::cli {
namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: kvcachefs snapshot POOLDIR FILE\n"
                 "       kvcachefs restore [--replace] FILE POOLDIR\n");
    return 2;
}

}  // namespace

bool isCommand(int argc, char** argv) {
    return argc >= 2 &&
           (std::strcmp(argv[1], "snapshot") == 0 || std::strcmp(argv[1], "restore") == 0);
}

int runCommand(int argc, char** argv) {
    const std::string command = argv[1];
    std::vector<std::string> args;
    bool replace = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--replace" && command == "restore") {
            replace = true;
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else if (a.size() > 1 && a[0] == '-' && a != "--") {
            std::fprintf(stderr, "kvcachefs %s: unknown option %s\n", command.c_str(), a.c_str());
            return usage();
        } else if (a != "--") {
            args.push_back(a);
        }
    }
    if (args.size() != 2) return usage();
    if (command == "snapshot") return runSnapshot(args[0], args[1]);
    return runRestore(args[0], args[1], replace);
}

}  // namespace kvc::cli
