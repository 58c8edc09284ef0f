// The option table (option_table.h): the rows, the parser of each kind and the checks beyond
// the kinds, shared by the mount options and the config file.
#include "core/option_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <system_error>
#include <type_traits>
#include <utility>

#include "core/policy/eviction_policy.h"
#include "core/size.h"
#include "core/text.h"

namespace kvc {
namespace {

constexpr size_t kMaxInstanceBytes = 64;
constexpr double kMaxTimeoutSeconds = 86400.0 * 365;
constexpr size_t kHelpWidth = 100;
constexpr size_t kHelpNameColumn = 20;

// --- the parsers of the kinds: messages name the value -------------------------------------

Result<std::string> parsePolicyName(std::string_view text) {
    auto same = [&](const std::string& name) { return equalsIgnoreCase(name, text); };
    const auto& names = policyNames();
    if (auto it = std::ranges::find_if(names, same); it != names.end()) return *it;
    return makeError(EINVAL,
                     fmt::format("unknown policy {:?} (known: {})", text, fmt::join(names, ", ")));
}

Result<std::string> parseAbsolutePath(std::string_view path) {
    // The daemon may change its working directory; a relative path would then mean another place.
    if (path.empty() || path.front() != '/') {
        return makeError(EINVAL, fmt::format("{:?} is not an absolute path", path));
    }
    return std::string(path);
}

// A whole number as a mount option writes it: decimal digits only.
Result<uint64_t> parseWholeNumber(std::string_view text) {
    if (text.empty() || !std::all_of(text.begin(), text.end(), isDigit)) {
        return makeError(EINVAL, fmt::format("{:?} is not a whole number", text));
    }
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return makeError(EINVAL, fmt::format("{:?} is too large", text));
    }
    return value;
}

Result<double> parseSeconds(std::string_view text) {
    const std::string copy(text);  // strtod needs the terminating NUL
    char* end = nullptr;
    const double v = std::strtod(copy.c_str(), &end);
    if (end == nullptr || *end != '\0' || !(v >= 0 && v <= kMaxTimeoutSeconds)) {
        return makeError(EINVAL, fmt::format("\"{}\" is not a number of seconds", text));
    }
    return v;
}

Result<std::string> parseFile(std::string_view text) {
    // Absolute: mount(8) may start the daemon anywhere, and the daemon later changes directory.
    std::error_code error;
    auto path = std::filesystem::absolute(std::filesystem::path(text), error);
    if (error) return makeError(EINVAL, fmt::format("{:?}: {}", text, error.message()));
    return path.string();
}

Result<bool> parseFlag(std::string_view text) {
    if (!text.empty()) return makeError(EINVAL, fmt::format("takes no value (got {:?})", text));
    return true;
}

// --- the checks beyond the kinds: messages name the value ----------------------------------

Status checkRemoteTimeout(uint64_t ms) {
    if (ms < 1 || ms > kMaxRemoteTimeoutMs) {
        return makeError(EINVAL, fmt::format("{} is out of range: from 1 to {} milliseconds", ms,
                                             kMaxRemoteTimeoutMs));
    }
    return {};
}

Status checkRemoteTtl(uint64_t seconds) {
    if (seconds > kMaxRemoteTtlSeconds) {
        return makeError(EINVAL, fmt::format("{} is out of range: at most {} seconds (ten years; "
                                             "0 means no expiry)",
                                             seconds, kMaxRemoteTtlSeconds));
    }
    return {};
}

Status checkRemoteLayout(std::string_view layout) {
    if (layout.size() > kMaxRemoteLayoutBytes) {
        return makeError(
            EINVAL, fmt::format("{:?} is longer than {} bytes", layout, kMaxRemoteLayoutBytes));
    }
    return {};
}

Status checkDemoteMinReads(uint64_t reads) {
    constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
    if (reads > kMax)
        return makeError(EINVAL, fmt::format("{} is too large (at most {})", reads, kMax));
    return {};
}

Status checkDemoteQueue(uint64_t bytes) {
    if (bytes < kMinDemoteQueueBytes) {
        return makeError(EINVAL, fmt::format("{} is smaller than the minimum, {}",
                                             formatSize(bytes), formatSize(kMinDemoteQueueBytes)));
    }
    return {};
}

// An absolute path that fits a Unix socket address, or "none".
Status checkDataSocket(std::string_view path) {
    if (path == "none") return {};
    if (path.empty() || path.front() != '/' || path.size() > 107 ||
        path.find('\0') != std::string_view::npos)
        return makeError(EINVAL, fmt::format("data_socket: {:?} is not \"none\" nor an absolute "
                                             "path of at most 107 bytes",
                                             path));
    return {};
}

Status checkInstance(std::string_view name) {
    const bool valid = !name.empty() && name.size() <= kMaxInstanceBytes &&
                       std::ranges::all_of(name, [](unsigned char c) {
                           return std::isalnum(c) || c == '_' || c == '-';
                       });
    if (valid) return {};
    return makeError(EINVAL, fmt::format("invalid instance name \"{}\": use letters, digits, '_' "
                                         "and '-' (at most {})",
                                         name, kMaxInstanceBytes));
}

// --- binding a row to its field and its check ----------------------------------------------

template <class>
struct MemberOf;
template <class C, class T>
struct MemberOf<T C::*> {
    using Class = C;
    using Type = T;
};

template <class C>
C& targetOf(const OptionTargets& to) {
    if constexpr (std::is_same_v<C, PoolSettings>) return *to.pool;
    if constexpr (std::is_same_v<C, TierSettings>) return *to.tiers;
    if constexpr (std::is_same_v<C, Config>) return *to.config;
    if constexpr (std::is_same_v<C, MountSettings>) return *to.mount;
}

// The setter of a row: stores the value into the member `Field` of its target.
template <auto Field>
void set(OptionValue&& value, const OptionTargets& to) {
    using M = MemberOf<decltype(Field)>;
    auto& field = targetOf<typename M::Class>(to).*Field;
    if constexpr (std::is_same_v<typename M::Type, uint32_t>) {
        field = static_cast<uint32_t>(std::get<uint64_t>(value));  // checked to fit
    } else {
        field = std::get<typename M::Type>(std::move(value));
    }
}

template <class>
struct ArgOf;
template <class A>
struct ArgOf<Status (*)(A)> {
    using Type = A;
};

// The check of a row: `Check` on the value, which is a string for a string_view parameter.
template <auto Check>
Status checked(const OptionValue& value) {
    using A = typename ArgOf<decltype(Check)>::Type;
    if constexpr (std::is_same_v<A, std::string_view>) {
        return Check(std::get<std::string>(value));
    } else {
        return Check(std::get<A>(value));
    }
}

using enum OptionKind;
using enum OptionScope;
using enum OptionGroup;

// One row per option, in the order of --help: name, kind, scope, group, the field it sets, the
// check beyond the kind, then for --help the value's name, the default and the text; last, the
// key in [defaults] when it is not the name.
constexpr OptionRow kRows[] = {
    {"size", Size, Pool, Main, set<&PoolSettings::size>, nullptr, "SIZE", "1G",
     "capacity of pools made with mkdir", "pool_size"},
    {"policy", OptionKind::Policy, Pool, Main, set<&PoolSettings::policy>, nullptr, "NAME", "lru",
     "eviction policy of new pools ({policies})"},
    {"block_size", BlockSize, Pool, Main, set<&PoolSettings::block_size>, nullptr, "SIZE", "4K",
     "block size of new pools, 4K..2M, a power of two"},
    {"tier", OptionKind::Tier, Pool, Main, set<&PoolSettings::tier>, nullptr, "cpu|disk", "cpu",
     "where new pools live: shared memory or a file in dir= (nvme: the same as disk)"},
    {"dir", Path, Pool, Main, set<&PoolSettings::dir>, nullptr, "PATH", "",
     "directory of disk-tier segments (required with tier=disk)"},
    {"pin_budget", Size, Pool, Main, set<&PoolSettings::pin_budget>, nullptr, "SIZE", "0",
     "bytes that may be pinned per pool, 0 = no limit"},
    {"max_entries", Count, Pool, Main, set<&PoolSettings::max_entries>, nullptr, "N", "0",
     "entries per pool, 0 = one per block, at least 65536"},
    {"instance", String, Mount, Main, set<&MountSettings::instance>, checked<checkInstance>, "NAME",
     "default", "names this mount's segments; a remount reattaches them"},
    {"shm_prefix", String, Global, Main, set<&Config::shm_prefix>, checked<validateShmPrefix>,
     "NAME", "kvcachefs", "prefix of segment names in /dev/shm"},
    {"config", String, Mount, Main, set<&MountSettings::config_path>, nullptr, "FILE",
     "/etc/kvcachefs/kvcachefs.toml if present", "TOML config file"},
    {"timeout", Seconds, Mount, Main, set<&MountSettings::timeout_s>, nullptr, "SECONDS", "3600",
     "kernel cache time for names and attributes"},
    {"direct_io", Flag, Mount, Main, set<&MountSettings::direct_io>, nullptr, "", "",
     "entries bypass the page cache (no second copy; no shared mmap)"},
    {"verify_reads", Flag, Mount, Main, set<&MountSettings::verify_reads>, nullptr, "", "",
     "check an entry's checksum at every open for reading (a mismatch is a miss: the entry is "
     "dropped and counted)"},
    {"data_socket", String, Mount, Main, set<&MountSettings::data_socket>, checked<checkDataSocket>,
     "PATH|none", "/run/kvcachefs/INSTANCE.sock",
     "the data path's Unix socket (docs/DATA_PATH.md); none: no data path"},
    {"restore", File, Mount, Main, set<&MountSettings::restore_path>, nullptr, "FILE", "none",
     "load a snapshot into its pool before serving (merge)"},
    {"disk_dir", Path, Pool, LowerTier, set<&TierSettings::disk_dir>, nullptr, "PATH",
     "none: no disk tier", "directory of the disk tier's segment files"},
    {"disk_size", Size, Pool, LowerTier, set<&TierSettings::disk_size>, nullptr, "SIZE", "",
     "capacity of the disk tier (required with disk_dir)"},
    {"disk_policy", OptionKind::Policy, Pool, LowerTier, set<&TierSettings::disk_policy>, nullptr,
     "NAME", "the pool's policy", "eviction policy of the disk tier"},
    {"remote", Seeds, Pool, LowerTier, set<&TierSettings::remote_seeds>, nullptr, "HOST:PORT+...",
     "none: no remote tier", "Redis Cluster seeds, '+'-separated"},
    {"remote_namespace", String, Pool, LowerTier, set<&TierSettings::remote_namespace>,
     checked<validateRemoteNamespace>, "NS", "kvcachefs", "first part of every key in the cluster"},
    {"remote_timeout_ms", Count, Pool, LowerTier, set<&TierSettings::remote_timeout_ms>,
     checked<checkRemoteTimeout>, "N", "250", "connect and per-command timeout, 1..60000"},
    {"remote_ttl_s", Count, Pool, LowerTier, set<&TierSettings::remote_ttl_s>,
     checked<checkRemoteTtl>, "N", "0", "expiry of values stored in the cluster, 0 = none"},
    {"remote_layout", String, Pool, LowerTier, set<&TierSettings::remote_layout>,
     checked<checkRemoteLayout>, "NAME", "none",
     "KV layout name; values of another layout are misses"},
    {"write_through", Flag, Pool, LowerTier, set<&TierSettings::write_through>, nullptr, "", "",
     "also publish entries to the cluster when written (needs remote)"},
    {"demote_min_reads", Count, Pool, LowerTier, set<&TierSettings::demote_min_reads>,
     checked<checkDemoteMinReads>, "N", "0", "only entries read at least N times go down"},
    {"demote_queue", Size, Pool, LowerTier, set<&TierSettings::demote_queue_bytes>,
     checked<checkDemoteQueue>, "SIZE", "64M",
     "bound of the demotion queue, at least 64K; beyond it, dropped"},
};

std::string_view groupHeading(OptionGroup group) {
    return group == LowerTier
               ? "lower tiers of new pools (entries evicted go down; misses are looked up below)"
               : "";
}

// "    name=VALUE           help text [default]", the text wrapped at kHelpWidth columns.
std::string helpLines(const OptionRow& row, std::string_view policies) {
    std::string syntax(row.name);
    if (!row.value_name.empty()) syntax += fmt::format("={}", row.value_name);
    std::string text(row.help);
    if (auto at = text.find("{policies}"); at != std::string::npos) {
        text.replace(at, std::string_view("{policies}").size(), policies);
    }
    if (!row.fallback.empty()) text += fmt::format(" [{}]", row.fallback);

    const std::string indent(4 + kHelpNameColumn + 1, ' ');
    std::string out = fmt::format("    {:<{}} ", syntax, kHelpNameColumn);
    size_t column = out.size();
    for (size_t at = 0; at < text.size();) {
        size_t end = text.find(' ', at);
        if (end == std::string::npos) end = text.size();
        const std::string_view word = std::string_view(text).substr(at, end - at);
        if (column > indent.size() && column + 1 + word.size() > kHelpWidth) {
            out += "\n" + indent;
            column = indent.size();
        } else if (column > indent.size()) {
            out += ' ';
            ++column;
        }
        out += word;
        column += word.size();
        at = end + 1;
    }
    return out + "\n";
}

}  // namespace

