// The configuration file (/etc/kvcachefs/kvcachefs.toml): defaults for every pool and the pools
// created at mount. examples/kvcachefs.toml documents every key.
//
// Parsing is strict: an unknown section or key, a value of the wrong type or a bad value is an
// error naming the file, the line and the key, because a misspelt `polcy = "lfu"` that was
// silently ignored would leave an operator debugging the wrong thing. Mount options are applied
// by the caller on top of the result, so they override the file.
#pragma once

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

struct PoolSettings {
    uint64_t size = 0;        // capacity in bytes
    std::string policy;       // a name from policyNames(), lowercase
    uint32_t block_size = 0;  // a power of two, kMinBlockSize..kMaxBlockSize
    Tier tier = Tier::Cpu;
    std::string dir;           // absolute; required when tier is Disk, unused otherwise
    uint64_t pin_budget = 0;   // bytes that may be pinned in the pool; 0 means no limit
    uint64_t max_entries = 0;  // 0 means automatic (derived from the size)
};

struct PoolDeclaration {
    std::string name;
    PoolSettings settings;
};

struct Config {
    PoolSettings defaults;   // used by pools made with mkdir and by unset keys of [pools.*]
    std::string shm_prefix;  // names the shm segments; see validateShmPrefix()
    std::vector<PoolDeclaration> pools;  // in the order of the file
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
