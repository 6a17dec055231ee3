// ResNet-18/34/50 (see resnet.h). Mirrors torchvision/models/resnet.py module for module, so that
// every registered name, shape and initialisation rule matches torchvision's.
#include "trainer/resnet.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.h"

namespace cxr::trainer {

namespace nn = torch::nn;

namespace {

nn::Conv2d conv3x3(int in, int out, int stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, /*kernel_size=*/3).stride(stride).padding(1).bias(false));
}

nn::Conv2d conv1x1(int in, int out, int stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, /*kernel_size=*/1).stride(stride).bias(false));
}

// torchvision projects the shortcut with a strided 1x1 conv + BN whenever the block changes the
// resolution or the channel count; otherwise the input is added unchanged and nothing is registered.
// Without BN the conv alone keeps its name, downsample.0.
nn::Sequential make_downsample(int in, int out, int stride, bool batch_norm) {
  if (stride == 1 && in == out) return nullptr;
  if (!batch_norm) return nn::Sequential(conv1x1(in, out, stride));
  return nn::Sequential(conv1x1(in, out, stride), nn::BatchNorm2d(out));
}

// An empty holder when the model is BN-free (norm "none").
nn::BatchNorm2d make_bn(int channels, bool batch_norm) {
  return batch_norm ? nn::BatchNorm2d(channels) : nn::BatchNorm2d(nullptr);
}

// BN, or the identity where the model has none. With a bn_group the statistics of a training-mode
// forward are those of the group (ghost_batch_norm.h); without one this is bn(x) itself.
torch::Tensor apply_bn(nn::BatchNorm2d& bn, const torch::Tensor& x, const std::shared_ptr<BatchNormGroups>& groups) {
  if (!bn) return x;
  return groups ? grouped_batch_norm(*bn, x, *groups) : bn(x);
}

// The shortcut: the input, or downsample.0 (1x1 conv) then downsample.1 (BN) when registered. The two are
// called one by one rather than through the Sequential, so that the BN follows the model's grouping.
torch::Tensor shortcut(nn::Sequential& downsample, const torch::Tensor& x,
                       const std::shared_ptr<BatchNormGroups>& groups) {
  if (!downsample) return x;
  torch::Tensor out = downsample[0]->as<nn::Conv2d>()->forward(x);
  if (downsample->size() > 1) out = groups ? grouped_batch_norm(*downsample[1]->as<nn::BatchNorm2d>(), out, *groups)
                                           : downsample[1]->as<nn::BatchNorm2d>()->forward(out);
  return out;
}

// Registers a BN under its torchvision name, unless the model is BN-free.
void register_bn(nn::Module& parent, const char* name, nn::BatchNorm2d& bn) {
  if (bn) parent.register_module(name, bn);
}

// Blocks per stage (torchvision's `layers`).
std::array<int, 4> stage_blocks(int depth) {
  switch (depth) {
    case 18: return {2, 2, 2, 2};
    case 34: return {3, 4, 6, 3};
    case 50: return {3, 4, 6, 3};
    default:
      throw UserError("unsupported ResNet depth " + std::to_string(depth),
                      "use model.depth 18, 34 or 50");
  }
}

void check_options(const ResNetOptions& o) {
  stage_blocks(o.depth);
  if (o.in_channels < 1)
    throw UserError("ResNet in_channels must be positive, got " + std::to_string(o.in_channels),
                    "use 1 for grey images or 3 for RGB");
  if (o.num_classes < 1)
    throw UserError("ResNet num_classes must be positive, got " + std::to_string(o.num_classes));
  if (!(o.width > 0) || !std::isfinite(o.width))
    throw UserError("ResNet width must be a positive number, got " + std::to_string(o.width),
                    "use 1.0 for the torchvision sizes, smaller values (e.g. 0.25) for fast tests");
  if (o.norm != "batch" && o.norm != "none")
    throw UserError("ResNet norm must be 'batch' or 'none', got '" + o.norm + "'",
                    "use 'batch' (torchvision) or 'none' (no BatchNorm, for equivalence tests)");
  if (o.bn_group < 0)
    throw UserError("ResNet bn_group must be >= 0, got " + std::to_string(o.bn_group),
                    "use 0 (statistics over the whole per-rank batch) or a group size in images");
  if (o.bn_group > 0 && o.norm != "batch")
    throw UserError("ResNet bn_group " + std::to_string(o.bn_group) + " needs norm 'batch', not '" + o.norm + "'",
                    "set model.bn_group=0 with model.norm=none");
}

