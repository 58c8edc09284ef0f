// DataService: the data path's front end (docs/DATA_PATH.md). A Unix socket per mount serves
// batched loads and stores between a client's registered memory and the pools' blocks, one copy
// each, one round trip per batch, beside the FUSE mount that stays the namespace.
//
// Capabilities, not trust: every request that names entries carries a descriptor the client
// opened through this mount (a directory for names, an entry for offsets), passed with
// SCM_RIGHTS. The descriptor must be of this mount (its device), of a pool (not the root nor a
// control file), and not O_PATH; an entry's access mode bounds what the request may do with it.
// Names below a directory are checked with the client's credentials (SO_PEERCRED and
// SO_PEERGROUPS, taken when it connected) by the core's rules (core/access.h, core/transfer.h).
//
// Each connection has its own thread and its own buffers: a client that stalls, dies or never
// reads its replies holds only its own thread (a reply that cannot be sent in kSendTimeout ends
// the connection). Connections past kMaxConnections are refused.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/result.h"

namespace kvc::fs {

class Filesystem;

class DataService {
  public:
    static constexpr size_t kMaxConnections = 256;

    DataService(Filesystem& fs, std::string socket_path);
    ~DataService();
    DataService(const DataService&) = delete;
    DataService& operator=(const DataService&) = delete;

    // Binds the socket (replacing a stale one: the instance lock says no other daemon serves
    // this instance) and starts accepting.
    Status start();
    // Closes the socket and every connection, and waits for their threads.
    void stop();
    const std::string& path() const { return path_; }

    struct Connection;

  private:
    void acceptLoop();
    void serve(Connection& c);

    Filesystem& fs_;
    std::string path_;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    // The temporaries of stores are ".kvc-data.PID.SERIAL", the pid taken once (getpid() is a
    // system call: 3% of the data thread's time in a profile of 256 KiB stores).
    const std::string tmp_prefix_;
    std::atomic<uint64_t> serial_{0};
    std::atomic<uint64_t> mount_dev_{0};  // the mount's st_dev, once known
    std::thread acceptor_;
    std::mutex mutex_;  // guards connections_
    std::list<std::shared_ptr<Connection>> connections_;
};

// The path a mount's data socket gets by default: /run/kvcachefs/INSTANCE.sock for root,
// $XDG_RUNTIME_DIR/kvcachefs/INSTANCE.sock (or /tmp/kvcachefs-UID/...) for another user.
std::string defaultDataSocket(const std::string& instance);

}  // namespace kvc::fs
