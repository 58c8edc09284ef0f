// kv_workload_gen: writes a synthetic LLM serving trace of KV block chains in the Mooncake JSONL
// format (/work/shared/traces/README.md): one request per line,
//   {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [...]}
// where hash_ids is the prompt as a chain of prefix block hashes, 512 tokens per block
// (len(hash_ids) == ceil(input_length / 512)), so trace_replay replays it like the real trace.
//
// A prompt is a sequence of segments (a system prompt, a document, a user message, a model
// output, a tool output), each with its own content id and a token count. Block i's hash covers
// every token of the prompt up to the end of block i: two prompts share block i exactly when
// their first 512·(i+1) tokens are the same segments (the last, partial block included, so a
// conversation's next turn does not reuse the previous prompt's partial last block, as in real
// prefix caches). Hashes are numbered 1, 2, ... in order of first appearance.
//
// Families (docs/LLM_CACHING.md, "The workload suite", has the model and the sources):
//   chat    multi-turn chat: sessions with a varying number of turns and think times between
//   agent   tool/agent loops: a long shared system prompt and tool schema, many short steps
//           appending a tool call and the tool's output
//   fewshot shared few-shot/system prompt templates across many users, each with a unique tail
//   rag     retrieval-augmented prompts: shared documents in varying combinations and orders
//   scan    chat with one-off prompts (never reused) mixed in, in batches
// Every family has parameters with defaults (--list prints them); --set NAME=VALUE changes one.
// The output depends only on the family, the parameters, --requests and --seed: the random
// numbers are drawn by this file's own generator and distributions, not <random>'s, whose
// distributions differ between standard libraries.
//
// Usage: kv_workload_gen --family F [--requests N] [--seed S] [--set NAME=VALUE ...] [--out FILE]
//        kv_workload_gen --list
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr uint32_t kBlockTokens = 512;

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t combine(uint64_t a, uint64_t b) {
    return mix(a ^ mix(b + 0x632be59bd9b4e019ULL));
}

class Rng {
  public:
    explicit Rng(uint64_t seed) : s_(mix(seed)) {}
    uint64_t next() { return mix(s_++); }
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
    double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }
    double normal() {  // Box-Muller
        const double u = 1.0 - uniform(), v = uniform();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
    }
    double lognormal(double median, double sigma) { return median * std::exp(sigma * normal()); }
    // 1 + a geometric count with mean `mean` (>= 1), at most `max`.
    uint32_t count(double mean, uint32_t max) {
        const double p = 1.0 / std::max(mean, 1.0);
        uint32_t n = 1;
        while (n < max && uniform() >= p) ++n;
        return n;
    }
    bool chance(double p) { return uniform() < p; }

  private:
    uint64_t s_;
};

// Zipf(s) over ranks 0..n-1.
class Zipf {
  public:
    Zipf(size_t n, double s) : cdf_(std::max<size_t>(n, 1)) {
        double sum = 0;
        for (size_t k = 0; k < cdf_.size(); ++k) cdf_[k] = sum += 1.0 / std::pow(double(k + 1), s);
        for (double& c : cdf_) c /= sum;
    }
    size_t draw(Rng& rng) const {
        const double u = rng.uniform();
        return size_t(std::upper_bound(cdf_.begin(), cdf_.end() - 1, u) - cdf_.begin());
    }

  private:
    std::vector<double> cdf_;
};

struct Segment {
    uint64_t content;  // what the tokens are: equal contents are equal tokens
    uint32_t tokens;
};
using Prompt = std::vector<Segment>;

uint32_t tokensOf(const Prompt& p) {
    uint64_t n = 0;
    for (const Segment& s : p) n += s.tokens;
    return uint32_t(std::min<uint64_t>(n, UINT32_MAX));
}

