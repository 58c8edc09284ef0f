// The option table (core/option_table.h): every row parses an example value and refuses a bad
// one naming the option, and the mount options, the config file and --help all know every row.
// A row added to the table without a case here fails OptionTable.EveryRowHasACase.
#include "core/option_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/policy/eviction_policy.h"

namespace kvc {
namespace {

struct Case {
    std::string good;                // as a mount option writes it ("" for a flag)
    std::optional<std::string> bad;  // none: the option takes any text
    std::string fragment;            // of the message for `bad`
    std::string context = {};        // config-file keys the good value needs beside it
};

const std::map<std::string_view, Case>& cases() {
    static const std::map<std::string_view, Case> all = {
        {"size", {"16G", "12X", "\"12X\""}},
        {"policy", {"LFU", "nope", "unknown policy \"nope\""}},
        {"block_size", {"8K", "3000", "\"3000\""}},
        {"tier", {"disk", "tape", "invalid tier \"tape\"", "dir = \"/srv/kvc\"\n"}},
        {"dir", {"/srv/kvc", "srv/kvc", "not an absolute path"}},
        {"pin_budget", {"1G", "lots", "\"lots\""}},
        {"max_entries", {"100000", "many", "\"many\" is not a whole number"}},
        {"instance", {"prod-1", "bad/name", "invalid instance name \"bad/name\""}},
        {"shm_prefix", {"kvc.test", "a/b", "invalid shm prefix \"a/b\""}},
        {"config", {"/etc/kvcachefs/other.toml", std::nullopt, ""}},
        {"timeout", {"60", "soon", "\"soon\" is not a number of seconds"}},
        {"direct_io", {"", "1", "takes no value"}},
        {"verify_reads", {"", "yes", "takes no value"}},
        {"restore", {"/var/lib/kvcachefs/llama.kvc", "", "\"\""}},
        {"data_socket",
         {"/run/kvc/data.sock", "run/kvc.sock", "not \"none\" nor an absolute path"}},
        {"disk_dir", {"/srv/tier", "tier", "not an absolute path", "disk_size = \"4G\"\n"}},
        {"disk_size", {"4G", "4X", "\"4X\"", "disk_dir = \"/srv/tier\"\n"}},
        {"disk_policy", {"lfu", "mru", "unknown policy \"mru\""}},
        {"remote", {"a:7000+b:7000", "a:1+b", "invalid address \"b\""}},
        {"remote_namespace", {"prod.kv", "a:b", "':' separates the namespace"}},
        {"remote_timeout_ms", {"100", "0", "out of range"}},
        {"remote_ttl_s", {"3600", "315360001", "at most 315360000 seconds"}},
        {"remote_layout", {"qwen2.5-7b", std::string(129, 'l'), "128 bytes"}},
        {"write_through", {"", "1", "takes no value", "remote = \"a:7000\"\n"}},
        {"demote_min_reads", {"2", "4294967296", "too large"}},
        {"demote_queue", {"1M", "1K", "smaller than the minimum, 64 KiB"}},
    };
    return all;
}

// The defaults of every target, and targets pointing at them.
struct Targets {
    Config config = defaultConfig();
    MountSettings mount;

