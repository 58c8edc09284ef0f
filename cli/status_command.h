// `kvcachefs status [MOUNT|POOLDIR] [--json]`: each pool of a mount (or one pool) with its size,
// use, entries, policy and hit ratios, from the pools' `.stats` (no daemon interface of its
// own). `kvcachefs policies`: the eviction policies, each with when to use it.
#pragma once

#include <string>

namespace kvc::cli {

int runStatus(const std::string& path, bool json);
int runPolicies();

}  // namespace kvc::cli