// Turns prompts into chains of block ids: block i's id names the first 512·(i+1) tokens.
class Chains {
  public:
    std::vector<uint64_t> of(const Prompt& p) {
        std::vector<uint64_t> chain;
        uint64_t h = 0x4b56'6361'6368'6546ULL;  // any start value
        uint32_t in_block = 0;
        for (const Segment& s : p) {
            uint32_t off = 0;
            while (off < s.tokens) {
                const uint32_t take = std::min(s.tokens - off, kBlockTokens - in_block);
                h = combine(combine(h, s.content), (uint64_t(off) << 32) | take);
                off += take;
                in_block += take;
                if (in_block == kBlockTokens) {
                    chain.push_back(id(h));
                    in_block = 0;
                }
            }
        }
        if (in_block) chain.push_back(id(h));
        return chain;
    }
    size_t distinct() const { return ids_.size(); }

  private:
    uint64_t id(uint64_t h) { return ids_.try_emplace(h, ids_.size() + 1).first->second; }
    std::unordered_map<uint64_t, uint64_t> ids_;
};

// A family's parameters: name -> value, with a line on each.
struct Param {
    double value;
    std::string doc;
};
using Params = std::map<std::string, Param>;

// Content ids: a kind and two numbers, so that different things never share tokens.
enum Kind : uint64_t {
    kSystem = 1,
    kUser,
    kOutput,
    kToolCall,
    kToolOutput,
    kTemplate,
    kTail,
    kDocument,
    kQuestion,
    kOneOff
};
uint64_t content(Kind kind, uint64_t a, uint64_t b = 0) {
    return combine(combine(kind, a), b);
}

uint32_t tokens(double x) {
    return uint32_t(std::clamp(x, 1.0, 1e6));
}

struct Request {
    double at_s;
    Prompt prompt;
    uint32_t output;
};

// The simulation: actors (a session, a task) emit requests at event times. An actor's step
// emits one request and returns the delay to its next (negative: it is done).
class Simulation {
  public:
    using Step = std::function<double(double now, std::vector<Request>& out)>;
    void at(double t, Step step) { events_.push({t, seq_++, std::move(step)}); }
    // Runs until `limit` requests are out; they come in time order.
    std::vector<Request> run(size_t limit) {
        std::vector<Request> out;
        while (!events_.empty() && out.size() < limit) {
            Event e = events_.top();
            events_.pop();
            const double delay = e.step(e.t, out);
            if (delay >= 0) events_.push({e.t + delay, seq_++, std::move(e.step)});
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const Request& a, const Request& b) { return a.at_s < b.at_s; });
        if (out.size() > limit) out.resize(limit);
        return out;
    }

  private:
    struct Event {
        double t;
        uint64_t seq;
        Step step;
        bool operator<(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
    };
    std::priority_queue<Event> events_;
    uint64_t seq_ = 0;
};

class Generator {
  public:
    Generator(Params p, uint64_t seed) : p_(std::move(p)), rng_(seed) {}
    double v(const std::string& name) const { return p_.at(name).value; }
    Rng& rng() { return rng_; }
    uint64_t fresh() { return ++unique_; }
    Simulation sim;

    // One-off prompts (never reused), in batches arriving as a Poisson stream: a batch job's
    // prompts, a crawler, a benchmark run. Off when scan_rate is 0.
    void scans() {
        if (v("scan_rate") <= 0) return;
        sim.at(rng_.exponential(1.0 / v("scan_rate")), [this](double now, auto& out) {
            const uint32_t n = rng_.count(v("scan_batch"), 10000);
            for (uint32_t i = 0; i < n; ++i)
                out.push_back({now + i * 0.05,
                               {{content(kOneOff, fresh()),
                                 tokens(rng_.lognormal(v("scan_tokens"), v("scan_sigma")))}},
                               tokens(rng_.lognormal(v("output_tokens"), 0.7))});
            return rng_.exponential(1.0 / v("scan_rate"));
        });
    }

  private:
    Params p_;
    Rng rng_;
    uint64_t unique_ = 0;
};

Params common() {
    return {
        {"output_tokens", {250, "median tokens a model answer has (lognormal, sigma 0.7)"}},
        {"scan_rate", {0, "batches of one-off prompts per second (0: none)"}},
        {"scan_batch", {20, "mean one-off prompts per batch (geometric)"}},
        {"scan_tokens", {3000, "median tokens of a one-off prompt (lognormal)"}},
        {"scan_sigma", {1.0, "sigma of the one-off prompt length"}},
    };
}

