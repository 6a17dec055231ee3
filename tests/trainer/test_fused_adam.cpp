// FusedAdam against LibTorch's torch::optim::Adam, the independent reference: the same parameters and
// gradients through k steps must give the same parameters (float rounding apart on the fused path,
// bit for bit on the per-op path), and their checkpoints must be interchangeable.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "trainer/fused_adam.h"

namespace cxr::trainer {
namespace {

// Parameters of the shapes and layouts a ResNet has: NCHW and channels_last conv weights (one with
// a single input channel), BN vectors, a linear layer.
std::vector<torch::Tensor> make_params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps;
  ps.push_back(torch::randn({64, 1, 7, 7}));
  ps.push_back(torch::empty({64, 1, 7, 7}, torch::MemoryFormat::ChannelsLast).copy_(torch::randn({64, 1, 7, 7})));
  ps.push_back(torch::randn({32, 16, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast));
  ps.push_back(torch::randn({70001}));  // above the parallel grain, odd length
  ps.push_back(torch::randn({14, 33}));
  for (auto& p : ps) p.set_requires_grad(true);
  return ps;
}

// Deterministic gradients for step k, in each parameter's own layout (as autograd delivers them).
void set_grads(std::vector<torch::Tensor>& ps, int k) {
  for (size_t i = 0; i < ps.size(); ++i) {
    torch::manual_seed(1000 * k + i);
    torch::Tensor g = torch::empty_like(ps[i]).copy_(torch::randn(ps[i].sizes()));
    ps[i].mutable_grad() = g;
  }
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / b.abs().clamp_min(1e-3)).max().item<double>();
}

template <typename Opt>
void run_steps(Opt& opt, std::vector<torch::Tensor>& ps, int from, int to) {
  for (int k = from; k < to; ++k) {
    set_grads(ps, k);
    opt.step();
  }
}

TEST(FusedAdam, MatchesLibTorchAdamOverManySteps) {
  for (double wd : {0.0, 0.01}) {
    auto a = make_params(7), b = make_params(7);
    auto options = torch::optim::AdamOptions(1e-3).weight_decay(wd);
    FusedAdam fused(a, options);
    torch::optim::Adam reference(b, options);
    run_steps(fused, a, 0, 20);
    run_steps(reference, b, 0, 20);
    EXPECT_EQ(fused.last_fused(), static_cast<int64_t>(a.size())) << "every float32 CPU parameter is fused";
    EXPECT_EQ(fused.last_per_op(), 0);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].strides(), b[i].strides()) << "parameter " << i << " keeps its layout";
      EXPECT_LT(max_rel_diff(a[i], b[i]), 1e-5) << "parameter " << i << ", weight decay " << wd;
      EXPECT_FALSE(torch::equal(a[i], make_params(7)[i])) << "parameter " << i << " moved";
    }
  }
}

TEST(FusedAdam, FusedLoopIsTheDocumentedFormulaBitForBit) {
  // The loop must give the same bits on every CPU (no FMA contraction in any clone): compare it with the
  // formula evaluated here one element at a time, in float, in fused_adam.cpp's order. Baseline x86-64
  // (this test's flags) has no FMA, so this side is uncontracted too.
  const double lr = 3e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
  torch::manual_seed(42);
  torch::Tensor p = torch::randn({1000}).requires_grad_(true);
  std::vector<float> ep(p.data_ptr<float>(), p.data_ptr<float>() + 1000), em(1000, 0.0f), ev(1000, 0.0f);
  FusedAdam fused({p}, torch::optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(wd));
  for (int k = 1; k <= 3; ++k) {
    torch::manual_seed(k);
    torch::Tensor g = torch::randn({1000});
    p.mutable_grad() = g;
    fused.step();
    const float sqrt_bc2 = static_cast<float>(std::sqrt(1 - std::pow(b2, k)));
    const float neg_step = static_cast<float>(-(lr / (1 - std::pow(b1, k))));
    for (int i = 0; i < 1000; ++i) {
      const float gi = g.data_ptr<float>()[i] + static_cast<float>(wd) * ep[i];
      em[i] = em[i] * static_cast<float>(b1) + static_cast<float>(1 - b1) * gi;
      ev[i] = ev[i] * static_cast<float>(b2) + static_cast<float>(1 - b2) * gi * gi;
      const float denom = std::sqrt(ev[i]) / sqrt_bc2 + static_cast<float>(eps);
      ep[i] = ep[i] + neg_step * em[i] / denom;
    }
  }
  EXPECT_EQ(fused.last_fused(), 1);
  EXPECT_TRUE(torch::equal(p.detach(), torch::from_blob(ep.data(), {1000}))) << "max |diff| "
      << (p.detach() - torch::from_blob(ep.data(), {1000})).abs().max().item<float>();
}