    OptionTargets all() { return {&config.defaults, &config.defaults.tiers, &config, &mount}; }
    bool operator==(const Targets&) const = default;
};

// A value as the config file writes it: numbers and booleans bare, the rest quoted.
std::string tomlValue(OptionKind kind, const std::string& text) {
    const bool digits = !text.empty() && std::ranges::all_of(text, [](unsigned char c) {
        return std::isdigit(c) != 0;
    });
    if (kind == OptionKind::Flag) return text.empty() ? "true" : text;
    if (kind == OptionKind::Count && digits) return text;
    return "\"" + text + "\"";
}

std::string errorOf(const Result<Config>& r) {
    return r.ok() ? std::string("(accepted)") : r.error().message;
}

TEST(OptionTable, EveryRowHasACase) {
    std::set<std::string_view> names;
    for (const OptionRow& row : optionTable()) {
        EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
        EXPECT_TRUE(cases().contains(row.name)) << "no case for the row " << row.name;
        EXPECT_FALSE(row.help.empty()) << row.name;
        EXPECT_EQ(row.kind == OptionKind::Flag, row.value_name.empty()) << row.name;
    }
    for (const auto& [name, c] : cases()) {
        EXPECT_NE(findOption(name), nullptr) << "a case for no row: " << name;
    }
}

TEST(OptionTable, EveryRowParsesItsExampleAndRefusesABadValue) {
    for (const OptionRow& row : optionTable()) {
        SCOPED_TRACE(std::string(row.name));
        const auto found = cases().find(row.name);
        ASSERT_NE(found, cases().end());
        const Case& c = found->second;

        Targets t;
        Status good = setOption(row, c.good, t.all());
        EXPECT_TRUE(good.ok()) << good.error().message;
        EXPECT_NE(t, Targets()) << "the example set nothing";

        if (!c.bad) {
            // Only a string without a check takes any text.
            EXPECT_EQ(row.kind, OptionKind::String);
            EXPECT_EQ(row.check, nullptr);
            continue;
        }
        Targets before;
        Targets after;
        Status bad = setOption(row, *c.bad, after.all());
        ASSERT_FALSE(bad.ok()) << *c.bad;
        EXPECT_EQ(bad.code(), EINVAL);
        const std::string& m = bad.error().message;
        EXPECT_EQ(m.rfind("option " + std::string(row.name) + ": ", 0), 0u) << m;
        EXPECT_NE(m.find(c.fragment), std::string::npos) << m;
        EXPECT_EQ(after, before) << "a refused value changed something";
    }
}

// The same rows are the keys of the config file: pool settings in [defaults] and [pools.NAME],
// global ones in [defaults] only, the daemon's own nowhere. A key means the same in both.
TEST(OptionTable, ConfigFileKnowsTheSameRows) {
    for (const OptionRow& row : optionTable()) {
        SCOPED_TRACE(std::string(row.name));
        const Case& c = cases().at(row.name);
        for (bool in_defaults : {true, false}) {
            const std::string section = in_defaults ? "defaults" : "pools.p";
            const std::string_view key = configKey(row, in_defaults);
            const bool expected =
                row.scope == OptionScope::Pool || (row.scope == OptionScope::Global && in_defaults);
            ASSERT_EQ(!key.empty(), expected) << section;
            const std::string written = key.empty() ? std::string(row.name) : std::string(key);
            const std::string text = "[" + section + "]\n" + c.context + written + " = " +
                                     tomlValue(row.kind, c.good) + "\n";
            auto r = parseConfig(text, "t.toml");
            if (!expected) {
                EXPECT_NE(errorOf(r).find("unknown key \"" + written + "\""), std::string::npos)
                    << errorOf(r);
                continue;
            }
            ASSERT_TRUE(r.ok()) << text << errorOf(r);
            // The same value as the mount option gives.
            Targets t;
            ASSERT_TRUE(setOption(row, c.good, t.all()).ok());
            if (!c.context.empty()) continue;  // the context keys are set in the file only
            const PoolSettings& got = in_defaults ? r->defaults : r->pools.at(0).settings;
            EXPECT_EQ(got, t.config.defaults) << text;
            if (in_defaults) {
                EXPECT_EQ(r->shm_prefix, t.config.shm_prefix);
            }

            if (!c.bad) continue;
            const std::string bad_text =
                "[" + section + "]\n" + written + " = " + tomlValue(row.kind, *c.bad) + "\n";
            auto refused = parseConfig(bad_text, "t.toml");
            EXPECT_NE(errorOf(refused).find(section + "." + written + ":"), std::string::npos)
                << bad_text << errorOf(refused);
        }
    }
}

TEST(OptionTable, ConfigKeysListEveryKeyOfASection) {
    for (bool in_defaults : {true, false}) {
        const auto keys = configKeys(in_defaults);
        std::set<std::string_view> unique(keys.begin(), keys.end());
        EXPECT_EQ(unique.size(), keys.size());
        size_t expected = 0;
        for (const OptionRow& row : optionTable()) {
            if (configKey(row, in_defaults).empty()) continue;
            ++expected;
            EXPECT_EQ(findConfigKey(configKey(row, in_defaults), in_defaults), &row);
        }
        EXPECT_EQ(keys.size(), expected);
    }
    EXPECT_EQ(findConfigKey("size", true), nullptr);
    EXPECT_EQ(findConfigKey("pool_size", false), nullptr);
    EXPECT_EQ(findConfigKey("", true), nullptr);
}

TEST(OptionTable, MountOptionTemplatesCoverEveryRow) {
    const auto templates = optionTemplates();
    const auto rows = optionTable();
    ASSERT_EQ(templates.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        const std::string name(rows[i].name);
        EXPECT_EQ(templates[i], rows[i].kind == OptionKind::Flag ? name : name + "=");
        EXPECT_EQ(findOption(rows[i].name), &rows[i]);
    }
    EXPECT_EQ(findOption("no_such_option"), nullptr);
}

TEST(OptionTable, HelpListsEveryRow) {
    const std::string help = optionHelp();
    for (const OptionRow& row : optionTable()) {
        const std::string syntax =
            "    " + std::string(row.name) +
            (row.value_name.empty() ? " " : "=" + std::string(row.value_name));
        const size_t at = help.find("\n" + syntax);
        EXPECT_TRUE(at != std::string::npos || help.rfind(syntax, 0) == 0)
            << "--help does not list " << row.name << ":\n"
            << help;
        if (!row.fallback.empty()) {
            EXPECT_NE(help.find("[" + std::string(row.fallback) + "]"), std::string::npos)
                << row.name;
        }
    }
    for (const std::string& policy : policyNames()) {
        EXPECT_NE(help.find(policy), std::string::npos) << policy;
    }
    EXPECT_EQ(help.find("{policies}"), std::string::npos);
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), 100u) << line;
    }
}

// A default that --help shows as a value is the real default: applying it changes nothing.
TEST(OptionTable, HelpDefaultsAreTheBuiltInOnes) {
    // These show a description, not a value.
    const std::set<std::string_view> described = {
        "config", "restore", "disk_dir", "disk_policy", "remote", "remote_layout", "data_socket"};
    for (const OptionRow& row : optionTable()) {
        if (row.fallback.empty() || described.contains(row.name)) continue;
        SCOPED_TRACE(std::string(row.name));
        Targets t;
        Status s = setOption(row, row.fallback, t.all());
        ASSERT_TRUE(s.ok()) << s.error().message;
        EXPECT_EQ(t, Targets());
    }
}

}  // namespace
}  // namespace kvc
