// libkvcachefs: the client side of the data path (client/kvcachefs.h, docs/DATA_PATH.md), and
// its fallback to file I/O on the mount.
#include "client/kvcachefs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "client/protocol.h"

using kvc::wire::Item;
using kvc::wire::Op;

struct kvc_client {
    int dir_fd = -1;
    int sock = -1;      // the data socket, or -1: file I/O
    int match_fd = -1;  // the pool's .match, opened on first use (file I/O)
    uint32_t max_items = kvc::wire::kMaxItems;
    size_t max_message = kvc::wire::kMaxMessage;
    uint64_t next_id = 1;
    mode_t umask = 022;
    std::atomic<int> refs{1};  // kvc_open's, and one per buffer: the last one frees it
    std::mutex mutex;          // one request at a time
    std::vector<char> request;
    std::vector<char> reply;
};

struct kvc_buffer {
    kvc_client* client = nullptr;
    int fd = -1;
    char* data = nullptr;
    size_t size = 0;
    uint32_t id = UINT32_MAX;  // registered with the daemon, when the fast path is on
};

namespace {

constexpr int kTimeoutSeconds = 30;

mode_t processUmask() {
    // umask(2) cannot be read without being set; /proc tells it.
    FILE* f = std::fopen("/proc/self/status", "re");
    mode_t mask = 022;
    if (!f) return mask;
    char line[256];
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "Umask:", 6) == 0)
            mask = static_cast<mode_t>(std::strtoul(line + 6, nullptr, 8));
    std::fclose(f);
    return mask;
}

// The root of the mount `fd` is on: its highest ancestor on the same device.
int mountRoot(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) return -1;
    int cur = dup(fd);
    for (int depth = 0; cur >= 0 && depth < 256; ++depth) {
        const int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat ust {};
        struct stat cst {};
        if (up < 0 || fstat(up, &ust) != 0 || fstat(cur, &cst) != 0 || ust.st_dev != st.st_dev ||
            (ust.st_ino == cst.st_ino)) {
            if (up >= 0) close(up);
            return cur;
        }
        close(cur);
        cur = up;
    }
    return cur;
}

// Connects to the data socket the mount names, and says hello; -1 when there is none.
int connectDataPath(kvc_client* c) {
    const char* env = std::getenv("KVCACHEFS_FAST_PATH");
    if (env && std::strcmp(env, "0") == 0) return -1;
    const int root = mountRoot(c->dir_fd);
    if (root < 0) return -1;
    char path[sizeof(sockaddr_un::sun_path)] = {};
    const ssize_t n = fgetxattr(root, "user.kvcache.data_socket", path, sizeof path - 1);
    close(root);
    if (n <= 0) return -1;
    const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path, static_cast<size_t>(n));
    const timeval tv{kTimeoutSeconds, 0};
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        close(s);
        return -1;
    }
    return s;
}

