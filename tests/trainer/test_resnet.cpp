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

#include "core/error.h"
#include "trainer/resnet.h"
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

}  // namespace
