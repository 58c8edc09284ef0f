// trace_replay: replays an LLM serving trace (Mooncake JSONL format, see
// /work/shared/traces/README.md) against kvcachefs pools and reports the prefix hit ratio per
// eviction policy and capacity, next to Belady's offline optimum over the same requests.
//
// Each hash id is an entry named "h<id>" holding one 4 KiB block. Per request, in trace order:
//   1. ask the pool for the chain's leading cached run (`.match`),
//   2. read those entries (the engine loads them),
//   3. write every block of the chain after the leading run that is not stored, with
//      user.kvcache.parent naming the previous block (the engine computed them),
//   4. with hints on, tell the pool whether the conversation goes on (user.kvcache.priority).
// The prefix hit ratio is sum(leading run) / sum(chain length): the fraction of requested blocks
// the engine could reuse.
//
// Two back ends: --mount POOLDIR drives a mounted pool through system calls (the numbers that
// count); --inprocess drives a core::Pool in a private shm segment (same code path below FUSE,
// ~10x faster, for iterating). Capacities are percentages of the distinct blocks of the replayed
// requests; the pool's blocks_total is checked to be exactly that many blocks.
//
// Belady: MIN with bypass over block references, 1 block per entry. On a miss the block is
// inserted, then while over capacity the cached block whose next request is farthest in the
// future is dropped (never requested again = infinitely far; that may be the block just
// inserted). Ties go to the deeper block of a chain, so a block is always dropped before or with
// its prefix and the cache stays prefix-closed: every hit is in the leading run. MIN maximises
// block hits, which bound prefix hits, so this is the optimum for the prefix hit ratio too. The
// online policies cannot bypass (every computed block is written) and pay for chain parents that
// stay while a child is cached; Belady is an upper bound for them.
//
// Hints (policy name with "@hint"): drawn from the trace's future, so an upper bound on what an
// engine's hint can give, not a result. After a request, its last block (the chain's leaf, which
// keeps the whole chain cached while it stays) gets priority +1 ("conversation open") if a later
// request contains the block before it (the conversation has another turn), else -1 ("ended").
// When that later request arrives, the old leaf gets -1 (superseded by the new turn's chain).
//
// With both --inprocess and --mount, every run goes through both back ends and the pool's
// answers (each request's leading run and cached blocks) must be identical: every policy decides
// from the sequence of pool operations alone (docs/POLICIES.md, "Determinism").
//
// Usage: trace_replay [--trace FILE] [--label NAME] [--slice N] [--inprocess] [--mount POOLDIR]
//                     [--policies a,b,c@hint] [--capacities 1,2,5,10,25]
//                     [--csv FILE] [--png FILE] [--check]
//        trace_replay --from-csv A.csv,B.csv [--csv MERGED] [--png FILE]
// --check exits 1 unless every ratio is within [0,1], no policy beats Belady and (with both
// back ends) the two answered identically. --label names the trace in the CSV's last column.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "core/pool.h"

namespace {

constexpr size_t kBlockBytes = 4096;
constexpr uint64_t kNever = UINT64_MAX;

struct Request {
    std::vector<uint64_t> chain;
};

std::vector<Request> loadTrace(const std::string& path, size_t slice) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open trace " + path);
    std::vector<Request> out;
    std::string line;
    while (std::getline(in, line) && (slice == 0 || out.size() < slice)) {
        const size_t key = line.find("\"hash_ids\"");
        if (key == std::string::npos) continue;
        const size_t open = line.find('[', key), close = line.find(']', key);
        if (open == std::string::npos || close == std::string::npos)
            throw std::runtime_error("malformed trace line: " + line.substr(0, 80));
        Request r;
        const char* p = line.c_str() + open + 1;
        const char* end = line.c_str() + close;
        while (p < end) {
            char* next = nullptr;
            const unsigned long long v = std::strtoull(p, &next, 10);
            if (next == p) {
                ++p;
                continue;
            }
            r.chain.push_back(v);
            p = next;
        }
        if (!r.chain.empty()) out.push_back(std::move(r));
    }
    return out;
}

