// ResNet-18/34/50 in torchvision's v1.5 layout (stride on the 3x3 conv of a Bottleneck), with
// torchvision's parameter and buffer names (conv1, bn1, layer1.0.downsample.0, ..., fc) so state dicts
// map 1:1 to torchvision.models.resnet{18,34,50}. Input [B,in_channels,H,W], logits [B,num_classes];
// the feature map is downsampled 32x (H=224 -> 7). With norm "none" every BatchNorm is the identity
// (no module, no parameters): the BN-free variant the data-parallel equivalence tests need. With
// bn_group G, training-mode BatchNorm takes its statistics over fixed groups of G images whatever the
// rank count (ghost_batch_norm.h); the modules, names and eval-mode maths stay torchvision's.
#pragma once

#include <torch/nn.h>

#include <cstdint>
#include <memory>
#include <string>

#include "trainer/ghost_batch_norm.h"

namespace cxr::trainer {

struct ResNetOptions {
  int depth = 50;                   // 18, 34 or 50
  int in_channels = 1;              // 1 for grey radiographs, 3 for torchvision's RGB models (a 1-channel
                                    // input is then replicated into the 3 channels)
  int num_classes = 14;             // the 14 NIH ChestX-ray14 labels
  double width = 1.0;               // scales the base width 64 (and every stage); 1.0 = torchvision
  bool zero_init_residual = false;  // last BN of each block starts at weight 0 (torchvision's option)
  // "batch" (torchvision) or "none": no BatchNorm at all. Then every bn*/downsample.1 module is left
  // out (empty holder, nothing registered, forward skips it), every other name is unchanged, the
  // model has no buffers and its output for a sample does not depend on the rest of the batch, so
  // N ranks x B/N equals 1 rank x B. zero_init_residual has nothing to act on and is ignored.
  std::string norm = "batch";
  // Training-mode BatchNorm statistics over groups of this many consecutive images of the batch (0: the
  // whole batch the forward pass gets, torchvision's behaviour). A group larger than the batch spans
  // ranks: set_batch_norm_communicator. Needs norm "batch" when non-zero.
  int64_t bn_group = 0;
};

// conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, plus the (possibly projected) input. ResNet-18/34.
struct BasicBlockImpl : torch::nn::Module {
  static constexpr int kExpansion = 1;
  // `groups`: how its BatchNorms take statistics in training (shared with the model); nullptr = plain BN.
  BasicBlockImpl(int in_planes, int planes, int stride, bool batch_norm = true,
                 std::shared_ptr<BatchNormGroups> groups = nullptr);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // 1x1 conv (+ BN); registered only when shapes change

 private:
  std::shared_ptr<BatchNormGroups> groups_;
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce -> 3x3(stride) -> 1x1 expand (x4), each with BN, plus the input. ResNet-50.
struct BottleneckImpl : torch::nn::Module {
  static constexpr int kExpansion = 4;
  BottleneckImpl(int in_planes, int planes, int stride, bool batch_norm = true,
                 std::shared_ptr<BatchNormGroups> groups = nullptr);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  std::shared_ptr<BatchNormGroups> groups_;
};
TORCH_MODULE(Bottleneck);

struct ResNetImpl : torch::nn::Module {
  // Throws UserError for an unsupported depth or a non-positive size. Initialises as torchvision does:
  // convs Kaiming-normal (fan_out, ReLU), BN weight 1 / bias 0, fc keeps Linear's default.
  explicit ResNetImpl(const ResNetOptions& options);

  // [B,in_channels,H,W] -> last conv feature map [B,num_features(),ceil(H/32),ceil(W/32)], after the
  // final ReLU: the activations Grad-CAM weights.
  torch::Tensor forward_features(torch::Tensor x);
  // [B,in_channels,H,W] -> logits [B,num_classes] (global average pool of the features, then fc).
  torch::Tensor forward(torch::Tensor x);
  // The same network in stages, for Grad-CAM at any of them: stage 0 is the stem (conv1, bn1, ReLU, max pool),
  // stages 1-4 are layer1-layer4; forward_features is stages 0-4 in turn and forward is forward_head of that.
  static constexpr int kNumStages = 5;
  torch::Tensor forward_stage(int stage, torch::Tensor x);
  // [B,num_features(),h,w] -> logits [B,num_classes]: global average pool, then fc.
  torch::Tensor forward_head(torch::Tensor features);

  const ResNetOptions& options() const { return options_; }
  int64_t num_features() const { return num_features_; }  // channels of forward_features' output

  // For a bn_group larger than the per-rank batch: the ranks holding this rank's group (bn_group / batch
  // consecutive ranks), over which training-mode statistics are all-reduced. Not owned; it must outlive
  // every training-mode forward and backward. nullptr (the default) = groups within the batch only.
  void set_batch_norm_communicator(comm::Communicator* group_ranks) { bn_groups_->comm = group_ranks; }
  // The shared grouping, with the time SyncBatchNorm's collectives took (train.log's bn-sync).
  BatchNormGroups& batch_norm_groups() { return *bn_groups_; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};  // empty (and every block's BNs too) with norm "none"
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Linear fc{nullptr};

 private:
  ResNetOptions options_;
  int64_t num_features_ = 0;
  std::shared_ptr<BatchNormGroups> bn_groups_;
};
TORCH_MODULE(ResNet);

// The checked factory the rest of cxrtrain uses; same as ResNet(options).
ResNet make_resnet(const ResNetOptions& options);

}  // namespace cxr::trainer
