// RedisCluster: a small Redis Cluster client for the remote tier (GET, SET with a TTL, DEL).
//
// hiredis talks to one server; this file adds what a cluster needs on top of it: the key -> slot
// hash (CRC16 with {hash tags}), a slot -> master table loaded with CLUSTER SLOTS, MOVED and ASK
// redirections (one hop each, never a loop), a small pool of idle connections per node, and a
// circuit breaker per node so that a dead or stalled node costs one timeout, not one per request.
// Every call is bounded: about 2x ClusterOptions::timeout at most, whatever the cluster does.
// Errors are returned as Result (EIO, ETIMEDOUT, EHOSTUNREACH with a message naming the node),
// never thrown. All public functions may be called concurrently from any thread. SIGPIPE is
// blocked on the calling thread while it talks to a node, so the process need not ignore it.
//
// Locks: refresh_mutex_, topo_mutex_ and Node::mutex are each held briefly and never together,
// and never across network I/O. A command takes a connection from its node's pool, talks without
// any lock held, and gives the connection back if it is still healthy. One thread at a time
// refreshes the topology (the `refreshing_` flag); the others keep using the current table, or,
// when they know no node for their slot, wait for the refresh until their own deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace kvc {

inline constexpr int kClusterSlots = 16384;

// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.
uint16_t crc16(std::string_view data);
// The slot (0..16383) Redis Cluster assigns to a key: the CRC16 of the key, or of the text between
// the first '{' and the next '}' when that text is not empty.
uint16_t keySlot(std::string_view key);

struct ClusterOptions {
    std::vector<std::string> seeds;  // "host:port", as parseSeedList (config.h) returns them
    std::chrono::milliseconds timeout{250};            // connect and per-command timeout
    std::chrono::milliseconds breaker_cooldown{2000};  // a node that failed is skipped this long
    std::chrono::milliseconds refresh_interval{1000};  // CLUSTER SLOTS at most this often
};

// Counted since construction. `requests` and `errors` count calls of get/set/del; the others count
// events inside them (a call can retry once after a redirection or a failover).
struct ClusterCounters {
    uint64_t requests = 0;
    uint64_t errors = 0;         // calls that returned an error
    uint64_t timeouts = 0;       // connects and commands that ran out of time
    uint64_t moved = 0;          // MOVED redirections followed
    uint64_t asks = 0;           // ASK redirections followed
    uint64_t refreshes = 0;      // topology tables loaded with CLUSTER SLOTS
    uint64_t breaker_skips = 0;  // commands not sent because the node's breaker was open
};

class RedisCluster {
  public:
    // Connects lazily: the first command loads the topology from a seed.
    explicit RedisCluster(ClusterOptions options);
    ~RedisCluster();
    RedisCluster(const RedisCluster&) = delete;
    RedisCluster& operator=(const RedisCluster&) = delete;

    // std::nullopt when the key is absent.
    Result<std::optional<std::string>> get(std::string_view key);
    // SET key value, with PX ttl_ms when ttl_ms > 0 (0: no expiry).
    Status set(std::string_view key, std::string_view value, uint64_t ttl_ms);
    // DEL key; deleting an absent key succeeds.
    Status del(std::string_view key);
    // EVAL script 1 key args...: the script's integer answer (a Redis error, such as OOM from a
    // write the script made, is an EIO error with Redis' text). Run on the key's master, so the
    // script sees and changes that key atomically.
    Result<int64_t> eval(std::string_view script, std::string_view key,
                         const std::vector<std::string_view>& args);
    // Every key matching the glob `pattern` on every master of the slot table (SCAN ... MATCH,
    // to the end on each). An error when a master does not answer: the list would be partial.
    Result<std::vector<std::string>> scan(std::string_view pattern);

    ClusterCounters counters() const;
    // "host:port" of the masters in the current slot table, sorted.
    std::vector<std::string> nodes() const;

  private:
    struct Node;
    struct Reply;
    struct CallResult;
    using Clock = std::chrono::steady_clock;

    Result<Reply> execute(std::string_view key, const std::vector<std::string_view>& argv);
    CallResult call(Node& node, const std::vector<std::string_view>& argv, bool asking,
                    Clock::time_point deadline);
    void refreshTopology(Clock::time_point deadline, bool wait);
    bool loadTopologyFrom(Node& node, Clock::time_point deadline);
    Node* ownerOf(int slot) const;
    Node* nodeFor(std::string_view host, int port);  // finds or adds; takes topo_mutex_
    Node* nodeForLocked(std::string_view host, int port);
    Node* setOwner(int slot, std::string_view host, int port);

    const ClusterOptions options_;
    std::optional<Error> config_error_;  // an unusable seed: every call fails with it

    std::mutex refresh_mutex_;  // guards refreshing_ and last_refresh_ns_
    std::condition_variable refresh_done_;
    bool refreshing_ = false;      // one thread at a time loads the table
    int64_t last_refresh_ns_ = 0;  // steady_clock start of the last attempt (rate limit)

    mutable std::shared_mutex topo_mutex_;
    std::vector<std::unique_ptr<Node>> nodes_;            // never shrinks: Node* stay valid
    std::unordered_map<std::string, size_t> node_index_;  // "host:port" -> index in nodes_
    std::vector<int32_t> slot_owner_;                     // slot -> index in nodes_, -1 unknown
    std::vector<size_t> seed_nodes_;                      // indexes in nodes_, in seed order
    std::string last_refresh_error_;

    struct AtomicCounters {
        std::atomic<uint64_t> requests{0}, errors{0}, timeouts{0}, moved{0}, asks{0}, refreshes{0},
            breaker_skips{0};
    };
    mutable AtomicCounters counters_;
};

}  // namespace kvc
