// RedisClusterFixture: a real Redis Cluster for tests, started from scratch and always taken down.
//
// Every node is a redis-server child of this process (fork/exec, --daemonize no), bound to
// 127.0.0.1 on a random free port in 20000-29999 (its cluster bus on port + 10000), with its
// files in a mkdtemp directory under /tmp. The nodes are joined with `redis-cli --cluster create`
// and the constructor returns once every node reports cluster_state:ok and every replica's link
// to its master is up. The destructor ends exactly the pids it started (SIGTERM, SIGKILL after
// 5 s), reaps them and removes the directory; a node also dies with SIGKILL if the thread that
// created the fixture dies (PR_SET_PDEATHSIG), so a test killed by a ctest timeout leaves no
// server behind: create the fixture on a thread that outlives it (the test's own thread). Several
// fixtures may run at once (ctest -j): a port taken between the check and the bind makes that
// node start again elsewhere. One fixture is used from one thread at a time.
//
// Header-only on purpose (standard library and POSIX only) so mount tests can use it as well.
// The helpers that ask the cluster (masterOfKey, moveSlot, ...) run redis-cli and parse its
// output; they are test tools, not a client.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace kvctest {

namespace redis_detail {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The absolute path of a program found in $PATH, or "".
inline std::string findProgram(const std::string& name) {
    const char* path = getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::stringstream in(dirs);
    std::string dir;
    while (std::getline(in, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

struct RunResult {
    int status = -1;     // wait status; -1 if the program could not run or was killed for time
    std::string output;  // stdout and stderr
};

// Runs argv (argv[0] an absolute path) to completion, capturing stdout and stderr; kills it by pid
// after `timeout`.
inline RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    RunResult result;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return result;
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(null_fd, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(args[0], args.data());
        _exit(127);
    }
    close(fds[1]);
    if (null_fd >= 0) close(null_fd);
    if (pid < 0) {
        close(fds[0]);
        return result;
    }
    auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    char buf[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int n = poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;  // the loop head sees the deadline
        ssize_t got = read(fds[0], buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        result.output.append(buf, static_cast<size_t>(got));
    }
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = timed_out ? -1 : status;
    return result;
}

// True if 127.0.0.1:port can be bound now (the port is not in use, not even in TIME_WAIT).
inline bool portFree(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
}

inline std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    std::stringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

inline std::vector<std::string> splitWords(const std::string& line) {
    std::vector<std::string> words;
    std::stringstream in(line);
    std::string word;
    while (in >> word) words.push_back(word);
    return words;
}

inline std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t start = 0;
    while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
    return s.substr(start);
}

// The value of `name:` in INFO or CLUSTER INFO output, or "".
inline std::string infoField(const std::string& info, const std::string& name) {
    for (const std::string& line : splitLines(info)) {
        if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
            line[name.size()] == ':') {
            return line.substr(name.size() + 1);
        }
    }
    return {};
}

// One line of CLUSTER NODES.
struct ClusterNode {
    std::string id;
    int port = 0;
    std::vector<std::string> flags;
    std::string master_id;                   // "-" for a master
    std::vector<std::pair<int, int>> slots;  // owned ranges, inclusive (migrations left out)

    bool has(std::string_view flag) const {
        return std::find(flags.begin(), flags.end(), flag) != flags.end();
    }
    bool owns(int slot) const {
        for (auto [first, last] : slots) {
            if (slot >= first && slot <= last) return true;
        }
        return false;
    }
};

inline std::vector<ClusterNode> parseClusterNodes(const std::string& text) {
    std::vector<ClusterNode> nodes;
    for (const std::string& line : splitLines(text)) {
        std::vector<std::string> w = splitWords(line);
        if (w.size() < 8) continue;
        ClusterNode node;
        node.id = w[0];
        // "ip:port@cport[,hostname]"
        std::string address = w[1].substr(0, w[1].find('@'));
        size_t colon = address.rfind(':');
        if (colon == std::string::npos) continue;
        node.port = atoi(address.c_str() + colon + 1);
        std::stringstream flags(w[2]);
        std::string flag;
        while (std::getline(flags, flag, ',')) node.flags.push_back(flag);
        node.master_id = w[3];
        for (size_t i = 8; i < w.size(); ++i) {
            if (w[i].empty() || w[i][0] == '[') continue;
            size_t dash = w[i].find('-');
            int first = atoi(w[i].c_str());
            int last = dash == std::string::npos ? first : atoi(w[i].c_str() + dash + 1);
            node.slots.emplace_back(first, last);
        }
        nodes.push_back(std::move(node));
    }
    return nodes;
}

}  // namespace redis_detail

class RedisClusterFixture {
  public:
    using Clock = redis_detail::Clock;

