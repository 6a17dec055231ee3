// FGSM and PGD (trainer/adversarial.cpp): FGSM on a linear model against its closed form (the gradient of the
// margin objective sum_c (1 - 2 y_c) z_c is sum_c (1 - 2 y_c) w_c, so x' = clip(x + eps sign(that))); the
// L-infinity ball and the displayable range for both attacks; epsilon 0 is the identity; on a small ResNet the
// objective grows with epsilon and PGD's is at least FGSM's at every epsilon, in total and per image; the model's
// parameters and their gradients are untouched; unknown attack names name the nearest.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "trainer/adversarial.h"
#include "trainer/resnet.h"

using namespace cxr::trainer;

namespace {

constexpr float kMean = 0.449f, kStd = 0.226f;
const double kLo = (0.0 - kMean) / kStd, kHi = (1.0 - kMean) / kStd;

AttackOptions options(AttackKind kind, double eps) {
  AttackOptions o;
  o.kind = kind;
  o.epsilon_grey = eps;
  o.mean = kMean;
  o.std = kStd;
  return o;
}

// Images drawn from the displayable range, some at its edges (the clip must act there).
torch::Tensor images(int b, int side, uint64_t seed) {
  torch::manual_seed(seed);
  torch::Tensor v = torch::rand({b, 1, side, side}, torch::kFloat32);
  v.index_put_({0, 0, 0}, 0.0f);
  v.index_put_({0, 0, 1}, 1.0f);
  return (v - kMean) / kStd;
}

torch::Tensor labels(int b, uint64_t seed) {
  torch::manual_seed(seed);
  return (torch::rand({b, 14}) < 0.3).to(torch::kFloat32);
}

double loss_of(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  return attack_loss(f(x), y).item<double>();
}

// ResNet-18 at 1/8 width in eval mode (BatchNorm with running statistics: each image's gradient is its own).
ResNet tiny_resnet() {
  ResNetOptions ro;
  ro.depth = 18;
  ro.width = 0.125;
  ResNet model(ro);
  model->eval();
  return model;
}

}  // namespace

TEST(Adversarial, FgsmOnALinearModelIsTheClosedForm) {
  const int b = 4, side = 6, d = side * side;
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({14, d}, torch::kFloat64).to(torch::kFloat32);
  const torch::Tensor bias = torch::randn({14});
  auto f = [&](const torch::Tensor& x) { return torch::matmul(x.reshape({x.size(0), d}), w.t()) + bias; };
  const torch::Tensor x = images(b, side, 5), y = labels(b, 6);
  for (double eps : {0.5, 2.0, 8.0}) {
    const torch::Tensor got = adversarial_images(f, x, y, options(AttackKind::kFgsm, eps));
    torch::Tensor g;
    {
      torch::NoGradGuard ng;
      g = torch::matmul(1 - 2 * y, w).reshape(x.sizes());
    }
    const double e = eps / 255.0 / kStd;
    const torch::Tensor want = (x + e * g.sign()).clamp(kLo, kHi);
    EXPECT_TRUE(torch::allclose(got, want, 0, 1e-6)) << "eps " << eps << ": max |diff| "
                                                     << (got - want).abs().max().item<double>();
  }
}

TEST(Adversarial, StaysInTheBallAndTheRange) {
  const int b = 3, side = 32;
  torch::manual_seed(11);
  ResNet model = tiny_resnet();
  auto f = [&](const torch::Tensor& x) { return model->forward(x); };
  const torch::Tensor x = images(b, side, 12), y = labels(b, 13);
  for (AttackKind kind : {AttackKind::kFgsm, AttackKind::kPgd})
    for (double eps : {0.5, 4.0, 32.0}) {
      const torch::Tensor xa = adversarial_images(f, x, y, options(kind, eps));
      const double e = eps / 255.0 / kStd;
      EXPECT_LE((xa - x).abs().max().item<double>(), e * (1 + 1e-5)) << attack_name(kind) << " eps " << eps;
      EXPECT_GE(xa.min().item<double>(), kLo - 1e-6);
      EXPECT_LE(xa.max().item<double>(), kHi + 1e-6);
      EXPECT_GT((xa - x).abs().max().item<double>(), 0.5 * e) << "the attack did not move the image";
    }
  EXPECT_TRUE(torch::equal(adversarial_images(f, x, y, options(AttackKind::kPgd, 0.0)), x));
}

TEST(Adversarial, LossGrowsWithEpsilonAndPgdIsAtLeastFgsm) {
  const int b = 8, side = 32;
  torch::manual_seed(21);
  ResNet model = tiny_resnet();
  auto f = [&](const torch::Tensor& x) { return model->forward(x); };
  const torch::Tensor x = images(b, side, 22), y = labels(b, 23);
  std::vector<torch::Tensor> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
  const double clean = loss_of(f, x, y);
  double last_fgsm = clean, last_pgd = clean;
  for (double eps : {0.5, 1.0, 2.0, 4.0}) {
    const double lf = loss_of(f, adversarial_images(f, x, y, options(AttackKind::kFgsm, eps)), y);
    const double lp = loss_of(f, adversarial_images(f, x, y, options(AttackKind::kPgd, eps)), y);
    EXPECT_GT(lf, last_fgsm) << "FGSM loss at eps " << eps;
    EXPECT_GT(lp, last_pgd) << "PGD loss at eps " << eps;
    EXPECT_GE(lp, lf) << "PGD weaker than FGSM at eps " << eps;
    // Per image, too: PGD starts at FGSM's point and keeps its best visit.
    const torch::Tensor per_f = ((1 - 2 * y) * f(adversarial_images(f, x, y, options(AttackKind::kFgsm, eps)))).sum(1);
    const torch::Tensor per_p = ((1 - 2 * y) * f(adversarial_images(f, x, y, options(AttackKind::kPgd, eps)))).sum(1);
    EXPECT_TRUE((per_p >= per_f - 1e-5).all().item<bool>()) << "an image where PGD is below FGSM at eps " << eps;
    last_fgsm = lf;
    last_pgd = lp;
  }
  EXPECT_GT(last_pgd, clean + 0.01 * std::fabs(clean));
  size_t i = 0;
  for (const auto& p : model->parameters()) {
    EXPECT_TRUE(torch::equal(p.detach(), before[i++])) << "the attack changed a parameter";
    EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() > 0) << "the attack left parameter gradients";
  }
}

TEST(Adversarial, Names) {
  EXPECT_EQ(parse_attack_name("fgsm"), AttackKind::kFgsm);
  EXPECT_EQ(parse_attack_name("pgd"), AttackKind::kPgd);
  try {
    parse_attack_name("pdg");
    FAIL() << "no error";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'pgd'"), std::string::npos) << e.what();
  }
  AttackOptions o = options(AttackKind::kPgd, 2.0);
  EXPECT_NEAR(attack_step_normalised(o), 2.5 * 2.0 / 255.0 / kStd / 7, 1e-12);
}
