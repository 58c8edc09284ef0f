#include "fs/close_order.h"

#include <algorithm>

namespace kvc::fs {

void CloseOrder::flushed(uint64_t ino, pid_t pid) {
    std::lock_guard lk(mutex_);
    owed_.emplace_back(ino, pid);
    if (owed_.size() > kMaxOwed) owed_.pop_front();
    count_ = owed_.size();
}

void CloseOrder::released(uint64_t ino) {
    {
        std::lock_guard lk(mutex_);
        auto it = std::ranges::find(owed_, ino, &std::pair<uint64_t, pid_t>::first);
        if (it == owed_.end()) return;
        owed_.erase(it);
        count_ = owed_.size();
    }
    done_.notify_all();
}

void CloseOrder::awaitReleases(pid_t pid) {
    if (pid == 0) return;  // the kernel's own requests owe nothing
    if (count_.load(std::memory_order_acquire) == 0) return;
    std::unique_lock lk(mutex_);
    auto mine = [&] {
        return std::ranges::any_of(owed_, [&](auto& o) { return o.second == pid; });
    };
    if (done_.wait_for(lk, kMaxWait, [&] { return !mine(); })) return;
    // No RELEASE came: a duplicated descriptor or a mapping still holds the file.
    std::erase_if(owed_, [&](auto& o) { return o.second == pid; });
    count_ = owed_.size();
}

}  // namespace kvc::fs