    // True when redis-server and redis-cli are installed (a test may skip otherwise).
    static bool available() {
        return !redis_detail::findProgram("redis-server").empty() &&
               !redis_detail::findProgram("redis-cli").empty();
    }

    // Starts masters * (1 + replicas_per_master) nodes and joins them (Redis needs masters >= 3).
    // Never throws; ok() and error() tell whether the cluster is up.
    explicit RedisClusterFixture(int masters = 3, int replicas_per_master = 0) {
        start(masters, replicas_per_master);
    }
    ~RedisClusterFixture() { stop(); }
    RedisClusterFixture(const RedisClusterFixture&) = delete;
    RedisClusterFixture& operator=(const RedisClusterFixture&) = delete;

    bool ok() const { return error_.empty(); }
    // Why the cluster is not up, with the end of every node's log.
    std::string error() const { return error_; }

    size_t size() const { return nodes_.size(); }
    int port(size_t i) const { return nodes_.at(i).port; }
    pid_t pid(size_t i) const { return nodes_.at(i).pid; }  // -1 once killed
    bool alive(size_t i) const { return nodes_.at(i).pid > 0; }
    std::string address(size_t i) const { return "127.0.0.1:" + std::to_string(port(i)); }
    const std::string& nodeId(size_t i) const { return nodes_.at(i).id; }
    const std::string& directory() const { return dir_; }
    // Every node started (masters and replicas), "127.0.0.1:port".
    std::vector<std::string> seeds() const {
        std::vector<std::string> out;
        for (size_t i = 0; i < nodes_.size(); ++i) out.push_back(address(i));
        return out;
    }
    std::string seedList() const {
        std::string out;
        for (const std::string& s : seeds()) out += (out.empty() ? "" : ",") + s;
        return out;
    }
    // The node with this "host:port" or port, or -1.
    int indexOf(std::string_view address) const {
        size_t colon = address.rfind(':');
        int p = atoi(
            std::string(address.substr(colon == std::string_view::npos ? 0 : colon + 1)).c_str());
        for (size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i].port == p) return static_cast<int>(i);
        }
        return -1;
    }

    // `redis-cli -h 127.0.0.1 -p port(i) args...` (10 s at most): its output, trimmed. Error
    // replies come back as text ("ERR ...", "MOVED ..."); `status` gets the wait status.
    std::string cli(size_t i, const std::vector<std::string>& args, int* status = nullptr) const {
        std::vector<std::string> argv{cli_, "-h", "127.0.0.1", "-p", std::to_string(port(i))};
        argv.insert(argv.end(), args.begin(), args.end());
        redis_detail::RunResult r = redis_detail::run(argv, std::chrono::seconds(10));
        if (status != nullptr) *status = r.status;
        return redis_detail::trim(r.output);
    }

    // SIGKILL to node i (only the pid this fixture started), then reaps it.
    void killNode(size_t i) {
        Node& node = nodes_.at(i);
        if (node.pid <= 0) return;
        kill(node.pid, SIGKILL);
        reap(node.pid);
        node.pid = -1;
    }
    // SIGSTOP / SIGCONT: a node that accepts connections but never answers.
    void pauseNode(size_t i) {
        if (alive(i)) kill(pid(i), SIGSTOP);
    }
    void resumeNode(size_t i) {
        if (alive(i)) kill(pid(i), SIGCONT);
    }

    // CLUSTER KEYSLOT, asked of a live node; -1 on failure.
    int keySlot(std::string_view key) const {
        int i = anyAlive();
        if (i < 0) return -1;
        std::string out = cli(static_cast<size_t>(i), {"CLUSTER", "KEYSLOT", std::string(key)});
        return out.empty() || !std::isdigit(static_cast<unsigned char>(out[0])) ? -1
                                                                                : atoi(out.c_str());
    }
    // The node that owns `slot` per CLUSTER NODES of a live node (a dead master without replicas
    // still owns its slots), or -1.
    int ownerOfSlot(int slot) const {
        int asked = anyAlive();
        if (asked < 0) return -1;
        for (const auto& n : clusterNodes(static_cast<size_t>(asked))) {
            if (n.has("master") && n.owns(slot)) return indexOfPort(n.port);
        }
        return -1;
    }
    // "127.0.0.1:port" of the master that owns the key's slot, or "".
    std::string masterOfKey(std::string_view key) const {
        int i = masterIndexOfKey(key);
        return i < 0 ? std::string() : address(static_cast<size_t>(i));
    }
    int masterIndexOfKey(std::string_view key) const {
        int slot = keySlot(key);
        return slot < 0 ? -1 : ownerOfSlot(slot);
    }
    // Live nodes that are masters now.
    std::vector<size_t> masters() const {
        std::vector<size_t> out;
        int asked = anyAlive();
        if (asked < 0) return out;
        for (const auto& n : clusterNodes(static_cast<size_t>(asked))) {
            int i = indexOfPort(n.port);
            if (i >= 0 && alive(static_cast<size_t>(i)) && n.has("master") && !n.has("fail")) {
                out.push_back(static_cast<size_t>(i));
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    // The replicas node i had when the cluster was created.
    std::vector<size_t> replicasOf(size_t i) const {
        std::vector<size_t> out;
        for (size_t r = 0; r < nodes_.size(); ++r) {
            if (nodes_[r].initial_master == static_cast<int>(i)) out.push_back(r);
        }
        return out;
    }
    long long dbsize(size_t i) const { return atoll(cli(i, {"DBSIZE"}).c_str()); }

    // Waits until every live replica has received everything its master has written.
    bool waitForReplication(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
        return waitUntil(timeout, [&] {
            for (size_t r = 0; r < nodes_.size(); ++r) {
                int m = nodes_[r].initial_master;
                if (m < 0 || !alive(r) || !alive(static_cast<size_t>(m))) continue;
                std::string master_info = cli(static_cast<size_t>(m), {"INFO", "replication"});
                std::string replica_info = cli(r, {"INFO", "replication"});
                std::string want = redis_detail::infoField(master_info, "master_repl_offset");
                std::string have = redis_detail::infoField(replica_info, "slave_repl_offset");
                if (want.empty() || have.empty() || atoll(have.c_str()) < atoll(want.c_str())) {
                    return false;
                }
            }
            return true;
        });
    }

    // After killNode(dead): waits until one of its replicas is a master, every live node sees
    // that, and every live node reports cluster_state:ok. Returns the promoted node, or -1.
    int waitForFailover(size_t dead, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
        int promoted = -1;
        bool done = waitUntil(timeout, [&] {
            promoted = -1;
            for (size_t r : replicasOf(dead)) {
                if (!alive(r)) continue;
                std::string info = cli(r, {"INFO", "replication"});
                if (redis_detail::infoField(info, "role") == "master")
                    promoted = static_cast<int>(r);
            }
            if (promoted < 0) return false;
            for (size_t i = 0; i < nodes_.size(); ++i) {
                if (!alive(i)) continue;
                bool seen = false;
                for (const auto& n : clusterNodes(i)) {
                    if (n.port == port(static_cast<size_t>(promoted)) && n.has("master") &&
                        !n.slots.empty()) {
                        seen = true;
                    }
                }
                if (!seen || clusterState(i) != "ok") return false;
            }
            return true;
        });
        return done ? promoted : -1;
    }

    // Slot migration in the steps Redis documents: IMPORTING on the target, MIGRATING on the
    // source, MIGRATE of the keys, then SETSLOT NODE on every live master.
    bool beginSlotMigration(int slot, size_t from, size_t to) {
        std::string s = std::to_string(slot);
        return cli(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", nodeId(from)}) == "OK" &&
               cli(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", nodeId(to)}) == "OK";
    }
    bool migrateKeys(size_t from, size_t to, const std::vector<std::string>& keys) {
        if (keys.empty()) return true;
        // MIGRATE host port "" db timeout-ms KEYS key...: the multi-key form.
        std::vector<std::string> args{"MIGRATE", "127.0.0.1", std::to_string(port(to))};
        args.insert(args.end(), {"", "0", "5000", "KEYS"});
        args.insert(args.end(), keys.begin(), keys.end());
        std::string out = cli(from, args);
        return out == "OK" || out == "NOKEY";
    }
    bool finishSlotMigration(int slot, size_t from, size_t to) {
        std::string s = std::to_string(slot);
        if (cli(to, {"CLUSTER", "SETSLOT", s, "NODE", nodeId(to)}) != "OK") return false;
        if (cli(from, {"CLUSTER", "SETSLOT", s, "NODE", nodeId(to)}) != "OK") return false;
        for (size_t m : masters()) {
            if (m != from && m != to) cli(m, {"CLUSTER", "SETSLOT", s, "NODE", nodeId(to)});
        }
        // Every live node agrees before we return, so a test sees one cluster-wide answer.
        return waitUntil(std::chrono::seconds(10), [&] {
            for (size_t i = 0; i < nodes_.size(); ++i) {
                if (!alive(i)) continue;
                bool agrees = false;
                for (const auto& n : clusterNodes(i)) {
                    if (n.port == port(to) && n.owns(slot)) agrees = true;
                }
                if (!agrees) return false;
            }
            return true;
        });
    }
    // The whole migration of one slot, with all its keys, to node `to`.
    bool moveSlot(int slot, size_t to) {
        int from = ownerOfSlot(slot);
        if (from < 0) return false;
        if (static_cast<size_t>(from) == to) return true;
        auto f = static_cast<size_t>(from);
        if (!beginSlotMigration(slot, f, to)) return false;
        for (int round = 0; round < 10000; ++round) {
            std::string out = cli(f, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "100"});
            std::vector<std::string> keys;
            for (const std::string& line : redis_detail::splitLines(out)) {
                if (!line.empty()) keys.push_back(line);
            }
            if (keys.empty()) break;
            if (!migrateKeys(f, to, keys)) return false;
        }
        return finishSlotMigration(slot, f, to);
    }

    std::string clusterState(size_t i) const {
        return redis_detail::infoField(cli(i, {"CLUSTER", "INFO"}), "cluster_state");
    }
    std::vector<redis_detail::ClusterNode> clusterNodes(size_t i) const {
        return redis_detail::parseClusterNodes(cli(i, {"CLUSTER", "NODES"}));
    }
    // The last `lines` lines of every node's log, for failure messages.
    std::string logs(size_t lines = 15) const {
        std::string out;
        for (const Node& node : nodes_) {
            std::ifstream in(dir_ + "/" + std::to_string(node.port) + ".log");
            std::vector<std::string> all;
            std::string line;
            while (std::getline(in, line)) all.push_back(line);
            out += "--- node " + std::to_string(node.port) + " ---\n";
            for (size_t k = all.size() > lines ? all.size() - lines : 0; k < all.size(); ++k) {
                out += all[k] + "\n";
            }
        }
        return out;
    }

    // Polls `pred` every 50 ms until it is true or `timeout` passed.
    template <class Pred>
    static bool waitUntil(std::chrono::milliseconds timeout, Pred pred) {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            if (pred()) return true;
            if (Clock::now() >= deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

  private:
    struct Node {
        int port = 0;
        pid_t pid = -1;
        std::string id;
        int initial_master = -1;  // index of its master at creation, -1 for a master
    };

    void fail(std::string message) {
        if (error_.empty()) error_ = std::move(message) + "\n" + logs();
    }

    void start(int masters, int replicas_per_master) {
        server_ = redis_detail::findProgram("redis-server");
        cli_ = redis_detail::findProgram("redis-cli");
        if (server_.empty() || cli_.empty()) return fail("redis-server or redis-cli not in PATH");
        if (masters < 3 || replicas_per_master < 0)
            return fail("a cluster needs 3 masters or more");
        char tmpl[] = "/tmp/kvc-redis-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return fail(std::string("mkdtemp: ") + strerror(errno));
        dir_ = tmpl;

        size_t count =
            static_cast<size_t>(masters) * (1 + static_cast<size_t>(replicas_per_master));
        nodes_.resize(count);
        for (size_t i = 0; i < count; ++i) {
            if (!startNode(i)) return;
        }

        std::vector<std::string> create{cli_, "--cluster", "create"};
        for (size_t i = 0; i < count; ++i) create.push_back(address(i));
        create.insert(create.end(),
                      {"--cluster-replicas", std::to_string(replicas_per_master), "--cluster-yes"});
        redis_detail::RunResult r = redis_detail::run(create, std::chrono::seconds(60));
        if (r.status != 0 || r.output.find("All 16384 slots covered") == std::string::npos) {
            return fail("redis-cli --cluster create failed:\n" + r.output);
        }

        bool up = waitUntil(std::chrono::seconds(30), [&] {
            for (size_t i = 0; i < count; ++i) {
                if (clusterState(i) != "ok") return false;
                if (nodes_[i].id.empty()) nodes_[i].id = cli(i, {"CLUSTER", "MYID"});
            }
            return true;
        });
        if (!up) return fail("the cluster did not reach cluster_state:ok within 30 s");

        // Who replicates whom, as each replica itself reports it (gossip may lag behind).
        if (replicas_per_master > 0) {
            bool linked = waitUntil(std::chrono::seconds(30), [&] {
                size_t replicas = 0;
                for (size_t i = 0; i < count; ++i) {
                    std::string info = cli(i, {"INFO", "replication"});
                    if (redis_detail::infoField(info, "role") != "slave") continue;
                    ++replicas;
                    int master =
                        indexOfPort(atoi(redis_detail::infoField(info, "master_port").c_str()));
                    nodes_[i].initial_master = master;
                    if (master < 0 || redis_detail::infoField(info, "master_link_status") != "up") {
                        return false;
                    }
                }
                return replicas == static_cast<size_t>(masters * replicas_per_master);
            });
            if (!linked) return fail("the replicas did not link to their masters within 30 s");
        }
    }

    // Starts node i on a free port; another port when the start fails (a race with another
    // fixture for the same port).
    bool startNode(size_t i) {
        std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()) ^
                         static_cast<unsigned>(i * 7919));
        std::uniform_int_distribution<int> pick(20000, 29999);
        std::string last_failure;
        for (int attempt = 0; attempt < 30; ++attempt) {
            int p = pick(rng);
            if (indexOfPort(p) >= 0 || !redis_detail::portFree(p) ||
                !redis_detail::portFree(p + 10000)) {
                continue;
            }
            nodes_[i].port = p;
            pid_t child = spawnServer(p);
            if (child < 0) {
                nodes_[i].port = 0;
                fail(std::string("fork: ") + strerror(errno));
                return false;
            }
            nodes_[i].pid = child;
            if (waitServing(i)) return true;
            if (nodes_[i].pid > 0) {  // still running but not serving: not reaped yet
                kill(child, SIGKILL);
                reap(child);
                nodes_[i].pid = -1;
            }
            last_failure = "port " + std::to_string(p);
            nodes_[i].port = 0;
        }
        fail("could not start redis-server (last try: " + last_failure + ")");
        return false;
    }

    pid_t spawnServer(int p) {
        std::string ps = std::to_string(p);
        const std::pair<std::string, std::string> options[] = {
            {"--daemonize", "no"},
            {"--bind", "127.0.0.1"},
            {"--port", ps},
            {"--cluster-enabled", "yes"},
            {"--cluster-config-file", dir_ + "/nodes-" + ps + ".conf"},
            {"--cluster-node-timeout", "2000"},
            {"--cluster-require-full-coverage", "no"},
            {"--save", ""},
            {"--appendonly", "no"},
            {"--repl-diskless-sync-delay", "0"},  // replicas sync at once, not after 5 s
            {"--maxmemory", "256mb"},
            {"--maxmemory-policy", "allkeys-lru"},
            {"--dir", dir_},
            {"--logfile", dir_ + "/" + ps + ".log"},
        };
        std::vector<std::string> argv{server_};
        for (const auto& [name, value] : options) {
            argv.push_back(name);
            argv.push_back(value);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::string out_path = dir_ + "/" + ps + ".out";
        int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t parent = getpid();
        pid_t child = fork();
        if (child == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(126);
            dup2(null_fd, 0);
            dup2(out_fd, 1);
            dup2(out_fd, 2);
            execv(args[0], args.data());
            _exit(127);
        }
        if (out_fd >= 0) close(out_fd);
        if (null_fd >= 0) close(null_fd);
        return child;
    }

    // Waits (5 s) until the server answers on its port and is the process this fixture started
    // (not another fixture's server that won the port).
    bool waitServing(size_t i) {
        std::string want = "process_id:" + std::to_string(nodes_[i].pid);
        return waitUntil(std::chrono::seconds(5),
                         [&] {
                             int status = 0;
                             if (waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
                                 nodes_[i].pid = -1;  // reaped: exited (bind failure, ...)
                                 return true;
                             }
                             return redis_detail::infoField(cli(i, {"INFO", "server"}),
                                                            "process_id") ==
                                    want.substr(want.find(':') + 1);
                         }) &&
               nodes_[i].pid > 0;
    }

    static void reap(pid_t p) {
        int status = 0;
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
    }

    void stop() {
        for (Node& node : nodes_) {
            if (node.pid > 0) {
                kill(node.pid, SIGCONT);  // a paused node would never see SIGTERM
                kill(node.pid, SIGTERM);
            }
        }
        auto deadline = Clock::now() + std::chrono::seconds(5);
        for (Node& node : nodes_) {
            if (node.pid <= 0) continue;
            int status = 0;
            pid_t got = 0;
            while ((got = waitpid(node.pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (got == 0) {  // still running after 5 s
                kill(node.pid, SIGKILL);
                reap(node.pid);
            }
            node.pid = -1;
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    int anyAlive() const {
        for (size_t i = 0; i < nodes_.size(); ++i) {
            if (alive(i)) return static_cast<int>(i);
        }
        return -1;
    }
    int indexOfPort(int p) const {
        for (size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i].port == p && p != 0) return static_cast<int>(i);
        }
        return -1;
    }

    std::string server_;
    std::string cli_;
    std::string dir_;
    std::vector<Node> nodes_;
    std::string error_;
};

}  // namespace kvctest
