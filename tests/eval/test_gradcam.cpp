// Grad-CAM against its definition: alpha_ck = the spatial mean of d logit_c / d A_k, computed here by central
// finite differences in double precision (no autograd), map_c = ReLU(sum_k alpha_ck A_k). The autograd form at
// layer3 and at layer4, and the one-pass form at layer4 (the head's rows), must all equal it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "eval/gradcam.h"
#include "trainer/resnet.h"

using cxr::eval::Cams;
using cxr::eval::grad_cam;
using cxr::trainer::ResNet;
using cxr::trainer::ResNetOptions;

namespace {

ResNet small_resnet(bool batch_norm) {
  torch::manual_seed(3);
  ResNetOptions o;
  o.depth = 18;
  o.width = 0.25;
  o.norm = batch_norm ? "batch" : "none";
  ResNet m = cxr::trainer::make_resnet(o);
  if (batch_norm) {
    // Running statistics that are not the identity, so eval-mode BN matters.
    m->train();
    torch::NoGradGuard g;
    for (int i = 0; i < 3; ++i) m->forward(torch::randn({8, 1, 64, 64}) * 2 + 0.5);
  }
  m->eval();
  m->to(torch::kFloat64);
  return m;
}

// The definition, by finite differences of the network above `stage`.
torch::Tensor reference_maps(ResNet& m, const torch::Tensor& x, int stage) {
  torch::NoGradGuard g;
  torch::Tensor a = x;
  for (int s = 0; s <= stage; ++s) a = m->forward_stage(s, a);
  auto head = [&](const torch::Tensor& act) {
    torch::Tensor y = act;
    for (int s = stage + 1; s < cxr::trainer::ResNetImpl::kNumStages; ++s) y = m->forward_stage(s, y);
    return m->forward_head(y);  // [B,14]
  };
  const int64_t b = a.size(0), ch = a.size(1), h = a.size(2), w = a.size(3);
  const double eps = 1e-5, z = static_cast<double>(h * w);
  torch::Tensor alpha = torch::zeros({b, 14, ch}, torch::kFloat64);
  for (int64_t k = 0; k < ch; ++k) {
    torch::Tensor up = a.clone(), down = a.clone();
    up.select(1, k).add_(eps);
    down.select(1, k).sub_(eps);
    // d logit / d(eps added to every position of channel k) = sum_ij d logit / d A_kij = z * alpha_k.
    alpha.select(2, k).copy_((head(up) - head(down)) / (2 * eps * z));
  }
  // [B,14,C] x [B,C,hw] -> [B,14,hw]
  return torch::bmm(alpha, a.reshape({b, ch, h * w})).reshape({b, 14, h, w}).clamp_min(0);
}

}  // namespace

TEST(GradCam, AutogradMatchesTheDefinitionAtLayer3) {
  ResNet m = small_resnet(/*batch_norm=*/true);
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({2, 1, 64, 64}, torch::kFloat64);
  const torch::Tensor ref = reference_maps(m, x, 3);
  const Cams c = grad_cam(m, x, 3);
  EXPECT_FALSE(c.one_pass);
  ASSERT_EQ(c.maps.sizes(), ref.sizes());
  const double scale = ref.abs().max().item<double>();
  ASSERT_GT(scale, 0);
  EXPECT_LT((c.maps.to(torch::kFloat64) - ref).abs().max().item<double>() / scale, 1e-5);
  // Some maps have both signs before the ReLU, so the ReLU is exercised.
  EXPECT_GT((c.linear < 0).sum().item<int64_t>(), 0);
  EXPECT_GT((c.linear > 0).sum().item<int64_t>(), 0);
  // The logits are the model's.
  torch::NoGradGuard g;
  EXPECT_LT((c.logits - m->forward(x)).abs().max().item<double>(), 1e-9);
}

TEST(GradCam, OnePassEqualsAutogradAndTheDefinitionAtLayer4) {
  for (bool bn : {true, false}) {
    ResNet m = small_resnet(bn);
    torch::manual_seed(7);
    const torch::Tensor x = torch::randn({3, 1, 96, 96}, torch::kFloat64);
    const Cams one = grad_cam(m, x, 4);
    const Cams autograd = grad_cam(m, x, 4, /*force_autograd=*/true);
    const torch::Tensor ref = reference_maps(m, x, 4);
    EXPECT_TRUE(one.one_pass);
    EXPECT_FALSE(autograd.one_pass);
    ASSERT_EQ(one.maps.sizes(), autograd.maps.sizes());
    ASSERT_EQ(one.maps.sizes(), torch::IntArrayRef({3, 14, 3, 3}));
    const double scale = ref.abs().max().item<double>();
    ASSERT_GT(scale, 0);
    EXPECT_LT((one.linear - autograd.linear).abs().max().item<double>() / scale, 1e-6) << "bn " << bn;
    EXPECT_LT((one.maps.to(torch::kFloat64) - ref).abs().max().item<double>() / scale, 1e-5) << "bn " << bn;
    EXPECT_LT((one.logits - autograd.logits).abs().max().item<double>(), 1e-9);
  }
}

TEST(GradCam, UnknownLayerIsAUserError) {
  EXPECT_EQ(cxr::eval::cam_stage("layer4"), 4);
  EXPECT_EQ(cxr::eval::cam_stage("stem"), 0);
  EXPECT_THROW(cxr::eval::cam_stage("layer5"), std::exception);
}
