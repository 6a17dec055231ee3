// Grad-CAM (Selvaraju et al. 2017) for all 14 classes of a ResNet at one stage: weights alpha_ck = the spatial
// mean of d logit_c / d A_k, map_c = ReLU(sum_k alpha_ck A_k). At layer4, which only global average pooling and
// the linear head follow, d logit_c / d A_k,ij = w_ck / (h w), so the 14 maps are ReLU(W A) / (h w) from one
// forward pass; any other stage uses autograd (one backward per class). Maps are raw, never min-max scaled.
#pragma once

#include <torch/types.h>

#include <string>

#include "trainer/resnet.h"

namespace cxr::eval {

// "stem" -> 0, "layer1" .. "layer4" -> 1 .. 4; UserError naming the choices otherwise.
int cam_stage(const std::string& layer);
const char* cam_stage_name(int stage);

struct Cams {
  torch::Tensor maps;      // [B,14,h,w] float32 on the CPU, >= 0 (after the ReLU)
  torch::Tensor linear;    // [B,14,h,w] the same before the ReLU (rank statistics: the ReLU ties every negative at 0)
  torch::Tensor logits;    // [B,14] float64 on the CPU
  bool one_pass = false;   // true when the head's weights gave the maps
};

// Grad-CAM of every class for input x [B,C,H,W] (on the model's device, the model in eval mode). The one-pass
// form is used at stage 4 unless force_autograd.
Cams grad_cam(trainer::ResNet& model, const torch::Tensor& x, int stage, bool force_autograd = false);

}  // namespace cxr::eval