Params with(Params base, Params extra) {
    for (auto& [k, v] : extra) base[k] = v;
    return base;
}

// Multi-turn chat: sessions arrive as a Poisson stream; each picks a system prompt (Zipf over a
// few), has a geometric number of turns, a long first message (pasted context) and short
// follow-ups; the next turn's prompt is the previous prompt + the answer + the new message,
// after the answer's generation time and a lognormal think time.
Params chatParams() {
    return with(common(),
                {{"session_rate", {0.5, "new sessions per second (Poisson)"}},
                 {"system_prompts", {20, "distinct system prompts"}},
                 {"system_zipf", {1.0, "Zipf exponent of the system prompts' popularity"}},
                 {"system_tokens", {800, "median tokens of a system prompt (lognormal, 0.6)"}},
                 {"turns", {4, "mean turns per session (geometric, at least 1)"}},
                 {"max_turns", {40, "most turns a session has"}},
                 {"first_tokens", {1200, "median tokens of a session's first message (sigma 1)"}},
                 {"message_tokens", {120, "median tokens of a later message (sigma 0.8)"}},
                 {"think_s", {40, "median seconds between an answer and the next message"}},
                 {"think_sigma", {1.0, "sigma of the think time (lognormal)"}},
                 {"decode_tps", {40, "tokens per second an answer is generated at"}}});
}

void chat(Generator& g) {
    auto& r = g.rng();
    std::vector<uint32_t> sys_len;
    for (int i = 0; i < int(g.v("system_prompts")); ++i)
        sys_len.push_back(tokens(r.lognormal(g.v("system_tokens"), 0.6)));
    auto sys = std::make_shared<Zipf>(sys_len.size(), g.v("system_zipf"));
    g.sim.at(0, [&g, sys, sys_len](double now, auto&) {
        auto& r = g.rng();
        const uint64_t session = g.fresh();
        const size_t s = sys->draw(r);
        auto prompt = std::make_shared<Prompt>(Prompt{{content(kSystem, s), sys_len[s]}});
        prompt->push_back(
            {content(kUser, session, 0), tokens(r.lognormal(g.v("first_tokens"), 1.0))});
        auto left = std::make_shared<uint32_t>(r.count(g.v("turns"), uint32_t(g.v("max_turns"))));
        auto turn = std::make_shared<uint64_t>(0);
        g.sim.at(now, [&g, prompt, left, turn, session](double t, auto& out) {
            auto& r = g.rng();
            const uint32_t answer = tokens(r.lognormal(g.v("output_tokens"), 0.7));
            out.push_back({t, *prompt, answer});
            if (--*left == 0) return -1.0;
            ++*turn;
            prompt->push_back({content(kOutput, session, *turn), answer});
            prompt->push_back(
                {content(kUser, session, *turn), tokens(r.lognormal(g.v("message_tokens"), 0.8))});
            return answer / g.v("decode_tps") + r.lognormal(g.v("think_s"), g.v("think_sigma"));
        });
        return r.exponential(1.0 / g.v("session_rate"));
    });
    g.scans();
}

// Tool/agent loops: tasks arrive as a Poisson stream; each runs on one of a few agents (Zipf),
// whose prompt starts with a long system prompt and tool schema shared by all its tasks; then
// the task's instruction; each step appends the model's tool call and the tool's output, and
// the next step follows after the tool's latency.
Params agentParams() {
    return with(common(),
                {{"task_rate", {0.25, "new tasks per second (Poisson)"}},
                 {"agents", {10, "distinct agents (system prompt + tool schema)"}},
                 {"agent_zipf", {1.2, "Zipf exponent of the agents' popularity"}},
                 {"agent_tokens", {6000, "median tokens of an agent's prefix (lognormal, 0.4)"}},
                 {"task_tokens", {300, "median tokens of a task's instruction (sigma 0.8)"}},
                 {"steps", {12, "mean steps (requests) per task (geometric)"}},
                 {"max_steps", {80, "most steps a task has"}},
                 {"call_tokens", {80, "median tokens of a tool call (sigma 0.5)"}},
                 {"tool_tokens", {400, "median tokens of a tool's output"}},
                 {"tool_sigma", {1.2, "sigma of the tool output length (lognormal)"}},
                 {"tool_s", {2, "median seconds a tool takes (lognormal, sigma 1)"}}});
}

