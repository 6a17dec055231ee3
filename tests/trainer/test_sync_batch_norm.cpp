// SyncBatchNorm under mpirun (registered with 2 and 3 ranks): rank r holds images [r*b, (r+1)*b) of a
// batch every rank can build from the same seed, and its outputs, input gradients and (summed over ranks)
// weight and bias gradients must be those of torch's own BatchNorm2d on the whole batch in one process.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>

#include "comm/mpi_runtime.h"
#include "trainer/ghost_batch_norm.h"
#include "trainer/sync_batch_norm.h"

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Result {
  torch::Tensor y, dx, dw, db, running_mean, running_var;
};

// BN of x [n,C,H,W] (or this rank's part of it) and the gradients of sum(y * r).
template <class F>
Result run(torch::nn::BatchNorm2d& bn, const torch::Tensor& x0, const torch::Tensor& r, F&& f) {
  torch::Tensor x = x0.clone().requires_grad_(true);
  torch::Tensor y = f(x);
  (y * r).sum().backward();
  return {y.detach(), x.grad(), bn->weight.grad().clone(), bn->bias.grad().clone(), bn->running_mean.clone(),
          bn->running_var.clone()};
}

class SyncBatchNormMpi : public ::testing::TestWithParam<bool> {};

TEST_P(SyncBatchNormMpi, RanksTogetherAreOneProcessOnTheWholeBatch) {
  const bool channels_last = GetParam();
  auto world = cxr::comm::make_world_communicator(/*use_mpi=*/true);
  const int ranks = world->size(), rank = world->rank();
  const int64_t b = 3, channels = 5;
  torch::manual_seed(7);  // the same batch, weights and output weights on every rank
  auto x = torch::randn({b * ranks, channels, 4, 3}) * 2.0 + torch::linspace(-3, 3, channels).view({1, -1, 1, 1});
  auto r = torch::randn({b * ranks, channels, 4, 3});
  torch::nn::BatchNorm2d whole(channels);
  {
    torch::NoGradGuard no_grad;
    whole->weight.uniform_(0.5, 1.5);
    whole->bias.uniform_(-0.5, 0.5);
  }
  auto part_bn = torch::nn::BatchNorm2d(std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(whole->clone()));
  const Result want = run(whole, x, r, [&](const torch::Tensor& in) { return whole(in); });

  cxr::trainer::BatchNormGroups groups;
  groups.group = b * ranks;
  groups.comm = world.get();
  auto mine = [&](const torch::Tensor& t) { return t.narrow(0, rank * b, b); };
  torch::Tensor x_mine = mine(x);
  if (channels_last) x_mine = x_mine.contiguous(torch::MemoryFormat::ChannelsLast);
  const Result got = run(part_bn, x_mine, mine(r), [&](const torch::Tensor& in) {
    return cxr::trainer::grouped_batch_norm(*part_bn, in, groups);
  });

  EXPECT_LT(max_diff(got.y, mine(want.y)), 1e-5);
  EXPECT_LT(max_diff(got.dx, mine(want.dx)), 1e-5);  // d(sum of every rank's loss)/dx
  torch::Tensor dw = got.dw.clone(), db = got.db.clone();
  world->all_reduce_sum(dw);
  world->all_reduce_sum(db);
  EXPECT_LT(max_diff(dw, want.dw), 1e-4);  // each rank's share of d/dw, summing to the whole batch's
  EXPECT_LT(max_diff(db, want.db), 1e-4);
  EXPECT_LT(max_diff(got.running_mean, want.running_mean), 1e-6);  // the same on every rank, no averaging needed
  EXPECT_LT(max_diff(got.running_var, want.running_var), 1e-6);
  EXPECT_EQ(groups.time.collectives, 2);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SyncBatchNormMpi, ::testing::Values(false, true));

}  // namespace