TEST(FusedAdam, SizeOneDimensionStridesDoNotBlockFusingAndVersionsAreBumped) {
  // conv1's weight [64,1,7,7] in channels_last, with a gradient in NCHW strides: the same memory order.
  torch::Tensor p = torch::empty({64, 1, 7, 7}, torch::MemoryFormat::ChannelsLast).copy_(torch::randn({64, 1, 7, 7}));
  p.set_requires_grad(true);
  torch::Tensor q = p.detach().clone(torch::MemoryFormat::Contiguous).requires_grad_(true);
  ASSERT_NE(p.strides(), q.strides());
  FusedAdam fused({p}, torch::optim::AdamOptions(1e-3));
  torch::optim::Adam reference({q}, torch::optim::AdamOptions(1e-3));
  torch::Tensor g = torch::randn({64, 1, 7, 7});
  p.mutable_grad() = g.clone();
  q.mutable_grad() = g.clone();
  const auto version = p._version();
  fused.step();
  reference.step();
  EXPECT_EQ(fused.last_fused(), 1);
  EXPECT_GT(p._version(), version);
  EXPECT_LT(max_rel_diff(p.detach(), q.detach()), 1e-5);
}

TEST(FusedAdam, MixedStepsAreLibTorchsAdamBitForBit) {
  // One float64 parameter among float32 ones: the whole step goes to LibTorch's Adam.
  auto a = make_params(9), b = make_params(9);
  for (auto* ps : {&a, &b}) (*ps)[3] = (*ps)[3].detach().to(torch::kDouble).requires_grad_(true);
  FusedAdam fused(a, torch::optim::AdamOptions(1e-3));
  torch::optim::Adam reference(b, torch::optim::AdamOptions(1e-3));
  run_steps(fused, a, 0, 4);
  run_steps(reference, b, 0, 4);
  EXPECT_EQ(fused.last_fused(), 0);
  EXPECT_EQ(fused.last_per_op(), static_cast<int64_t>(a.size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
}

TEST(FusedAdam, PerOpPathIsLibTorchsAdamBitForBit) {
  // amsgrad and float64 parameters are not fused: the step must equal LibTorch's exactly.
  auto to_double = [](std::vector<torch::Tensor> ps) {
    for (auto& p : ps) p = p.detach().to(torch::kDouble).requires_grad_(true);
    return ps;
  };
  for (bool amsgrad : {true, false}) {
    auto a = amsgrad ? make_params(3) : to_double(make_params(3));
    auto b = amsgrad ? make_params(3) : to_double(make_params(3));
    auto options = torch::optim::AdamOptions(1e-2).amsgrad(amsgrad).weight_decay(0.1);
    FusedAdam fused(a, options);
    torch::optim::Adam reference(b, options);
    for (int k = 0; k < 5; ++k) {
      set_grads(a, k);
      set_grads(b, k);
      fused.step();
      reference.step();
    }
    EXPECT_EQ(fused.last_per_op(), static_cast<int64_t>(a.size()));
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  }
}

TEST(FusedAdam, ParametersWithoutGradientsAreLeftAlone) {
  auto a = make_params(5);
  FusedAdam fused(a, torch::optim::AdamOptions(1e-3));
  set_grads(a, 0);
  a[1].mutable_grad() = torch::Tensor();
  const torch::Tensor before = a[1].detach().clone();
  fused.step();
  EXPECT_TRUE(torch::equal(a[1], before));
  EXPECT_EQ(fused.last_fused(), static_cast<int64_t>(a.size()) - 1);
}

TEST(FusedAdam, CheckpointsAreInterchangeableWithLibTorchAdam) {
  // 6 fused steps, saved, loaded into LibTorch's Adam, 6 more there == 12 LibTorch steps. If the state
  // were stored under other keys than LibTorch's, the loaded moments would be lost and this would fail.
  auto a = make_params(11), b = make_params(11);
  auto options = torch::optim::AdamOptions(1e-3);
  FusedAdam fused(a, options);
  run_steps(fused, a, 0, 6);
  std::stringstream archive;
  {
    torch::serialize::OutputArchive out;
    fused.save(out);
    out.save_to(archive);
  }
  torch::optim::Adam resumed(a, options);
  {
    torch::serialize::InputArchive in;
    in.load_from(archive);
    resumed.load(in);
  }
  run_steps(resumed, a, 6, 12);
  torch::optim::Adam straight(b, options);
  run_steps(straight, b, 0, 12);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(max_rel_diff(a[i], b[i]), 1e-5) << "parameter " << i;
  const auto& st = static_cast<torch::optim::AdamParamState&>(*resumed.state().begin()->second);
  EXPECT_EQ(st.step(), 12);
}

}  // namespace
}  // namespace cxr::trainer
