// ResNet-18/34/50 against torchvision: exact parameter counts, state-dict names/shapes/order (frozen
// from torchvision by make_resnet_keys_fixture.py), initialisation statistics, forward shapes, and the
// C++ side of the torchvision weight format (round trip, strict loading errors).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "comm/local_communicator.h"
#include "core/error.h"
#include "trainer/ghost_batch_norm.h"
#include "trainer/resnet.h"
#include "trainer/sync_batch_norm.h"
#include "trainer/torchvision_export.h"

namespace {

using cxr::trainer::ResNet;
using cxr::trainer::ResNetOptions;
namespace fs = std::filesystem;

ResNetOptions options(int depth, int in_channels, int num_classes, double width = 1.0, bool zero_init = false) {
  ResNetOptions o;
  o.depth = depth;
  o.in_channels = in_channels;
  o.num_classes = num_classes;
  o.width = width;
  o.zero_init_residual = zero_init;
  return o;
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("cxr_test_resnet_" + std::to_string(::getpid()) + "_" + name);
  fs::create_directories(dir);
  return dir;
}

// The numbers torchvision reports (sum of p.numel() over resnetN(num_classes=1000).parameters()).
TEST(ResNet, ParameterCountsMatchTorchvision) {
  EXPECT_EQ(count_parameters(*cxr::trainer::make_resnet(options(18, 3, 1000))), 11689512);
  EXPECT_EQ(count_parameters(*cxr::trainer::make_resnet(options(34, 3, 1000))), 21797672);
  EXPECT_EQ(count_parameters(*cxr::trainer::make_resnet(options(50, 3, 1000))), 25557032);
}

TEST(ResNet, StateDictNamesShapesAndOrderMatchTorchvision) {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/trainer/fixtures/torchvision_resnet_keys.json");
  ASSERT_TRUE(in) << "fixture missing";
  const nlohmann::json fixture = nlohmann::json::parse(in);
  for (int depth : {18, 34, 50}) {
    SCOPED_TRACE("ResNet-" + std::to_string(depth));
    const auto& expected = fixture["models"]["resnet" + std::to_string(depth)]["state_dict"];
    const auto actual = cxr::trainer::torchvision_state_dict(*cxr::trainer::make_resnet(options(depth, 3, 1000)));
    ASSERT_EQ(actual.size(), expected.size());
    size_t i = 0;
    for (const auto& item : actual) {
      const std::string name = expected[i][0].get<std::string>();
      const std::vector<int64_t> shape = expected[i][1].get<std::vector<int64_t>>();
      EXPECT_EQ(item.key(), name) << "entry " << i;
      EXPECT_EQ(item.value().sizes().vec(), shape) << name;
      ++i;
    }
  }
}

// torchvision: Kaiming normal with fan_out and gain sqrt(2) for every conv, so std = sqrt(2/fan_out)
// with fan_out = out_channels * kh * kw. The 7x7 stem (fan_in 49 vs fan_out 3136) and the 1x1
// reductions (fan_in 4x fan_out) would fail under fan_in.
TEST(ResNet, ConvInitIsKaimingNormalFanOut) {
  torch::manual_seed(1);
  ResNet model = cxr::trainer::make_resnet(options(50, 1, 14));
  int checked = 0;
  for (const auto& p : model->named_parameters()) {
    const torch::Tensor& w = p.value();
    if (w.dim() != 4) continue;
    const double fan_out = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
    const double expected = std::sqrt(2.0 / fan_out);
    const double n = static_cast<double>(w.numel());
    const double std = w.std().item<double>();
    // Sample std of n normals has relative sd 1/sqrt(2n); allow 6 of those plus 1 %.
    EXPECT_NEAR(std / expected, 1.0, 0.01 + 6.0 / std::sqrt(2.0 * n)) << p.key();
    EXPECT_NEAR(w.mean().item<double>() / expected, 0.0, 6.0 / std::sqrt(n)) << p.key();
    if (n >= 100000) {
      // Normal, not uniform: 68.3 % of a normal lies within one sd (57.7 % of a uniform).
      const double within = (w.abs() < std).to(torch::kDouble).mean().item<double>();
      EXPECT_NEAR(within, 0.6827, 0.01) << p.key();
    }
    ++checked;
  }
  EXPECT_EQ(checked, 53);  // stem + 16 blocks x 3 + 4 downsample convs
}

TEST(ResNet, BatchNormStartsAtOneAndZero) {
  ResNet model = cxr::trainer::make_resnet(options(50, 1, 14, 0.25));
  int checked = 0;
  for (const auto& item : cxr::trainer::torchvision_state_dict(*model)) {
    const std::string& k = item.key();
    const torch::Tensor& t = item.value();
    if (k.rfind("fc.", 0) == 0 || t.dim() != 1) continue;
    ++checked;
    const bool one = ends_with(k, ".weight") || ends_with(k, ".running_var");
    EXPECT_TRUE(torch::all(t == (one ? 1 : 0)).item<bool>()) << k;
  }
  EXPECT_EQ(checked, 53 * 4);
}

// PyTorch's Linear default, which torchvision keeps: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
TEST(ResNet, FcKeepsLinearDefaultInit) {
  torch::manual_seed(2);
  ResNet model = cxr::trainer::make_resnet(options(50, 1, 14));
  const double bound = 1.0 / std::sqrt(2048.0);
  const torch::Tensor w = model->fc->weight, b = model->fc->bias;
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_NEAR(w.std().item<double>(), bound / std::sqrt(3.0), 0.03 * bound);
  EXPECT_LE(b.abs().max().item<double>(), bound);
  EXPECT_GT(b.abs().max().item<double>(), 0.0);
}

TEST(ResNet, ZeroInitResidualZeroesLastBnOfEachBlock) {
  for (int depth : {18, 50}) {
    SCOPED_TRACE(depth);
    const std::string last = depth == 50 ? ".bn3.weight" : ".bn2.weight";
    for (bool zero : {false, true}) {
      ResNet model = cxr::trainer::make_resnet(options(depth, 1, 14, 0.25, zero));
      int last_bns = 0;
      for (const auto& p : model->named_parameters()) {
        const bool is_last = p.key().rfind("layer", 0) == 0 && ends_with(p.key(), last);
        if (!ends_with(p.key(), "weight") || p.value().dim() != 1) continue;
        last_bns += is_last;
        const double expected = is_last && zero ? 0.0 : 1.0;  // downsample.1 is never zeroed
        EXPECT_TRUE(torch::all(p.value() == expected).item<bool>()) << p.key() << " zero=" << zero;
      }
      EXPECT_EQ(last_bns, depth == 50 ? 16 : 8);
    }
  }
}

TEST(ResNet, ForwardShapes) {
  torch::NoGradGuard no_grad;
  for (int depth : {18, 34, 50}) {
    for (int channels : {1, 3}) {
      SCOPED_TRACE("depth " + std::to_string(depth) + " channels " + std::to_string(channels));
      ResNet model = cxr::trainer::make_resnet(options(depth, channels, 14, 0.25));
      model->eval();
      const int64_t features = depth == 50 ? 2048 / 4 : 512 / 4;
      EXPECT_EQ(model->num_features(), features);
      const torch::Tensor x = torch::randn({2, channels, 70, 64});
      EXPECT_EQ(model->forward_features(x).sizes().vec(), (std::vector<int64_t>{2, features, 3, 2}));
      EXPECT_EQ(model->forward(x).sizes().vec(), (std::vector<int64_t>{2, 14}));
    }
  }
  ResNet model = cxr::trainer::make_resnet(options(18, 1, 14, 0.25));
  EXPECT_THROW(model->forward(torch::randn({2, 3, 64, 64})), c10::Error);  // wrong channel count
}

// forward = fc(mean over h,w of forward_features): what Grad-CAM relies on.
TEST(ResNet, ForwardIsPooledFeaturesThroughFc) {
  torch::manual_seed(3);
  ResNet model = cxr::trainer::make_resnet(options(18, 1, 5, 0.25));
  model->eval();
  const torch::Tensor x = torch::randn({3, 1, 64, 64});
  const torch::Tensor features = model->forward_features(x);
  const torch::Tensor expected = torch::linear(features.mean({2, 3}), model->fc->weight, model->fc->bias);
  EXPECT_TRUE(torch::allclose(model->forward(x), expected, /*rtol=*/1e-5, /*atol=*/1e-6));
}

TEST(ResNet, BackwardReachesEveryParameter) {
  ResNet model = cxr::trainer::make_resnet(options(50, 1, 14, 0.25));
  model->train();
  model->forward(torch::randn({2, 1, 64, 64})).sum().backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(ResNet, WidthScalesEveryStage) {
  ResNet model = cxr::trainer::make_resnet(options(50, 1, 14, 0.5));
  EXPECT_EQ(model->conv1->weight.sizes().vec(), (std::vector<int64_t>{32, 1, 7, 7}));
  EXPECT_EQ(model->num_features(), 1024);
  EXPECT_EQ(model->fc->weight.sizes().vec(), (std::vector<int64_t>{14, 1024}));
}

TEST(ResNet, RejectsBadOptions) {
  EXPECT_THROW(cxr::trainer::make_resnet(options(101, 3, 14)), cxr::UserError);
  EXPECT_THROW(cxr::trainer::make_resnet(options(0, 3, 14)), cxr::UserError);
  EXPECT_THROW(cxr::trainer::make_resnet(options(50, 0, 14)), cxr::UserError);
  EXPECT_THROW(cxr::trainer::make_resnet(options(50, 1, 0)), cxr::UserError);
  EXPECT_THROW(cxr::trainer::make_resnet(options(50, 1, 14, 0.0)), cxr::UserError);
  try {
    cxr::trainer::make_resnet(options(101, 3, 14));
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("101"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("HINT"), std::string::npos);
  }
}

// Randomises every parameter and buffer so a round trip cannot pass by two fresh inits agreeing.
void randomise(ResNet& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.uniform_(-0.5, 0.5);
  for (auto& b : model->named_buffers()) {
    if (ends_with(b.key(), "num_batches_tracked")) b.value().fill_(7);
    else b.value().uniform_(0.5, 1.5);
  }
}

TEST(TorchvisionExport, RoundTripRestoresEveryTensor) {
  torch::manual_seed(4);
  const fs::path path = scratch_dir("round_trip") / "weights.pt";
  ResNet a = cxr::trainer::make_resnet(options(50, 1, 14, 0.25));
  randomise(a);
  cxr::trainer::export_torchvision_weights(a, path.string());
  ResNet b = cxr::trainer::make_resnet(options(50, 1, 14, 0.25));
  cxr::trainer::load_torchvision_weights(b, path.string());
  const auto sa = cxr::trainer::torchvision_state_dict(*a), sb = cxr::trainer::torchvision_state_dict(*b);
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& item : sa) {
    EXPECT_TRUE(torch::equal(item.value(), sb[item.key()])) << item.key();
    EXPECT_EQ(item.value().scalar_type(), sb[item.key()].scalar_type()) << item.key();
  }
  a->eval();
  b->eval();
  const torch::Tensor x = torch::randn({2, 1, 64, 64});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
  // The temporary file was renamed away.
  for (const auto& entry : fs::directory_iterator(path.parent_path()))
    EXPECT_EQ(entry.path().filename(), "weights.pt");
  fs::remove_all(path.parent_path());
}

TEST(TorchvisionExport, TensorDictRoundTripKeepsDtypeShapeValuesAndOrder) {
  torch::manual_seed(5);
  cxr::trainer::TensorDict tensors;
  tensors.insert("z.float", torch::randn({3, 4}));
  tensors.insert("a.transposed", torch::randn({4, 5}).t());  // non-contiguous view
  tensors.insert("m.slice", torch::arange(100, torch::kDouble).slice(0, 10, 20));  // offset into storage
  tensors.insert("scalar.long", torch::tensor(static_cast<int64_t>(1234567890123)));
  tensors.insert("half", torch::randn({7}).to(torch::kHalf));
  tensors.insert("bfloat16", torch::randn({2, 2}).to(torch::kBFloat16));
  tensors.insert("int", torch::randint(-1000, 1000, {5}, torch::kInt));
  tensors.insert("bool", torch::rand({6}) > 0.5);
  tensors.insert("byte", torch::randint(0, 255, {3}, torch::kByte));
  tensors.insert("empty", torch::empty({0, 3}));
  tensors.insert("param", torch::randn({2}).requires_grad_(true));
  const fs::path dir = scratch_dir("dict");
  cxr::trainer::save_tensor_dict(tensors, (dir / "t.pt").string());
  const cxr::trainer::TensorDict back = cxr::trainer::load_tensor_dict((dir / "t.pt").string());
  ASSERT_EQ(back.keys(), tensors.keys());
  for (const auto& item : tensors) {
    const torch::Tensor& b = back[item.key()];
    EXPECT_EQ(b.scalar_type(), item.value().scalar_type()) << item.key();
    EXPECT_EQ(b.sizes(), item.value().sizes()) << item.key();
    EXPECT_TRUE(torch::equal(b, item.value().detach())) << item.key();
  }
  fs::remove_all(dir);
}

TEST(TorchvisionExport, StrictLoadNamesTheMismatchAndChangesNothing) {
  const fs::path dir = scratch_dir("strict");
  ResNet r18 = cxr::trainer::make_resnet(options(18, 1, 14, 0.25));
  cxr::trainer::export_torchvision_weights(r18, (dir / "r18.pt").string());

  ResNet r50 = cxr::trainer::make_resnet(options(50, 1, 14, 0.25));
  try {
    cxr::trainer::load_torchvision_weights(r50, (dir / "r18.pt").string());
    ADD_FAILURE() << "loading ResNet-18 weights into a ResNet-50 must fail";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("missing: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer1.0.conv3.weight"), std::string::npos) << e.what();
  }