void agent(Generator& g) {
    auto& r = g.rng();
    std::vector<uint32_t> prefix;
    for (int i = 0; i < int(g.v("agents")); ++i)
        prefix.push_back(tokens(r.lognormal(g.v("agent_tokens"), 0.4)));
    auto pick = std::make_shared<Zipf>(prefix.size(), g.v("agent_zipf"));
    g.sim.at(0, [&g, pick, prefix](double now, auto&) {
        auto& r = g.rng();
        const uint64_t task = g.fresh();
        const size_t a = pick->draw(r);
        auto prompt = std::make_shared<Prompt>(Prompt{{content(kSystem, a), prefix[a]}});
        prompt->push_back({content(kUser, task), tokens(r.lognormal(g.v("task_tokens"), 0.8))});
        auto left = std::make_shared<uint32_t>(r.count(g.v("steps"), uint32_t(g.v("max_steps"))));
        auto step = std::make_shared<uint64_t>(0);
        g.sim.at(now, [&g, prompt, left, step, task](double t, auto& out) {
            auto& r = g.rng();
            const uint32_t call = tokens(r.lognormal(g.v("call_tokens"), 0.5));
            out.push_back({t, *prompt, call});
            if (--*left == 0) return -1.0;
            ++*step;
            prompt->push_back({content(kToolCall, task, *step), call});
            prompt->push_back({content(kToolOutput, task, *step),
                               tokens(r.lognormal(g.v("tool_tokens"), g.v("tool_sigma")))});
            return r.lognormal(g.v("tool_s"), 1.0);
        });
        return r.exponential(1.0 / g.v("task_rate"));
    });
    g.scans();
}

// Shared few-shot/system prompt templates: requests arrive as a Poisson stream; each uses a
// template (Zipf, the ranking drifting: every drift_s seconds a share of the ranks is
// reshuffled, as applications come and go) followed by a unique tail (the user's input);
// a share of them get one follow-up turn.
Params fewshotParams() {
    return with(common(),
                {{"request_rate", {4, "requests per second (Poisson)"}},
                 {"templates", {300, "distinct templates"}},
                 {"template_zipf", {1.0, "Zipf exponent of the templates' popularity"}},
                 {"template_tokens", {2500, "median tokens of a template (lognormal, 0.7)"}},
                 {"tail_tokens", {300, "median tokens of a user's unique tail (sigma 1)"}},
                 {"followup", {0.15, "share of requests with one follow-up turn"}},
                 {"think_s", {30, "median seconds before the follow-up (lognormal, 1)"}},
                 {"drift_s", {300, "seconds between reshuffles of the popularity ranking"}},
                 {"drift_share", {0.2, "share of ranks reshuffled each time"}}});
}

void fewshot(Generator& g) {
    auto& r = g.rng();
    auto len = std::make_shared<std::vector<uint32_t>>();
    for (int i = 0; i < int(g.v("templates")); ++i)
        len->push_back(tokens(r.lognormal(g.v("template_tokens"), 0.7)));
    auto rank = std::make_shared<std::vector<size_t>>(len->size());  // rank -> template
    std::iota(rank->begin(), rank->end(), 0);
    auto pick = std::make_shared<Zipf>(len->size(), g.v("template_zipf"));
    if (g.v("drift_s") > 0)
        g.sim.at(g.v("drift_s"), [&g, rank](double, auto&) {
            auto& r = g.rng();
            const size_t n = size_t(double(rank->size()) * g.v("drift_share"));
            for (size_t i = 0; i < n; ++i)
                std::swap((*rank)[r.below(rank->size())], (*rank)[r.below(rank->size())]);
            return g.v("drift_s");
        });
    g.sim.at(0, [&g, len, rank, pick](double now, auto& out) {
        auto& r = g.rng();
        const size_t t = (*rank)[pick->draw(r)];
        const uint64_t user = g.fresh();
        Prompt p{{content(kTemplate, t), (*len)[t]},
                 {content(kTail, user), tokens(r.lognormal(g.v("tail_tokens"), 1.0))}};
        const uint32_t answer = tokens(r.lognormal(g.v("output_tokens"), 0.7));
        out.push_back({now, p, answer});
        if (r.chance(g.v("followup"))) {
            p.push_back({content(kOutput, user), answer});
            p.push_back({content(kUser, user), tokens(r.lognormal(120, 0.8))});
            const double later = now + r.lognormal(g.v("think_s"), 1.0);
            g.sim.at(later, [p, &g](double t, auto& out) {
                out.push_back({t, p, tokens(g.rng().lognormal(g.v("output_tokens"), 0.7))});
                return -1.0;
            });
        }
        return r.exponential(1.0 / g.v("request_rate"));
    });
    g.scans();
}

