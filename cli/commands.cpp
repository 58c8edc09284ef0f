// The dispatch of the kvcachefs binary's commands (see cli/commands.h).
#include "cli/commands.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/restore_command.h"
#include "cli/snapshot_command.h"
#include "cli/status_command.h"

namespace kvc::cli {
namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: kvcachefs snapshot POOLDIR FILE\n"
                 "       kvcachefs restore [--replace] FILE POOLDIR\n"
                 "       kvcachefs status [--json] [MOUNT|POOLDIR]   (default /kvcache)\n"
                 "       kvcachefs policies\n");
    return 2;
}

}  // namespace

bool isCommand(int argc, char** argv) {
    if (argc < 2) return false;
    for (const char* c : {"snapshot", "restore", "status", "policies"})
        if (std::strcmp(argv[1], c) == 0) return true;
    return false;
}

int runCommand(int argc, char** argv) {
    const std::string command = argv[1];
    std::vector<std::string> args;
    bool replace = false, json = false;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--replace" && command == "restore") {
            replace = true;
        } else if (a == "--json" && command == "status") {
            json = true;
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
    if (command == "policies") return args.empty() ? runPolicies() : usage();
    if (command == "status") {
        if (args.size() > 1) return usage();
        return runStatus(args.empty() ? "/kvcache" : args[0], json);
    }
    if (args.size() != 2) return usage();
    if (command == "snapshot") return runSnapshot(args[0], args[1]);
    return runRestore(args[0], args[1], replace);
}

}  // namespace kvc::cli