std::string entryName(uint64_t id) {
    return "h" + std::to_string(id);
}

// next_use[r][i]: index of the next request after r that contains block chain[i] (kNever if none).
std::vector<std::vector<uint64_t>> nextUses(const std::vector<Request>& trace) {
    std::vector<std::vector<uint64_t>> next(trace.size());
    std::unordered_map<uint64_t, uint64_t> seen;
    for (size_t r = trace.size(); r-- > 0;) {
        next[r].resize(trace[r].chain.size());
        for (size_t i = 0; i < trace[r].chain.size(); ++i) {
            auto it = seen.find(trace[r].chain[i]);
            next[r][i] = it == seen.end() ? kNever : it->second;
        }
        for (uint64_t b : trace[r].chain) seen[b] = r;
    }
    return next;
}

struct Totals {
    uint64_t requested = 0;
    uint64_t leading = 0;
    uint64_t write_errors = 0;
    double pool_ratio = -1;  // the pool's own prefix_hit_ratio for this run, when known
    double seconds = 0;
    // Every answer the pool gave, in order: each request's leading run and which of its blocks
    // were cached. Two runs that made the same choices have the same digest.
    uint64_t digest = 0;
    double ratio() const { return requested ? double(leading) / double(requested) : 0; }
};

Totals belady(const std::vector<Request>& trace, const std::vector<std::vector<uint64_t>>& next,
              uint64_t capacity) {
    // Ordered by (next use, depth, id); the largest is dropped first.
    using Key = std::tuple<uint64_t, uint64_t, uint64_t>;
    std::set<Key> order;
    std::unordered_map<uint64_t, Key> cached;
    Totals t;
    for (size_t r = 0; r < trace.size(); ++r) {
        const auto& chain = trace[r].chain;
        t.requested += chain.size();
        size_t lead = 0;
        while (lead < chain.size() && cached.contains(chain[lead])) ++lead;
        t.leading += lead;
        for (size_t i = 0; i < chain.size(); ++i) {
            const Key key{next[r][i], i, chain[i]};
            if (auto it = cached.find(chain[i]); it != cached.end()) {
                order.erase(it->second);
                it->second = key;
            } else {
                cached.emplace(chain[i], key);
            }
            order.insert(key);
            while (order.size() > capacity) {
                auto last = std::prev(order.end());
                cached.erase(std::get<2>(*last));
                order.erase(last);
            }
        }
    }
    return t;
}

// What a replay needs from a pool.
class Backend {
  public:
    virtual ~Backend() = default;
    // Empties the pool, sets its policy and capacity; throws if blocks_total differs.
    virtual void prepare(const std::string& policy, uint64_t blocks) = 0;
    // Per name: cached or not, and the leading run.
    virtual size_t match(const std::vector<std::string>& names, std::vector<bool>& cached) = 0;
    virtual void read(const std::string& name) = 0;
    // false on error (ENOSPC).
    virtual bool write(const std::string& name, const std::string* parent) = 0;
    virtual void setPriority(const std::string& name, int priority) = 0;
    // The pool's own prefix hit ratio over this run's .match calls.
    virtual double finish() = 0;
    // The pool spills to lower tiers (docs/TIERS.md): Belady at the pool's capacity is no bound.
    virtual bool lowerTiers() const { return false; }
};

std::string joinNames(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += n + "\n";
    return s;
}

