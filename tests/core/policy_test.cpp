// Tests of the eviction policies: one conformance suite that every name in policyNames() must
// pass (the interface's contract), then each policy's victim order on hand-worked histories, and
// randomised comparisons against simple reference models (brute force, O(n) per step).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/policy/eviction_policy.h"
#include "core/policy/ordered_candidates.h"

namespace kvc {
namespace {

AccessInfo history(uint64_t last_access, uint32_t access_count = 0, int32_t priority = 0,
                   uint64_t inserted_at = 0, uint64_t key_hash = 0) {
    AccessInfo info;
    info.key_hash = key_hash;
    info.last_access = last_access;
    info.inserted_at = inserted_at == 0 ? last_access : inserted_at;
    info.access_count = access_count;
    info.priority = priority;
    return info;
}

// Inserts ids with the clock equal to the id: entry n was created and last used at time n.
void insertInOrder(EvictionPolicy& p, std::initializer_list<EntryId> ids) {
    for (EntryId id : ids) p.insert(id, history(id, 0, 0, id, 1000 + id));
}

std::vector<EntryId> drain(EvictionPolicy& p) {
    std::vector<EntryId> victims;
    while (auto v = p.pickVictim()) {
        victims.push_back(*v);
        p.verify();
    }
    return victims;
}

using Ids = std::vector<EntryId>;

// ---------------------------------------------------------------------------------------------
// Registry

TEST(PolicyRegistry, ListsThePoliciesInHelpOrder) {
    EXPECT_EQ(policyNames(), (std::vector<std::string>{"lru", "lfu", "fifo", "priority", "sieve",
                                                       "s3fifo", "lru+admit", "kvadapt"}));
}

TEST(PolicyRegistry, NamesAreCaseInsensitive) {
    for (const char* spelling : {"LRU", "Lfu", "fIFo", "PRIORITY", "Sieve", "S3FIFO"}) {
        auto p = makePolicy(spelling);
        ASSERT_NE(p, nullptr) << spelling;
        std::string lower(spelling);
        std::ranges::transform(lower, lower.begin(),
                               [](unsigned char c) { return std::tolower(c); });
        EXPECT_EQ(p->name(), lower);
    }
}

TEST(PolicyRegistry, UnknownNamesGiveNullptr) {
    for (const char* name : {"", "lru ", " lru", "lr", "lruu", "arc", "s3-fifo", "random"})
        EXPECT_EQ(makePolicy(name), nullptr) << '"' << name << '"';
}

// ---------------------------------------------------------------------------------------------
// Conformance: the contract of EvictionPolicy, for every registered policy.

class PolicyConformance : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        policy_ = makePolicy(GetParam());
        ASSERT_NE(policy_, nullptr);
    }
    EvictionPolicy& p() { return *policy_; }

  private:
    std::unique_ptr<EvictionPolicy> policy_;
};

TEST_P(PolicyConformance, NameMatchesRegistry) {
    EXPECT_EQ(p().name(), GetParam());
}

TEST_P(PolicyConformance, EmptyPolicyHasNoVictim) {
    EXPECT_EQ(p().size(), 0u);
    EXPECT_FALSE(p().contains(1));
    EXPECT_EQ(p().pickVictim(), std::nullopt);
    EXPECT_NO_THROW(p().verify());
}

TEST_P(PolicyConformance, InsertMakesCandidates) {
    insertInOrder(p(), {7, 3, 42});
    EXPECT_EQ(p().size(), 3u);
    EXPECT_TRUE(p().contains(7));
    EXPECT_TRUE(p().contains(3));
    EXPECT_TRUE(p().contains(42));
    EXPECT_FALSE(p().contains(4));
    EXPECT_NO_THROW(p().verify());
}

TEST_P(PolicyConformance, DuplicateInsertThrowsAndChangesNothing) {
    insertInOrder(p(), {1, 2});
    EXPECT_THROW(p().insert(1, history(9)), std::logic_error);
    EXPECT_EQ(p().size(), 2u);
    EXPECT_NO_THROW(p().verify());
    EXPECT_EQ(drain(p()).size(), 2u);
}

TEST_P(PolicyConformance, UnknownIdsAreIgnored) {
    insertInOrder(p(), {1, 2, 3});
    p().access(99, 100);
    p().setPriority(99, 5);
    p().remove(99);
    EXPECT_EQ(p().size(), 3u);
    EXPECT_FALSE(p().contains(99));
    EXPECT_NO_THROW(p().verify());
    Ids victims = drain(p());
    std::ranges::sort(victims);
    EXPECT_EQ(victims, (Ids{1, 2, 3}));
}

