// The C++ halves of the cross-check with Python torchvision (ordered by ctest fixtures):
//   torchvision_case write DIR  - a 1-channel, 14-class ResNet-50 with non-trivial BN statistics:
//                                 DIR/weights.pt (export_torchvision_weights), DIR/io.pt {input, logits}
//   torchvision_case check DIR  - loads DIR/python_weights.pt, torchvision's own state_dict saved by
//                                 Python's torch.save, and compares logits with DIR/python_io.pt.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "trainer/resnet.h"
#include "trainer/torchvision_export.h"

namespace {

namespace nn = torch::nn;
using cxr::trainer::ResNet;

ResNet make_model(int depth) {
  cxr::trainer::ResNetOptions options;
  options.depth = depth;
  options.in_channels = 1;
  options.num_classes = 14;
  return cxr::trainer::make_resnet(options);
}

int write_case(const std::string& dir) {
  torch::manual_seed(20261125);
  ResNet model = make_model(50);
  // Fresh BN layers have mean 0 / var 1, under which swapped or dropped running statistics would go
  // unnoticed. One train-mode pass with momentum 1 sets them to real batch statistics; then the
  // affine parameters move off 1/0 and the statistics are jittered.
  for (const auto& m : model->modules(/*include_self=*/false))
    if (auto* bn = m->as<nn::BatchNorm2d>()) bn->options.momentum(1.0);
  model->train();
  {
    torch::NoGradGuard no_grad;
    model->forward(torch::randn({4, 1, 96, 96}));
    for (const auto& m : model->modules(/*include_self=*/false)) {
      if (auto* bn = m->as<nn::BatchNorm2d>()) {
        bn->options.momentum(0.1);
        bn->weight.uniform_(0.8, 1.2);
        bn->bias.normal_(0.0, 0.1);
        bn->running_mean.add_(torch::randn_like(bn->running_mean) * 0.05);
        bn->running_var.mul_(torch::empty_like(bn->running_var).uniform_(0.8, 1.25));
      }
    }
  }
  model->eval();
  const torch::Tensor input = torch::randn({2, 1, 96, 96});
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(input);
  }
  cxr::trainer::export_torchvision_weights(model, dir + "/weights.pt");
  cxr::trainer::TensorDict io;
  io.insert("input", input);
  io.insert("logits", logits);
  cxr::trainer::save_tensor_dict(io, dir + "/io.pt");
  std::printf("wrote %s/weights.pt and io.pt; logits max |.| %.4f\n", dir.c_str(),
              logits.abs().max().item<double>());
  return 0;
}

int check_case(const std::string& dir) {
  ResNet model = make_model(50);
  cxr::trainer::load_torchvision_weights(model, dir + "/python_weights.pt");
  model->eval();
  torch::NoGradGuard no_grad;
  const cxr::trainer::TensorDict io = cxr::trainer::load_tensor_dict(dir + "/python_io.pt");
  const torch::Tensor expected = io["logits"];
  const torch::Tensor logits = model->forward(io["input"]);
  const double diff = (logits - expected).abs().max().item<double>();
  const torch::Tensor base = torch::arange(24, torch::kDouble);
  if (!torch::equal(io["view"], base.slice(0, 3, 7)) ||
      !torch::equal(io["strided"], base.view({4, 6}).slice(0, 1).slice(1, 0, 6, 2).t())) {
    std::fprintf(stderr, "views saved by Python read back wrong\n");
    return 1;
  }
  std::printf("C++ logits vs torchvision's own: max |diff| %.3g (logits max |.| %.4f)\n", diff,
              expected.abs().max().item<double>());
  return diff < 1e-4 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "write" && std::string(argv[1]) != "check")) {
    std::fprintf(stderr, "usage: %s write|check DIR\n", argv[0]);
    return 2;
  }
  try {
    // `write` starts from an empty folder, so no later step can pass on files an earlier build left there.
    if (std::string(argv[1]) == "write") std::filesystem::remove_all(argv[2]);
    std::filesystem::create_directories(argv[2]);
    return std::string(argv[1]) == "write" ? write_case(argv[2]) : check_case(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
