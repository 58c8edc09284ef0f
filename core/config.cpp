// Reads the TOML configuration file into a Config; see config.h and examples/kvcachefs.toml.
//
// toml++ does the syntax; this file checks the schema. Every error names the file, the line of
// the offending key and the key's dotted path, so an operator can go straight to it.
#include "core/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <system_error>
#include <utility>

#include "core/option_table.h"
#include "core/size.h"
#include "core/text.h"

namespace kvc {
namespace {

// A config file this large is a mistake (a path to a log or /dev/zero); stop reading there.
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxPoolNameBytes = 255;
constexpr size_t kMaxShmPrefixBytes = 64;

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

// Separators of a seed list: ',' and spaces in the config file, '+' in a mount option.
bool isSeedSeparator(char c) {
    return c == ',' || c == '+' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// One "HOST:PORT". The host is checked only for what cannot be a host name or address: the
// cluster client resolves it, and reports what it cannot reach.
Status validateSeed(std::string_view item) {
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL, fmt::format("invalid address {:?}: {}", item, reason));
    };
    const size_t colon = item.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT");
    const std::string_view host = item.substr(0, colon);
    const std::string_view port = item.substr(colon + 1);
    if (host.empty()) return fail("no host");
    if (std::any_of(host.begin(), host.end(), [](char c) { return c <= ' ' || c == 0x7f; })) {
        return fail("the host has a space or a control character");
    }
    // Without brackets, "a:b:6379" is more likely a typo than an IPv6 address.
    const bool bracketed = host.front() == '[' || host.back() == ']';
    if (bracketed ? !(host.size() > 2 && host.front() == '[' && host.back() == ']')
                  : host.find(':') != std::string_view::npos) {
        return fail("an IPv6 address goes in brackets, as in [::1]:6379");
    }
    uint32_t number = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), isDigit);
    if (digits) std::from_chars(port.data(), port.data() + port.size(), number);
    if (!digits || number < 1 || number > 65535) {
        return fail("the port is not a number from 1 to 65535");
    }
    return {};
}