template <typename Block>
nn::Sequential make_stage(int& in_planes, int planes, int blocks, int stride, bool batch_norm,
                          const std::shared_ptr<BatchNormGroups>& groups) {
  nn::Sequential stage;
  stage->push_back(Block(in_planes, planes, stride, batch_norm, groups));
  in_planes = planes * Block::Impl::kExpansion;
  for (int i = 1; i < blocks; ++i) stage->push_back(Block(in_planes, planes, /*stride=*/1, batch_norm, groups));
  return stage;
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(int in_planes, int planes, int stride, bool batch_norm,
                               std::shared_ptr<BatchNormGroups> groups)
    : conv1(conv3x3(in_planes, planes, stride)),
      conv2(conv3x3(planes, planes, /*stride=*/1)),
      bn1(make_bn(planes, batch_norm)),
      bn2(make_bn(planes, batch_norm)),
      downsample(make_downsample(in_planes, planes * kExpansion, stride, batch_norm)),
      groups_(std::move(groups)) {
  register_module("conv1", conv1);
  register_bn(*this, "bn1", bn1);
  register_module("conv2", conv2);
  register_bn(*this, "bn2", bn2);
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  // In-place ReLU after BN is safe for autograd (BN's backward keeps its input, not its output) and
  // saves one activation per block, as torchvision's inplace=True does.
  torch::Tensor out = apply_bn(bn1, conv1(x), groups_).relu_();
  out = apply_bn(bn2, conv2(out), groups_);
  out += shortcut(downsample, x, groups_);
  return out.relu_();
}

BottleneckImpl::BottleneckImpl(int in_planes, int planes, int stride, bool batch_norm,
                               std::shared_ptr<BatchNormGroups> groups)
    : conv1(conv1x1(in_planes, planes, /*stride=*/1)),
      conv2(conv3x3(planes, planes, stride)),  // v1.5: the stride sits here, not on conv1
      conv3(conv1x1(planes, planes * kExpansion, /*stride=*/1)),
      bn1(make_bn(planes, batch_norm)),
      bn2(make_bn(planes, batch_norm)),
      bn3(make_bn(planes * kExpansion, batch_norm)),
      downsample(make_downsample(in_planes, planes * kExpansion, stride, batch_norm)),
      groups_(std::move(groups)) {
  register_module("conv1", conv1);
  register_bn(*this, "bn1", bn1);
  register_module("conv2", conv2);
  register_bn(*this, "bn2", bn2);
  register_module("conv3", conv3);
  register_bn(*this, "bn3", bn3);
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  torch::Tensor out = apply_bn(bn1, conv1(x), groups_).relu_();
  out = apply_bn(bn2, conv2(out), groups_).relu_();
  out = apply_bn(bn3, conv3(out), groups_);
  out += shortcut(downsample, x, groups_);
  return out.relu_();
}

ResNetImpl::ResNetImpl(const ResNetOptions& options)
    : options_(options), bn_groups_(std::make_shared<BatchNormGroups>()) {
  check_options(options);
  bn_groups_->group = options.bn_group;
  const int base = std::max(1, static_cast<int>(std::lround(64 * options.width)));
  const bool bottleneck = options.depth >= 50;
  const std::array<int, 4> blocks = stage_blocks(options.depth);
  const bool batch_norm = options.norm == "batch";

  conv1 = nn::Conv2d(nn::Conv2dOptions(options.in_channels, base, /*kernel_size=*/7)
                         .stride(2).padding(3).bias(false));
  bn1 = make_bn(base, batch_norm);
  maxpool = nn::MaxPool2d(nn::MaxPool2dOptions(/*kernel_size=*/3).stride(2).padding(1));
  int in_planes = base;
  nn::Sequential* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int s = 0; s < 4; ++s) {
    const int planes = base << s;
    const int stride = s == 0 ? 1 : 2;
    *layers[s] = bottleneck ? make_stage<Bottleneck>(in_planes, planes, blocks[s], stride, batch_norm, bn_groups_)
                            : make_stage<BasicBlock>(in_planes, planes, blocks[s], stride, batch_norm, bn_groups_);
  }
  num_features_ = in_planes;
  avgpool = nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1));
  fc = nn::Linear(in_planes, options.num_classes);

  // Registration order is torchvision's, so state_dict-style listings come out in the same order.
  register_module("conv1", conv1);
  register_bn(*this, "bn1", bn1);
  register_module("maxpool", maxpool);
  register_module("layer1", layer1);
  register_module("layer2", layer2);
  register_module("layer3", layer3);
  register_module("layer4", layer4);
  register_module("avgpool", avgpool);
  register_module("fc", fc);

  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  // Each residual branch then starts as zero, so every block begins as the identity (Goyal et al.).
  if (options.zero_init_residual && batch_norm) {
    for (const auto& m : modules(/*include_self=*/false)) {
      if (auto* block = m->as<Bottleneck>()) nn::init::zeros_(block->bn3->weight);
      if (auto* block = m->as<BasicBlock>()) nn::init::zeros_(block->bn2->weight);
    }
  }
}

torch::Tensor ResNetImpl::forward_stage(int stage, torch::Tensor x) {
  switch (stage) {
    case 0:
      // Grey radiographs into a 3-channel (ImageNet-shaped) model: the one channel is replicated, the usual
      // way such models are fed X-rays. Any other channel mismatch is left to conv1's own shape error.
      if (x.dim() == 4 && x.size(1) == 1 && options_.in_channels == 3)
        x = x.expand({-1, 3, -1, -1}).contiguous(x.suggest_memory_format());
      return maxpool(apply_bn(bn1, conv1(x), bn_groups_).relu_());
    case 1: return layer1->forward(x);
    case 2: return layer2->forward(x);
    case 3: return layer3->forward(x);
    case 4: return layer4->forward(x);
    default: throw std::invalid_argument("ResNet has stages 0-4, not " + std::to_string(stage));
  }
}

torch::Tensor ResNetImpl::forward_features(torch::Tensor x) {
  for (int s = 0; s < kNumStages; ++s) x = forward_stage(s, std::move(x));
  return x;
}

torch::Tensor ResNetImpl::forward_head(torch::Tensor features) {
  return fc(torch::flatten(avgpool(features), /*start_dim=*/1));
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) { return forward_head(forward_features(std::move(x))); }

ResNet make_resnet(const ResNetOptions& options) { return ResNet(options); }

}  // namespace cxr::trainer
