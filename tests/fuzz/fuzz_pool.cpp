// libFuzzer target: drives the Pool public API (core/pool.h) on a small real shm pool with values
// decoded from the input, biased towards the extremes (sizes, offsets and lengths near 2^32, 2^63
// and 2^64, odd names, NaN percentages), and checks Pool::verify() after every call: no call may
// crash, trip ASan/UBSan, or leave the allocator, index and policy disagreeing.
//
// Each input gets a fresh pool (1 MiB of 4 KiB blocks, a small pin budget). Its segment has a
// name unique to the process and is unlinked as soon as it is made, so nothing is left in
// /dev/shm whatever happens. The pool may grow (resize) only to 16 MiB, or be asked to reach the
// extremes, which it must refuse: sizes in between are legitimate and would back gigabytes.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/pool.h"

namespace {

using kvc::Access;
using kvc::EntryId;
using kvc::IfExists;
using kvc::kPoolRootId;
using kvc::Pool;
using kvc::Truncate;

constexpr uint64_t kPoolBytes = 1 << 20;
constexpr uint64_t kMaxGrowBytes = 16 << 20;

// Reads the input front to back; past its end every value is 0.
class Input {
  public:
    Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
    bool done() const { return p_ >= end_; }
    uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
    uint64_t raw64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= uint64_t{byte()} << (8 * i);
        return v;
    }
    // A size, offset or count: mostly near a boundary, sometimes any 64-bit value.
    uint64_t extreme() {
        const uint8_t kind = byte();
        const uint64_t small = byte();
        switch (kind % 10) {
            case 0:
                return small;
            case 1:
                return small * 4096 + byte() % 4;  // around block boundaries
            case 2:
                return kPoolBytes - 64 + small;  // around the pool's size
            case 3:
                return (uint64_t{1} << 32) - 128 + small;
            case 4:
                return (uint64_t{1} << 63) - 128 + small;
            case 5:
                return std::numeric_limits<uint64_t>::max() - small;
            case 6:
                return std::numeric_limits<uint64_t>::max() - small * 4096;
            case 7:
                return uint64_t{1} << (small % 64);
            case 8:
                return small << 12 | byte();
            default:
                return raw64();
        }
    }
    int64_t extremeSigned() {
        const uint8_t kind = byte();
        switch (kind % 4) {
            case 0:
                return std::numeric_limits<int64_t>::min() + byte();
            case 1:
                return std::numeric_limits<int64_t>::max() - byte();
            case 2:
                return -static_cast<int64_t>(extreme() >> 1);
            default:
                return static_cast<int64_t>(extreme());
        }
    }
    // Names a pool must take or refuse: short ones that collide, control files' names, the
    // special ones, NUL, '/', and the longest and one past it.
    std::string name() {
        static const std::vector<std::string> names = {"a",
                                                       "b",
                                                       "c",
                                                       "d",
                                                       "e",
                                                       ".policy",
                                                       ".stats",
                                                       ".match",
                                                       "",
                                                       ".",
                                                       "..",
                                                       "x/y",
                                                       std::string("a\0b", 3),
                                                       "\n",
                                                       " ",
                                                       std::string(255, 'n'),
                                                       std::string(256, 'n'),
                                                       ".kvcrestore.1.0",
                                                       "\xff\xfe"};
        const uint8_t b = byte();
        if (b < 200) return names[b % names.size()];
        std::string s(byte() % 8, '\0');
        for (char& c : s) c = static_cast<char>(byte());
        return s;
    }
    std::string value() {
        switch (byte() % 6) {
            case 0:
                return std::to_string(extreme());
            case 1:
                return std::to_string(extremeSigned());
            case 2:
                return name();
            case 3:
                return std::string(extreme() % 70000, 'v');
            case 4:
                return "d/" + name();
            default: {
                std::string s(byte() % 16, '\0');
                for (char& c : s) c = static_cast<char>(byte());
                return s;
            }
        }
    }
    double percent() {
        switch (byte() % 8) {
            case 0:
                return std::nan("");
            case 1:
                return std::numeric_limits<double>::infinity();
            case 2:
                return -1;
            case 3:
                return 100;
            case 4:
                return 100.0000001;
            case 5:
                return std::numeric_limits<double>::denorm_min();
            case 6:
                return 1e308;
            default:
                return byte() % 101;
        }
    }

  private:
    const uint8_t* p_;
    const uint8_t* end_;
};

struct Open {
    EntryId id;
    Access access;
};

