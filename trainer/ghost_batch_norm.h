// BatchNorm over fixed groups of images (model.bn_group), so that the trained model does not depend on
// the rank count: training-mode statistics are taken over groups of G consecutive images of the global
// batch, locally ("ghost" batches) when G divides the per-rank batch, across the G/b ranks that hold a
// group (SyncBatchNorm, sync_batch_norm.h) when G is a multiple of it. Eval mode, and G = 0, is plain
// BatchNorm with the module's running statistics, so the modules stay torchvision's BatchNorm2d.
#pragma once

#include <torch/nn/modules/batchnorm.h>

#include <cstdint>

namespace cxr::comm {
class Communicator;
}

namespace cxr::trainer {

// Wall time of SyncBatchNorm's collectives since the last reset: train.log's bn-sync component. On
// CUDA it is the host's enqueue time unless `synchronize_cuda` (then a device sync brackets each one).
struct BatchNormSyncTime {
  double forward_seconds = 0;   // the statistics all-gather, inside the forward phase
  double backward_seconds = 0;  // the gradient-sums all-reduce, inside the backward phase
  int64_t collectives = 0;
};

// How every training-mode BatchNorm of one model takes its statistics; the model owns one, shared by
// its blocks.
struct BatchNormGroups {
  int64_t group = 0;  // G, images per statistics group (model.bn_group); 0 = the whole per-rank batch
  // The ranks holding this rank's group when G is larger than the per-rank batch b (G/b consecutive
  // ranks, in rank order); not owned, must outlive training. Unused when G divides b.
  comm::Communicator* comm = nullptr;
  bool synchronize_cuda = false;
  BatchNormSyncTime time;
};

// BN(x) for x [b,C,H,W]. Eval mode or groups.group == 0: bn.forward(x), unchanged. Training with G | b:
// each run of G consecutive images is normalised with its own batch statistics (the same numbers as
// bn.forward on that run alone). Training with G == b * groups.comm->size(): sync_batch_norm. Anything
// else throws std::invalid_argument (the training loop validates model.bn_group before this).
//
// Running statistics, in training: one update per call (num_batches_tracked += 1, momentum as
// bn.forward uses it) towards the mean over this rank's groups of each group's mean and unbiased
// variance. The update is linear and every rank holds the same number of groups, so the average over
// ranks of these per-rank running statistics, which comm::average_buffers takes before every
// checkpoint and evaluation, equals what one rank holding the whole global batch computes: checkpoints
// do not depend on the rank count, at no communication per step.
torch::Tensor grouped_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, BatchNormGroups& groups);

// Training-mode ghost BatchNorm of x [b,C,H,W] over groups of `group` consecutive images (b % group == 0),
// with the running-statistics update described above. Exposed for tests.
torch::Tensor ghost_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, int64_t group);

// The running-statistics update from per-channel `mean` and unbiased `var` [C] (any floating dtype),
// as BatchNorm2d's forward does it in training (momentum, or a cumulative average when unset).
void update_running_stats(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& mean, const torch::Tensor& var);

}  // namespace cxr::trainer
