#include "core/candidate_set.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/record_codec.h"

namespace kvc {

CandidateSet::CandidateSet(InodeIndex& index, std::unique_ptr<EvictionPolicy> policy)
    : index_(index), policy_(std::move(policy)) {}

bool CandidateSet::eligible(const Inode& ino) {
    return ino.isFile() && ino.id != kPoolRootId && ino.nlink > 0 && !ino.pinned &&
           ino.write_opens == 0 && ino.chain_children == 0 && !ino.dirty;
}

AccessInfo CandidateSet::accessInfo(const Inode& ino) const {
    AccessInfo info;
    info.key_hash = ino.name_hash;
    info.last_access = ino.last_tick;
    info.inserted_at = ino.made_tick;
    info.access_count = static_cast<uint32_t>(std::min<uint64_t>(ino.access_count, UINT32_MAX));
    info.priority = ino.priority;
    info.had_children = ino.had_children;
    if (!ino.parent.empty()) {  // the parent's name hash: the last component of its path
        const std::string_view parent = ino.parent;
        const std::string_view leaf = parent.substr(parent.rfind('/') + 1);
        info.parent_hash = hashBytes(leaf.data(), leaf.size());
    }
    info.pool_entries = index_.entries();  // removed ones do not count
    return info;
}

void CandidateSet::refresh(Inode* ino) {
    const bool should = eligible(*ino);
    if (should && !ino->in_policy) {
        policy_->insert(ino->id, accessInfo(*ino));
        ino->in_policy = true;
    } else if (!should && ino->in_policy) {
        leave(ino);
    }
}

void CandidateSet::leave(Inode* ino) {
    if (!ino->in_policy) return;
    policy_->remove(ino->id);
    ino->in_policy = false;
}

Inode* CandidateSet::takeVictim() {
    while (auto victim = policy_->pickVictim()) {
        // The policy holds live candidates only; an unknown id would be a bug, and is skipped.
        if (Inode* ino = index_.find(*victim)) {
            ino->in_policy = false;
            return ino;
        }
    }
    return nullptr;
}

void CandidateSet::touch(Inode* ino, bool request) {
    ino->access_count++;
    ino->last_tick = ++tick_;
    ino->atime_ns = nowNs();
    if (request) policy_->observeHit(ino->name_hash, ino->last_tick);
    if (ino->in_policy) policy_->access(ino->id, ino->last_tick);
}

void CandidateSet::setPriority(Inode* ino, int32_t priority) {
    ino->priority = priority;
    if (ino->in_policy) policy_->setPriority(ino->id, priority);
}

void CandidateSet::replacePolicy(std::unique_ptr<EvictionPolicy> next) {
    std::vector<Inode*> candidates;
    for (auto& [id, ino] : index_)
        if (ino->in_policy) candidates.push_back(ino.get());
    std::sort(candidates.begin(), candidates.end(),
              [](const Inode* a, const Inode* b) { return a->last_tick < b->last_tick; });
    for (Inode* ino : candidates) next->insert(ino->id, accessInfo(*ino));
    policy_ = std::move(next);
}

// ---------------------------------------------------------------------------------------------
// Chain references

void CandidateSet::countChainRef(const std::string& parent) {
    chain_refs_[parent]++;
}

void CandidateSet::addChainRef(Inode* child) {
    if (child->parent.empty() || child->nlink == 0) return;
    chain_refs_[child->parent]++;
    if (Inode* p = chainTarget(child->parent)) {
        p->chain_children++;
        p->had_children = true;
        refresh(p);
    }
}

void CandidateSet::dropChainRef(Inode* child) {
    if (child->parent.empty()) return;
    auto it = chain_refs_.find(child->parent);
    if (it == chain_refs_.end()) return;
    if (--it->second == 0) chain_refs_.erase(it);
    if (Inode* p = chainTarget(child->parent)) {
        if (p->chain_children) p->chain_children--;
        refresh(p);
    }
}

void CandidateSet::bindChain(EntryId dir, std::string_view name, Inode* target, bool bind) {
    if (!target->isFile() || chain_refs_.empty()) return;
    auto it = chain_refs_.find(index_.pathOf(dir, name));
    if (it == chain_refs_.end()) return;
    if (bind) {
        target->chain_children += it->second;
        target->had_children = true;
        // Children name this entry now: if it has a parent, that may close a loop.
        if (!target->parent.empty()) chain_bound_.push_back(target->id);
    } else {
        target->chain_children -= std::min(target->chain_children, it->second);
    }
    refresh(target);
}

// A renamed directory changes the path of every entry below it, and chain parents are named
// by path: unbind them all under the old paths before the move and bind them again after.
void CandidateSet::bindSubtree(Inode* top, bool bind) {
    if (!top->isDir() || chain_refs_.empty()) return;
    std::vector<Inode*> stack{top};
    while (!stack.empty()) {
        Inode* d = stack.back();
        stack.pop_back();
        for (auto& [slot, ds] : d->by_slot) {
            Inode* t = index_.find(ds.inode);
            if (t->isDir())
                stack.push_back(t);
            else
                bindChain(d->id, ds.name, t, bind);
        }
    }
}

// The entry a parent path names (nullptr: none, a directory or a node).
Inode* CandidateSet::chainTarget(std::string_view path) const {
    Inode* p = index_.resolve(path);
    return p && p->isFile() ? p : nullptr;
}

Inode* CandidateSet::chainLoop(Inode* start, std::string_view start_parent,
                               ChainLoopFinder<Inode*>& finder) {
    auto parent = [&](Inode* x) -> std::optional<Inode*> {
        // A nameless entry gave its reference back with its last name: it is no child.
        if (x != start && (x->nlink == 0 || x->parent.empty())) return std::nullopt;
        Inode* p = chainTarget(x == start ? start_parent : std::string_view(x->parent));
        return p ? std::optional<Inode*>(p) : std::nullopt;
    };
    return finder.loopFrom(start, parent).value_or(nullptr);
}

std::vector<Inode*> CandidateSet::settleChains() {
    std::vector<Inode*> changed;
    ChainLoopFinder<Inode*> finder;
    for (const EntryId id : std::exchange(chain_bound_, {})) {
        Inode* ino = index_.find(id);
        if (!ino) continue;
        while (Inode* on_loop = chainLoop(ino, ino->parent, finder)) {
            dropChainRef(on_loop);
            on_loop->parent.clear();
            changed.push_back(on_loop);
        }
    }
    return changed;
}

// ---------------------------------------------------------------------------------------------
// Pins

void CandidateSet::trackPin(const Inode& ino) {
    if (ino.pinned && ino.pin_expires_ns) pin_expiry_.emplace(ino.pin_expires_ns, ino.id);
}

void CandidateSet::untrackPin(const Inode& ino) {
    if (ino.pinned && ino.pin_expires_ns) pin_expiry_.erase({ino.pin_expires_ns, ino.id});
}

std::vector<Inode*> CandidateSet::expirePins(int64_t now_ns) {
    std::vector<Inode*> unpinned;
    while (!pin_expiry_.empty() && pin_expiry_.begin()->first <= now_ns) {
        const EntryId id = pin_expiry_.begin()->second;
        pin_expiry_.erase(pin_expiry_.begin());
        if (Inode* ino = index_.find(id); ino && ino->pinned) {
            ino->pinned = false;
            ino->pin_expires_ns = 0;
            refresh(ino);
            unpinned.push_back(ino);
        }
    }
    return unpinned;
}

void CandidateSet::verify() const {
    policy_->verify();
    size_t candidates = 0;
    for (const auto& [id, ino] : index_) {
        if (ino->in_policy != policy_->contains(id))
            throw std::logic_error(fmt::format("entry {} policy membership", id));
        if (ino->in_policy && !eligible(*ino))
            throw std::logic_error(fmt::format("entry {} is a candidate but not evictable", id));
        candidates += ino->in_policy;
    }
    if (candidates != policy_->size()) throw std::logic_error("policy holds unknown entries");
}

}  // namespace kvc
