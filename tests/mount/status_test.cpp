// `kvcachefs status` and `kvcachefs policies` against a real mount: a table with each pool's
// size, use, entries, policy and ratios in human units; --json that a JSON parser reads with the
// pools' .stats figures; one pool when given a pool's directory; a clear error for a path that is
// neither; and every policy listed with when to use it.
#include <sys/wait.h>

#include <algorithm>

#include "tests/mount/mount_fixture.h"

namespace kvctest {
namespace {

class StatusTest : public MountTest {
  protected:
    // Runs the kvcachefs binary; the exit status (-1 if it did not exit) and its output.
    std::pair<int, std::string> kvc(std::vector<std::string> args) {
        args.insert(args.begin(), KVCACHEFS_BIN);
        std::string out;
        const int status = runProgram(args, &out, 30000);
        return {status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
    }
    // `kvcachefs status --json` of the mount, read by a real parser (Debian's python3 json) into
    // `p` (pools by name), then `asserts` (Python) run on it.
    void expectJson(const std::string& asserts) {
        std::string out;
        const std::string script =
            "import json, sys; p = {x['pool']: x for x in json.load(sys.stdin)['pools']}; " +
            asserts + "; print('ok')";
        const int status = runProgram({"/bin/sh", "-c",
                                       std::string(KVCACHEFS_BIN) + " status --json " + mnt() +
                                           " | /usr/bin/python3 -c \"" + script + "\""},
                                      &out, 30000);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
        EXPECT_NE(out.find("ok"), std::string::npos) << out;
    }
};

TEST_F(StatusTest, StatusShowsEveryPoolInATableAndAsJson) {
    const std::string llama = makePool("llama"), qwen = makePool("qwen");
    ASSERT_EQ(0, controlWrite(qwen + "/.policy", "s3fifo\n").first);
    ASSERT_EQ(0, writeFile(llama + "/blk", pattern(3 << 20, 1)));
    ASSERT_TRUE(readFile(llama + "/blk").has_value());  // a hit

    auto [rc, table] = kvc({"status", mnt()});
    ASSERT_EQ(0, rc) << table;
    EXPECT_NE(table.find("POOL"), std::string::npos) << table;
    EXPECT_NE(table.find("llama  lru     cpu"), std::string::npos) << table;
    EXPECT_NE(table.find("qwen   s3fifo  cpu"), std::string::npos) << table;
    EXPECT_NE(table.find("64.0 MiB"), std::string::npos) << table;  // the mount's size=64M
    EXPECT_NE(table.find("3.00 MiB"), std::string::npos) << table;  // llama's use

    // --json: every .stats figure.
    expectJson(
        "assert p['llama']['used_bytes'] == 3 << 20, p; assert p['llama']['entries'] == 1; "
        "assert p['qwen']['policy'] == 's3fifo'; assert p['llama']['hits'] >= 1");

    // One pool, by its directory.
    auto [one_rc, one] = kvc({"status", qwen});
    EXPECT_EQ(0, one_rc);
    EXPECT_NE(one.find("qwen"), std::string::npos) << one;
    EXPECT_EQ(one.find("llama"), std::string::npos) << one;
}

// An `echo` into a control file only learns EINVAL: status shows why, per pool.
TEST_F(StatusTest, StatusShowsWhyTheLastControlWriteWasRefused) {
    const std::string llama = makePool("llama");
    makePool("qwen");
    EXPECT_EQ(EINVAL, controlWrite(llama + "/.size", "12Q\n").first);
    EXPECT_EQ(EINVAL, controlWrite(llama + "/.policy", "belady\n").first);

    auto [rc, table] = kvc({"status", mnt()});
    ASSERT_EQ(0, rc) << table;
    const size_t at = table.find("llama: 2 refused writes, the last: ");
    ASSERT_NE(at, std::string::npos) << table;
    const std::string line = table.substr(at, table.find('\n', at) - at);
    EXPECT_NE(line.find(" .policy EINVAL "), std::string::npos) << line;
    EXPECT_NE(line.find("belady"), std::string::npos) << line;
    EXPECT_EQ(table.find("qwen:"), std::string::npos) << table;  // nothing refused there

    expectJson(
        "assert p['llama']['rejected_writes'] == 2, p; "
        "assert '.policy EINVAL' in p['llama']['last_rejected'], p; "
        "assert p['qwen']['rejected_writes'] == 0 and 'last_rejected' not in p['qwen'], p");
}

TEST_F(StatusTest, StatusRefusesWhatIsNoMountOrPool) {
    auto [rc, out] = kvc({"status", "/tmp"});
    EXPECT_EQ(1, rc);
    EXPECT_NE(out.find("/tmp is neither a kvcachefs mount nor one of its pools"), std::string::npos)
        << out;
    auto [empty_rc, empty] = kvc({"status", mnt()});
    EXPECT_EQ(0, empty_rc);
    EXPECT_NE(empty.find("no pools"), std::string::npos) << empty;
    EXPECT_EQ(2, kvc({"status", mnt(), mnt()}).first);  // usage
}

TEST_F(StatusTest, PoliciesListsEveryPolicyWithItsUse) {
    auto [rc, out] = kvc({"policies"});
    ASSERT_EQ(0, rc);
    const std::string lines = "\n" + out;
    for (const char* p :
         {"lru ", "lfu ", "fifo ", "priority ", "sieve ", "s3fifo ", "lru+admit ", "kvadapt "})
        EXPECT_NE(lines.find(std::string("\n") + p), std::string::npos) << p;
    EXPECT_EQ(8, std::count(out.begin(), out.end(), '\n')) << out;
}

}  // namespace
}  // namespace kvctest
