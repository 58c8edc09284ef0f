// RedisCluster: slot hashing, the CLUSTER SLOTS table, MOVED/ASK, per-node connection pools and
// circuit breakers over hiredis (blocking contexts with connect and socket timeouts).
//
// A call runs at most two commands (the first try, then one retry after MOVED, ASK, a stale pooled
// connection or a failover found by a refresh), all under one deadline of 2x options.timeout;
// every connect and command gets min(timeout, time left) so the deadline holds.
#include "core/tiers/redis_cluster.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include <fmt/format.h>

namespace kvc {

namespace {

constexpr size_t kMaxIdlePerNode = 8;  // a few FUSE workers and the background writer per node

constexpr std::array<uint16_t, 256> makeCrc16Table() {
    std::array<uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        uint16_t crc = static_cast<uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<uint16_t>(crc << 1);
        }
        table[i] = crc;
    }
    return table;
}
constexpr std::array<uint16_t, 256> kCrc16Table = makeCrc16Table();

struct HostPort {
    std::string host;
    int port = 0;
};

// "host:port", "[v6addr]:port" or "v6addr:port" (the port follows the last ':').
std::optional<HostPort> splitHostPort(std::string_view item) {
    size_t colon = item.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= item.size()) return std::nullopt;
    std::string_view host = item.substr(0, colon);
    std::string_view port_text = item.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find_first_of("[]") != std::string_view::npos) {
        return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
        return std::nullopt;
    }
    return HostPort{std::string(host), port};
}

std::string joinHostPort(std::string_view host, int port) {
    return fmt::format("{}:{}", host, port);
}

int64_t toNs(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

timeval toTimeval(std::chrono::microseconds d) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000000);
    return tv;
}

