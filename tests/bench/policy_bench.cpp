// Per-operation cost of every eviction policy at 10^4, 10^5 and 10^6 candidates, to show it stays
// roughly flat as a pool grows (the O(1)/O(log n) promise of EvictionPolicy).
//
// Each benchmark fills a policy with N candidates outside the timed loop, then times a steady
// state in which the candidate count stays N:
//   Mix       one hit on a random candidate, then pickVictim() and the write (observeWrite())
//             and insert() of a new entry
//             (what a full pool does per write of a new block); time is per round of 3 calls.
//   Hit       access() of a random candidate only (the read path).
//   Reinsert  remove() of a random candidate and insert() of it again with an older history
//             (pin/unpin, a parent becoming a leaf again); time is per remove+insert pair.
// Run: policy_bench --benchmark_min_time=0.05 (add --benchmark_filter=lru to pick one policy)
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/policy/eviction_policy.h"

namespace kvc {
namespace {

// Candidate ids are (generation << 32 | slot): the victim's slot is refilled by the next
// generation, so the harness finds "a random live candidate" in O(1) without a hash map of its
// own distorting the measurement.
constexpr int kSlotBits = 32;
constexpr uint64_t kSlotMask = (uint64_t{1} << kSlotBits) - 1;

struct Harness {
    std::unique_ptr<EvictionPolicy> policy;
    std::vector<EntryId> live;  // live[slot] = the id currently in that slot
    std::mt19937_64 rng{42};
    uint64_t clock = 1;

    Harness(const std::string& name, size_t n) : policy(makePolicy(name)), live(n) {
        for (size_t slot = 0; slot < n; ++slot) {
            live[slot] = slot;
            write(slot);
        }
        // Some history: 0.3 N hits at random, so about a quarter of the candidates were read.
        for (size_t i = 0; i < n / 10 * 3; ++i) policy->access(randomLive(), clock++);
    }

    // Tearing down 10^6 entries frees millions of small nodes; glibc parks them in its fast
    // bins and consolidates them later, inside whichever allocation triggers it. Hand the memory
    // back here, outside any timed loop, so one case's teardown is never billed to the next (an
    // earlier design showed a 70 ms insert, then milliseconds per call, right after a case).
    ~Harness() {
        policy.reset();
        live = {};
        malloc_trim(0);
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    AccessInfo infoFor(EntryId id) {
        AccessInfo info;
        info.key_hash = id * 0x9E3779B97F4A7C15ull;  // distinct names, distinct hashes
        info.last_access = info.inserted_at = clock++;
        info.priority = static_cast<int32_t>(id % 4);
        return info;
    }

    EntryId randomLive() { return live[rng() % live.size()]; }
    // A new entry as the pool reports it: its committed write, then its insert.
    void write(EntryId id) {
        const AccessInfo info = infoFor(id);
        policy->observeWrite(info);
        policy->insert(id, info);
    }
};

void BM_Mix(benchmark::State& state, const std::string& name) {
    Harness h(name, static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        h.policy->access(h.randomLive(), h.clock++);
        const EntryId victim = *h.policy->pickVictim();
        const EntryId fresh = victim + (uint64_t{1} << kSlotBits);
        h.live[victim & kSlotMask] = fresh;
        h.write(fresh);
    }
    state.SetItemsProcessed(state.iterations() * 3);
}

void BM_Hit(benchmark::State& state, const std::string& name) {
    Harness h(name, static_cast<size_t>(state.range(0)));
    for (auto _ : state) h.policy->access(h.randomLive(), h.clock++);
    state.SetItemsProcessed(state.iterations());
}

void BM_Reinsert(benchmark::State& state, const std::string& name) {
    Harness h(name, static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        const EntryId id = h.randomLive();
        h.policy->remove(id);
        AccessInfo info = h.infoFor(id);
        info.last_access = h.clock - 1 - h.rng() % h.clock;  // somewhere in the past
        info.inserted_at = info.last_access;
        info.access_count = static_cast<uint32_t>(h.rng() % 8);
        h.policy->insert(id, info);
    }
    state.SetItemsProcessed(state.iterations() * 2);
}

void registerAll() {
    for (const std::string& name : policyNames()) {
        for (auto [label, fn] : {std::pair{"Mix", &BM_Mix}, std::pair{"Hit", &BM_Hit},
                                 std::pair{"Reinsert", &BM_Reinsert}}) {
            benchmark::RegisterBenchmark((std::string(label) + "/" + name).c_str(), fn, name)
                ->RangeMultiplier(10)
                ->Range(10'000, 1'000'000);
        }
    }
}

}  // namespace
}  // namespace kvc

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    kvc::registerAll();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