std::string_view typeName(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// Checks the schema of one parsed document and fills a Config. Holds the source name so that
// every message can start with "<file>:<line>:".
class SchemaReader {
  public:
    explicit SchemaReader(std::string_view source_name) : source_(source_name) {}

    Error errorAt(const toml::source_region& where, std::string_view message) const {
        if (where.begin.line == 0)
            return makeError(EINVAL, fmt::format("{}: {}", source_, message));
        return makeError(EINVAL, fmt::format("{}:{}: {}", source_, where.begin.line, message));
    }
    // "<file>:<line>: <key>: <message>", the line being that of the value.
    Error errorAt(const toml::node& node, std::string_view key, std::string_view message) const {
        return errorAt(node.source(), fmt::format("{}: {}", key, message));
    }

    Result<Config> read(const toml::table& root, const Config& base) const;

  private:
    struct PoolFound {
        PoolDeclaration declaration;
        toml::source_position position;
    };

    // Where a key is written; toml++ may leave no position on a key, then the value's is used.
    static const toml::source_region& whereOf(const toml::key& key, const toml::node& node) {
        return key.source().begin.line != 0 ? key.source() : node.source();
    }

    // Applies the keys of [defaults] (when `config` is non-null) or of [pools.NAME] to `settings`.
    Status readSettings(const toml::table& table, std::string_view section, PoolSettings& settings,
                        Config* config) const;
    // Checks what involves several keys once a section is complete.
    Status checkSettings(const toml::node& section_node, std::string_view section,
                         const PoolSettings& settings) const;

    Result<uint64_t> readSize(const toml::node& node, std::string_view key) const;
    Result<uint32_t> readBlockSize(const toml::node& node, std::string_view key) const;
    Result<uint64_t> readCount(const toml::node& node, std::string_view key) const;
    Result<std::string> readString(const toml::node& node, std::string_view key) const;
    Result<bool> readBool(const toml::node& node, std::string_view key) const;
    Result<std::vector<std::string>> readSeeds(const toml::node& node, std::string_view key) const;
    // A value of an option's kind: the TOML type, then the kind's own parser.
    Result<OptionValue> readValue(OptionKind kind, const toml::node& node,
                                  std::string_view key) const;
    // Applies one key of the option table to `to`.
    Status readOption(const OptionRow& row, const toml::node& node, std::string_view key,
                      const OptionTargets& to) const;

    std::string_view source_;
};

Result<uint64_t> SchemaReader::readSize(const toml::node& node, std::string_view key) const {
    if (const auto* text = node.as_string()) {
        auto size = parseSize(text->get());
        if (!size) return errorAt(node, key, size.error().message);
        return *size;
    }
    if (const auto* number = node.as_integer()) {
        if (number->get() < 0) {
            return errorAt(node, key,
                           fmt::format("invalid size {}: must not be negative", number->get()));
        }
        return static_cast<uint64_t>(number->get());
    }
    return errorAt(node, key,
                   fmt::format("expected a size such as \"16G\" or a number of bytes, got {}",
                               typeName(node)));
}

Result<uint32_t> SchemaReader::readBlockSize(const toml::node& node, std::string_view key) const {
    Result<uint32_t> block_size = makeError(EINVAL, "");
    if (const auto* text = node.as_string()) {
        block_size = parseBlockSize(text->get());
    } else if (const auto* number = node.as_integer()) {
        // Through the same parser, so the rules and the messages are those of the string form.
        block_size = parseBlockSize(fmt::format("{}", number->get()));
    } else {
        return errorAt(node, key,
                       fmt::format("expected a block size such as \"4K\" or a number of bytes, "
                                   "got {}",
                                   typeName(node)));
    }
    if (!block_size) return errorAt(node, key, block_size.error().message);
    return *block_size;
}

Result<uint64_t> SchemaReader::readCount(const toml::node& node, std::string_view key) const {
    const auto* number = node.as_integer();
    if (number == nullptr) {
        return errorAt(node, key, fmt::format("expected an integer, got {}", typeName(node)));
    }
    if (number->get() < 0) {
        return errorAt(node, key, fmt::format("{} must not be negative", number->get()));
    }
    return static_cast<uint64_t>(number->get());
}

Result<std::string> SchemaReader::readString(const toml::node& node, std::string_view key) const {
    const auto* text = node.as_string();
    if (text == nullptr) {
        return errorAt(node, key, fmt::format("expected a string, got {}", typeName(node)));
    }
    return text->get();
}

Result<bool> SchemaReader::readBool(const toml::node& node, std::string_view key) const {
    const auto* value = node.as_boolean();
    if (value == nullptr) {
        return errorAt(node, key, fmt::format("expected true or false, got {}", typeName(node)));
    }
    return value->get();
}

// An array of "host:port" strings, or one string holding a list as parseSeedList() reads it.
Result<std::vector<std::string>> SchemaReader::readSeeds(const toml::node& node,
                                                         std::string_view key) const {
    if (const auto* text = node.as_string()) {
        auto seeds = parseSeedList(text->get());
        if (!seeds) return errorAt(node, key, seeds.error().message);
        return seeds;
    }
    const auto* array = node.as_array();
    if (array == nullptr) {
        return errorAt(node, key,
                       fmt::format("expected an array of \"host:port\" strings or one string, "
                                   "got {}",
                                   typeName(node)));
    }
    std::vector<std::string> seeds;
    for (const toml::node& item : *array) {
        const auto* text = item.as_string();
        if (text == nullptr) {
            return errorAt(item, key,
                           fmt::format("expected \"host:port\" strings, got {}", typeName(item)));
        }
        if (auto ok = validateSeed(text->get()); !ok) {
            return errorAt(item, key, ok.error().message);
        }
        seeds.push_back(text->get());
    }
    if (seeds.empty()) return errorAt(node, key, "no address");
    return seeds;
}

Result<OptionValue> SchemaReader::readValue(OptionKind kind, const toml::node& node,
                                            std::string_view key) const {
    switch (kind) {
        case OptionKind::Size:
            return toOptionValue(readSize(node, key));
        case OptionKind::BlockSize: {
            auto block_size = readBlockSize(node, key);
            if (!block_size) return block_size.error();
            return OptionValue(uint64_t{*block_size});
        }
        case OptionKind::Count:
            return toOptionValue(readCount(node, key));
        case OptionKind::Flag:
            return toOptionValue(readBool(node, key));
        case OptionKind::Seeds:
            return toOptionValue(readSeeds(node, key));
        case OptionKind::String:
        case OptionKind::Policy:
        case OptionKind::Tier:
        case OptionKind::Path: {
            auto text = readString(node, key);
            if (!text) return text.error();
            auto value = parseOptionText(kind, *text);
            if (!value) return errorAt(node, key, value.error().message);
            return value;
        }
        case OptionKind::Seconds:
        case OptionKind::File:
            break;
    }
    return errorAt(node, key, "not a config file key");  // no such row is a key (configKey())
}

Status SchemaReader::readOption(const OptionRow& row, const toml::node& node, std::string_view key,
                                const OptionTargets& to) const {
    auto value = readValue(row.kind, node, key);
    if (!value) return value.error();
    if (row.check != nullptr) {
        if (auto ok = row.check(*value); !ok) return errorAt(node, key, ok.error().message);
    }
    row.set(std::move(*value), to);
    return {};
}

Status SchemaReader::readSettings(const toml::table& table, std::string_view section,
                                  PoolSettings& settings, Config* config) const {
    // In [defaults] (config non-null) the capacity is "pool_size", where a bare "size" would be
    // ambiguous, and the global keys (shm_prefix) are allowed; see configKey().
    const bool is_defaults = config != nullptr;
    const OptionTargets to{.pool = &settings, .tiers = &settings.tiers, .config = config};
    for (const auto& [name, node] : table) {
        const std::string_view key = name.str();
        const OptionRow* row = findConfigKey(key, is_defaults);
        if (row == nullptr) {
            return errorAt(whereOf(name, node),
                           fmt::format("unknown key {:?} in [{}] (known keys: {})", key, section,
                                       fmt::join(configKeys(is_defaults), ", ")));
        }
        if (auto ok = readOption(*row, node, fmt::format("{}.{}", section, key), to); !ok) {
            return ok;
        }
    }
    return {};
}

Status SchemaReader::checkSettings(const toml::node& section_node, std::string_view section,
                                   const PoolSettings& settings) const {
    if (settings.tier == Tier::Disk && settings.dir.empty()) {
        return errorAt(section_node.source(),
                       fmt::format("{}: tier \"disk\" needs dir, an absolute path", section));
    }
    if (settings.size < settings.block_size) {
        return errorAt(section_node.source(),
                       fmt::format("{}: size {} is smaller than one block ({})", section,
                                   formatSize(settings.size), formatSize(settings.block_size)));
    }
    if (auto ok = checkTierSettings(settings.tiers, settings.block_size); !ok) {
        return errorAt(section_node.source(), fmt::format("{}: {}", section, ok.error().message));
    }
    return {};
}

Result<Config> SchemaReader::read(const toml::table& root, const Config& base) const {
    Config config = base;
    const toml::table* defaults = nullptr;
    const toml::table* pools = nullptr;
    for (const auto& [name, node] : root) {
        const std::string_view key = name.str();
        if (key == "defaults" || key == "pools") {
            const auto* table = node.as_table();
            if (table == nullptr) {
                return errorAt(node, key,
                               fmt::format("expected a section [{}], got {}", key, typeName(node)));
            }
            (key == "defaults" ? defaults : pools) = table;
        } else if (node.is_table()) {
            return errorAt(
                whereOf(name, node),
                fmt::format("unknown section [{}] (known: [defaults], [pools.NAME])", key));
        } else {
            return errorAt(whereOf(name, node),
                           fmt::format("unknown key {:?} outside any section (keys go under "
                                       "[defaults] or [pools.NAME])",
                                       key));
        }
    }

    // [defaults] first wherever it is in the file: every pool inherits from it.
    if (defaults != nullptr) {
        if (auto ok = readSettings(*defaults, "defaults", config.defaults, &config); !ok) {
            return ok.error();
        }
        if (auto ok = checkSettings(*defaults, "defaults", config.defaults); !ok) return ok.error();
    }
    if (pools == nullptr) return config;

    std::vector<PoolFound> found;
    for (const auto& [name, node] : *pools) {
        const std::string_view pool_name = name.str();
        const toml::source_region& where = whereOf(name, node);
        if (auto ok = validatePoolName(pool_name); !ok) return errorAt(where, ok.error().message);
        const std::string section = fmt::format("pools.{}", pool_name);
        const auto* table = node.as_table();
        if (table == nullptr) {
            return errorAt(node, section,
                           fmt::format("expected a section [{}], got {}", section, typeName(node)));
        }
        PoolDeclaration pool{std::string(pool_name), config.defaults};
        if (auto ok = readSettings(*table, section, pool.settings, nullptr); !ok) return ok.error();
        if (auto ok = checkSettings(*table, section, pool.settings); !ok) return ok.error();
        found.push_back({std::move(pool), where.begin});
    }

    // toml++ keeps keys sorted; pools are created in the order the operator wrote them.
    std::stable_sort(found.begin(), found.end(), [](const PoolFound& a, const PoolFound& b) {
        return std::pair(a.position.line, a.position.column) <
               std::pair(b.position.line, b.position.column);
    });
    for (auto& f : found) {
        auto same_name = [&](const PoolDeclaration& p) { return p.name == f.declaration.name; };
        auto existing = std::find_if(config.pools.begin(), config.pools.end(), same_name);
        if (existing != config.pools.end()) {
            *existing = std::move(f.declaration);
        } else {
            config.pools.push_back(std::move(f.declaration));
        }
    }
    return config;
}

Error syntaxError(std::string_view source_name, const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return makeError(
        EINVAL, fmt::format("{}:{}:{}: {}", source_name, at.line, at.column, error.description()));
}

std::string errnoText(int code) {
    return std::error_code(code, std::generic_category()).message();
}

}  // namespace