class InProcessBackend final : public Backend {
  public:
    ~InProcessBackend() override { drop(); }
    void prepare(const std::string& policy, uint64_t blocks) override {
        drop();
        kvc::PoolCreateOptions o;
        o.name = "replay";
        o.where.name = fmt::format("kvc-replay.{}.{}", getpid(), ++runs_);
        o.settings.size = blocks * kBlockBytes;
        o.settings.policy = policy;
        o.settings.block_size = kBlockBytes;
        auto p = kvc::Pool::create(o);
        if (!p) throw std::runtime_error("pool create: " + p.error().message);
        pool_ = std::move(*p);
        const auto st = pool_->stats();
        if (st.blocks_total != blocks)
            throw std::runtime_error(fmt::format("blocks_total {} != {}", st.blocks_total, blocks));
    }
    size_t match(const std::vector<std::string>& names, std::vector<bool>& cached) override {
        auto r = pool_->match(kvc::kPoolRootId, {names.begin(), names.end()});
        if (!r) throw std::runtime_error("match: " + r.error().message);
        cached = r->cached;
        return r->leading;
    }
    void read(const std::string& name) override {
        auto a = pool_->lookup(kvc::kPoolRootId, name);
        if (!a) return;
        if (pool_->open(a->id, kvc::Access::Read)) {
            char buf[kBlockBytes];
            (void)pool_->read(a->id, 0, buf, sizeof buf);
            pool_->release(a->id, kvc::Access::Read);
        }
        pool_->forget(a->id, 1);
    }
    bool write(const std::string& name, const std::string* parent) override {
        auto a = pool_->create(kvc::kPoolRootId, name, 0644, 0, 0, kvc::IfExists::Truncate);
        if (!a) return false;
        bool ok = true;
        if (parent) ok = pool_->setxattr(a->id, "user.kvcache.parent", *parent, 0).ok();
        static const std::string payload(kBlockBytes, 'k');
        ok = ok && pool_->write(a->id, 0, payload.data(), payload.size()).ok();
        pool_->release(a->id, kvc::Access::Write);
        pool_->forget(a->id, 1);
        return ok;
    }
    void setPriority(const std::string& name, int priority) override {
        auto a = pool_->lookup(kvc::kPoolRootId, name);
        if (!a) return;
        (void)pool_->setxattr(a->id, "user.kvcache.priority", std::to_string(priority), 0);
        pool_->forget(a->id, 1);
    }
    double finish() override {
        const double r = pool_->stats().counters.match_blocks
                             ? double(pool_->stats().counters.match_leading) /
                                   double(pool_->stats().counters.match_blocks)
                             : 0;
        pool_->verify();
        drop();
        return r;
    }

  private:
    void drop() {
        if (!pool_) return;
        (void)pool_->destroySegment();
        pool_.reset();
    }
    std::unique_ptr<kvc::Pool> pool_;
    int runs_ = 0;
};

class MountBackend final : public Backend {
  public:
    explicit MountBackend(std::string dir) : dir_(std::move(dir)) {}
    ~MountBackend() override {
        if (match_fd_ >= 0) close(match_fd_);
    }
    void prepare(const std::string& policy, uint64_t blocks) override {
        if (match_fd_ >= 0) close(match_fd_);
        empty();
        control(".policy", policy + "\n");
        control(".size", std::to_string(blocks * kBlockBytes) + "\n");
        const auto st = stats();
        if (st.at("blocks_total") != std::to_string(blocks))
            throw std::runtime_error("blocks_total " + st.at("blocks_total") +
                                     " != " + std::to_string(blocks));
        if (st.at("policy") != policy)
            throw std::runtime_error("policy is " + st.at("policy") + ", not " + policy);
        lower_tiers_ = st.count("tier.queue.entries") > 0;
        base_blocks_ = std::stoull(st.at("blocks_requested"));
        base_leading_ = std::stoull(st.at("prefix_blocks_hit"));
        match_fd_ = open((dir_ + "/.match").c_str(), O_RDWR);
        if (match_fd_ < 0) throw std::runtime_error("open .match: " + std::string(strerror(errno)));
    }
    size_t match(const std::vector<std::string>& names, std::vector<bool>& cached) override {
        const std::string q = joinNames(names);
        if (pwrite(match_fd_, q.data(), q.size(), 0) != ssize_t(q.size()))
            throw std::runtime_error(".match write: " + std::string(strerror(errno)));
        char buf[8192];
        const ssize_t n = pread(match_fd_, buf, sizeof buf - 1, 0);
        if (n <= 0) throw std::runtime_error(".match read failed");
        buf[n] = 0;
        char* p = nullptr;
        const size_t lead = std::strtoull(buf, &p, 10);
        cached.assign(names.size(), false);
        if (*p == '\n') ++p;
        for (size_t i = 0; i < names.size() && p[i] && p[i] != '\n'; ++i) cached[i] = p[i] == '1';
        return lead;
    }
    bool lowerTiers() const override { return lower_tiers_; }
    void read(const std::string& name) override {
        const int fd = open((dir_ + "/" + name).c_str(), O_RDONLY);
        if (fd < 0) return;
        char buf[kBlockBytes];
        (void)!::read(fd, buf, sizeof buf);
        close(fd);
        closed();
    }
    bool write(const std::string& name, const std::string* parent) override {
        const int fd = open((dir_ + "/" + name).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0) return false;
        bool ok = true;
        if (parent)
            ok = fsetxattr(fd, "user.kvcache.parent", parent->data(), parent->size(), 0) == 0;
        static const std::string payload(kBlockBytes, 'k');
        ok = ok && ::write(fd, payload.data(), payload.size()) == ssize_t(payload.size());
        ok = close(fd) == 0 && ok;
        closed();
        return ok;
    }
    void setPriority(const std::string& name, int priority) override {
        const std::string v = std::to_string(priority);
        (void)setxattr((dir_ + "/" + name).c_str(), "user.kvcache.priority", v.data(), v.size(), 0);
    }
    double finish() override {
        const auto st = stats();
        const double blocks = double(std::stoull(st.at("blocks_requested")) - base_blocks_);
        const double lead = double(std::stoull(st.at("prefix_blocks_hit")) - base_leading_);
        return blocks > 0 ? lead / blocks : 0;
    }