// hiredis writes with write(2): a peer that closed the socket would raise SIGPIPE and end the
// process. Block it on this thread while talking and swallow one that the write raised, so the
// library does not depend on the process ignoring SIGPIPE (FUSE does; a test program may not).
class SigpipeBlock {
  public:
    SigpipeBlock() {
        sigemptyset(&pipe_set_);
        sigaddset(&pipe_set_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
        sigset_t pending;
        sigpending(&pending);
        already_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    ~SigpipeBlock() {
        if (!already_pending_) {
            sigset_t pending;
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec zero{};
                while (sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
                }
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    }
    SigpipeBlock(const SigpipeBlock&) = delete;
    SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  private:
    sigset_t pipe_set_{};
    sigset_t old_mask_{};
    bool already_pending_ = false;
};

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// One connection and the socket timeout it currently has.
struct Connection {
    ContextPtr ctx;
    std::chrono::microseconds timeout{0};
};

std::string_view replyText(const redisReply& r) {
    return r.str != nullptr ? std::string_view(r.str, r.len) : std::string_view();
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the target address. An empty host
// (Redis 7 when the endpoint is unknown) means the node that answered.
std::optional<HostPort> redirectTarget(std::string_view text, std::string_view kind,
                                       std::string_view answering_host) {
    if (!text.starts_with(kind) || text.substr(kind.size(), 1) != " ") return std::nullopt;
    size_t space = text.rfind(' ');
    if (space <= kind.size()) return std::nullopt;
    std::string_view address = text.substr(space + 1);
    if (!address.empty() && address.front() == ':') {
        return splitHostPort(fmt::format("{}{}", answering_host, address));
    }
    return splitHostPort(address);
}

// Why a node gave no usable answer, and whether it was by timing out.
struct NodeFailure {
    Error error;
    bool timed_out = false;
};

// A command's arguments as hiredis takes them.
struct CommandArgs {
    explicit CommandArgs(const std::vector<std::string_view>& argv) {
        args.reserve(argv.size());
        lengths.reserve(argv.size());
        for (std::string_view a : argv) {
            args.push_back(a.data());
            lengths.push_back(a.size());
        }
    }
    std::vector<const char*> args;
    std::vector<size_t> lengths;
};

// Gives the connection the socket timeout `budget` unless it has it already.
std::optional<NodeFailure> applyTimeout(Connection& conn, std::string_view address,
                                        std::chrono::microseconds budget) {
    if (conn.timeout == budget) return std::nullopt;
    if (redisSetTimeout(conn.ctx.get(), toTimeval(budget)) != REDIS_OK) {
        return NodeFailure{makeError(EIO, fmt::format("redis node {}: set timeout: {}", address,
                                                      conn.ctx->errstr)),
                           false};
    }
    conn.timeout = budget;
    return std::nullopt;
}

// ASKING first when `asking`, then the command: the reply, or null with the errno of the I/O
// that failed in `io_errno`.
ReplyPtr sendCommand(Connection& conn, CommandArgs& command, bool asking, int& io_errno) {
    ReplyPtr reply;
    SigpipeBlock no_sigpipe;
    bool asked = true;
    if (asking) {
        errno = 0;
        reply.reset(static_cast<redisReply*>(redisCommand(conn.ctx.get(), "ASKING")));
        io_errno = errno;
        asked = reply && reply->type == REDIS_REPLY_STATUS;
    }
    if (asked) {
        errno = 0;
        reply.reset(static_cast<redisReply*>(
            redisCommandArgv(conn.ctx.get(), static_cast<int>(command.args.size()),
                             command.args.data(), command.lengths.data())));
        io_errno = errno;
    }
    return reply;
}

// Why a command got no reply: the socket's timeout, set to `budget`, or another I/O error.
NodeFailure noReply(const Connection& conn, int io_errno, std::string_view address,
                    std::chrono::microseconds budget) {
    const bool timed_out = conn.ctx->err == REDIS_ERR_IO &&
                           (io_errno == EAGAIN || io_errno == EWOULDBLOCK || io_errno == ETIMEDOUT);
    if (timed_out) {
        return NodeFailure{
            makeError(
                ETIMEDOUT,
                fmt::format("redis node {}: no reply within {} ms", address,
                            std::chrono::duration_cast<std::chrono::milliseconds>(budget).count())),
            true};
    }
    return NodeFailure{
        makeError(EIO, fmt::format("redis node {}: {}", address,
                                   conn.ctx->errstr[0] != '\0' ? conn.ctx->errstr : "I/O error")),
        false};
}

}  // namespace

uint16_t crc16(std::string_view data) {
    uint16_t crc = 0;
    for (unsigned char c : data) {
        crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
    }
    return crc;
}

uint16_t keySlot(std::string_view key) {
    size_t open = key.find('{');
    if (open != std::string_view::npos) {
        size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<uint16_t>(crc16(key) & (kClusterSlots - 1));
}

// --- nodes ------------------------------------------------------------------------------------

struct RedisCluster::Node {
    Node(std::string h, int p) : host(std::move(h)), port(p), address(joinHostPort(host, port)) {}

    const std::string host;
    const int port;
    const std::string address;

    std::mutex mutex;              // guards idle
    std::vector<Connection> idle;  // healthy connections nobody uses

    // Circuit breaker: 0 while closed; otherwise commands are skipped until this steady_clock
    // time, after which one caller (the one that sets `probing`) may try the node again.
    std::atomic<int64_t> open_until_ns{0};
    std::atomic<bool> probing{false};

    void dropIdle() {
        std::vector<Connection> doomed;
        {
            std::lock_guard lock(mutex);
            doomed.swap(idle);
        }
    }

    // The breaker: closed, open (skip), or half-open (one probe goes through). The error when
    // the node is skipped; else nullopt, and `probe` says whether this is the half-open probe.
    std::optional<Error> admit(bool& probe) {
        probe = false;
        const int64_t open_until = open_until_ns.load();
        if (open_until == 0) return std::nullopt;
        const int64_t now_ns = toNs(Clock::now());
        bool expected = false;
        if (now_ns < open_until || !probing.compare_exchange_strong(expected, true)) {
            const int64_t left_ms = std::max<int64_t>(0, (open_until - now_ns) / 1000000);
            return makeError(EHOSTUNREACH,
                             fmt::format("redis node {}: not tried for {} ms more after a failure "
                                         "(circuit breaker open)",
                                         address, left_ms));
        }
        probe = true;
        return std::nullopt;
    }

    // A healthy connection nobody uses, if there is one.
    bool takeIdle(Connection& conn) {
        std::lock_guard lock(mutex);
        if (idle.empty()) return false;
        conn = std::move(idle.back());
        idle.pop_back();
        return true;
    }

    // Back to the pool after a command that got its reply (closed when the pool is full).
    void keepIdle(Connection&& conn) {
        std::lock_guard lock(mutex);
        if (idle.size() < kMaxIdlePerNode) idle.push_back(std::move(conn));
    }

    // A new connection within `budget`.
    std::optional<NodeFailure> connect(Connection& conn, std::chrono::microseconds budget) {
        errno = 0;
        conn.ctx.reset(redisConnectWithTimeout(host.c_str(), port, toTimeval(budget)));
        const int connect_errno = errno;
        if (!conn.ctx) {
            return NodeFailure{
                makeError(EIO, fmt::format("redis node {}: cannot allocate a connection", address)),
                false};
        }
        if (conn.ctx->err != 0) {
            const bool timed_out =
                connect_errno == ETIMEDOUT || std::strstr(conn.ctx->errstr, "timed out") != nullptr;
            return NodeFailure{
                makeError(timed_out ? ETIMEDOUT : EHOSTUNREACH,
                          fmt::format("redis node {}: connect: {}", address, conn.ctx->errstr)),
                timed_out};
        }
        return std::nullopt;
    }
};

struct RedisCluster::Reply {
    ReplyPtr reply;
};

// What one command on one node gave: a reply (which may be a Redis error), or why there is none.
struct RedisCluster::CallResult {
    ReplyPtr reply;
    Error error;
    bool node_down = false;  // no usable answer from the node: connect/IO failure, timeout, breaker
};

namespace {
// A zero timeout would fail every call at once; a negative interval or cooldown means none.
ClusterOptions sanitized(ClusterOptions o) {
    o.timeout = std::max(o.timeout, std::chrono::milliseconds(1));
    o.breaker_cooldown = std::max(o.breaker_cooldown, std::chrono::milliseconds(0));
    o.refresh_interval = std::max(o.refresh_interval, std::chrono::milliseconds(0));
    return o;
}
}  // namespace

RedisCluster::RedisCluster(ClusterOptions options)
    : options_(sanitized(std::move(options))), slot_owner_(kClusterSlots, -1) {
    for (const std::string& seed : options_.seeds) {
        std::optional<HostPort> hp = splitHostPort(seed);
        if (!hp) {
            config_error_ =
                makeError(EINVAL, fmt::format("redis seed '{}' is not host:port", seed));
            continue;
        }
        std::unique_lock lock(topo_mutex_);
        Node* node = nodeForLocked(hp->host, hp->port);
        size_t index = node_index_.at(node->address);
        if (std::find(seed_nodes_.begin(), seed_nodes_.end(), index) == seed_nodes_.end()) {
            seed_nodes_.push_back(index);
        }
    }
    if (!config_error_ && seed_nodes_.empty()) {
        config_error_ = makeError(EINVAL, "no redis seed configured");
    }
}

RedisCluster::~RedisCluster() = default;

RedisCluster::Node* RedisCluster::nodeForLocked(std::string_view host, int port) {
    std::string address = joinHostPort(host, port);
    auto it = node_index_.find(address);
    if (it != node_index_.end()) return nodes_[it->second].get();
    nodes_.push_back(std::make_unique<Node>(std::string(host), port));
    node_index_.emplace(std::move(address), nodes_.size() - 1);
    return nodes_.back().get();
}

RedisCluster::Node* RedisCluster::nodeFor(std::string_view host, int port) {
    {
        std::shared_lock lock(topo_mutex_);
        auto it = node_index_.find(joinHostPort(host, port));
        if (it != node_index_.end()) return nodes_[it->second].get();
    }
    std::unique_lock lock(topo_mutex_);
    return nodeForLocked(host, port);
}

RedisCluster::Node* RedisCluster::ownerOf(int slot) const {
    std::shared_lock lock(topo_mutex_);
    int32_t index = slot_owner_[static_cast<size_t>(slot)];
    return index < 0 ? nullptr : nodes_[static_cast<size_t>(index)].get();
}

RedisCluster::Node* RedisCluster::setOwner(int slot, std::string_view host, int port) {
    std::unique_lock lock(topo_mutex_);
    Node* node = nodeForLocked(host, port);
    slot_owner_[static_cast<size_t>(slot)] = static_cast<int32_t>(node_index_.at(node->address));
    return node;
}

// --- one command on one node ------------------------------------------------------------------

RedisCluster::CallResult RedisCluster::call(Node& node, const std::vector<std::string_view>& argv,
                                            bool asking, Clock::time_point deadline) {
    bool probe = false;
    if (std::optional<Error> skipped = node.admit(probe)) {
        counters_.breaker_skips.fetch_add(1, std::memory_order_relaxed);
        return {nullptr, std::move(*skipped), true};
    }
    auto succeeded = [&] {
        if (node.open_until_ns.load() != 0) node.open_until_ns.store(0);
        if (probe) node.probing.store(false);
    };
    auto failed = [&](NodeFailure failure) {
        if (failure.timed_out) counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
        node.open_until_ns.store(toNs(Clock::now() + options_.breaker_cooldown));
        if (probe) node.probing.store(false);
        node.dropIdle();  // they lead to the same dead or stalled process
        return CallResult{nullptr, std::move(failure.error), true};
    };
    CommandArgs command(argv);

    // A pooled connection may have been closed by the server since it was used (restart, idle
    // timeout): if it fails without timing out, try once more on a fresh one.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            if (probe) node.probing.store(false);
            counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
            return {nullptr,
                    makeError(ETIMEDOUT, fmt::format("redis node {}: no time left for the command "
                                                     "({} ms per call)",
                                                     node.address, 2 * options_.timeout.count())),
                    true};
        }
        // At least 1 ms: a zero socket timeout would mean "wait forever".
        auto budget = std::max<std::chrono::microseconds>(
            std::min<std::chrono::microseconds>(options_.timeout, left),
            std::chrono::milliseconds(1));

        Connection conn;
        const bool reused = attempt == 0 && node.takeIdle(conn);
        if (!reused) {
            if (auto failure = node.connect(conn, budget)) return failed(std::move(*failure));
        }
        if (auto failure = applyTimeout(conn, node.address, budget))
            return failed(std::move(*failure));

        int io_errno = 0;
        if (ReplyPtr reply = sendCommand(conn, command, asking, io_errno)) {
            node.keepIdle(std::move(conn));
            succeeded();
            return {std::move(reply), {}, false};
        }
        NodeFailure failure = noReply(conn, io_errno, node.address, budget);
        if (!failure.timed_out && reused) {
            node.dropIdle();
            continue;
        }
        return failed(std::move(failure));
    }
    // Unreachable: the second attempt always uses a fresh connection and returns.
    if (probe) node.probing.store(false);
    return {nullptr, makeError(EIO, fmt::format("redis node {}: I/O error", node.address)), true};
}

// --- topology ---------------------------------------------------------------------------------

void RedisCluster::refreshTopology(Clock::time_point deadline, bool wait) {
    {
        std::unique_lock lock(refresh_mutex_);
        if (refreshing_) {
            // Another thread is loading the table: use the current one, or (wait) the new one.
            if (wait) refresh_done_.wait_until(lock, deadline, [&] { return !refreshing_; });
            return;
        }
        int64_t now_ns = toNs(Clock::now());
        if (last_refresh_ns_ != 0 &&
            now_ns - last_refresh_ns_ <
                std::chrono::nanoseconds(options_.refresh_interval).count()) {
            return;
        }
        last_refresh_ns_ = now_ns;
        refreshing_ = true;
    }
    struct Done {
        RedisCluster& self;
        ~Done() {
            {
                std::lock_guard lock(self.refresh_mutex_);
                self.refreshing_ = false;
            }
            self.refresh_done_.notify_all();
        }
    } done{*this};

    // Ask the masters we know first, then the seeds; skip nodes whose breaker is open.
    std::vector<Node*> candidates;
    {
        std::shared_lock topo(topo_mutex_);
        std::set<int32_t> seen;
        for (int32_t index : slot_owner_) {
            if (index >= 0 && seen.insert(index).second) {
                candidates.push_back(nodes_[static_cast<size_t>(index)].get());
            }
        }
        for (size_t index : seed_nodes_) {
            if (seen.insert(static_cast<int32_t>(index)).second) {
                candidates.push_back(nodes_[index].get());
            }
        }
    }
    for (Node* node : candidates) {
        if (Clock::now() >= deadline) break;
        int64_t open_until = node->open_until_ns.load();
        if (open_until != 0 && toNs(Clock::now()) < open_until) continue;
        if (loadTopologyFrom(*node, deadline)) return;
    }
}

bool RedisCluster::loadTopologyFrom(Node& node, Clock::time_point deadline) {
    auto fail = [&](std::string message) {
        std::unique_lock topo(topo_mutex_);
        last_refresh_error_ = std::move(message);
        return false;
    };
    CallResult result = call(node, {"CLUSTER", "SLOTS"}, false, deadline);
    if (!result.reply) return fail(result.error.message);
    const redisReply& r = *result.reply;
    if (r.type != REDIS_REPLY_ARRAY) {
        return fail(fmt::format("redis node {}: CLUSTER SLOTS: {}", node.address,
                                r.type == REDIS_REPLY_ERROR ? replyText(r) : "unexpected reply"));
    }
    struct Range {
        long long first, last;
        HostPort master;
    };
    std::vector<Range> ranges;
    for (size_t i = 0; i < r.elements; ++i) {
        const redisReply* e = r.element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            return fail(
                fmt::format("redis node {}: malformed CLUSTER SLOTS entry {}", node.address, i));
        }
        long long first = e->element[0]->integer;
        long long last = e->element[1]->integer;
        std::string host(replyText(*e->element[2]->element[0]));
        long long port = e->element[2]->element[1]->integer;
        if (first < 0 || last < first || last >= kClusterSlots || port < 1 || port > 65535) {
            return fail(
                fmt::format("redis node {}: CLUSTER SLOTS entry {} out of range", node.address, i));
        }
        if (host.empty() || host == "?") host = node.host;  // endpoint unknown: the node we asked
        ranges.push_back({first, last, {std::move(host), static_cast<int>(port)}});
    }
    {
        std::unique_lock topo(topo_mutex_);
        std::fill(slot_owner_.begin(), slot_owner_.end(), -1);
        for (const Range& range : ranges) {
            Node* owner = nodeForLocked(range.master.host, range.master.port);
            auto index = static_cast<int32_t>(node_index_.at(owner->address));
            std::fill(slot_owner_.begin() + range.first, slot_owner_.begin() + range.last + 1,
                      index);
        }
        last_refresh_error_.clear();
    }
    counters_.refreshes.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// --- commands ---------------------------------------------------------------------------------

Result<RedisCluster::Reply> RedisCluster::execute(std::string_view key,
                                                  const std::vector<std::string_view>& argv) {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    auto fail = [&](Error error) -> Result<Reply> {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return error;
    };
    if (config_error_) return fail(*config_error_);

    const Clock::time_point deadline = Clock::now() + 2 * options_.timeout;
    const int slot = keySlot(key);
    Node* node = ownerOf(slot);
    if (node == nullptr) {
        refreshTopology(deadline, /*wait=*/true);
        node = ownerOf(slot);
    }
    if (node == nullptr) {
        std::shared_lock topo(topo_mutex_);
        return fail(makeError(EHOSTUNREACH, fmt::format("no redis node known for slot {}{}{}", slot,
                                                        last_refresh_error_.empty() ? "" : ": ",
                                                        last_refresh_error_)));
    }

    bool asking = false;
    bool moved = false;
    Error last;
    for (int hop = 0; hop < 2; ++hop) {
        CallResult result = call(*node, argv, asking, deadline);
        if (result.reply) {
            const redisReply& r = *result.reply;
            if (r.type == REDIS_REPLY_ERROR) {
                std::string_view text = replyText(r);
                if (auto target = redirectTarget(text, "MOVED", node->host)) {
                    counters_.moved.fetch_add(1, std::memory_order_relaxed);
                    moved = true;
                    last = makeError(EIO, fmt::format("redis node {}: {} (after a redirection)",
                                                      node->address, text));
                    node = setOwner(slot, target->host, target->port);
                    asking = false;
                    continue;
                }
                if (auto target = redirectTarget(text, "ASK", node->host)) {
                    counters_.asks.fetch_add(1, std::memory_order_relaxed);
                    last = makeError(EIO, fmt::format("redis node {}: {} (after a redirection)",
                                                      node->address, text));
                    node = nodeFor(target->host, target->port);
                    asking = true;
                    continue;
                }
                return fail(makeError(EIO, fmt::format("redis node {}: {}", node->address, text)));
            }
            // A MOVED usually means slots were resharded: load the whole table (rate-limited).
            if (moved) refreshTopology(deadline, /*wait=*/false);
            return Reply{std::move(result.reply)};
        }
        last = std::move(result.error);
        if (!result.node_down) break;
        // The node is down or skipped: a refresh may show its slots on another node (failover).
        Node* before = node;
        refreshTopology(deadline, /*wait=*/false);
        node = ownerOf(slot);
        if (node == nullptr || node == before) break;
        asking = false;
    }
    return fail(std::move(last));
}

Result<std::optional<std::string>> RedisCluster::get(std::string_view key) {
    Result<Reply> r = execute(key, {"GET", key});
    if (!r) return r.error();
    const redisReply& reply = *r->reply;
    if (reply.type == REDIS_REPLY_NIL) return std::optional<std::string>();
    if (reply.type == REDIS_REPLY_STRING) {
        return std::optional<std::string>(std::string(replyText(reply)));
    }
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    return makeError(EIO, fmt::format("redis GET: unexpected reply type {}", reply.type));
}

Status RedisCluster::set(std::string_view key, std::string_view value, uint64_t ttl_ms) {
    std::string ttl = std::to_string(ttl_ms);
    std::vector<std::string_view> argv{"SET", key, value};
    if (ttl_ms > 0) {
        argv.emplace_back("PX");
        argv.emplace_back(ttl);
    }
    Result<Reply> r = execute(key, argv);
    if (!r) return r.error();
    const redisReply& reply = *r->reply;
    if (reply.type != REDIS_REPLY_STATUS) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return makeError(EIO, fmt::format("redis SET: unexpected reply type {}", reply.type));
    }
    return {};
}

Status RedisCluster::del(std::string_view key) {
    Result<Reply> r = execute(key, {"DEL", key});
    if (!r) return r.error();
    if (r->reply->type != REDIS_REPLY_INTEGER) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return makeError(EIO, fmt::format("redis DEL: unexpected reply type {}", r->reply->type));
    }
    return {};
}