std::string_view tierName(Tier tier) {
    return tier == Tier::Disk ? "disk" : "cpu";
}

Result<Tier> parseTier(std::string_view text) {
    const std::string name = toLower(text);
    if (name == "cpu") return Tier::Cpu;
    // nvme: the seed's name for a pool in a file on a fast disk (dir= says which).
    if (name == "disk" || name == "nvme") return Tier::Disk;
    if (name == "gpu")
        return makeError(EINVAL,
                         "tier \"gpu\" is not offered: pools live in host memory (cpu) or in a "
                         "file (disk, nvme); an engine copies KV to and from the GPU itself");
    return makeError(
        EINVAL, fmt::format("invalid tier {:?}: expected \"cpu\", \"disk\" or \"nvme\"", text));
}

Config defaultConfig() {
    Config config;
    config.defaults.size = uint64_t{1} << 30;
    config.defaults.policy = "lru";
    config.defaults.block_size = 4096;
    config.defaults.tier = Tier::Cpu;
    config.defaults.pin_budget = 0;
    config.defaults.max_entries = 0;
    config.shm_prefix = "kvcachefs";
    return config;
}

Result<Config> parseConfig(std::string_view text, std::string_view source_name,
                           const Config& base) {
    // The library is built with exceptions on Debian; a build without them reports parse errors
    // through parse_result instead. Both end in the same message.
#if TOML_EXCEPTIONS
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& error) {
        return syntaxError(source_name, error);
    }