// Sends the client's request (with `fd` attached if >= 0) and reads its reply; -errno when the
// daemon cannot be reached or answers something else.
int roundTrip(kvc_client* c, Op op, uint64_t id, int fd, kvc::wire::Reply& out) {
    iovec iov{c->request.data(), c->request.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        mh.msg_control = control;
        mh.msg_controllen = sizeof control;
        cmsghdr* cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    ssize_t n;
    do n = sendmsg(c->sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? -ETIMEDOUT : -errno;
    c->reply.resize(sizeof(kvc::wire::ReplyHeader) + sizeof(kvc::wire::ChainSummary) +
                    sizeof(kvc::wire::HelloInfo) +
                    kvc::wire::kMaxItems * sizeof(kvc::wire::ItemResult));
    do n = recv(c->sock, c->reply.data(), c->reply.size(), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? -ETIMEDOUT : -errno;
    if (n == 0) return -ECONNRESET;  // the daemon is gone
    auto r = kvc::wire::decodeReply(c->reply.data(), static_cast<size_t>(n), op, id);
    if (!r) return -r.code();
    out = std::move(*r);
    return out.status ? -out.status : 0;
}

int hello(kvc_client* c) {
    const uint64_t id = c->next_id++;
    kvc::wire::beginRequest(c->request, Op::Hello, id);
    kvc::wire::finishRequest(c->request, 0);
    kvc::wire::Reply r;
    if (int rc = roundTrip(c, Op::Hello, id, -1, r); rc != 0) return rc;
    c->max_items = std::min(r.hello.max_items, kvc::wire::kMaxItems);
    c->max_message = std::min<size_t>(r.hello.max_message, kvc::wire::kMaxMessage);
    return 0;
}

bool inBuffer(const kvc_buffer* b, size_t offset, size_t length) {
    return offset <= b->size && length <= b->size - offset;
}

// --- file I/O: what the fast path does, through the mount ----------------------------------

int writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return 0;
}

int storeByFiles(kvc_client* c, const kvc_buffer* b, kvc_store_item& it) {
    static std::atomic<uint64_t> serial{0};
    char tmp[64];
    std::snprintf(tmp, sizeof tmp, ".kvc-data.%d.%llu", getpid(),
                  static_cast<unsigned long long>(serial++));
    const mode_t mode = it.mode ? it.mode & 07777 : 0644;
    const int fd = openat(c->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return errno;
    int err = writeAll(fd, b->data + it.offset, it.length);
    if (!err && it.parent &&
        fsetxattr(fd, "user.kvcache.parent", it.parent, std::strlen(it.parent), 0) != 0)
        err = errno;
    if (!err && it.has_priority) {
        const std::string p = std::to_string(it.priority);
        if (fsetxattr(fd, "user.kvcache.priority", p.data(), p.size(), 0) != 0) err = errno;
    }
    for (size_t i = 0; !err && i < it.xattr_count; ++i)
        if (fsetxattr(fd, it.xattrs[i].name, it.xattrs[i].value, it.xattrs[i].size, 0) != 0)
            err = errno;
    if (close(fd) != 0 && !err) err = errno;  // the entry is committed at its last close
    if (!err &&
        renameat2(c->dir_fd, tmp, c->dir_fd, it.name, it.no_replace ? RENAME_NOREPLACE : 0) != 0)
        err = errno;
    if (err) unlinkat(c->dir_fd, tmp, 0);
    return err;
}

int loadByFiles(kvc_client* c, const kvc_buffer* b, kvc_load_item& it) {
    const int fd = openat(c->dir_fd, it.name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st {};
    int err = fstat(fd, &st) != 0 ? errno : 0;
    if (!err && S_ISDIR(st.st_mode)) err = EISDIR;
    if (!err && static_cast<uint64_t>(st.st_size) > it.capacity) err = EOVERFLOW;
    uint64_t done = 0;
    while (!err && done < static_cast<uint64_t>(st.st_size)) {
        const ssize_t n =
            pread(fd, b->data + it.offset + done, st.st_size - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) err = errno;
        if (n <= 0) break;
        done += static_cast<uint64_t>(n);
    }
    close(fd);
    it.size = done;
    return err;
}

// user.kvcache.committed of a name, read without opening it (an open would count a hit).
bool committedByFiles(const kvc_client* c, const char* name) {
    const std::string path = "/proc/self/fd/" + std::to_string(c->dir_fd) + "/" + name;
    char v[8] = {};
    return getxattr(path.c_str(), "user.kvcache.committed", v, sizeof v) > 0 && v[0] == '1';
}

// `.match` of the pool (the client's directory must be the pool's own).
long matchByFiles(kvc_client* c, const kvc_load_item* items, size_t count,
                  std::vector<bool>& cached) {
    if (c->match_fd < 0) {
        c->match_fd = openat(c->dir_fd, ".match", O_RDWR | O_CLOEXEC);
        if (c->match_fd < 0) return -errno;
    }
    std::string req;
    for (size_t i = 0; i < count; ++i) (req += items[i].name) += '\n';
    const ssize_t w = write(c->match_fd, req.data(), req.size());
    if (w < 0) return -errno;
    if (static_cast<size_t>(w) != req.size()) return -EIO;
    std::string answer(count + 64, '\0');
    const ssize_t n = pread(c->match_fd, answer.data(), answer.size(), 0);
    if (n < 0) return -errno;
    answer.resize(static_cast<size_t>(n));
    const size_t nl = answer.find('\n');
    if (nl == std::string::npos || answer.size() < nl + 1 + count) return -EIO;
    cached.resize(count);
    for (size_t i = 0; i < count; ++i) cached[i] = answer[nl + 1 + i] == '1';
    return std::strtol(answer.c_str(), nullptr, 10);
}

// Items of a batch that fit one request: [from, to).
template <class Add>
size_t fillRequest(kvc_client* c, Op op, uint64_t id, size_t from, size_t count, Add&& add) {
    kvc::wire::beginRequest(c->request, op, id);
    size_t to = from;
    while (to < count && to - from < c->max_items) {
        const size_t before = c->request.size();
        add(to);
        if (c->request.size() > c->max_message) {
            c->request.resize(before);
            break;
        }
        ++to;
    }
    kvc::wire::finishRequest(c->request, static_cast<uint32_t>(to - from));
    return to;
}

}  // namespace

extern "C" {

const char* kvc_version(void) {
    return KVCACHEFS_VERSION;
}

int kvc_open(const char* dir, int flags, kvc_client** out) {
    if (!dir || !out) return -EINVAL;
    auto* c = new (std::nothrow) kvc_client;
    if (!c) return -ENOMEM;
    c->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dir_fd < 0) {
        const int err = errno;
        delete c;
        return -err;
    }
    c->umask = processUmask();
    if (!(flags & KVC_NO_FAST_PATH)) {
        c->sock = connectDataPath(c);
        if (c->sock >= 0 && hello(c) != 0) {
            close(c->sock);
            c->sock = -1;
        }
    }
    *out = c;
    return 0;
}

namespace {

void dropRef(kvc_client* c) {
    if (--c->refs == 0) delete c;
}

}  // namespace

void kvc_close(kvc_client* c) {
    if (!c) return;
    {
        std::lock_guard lk(c->mutex);
        // The daemon unmaps the client's buffers when the connection ends; buffers still held
        // here stay mapped in this process until they are freed.
        if (c->sock >= 0) close(std::exchange(c->sock, -1));
        if (c->match_fd >= 0) close(std::exchange(c->match_fd, -1));
        if (c->dir_fd >= 0) close(std::exchange(c->dir_fd, -1));
    }
    dropRef(c);
}

int kvc_fast_path(const kvc_client* c) {
    return c && c->sock >= 0;
}

int kvc_buffer_new(kvc_client* c, size_t size, kvc_buffer** out) {
    if (!c || !out || size == 0) return -EINVAL;
    auto* b = new (std::nothrow) kvc_buffer;
    if (!b) return -ENOMEM;
    b->client = c;
    c->refs++;
    b->size = size;
    b->fd = memfd_create("kvcachefs-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int err = b->fd < 0 ? errno : 0;
    if (!err && (ftruncate(b->fd, static_cast<off_t>(size)) != 0 ||
                 fcntl(b->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0))
        err = errno;
    if (!err) {
        void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
        if (p == MAP_FAILED)
            err = errno;
        else
            b->data = static_cast<char*>(p);
    }
    if (!err && c->sock >= 0) {
        std::lock_guard lk(c->mutex);
        const uint64_t id = c->next_id++;
        kvc::wire::beginRequest(c->request, Op::Register, id);
        kvc::wire::addRegister(c->request, size);
        kvc::wire::finishRequest(c->request, 1);
        kvc::wire::Reply r;
        const int rc = roundTrip(c, Op::Register, id, b->fd, r);
        if (rc != 0)
            err = -rc;
        else
            b->id = static_cast<uint32_t>(r.results.at(0).value);
    }
    if (err) {
        kvc_buffer_free(b);
        return -err;
    }
    *out = b;
    return 0;
}

void* kvc_buffer_data(const kvc_buffer* b) {
    return b ? b->data : nullptr;
}

size_t kvc_buffer_size(const kvc_buffer* b) {
    return b ? b->size : 0;
}

void kvc_buffer_free(kvc_buffer* b) {
    if (!b) return;
    kvc_client* c = b->client;
    if (b->id != UINT32_MAX) {
        std::lock_guard lk(c->mutex);
        const uint64_t id = c->next_id++;
        kvc::wire::beginRequest(c->request, Op::Unregister, id);
        kvc::wire::addBuffer(c->request, b->id);
        kvc::wire::finishRequest(c->request, 1);
        kvc::wire::Reply r;
        if (c->sock >= 0) (void)roundTrip(c, Op::Unregister, id, -1, r);
    }
    if (b->data) munmap(b->data, b->size);
    if (b->fd >= 0) close(b->fd);
    delete b;
    dropRef(c);
}

int kvc_store(kvc_client* c, kvc_buffer* b, kvc_store_item* items, size_t count) {
    if (!c || !b || (count && !items)) return -EINVAL;
    for (size_t i = 0; i < count; ++i) {
        const kvc_store_item& it = items[i];
        if (!it.name || !inBuffer(b, it.offset, it.length) ||
            it.xattr_count > kvc::wire::kMaxStoreXattrs || (it.xattr_count && !it.xattrs))
            return -EINVAL;
        for (size_t x = 0; x < it.xattr_count; ++x)
            if (!it.xattrs[x].name || (it.xattrs[x].size && !it.xattrs[x].value) ||
                it.xattrs[x].size > kvc::wire::kMaxXattrValue)
                return -EINVAL;
    }
    std::lock_guard lk(c->mutex);
    if (c->sock < 0) {
        for (size_t i = 0; i < count; ++i) items[i].error = storeByFiles(c, b, items[i]);
        return 0;
    }
    for (size_t from = 0; from < count;) {
        const uint64_t id = c->next_id++;
        const size_t to = fillRequest(c, Op::Store, id, from, count, [&](size_t i) {
            const kvc_store_item& it = items[i];
            Item w;
            w.buffer = b->id;
            w.name = it.name;
            w.offset = it.offset;
            w.length = it.length;
            w.mode = (it.mode ? it.mode : 0644) & ~c->umask & 07777;
            w.flags = (it.no_replace ? kvc::wire::kStoreNoReplace : 0) |
                      (it.has_priority ? kvc::wire::kStorePriority : 0);
            w.priority = it.priority;
            if (it.parent) w.parent = it.parent;
            for (size_t x = 0; x < it.xattr_count; ++x)
                w.xattrs.emplace_back(it.xattrs[x].name,
                                      std::string_view(static_cast<const char*>(it.xattrs[x].value),
                                                       it.xattrs[x].size));
            kvc::wire::addStore(c->request, w);
        });
        if (to == from) return -E2BIG;
        kvc::wire::Reply r;
        if (int rc = roundTrip(c, Op::Store, id, c->dir_fd, r); rc != 0) return rc;
        if (r.results.size() != to - from) return -EPROTO;
        for (size_t i = from; i < to; ++i) items[i].error = r.results[i - from].status;
        from = to;
    }
    return 0;
}

namespace {

// Loads (or, for a chain, loads the leading run of) items[from, count) in requests.
long loadFast(kvc_client* c, kvc_buffer* b, kvc_load_item* items, size_t count, bool chain,
              size_t* leading) {
    size_t loaded = 0, lead = 0;
    bool run = true;
    for (size_t from = 0; from < count;) {
        const uint64_t id = c->next_id++;
        const Op op = chain ? Op::LoadChain : Op::Load;
        const size_t to = fillRequest(c, op, id, from, count, [&](size_t i) {
            Item w;
            w.buffer = b->id;
            w.name = items[i].name;
            w.offset = items[i].offset;
            w.length = items[i].capacity;
            kvc::wire::addLoad(c->request, w);
        });
        if (to == from) return -E2BIG;
        kvc::wire::Reply r;
        if (int rc = roundTrip(c, op, id, c->dir_fd, r); rc != 0) return rc;
        if (r.results.size() != to - from) return -EPROTO;
        for (size_t i = from; i < to; ++i) {
            const kvc::wire::ItemResult& res = r.results[i - from];
            items[i].error = res.status;
            items[i].size = res.status ? 0 : res.value;
            items[i].cached = (res.flags & kvc::wire::kResultCached) != 0;
        }
        if (chain) {
            // A chain's next piece only matters if this one was cached and loaded whole.
            if (run) lead += r.chain.leading;
            if (run) loaded += r.chain.loaded;
            run = run && r.chain.leading == to - from && r.chain.loaded == to - from;
            if (!run) {
                for (size_t i = to; i < count; ++i) items[i].error = ENOENT;
                break;
            }
        }
        from = to;
    }
    if (leading) *leading = lead;
    return static_cast<long>(loaded);
}

}  // namespace

int kvc_load(kvc_client* c, kvc_buffer* b, kvc_load_item* items, size_t count) {
    if (!c || !b || (count && !items)) return -EINVAL;
    for (size_t i = 0; i < count; ++i)
        if (!items[i].name || !inBuffer(b, items[i].offset, items[i].capacity)) return -EINVAL;
    std::lock_guard lk(c->mutex);
    if (c->sock < 0) {
        for (size_t i = 0; i < count; ++i) items[i].error = loadByFiles(c, b, items[i]);
        return 0;
    }
    const long rc = loadFast(c, b, items, count, false, nullptr);
    return rc < 0 ? static_cast<int>(rc) : 0;
}

long kvc_load_chain(kvc_client* c, kvc_buffer* b, kvc_load_item* items, size_t count,
                    size_t* leading) {
    if (!c || !b || (count && !items)) return -EINVAL;
    for (size_t i = 0; i < count; ++i)
        if (!items[i].name || !inBuffer(b, items[i].offset, items[i].capacity)) return -EINVAL;
    std::lock_guard lk(c->mutex);
    if (c->sock >= 0) return loadFast(c, b, items, count, true, leading);
    std::vector<bool> cached;
    const long lead = count ? matchByFiles(c, items, count, cached) : 0;
    if (lead < 0) return lead;
    size_t loaded = 0;
    for (size_t i = 0; i < count; ++i) {
        items[i].cached = i < cached.size() && cached[i];
        items[i].size = 0;
        items[i].error = ENOENT;
        if (i != loaded || i >= static_cast<size_t>(lead)) continue;
        items[i].error = loadByFiles(c, b, items[i]);
        if (!items[i].error) loaded++;
    }
    if (leading) *leading = static_cast<size_t>(lead);
    return static_cast<long>(loaded);
}

int kvc_stat(kvc_client* c, kvc_stat_item* items, size_t count) {
    if (!c || (count && !items)) return -EINVAL;
    for (size_t i = 0; i < count; ++i)
        if (!items[i].name) return -EINVAL;
    std::lock_guard lk(c->mutex);
    if (c->sock < 0) {
        for (size_t i = 0; i < count; ++i) {
            kvc_stat_item& it = items[i];
            struct stat st {};
            it.error = fstatat(c->dir_fd, it.name, &st, AT_SYMLINK_NOFOLLOW) != 0 ? errno : 0;
            it.mode = st.st_mode;
            it.size = static_cast<uint64_t>(st.st_size);
            it.committed = !it.error && (S_ISDIR(st.st_mode) || committedByFiles(c, it.name));
        }
        return 0;
    }
    for (size_t from = 0; from < count;) {
        const uint64_t id = c->next_id++;
        const size_t to = fillRequest(c, Op::Stat, id, from, count, [&](size_t i) {
            kvc::wire::addName(c->request, items[i].name);
        });
        if (to == from) return -E2BIG;
        kvc::wire::Reply r;
        if (int rc = roundTrip(c, Op::Stat, id, c->dir_fd, r); rc != 0) return rc;
        if (r.results.size() != to - from) return -EPROTO;
        for (size_t i = from; i < to; ++i) {
            const kvc::wire::ItemResult& res = r.results[i - from];
            items[i].error = res.status;
            items[i].mode = res.mode;
            items[i].size = res.value;
            items[i].committed = (res.flags & kvc::wire::kResultCommitted) != 0;
        }
        from = to;
    }
    return 0;
}

namespace {

ssize_t rangeOp(kvc_client* c, Op op, int fd, kvc_buffer* b, size_t boff, size_t len,
                uint64_t foff) {
    if (!c || !b || !inBuffer(b, boff, len)) return -EINVAL;
    std::lock_guard lk(c->mutex);
    if (c->sock < 0) {
        const ssize_t n = op == Op::Read
                              ? pread(fd, b->data + boff, len, static_cast<off_t>(foff))
                              : pwrite(fd, b->data + boff, len, static_cast<off_t>(foff));
        return n < 0 ? -errno : n;
    }
    const uint64_t id = c->next_id++;
    kvc::wire::beginRequest(c->request, op, id);
    Item w;
    w.buffer = b->id;
    w.offset = boff;
    w.file_offset = foff;
    w.length = len;
    kvc::wire::addRange(c->request, w);
    kvc::wire::finishRequest(c->request, 1);
    kvc::wire::Reply r;
    if (int rc = roundTrip(c, op, id, fd, r); rc != 0) return rc;
    if (r.results.size() != 1) return -EPROTO;
    return static_cast<ssize_t>(r.results[0].value);
}

}  // namespace

ssize_t kvc_pread(kvc_client* c, int fd, kvc_buffer* b, size_t boff, size_t len, uint64_t foff) {
    return rangeOp(c, Op::Read, fd, b, boff, len, foff);
}

ssize_t kvc_pwrite(kvc_client* c, int fd, kvc_buffer* b, size_t boff, size_t len, uint64_t foff) {
    return rangeOp(c, Op::Write, fd, b, boff, len, foff);
}

}  // extern "C"
