// The one table of kvcachefs options. Each option is one row: its name, the kind of value it
// takes (which fixes how a mount option's text and a config-file value are parsed), the check
// beyond the kind, the field it sets, where it may be given, its default and its help text.
//
// Everything else derives from the rows: the daemon's `-o` parser and `--help` (fs/options.cpp),
// the keys of the config file (core/config.cpp) and setTierOption(). Adding an option means
// adding a row (and, when it sets a new field, the field).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace kvc {

// The daemon's own settings that mount options set: not pool settings, no config-file key.
struct MountSettings {
    std::string instance = "default";  // names this mount's segments
    std::string config_path;           // empty: the default file if it exists
    double timeout_s = 3600;           // entry and attribute timeout given to the kernel
    bool direct_io = false;            // entries bypass the page cache
    bool verify_reads = false;         // check an entry's checksum at every read open
    std::string restore_path;          // a snapshot loaded into its pool before serving; absolute
    std::string data_socket;           // the data path's socket; empty: the default; "none": off

    bool operator==(const MountSettings&) const = default;
};

// How an option's value is written and parsed. A mount option is text; the config file has
// types, checked per kind (a Count is a TOML integer, a Size a string or an integer, ...).
enum class OptionKind {
    Size,       // parseSize(): "16G", "4096"
    BlockSize,  // parseBlockSize(): a power of two, 4K..2M
    Count,      // a whole number, decimal digits only
    Flag,       // a bare mount option (`-o direct_io`); true or false in the config file
    String,     // any text; the row's check may restrict it
    Policy,     // an eviction policy name, any case; stored lowercase
    Tier,       // "cpu" or "disk"
    Path,       // an absolute path
    Seeds,      // Redis Cluster seeds, parseSeedList(); an array or a string in the file
    Seconds,    // a number of seconds, fractions allowed, at most a year (mount options only)
    File,       // a path, made absolute against the working directory (mount options only)
};

// Where an option may be given.
enum class OptionScope {
    Pool,    // a pool setting: -o sets it for new pools; a key of [defaults] and [pools.NAME]
    Global,  // a Config setting: -o, and a key of [defaults] only
    Mount,   // the daemon's own (MountSettings): -o only
};

// The headings of --help.
enum class OptionGroup { Main, LowerTier };

// A parsed value: bool (Flag), uint64_t (Size, BlockSize, Count), double (Seconds),
// std::string (String, Policy, Path, File), Tier, or the seed list (Seeds).
using OptionValue =
    std::variant<bool, uint64_t, double, std::string, Tier, std::vector<std::string>>;

// A parser's Result<T> as a Result<OptionValue>.
template <class T>
Result<OptionValue> toOptionValue(Result<T>&& r) {
    if (!r) return r.error();
    return OptionValue(std::move(*r));
}

// What a row's setter writes to. `tiers` is normally &pool->tiers; a target that does not apply
// is null (no Config in a [pools.NAME] section, no MountSettings in the config file).
struct OptionTargets {
    PoolSettings* pool = nullptr;
    TierSettings* tiers = nullptr;
    Config* config = nullptr;
    MountSettings* mount = nullptr;
};

struct OptionRow {
    std::string_view name;  // the mount option and the config key
    OptionKind kind;
    OptionScope scope;
    OptionGroup group;
    // Stores a value of the row's kind, already checked, into its field.
    void (*set)(OptionValue&& value, const OptionTargets& to);
    // The check beyond the kind, or null. The message names the value, not the option.
    Status (*check)(const OptionValue& value);
    std::string_view value_name;         // --help: "SIZE" in "size=SIZE"; empty for a Flag
    std::string_view fallback;           // --help: the default, "[1G]"; empty: none shown
    std::string_view help;               // --help: "{policies}" stands for the policy names
    std::string_view defaults_key = {};  // the key in [defaults] when not `name` ("pool_size")
};

// Every option, in the order of --help.
std::span<const OptionRow> optionTable();

// The row of a mount option, or null.
const OptionRow* findOption(std::string_view name);

// The config-file key of a row in [defaults] (`in_defaults`) or in [pools.NAME]; empty when the
// row is not a key there.
std::string_view configKey(const OptionRow& row, bool in_defaults);

// The row whose config-file key is `key` in that section, or null.
const OptionRow* findConfigKey(std::string_view key, bool in_defaults);

// The config-file keys of a section, in the order an unknown-key message lists them: the pool
// settings, then the global ones.
std::vector<std::string_view> configKeys(bool in_defaults);

// Parses a value of `kind` from its text form (a mount option, or the string of a config-file
// value). EINVAL with a message naming the value, not the option.
Result<OptionValue> parseOptionText(OptionKind kind, std::string_view text);

// Parses and checks a value from its text form; the message names the value, not the option.
Result<OptionValue> parseOptionValue(const OptionRow& row, std::string_view text);

// Sets one mount option from its text (empty for a Flag): parse, check, store. Nothing changes
// on an error, whose message is "option NAME: <problem>".
Status setOption(const OptionRow& row, std::string_view text, const OptionTargets& to);

// The fuse_opt-style template of each row, in table order: "name=" for a valued option, "name"
// for a Flag.
std::vector<std::string> optionTemplates();

// The option lines of --help, grouped under headings, one or more lines per row.
std::string optionHelp();

}  // namespace kvc
