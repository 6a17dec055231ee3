// Ghost BatchNorm and the dispatch between plain, ghost and synchronised BatchNorm (see ghost_batch_norm.h).
#include "trainer/ghost_batch_norm.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "trainer/sync_batch_norm.h"

namespace cxr::trainer {

void update_running_stats(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& mean, const torch::Tensor& var) {
  if (!bn.options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  // As BatchNorm2d's own forward: the count first, then momentum or, when unset, 1 / count.
  double factor = bn.options.momentum() ? *bn.options.momentum() : 0.0;
  if (bn.num_batches_tracked.defined()) {
    bn.num_batches_tracked += 1;
    if (!bn.options.momentum()) factor = 1.0 / bn.num_batches_tracked.item<double>();
  }
  bn.running_mean.mul_(1.0 - factor).add_(mean.to(bn.running_mean.scalar_type()), factor);
  bn.running_var.mul_(1.0 - factor).add_(var.to(bn.running_var.scalar_type()), factor);
}

torch::Tensor ghost_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, int64_t group) {
  const int64_t b = x.size(0), channels = x.size(1);
  if (group < 1 || b % group != 0)
    throw std::invalid_argument("ghost_batch_norm: a batch of " + std::to_string(b) + " images does not split into groups of " +
                                std::to_string(group));
  const int64_t groups = b / group;
  if (group * x.numel() / std::max<int64_t>(1, b * channels) < 2) {
    throw std::invalid_argument("ghost_batch_norm: a group of " + std::to_string(group) + " image(s) of " +
                                std::to_string(x.numel() / std::max<int64_t>(1, b * channels)) +
                                " value(s) per channel has no variance; use a larger model.bn_group");
  }
  // Each group goes through the same batch_norm call as BatchNorm2d's forward (cuDNN where it would be), so
  // a group of the whole batch is plain BN. Its statistics come back through running buffers of its own
  // with momentum 1 (running = 1 * batch statistic + 0 * initial value): the group's mean and unbiased
  // variance without a second pass over the data. Separate tensors, not rows of one: the call saves them
  // for backward, and rows of one tensor share a version counter that the next group's call would bump.
  const auto stat_options = bn.running_mean.defined() ? bn.running_mean.options() : x.options().dtype(torch::kFloat);
  std::vector<torch::Tensor> outputs, means, vars;
  outputs.reserve(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    means.push_back(torch::zeros({channels}, stat_options));
    vars.push_back(torch::ones({channels}, stat_options));
    outputs.push_back(torch::batch_norm(x.narrow(0, g * group, group), bn.weight, bn.bias, means.back(), vars.back(),
                                        /*training=*/true, /*momentum=*/1.0, bn.options.eps(),
                                        at::globalContext().userEnabledCuDNN()));
  }
  update_running_stats(bn, torch::stack(means).mean(0), torch::stack(vars).mean(0));
  return groups == 1 ? outputs[0] : torch::cat(outputs, 0);
}

torch::Tensor grouped_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, BatchNormGroups& groups) {
  if (!bn.is_training() || groups.group == 0) return bn.forward(x);
  const int64_t b = x.size(0), g = groups.group;
  if (b % g == 0) return ghost_batch_norm(bn, x, g);
  if (groups.comm != nullptr && g == b * groups.comm->size()) return sync_batch_norm(bn, x, groups);
  throw std::invalid_argument("BatchNorm groups of " + std::to_string(g) + " images do not fit a batch of " +
                              std::to_string(b) + (groups.comm ? " on each of " + std::to_string(groups.comm->size()) + " ranks"
                                                               : " (no communicator for groups larger than the batch)"));
}

}  // namespace cxr::trainer