#else
    toml::parse_result parsed = toml::parse(text, source_name);
    if (!parsed) return syntaxError(source_name, parsed.error());
    toml::table root = std::move(parsed).table();
#endif
    return SchemaReader(source_name).read(root, base);
}

Result<Config> loadConfig(const std::string& path, const Config& base) {
    auto fail = [&](int code) -> Error {
        return makeError(code,
                         fmt::format("cannot read config file {:?}: {}", path, errnoText(code)));
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno);

    std::string text;
    char buffer[16384];
    int read_errno = 0;
    while (true) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            read_errno = errno;
            break;
        }
        if (n == 0) break;
        text.append(buffer, static_cast<size_t>(n));
        if (text.size() > kMaxConfigBytes) {
            read_errno = EFBIG;
            break;
        }
    }
    ::close(fd);
    if (read_errno == EFBIG) {
        return makeError(EFBIG, fmt::format("config file {:?} is larger than {}", path,
                                            formatSize(kMaxConfigBytes)));
    }
    if (read_errno != 0) return fail(read_errno);
    return parseConfig(text, path, base);
}

Status validatePoolName(std::string_view name) {
    if (name.size() > kMaxPoolNameBytes) {
        return makeError(ENAMETOOLONG, fmt::format("invalid pool name {:?}: longer than {} bytes",
                                                   name, kMaxPoolNameBytes));
    }
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL, fmt::format("invalid pool name {:?}: {}", name, reason));
    };
    if (name.empty()) return fail("empty");
    // Names starting with '.' are kept for control files, and include "." and "..".
    if (name.front() == '.') return fail("must not start with '.'");
    if (!std::all_of(name.begin(), name.end(), isNameChar)) {
        return fail("only letters, digits, '_', '.' and '-' are allowed");
    }
    return {};
}

