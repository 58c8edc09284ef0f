// Factories of the built-in eviction policies, one per policy_*.cpp file. Private to
// core/policy: the rest of the tree creates policies by name through makePolicy().
#pragma once

#include <memory>

#include "core/policy/eviction_policy.h"

namespace kvc {

std::unique_ptr<EvictionPolicy> makeLruPolicy();
std::unique_ptr<EvictionPolicy> makeLfuPolicy();
std::unique_ptr<EvictionPolicy> makeFifoPolicy();
std::unique_ptr<EvictionPolicy> makePriorityPolicy();
std::unique_ptr<EvictionPolicy> makeSievePolicy();
std::unique_ptr<EvictionPolicy> makeS3FifoPolicy();
std::unique_ptr<EvictionPolicy> makeLruAdmitPolicy();
std::unique_ptr<EvictionPolicy> makeKvAdaptPolicy();

}  // namespace kvc