// Retrieval-augmented prompts: a shared system prompt, then k retrieved documents, then the
// question. Documents belong to topics; a query picks a topic (Zipf) and retrieves k documents
// of it, ranked by their popularity within the topic plus noise, so the same documents come in
// varying combinations and orders. A share of queries get a follow-up question on the same
// documents.
Params ragParams() {
    return with(common(),
                {{"request_rate", {3, "queries per second (Poisson)"}},
                 {"topics", {200, "topics"}},
                 {"topic_zipf", {0.9, "Zipf exponent of the topics' popularity"}},
                 {"topic_docs", {30, "documents per topic"}},
                 {"doc_zipf", {1.0, "Zipf exponent of a document's popularity in its topic"}},
                 {"doc_tokens", {600, "median tokens of a document (lognormal, 0.5)"}},
                 {"k", {5, "documents per query"}},
                 {"rank_noise", {1.5, "noise on the retrieval ranking (in ranks)"}},
                 {"system_tokens", {600, "tokens of the shared system prompt"}},
                 {"question_tokens", {60, "median tokens of a question (sigma 0.8)"}},
                 {"followup", {0.3, "share of queries with a follow-up question"}},
                 {"think_s", {20, "median seconds before the follow-up (lognormal, 1)"}}});
}

void rag(Generator& g) {
    auto& r = g.rng();
    const size_t topics = size_t(g.v("topics")), per = size_t(g.v("topic_docs"));
    auto len = std::make_shared<std::vector<uint32_t>>();
    for (size_t i = 0; i < topics * per; ++i)
        len->push_back(tokens(r.lognormal(g.v("doc_tokens"), 0.5)));
    auto topic = std::make_shared<Zipf>(topics, g.v("topic_zipf"));
    auto doc = std::make_shared<Zipf>(per, g.v("doc_zipf"));
    g.sim.at(0, [&g, len, topic, doc, per](double now, auto& out) {
        auto& r = g.rng();
        const size_t t = topic->draw(r);
        // k distinct documents of the topic, by popularity, ordered by rank + noise.
        std::vector<std::pair<double, size_t>> picked;
        const size_t k = std::min<size_t>(size_t(g.v("k")), per);
        for (size_t tries = 0; picked.size() < k && tries < 100 * k; ++tries) {
            const size_t d = doc->draw(r);
            if (std::ranges::any_of(picked, [&](auto& x) { return x.second == d; })) continue;
            picked.push_back({double(d) + g.v("rank_noise") * r.normal(), d});
        }
        std::ranges::sort(picked);
        const uint64_t query = g.fresh();
        Prompt p{{content(kSystem, 0), tokens(g.v("system_tokens"))}};
        for (auto& [score, d] : picked)
            p.push_back({content(kDocument, t * per + d), (*len)[t * per + d]});
        p.push_back({content(kQuestion, query), tokens(r.lognormal(g.v("question_tokens"), 0.8))});
        const uint32_t answer = tokens(r.lognormal(g.v("output_tokens"), 0.7));
        out.push_back({now, p, answer});
        if (r.chance(g.v("followup"))) {
            p.push_back({content(kOutput, query), answer});
            p.push_back(
                {content(kQuestion, query, 1), tokens(r.lognormal(g.v("question_tokens"), 0.8))});
            g.sim.at(now + r.lognormal(g.v("think_s"), 1.0), [p, &g](double at, auto& out) {
                out.push_back({at, p, tokens(g.rng().lognormal(g.v("output_tokens"), 0.7))});
                return -1.0;
            });
        }
        return r.exponential(1.0 / g.v("request_rate"));
    });
    g.scans();
}

