// Device choice, model construction and autocast (see model_setup.h).
#include "trainer/model_setup.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <fstream>
#include <thread>

#include "core/error.h"
#include "core/strings.h"
#include "data/classes.h"
#ifdef CXR_HAVE_NCCL
#include "comm/nccl_check.h"
#endif

namespace cxr::trainer {

torch::Device pick_device(const Config& cfg, int local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (cfg.train.device == "cuda" && !cuda)
    throw UserError("train.device is 'cuda' but this LibTorch sees no CUDA device",
                    "use train.device=cpu, or a CUDA build of LibTorch on a GPU node");
  if (cfg.train.device == "cpu" || !cuda) return torch::Device(torch::kCPU);
  const int n = static_cast<int>(torch::cuda::device_count());
  // One rank per GPU. A rank that sees a single GPU uses it: schedulers that give each task its own GPU
  // (srun --gpus-per-task=1, CUDA_VISIBLE_DEVICES per rank) show every rank one device, whatever its
  // local rank; ranks that really share one are refused by NCCL ("Duplicate GPU"), naming them.
  if (n == 1) return torch::Device(torch::kCUDA, 0);
  if (local_rank >= n) {
    throw UserError("local rank " + std::to_string(local_rank) + " has no GPU of its own: this node shows " +
                        std::to_string(n) + " CUDA devices",
                    "start at most " + std::to_string(n) + " ranks per node (mpirun --map-by ppr:" +
                        std::to_string(n) + ":node), or train.device=cpu");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

ResNet build_model(const Config& cfg, const torch::Device& device) {
  ResNetOptions mo;
  mo.depth = cfg.model.depth;
  mo.width = cfg.model.width;
  mo.in_channels = cfg.model.in_channels;
  mo.num_classes = data::kNumClasses;
  mo.zero_init_residual = cfg.model.zero_init_residual;
  mo.norm = cfg.model.norm;
  mo.bn_group = cfg.model.bn_group;
  ResNet model = make_resnet(mo);
  model->to(device);
  if (cfg.train.channels_last) {
    // The C++ Module::to has no memory-format overload: convert the 4-D weights one by one. Not with
    // contiguous(format): it is a no-op for a 1-channel conv1 weight [64,1,7,7] (size-1 dims make
    // NCHW strides count as NHWC), which leaves conv1 and the 64-channel stem after it in NCHW.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.dim() == 4) p.set_data(torch::empty_like(p, torch::MemoryFormat::ChannelsLast).copy_(p));
  }
  return model;
}

c10::MemoryFormat input_memory_format(const Config& cfg) {
  return cfg.train.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
}

BatchNormSetup setup_batch_norm(const Config& cfg, ResNet& model, comm::Communicator& model_comm,
                                int64_t batch_per_rank) {
  BatchNormSetup setup;
  const int64_t g = cfg.model.bn_group, b = batch_per_rank, ranks = model_comm.size();
  if (cfg.model.norm != "batch") {
    setup.description = "no BatchNorm";
    return setup;
  }
  if (g == 0) {
    setup.description = "BatchNorm statistics over each rank's " + std::to_string(b) + " images (model.bn_group=0)";
    return setup;
  }
  if (b % g != 0 && g % b != 0) {
    // Rank r holds images [r*b, (r+1)*b) of the global batch: a group must lie within one rank's images or
    // cover whole ranks.
    const int64_t global = b * ranks;
    std::vector<std::string> values, counts;
    for (int64_t v = 1; v <= global; ++v)
      if (global % v == 0 && (b % v == 0 || v % b == 0))
        values.push_back(std::to_string(v) + (v > b ? " (SyncBatchNorm)" : ""));
    for (int64_t n = 1; n <= global; ++n)
      if (global % n == 0 && ((global / n) % g == 0 || g % (global / n) == 0)) counts.push_back(std::to_string(n));
    throw UserError("model.bn_group " + std::to_string(g) + " does not fit " + std::to_string(ranks) +
                        " ranks: each holds " + std::to_string(b) + " consecutive images of the global batch of " +
                        std::to_string(global) + ", and a BatchNorm group must divide a rank's images or be whole ranks",
                    "at " + std::to_string(ranks) + " ranks model.bn_group may be " + join(values, ", ") +
                        "; model.bn_group=" + std::to_string(g) + " fits " + join(counts, ", ") + " ranks");
  }
  if (b % g == 0) {
    setup.description = "BatchNorm statistics over groups of " + std::to_string(g) + " images (ghost batches, " +
                        std::to_string(b / g) + " per rank)";
    return setup;
  }
  const int64_t span = g / b;  // ranks per group, consecutive
  comm::Communicator* group_ranks = &model_comm;
  if (span < ranks) {
    setup.owned = model_comm.split(static_cast<int>(model_comm.rank() / span), model_comm.rank());
    group_ranks = setup.owned.get();
  }
  model->set_batch_norm_communicator(group_ranks);
  setup.synchronised = true;
  setup.description = "BatchNorm statistics over groups of " + std::to_string(g) + " images (SyncBatchNorm over " +
                      std::to_string(span) + " ranks" + (span < ranks ? ", " + std::to_string(ranks / span) + " groups" : "") +
                      ")";
  return setup;
}

std::string hardware_description(const torch::Device& device) {
  if (device.is_cuda()) {
#ifdef CXR_HAVE_NCCL
    return comm::cuda_device_description(device.index());
#else
    return "CUDA device " + std::to_string(device.index());
#endif
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "CPU";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      model = std::string(trim(line.substr(line.find(':') + 1)));
      break;
    }
  }
  return model + " (" + std::to_string(std::thread::hardware_concurrency()) + " logical cores)";
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CXR_AUTOCAST_PER_DEVICE 1
#else
#define CXR_AUTOCAST_PER_DEVICE 0
#endif

Autocast::Autocast(bool on) : on_(on) {
  if (!on_) return;
#if CXR_AUTOCAST_PER_DEVICE
  was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  was_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  was_enabled_ = at::autocast::is_enabled();
  was_dtype_ = at::autocast::get_autocast_gpu_dtype();
  at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
  at::autocast::set_enabled(true);
#endif
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!on_) return;
#if CXR_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, was_dtype_);
#else
  at::autocast::set_enabled(was_enabled_);
  at::autocast::set_autocast_gpu_dtype(was_dtype_);
#endif
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();  // the cached bf16 weight copies
}

}  // namespace cxr::trainer