class Driver {
  public:
    explicit Driver(std::unique_ptr<Pool> pool) : pool_(std::move(pool)) {}
    ~Driver() {
        for (const Open& o : opens_) pool_->release(o.id, o.access);
        for (EntryId id : lookups_) pool_->forget(id, 1);
        pool_->verify();
    }

    void step(Input& in) {
        const uint8_t op = in.byte();
        switch (op % 26) {
            case 0:
                create(in);
                break;
            case 1:
                write(in);
                break;
            case 2:
                read(in);
                break;
            case 3:
                (void)pool_->allocate(entry(in), in.extreme(), in.extreme());
                break;
            case 4:
                truncate(in);
                break;
            case 5:
                setattr(in);
                break;
            case 6:
                (void)pool_->setxattr(entry(in), xattrName(in), in.value(), in.byte() % 4);
                break;
            case 7:
                (void)pool_->getxattr(entry(in), xattrName(in));
                break;
            case 8:
                (void)pool_->removexattr(entry(in), xattrName(in));
                break;
            case 9:
                (void)pool_->listxattr(entry(in));
                break;
            case 10:
                (void)pool_->evictPercent(in.percent());
                break;
            case 11:
                (void)pool_->evictUntilFree(in.extreme());
                break;
            case 12:
                resize(in);
                break;
            case 13:
                (void)pool_->rename(dir(in), in.name(), dir(in), in.name(), in.byte() % 4);
                break;
            case 14:
                link(in);
                break;
            case 15:
                (void)pool_->unlink(dir(in), in.name());
                break;
            case 16:
                mkdir(in);
                break;
            case 17:
                (void)pool_->rmdir(dir(in), in.name());
                break;
            case 18:
                release(in);
                break;
            case 19:
                reopen(in);
                break;
            case 20:
                (void)pool_->flush(entry(in));
                break;
            case 21:
                match(in);
                break;
            case 22:
                (void)pool_->readdir(dir(in), in.extreme(), in.byte());
                break;
            case 23:
                makeNode(in);
                break;
            case 24:
                (void)pool_->readlink(entry(in));
                break;
            default:
                importExport(in);
                break;
        }
        pool_->verify();
    }

  private:
    // An id the driver made (it may have been unlinked or evicted since), or any small id.
    EntryId entry(Input& in) {
        const uint8_t b = in.byte();
        if (!made_.empty() && b < 224) return made_[b % made_.size()];
        return b % 40;
    }
    EntryId dir(Input& in) {
        const uint8_t b = in.byte();
        if (!dirs_.empty() && b % 2) return dirs_[b / 2 % dirs_.size()];
        return b < 250 ? kPoolRootId : b;
    }
    std::string xattrName(Input& in) {
        static const char* kv[] = {"priority", "pinned",       "pin_ttl",   "parent", "layer",
                                   "seq_len",  "access_count", "committed", "colour"};
        const uint8_t b = in.byte();
        if (b < 128) return std::string("user.kvcache.") + kv[b % 9];
        if (b < 200) return "user." + in.name();
        return in.name();
    }