// Chat with one-off prompts mixed in: the chat family with scans on (about half the requests).
Params scanParams() {
    Params p = chatParams();
    p["scan_rate"].value = 0.025;
    return p;
}

struct Family {
    std::string name;
    std::function<Params()> params;
    std::function<void(Generator&)> build;
};

const std::vector<Family>& families() {
    static const std::vector<Family> all = {{"chat", chatParams, chat},
                                            {"agent", agentParams, agent},
                                            {"fewshot", fewshotParams, fewshot},
                                            {"rag", ragParams, rag},
                                            {"scan", scanParams, chat}};
    return all;
}

int usage() {
    std::cerr << "usage: kv_workload_gen --family F [--requests N] [--seed S] "
                 "[--set NAME=VALUE ...] [--out FILE]\n"
                 "       kv_workload_gen --list\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) try {
    std::string family, out_path;
    size_t requests = 4000;
    uint64_t seed = 1;
    std::vector<std::pair<std::string, double>> sets;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--family") {
            family = value();
        } else if (a == "--requests") {
            requests = std::stoul(value());
        } else if (a == "--seed") {
            seed = std::stoull(value());
        } else if (a == "--out") {
            out_path = value();
        } else if (a == "--set") {
            const std::string kv = value();
            const size_t eq = kv.find('=');
            if (eq == std::string::npos) throw std::runtime_error("--set wants NAME=VALUE");
            sets.emplace_back(kv.substr(0, eq), std::stod(kv.substr(eq + 1)));
        } else if (a == "--list") {
            for (const Family& f : families()) {
                std::cout << f.name << "\n";
                for (const auto& [k, p] : f.params())
                    std::cout << "  " << k << " = " << p.value << "\t" << p.doc << "\n";
            }
            return 0;
        } else {
            return usage();
        }
    }
    auto f = std::ranges::find(families(), family, &Family::name);
    if (f == families().end()) return usage();
    Params params = f->params();
    for (const auto& [k, v] : sets) {
        auto it = params.find(k);
        if (it == params.end())
            throw std::runtime_error("family " + family + " has no parameter " + k);
        it->second.value = v;
    }
    Generator g(params, seed);
    f->build(g);
    const std::vector<Request> reqs = g.sim.run(requests);

    std::ofstream file;
    if (!out_path.empty()) {
        file.open(out_path);
        if (!file) throw std::runtime_error("cannot write " + out_path);
    }
    std::ostream& out = out_path.empty() ? std::cout : file;
    Chains chains;
    uint64_t refs = 0;
    std::string line;
    for (const Request& q : reqs) {
        const auto chain = chains.of(q.prompt);
        refs += chain.size();
        line = "{\"timestamp\": " + std::to_string(uint64_t(q.at_s * 1000)) +
               ", \"input_length\": " + std::to_string(tokensOf(q.prompt)) +
               ", \"output_length\": " + std::to_string(q.output) + ", \"hash_ids\": [";
        for (size_t i = 0; i < chain.size(); ++i) {
            if (i) line += ", ";
            line += std::to_string(chain[i]);
        }
        line += "]}\n";
        out << line;
    }
    out.flush();
    if (!out) throw std::runtime_error("write failed");
    std::cerr << "kv_workload_gen: " << family << " seed " << seed << ": " << reqs.size()
              << " requests, " << refs << " block references, " << chains.distinct()
              << " distinct blocks\n";
    return 0;
} catch (const std::exception& e) {
    std::cerr << "kv_workload_gen: " << e.what() << "\n";
    return 1;
}