TEST_P(PolicyConformance, RemovedEntryIsNeverAVictim) {
    insertInOrder(p(), {1, 2, 3, 4});
    p().remove(1);
    p().remove(3);
    p().remove(3);  // a second remove is an unknown id now
    EXPECT_EQ(p().size(), 2u);
    EXPECT_FALSE(p().contains(1));
    EXPECT_FALSE(p().contains(3));
    EXPECT_NO_THROW(p().verify());
    Ids victims = drain(p());
    std::ranges::sort(victims);
    EXPECT_EQ(victims, (Ids{2, 4}));
}

TEST_P(PolicyConformance, PickVictimDrainsEveryEntryExactlyOnce) {
    std::mt19937_64 rng(7);
    std::set<EntryId> inserted;
    uint64_t clock = 1;
    for (EntryId id = 1; id <= 500; ++id) {
        const EntryId spread = id * 7919 % 100003;  // ids out of numeric order
        p().insert(spread,
                   history(clock++, rng() % 4, static_cast<int32_t>(rng() % 3), 0, rng() % 64));
        inserted.insert(spread);
    }
    for (int i = 0; i < 2000; ++i) {
        auto it = inserted.begin();
        std::advance(it, rng() % inserted.size());
        p().access(*it, clock++);
    }
    std::set<EntryId> seen;
    size_t expected_size = inserted.size();
    while (auto v = p().pickVictim()) {
        EXPECT_TRUE(inserted.contains(*v)) << *v << " was never inserted";
        EXPECT_TRUE(seen.insert(*v).second) << *v << " returned twice";
        EXPECT_FALSE(p().contains(*v));
        EXPECT_EQ(p().size(), --expected_size);
    }
    EXPECT_EQ(seen, inserted);
    EXPECT_EQ(p().pickVictim(), std::nullopt);
    EXPECT_NO_THROW(p().verify());
}

TEST_P(PolicyConformance, ReinsertAfterRemoveOrEviction) {
    insertInOrder(p(), {1, 2});
    p().remove(1);
    p().insert(1, history(10, 3, 0, 1, 1001));
    EXPECT_TRUE(p().contains(1));
    EXPECT_EQ(p().size(), 2u);
    EXPECT_NO_THROW(p().verify());

    auto victim = p().pickVictim();
    ASSERT_TRUE(victim);
    p().insert(*victim, history(11, 0, 0, 11, 2000));
    EXPECT_EQ(p().size(), 2u);
    EXPECT_NO_THROW(p().verify());
    Ids victims = drain(p());
    std::ranges::sort(victims);
    EXPECT_EQ(victims, (Ids{1, 2}));
}

// 10k random operations (fixed seed) against a shadow set of the candidates: size and
// membership must always agree, every victim must be a candidate, and verify() must pass.
TEST_P(PolicyConformance, RandomOperationsKeepInvariants) {
    std::mt19937_64 rng(20261128);
    std::set<EntryId> shadow;
    std::map<EntryId, AccessInfo> removed;  // history kept for re-inserts
    EntryId next_id = 1;
    uint64_t clock = 1;
    auto pickPresent = [&]() {
        auto it = shadow.begin();
        std::advance(it, rng() % shadow.size());
        return *it;
    };
    for (int op = 0; op < 10000; ++op) {
        const unsigned kind = rng() % 100;
        if (kind < 30 || shadow.empty()) {  // new entry; small hash range makes ghost hits
            AccessInfo info =
                history(clock, 0, static_cast<int32_t>(rng() % 5) - 2, clock, rng() % 200);
            ++clock;
            p().insert(next_id, info);
            shadow.insert(next_id++);
        } else if (kind < 55) {
            p().access(pickPresent(), clock++);
        } else if (kind < 60) {
            p().access(next_id + 1000, clock++);  // unknown
        } else if (kind < 65) {
            p().setPriority(pickPresent(), static_cast<int32_t>(rng() % 5) - 2);
        } else if (kind < 75) {
            const EntryId id = pickPresent();
            p().remove(id);
            shadow.erase(id);
            // Its history as the pool would keep it: an older clock, some hits.
            removed[id] = history(clock - rng() % clock, static_cast<uint32_t>(rng() % 10),
                                  static_cast<int32_t>(rng() % 5) - 2, 0, rng() % 200);
        } else if (kind < 82 && !removed.empty()) {
            auto it = removed.begin();
            std::advance(it, rng() % removed.size());
            p().insert(it->first, it->second);
            shadow.insert(it->first);
            removed.erase(it);
        } else {
            auto v = p().pickVictim();
            ASSERT_TRUE(v.has_value()) << "op " << op;
            ASSERT_TRUE(shadow.contains(*v)) << "op " << op << ": victim " << *v;
            shadow.erase(*v);
        }
        ASSERT_EQ(p().size(), shadow.size()) << "op " << op;
        if (op % 100 == 0) {
            ASSERT_NO_THROW(p().verify()) << "op " << op;
            for (EntryId id : shadow) ASSERT_TRUE(p().contains(id)) << "op " << op;
            for (const auto& [id, info] : removed) ASSERT_FALSE(p().contains(id)) << "op " << op;
        }
    }
    EXPECT_NO_THROW(p().verify());
    Ids victims = drain(p());
    EXPECT_EQ(std::set<EntryId>(victims.begin(), victims.end()), shadow);
    EXPECT_EQ(victims.size(), shadow.size());
}

