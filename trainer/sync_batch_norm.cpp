// SyncBatchNorm (see sync_batch_norm.h). Statistics travel in float64: the per-rank means and variances
// are combined by Chan's formula (equal counts), which neither cancels like sum-of-squares nor loses the
// between-rank spread; the per-element work stays in the activations' float32.
#include "trainer/sync_batch_norm.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "comm/communicator.h"
#include "trainer/ghost_batch_norm.h"

namespace cxr::trainer {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

const std::vector<int64_t> kReduceDims = {0, 2, 3};  // every dimension of [b,C,H,W] but the channel

torch::Tensor per_channel(const torch::Tensor& v) { return v.view({1, -1, 1, 1}); }

// Runs one collective and charges its wall time to `seconds` (with device syncs around it when asked, so
// that on CUDA the time is the collective's, not the enqueue's).
template <class F>
void timed_collective(BatchNormGroups& groups, const torch::Tensor& on, double& seconds, F&& collective) {
  const bool sync = groups.synchronize_cuda && on.is_cuda();
  if (sync) torch::cuda::synchronize(on.device().index());
  const auto t0 = std::chrono::steady_clock::now();
  collective();
  if (sync) torch::cuda::synchronize(on.device().index());
  seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  groups.time.collectives += 1;
}

// y = (x - mean) * invstd * weight + bias, with mean and invstd [C] of the whole group given; backward
// all-reduces sum(dy) and sum(dy * (x - mean)) over the group's ranks.
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd,
                               int64_t count, BatchNormGroups* groups) {
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    // The model's BatchNormGroups outlives every graph built through it; IValue has no pointer type.
    ctx->saved_data["groups"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(groups));
    const torch::Tensor scale = invstd * weight;
    const torch::Tensor y = x * per_channel(scale) + per_channel(bias - mean * scale);
    return y.to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double count = static_cast<double>(ctx->saved_data["count"].toInt());
    auto* groups = reinterpret_cast<BatchNormGroups*>(static_cast<intptr_t>(ctx->saved_data["groups"].toInt()));

    const torch::Tensor dy = grads[0].to(mean.scalar_type());
    const torch::Tensor xmu = x - per_channel(mean);
    const torch::Tensor sum_dy = dy.sum(kReduceDims);
    const torch::Tensor sum_dy_xmu = (dy * xmu).sum(kReduceDims);
    torch::Tensor sums = torch::stack({sum_dy, sum_dy_xmu}).to(torch::kDouble);
    timed_collective(*groups, sums, groups->time.backward_seconds, [&] { groups->comm->all_reduce_sum(sums); });
    const torch::Tensor mean_dy = (sums[0] / count).to(mean.scalar_type());
    const torch::Tensor mean_dy_xmu = (sums[1] / count).to(mean.scalar_type());
    // d/dx of the normalised output, through the group's mean and variance (both depend on every image).
    const torch::Tensor grad_x = (dy - per_channel(mean_dy) - xmu * per_channel(invstd * invstd * mean_dy_xmu)) *
                                 per_channel(invstd * weight);
    return {grad_x.to(x.scalar_type()), sum_dy_xmu * invstd, sum_dy, torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, BatchNormGroups& groups) {
  if (groups.comm == nullptr) throw std::invalid_argument("sync_batch_norm: no communicator for the BatchNorm group");
  if (!bn.weight.defined() || !bn.bias.defined())
    throw std::invalid_argument("sync_batch_norm: needs an affine BatchNorm (weight and bias)");
  comm::Communicator& comm = *groups.comm;
  const int64_t ranks = comm.size(), channels = x.size(1);
  const int64_t count = x.numel() / channels * ranks;  // values per channel in the whole group
  if (count < 2) throw std::invalid_argument("sync_batch_norm: a group of one value per channel has no variance");

  torch::Tensor mean, invstd;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor xs = x.detach().scalar_type() == torch::kDouble ? x.detach() : x.detach().to(torch::kFloat);
    const auto local = torch::var_mean(xs, kReduceDims, /*unbiased=*/false, /*keepdim=*/false);
    const torch::Tensor mine = torch::stack({std::get<1>(local), std::get<0>(local)}).to(torch::kDouble);  // [2,C]
    torch::Tensor all;
    timed_collective(groups, mine, groups.time.forward_seconds, [&] { all = comm.all_gather(mine); });
    const torch::Tensor per_rank = all.view({ranks, 2, channels});
    const torch::Tensor means = per_rank.select(1, 0), vars = per_rank.select(1, 1);
    const torch::Tensor group_mean = means.mean(0);
    // Equal counts per rank: the group's biased variance is the mean of the ranks' variances plus the
    // variance of their means.
    const torch::Tensor group_var = (vars + (means - group_mean).pow(2)).mean(0);
    update_running_stats(bn, group_mean, group_var * (double(count) / double(count - 1)));
    const auto stat_type = xs.scalar_type();
    mean = group_mean.to(stat_type);
    invstd = (group_var + bn.options.eps()).rsqrt().to(stat_type);
  }
  return SyncBatchNormFunction::apply(x, bn.weight, bn.bias, mean, invstd, count, &groups);
}

}  // namespace cxr::trainer