std::span<const OptionRow> optionTable() {
    return kRows;
}

const OptionRow* findOption(std::string_view name) {
    auto it = std::ranges::find(kRows, name, &OptionRow::name);
    return it == std::end(kRows) ? nullptr : &*it;
}

std::string_view configKey(const OptionRow& row, bool in_defaults) {
    switch (row.scope) {
        case OptionScope::Pool:
            return in_defaults && !row.defaults_key.empty() ? row.defaults_key : row.name;
        case OptionScope::Global:
            return in_defaults ? row.name : std::string_view();
        case OptionScope::Mount:
            break;
    }
    return {};
}

const OptionRow* findConfigKey(std::string_view key, bool in_defaults) {
    auto it = std::ranges::find_if(
        kRows, [&](const OptionRow& row) { return configKey(row, in_defaults) == key; });
    return key.empty() || it == std::end(kRows) ? nullptr : &*it;
}

std::vector<std::string_view> configKeys(bool in_defaults) {
    std::vector<std::string_view> keys;
    for (OptionScope scope : {OptionScope::Pool, OptionScope::Global}) {
        for (const OptionRow& row : kRows) {
            if (row.scope == scope && !configKey(row, in_defaults).empty()) {
                keys.push_back(configKey(row, in_defaults));
            }
        }
    }
    return keys;
}