// Test names allow only letters, digits and '_' ("lru+admit" becomes "lru_admit").
INSTANTIATE_TEST_SUITE_P(AllPolicies, PolicyConformance, ::testing::ValuesIn(policyNames()),
                         [](const auto& info) {
                             std::string name = info.param;
                             for (char& c : name)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return name;
                         });

// ---------------------------------------------------------------------------------------------
// Victim order of each policy on a constructed history.

TEST(LruPolicy, EvictsLeastRecentlyUsedFirst) {
    auto p = makePolicy("lru");
    insertInOrder(*p, {1, 2, 3});
    p->access(1, 4);
    EXPECT_EQ(drain(*p), (Ids{2, 3, 1}));
}

TEST(LruPolicy, TiesBreakByLowerId) {
    auto p = makePolicy("lru");
    p->insert(9, history(5));
    p->insert(4, history(5));
    p->insert(6, history(5));
    EXPECT_EQ(drain(*p), (Ids{4, 6, 9}));
}

TEST(LruPolicy, ReinsertedEntryKeepsItsRecency) {
    auto p = makePolicy("lru");
    p->insert(1, history(10));
    p->insert(2, history(20));
    p->insert(3, history(30));
    p->access(1, 40);
    p->remove(1);  // e.g. pinned
    p->insert(4, history(50));
    p->insert(1, history(40));  // unpinned: comes back with its last access, not as newest
    p->insert(5, history(15));  // a parent whose last child went: old history
    p->verify();
    EXPECT_EQ(drain(*p), (Ids{5, 2, 3, 1, 4}));
}

TEST(LfuPolicy, EvictsLeastFrequentlyUsedThenOldest) {
    auto p = makePolicy("lfu");
    insertInOrder(*p, {1, 2, 3});
    p->insert(4, history(10, 1));
    p->insert(5, history(7, 1));
    p->access(3, 4);
    p->access(3, 5);
    p->access(1, 6);
    // counts: 1 -> (1, t6), 2 -> (0, t2), 3 -> (2, t5), 4 -> (1, t10), 5 -> (1, t7)
    EXPECT_EQ(drain(*p), (Ids{2, 1, 5, 4, 3}));
}

TEST(LfuPolicy, ReinsertedEntryKeepsItsCount) {
    auto p = makePolicy("lfu");
    insertInOrder(*p, {1, 2});
    p->insert(3, history(3));
    for (uint64_t t = 4; t < 9; ++t) p->access(3, t);
    p->remove(3);
    insertInOrder(*p, {10, 11});
    p->insert(3, history(8, 5));  // back with the five hits it had
    EXPECT_EQ(drain(*p), (Ids{1, 2, 10, 11, 3}));
}

TEST(FifoPolicy, EvictsInCreationOrderAndIgnoresHits) {
    auto p = makePolicy("fifo");
    insertInOrder(*p, {1, 2, 3});
    p->access(1, 4);
    p->access(1, 5);
    p->access(2, 6);
    p->insert(4, history(7, 0, 0, /*inserted_at=*/0 + 1));  // re-inserted: created at time 1
    // 1 and 4 both created at time 1: lower id first.
    EXPECT_EQ(drain(*p), (Ids{1, 4, 2, 3}));
}

TEST(PriorityPolicy, EvictsLowestPriorityThenLeastRecent) {
    auto p = makePolicy("priority");
    p->insert(1, history(1, 0, 5));
    p->insert(2, history(2, 0, 0));
    p->insert(3, history(3, 0, 0));
    p->insert(4, history(4, 0, 5));
    p->access(2, 5);
    // priority 0: 3 (t3) then 2 (t5); priority 5: 1 (t1) then 4 (t4)
    EXPECT_EQ(drain(*p), (Ids{3, 2, 1, 4}));
}

TEST(PriorityPolicy, SetPriorityReorders) {
    auto p = makePolicy("priority");
    p->insert(1, history(1, 0, 5));
    p->insert(2, history(2, 0, 0));
    p->insert(3, history(3, 0, 0));
    p->insert(4, history(4, 0, 5));
    p->access(2, 5);
    p->setPriority(3, 9);
    p->setPriority(4, -1);
    p->verify();
    EXPECT_EQ(drain(*p), (Ids{4, 2, 1, 3}));
}

