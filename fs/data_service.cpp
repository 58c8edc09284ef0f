#include "fs/data_service.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "client/protocol.h"
#include "core/transfer.h"
#include "fs/filesystem.h"
#include "fs/inode_ids.h"
#include "fs/log.h"

namespace kvc::fs {
namespace {

constexpr timeval kSendTimeout{5, 0};
constexpr uint64_t kMaxBufferBytes = uint64_t{1} << 40;

// Descriptors received with a request, closed when it is answered.
class ReceivedFds {
  public:
    ReceivedFds() = default;
    ReceivedFds(const ReceivedFds&) = delete;
    ReceivedFds& operator=(const ReceivedFds&) = delete;
    ~ReceivedFds() {
        for (int fd : fds) ::close(fd);
    }
    std::vector<int> fds;
};

Result<Credentials> peerCredentials(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return makeError(errno, "no peer credentials");
    Credentials who{cred.uid, cred.gid, {}};
    std::vector<gid_t> groups(64);
    for (;;) {
        socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
            groups.resize(glen / sizeof(gid_t));
            break;
        }
        if (errno != ERANGE || groups.size() > 65536) return makeError(errno, "no peer groups");
        groups.resize(glen / sizeof(gid_t) + 1);
    }
    who.groups.assign(groups.begin(), groups.end());
    return who;
}

// What a request's descriptor names: a pool's directory or entry.
struct Target {
    std::shared_ptr<PoolSlot> slot;
    EntryId id = 0;
    bool dir = false;
    int access = 0;  // O_RDONLY, O_WRONLY or O_RDWR
};

}  // namespace

struct DataService::Connection {
    int fd = -1;
    Credentials who;
    std::thread thread;
    std::atomic<bool> done{false};
    struct Buffer {
        char* addr = nullptr;
        size_t size = 0;
    };
    std::vector<Buffer> buffers;

    ~Connection() {
        for (const Buffer& b : buffers)
            if (b.addr) munmap(b.addr, b.size);
        if (fd >= 0) ::close(fd);
    }

    // The bytes [offset, offset + length) of a registered buffer; EINVAL past its end.
    Result<char*> span(uint32_t buffer, uint64_t offset, uint64_t length) const {
        if (buffer >= buffers.size() || !buffers[buffer].addr)
            return makeError(EBADF, fmt::format("no registered buffer {}", buffer));
        const Buffer& b = buffers[buffer];
        if (offset > b.size || length > b.size - offset)
            return makeError(EINVAL, fmt::format("bytes {}+{} are past buffer {} ({} bytes)",
                                                 offset, length, buffer, b.size));
        return b.addr + offset;
    }
};

namespace {

// One request's work; `fds` are the descriptors it came with.
class Handler {
  public:
    Handler(Filesystem& fs, DataService::Connection& c, const std::string& tmp_prefix,
            std::atomic<uint64_t>& serial, std::atomic<uint64_t>& mount_dev)
        : fs_(fs), c_(c), tmp_prefix_(tmp_prefix), serial_(serial), mount_dev_(mount_dev) {}

    std::vector<char> handle(const wire::Request& req, const std::vector<int>& fds) {
        using wire::Op;
        const size_t want = wire::needsDescriptor(req.op) ? 1 : 0;
        if (fds.size() != want) return wire::encodeError(req.op, req.id, want ? EBADF : EPROTO);
        switch (req.op) {
            case Op::Hello: {
                const wire::HelloInfo info{static_cast<uint32_t>(wire::kMaxMessage),
                                           wire::kMaxItems, wire::kMaxBuffers, 0};
                return wire::encodeReply(req.op, req.id, {}, nullptr, &info);
            }
            case Op::Register:
                return one(req, registerBuffer(fds[0], req.items[0].length));
            case Op::Unregister:
                return one(req, unregister(req.items[0].buffer));
            default:
                break;
        }
        auto target = resolve(fds[0]);
        if (!target) return wire::encodeError(req.op, req.id, target.code());
        const bool for_entry = req.op == Op::Read || req.op == Op::Write;
        if (target->dir == for_entry)
            return wire::encodeError(req.op, req.id, for_entry ? EISDIR : ENOTDIR);
        // Every buffer range is checked before anything changes.
        for (const wire::Item& it : req.items)
            if (req.op != Op::Stat)
                if (auto s = c_.span(it.buffer, it.offset, it.length); !s)
                    return wire::encodeError(req.op, req.id, s.code());
        switch (req.op) {
            case Op::Store:
                return store(req, *target);
            case Op::Load:
                return load(req, *target);
            case Op::LoadChain:
                return loadChain(req, *target);
            case Op::Stat:
                return stat(req, *target);
            default:
                return range(req, *target);
        }
    }

