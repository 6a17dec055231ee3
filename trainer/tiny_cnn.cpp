// TinyCnn (see tiny_cnn.h).
#include "trainer/tiny_cnn.h"

#include <torch/torch.h>

namespace cxr::trainer {

namespace nn = torch::nn;

TinyCnnImpl::TinyCnnImpl(int in_channels, int num_classes, int width) {
  features = nn::Sequential();
  int c = in_channels;
  for (int block = 0; block < 4; ++block) {
    const int out = width << block;
    features->push_back(nn::Conv2d(nn::Conv2dOptions(c, out, block == 0 ? 5 : 3)
                                       .stride(2).padding(block == 0 ? 2 : 1).bias(false)));
    features->push_back(nn::BatchNorm2d(out));
    features->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    c = out;
  }
  features->push_back(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  features->push_back(nn::Flatten());
  head = nn::Linear(c, num_classes);
  register_module("features", features);
  register_module("head", head);
}

torch::Tensor TinyCnnImpl::forward(torch::Tensor x) { return head->forward(features->forward(x)); }

}  // namespace cxr::trainer
