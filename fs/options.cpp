// Daemon options: the -o options of the option table, config file merging and validation.
#include "fs/options.h"

#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/option_table.h"

namespace kvc::fs {
namespace {

// The text of each -o option of the table, by row; the last one given wins.
using OptionTexts = std::vector<std::optional<std::string>>;

// Called by fuse_opt_parse for every argument; `key` is the row of a matched template.
int collectOption(void* data, const char* arg, int key, fuse_args* /*out*/) {
    if (key < 0) return 1;  // not one of ours: kept for libfuse
    auto& texts = *static_cast<OptionTexts*>(data);
    const char* equals = std::strchr(arg, '=');
    texts.at(static_cast<size_t>(key)) = equals != nullptr ? std::string(equals + 1) : "";
    return 0;
}

// Takes the table's -o options out of `args`.
Result<OptionTexts> collectOptions(fuse_args& args) {
    const std::vector<std::string> templates = optionTemplates();
    std::vector<fuse_opt> opts;
    for (size_t row = 0; row < templates.size(); ++row) {
        opts.push_back(FUSE_OPT_KEY(templates[row].c_str(), static_cast<int>(row)));
    }
    opts.push_back(FUSE_OPT_END);
    OptionTexts texts(templates.size());
    if (fuse_opt_parse(&args, &texts, opts.data(), collectOption) != 0)
        return makeError(EINVAL, "cannot parse the options");
    return texts;
}

// Sets the options of one scope given with -o.
Status applyOptions(const OptionTexts& texts, bool mount_scope, const OptionTargets& to) {
    const auto rows = optionTable();
    for (size_t i = 0; i < rows.size(); ++i) {
        if (!texts[i] || (rows[i].scope == OptionScope::Mount) != mount_scope) continue;
        if (auto st = setOption(rows[i], *texts[i], to); !st) return st;
    }
    return {};
}

// What libfuse's own command line gives: -f, -d, -s, -h, -V and the mountpoint.
Status readCommandLine(fuse_args& args, DaemonOptions& o) {
    fuse_cmdline_opts cmd{};
    if (fuse_parse_cmdline(&args, &cmd) != 0)
        return makeError(EINVAL, "bad command line (see --help)");
    o.foreground = cmd.foreground;
    o.debug = cmd.debug;
    o.singlethread = cmd.singlethread;
    o.show_help = cmd.show_help;
    o.show_version = cmd.show_version;
    if (cmd.mountpoint) {
        o.mountpoint = cmd.mountpoint;
        free(cmd.mountpoint);
    }
    return {};
}

bool given(const OptionTexts& texts, std::string_view name) {
    return texts.at(static_cast<size_t>(findOption(name) - optionTable().data())).has_value();
}

// The config file, then the pool and global -o options on top of it. An empty config= reads
// no file at all.
Status readConfig(const OptionTexts& texts, DaemonOptions& o) {
    if (!given(texts, "config") && std::filesystem::exists(kDefaultConfigPath)) {
        o.config_path = kDefaultConfigPath;
    }
    o.config = defaultConfig();
    if (!o.config_path.empty()) {
        auto cfg = loadConfig(o.config_path, o.config);
        if (!cfg) return cfg.error();
        o.config = std::move(*cfg);
    }
    PoolSettings& d = o.config.defaults;
    return applyOptions(texts, false, {.pool = &d, .tiers = &d.tiers, .config = &o.config});
}

// The checks that involve several options, on the result: a disk_dir may come from the file and
// its disk_size from -o. Declared pools keep what the file said; -o sets new pools' defaults.
Status checkDefaults(const PoolSettings& d) {
    if (d.size < d.block_size)
        return makeError(EINVAL, fmt::format("option size: {} is smaller than one block ({})",
                                             d.size, d.block_size));
    if (d.tier == Tier::Disk) {
        if (d.dir.empty() || d.dir.front() != '/')
            return makeError(EINVAL, "option tier=disk needs dir=ABSOLUTE_PATH");
        if (!std::filesystem::is_directory(d.dir))
            return makeError(ENOENT, fmt::format("option dir: \"{}\" is not a directory", d.dir));
    }
    if (auto st = checkTierSettings(d.tiers, d.block_size); !st)
        return makeError(EINVAL, "option " + st.error().message);
    return {};
}

// `mount.fuse3` calls us as `kvcachefs SOURCE MOUNTPOINT -o ...`; fuse_parse_cmdline accepts
// one non-option argument, so the source is taken out first.
std::string takeSource(fuse_args& args) {
    std::vector<int> positional;
    for (int i = 1; i < args.argc; ++i) {
        const char* a = args.argv[i];
        if (std::strcmp(a, "-o") == 0) {
            ++i;
            continue;
        }
        if (a[0] != '-') positional.push_back(i);
    }
    if (positional.size() < 2) return {};
    const int at = positional.front();
    std::string source = args.argv[at];
    if (args.allocated) free(args.argv[at]);  // else it is main()'s argv
    for (int i = at; i + 1 < args.argc; ++i) args.argv[i] = args.argv[i + 1];
    args.argc--;
    args.argv[args.argc] = nullptr;
    return source;
}

}  // namespace

void printUsage(const char* program) {
    fmt::print("usage: {} [SOURCE] MOUNTPOINT [-o OPTIONS] [-f] [-d]\n", program);
    fmt::print("       {} snapshot POOLDIR FILE\n", program);
    fmt::print("       {} restore [--replace] FILE POOLDIR\n", program);
    fmt::print("       {} status [--json] [MOUNT|POOLDIR]\n", program);
    fmt::print("       {} policies\n\n", program);
    fmt::print("kvcachefs options (-o NAME=VALUE, comma-separated; defaults in brackets):\n");
    fmt::print("{}", optionHelp());
    fmt::print("  default_permissions is always on; as root, allow_other is added.\n");
    fmt::print(
        "\nLogs: with -f, to stderr; in the background, to syslog (daemon facility, see\n"
        "journalctl -t kvcachefs), or to stderr when there is no /dev/log (a container).\n");
    fmt::print("\nFUSE options:\n");
    fflush(stdout);
    fuse_cmdline_help();
    fuse_lowlevel_help();
}

Result<DaemonOptions> parseDaemonOptions(fuse_args& args) {
    DaemonOptions o;
    if (args.argc > 0) {
        std::string src = takeSource(args);
        if (!src.empty()) o.source = src;
    }
    auto texts = collectOptions(args);
    if (!texts) return texts.error();
    if (auto st = readCommandLine(args, o); !st) return st.error();
    if (o.show_help || o.show_version) return o;
    if (o.mountpoint.empty()) return makeError(EINVAL, "no mountpoint given (see --help)");

    // The daemon's own options first: config= names the file the others go on top of.
    if (auto st = applyOptions(*texts, true, {.mount = &o}); !st) return st.error();
    if (auto st = readConfig(*texts, o); !st) return st.error();
    if (auto st = checkDefaults(o.config.defaults); !st) return st.error();

    // The kernel checks mode bits for us; as root the mount is for every user.
    fuse_opt_add_arg(&args, "-odefault_permissions");
    if (geteuid() == 0) fuse_opt_add_arg(&args, "-oallow_other");
    fuse_opt_add_arg(&args, fmt::format("-ofsname={}", o.source).c_str());
    fuse_opt_add_arg(&args, "-osubtype=kvcachefs");
    return o;
}

}  // namespace kvc::fs