  private:
    // After a close: the kernel sends RELEASE without waiting for it, and a request on a control
    // file waits until this thread's closes have been released (fs/close_order.h), so the pool
    // sees this replay's operations in its order, as in process. Re-reading the answer of the
    // last .match changes nothing.
    void closed() {
        char c;
        (void)!pread(match_fd_, &c, 1, 0);
    }
    void control(const std::string& file, const std::string& text) {
        const int fd = open((dir_ + "/" + file).c_str(), O_WRONLY | O_TRUNC);
        if (fd < 0 || ::write(fd, text.data(), text.size()) != ssize_t(text.size())) {
            const std::string why = strerror(errno);
            if (fd >= 0) close(fd);
            throw std::runtime_error("write " + file + ": " + why);
        }
        close(fd);
    }
    std::map<std::string, std::string> stats() {
        std::ifstream in(dir_ + "/.stats");
        std::map<std::string, std::string> m;
        std::string k, v;
        while (in >> k >> v) m[k] = v;
        if (m.empty()) throw std::runtime_error("cannot read " + dir_ + "/.stats");
        return m;
    }
    void empty() {
        DIR* d = opendir(dir_.c_str());
        if (!d) throw std::runtime_error("cannot open pool directory " + dir_);
        std::vector<std::string> names;
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') names.emplace_back(e->d_name);
        closedir(d);
        for (const auto& n : names)
            if (unlink((dir_ + "/" + n).c_str()) != 0)
                throw std::runtime_error("unlink " + n + ": " + strerror(errno));
    }
    std::string dir_;
    int match_fd_ = -1;
    uint64_t base_blocks_ = 0, base_leading_ = 0;
    bool lower_tiers_ = false;
};