// Worked by hand from the NSDI'24 pseudo-code. Queue oldest -> newest, * = visited, ^ = hand.
TEST(SievePolicy, HandSweepsAndStaysWhereItStopped) {
    auto p = makePolicy("sieve");
    insertInOrder(*p, {1, 2, 3, 4});
    p->access(1, 5);
    p->access(3, 6);
    // 1* 2 3* 4, hand at the oldest: clears 1, evicts 2; hand rests on 3.
    EXPECT_EQ(p->pickVictim(), 2u);
    p->insert(5, history(7));
    p->access(1, 8);
    // 1* ^3* 4 5: clears 3, evicts 4; hand rests on 5.
    EXPECT_EQ(p->pickVictim(), 4u);
    // 1* 3 ^5: the new entry was not hit, so it goes (quick demotion). A hand restarted at the
    // oldest each time would have cleared 1 in the previous pass and evicted it here; LRU would
    // evict 3.
    EXPECT_EQ(p->pickVictim(), 5u);
    // hand wraps: clears 1, evicts 3; then 1.
    EXPECT_EQ(drain(*p), (Ids{3, 1}));
}

TEST(SievePolicy, RemovingTheEntryUnderTheHandMovesTheHandOn) {
    auto p = makePolicy("sieve");
    insertInOrder(*p, {1, 2, 3, 4});
    p->access(1, 5);
    p->access(3, 6);
    p->access(4, 7);
    EXPECT_EQ(p->pickVictim(), 2u);  // cleared 1 on the way; hand now on 3
    p->access(1, 8);
    p->remove(3);  // hand moves on to 4
    p->verify();
    // 1* ^4*: clears 4, wraps, clears 1, evicts 4. A hand restarted at the oldest would clear
    // 1 and 4 and evict 1 instead.
    EXPECT_EQ(drain(*p), (Ids{4, 1}));
}

