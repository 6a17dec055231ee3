// SyncBatchNorm: training-mode BatchNorm whose statistics cover the images of several ranks (a
// model.bn_group larger than the per-rank batch). Forward all-gathers each rank's per-channel mean and
// variance and combines them; backward all-reduces the two per-channel sums the gradient of the mean
// and variance needs. A custom autograd Function, for LibTorch 1.13 and 2.x alike.
#pragma once

#include <torch/nn/modules/batchnorm.h>

namespace cxr::trainer {

struct BatchNormGroups;

// BN(x) for x [b,C,H,W] in training, with statistics over the b * groups.comm->size() images of every
// rank of groups.comm (each rank passes its own b images; all must have the same shape). Collective
// over groups.comm, in forward and again in backward; the time of both goes to groups.time.
//
// Gradients: with L_r rank r's loss, input gradients come out as d(sum_r L_r)/dx (the group's gradient
// sums are all-reduced, never divided), weight and bias gradients as dL_r/dw (this rank's images only):
// after the gradient synchroniser averages over the ranks, every parameter has the gradient of the mean
// loss, exactly as one rank holding the whole group would compute it. Running statistics are updated
// once per call (see update_running_stats), identically on every rank of the group.
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, BatchNormGroups& groups);

}  // namespace cxr::trainer