    // A symbolic link (any target the input gives) or a node of any mknod type and device.
    void makeNode(Input& in) {
        const EntryId d = dir(in);
        const std::string n = in.name();
        const uint8_t b = in.byte();
        auto a = b % 2
                     ? pool_->symlink(d, n, in.value(), 0, 0)
                     : pool_->mknod(d, n, static_cast<uint32_t>(in.extreme()), in.extreme(), 0, 0);
        if (!a) return;
        lookups_.push_back(a->id);
        made_.push_back(a->id);
    }
    void create(Input& in) {
        const EntryId d = dir(in);
        const std::string n = in.name();
        const uint8_t flags = in.byte();
        const IfExists if_exists =
            (flags & 1) ? IfExists::Fail : ((flags & 2) ? IfExists::Truncate : IfExists::Open);
        auto a = pool_->create(d, n, 0644, 0, 0, if_exists);
        if (!a) return;
        opens_.push_back({a->id, Access::Write});
        lookups_.push_back(a->id);
        made_.push_back(a->id);
    }
    void write(Input& in) {
        const EntryId id = entry(in);
        const uint64_t off = in.extreme();
        const size_t len = in.byte() % 2 ? in.byte() : static_cast<size_t>(in.extreme() % 20000);
        buf_.assign(len, static_cast<char>(in.byte()));
        // Within the declared length only: the length is the caller's promise about its buffer.
        (void)pool_->write(id, off, buf_.data(), buf_.size());
    }
    void read(Input& in) {
        const EntryId id = entry(in);
        const uint64_t off = in.extreme();
        const size_t len = static_cast<size_t>(in.extreme());
        // A plan over any length (nothing is copied), then a copy of at most 64 KiB.
        if (auto plan = pool_->planRead(id, off, len); plan) {
            size_t total = 0;
            for (const auto& p : plan->pieces) total += p.len;
            if (total != plan->total || plan->total > len) std::abort();
        }
        buf_.resize(65536);
        auto n = pool_->read(id, off, buf_.data(), std::min<size_t>(len, buf_.size()));
        if (n && *n > std::min<size_t>(len, buf_.size())) std::abort();
    }
    void truncate(Input& in) {
        kvc::AttrChange c;
        c.size = in.extreme();
        (void)pool_->setattr(entry(in), c);
    }
    void setattr(Input& in) {
        kvc::AttrChange c;
        const uint8_t which = in.byte();
        if (which & 1) c.mode = static_cast<uint32_t>(in.extreme());
        if (which & 2) c.uid = static_cast<uint32_t>(in.extreme());
        if (which & 4) c.atime_ns = in.extremeSigned();
        if (which & 8) c.mtime_ns = in.extremeSigned();
        (void)pool_->setattr(in.byte() % 8 ? entry(in) : dir(in), c);
    }
    void resize(Input& in) {
        const uint64_t bytes = in.extreme();
        if (bytes > kMaxGrowBytes && bytes < (uint64_t{1} << 62)) return;  // see the top
        (void)pool_->resize(bytes);
    }
    void link(Input& in) {
        auto a = pool_->link(entry(in), dir(in), in.name());
        if (a) lookups_.push_back(a->id);
    }
    void mkdir(Input& in) {
        auto a = pool_->mkdir(dir(in), in.name(), static_cast<uint32_t>(in.extreme()), 0, 0);
        if (!a) return;
        lookups_.push_back(a->id);
        dirs_.push_back(a->id);
    }
    void release(Input& in) {
        if (opens_.empty()) return;
        const size_t i = in.byte() % opens_.size();
        pool_->release(opens_[i].id, opens_[i].access);
        opens_.erase(opens_.begin() + static_cast<long>(i));
    }
    void reopen(Input& in) {
        const EntryId id = entry(in);
        const uint8_t flags = in.byte();
        const Access access = (flags & 1) ? Access::Write : Access::Read;
        if (pool_->open(id, access, (flags & 2) ? Truncate::Yes : Truncate::No))
            opens_.push_back({id, access});
    }
    void match(Input& in) {
        std::vector<std::string> names(in.byte() % 8);
        for (std::string& n : names) n = in.name();
        std::vector<std::string_view> views(names.begin(), names.end());
        (void)pool_->match(dir(in), views);
    }
    void importExport(Input& in) {
        auto img = pool_->exportEntry(entry(in));
        kvc::EntryImage fresh;
        kvc::EntryImage& image = img ? *img : fresh;
        image.path = in.byte() % 2 ? in.name() : in.value();
        if (in.byte() % 2) image.parent = in.value();
        image.priority = static_cast<int32_t>(in.extremeSigned());
        image.layer = in.extremeSigned();
        image.mode = static_cast<uint32_t>(in.extreme());
        if (in.byte() % 4 == 0) image.data.assign(in.extreme() % (2 * kPoolBytes), 'i');
        (void)pool_->importEntry(image);
    }

    std::unique_ptr<Pool> pool_;
    std::vector<Open> opens_;
    std::vector<EntryId> lookups_;  // each counted once by create, link or mkdir
    std::vector<EntryId> made_;
    std::vector<EntryId> dirs_;
    std::vector<char> buf_;
};

std::unique_ptr<Pool> freshPool() {
    kvc::PoolCreateOptions o;
    o.name = "fuzz";
    o.where.name = "kvcachefs-fuzz-pool-" + std::to_string(getpid());
    o.settings = kvc::PoolSettings{kPoolBytes, "lru", 4096, kvc::Tier::Cpu, "", 64 << 10, 0, {}};
    auto made = Pool::create(o);
    if (!made) std::abort();
    if (!kvc::Segment::remove(o.where)) std::abort();  // the mapping stays; the name goes
    return std::move(*made);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Input in(data, size);
    Driver driver(freshPool());
    for (int steps = 0; !in.done() && steps < 64; ++steps) driver.step(in);
    return 0;
}