  private:
    template <class T>
    std::vector<char> one(const wire::Request& req, const Result<T>& r) {
        if (!r) return wire::encodeError(req.op, req.id, r.code());
        wire::ItemResult res{};
        res.value = *r;
        return wire::encodeReply(req.op, req.id, {res});
    }

    Result<uint64_t> registerBuffer(int fd, uint64_t size) {
        if (size == 0 || size > kMaxBufferBytes)
            return makeError(EINVAL, "a buffer is 1 byte to 1 TiB");
        // Sealed against shrinking: the client cannot cut the memory under a copy (SIGBUS).
        const int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
            return makeError(EPERM, "a buffer is a memfd sealed with F_SEAL_SHRINK");
        struct stat st {};
        if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < size)
            return makeError(EINVAL, "the memfd is smaller than the buffer");
        size_t slot = 0;
        while (slot < c_.buffers.size() && c_.buffers[slot].addr) ++slot;
        if (slot >= wire::kMaxBuffers) return makeError(EMFILE, "too many buffers");
        void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) return makeError(errno, "cannot map the buffer");
        // Not populated: the memfd may be sparse and as large as 1 TiB, and pages the daemon
        // touches first are charged to it. A copy touches only the bytes a request moves, which
        // a pool's capacity (stores) or an entry's size (loads) bounds.
        if (slot == c_.buffers.size()) c_.buffers.emplace_back();
        c_.buffers[slot] = {static_cast<char*>(p), size};
        return slot;
    }

    Result<uint64_t> unregister(uint32_t buffer) {
        if (buffer >= c_.buffers.size() || !c_.buffers[buffer].addr)
            return makeError(EBADF, "no such buffer");
        munmap(c_.buffers[buffer].addr, c_.buffers[buffer].size);
        c_.buffers[buffer] = {};
        return 0;
    }

    uint64_t mountDev() {
        uint64_t dev = mount_dev_.load();
        if (dev) return dev;
        struct stat st {};
        if (::stat(fs_.options().mountpoint.c_str(), &st) != 0) return 0;
        mount_dev_.store(st.st_dev);
        return st.st_dev;
    }

    Result<Target> resolve(int fd) {
        struct statx sx {};
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &sx) != 0)
            return makeError(EBADF, "not a descriptor of a file");
        const int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || (flags & O_PATH)) return makeError(EBADF, "an O_PATH descriptor");
        const uint64_t dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        if (dev != mountDev()) return makeError(EXDEV, "not a descriptor of this mount");
        const NodeRef ref = splitIno(sx.stx_ino);
        if (ref.pool == 0 || isControlNode(ref))
            return makeError(EINVAL, "not an entry or a directory of a pool");
        Target t;
        t.slot = fs_.poolByIndex(ref.pool);
        if (!t.slot) return makeError(ESTALE, "its pool is gone");
        t.id = ref.local;
        t.dir = S_ISDIR(sx.stx_mode);
        t.access = flags & O_ACCMODE;
        return t;
    }

    std::vector<char> store(const wire::Request& req, const Target& t) {
        std::vector<wire::ItemResult> out(req.items.size());
        bool invalidated = false;
        for (size_t i = 0; i < req.items.size(); ++i) {
            const wire::Item& it = req.items[i];
            StoreItem item;
            item.name = it.name;
            item.data = *c_.span(it.buffer, it.offset, it.length);
            item.len = it.length;
            item.mode = it.mode;
            item.parent = it.parent;
            if (it.flags & wire::kStorePriority) item.priority = it.priority;
            item.replace = !(it.flags & wire::kStoreNoReplace);
            item.xattrs = it.xattrs;
            const std::string tmp = fmt::format("{}{}", tmp_prefix_, serial_++);
            bool replaced = false;
            auto r = storeEntry(*t.slot->pool, t.id, item, tmp, c_.who, &replaced);
            out[i].status = r.code();
            if (!r) continue;
            out[i].value = r->size;
            out[i].mode = r->mode;
            // The kernel may cache the name's previous entry: it must ask again. (A name that
            // was missing needs nothing: the mount's misses are errors, which it does not cache.)
            if (replaced) {
                fs_.invalidate(t.slot->index, Invalidation{t.id, std::string(it.name), 0});
                invalidated = true;
            }
        }
        // Answered once the kernel has forgotten the old names: a reader through the mount
        // sees what was stored.
        if (invalidated) fs_.drainNotifications();
        return wire::encodeReply(req.op, req.id, out);
    }

    std::vector<char> load(const wire::Request& req, const Target& t) {
        std::vector<wire::ItemResult> out(req.items.size());
        for (size_t i = 0; i < req.items.size(); ++i) {
            const wire::Item& it = req.items[i];
            char* dst = *c_.span(it.buffer, it.offset, it.length);
            auto n = loadEntry(*t.slot->pool, t.id, it.name, dst, it.length, c_.who);
            out[i].status = n.code();
            if (n) out[i].value = *n;
        }
        return wire::encodeReply(req.op, req.id, out);
    }

    std::vector<char> loadChain(const wire::Request& req, const Target& t) {
        std::vector<std::string_view> names;
        std::vector<LoadSlot> slots;
        names.reserve(req.items.size());
        slots.reserve(req.items.size());
        for (const wire::Item& it : req.items) {
            names.push_back(it.name);
            slots.push_back({*c_.span(it.buffer, it.offset, it.length), it.length});
        }
        auto r = kvc::loadChain(*t.slot->pool, t.id, names, slots, c_.who);
        if (!r) return wire::encodeError(req.op, req.id, r.code());
        std::vector<wire::ItemResult> out(req.items.size());
        for (size_t i = 0; i < out.size(); ++i) {
            if (r->match.cached[i]) out[i].flags |= wire::kResultCached;
            if (i < r->loaded)
                out[i].value = r->sizes[i];
            else
                out[i].status = i == r->loaded && r->stopped_by ? r->stopped_by : ENOENT;
        }
        const wire::ChainSummary sum{r->match.leading, r->loaded};
        return wire::encodeReply(req.op, req.id, out, &sum);
    }

    std::vector<char> stat(const wire::Request& req, const Target& t) {
        std::vector<wire::ItemResult> out(req.items.size());
        for (size_t i = 0; i < req.items.size(); ++i) {
            auto a = statName(*t.slot->pool, t.id, req.items[i].name, c_.who);
            out[i].status = a.code();
            if (!a) continue;
            out[i].mode = a->mode;
            out[i].value = a->size;
            out[i].uid = a->uid;
            out[i].gid = a->gid;
            if (a->committed) out[i].flags |= wire::kResultCommitted;
        }
        return wire::encodeReply(req.op, req.id, out);
    }

    // Read and Write through an entry's descriptor, bounded by its access mode as read(2) and
    // write(2) are.
    std::vector<char> range(const wire::Request& req, const Target& t) {
        const wire::Item& it = req.items[0];
        const bool write = req.op == wire::Op::Write;
        if (t.access != O_RDWR && t.access != (write ? O_WRONLY : O_RDONLY))
            return wire::encodeError(req.op, req.id, EBADF);
        char* buf = *c_.span(it.buffer, it.offset, it.length);
        Result<size_t> n = write ? writeAt(*t.slot->pool, t.id, it.file_offset, buf, it.length)
                                 : readAt(*t.slot->pool, t.id, it.file_offset, buf, it.length);
        if (!n) return wire::encodeError(req.op, req.id, n.code());
        if (write && *n > 0) {
            // The kernel's pages and size of the entry are stale now.
            fs_.invalidate(t.slot->index, Invalidation{0, {}, t.id});
            fs_.drainNotifications();
        }
        wire::ItemResult res{};
        res.value = *n;
        return wire::encodeReply(req.op, req.id, {res});
    }

    Filesystem& fs_;
    DataService::Connection& c_;
    const std::string& tmp_prefix_;
    std::atomic<uint64_t>& serial_;
    std::atomic<uint64_t>& mount_dev_;
};

}  // namespace