TEST(S3FifoPolicy, OneHitWondersLeaveFirst) {
    auto p = makePolicy("s3fifo");
    insertInOrder(*p, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    p->access(2, 11);
    p->access(4, 12);
    // Everything starts in the small queue; 2 and 4 were hit there, so they move to main when
    // they reach its end, and every unhit entry goes first, in FIFO order.
    EXPECT_EQ(drain(*p), (Ids{1, 3, 5, 6, 7, 8, 9, 10, 2, 4}));
}

TEST(S3FifoPolicy, GhostHitIsAdmittedToMain) {
    auto p = makePolicy("s3fifo");
    for (EntryId id = 1; id <= 10; ++id) p->insert(id, history(id, 0, 0, id, 100 + id));
    EXPECT_EQ(p->pickVictim(), 1u);  // hash 101 is now a ghost
    // Same name (hash 101) written again under a new id: straight to main, so it outlives the
    // newer one-hit entries that follow it.
    p->insert(11, history(11, 0, 0, 11, 101));
    for (EntryId id = 12; id <= 15; ++id) p->insert(id, history(id, 0, 0, id, 100 + id));
    p->verify();
    EXPECT_EQ(drain(*p), (Ids{2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 11}));
}

TEST(S3FifoPolicy, WithoutGhostHitANewEntryIsJustSmall) {
    auto p = makePolicy("s3fifo");
    for (EntryId id = 1; id <= 10; ++id) p->insert(id, history(id, 0, 0, id, 100 + id));
    EXPECT_EQ(p->pickVictim(), 1u);
    p->insert(11, history(11, 0, 0, 11, 999));  // a hash never evicted
    for (EntryId id = 12; id <= 15; ++id) p->insert(id, history(id, 0, 0, id, 100 + id));
    EXPECT_EQ(drain(*p), (Ids{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

// lru+admit: first-seen entries are on probation and leave before any admitted one.
TEST(LruAdmitPolicy, FirstSeenEntriesLeaveBeforeAdmittedOnes) {
    auto p = makePolicy("lru+admit");
    p->insert(1, history(1, 2, 0, 1, 101));  // hit before: admitted
    insertInOrder(*p, {2, 3, 4});            // first seen: probation
    p->access(3, 5);                         // a hit admits it, as most recent
    EXPECT_EQ(drain(*p), (Ids{2, 4, 1, 3}));
}

TEST(LruAdmitPolicy, SecondRequestAfterEvictionIsAdmitted) {
    auto p = makePolicy("lru+admit");
    insertInOrder(*p, {1, 2});
    EXPECT_EQ(p->pickVictim(), 1u);           // hash 1001 becomes a ghost
    p->insert(3, history(3, 0, 0, 3, 1001));  // the same name written again: admitted
    p->insert(4, history(4, 0, 0, 4, 5000));  // a new name: probation
    p->verify();
    EXPECT_EQ(drain(*p), (Ids{2, 4, 3}));
}

TEST(LruAdmitPolicy, AdmissionSurvivesARemoveAndReinsert) {
    auto p = makePolicy("lru+admit");
    p->insert(1, history(1, 0, 0, 1, 77));
    EXPECT_EQ(p->pickVictim(), 1u);
    p->insert(2, history(2, 0, 0, 2, 77));  // admitted by the ghost
    p->remove(2);                           // it got a child
    p->insert(2, history(2, 0, 0, 2, 77));  // its child went: still admitted
    insertInOrder(*p, {5});
    EXPECT_EQ(drain(*p), (Ids{5, 2}));
}

// A chain block as the pool describes it.
AccessInfo block(uint64_t hash, uint64_t parent_hash = 0, uint64_t pool_entries = 8) {
    AccessInfo info = history(1, 0, 0, 1, hash);
    info.parent_hash = parent_hash;
    info.pool_entries = pool_entries;
    return info;
}

// A newly written block, as the pool reports it: the committed write, then the insert once
// its writer has closed it.
void write(EvictionPolicy& p, EntryId id, const AccessInfo& info) {
    p.observeWrite(info);
    p.insert(id, info);
}

// kvadapt: with nothing learned every class is worth the same, and the oldest reference goes.
TEST(KvAdaptPolicy, WithoutHistoryItIsLru) {
    auto p = makePolicy("kvadapt");
    for (EntryId id : {1, 2, 3, 4}) write(*p, id, block(1000 + id));
    p->observeHit(1002, 10);  // a hit, as the pool reports it: the request, then the access
    p->access(2, 10);
    p->observeHit(1001, 11);
    p->access(1, 11);
    p->access(4, 12);  // a read within the request of an earlier hit: not a new reference
    EXPECT_EQ(drain(*p), (Ids{3, 4, 2, 1}));
}

// Trains on a workload where names written once are never asked for again while two names
// asked for again and again come back every 12 references, longer than the 8-entry pool holds
// under LRU: an older name seen many times then outlives a newer one seen once. Untrained, a
// pair goes oldest first.
TEST(KvAdaptPolicy, LearnsThatNamesSeenAgainComeBack) {
    auto finalPair = [](EvictionPolicy& p) {
        p.observeHit(1, 0);
        write(p, 1, block(1));       // older, seen before
        write(p, 2, block(999999));  // newer, seen once
        return drain(p);
    };
    auto untrained = makePolicy("kvadapt");
    write(*untrained, 1, block(1));
    write(*untrained, 2, block(999999));
    EXPECT_EQ(drain(*untrained), (Ids{1, 2}));

    auto p = makePolicy("kvadapt");
    uint64_t hash = 1000;
    EntryId id = 100;
    for (int round = 0; round < 400; ++round) {
        for (uint64_t hot = 1; hot <= 2; ++hot) p->observeHit(hot, 0);
        for (int k = 0; k < 10; ++k) {  // names seen once
            write(*p, id, block(hash++));
            EXPECT_EQ(p->pickVictim(), id++);
        }
    }
    p->verify();
    EXPECT_EQ(finalPair(*p), (Ids{2, 1}));
}

// A chain's last block is never asked for again, its interior blocks are: after training, at
// equal age and count, the tail goes first, and the interior block (a leaf again once its child
// was evicted) stays.
TEST(KvAdaptPolicy, LearnsThatChainTailsAreNotReused) {
    auto p = makePolicy("kvadapt");
    uint64_t hash = 1;
    EntryId id = 1;
    std::vector<uint64_t> interior;
    for (int round = 0; round < 600; ++round) {
        const uint64_t head = hash++, tail = hash++;
        write(*p, id, block(head));
        p->remove(id);  // it got a child: no longer a candidate
        const EntryId head_id = id++;
        write(*p, id, block(tail, head));
        EXPECT_EQ(p->pickVictim(), id++);    // the tail is evicted
        p->insert(head_id, block(head, 0));  // back as a leaf, same contents
        interior.push_back(head);
        if (interior.size() > 6) {  // reused 6 chains later, then never again
            p->observeHit(interior.front(), 0);
            interior.erase(interior.begin());
        }
        while (p->size() > 4) p->pickVictim();
    }
    while (p->pickVictim()) {
    }
    p->verify();
    const uint64_t head = hash++, tail = hash++;
    write(*p, 1, block(head));
    p->remove(1);
    write(*p, 2, block(tail, head));
    p->insert(1, block(head, 0));
    EXPECT_EQ(p->pickVictim(), 2u);
}

// The new names a request wrote are a class of their own: here requests that extend a cached
// 4-block prefix by one name see that name asked for again three requests later, and requests
// that write 8 new names never see theirs again. Two chain tails of the same count, depth class
// and length class then differ only by their request: the one from an 8-name request goes
// first, though it is newer. Untrained, the older goes first.
TEST(KvAdaptPolicy, LearnsFromTheNewNamesOfTheRequest) {
    auto prefix = [](EvictionPolicy& p) {
        for (uint64_t h = 1; h <= 4; ++h) p.observeHit(h, 0);
    };
    auto extend = [&](EvictionPolicy& p, EntryId id, uint64_t hash) {  // one new name
        prefix(p);
        write(p, id, block(hash, 4));
    };
    auto scan = [](EvictionPolicy& p, EntryId first, uint64_t hash) {  // eight new names
        for (int k = 0; k < 8; ++k) {
            write(p, first + k, block(hash + k, k ? hash + k - 1 : 0));
            if (k < 7) p.remove(first + k);  // it got a child
        }
    };
    auto final_pair = [&](EvictionPolicy& p) {
        extend(p, 900001, 900001);  // older
        scan(p, 800000, 800000);    // newer, its tail is 800007
        return Ids{*p.pickVictim(), *p.pickVictim()};
    };
    auto untrained = makePolicy("kvadapt");
    for (uint64_t h = 1; h <= 4; ++h) {
        write(*untrained, h, block(h, h - 1));
        untrained->remove(h);
    }
    EXPECT_EQ(final_pair(*untrained), (Ids{900001, 800007}));

    auto p = makePolicy("kvadapt");
    for (uint64_t h = 1; h <= 4; ++h) {
        write(*p, h, block(h, h - 1, 16));
        p->remove(h);
    }
    std::set<EntryId> cached;
    std::vector<uint64_t> extended;
    uint64_t next = 1000;
    for (int round = 0; round < 500; ++round) {
        extend(*p, next, next);
        cached.insert(next);
        extended.push_back(next++);
        scan(*p, next, next);
        cached.insert(next + 7);
        next += 8;
        if (extended.size() > 3) {  // asked for again, three requests later
            const uint64_t again = extended[extended.size() - 4];
            if (cached.contains(again)) {
                prefix(*p);
                p->observeHit(again, 0);
                p->access(again, 0);
            } else {
                extend(*p, again, again);
                cached.insert(again);
            }
        }
        while (p->size() > 6) cached.erase(*p->pickVictim());
    }
    p->verify();
    while (p->size()) p->pickVictim();
    EXPECT_EQ(final_pair(*p), (Ids{800007, 900001}));
}

TEST(KvAdaptPolicy, HintsOrderBands) {
    auto p = makePolicy("kvadapt");
    p->insert(1, history(1, 0, 1, 1, 1));  // retained: conversation open
    p->insert(2, history(2, 5, 0, 2, 2));
    p->insert(3, history(3, 0, -1, 3, 3));  // conversation ended
    p->insert(4, history(4, 0, 0, 4, 4));
    p->setPriority(4, -1);
    p->setPriority(1, 0);  // the hint is withdrawn: back to its class
    p->setPriority(2, 2);
    EXPECT_EQ(drain(*p), (Ids{3, 4, 1, 2}));
}

// Back from being a chain parent, an entry is not a new reference: its age counts from its
// last reference. Written again (a committed write), it is.
TEST(KvAdaptPolicy, ReinsertIsNotAReferenceButARewriteIs) {
    auto p = makePolicy("kvadapt");
    write(*p, 1, block(11));
    p->remove(1);  // it got a child
    write(*p, 2, block(12));
    p->insert(1, block(11));  // its child went
    EXPECT_EQ(drain(*p), (Ids{1, 2}));

    write(*p, 1, block(11));
    p->remove(1);
    write(*p, 2, block(12));
    write(*p, 1, block(11));  // evicted and written again
    EXPECT_EQ(drain(*p), (Ids{2, 1}));
}

// The policy's choices depend on the sequence of operations alone: the same sequence, replayed
// on a second instance, gives the same victims, whatever the wall clock did in between.
TEST(KvAdaptPolicy, SameOperationsSameChoices) {
    auto run = [] {
        auto p = makePolicy("kvadapt");
        Ids victims;
        uint64_t hash = 1;
        for (EntryId id = 1; id <= 3000; ++id) {
            write(*p, id, block(hash, id % 7 ? hash - 1 : 0, 16));
            if (id % 3 == 0) p->observeHit(hash / 2 + 1, 0);
            ++hash;
            while (p->size() > 16) victims.push_back(*p->pickVictim());
        }
        return victims;
    };
    const Ids first = run();
    EXPECT_EQ(first.size(), 3000u - 16);
    EXPECT_EQ(run(), first);
}

TEST(S3FifoPolicy, MainIsAClockWithFrequencyCappedAtThree) {
    auto p = makePolicy("s3fifo");
    insertInOrder(*p, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    p->access(1, 11);
    p->access(2, 12);
    EXPECT_EQ(p->pickVictim(), 3u);  // 1 and 2 moved to main (counters reset), 3 evicted
    for (uint64_t t = 13; t < 18; ++t) p->access(1, t);  // five hits, counted as three
    for (uint64_t t = 18; t < 21; ++t) p->access(2, t);  // three hits
    // Small drains first; then main spends one hit per pass: with equal (capped) counters, 1
    // (ahead in the queue) runs out first. Uncapped, 2 would go first.
    EXPECT_EQ(drain(*p), (Ids{4, 5, 6, 7, 8, 9, 10, 1, 2}));
}

// ---------------------------------------------------------------------------------------------
// Randomised comparison with brute-force models of the key-ordered policies: the victim is
// always the candidate with the smallest key, whatever mix of hits, re-inserts and priority
// changes came before.

using ModelKey = std::tuple<int64_t, uint64_t, EntryId>;

struct ModelEntry {
    AccessInfo info;
};

ModelKey modelKey(const std::string& policy, const AccessInfo& i, EntryId id) {
    if (policy == "lru") return {0, i.last_access, id};
    if (policy == "lfu") return {i.access_count, i.last_access, id};
    if (policy == "fifo") return {0, i.inserted_at, id};
    return {i.priority, i.last_access, id};  // priority
}

class OrderedPolicyModel : public ::testing::TestWithParam<std::string> {};

TEST_P(OrderedPolicyModel, VictimIsAlwaysTheSmallestKey) {
    const std::string name = GetParam();
    auto p = makePolicy(name);
    std::mt19937_64 rng(99);
    std::map<EntryId, AccessInfo> live, parked;
    EntryId next_id = 1;
    uint64_t clock = 1;
    for (int op = 0; op < 5000; ++op) {
        const unsigned kind = rng() % 100;
        auto pick = [&](auto& m) {
            auto it = m.begin();
            std::advance(it, rng() % m.size());
            return it;
        };
        if (kind < 25 || live.empty()) {
            AccessInfo info = history(clock, 0, static_cast<int32_t>(rng() % 4), clock);
            ++clock;
            p->insert(next_id, info);
            live[next_id++] = info;
        } else if (kind < 55) {
            auto it = pick(live);
            // Usually the clock moves on; sometimes a hit in the same tick (ties).
            if (rng() % 4) ++clock;
            p->access(it->first, clock);
            if (name != "fifo") {
                it->second.last_access = clock;
                if (it->second.access_count < UINT32_MAX) ++it->second.access_count;
            }
        } else if (kind < 62) {
            auto it = pick(live);
            const int32_t prio = static_cast<int32_t>(rng() % 4);
            p->setPriority(it->first, prio);
            if (name == "priority") it->second.priority = prio;
        } else if (kind < 72) {
            auto it = pick(live);
            p->remove(it->first);
            parked.insert(*it);
            live.erase(it);
        } else if (kind < 80 && !parked.empty()) {
            auto it = pick(parked);
            p->insert(it->first, it->second);
            live.insert(*it);
            parked.erase(it);
        } else {
            auto expected = std::ranges::min_element(
                live, {}, [&](const auto& kv) { return modelKey(name, kv.second, kv.first); });
            auto v = p->pickVictim();
            ASSERT_EQ(v, expected->first) << name << " op " << op;
            live.erase(expected);
        }
        if (op % 250 == 0) {
            ASSERT_NO_THROW(p->verify());
        }
    }
    while (!live.empty()) {
        auto expected = std::ranges::min_element(
            live, {}, [&](const auto& kv) { return modelKey(name, kv.second, kv.first); });
        ASSERT_EQ(p->pickVictim(), expected->first);
        live.erase(expected);
    }
    EXPECT_EQ(p->pickVictim(), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(KeyOrdered, OrderedPolicyModel,
                         ::testing::Values("lru", "lfu", "fifo", "priority"),
                         [](const auto& info) { return info.param; });

// A vector-based SIEVE written straight from the paper, O(n) per step, to check the list-based
// policy through removals and re-inserts.
class SieveModel {
  public:
    void insert(EntryId id) { queue_.push_back({id, false}); }
    void access(EntryId id) {
        if (auto i = find(id)) queue_[*i].visited = true;
    }
    void remove(EntryId id) {
        if (auto i = find(id)) eraseAt(*i);
    }
    EntryId evict() {
        size_t i = hand_ == kNoHand ? 0 : hand_;
        while (queue_[i].visited) {
            queue_[i].visited = false;
            i = (i + 1) % queue_.size();
        }
        const EntryId id = queue_[i].id;
        hand_ = i;
        eraseAt(i);
        return id;
    }
    bool empty() const { return queue_.empty(); }

  private:
    std::optional<size_t> find(EntryId id) const {
        for (size_t i = 0; i < queue_.size(); ++i)
            if (queue_[i].id == id) return i;
        return std::nullopt;
    }
    void eraseAt(size_t i) {
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
        if (hand_ == kNoHand) return;
        if (hand_ > i) --hand_;
        if (hand_ == queue_.size()) hand_ = kNoHand;  // it was on the newest: restart at oldest
    }
    struct Slot {
        EntryId id;
        bool visited;
    };
    static constexpr size_t kNoHand = SIZE_MAX;
    std::vector<Slot> queue_;
    size_t hand_ = kNoHand;  // next index to examine; kNoHand: start at the oldest
};

TEST(SievePolicy, MatchesReferenceModel) {
    auto p = makePolicy("sieve");
    SieveModel model;
    std::set<EntryId> live;
    std::mt19937_64 rng(5);
    EntryId next_id = 1;
    for (int op = 0; op < 5000; ++op) {
        const unsigned kind = rng() % 100;
        auto pick = [&]() {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            return *it;
        };
        if (kind < 30 || live.empty()) {
            p->insert(next_id, history(next_id));
            model.insert(next_id);
            live.insert(next_id++);
        } else if (kind < 70) {
            const EntryId id = pick();
            p->access(id, op);
            model.access(id);
        } else if (kind < 80) {
            const EntryId id = pick();
            p->remove(id);
            model.remove(id);
            live.erase(id);
        } else {
            const EntryId expected = model.evict();
            ASSERT_EQ(p->pickVictim(), expected) << "op " << op;
            live.erase(expected);
        }
    }
    while (!model.empty()) ASSERT_EQ(p->pickVictim(), model.evict());
    EXPECT_EQ(p->pickVictim(), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// OrderedCandidates: the O(1) append path is taken for in-order keys, and the split between the
// append-only run and the tree never changes the order.

TEST(OrderedCandidates, InOrderKeysStayOnTheAppendPath) {
    OrderedCandidates<uint64_t> c;
    for (EntryId id = 1; id <= 100; ++id) ASSERT_TRUE(c.insert(id, id));
    for (EntryId id = 1; id <= 100; id += 3) ASSERT_TRUE(c.update(id, 100 + id));  // LRU hits
    EXPECT_EQ(c.outOfOrderCount(), 0u);
    EXPECT_TRUE(c.insert(1000, 4));  // an old history: out of order
    EXPECT_EQ(c.outOfOrderCount(), 1u);
    EXPECT_EQ(c.popMin(), 2u);
    EXPECT_EQ(c.popMin(), 3u);
    EXPECT_EQ(c.popMin(), 1000u);
    EXPECT_FALSE(c.insert(2 + 3, 0));  // id 5 still present
    EXPECT_FALSE(c.update(2, 7));      // id 2 is gone
    EXPECT_FALSE(c.erase(2));
    c.verify("test");
}

TEST(OrderedCandidates, MatchesAnOrderedSetUnderRandomUpdates) {
    OrderedCandidates<uint32_t> c;
    std::map<EntryId, uint32_t> keys;
    std::mt19937_64 rng(3);
    uint32_t hi = 0;
    for (int op = 0; op < 20000; ++op) {
        const unsigned kind = rng() % 10;
        const EntryId id = rng() % 300;
        // Mostly growing keys (the common case), sometimes older ones.
        const uint32_t key = rng() % 4 ? ++hi : static_cast<uint32_t>(rng() % (hi + 1));
        if (kind < 4) {
            ASSERT_EQ(c.insert(id, key), !keys.contains(id));
            keys.try_emplace(id, key);
        } else if (kind < 7) {
            ASSERT_EQ(c.update(id, key), keys.contains(id));
            if (keys.contains(id)) keys[id] = key;
        } else if (kind < 8) {
            ASSERT_EQ(c.erase(id), keys.erase(id) == 1);
        } else {
            std::optional<EntryId> expected;
            if (!keys.empty())
                expected = std::ranges::min_element(keys, {}, [](const auto& kv) {
                               return std::pair(kv.second, kv.first);
                           })->first;
            ASSERT_EQ(c.popMin(), expected) << "op " << op;
            if (expected) keys.erase(*expected);
        }
        ASSERT_EQ(c.size(), keys.size());
        if (auto it = keys.find(id); it != keys.end()) {
            ASSERT_EQ(*c.keyOf(id), it->second);
        }
        if (op % 500 == 0) {
            ASSERT_NO_THROW(c.verify("test"));
        }
    }
}

}  // namespace
}  // namespace kvc