Result<OptionValue> parseOptionText(OptionKind kind, std::string_view text) {
    switch (kind) {
        case OptionKind::Size:
            return toOptionValue(parseSize(text));
        case OptionKind::BlockSize: {
            auto block_size = parseBlockSize(text);
            if (!block_size) return block_size.error();
            return OptionValue(uint64_t{*block_size});
        }
        case OptionKind::Count:
            return toOptionValue(parseWholeNumber(text));
        case OptionKind::Flag:
            return toOptionValue(parseFlag(text));
        case OptionKind::String:
            return OptionValue(std::string(text));
        case OptionKind::Policy:
            return toOptionValue(parsePolicyName(text));
        case OptionKind::Tier:
            return toOptionValue(parseTier(text));
        case OptionKind::Path:
            return toOptionValue(parseAbsolutePath(text));
        case OptionKind::Seeds:
            return toOptionValue(parseSeedList(text));
        case OptionKind::Seconds:
            return toOptionValue(parseSeconds(text));
        case OptionKind::File:
            return toOptionValue(parseFile(text));
    }
    return makeError(EINVAL, "unknown kind of option");
}

Result<OptionValue> parseOptionValue(const OptionRow& row, std::string_view text) {
    auto value = parseOptionText(row.kind, text);
    if (!value) return value;
    if (row.check != nullptr) {
        if (auto ok = row.check(*value); !ok) return ok.error();
    }
    return value;
}

