// Bucket layout and all-reduce timings for `cxrtrain scaling` (see scaling_probe.h).
#include "launch/scaling_probe.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "comm/communicator.h"
#include "comm/gradient_sync.h"
#include "comm/local_communicator.h"
#include "trainer/model_setup.h"

namespace cxr::launch {

std::vector<BucketSize> gradient_buckets(const Config& config) {
  Config cfg = config;
  trainer::ResNet model = trainer::build_model(cfg, torch::kCPU);
  comm::LocalCommunicator local;
  // The same constructor call as the trainer's, so the layout is the one its hooks launch.
  comm::GradientSynchronizer sync(local, model->parameters(),
                                  static_cast<size_t>(cfg.train.bucket_mb * 1024.0 * 1024.0));
  std::vector<BucketSize> out;
  for (const auto& b : sync.bucket_layout()) out.push_back({b.bytes, static_cast<int64_t>(b.params.size())});
  return out;
}

std::vector<AllReduceTiming> time_allreduce(comm::Communicator& world, const std::vector<int64_t>& sizes,
                                            int repeats) {
  std::vector<AllReduceTiming> out;
  if (world.size() < 2) return out;
  for (int64_t bytes : sizes) {
    at::Tensor t = torch::ones({std::max<int64_t>(1, bytes / 4)}, torch::kFloat32);
    world.all_reduce_sum(t);  // untimed: first use of this size
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r) {
      world.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      world.all_reduce_sum(t);
      const double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const std::vector<double> all = world.all_gather(mine);
      times.push_back(*std::max_element(all.begin(), all.end()));
    }
    std::sort(times.begin(), times.end());
    out.push_back({4 * t.numel(), times[times.size() / 2]});
  }
  return out;
}

}  // namespace cxr::launch
