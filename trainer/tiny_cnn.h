// A small 4-block CNN (conv-BN-ReLU, stride 2 each, global average pool, linear head) for quick
// probes: how learnable each class of a data set is in about a minute of CPU time.
#pragma once

#include <torch/nn.h>

namespace cxr::trainer {

struct TinyCnnImpl : torch::nn::Module {
  TinyCnnImpl(int in_channels, int num_classes, int width = 16);
  torch::Tensor forward(torch::Tensor x);  // [B,C,H,W] -> logits [B,num_classes]

  torch::nn::Sequential features{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(TinyCnn);

}  // namespace cxr::trainer