std::string defaultDataSocket(const std::string& instance) {
    if (geteuid() == 0) return fmt::format("/run/kvcachefs/{}.sock", instance);
    if (const char* run = getenv("XDG_RUNTIME_DIR"); run && *run == '/')
        return fmt::format("{}/kvcachefs/{}.sock", run, instance);
    return fmt::format("/tmp/kvcachefs-{}/{}.sock", geteuid(), instance);
}

DataService::DataService(Filesystem& fs, std::string socket_path)
    : fs_(fs), path_(std::move(socket_path)), tmp_prefix_(fmt::format(".kvc-data.{}.", getpid())) {}

DataService::~DataService() {
    stop();
}

Status DataService::start() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path)
        return makeError(ENAMETOOLONG, fmt::format("data socket path {} is too long", path_));
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    // Its directory: made if missing, searchable by all (the socket's capabilities are the
    // descriptors a request carries, not who may connect).
    const std::string dir = path_.substr(0, path_.rfind('/'));
    if (!dir.empty() && mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        return makeError(errno, fmt::format("cannot make {}: {}", dir, strerror(errno)));
    listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return makeError(errno, "cannot make the data socket");
    // A socket left by a daemon that died is replaced; one that answers is another mount's.
    if (const int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); probe >= 0) {
        const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (live) {
            ::close(listen_fd_);
            listen_fd_ = -1;
            return makeError(EADDRINUSE, fmt::format("{} is another daemon's data socket", path_));
        }
    }
    (void)::unlink(path_.c_str());
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        chmod(path_.c_str(), 0666) != 0 || listen(listen_fd_, 64) != 0) {
        const int err = errno;
        ::close(listen_fd_);
        listen_fd_ = -1;
        return makeError(err, fmt::format("cannot listen on {}: {}", path_, strerror(err)));
    }
    acceptor_ = std::thread([this] { acceptLoop(); });
    return {};
}