uint64_t fold(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

Totals replay(Backend& pool, const std::vector<Request>& trace,
              const std::vector<std::vector<uint64_t>>& next, const std::string& policy,
              uint64_t blocks, bool hints) {
    const auto start = std::chrono::steady_clock::now();
    pool.prepare(policy, blocks);
    Totals t;
    std::unordered_map<uint64_t, std::string> open_leaf;  // hinted block -> leaf waiting on it
    std::vector<std::string> names;
    std::vector<bool> cached;
    for (size_t r = 0; r < trace.size(); ++r) {
        const auto& chain = trace[r].chain;
        names.clear();
        for (uint64_t b : chain) names.push_back(entryName(b));
        const size_t lead = pool.match(names, cached);
        t.requested += chain.size();
        t.leading += lead;
        t.digest = fold(t.digest, lead);
        for (size_t i = 0; i < chain.size(); ++i) t.digest = fold(t.digest, cached[i]);
        for (size_t i = 0; i < lead; ++i) pool.read(names[i]);
        for (size_t i = lead; i < chain.size(); ++i) {
            if (cached[i]) continue;  // stored already; the engine skips it
            if (!pool.write(names[i], i ? &names[i - 1] : nullptr)) {
                t.write_errors++;
                break;  // the rest of the chain would have no parent
            }
        }
        if (!hints) continue;
        for (uint64_t b : chain) {
            if (auto it = open_leaf.find(b); it != open_leaf.end()) {
                pool.setPriority(it->second, -1);  // superseded by this turn
                open_leaf.erase(it);
            }
        }
        const size_t anchor = chain.size() >= 2 ? chain.size() - 2 : 0;
        const bool goes_on = next[r][anchor] != kNever;
        pool.setPriority(names.back(), goes_on ? 1 : -1);
        if (goes_on) open_leaf[chain[anchor]] = names.back();
    }
    t.pool_ratio = pool.finish();
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return t;
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

// Draws ratio against capacity, one line per series, with gnuplot.
void plot(const std::string& png, const std::vector<std::string>& series,
          const std::vector<double>& pcts,
          const std::map<std::pair<std::string, double>, double>& result,
          const std::string& title) {
    const std::string data_path = png + ".dat", script_path = png + ".gp";
    std::ofstream dat(data_path);
    for (const auto& s : series) {
        for (double pct : pcts)
            if (auto it = result.find({s, pct}); it != result.end())
                dat << pct << " " << it->second << "\n";
        dat << "\n\n";  // gnuplot: next index
    }
    dat.close();
    std::ofstream gp(script_path);
    gp << "set terminal pngcairo size 900,600 noenhanced\n"
       << "set output '" << png << "'\n"
       << "set title '" << title << "'\n"
       << "set xlabel 'capacity (% of distinct blocks)'\nset ylabel 'prefix hit ratio'\n"
       << "set logscale x\nset xtics (1,2,5,10,25,50)\nset grid\nset key right bottom\n"
       << "set yrange [0:*]\n";
    gp << "plot ";
    for (size_t i = 0; i < series.size(); ++i) {
        gp << (i ? ", " : "") << "'" << data_path << "' index " << i
           << " using 1:2 with linespoints lw 2" << (series[i] == "belady" ? " dt 2" : "")
           << " title '" << series[i] << "'";
    }
    gp << "\n";
    gp.close();
    const std::string cmd = "gnuplot '" + script_path + "'";
    if (std::system(cmd.c_str()) != 0) {
        std::cerr << "gnuplot failed (install gnuplot-nox); the CSV is complete\n";
        return;
    }
    std::remove(script_path.c_str());
    std::remove(data_path.c_str());
}

using Results = std::map<std::pair<std::string, double>, double>;

// Prints the table; false if a policy beats Belady (impossible: a bug), unless the pool has
// lower tiers (`bounded` false), whose capacity adds to the pool's.
bool printTable(const std::string& mode, const std::vector<std::string>& series,
                const std::vector<double>& pcts, const Results& result, bool bounded = true) {
    bool ok = true;
    std::cout << fmt::format("\nprefix hit ratio ({})\n{:<16}", mode, "policy");
    for (double pct : pcts) std::cout << fmt::format("{:>8}", fmt::format("{}%", pct));
    std::cout << "\n";
    for (const auto& s : series) {
        std::cout << fmt::format("{:<16}", s);
        for (double pct : pcts) {
            auto it = result.find({s, pct});
            if (it == result.end()) {
                std::cout << fmt::format("{:>8}", "-");
                continue;
            }
            std::cout << fmt::format("{:>8.4f}", it->second);
            auto best = result.find({"belady", pct});
            if (bounded && s != "belady" && best != result.end() &&
                it->second > best->second + 1e-12) {
                std::cerr << s << " at " << pct << "% beats Belady: impossible\n";
                ok = false;
            }
        }
        std::cout << "\n";
    }
    return ok;
}

// --from-csv: merges CSVs written by earlier runs (e.g. one per capacity, run in parallel) into
// one table, one CSV and one plot.
int fromCsv(const std::string& files, const std::string& csv_out, const std::string& png) {
    std::vector<std::string> series;
    std::vector<double> pcts;
    Results result;
    std::string mode, header;
    std::vector<std::string> rows;
    for (const auto& path : split(files)) {
        std::ifstream in(path);
        if (!in) throw std::runtime_error("cannot open " + path);
        std::string line;
        std::getline(in, header);
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream ss(line);
            std::string cell;
            while (std::getline(ss, cell, ',')) f.push_back(cell);
            if (f.size() < 6) continue;
            rows.push_back(line);
            mode = f[0];
            const double pct = std::stod(f[2]);
            if (std::ranges::find(series, f[1]) == series.end()) series.push_back(f[1]);
            if (std::ranges::find(pcts, pct) == pcts.end()) pcts.push_back(pct);
            result[{f[1], pct}] = std::stod(f[5]);
        }
    }
    std::ranges::sort(pcts);
    if (!csv_out.empty()) {
        std::ofstream out(csv_out);
        out << header << "\n";
        for (const auto& r : rows) out << r << "\n";
    }
    const bool ok = printTable(mode, series, pcts, result);
    if (!png.empty())
        plot(png, series, pcts, result,
             fmt::format("prefix hit ratio, Mooncake conversation trace ({})", mode));
    return ok ? 0 : 1;
}

int usage() {
    std::cerr << "usage: trace_replay [--trace FILE] [--label NAME] [--slice N] [--inprocess]\n"
                 "                    [--mount POOLDIR]\n"
                 "                    [--policies a,b,c@hint] [--capacities 1,2,5,10,25]\n"
                 "                    [--csv FILE] [--png FILE] [--check]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string trace_path = "/work/shared/traces/mooncake-conversation.jsonl";
    std::string mount_dir, csv_path, png_path, from_csv, label;
    std::string policies = "lru,lfu,fifo,sieve,s3fifo,lru+admit,kvadapt,kvadapt@hint";
    std::string capacities = "1,2,5,10,25";
    size_t slice = 0;
    bool inprocess = false, check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--trace")
            trace_path = value();
        else if (a == "--slice")
            slice = std::stoul(value());
        else if (a == "--mount")
            mount_dir = value();
        else if (a == "--inprocess")
            inprocess = true;
        else if (a == "--policies")
            policies = value();
        else if (a == "--capacities")
            capacities = value();
        else if (a == "--csv")
            csv_path = value();
        else if (a == "--png")
            png_path = value();
        else if (a == "--check")
            check = true;
        else if (a == "--label")
            label = value();
        else if (a == "--from-csv")
            from_csv = value();
        else
            return usage();
    }
    if (!from_csv.empty()) return fromCsv(from_csv, csv_path, png_path);
    if (!inprocess && mount_dir.empty()) return usage();

    const auto trace = loadTrace(trace_path, slice);
    const auto next = nextUses(trace);
    std::unordered_set<uint64_t> distinct;
    uint64_t refs = 0;
    for (const auto& r : trace) {
        refs += r.chain.size();
        distinct.insert(r.chain.begin(), r.chain.end());
    }
    // Both back ends: every run goes through each, and their answers must be identical.
    std::vector<std::pair<std::string, std::unique_ptr<Backend>>> backends;
    if (!mount_dir.empty())
        backends.emplace_back("mount", std::make_unique<MountBackend>(mount_dir));
    if (inprocess) backends.emplace_back("inprocess", std::make_unique<InProcessBackend>());
    const std::string mode = backends.front().first;
    std::cout << fmt::format(
        "trace {}: {} requests, {} block references, {} distinct blocks; "
        "back end: {}\n",
        trace_path, trace.size(), refs, distinct.size(),
        backends.size() > 1 ? "mount and inprocess" : mode);

    std::vector<std::string> series = {"belady"};
    for (const auto& p : split(policies)) series.push_back(p);
    std::vector<double> pcts;
    for (const auto& c : split(capacities)) pcts.push_back(std::stod(c));

    std::ofstream csv;
    if (!csv_path.empty()) {
        csv.open(csv_path);
        csv << "mode,policy,capacity_pct,capacity_blocks,blocks_requested,prefix_hit_ratio,"
               "prefix_blocks_hit,pool_prefix_hit_ratio,write_errors,seconds,trace\n";
    }
    const std::string trace_name =
        label.empty() ? trace_path.substr(trace_path.find_last_of('/') + 1) : label;
    std::map<std::string, Results> result;  // by back end
    bool ok = true;
    size_t differ = 0;
    for (double pct : pcts) {
        const auto blocks = static_cast<uint64_t>(double(distinct.size()) * pct / 100.0 + 0.5);
        for (const auto& s : series) {
            std::optional<uint64_t> first_digest;
            for (auto& [bmode, backend] : backends) {
                Totals t;
                if (s == "belady") {
                    if (first_digest) break;  // offline: one computation
                    const auto start = std::chrono::steady_clock::now();
                    t = belady(trace, next, blocks);
                    t.seconds =
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                            .count();
                } else {
                    const size_t at = s.find('@');
                    const std::string policy = s.substr(0, at);
                    const bool hints = at != std::string::npos && s.substr(at) == "@hint";
                    if (at != std::string::npos && !hints)
                        throw std::runtime_error("unknown variant " + s);
                    t = replay(*backend, trace, next, policy, blocks, hints);
                }
                result[bmode][{s, pct}] = t.ratio();
                std::cerr << fmt::format("{:>5}% {:>7} blocks  {:<16} {:.4f}  ({:.1f} s, {})\n",
                                         pct, blocks, s, t.ratio(), t.seconds, bmode);
                if (csv.is_open())
                    csv << fmt::format(
                        "{},{},{},{},{},{:.6f},{},{},{},{:.2f},{}\n", bmode, s, pct, blocks,
                        t.requested, t.ratio(), t.leading,
                        t.pool_ratio < 0 ? std::string() : fmt::format("{:.6f}", t.pool_ratio),
                        t.write_errors, t.seconds, trace_name);
                if (!(t.ratio() >= 0 && t.ratio() <= 1)) ok = false;
                if (t.pool_ratio >= 0 && std::abs(t.pool_ratio - t.ratio()) > 1e-9) {
                    std::cerr << s << ": the pool's prefix_hit_ratio " << t.pool_ratio
                              << " differs from the replay's count\n";
                    ok = false;
                }
                if (s == "belady") break;
                if (!first_digest) {
                    first_digest = t.digest;
                } else if (*first_digest != t.digest) {
                    std::cerr << fmt::format(
                        "{} at {}%: the pool answered differently in process and through the "
                        "mount ({:.6f} and {:.6f})\n",
                        s, pct, result[backends.front().first][{s, pct}], t.ratio());
                    ++differ;
                    ok = false;
                }
            }
        }
    }
    if (csv.is_open()) csv.close();

    const bool tiers = backends.front().second->lowerTiers();
    if (tiers)
        std::cout << "\n(the pool has lower tiers: belady is for the pool's capacity alone)\n";
    for (auto& [bmode, backend] : backends) {
        auto& res = result[bmode];
        if (bmode != mode)
            for (const double pct : pcts) res[{"belady", pct}] = result[mode][{"belady", pct}];
        if (!printTable(bmode, series, pcts, res, !tiers)) ok = false;
    }
    if (backends.size() > 1)
        std::cout << fmt::format(
            "\nin process and through the mount: {}\n",
            differ ? fmt::format("{} runs answered differently", differ)
                   : std::string("every run answered identically (same leading runs, same "
                                 "cached blocks, request by request)"));
    if (!png_path.empty())
        plot(png_path, series, pcts, result[mode],
             fmt::format("prefix hit ratio, {} requests, {} ({})", trace.size(), mode, trace_name));
    if (check && !ok) {
        std::cerr << "check failed\n";
        return 1;
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "trace_replay: " << e.what() << "\n";
    return 1;
}