  ResNet other_classes = cxr::trainer::make_resnet(options(18, 1, 3, 0.25));
  const torch::Tensor before = other_classes->conv1->weight.clone();
  try {
    cxr::trainer::load_torchvision_weights(other_classes, (dir / "r18.pt").string());
    ADD_FAILURE() << "loading 14-class weights into a 3-class model must fail";
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight [14, 128] vs [3, 128]"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(torch::equal(other_classes->conv1->weight, before));

  EXPECT_THROW(cxr::trainer::load_torchvision_weights(r18, (dir / "absent.pt").string()), cxr::UserError);
  std::ofstream(dir / "junk.pt") << "not a torch file";
  EXPECT_THROW(cxr::trainer::load_torchvision_weights(r18, (dir / "junk.pt").string()), cxr::UserError);
  fs::remove_all(dir);
}


// --- BatchNorm over fixed groups (model.bn_group) ---------------------------------------------------------
// Expected values from the BatchNorm formula, or from torch's own BatchNorm2d run on each group alone.

// A BatchNorm2d with weight and bias away from 1 and 0, so that a mix-up between them shows.
torch::nn::BatchNorm2d random_bn(int64_t channels) {
  torch::nn::BatchNorm2d bn(channels);
  torch::NoGradGuard no_grad;
  bn->weight.uniform_(0.5, 1.5);
  bn->bias.uniform_(-0.5, 0.5);
  return bn;
}

torch::nn::BatchNorm2d copy_of(const torch::nn::BatchNorm2d& bn) {
  auto copy = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone());
  return torch::nn::BatchNorm2d(copy);
}

