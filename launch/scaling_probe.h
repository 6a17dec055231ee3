// What `cxrtrain scaling` needs from a `cxrtrain bench --steps` run beyond its step phases: the gradient
// bucket layout the trainer's GradientSynchronizer uses for the configured model, and blocking all-reduce
// timings at a few message sizes on the world communicator (to fit α and β of this machine's network).
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::launch {

struct BucketSize {
  int64_t bytes = 0;    // bytes all-reduced (float32 gradients: 4 per element)
  int64_t params = 0;   // parameter tensors in the bucket
};

// The buckets, in launch order (bucket 0 holds the last layers), of the configured model with
// train.bucket_mb: the synchroniser's own layout, built on the CPU with a one-rank communicator. Local.
std::vector<BucketSize> gradient_buckets(const Config& config);

struct AllReduceTiming {
  int64_t bytes = 0;
  double seconds = 0;   // median over repeats of the slowest rank's time
};
// Collective: float32 all_reduce_sum of each size, `repeats` times after one untimed call, a barrier
// before each. Empty on one rank.
std::vector<AllReduceTiming> time_allreduce(comm::Communicator& world, const std::vector<int64_t>& sizes, int repeats);

}  // namespace cxr::launch