Status validateShmPrefix(std::string_view prefix) {
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL, fmt::format("invalid shm prefix {:?}: {}", prefix, reason));
    };
    if (prefix.empty()) return fail("empty");
    if (prefix.size() > kMaxShmPrefixBytes) {
        return fail(fmt::format("longer than {} bytes", kMaxShmPrefixBytes));
    }
    if (!std::all_of(prefix.begin(), prefix.end(), isNameChar)) {
        return fail("only letters, digits, '_', '.' and '-' are allowed");
    }
    return {};
}

Result<std::vector<std::string>> parseSeedList(std::string_view text) {
    std::vector<std::string> seeds;
    size_t at = 0;
    while (at < text.size()) {
        if (isSeedSeparator(text[at])) {
            ++at;
            continue;
        }
        size_t end = at;
        while (end < text.size() && !isSeedSeparator(text[end])) ++end;
        const std::string_view item = text.substr(at, end - at);
        if (auto ok = validateSeed(item); !ok) return ok.error();
        seeds.emplace_back(item);
        at = end;
    }
    if (seeds.empty()) return makeError(EINVAL, "no address");
    return seeds;
}

Status validateRemoteNamespace(std::string_view name) {
    auto fail = [&](std::string_view reason) -> Error {
        return makeError(EINVAL, fmt::format("invalid remote namespace {:?}: {}", name, reason));
    };
    if (name.empty()) return fail("empty");
    if (name.size() > kMaxRemoteNamespaceBytes) {
        return fail(fmt::format("longer than {} bytes", kMaxRemoteNamespaceBytes));
    }
    if (!std::all_of(name.begin(), name.end(), isNameChar)) {
        return fail(
            "only letters, digits, '_', '.' and '-' are allowed (':' separates the "
            "namespace from the pool in every key)");
    }
    return {};
}

Status checkTierSettings(const TierSettings& tiers, uint32_t block_size) {
    if (!tiers.disk_dir.empty() && tiers.disk_size == 0) {
        return makeError(EINVAL, "disk_dir needs disk_size, the capacity of the disk tier");
    }
    if (tiers.disk_dir.empty() && tiers.disk_size != 0) {
        return makeError(EINVAL, "disk_size needs disk_dir, the directory of the disk tier");
    }
    if (!tiers.disk_dir.empty() && tiers.disk_size < block_size) {
        return makeError(EINVAL, fmt::format("disk_size {} is smaller than one block ({})",
                                             formatSize(tiers.disk_size), formatSize(block_size)));
    }
    // The remote_* keys without remote are harmless (a file may keep them for later); a write
    // that should reach a cluster that is not configured is not.
    if (tiers.write_through && tiers.remote_seeds.empty()) {
        return makeError(EINVAL, "write_through needs remote, the addresses of the cluster");
    }
    return {};
}

}  // namespace kvc