// Activations whose channels have different means and spreads, as conv outputs do.
torch::Tensor activations(int64_t n, int64_t channels) {
  return torch::randn({n, channels, 5, 4}) * torch::linspace(0.5, 3.0, channels).view({1, -1, 1, 1}) +
         torch::linspace(-2.0, 2.0, channels).view({1, -1, 1, 1});
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct BnGrads {
  torch::Tensor y, dx, dw, db;
};

// y = f(x) and the gradients of sum(y * r) for a fixed random r.
template <class F>
BnGrads run_bn(torch::nn::BatchNorm2d& bn, const torch::Tensor& x0, const torch::Tensor& r, F&& f) {
  torch::Tensor x = x0.clone().requires_grad_(true);
  for (auto& p : bn->parameters()) p.mutable_grad() = torch::Tensor();
  torch::Tensor y = f(x);
  (y * r).sum().backward();
  return {y.detach(), x.grad(), bn->weight.grad().clone(), bn->bias.grad().clone()};
}

TEST(GhostBatchNorm, OneGroupOfTheWholeBatchIsPlainBatchNorm) {
  torch::manual_seed(1);
  auto plain = random_bn(6);
  auto ghost = copy_of(plain);
  const auto x = activations(8, 6), r = torch::randn({8, 6, 5, 4});
  const BnGrads want = run_bn(plain, x, r, [&](const torch::Tensor& in) { return plain(in); });
  const BnGrads got = run_bn(ghost, x, r, [&](const torch::Tensor& in) {
    return cxr::trainer::ghost_batch_norm(*ghost, in, /*group=*/8);
  });
  EXPECT_LT(max_diff(got.y, want.y), 1e-6);
  EXPECT_LT(max_diff(got.dx, want.dx), 1e-6);
  EXPECT_LT(max_diff(got.dw, want.dw), 1e-5);
  EXPECT_LT(max_diff(got.db, want.db), 1e-5);
  EXPECT_LT(max_diff(ghost->running_mean, plain->running_mean), 1e-6);
  EXPECT_LT(max_diff(ghost->running_var, plain->running_var), 1e-6);
  EXPECT_EQ(ghost->num_batches_tracked.item<int64_t>(), 1);
}

TEST(GhostBatchNorm, EachGroupIsNormalisedAlone) {
  torch::manual_seed(2);
  const int64_t group = 3, groups = 4, channels = 5;
  auto ghost = random_bn(channels);
  const auto x = activations(group * groups, channels), r = torch::randn({group * groups, channels, 5, 4});
  const BnGrads got = run_bn(ghost, x, r, [&](const torch::Tensor& in) {
    return cxr::trainer::ghost_batch_norm(*ghost, in, group);
  });
  // Reference 1, the formula: (x - mean_g) / sqrt(var_g + eps) * w + b per group, and running statistics
  // 0.9 * initial + 0.1 * the mean over groups of each group's mean and unbiased variance.
  const double eps = ghost->options.eps();
  const auto w = ghost->weight.detach().view({1, -1, 1, 1}), b = ghost->bias.detach().view({1, -1, 1, 1});
  torch::Tensor mean_of_means = torch::zeros({channels}), mean_of_vars = torch::zeros({channels});
  for (int64_t g = 0; g < groups; ++g) {
    const auto xg = x.narrow(0, g * group, group);
    const auto mu = xg.mean({0, 2, 3}, /*keepdim=*/true);
    const auto var = (xg - mu).pow(2).mean({0, 2, 3}, /*keepdim=*/true);
    EXPECT_LT(max_diff(got.y.narrow(0, g * group, group), (xg - mu) / (var + eps).sqrt() * w + b), 1e-5) << "group " << g;
    const double n = double(xg.numel() / channels);
    mean_of_means += mu.flatten() / double(groups);
    mean_of_vars += var.flatten() * (n / (n - 1)) / double(groups);
  }
  EXPECT_LT(max_diff(ghost->running_mean, 0.1 * mean_of_means), 1e-6);
  EXPECT_LT(max_diff(ghost->running_var, 0.9 + 0.1 * mean_of_vars), 1e-6);
  EXPECT_EQ(ghost->num_batches_tracked.item<int64_t>(), 1);  // one update per forward, not one per group

  // Reference 2, torch's BatchNorm2d on each group alone: the same outputs and input gradients; the weight
  // and bias gradients are the sums over the groups.
  torch::Tensor dw = torch::zeros({channels}), db = torch::zeros({channels});
  for (int64_t g = 0; g < groups; ++g) {
    auto alone = copy_of(ghost);
    const auto part = [&](const torch::Tensor& t) { return t.narrow(0, g * group, group); };
    const BnGrads want = run_bn(alone, part(x), part(r), [&](const torch::Tensor& in) { return alone(in); });
    EXPECT_LT(max_diff(part(got.y), want.y), 1e-5) << "group " << g;
    EXPECT_LT(max_diff(part(got.dx), want.dx), 1e-5) << "group " << g;
    dw += want.dw;
    db += want.db;
  }
  EXPECT_LT(max_diff(got.dw, dw), 1e-4);
  EXPECT_LT(max_diff(got.db, db), 1e-4);

  // channels_last activations (the training default) give the same numbers.
  auto ghost_nhwc = copy_of(ghost);
  const BnGrads nhwc = run_bn(ghost_nhwc, x.contiguous(torch::MemoryFormat::ChannelsLast), r, [&](const torch::Tensor& in) {
    return cxr::trainer::ghost_batch_norm(*ghost_nhwc, in, group);
  });
  EXPECT_LT(max_diff(nhwc.y, got.y), 1e-5);
  EXPECT_LT(max_diff(nhwc.dx, got.dx), 1e-5);
}

TEST(GhostBatchNorm, EvalModeAndGroupZeroArePlainBatchNorm) {
  torch::manual_seed(3);
  auto plain = random_bn(4);
  auto grouped = copy_of(plain);
  {
    torch::NoGradGuard no_grad;
    plain->running_mean.uniform_(-1, 1);
    plain->running_var.uniform_(0.5, 2);
    grouped->running_mean.copy_(plain->running_mean);
    grouped->running_var.copy_(plain->running_var);
  }
  const auto x = activations(6, 4);
  cxr::trainer::BatchNormGroups groups;
  groups.group = 2;
  plain->eval();
  grouped->eval();
  EXPECT_TRUE(torch::equal(cxr::trainer::grouped_batch_norm(*grouped, x, groups), plain(x)));
  groups.group = 0;
  plain->train();
  grouped->train();
  EXPECT_TRUE(torch::equal(cxr::trainer::grouped_batch_norm(*grouped, x, groups), plain(x)));
  EXPECT_TRUE(torch::equal(grouped->running_mean, plain->running_mean));
  groups.group = 4;  // 6 images do not split into groups of 4, and there is no communicator
  EXPECT_THROW(cxr::trainer::grouped_batch_norm(*grouped, x, groups), std::invalid_argument);
}

// SyncBatchNorm's hand-written backward over a one-rank group is plain BatchNorm's autograd.
TEST(SyncBatchNorm, OneRankGroupIsPlainBatchNorm) {
  torch::manual_seed(4);
  auto plain = random_bn(6);
  auto synced = copy_of(plain);
  cxr::comm::LocalCommunicator local;
  cxr::trainer::BatchNormGroups groups;
  groups.group = 8;
  groups.comm = &local;
  const auto x = activations(8, 6), r = torch::randn({8, 6, 5, 4});
  const BnGrads want = run_bn(plain, x, r, [&](const torch::Tensor& in) { return plain(in); });
  const BnGrads got = run_bn(synced, x, r, [&](const torch::Tensor& in) {
    return cxr::trainer::sync_batch_norm(*synced, in, groups);
  });
  EXPECT_LT(max_diff(got.y, want.y), 1e-5);
  EXPECT_LT(max_diff(got.dx, want.dx), 1e-5);
  EXPECT_LT(max_diff(got.dw, want.dw), 1e-4);
  EXPECT_LT(max_diff(got.db, want.db), 1e-4);
  EXPECT_LT(max_diff(synced->running_mean, plain->running_mean), 1e-6);
  EXPECT_LT(max_diff(synced->running_var, plain->running_var), 1e-6);
  EXPECT_EQ(groups.time.collectives, 2);  // the statistics in forward, the gradient sums in backward
}

// Whole models: bn_group = batch is the plain model; bn_group = batch / 2 is the plain model run on each half
// alone (BatchNorm is the only thing in a ResNet that mixes images).
TEST(ResNet, BnGroupIsThePlainModelOnEachGroup) {
  auto make = [](int64_t bn_group) {
    torch::manual_seed(5);
    ResNetOptions o = options(18, 1, 3, 0.25);
    o.bn_group = bn_group;
    return cxr::trainer::make_resnet(o);
  };
  ResNet plain = make(0), whole = make(8), halves = make(4);
  const auto x = torch::randn({8, 1, 32, 32});
  plain->train();
  whole->train();
  halves->train();
  const auto y_plain = plain->forward(x);
  EXPECT_LT(max_diff(whole->forward(x), y_plain), 1e-5);
  const auto y_halves = halves->forward(x);
  const auto y_each = torch::cat({plain->forward(x.narrow(0, 0, 4)), plain->forward(x.narrow(0, 4, 4))});
  EXPECT_LT(max_diff(y_halves, y_each), 1e-5);
  EXPECT_GT(max_diff(y_halves, y_plain), 1e-3);  // and groups do change the model
  // The exported names and tensors are torchvision's whatever the grouping.
  EXPECT_EQ(cxr::trainer::torchvision_state_dict(*halves).keys(), cxr::trainer::torchvision_state_dict(*plain).keys());
  ResNetOptions bad = options(18, 1, 3, 0.25);
  bad.bn_group = 4;
  bad.norm = "none";
  EXPECT_THROW(cxr::trainer::make_resnet(bad), cxr::UserError);
}

}  // namespace
