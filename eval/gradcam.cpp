// Grad-CAM of every class (see gradcam.h).
#include "eval/gradcam.h"

#include <torch/torch.h>

#include "core/error.h"
#include "data/classes.h"

namespace cxr::eval {

namespace {
constexpr const char* kStageNames[trainer::ResNetImpl::kNumStages] = {"stem", "layer1", "layer2", "layer3", "layer4"};
}

int cam_stage(const std::string& layer) {
  for (int s = 0; s < trainer::ResNetImpl::kNumStages; ++s)
    if (layer == kStageNames[s]) return s;
  throw UserError("--layer '" + layer + "' is not a stage of the ResNet",
                  "choose stem, layer1, layer2, layer3 or layer4 (the default: the last convolutional stage)");
}

const char* cam_stage_name(int stage) { return kStageNames[stage]; }

Cams grad_cam(trainer::ResNet& model, const torch::Tensor& x, int stage, bool force_autograd) {
  constexpr int K = data::kNumClasses;
  Cams out;
  if (stage == trainer::ResNetImpl::kNumStages - 1 && !force_autograd) {
    torch::NoGradGuard no_grad;
    const torch::Tensor features = model->forward_features(x);  // [B,C,h,w]
    // The logits from the same features, exactly as forward_head computes them.
    out.logits = model->forward_head(features).to(torch::kCPU, torch::kFloat64);
    const torch::Tensor a = features.to(torch::kFloat32).contiguous();
    const int64_t b = a.size(0), c = a.size(1), h = a.size(2), w = a.size(3);
    const torch::Tensor weight = model->fc->weight.to(torch::kFloat32);  // [14,C]
    out.linear = torch::matmul(weight, a.reshape({b, c, h * w})).reshape({b, K, h, w}).div_(static_cast<double>(h * w));
    out.linear = out.linear.to(torch::kCPU).contiguous();
    out.maps = out.linear.clamp_min(0);
    out.one_pass = true;
    return out;
  }
  torch::AutoGradMode grad_on(true);
  torch::Tensor a = x;
  {
    torch::NoGradGuard no_grad;  // nothing below the chosen stage needs gradients
    for (int s = 0; s <= stage; ++s) a = model->forward_stage(s, a);
  }
  a = a.detach().requires_grad_(true);
  torch::Tensor y = a;
  for (int s = stage + 1; s < trainer::ResNetImpl::kNumStages; ++s) y = model->forward_stage(s, y);
  const torch::Tensor logits = model->forward_head(y);  // [B,14]
  std::vector<torch::Tensor> linear;
  for (int k = 0; k < K; ++k) {
    // Images are independent in eval mode, so the gradient of the batch's sum is each image's own gradient.
    const torch::Tensor g = torch::autograd::grad({logits.select(1, k).sum()}, {a}, {}, /*retain_graph=*/k + 1 < K)[0];
    const torch::Tensor alpha = g.mean({2, 3}, /*keepdim=*/true);
    linear.push_back((alpha * a.detach()).sum(1).to(torch::kFloat32));  // [B,h,w]
  }
  out.logits = logits.detach().to(torch::kCPU, torch::kFloat64);
  out.linear = torch::stack(linear, 1).to(torch::kCPU).contiguous();
  out.maps = out.linear.clamp_min(0);
  return out;
}

}  // namespace cxr::eval