void DataService::stop() {
    if (listen_fd_ < 0) return;
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    listen_fd_ = -1;
    (void)::unlink(path_.c_str());
    std::list<std::shared_ptr<Connection>> all;
    {
        std::lock_guard lk(mutex_);
        all.swap(connections_);
    }
    for (auto& c : all) ::shutdown(c->fd, SHUT_RDWR);
    for (auto& c : all)
        if (c->thread.joinable()) c->thread.join();
}

void DataService::acceptLoop() {
    while (!stopping_) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (stopping_) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                usleep(10000);
                continue;
            }
            log(LogLevel::Warning, "data socket {}: accept: {}", path_, strerror(errno));
            return;
        }
        auto c = std::make_shared<Connection>();
        c->fd = fd;
        auto who = peerCredentials(fd);
        std::lock_guard lk(mutex_);
        // Finished connections go; past the bound a new one is closed at once.
        for (auto it = connections_.begin(); it != connections_.end();) {
            if ((*it)->done) {
                (*it)->thread.join();
                it = connections_.erase(it);
            } else {
                ++it;
            }
        }
        if (!who || connections_.size() >= kMaxConnections) continue;  // ~Connection closes
        c->who = std::move(*who);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kSendTimeout, sizeof kSendTimeout);
        c->thread = std::thread([this, raw = c.get()] { serve(*raw); });
        connections_.push_back(std::move(c));
    }
}

void DataService::serve(Connection& c) {
    std::vector<char> msg(wire::kMaxMessage + 1);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    while (!stopping_) {
        iovec iov{msg.data(), msg.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(c.fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ReceivedFds fds;
        for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                fds.fds.push_back(fd);
            }
        }
        std::vector<char> reply;
        auto req = wire::decodeRequest(msg.data(), static_cast<size_t>(n));
        if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !req) {
            // Answered with the header's op and id when it has them.
            wire::RequestHeader h{};
            if (static_cast<size_t>(n) >= sizeof h) std::memcpy(&h, msg.data(), sizeof h);
            const int code = (mh.msg_flags & MSG_TRUNC) ? EMSGSIZE : req ? EPROTO : req.code();
            reply = wire::encodeError(static_cast<wire::Op>(h.op), h.id, code);
        } else {
            Handler handler(fs_, c, tmp_prefix_, serial_, mount_dev_);
            try {
                reply = handler.handle(*req, fds.fds);
            } catch (const std::bad_alloc&) {
                reply = wire::encodeError(req->op, req->id, ENOMEM);
            }
        }
        if (send(c.fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
    }
    // The client's memory is let go now; the socket when the connection is reaped.
    for (Connection::Buffer& b : c.buffers) {
        if (b.addr) munmap(b.addr, b.size);
        b = {};
    }
    c.done = true;
}

}  // namespace kvc::fs