Result<int64_t> RedisCluster::eval(std::string_view script, std::string_view key,
                                   const std::vector<std::string_view>& args) {
    std::vector<std::string_view> argv{"EVAL", script, "1", key};
    argv.insert(argv.end(), args.begin(), args.end());
    Result<Reply> r = execute(key, argv);
    if (!r) return r.error();
    if (r->reply->type != REDIS_REPLY_INTEGER) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return makeError(EIO, fmt::format("redis EVAL: unexpected reply type {}", r->reply->type));
    }
    return static_cast<int64_t>(r->reply->integer);
}

Result<std::vector<std::string>> RedisCluster::scan(std::string_view pattern) {
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    auto fail = [&](Error error) -> Result<std::vector<std::string>> {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        return error;
    };
    if (config_error_) return fail(*config_error_);
    std::vector<Node*> masters;
    for (int attempt = 0; attempt < 2 && masters.empty(); ++attempt) {
        if (attempt == 1) refreshTopology(Clock::now() + 2 * options_.timeout, /*wait=*/true);
        std::shared_lock topo(topo_mutex_);
        std::set<int32_t> seen;
        for (int32_t index : slot_owner_)
            if (index >= 0 && seen.insert(index).second)
                masters.push_back(nodes_[static_cast<size_t>(index)].get());
    }
    if (masters.empty()) return fail(makeError(EHOSTUNREACH, "no redis master known"));
    std::vector<std::string> keys;
    for (Node* node : masters) {
        std::string cursor = "0";
        do {
            CallResult result = call(*node, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"},
                                     false, Clock::now() + 2 * options_.timeout);
            if (!result.reply) return fail(result.error);
            const redisReply& r = *result.reply;
            if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
                r.element[0]->type != REDIS_REPLY_STRING || r.element[1]->type != REDIS_REPLY_ARRAY)
                return fail(
                    makeError(EIO, fmt::format("redis SCAN: unexpected reply type {}", r.type)));
            cursor.assign(r.element[0]->str, r.element[0]->len);
            const redisReply& batch = *r.element[1];
            for (size_t i = 0; i < batch.elements; ++i)
                if (batch.element[i]->type == REDIS_REPLY_STRING)
                    keys.emplace_back(batch.element[i]->str, batch.element[i]->len);
        } while (cursor != "0");
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
}

ClusterCounters RedisCluster::counters() const {
    ClusterCounters c;
    c.requests = counters_.requests.load(std::memory_order_relaxed);
    c.errors = counters_.errors.load(std::memory_order_relaxed);
    c.timeouts = counters_.timeouts.load(std::memory_order_relaxed);
    c.moved = counters_.moved.load(std::memory_order_relaxed);
    c.asks = counters_.asks.load(std::memory_order_relaxed);
    c.refreshes = counters_.refreshes.load(std::memory_order_relaxed);
    c.breaker_skips = counters_.breaker_skips.load(std::memory_order_relaxed);
    return c;
}

std::vector<std::string> RedisCluster::nodes() const {
    std::set<std::string> masters;
    std::shared_lock lock(topo_mutex_);
    std::set<int32_t> seen;
    for (int32_t index : slot_owner_) {
        if (index >= 0 && seen.insert(index).second) {
            masters.insert(nodes_[static_cast<size_t>(index)]->address);
        }
    }
    return {masters.begin(), masters.end()};
}

}  // namespace kvc
