// Weights in torchvision's own format: a state dict (name -> tensor, torchvision's names) in the zip
// file that Python's torch.save writes, so `torchvision.models.resnet50(num_classes=14)` (with a
// 1-channel conv1 for grey models) takes `torch.load(path)` with strict=True and no cxrtrain code.
// torchvision_export.cpp explains why this does not use torch::save or torch::pickle_save.
#pragma once

#include <torch/nn.h>

#include <string>

#include "trainer/resnet.h"

namespace cxr::trainer {

using TensorDict = torch::OrderedDict<std::string, torch::Tensor>;

// Parameters and buffers under PyTorch's state_dict() names and order (a module's own parameters,
// then its buffers, then each child's in registration order), detached and on the CPU (sharing
// storage with a CPU model). BatchNorm's num_batches_tracked is included, as Python's strict
// loading expects it.
TensorDict torchvision_state_dict(const torch::nn::Module& model);

// Writes name -> tensor as Python's torch.save(dict) would (temporary name, then rename): Python
// reads it with torch.load(path), also with weights_only=True (the default from PyTorch 2.6 on).
// Tensors are stored contiguous, on the CPU, without requires_grad. Float, double, half, bfloat16,
// int8/16/32/64, uint8 and bool tensors only.
void save_tensor_dict(const TensorDict& tensors, const std::string& path);

// Reads a dict of tensors written by save_tensor_dict or by Python's torch.save (zip format, the
// default since PyTorch 1.6) of a dict or OrderedDict of tensors, such as model.state_dict().
// Throws UserError for anything else. Tensors come back on the CPU.
TensorDict load_tensor_dict(const std::string& path);

// save_tensor_dict(torchvision_state_dict(model), path). Python:
//   model.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
void export_torchvision_weights(const ResNet& model, const std::string& path);

// Copies a state dict from load_tensor_dict(path) (exported by cxrtrain, or torchvision's own
// torch.save(model.state_dict(), path)) into `model`, on whatever device it is. Strict: a missing
// key, an unexpected key or a shape mismatch throws UserError naming them, and nothing is copied.
void load_torchvision_weights(ResNet& model, const std::string& path);

}  // namespace cxr::trainer