Status setOption(const OptionRow& row, std::string_view text, const OptionTargets& to) {
    auto value = parseOptionValue(row, text);
    if (!value) {
        return makeError(value.error().code,
                         fmt::format("option {}: {}", row.name, value.error().message));
    }
    row.set(std::move(*value), to);
    return {};
}

std::vector<std::string> optionTemplates() {
    std::vector<std::string> templates;
    for (const OptionRow& row : kRows) {
        templates.push_back(row.kind == OptionKind::Flag ? std::string(row.name)
                                                         : fmt::format("{}=", row.name));
    }
    return templates;
}

std::string optionHelp() {
    const std::string policies = fmt::format("{}", fmt::join(policyNames(), ", "));
    std::string out;
    OptionGroup group = OptionGroup::Main;
    for (const OptionRow& row : kRows) {
        if (row.group != group) {
            group = row.group;
            out += fmt::format("  {}:\n", groupHeading(group));
        }
        out += helpLines(row, policies);
    }
    return out;
}

Status setTierOption(TierSettings& tiers, std::string_view key, std::string_view value) {
    const OptionRow* row = findOption(key);
    if (row == nullptr || row->group != OptionGroup::LowerTier || row->kind == OptionKind::Flag) {
        return makeError(EINVAL, fmt::format("unknown tier option {:?}", key));
    }
    auto parsed = parseOptionValue(*row, value);
    if (!parsed) return parsed.error();
    row->set(std::move(*parsed), OptionTargets{.tiers = &tiers});
    return {};
}

}  // namespace kvc
