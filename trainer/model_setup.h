// What training, evaluation and Grad-CAM share to get a model onto a device: the rank's device, the ResNet
// built from the config (channels_last weights when asked), its input memory format, and bf16 autocast.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <string>

#include "comm/communicator.h"
#include "core/config.h"
#include "trainer/resnet.h"

namespace cxr::trainer {

// train.device auto|cpu|cuda and the local rank -> this rank's device. One rank per GPU; a rank that sees
// a single GPU takes it (srun --gpus-per-task); UserError when a local rank has no GPU of its own.
torch::Device pick_device(const Config& config, int local_rank);

// The configured ResNet (14 outputs) on `device`, its 4-D weights in channels_last when the config says so.
ResNet build_model(const Config& config, const torch::Device& device);
c10::MemoryFormat input_memory_format(const Config& config);

// What model.bn_group needs at this rank count (see ModelConfig::bn_group). Checks it against the per-rank
// batch: UserError naming the key, the values that fit this rank count and the rank counts that fit this
// value. A group larger than the batch gets the communicator of the ranks holding it (model_comm itself
// when one group spans every rank, else a split of it, so this is collective over model_comm) and
// `model` is given it. Keep the result alive while the model trains.
struct BatchNormSetup {
  std::unique_ptr<comm::Communicator> owned;  // the split, when one was made
  bool synchronised = false;                  // statistics cross ranks (SyncBatchNorm)
  std::string description;                    // for train.log
};
BatchNormSetup setup_batch_norm(const Config& config, ResNet& model, comm::Communicator& model_comm,
                                int64_t batch_per_rank);

// What `device` is, for the run's record: "NVIDIA H200, 139.8 GiB, compute capability 9.0" on a GPU,
// "Intel(R) Xeon(R) ... (16 logical cores)" on the CPU.
std::string hardware_description(const torch::Device& device);

// bf16 autocast on CUDA for a forward pass (backward follows the forward's dtypes); the previous state is
// restored on exit. LibTorch 2.4 replaced the CUDA-only setters with per-device-type ones; both build.
class Autocast {
 public:
  explicit Autocast(bool on);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace cxr::trainer
