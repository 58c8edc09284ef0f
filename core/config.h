// The configuration file (/etc/kvcachefs/kvcachefs.toml): defaults for every pool and the pools
// created at mount. examples/kvcachefs.toml documents every key.
//
// Parsing is strict: an unknown section or key, a value of the wrong type or a bad value is an
// error naming the file, the line and the key, because a misspelt `polcy = "lfu"` that was
// silently ignored would leave an operator debugging the wrong thing. Mount options are applied
// by the caller on top of the result, so they override the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace kvc {

// Where a pool keeps its blocks: a POSIX shared-memory segment, or a file in a directory on disk.
enum class Tier { Cpu, Disk };

// "cpu" or "disk".
std::string_view tierName(Tier tier);
// Parses a tier name, case-insensitively; EINVAL naming the input otherwise.
Result<Tier> parseTier(std::string_view text);

// Lower tiers below a pool's shared memory (docs/TIERS.md): entries evicted from the pool go
// down asynchronously, and a name the pool lacks is looked up below and copied back up.
struct TierSettings {
    // Disk tier: a segment file in `disk_dir` (absolute; empty: no disk tier).
    std::string disk_dir;
    uint64_t disk_size = 0;   // capacity in bytes; required with disk_dir
    std::string disk_policy;  // empty: the pool's policy
    // Remote tier: a Redis Cluster (empty seeds: no remote tier).
    std::vector<std::string> remote_seeds;       // "host:port"
    std::string remote_namespace = "kvcachefs";  // first part of every key
    uint32_t remote_timeout_ms = 250;            // connect and per-command timeout
    uint64_t remote_ttl_s = 0;                   // expiry of stored values; 0: none
    std::string remote_layout;   // the KV layout's name; values of another layout are misses
    bool write_through = false;  // also publish entries to the remote tier when written
    // Demotion.
    uint32_t demote_min_reads = 0;              // only entries read at least this often go down
    uint64_t demote_queue_bytes = 64ull << 20;  // bound of the queue; beyond it demotions drop

    bool any() const { return !disk_dir.empty() || !remote_seeds.empty(); }
    bool operator==(const TierSettings&) const = default;
};

// Bounds of the tier keys, the same for the config file and the mount options.
inline constexpr size_t kMaxRemoteNamespaceBytes = 64;
inline constexpr uint32_t kMaxRemoteTimeoutMs = 60000;
// Ten years: any longer expiry is as good as none (0), and Redis refuses a SET whose expiry in
// milliseconds does not fit its clock arithmetic.
inline constexpr uint64_t kMaxRemoteTtlSeconds = 10ull * 365 * 24 * 3600;
inline constexpr size_t kMaxRemoteLayoutBytes = 128;
inline constexpr uint64_t kMinDemoteQueueBytes = 64 * 1024;

// Parses a list of Redis Cluster seeds, "HOST:PORT" separated by ',', '+' or spaces (a mount
// option cannot hold a ',', so `remote=a:7000+b:7000`). The host is non-empty and has no spaces
// (an IPv6 address goes in brackets, "[::1]:7000"); the port is decimal, 1 to 65535. The addresses
// come back as written. EINVAL naming the bad item, or "no address" for an empty list.
Result<std::vector<std::string>> parseSeedList(std::string_view text);

// A remote namespace: 1 to kMaxRemoteNamespaceBytes of letters, digits, '_', '.' and '-' (it
// starts every key in the cluster, "NAMESPACE:POOL:PATH"; a ':' in it would let two namespaces
// name the same key). EINVAL naming the input otherwise.
Status validateRemoteNamespace(std::string_view name);

// Sets one tier key from its text form, as a mount option gives it: a LowerTier row of the option
// table (core/option_table.h) that takes a value (write_through is a flag, set directly). The
// checks are those of the config file. EINVAL with a message naming the value but not the key,
// which the caller adds; an unknown key is EINVAL too.
Status setTierOption(TierSettings& tiers, std::string_view key, std::string_view value);

// The checks that involve several keys, once a pool's settings are complete: disk_dir and
// disk_size go together, disk_size holds at least one block of `block_size`, write_through needs
// remote. EINVAL with a message that starts with the key at fault ("disk_dir needs disk_size").
Status checkTierSettings(const TierSettings& tiers, uint32_t block_size);

struct PoolSettings {
    uint64_t size = 0;        // capacity in bytes
    std::string policy;       // a name from policyNames(), lowercase
    uint32_t block_size = 0;  // a power of two, kMinBlockSize..kMaxBlockSize
    Tier tier = Tier::Cpu;
    std::string dir;           // absolute; required when tier is Disk, unused otherwise
    uint64_t pin_budget = 0;   // bytes that may be pinned in the pool; 0 means no limit
    uint64_t max_entries = 0;  // 0 means automatic (derived from the size)
    TierSettings tiers;

    bool operator==(const PoolSettings&) const = default;
};

struct PoolDeclaration {
    std::string name;
    PoolSettings settings;

    bool operator==(const PoolDeclaration&) const = default;
};

struct Config {
    PoolSettings defaults;   // used by pools made with mkdir and by unset keys of [pools.*]
    std::string shm_prefix;  // names the shm segments; see validateShmPrefix()
    std::vector<PoolDeclaration> pools;  // in the order of the file

    bool operator==(const Config&) const = default;
};

// The built-in defaults: 1 GiB pools, LRU, 4 KiB blocks, shared memory, prefix "kvcachefs", no
// pin budget limit, automatic max_entries, no pools.
Config defaultConfig();

// Parses TOML text on top of `base`: keys the text sets replace those of base.defaults, and its
// pools are added to base.pools (a pool declared in both takes the text's settings). Errors are
// EINVAL with a message starting "<source_name>:<line>:".
Result<Config> parseConfig(std::string_view text, std::string_view source_name,
                           const Config& base = defaultConfig());

// Reads and parses a file. A file that cannot be read gives its errno (ENOENT, EACCES, ...) and a
// message naming the path.
Result<Config> loadConfig(const std::string& path, const Config& base = defaultConfig());

// A pool name is a directory name at the top of the mount: letters, digits, '_', '.' and '-',
// not starting with '.' (that leaves room for control files and excludes "." and ".."), at most
// 255 bytes (ENAMETOOLONG). Other problems are EINVAL. Messages name the input.
Status validatePoolName(std::string_view name);

// An shm prefix: letters, digits, '_', '.' and '-', 1 to 64 bytes, so that segment names built
// from it stay valid shm names: no '/', and short. EINVAL naming the input otherwise.
Status validateShmPrefix(std::string_view prefix);

}  // namespace kvc
