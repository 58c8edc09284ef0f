// Daemon options: the fuse_opt table, config file merging and validation.
#include "fs/options.h"

#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "core/policy/eviction_policy.h"
#include "core/size.h"

namespace kvc::fs {
namespace {

// Raw strings as fuse_opt stores them (malloc'ed); validated after parsing.
struct RawOptions {
    char* size = nullptr;
    char* policy = nullptr;
    char* block_size = nullptr;
    char* config = nullptr;
    char* instance = nullptr;
    char* tier = nullptr;
    char* dir = nullptr;
    char* pin_budget = nullptr;
    char* max_entries = nullptr;
    char* shm_prefix = nullptr;
    char* timeout = nullptr;
    char* restore = nullptr;
    // Lower tiers of new pools (TierSettings), checked by setTierOption().
    char* disk_dir = nullptr;
    char* disk_size = nullptr;
    char* disk_policy = nullptr;
    char* remote = nullptr;
    char* remote_namespace = nullptr;
    char* remote_timeout_ms = nullptr;
    char* remote_ttl_s = nullptr;
    char* remote_layout = nullptr;
    char* demote_min_reads = nullptr;
    char* demote_queue = nullptr;
    int direct_io = 0;
    int write_through = 0;
    int verify_reads = 0;
};

#define KVC_OPT(t, p) \
    { t, offsetof(RawOptions, p), 1 }
const fuse_opt kOptionTable[] = {
    KVC_OPT("size=%s", size),
    KVC_OPT("policy=%s", policy),
    KVC_OPT("block_size=%s", block_size),
    KVC_OPT("config=%s", config),
    KVC_OPT("instance=%s", instance),
    KVC_OPT("tier=%s", tier),
    KVC_OPT("dir=%s", dir),
    KVC_OPT("pin_budget=%s", pin_budget),
    KVC_OPT("max_entries=%s", max_entries),
    KVC_OPT("shm_prefix=%s", shm_prefix),
    KVC_OPT("timeout=%s", timeout),
    KVC_OPT("restore=%s", restore),
    KVC_OPT("disk_dir=%s", disk_dir),
    KVC_OPT("disk_size=%s", disk_size),
    KVC_OPT("disk_policy=%s", disk_policy),
    KVC_OPT("remote=%s", remote),
    KVC_OPT("remote_namespace=%s", remote_namespace),
    KVC_OPT("remote_timeout_ms=%s", remote_timeout_ms),
    KVC_OPT("remote_ttl_s=%s", remote_ttl_s),
    KVC_OPT("remote_layout=%s", remote_layout),
    KVC_OPT("demote_min_reads=%s", demote_min_reads),
    KVC_OPT("demote_queue=%s", demote_queue),
    KVC_OPT("direct_io", direct_io),
    KVC_OPT("write_through", write_through),
    KVC_OPT("verify_reads", verify_reads),
    FUSE_OPT_END,
};
#undef KVC_OPT

constexpr const char* kOptionHelp =
    "kvcachefs options (-o NAME=VALUE, comma-separated; defaults in brackets):\n"
    "    size=SIZE            capacity of pools made with mkdir [1G]\n"
    "    policy=NAME          eviction policy of new pools [lru] ({policies})\n"
    "    block_size=SIZE      block size of new pools, 4K..2M, a power of two [4K]\n"
    "    tier=cpu|disk        where new pools live: shared memory or a file in dir= [cpu]\n"
    "    dir=PATH             directory of disk-tier segments (required with tier=disk)\n"
    "    pin_budget=SIZE      bytes that may be pinned per pool, 0 = no limit [0]\n"
    "    max_entries=N        entries per pool, 0 = one per block, at least 65536 [0]\n"
    "    instance=NAME        names this mount's segments; a remount reattaches them [default]\n"
    "    shm_prefix=NAME      prefix of segment names in /dev/shm [kvcachefs]\n"
    "    config=FILE          TOML config file [/etc/kvcachefs/kvcachefs.toml if present]\n"
    "    timeout=SECONDS      kernel cache time for names and attributes [3600]\n"
    "    direct_io            entries bypass the page cache (no second copy; no shared mmap)\n"
    "    verify_reads         check an entry's checksum at every open for reading (a mismatch is\n"
    "                         a miss: the entry is dropped and counted)\n"
    "    restore=FILE         load a snapshot into its pool before serving (merge) [none]\n"
    "  lower tiers of new pools (entries evicted go down; misses are looked up below):\n"
    "    disk_dir=PATH        directory of the disk tier's segment files [none: no disk tier]\n"
    "    disk_size=SIZE       capacity of the disk tier (required with disk_dir)\n"
    "    disk_policy=NAME     eviction policy of the disk tier [the pool's policy]\n"
    "    remote=HOST:PORT+... Redis Cluster seeds, '+'-separated [none: no remote tier]\n"
    "    remote_namespace=NS  first part of every key in the cluster [kvcachefs]\n"
    "    remote_timeout_ms=N  connect and per-command timeout, 1..60000 [250]\n"
    "    remote_ttl_s=N       expiry of values stored in the cluster, 0 = none [0]\n"
    "    remote_layout=NAME   KV layout name; values of another layout are misses [none]\n"
    "    write_through        also publish entries to the cluster when written (needs remote)\n"
    "    demote_min_reads=N   only entries read at least N times go down [0]\n"
    "    demote_queue=SIZE    bound of the demotion queue, at least 64K; beyond it, dropped [64M]\n"
    "  default_permissions is always on; as root, allow_other is added.\n";

std::string policyList() {
    std::string out;
    for (const auto& p : policyNames()) out += (out.empty() ? "" : ", ") + p;
    return out;
}

std::string instanceError(std::string_view v) {
    return fmt::format(
        "invalid instance name \"{}\": use letters, digits, '_' and '-' (at most "
        "64)",
        v);
}

bool validInstance(std::string_view v) {
    if (v.empty() || v.size() > 64) return false;
    for (char c : v)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
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

void freeRaw(RawOptions& r) {
    for (char* p : {r.size,         r.policy,           r.block_size,
                    r.config,       r.instance,         r.tier,
                    r.dir,          r.pin_budget,       r.max_entries,
                    r.shm_prefix,   r.timeout,          r.restore,
                    r.disk_dir,     r.disk_size,        r.disk_policy,
                    r.remote,       r.remote_namespace, r.remote_timeout_ms,
                    r.remote_ttl_s, r.remote_layout,    r.demote_min_reads,
                    r.demote_queue})
        free(p);
}

}  // namespace

void printUsage(const char* program) {
    fmt::print("usage: {} [SOURCE] MOUNTPOINT [-o OPTIONS] [-f] [-d]\n", program);
    fmt::print("       {} snapshot POOLDIR FILE\n", program);
    fmt::print("       {} restore [--replace] FILE POOLDIR\n\n", program);
    fmt::print(fmt::runtime(kOptionHelp), fmt::arg("policies", policyList()));
    fmt::print("\nFUSE options:\n");
    fflush(stdout);
    fuse_cmdline_help();
    fuse_lowlevel_help();
}

Result<DaemonOptions> parseDaemonOptions(fuse_args& args) {
    DaemonOptions o;
    if (fuse_args* a = &args; a->argc > 0) {
        std::string src = takeSource(args);
        if (!src.empty()) o.source = src;
    }
    RawOptions raw;
    if (fuse_opt_parse(&args, &raw, kOptionTable, nullptr) != 0)
        return makeError(EINVAL, "cannot parse the options");
    struct RawGuard {
        RawOptions& r;
        ~RawGuard() { freeRaw(r); }
    } guard{raw};

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
    if (o.show_help || o.show_version) return o;
    if (o.mountpoint.empty()) return makeError(EINVAL, "no mountpoint given (see --help)");

    // Config file first, then -o options on top of it.
    Config base = defaultConfig();
    if (raw.config) {
        o.config_path = raw.config;
    } else if (std::filesystem::exists(kDefaultConfigPath)) {
        o.config_path = kDefaultConfigPath;
    }
    if (!o.config_path.empty()) {
        auto cfg = loadConfig(o.config_path, base);
        if (!cfg) return cfg.error();
        base = std::move(*cfg);
    }
    o.config = std::move(base);
    PoolSettings& d = o.config.defaults;
    auto bad = [](std::string_view opt, const Error& e) {
        return makeError(EINVAL, fmt::format("option {}: {}", opt, e.message));
    };
    if (raw.size) {
        auto v = parseSize(raw.size);
        if (!v) return bad("size", v.error());
        d.size = *v;
    }
    if (raw.block_size) {
        auto v = parseBlockSize(raw.block_size);
        if (!v) return bad("block_size", v.error());
        d.block_size = *v;
    }
    if (d.size < d.block_size)
        return makeError(EINVAL, fmt::format("option size: {} is smaller than one block ({})",
                                             d.size, d.block_size));
    if (raw.policy) {
        auto p = makePolicy(raw.policy);
        if (!p)
            return makeError(EINVAL, fmt::format("option policy: unknown policy \"{}\" (one of: "
                                                 "{})",
                                                 raw.policy, policyList()));
        d.policy = std::string(p->name());
    }
    if (raw.tier) {
        auto t = parseTier(raw.tier);
        if (!t) return bad("tier", t.error());
        d.tier = *t;
    }
    if (raw.dir) d.dir = raw.dir;
    if (d.tier == Tier::Disk) {
        if (d.dir.empty() || d.dir.front() != '/')
            return makeError(EINVAL, "option tier=disk needs dir=ABSOLUTE_PATH");
        if (!std::filesystem::is_directory(d.dir))
            return makeError(ENOENT, fmt::format("option dir: \"{}\" is not a directory", d.dir));
    }
    if (raw.pin_budget) {
        auto v = parseSize(raw.pin_budget);
        if (!v) return bad("pin_budget", v.error());
        d.pin_budget = *v;
    }
    if (raw.max_entries) {
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(raw.max_entries, &end, 10);
        if (errno || !end || *end || raw.max_entries[0] == '-' || raw.max_entries[0] == 0)
            return makeError(
                EINVAL, fmt::format("option max_entries: \"{}\" is not a number", raw.max_entries));
        d.max_entries = v;
    }
    // The tier options, each checked as the config file checks the key of the same name.
    const std::pair<const char*, const char*> tier_options[] = {
        {"disk_dir", raw.disk_dir},
        {"disk_size", raw.disk_size},
        {"disk_policy", raw.disk_policy},
        {"remote", raw.remote},
        {"remote_namespace", raw.remote_namespace},
        {"remote_timeout_ms", raw.remote_timeout_ms},
        {"remote_ttl_s", raw.remote_ttl_s},
        {"remote_layout", raw.remote_layout},
        {"demote_min_reads", raw.demote_min_reads},
        {"demote_queue", raw.demote_queue},
    };
    for (const auto& [name, value] : tier_options) {
        if (value == nullptr) continue;
        if (auto st = setTierOption(d.tiers, name, value); !st) return bad(name, st.error());
    }
    if (raw.write_through) d.tiers.write_through = true;
    // On the result: a disk_dir may come from the file and its disk_size from -o.
    if (auto st = checkTierSettings(d.tiers, d.block_size); !st)
        return makeError(EINVAL, "option " + st.error().message);
    if (raw.instance) {
        if (!validInstance(raw.instance))
            return makeError(EINVAL, "option instance: " + instanceError(raw.instance));
        o.instance = raw.instance;
    }
    if (raw.shm_prefix) {
        if (auto st = validateShmPrefix(raw.shm_prefix); !st) return bad("shm_prefix", st.error());
        o.config.shm_prefix = raw.shm_prefix;
    }
    if (raw.timeout) {
        char* end = nullptr;
        const double v = std::strtod(raw.timeout, &end);
        if (!end || *end || !(v >= 0 && v <= 86400 * 365))
            return makeError(EINVAL, fmt::format("option timeout: \"{}\" is not a number of "
                                                 "seconds",
                                                 raw.timeout));
        o.timeout_s = v;
    }
    o.page_cache = !raw.direct_io;
    o.verify_reads = raw.verify_reads != 0;
    // Absolute: mount(8) may start us anywhere, and the daemon later changes directory.
    if (raw.restore) o.restore_path = std::filesystem::absolute(raw.restore).string();
    // Declared pools inherit -o overrides only where the file said nothing: the config loader
    // already filled them from [defaults], which is what an operator expects.
    // The kernel checks mode bits for us; as root the mount is for every user.
    fuse_opt_add_arg(&args, "-odefault_permissions");
    if (geteuid() == 0) fuse_opt_add_arg(&args, "-oallow_other");
    fuse_opt_add_arg(&args, fmt::format("-ofsname={}", o.source).c_str());
    fuse_opt_add_arg(&args, "-osubtype=kvcachefs");
    return o;
}

}  // namespace kvc::fs
