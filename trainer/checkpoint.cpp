// Checkpoint archive (see checkpoint.h). Layout inside the torch archive: "model/<name>" tensors,
// "optim/..." (Adam's own serialisation), "meta/*" scalars and strings, "rng/cpu".
#include "trainer/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"

namespace cxr::trainer {

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim,
                     const TrainState& state) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optim_archive;
  torch::NoGradGuard no_grad;
  for (const auto& p : model.named_parameters()) model_archive.write(p.key(), p.value().detach().cpu());
  for (const auto& b : model.named_buffers()) model_archive.write(b.key(), b.value().detach().cpu(), /*is_buffer=*/true);
  archive.write("model", model_archive);
  optim.save(optim_archive);
  archive.write("optim", optim_archive);
  archive.write("meta/step", c10::IValue(state.step));
  archive.write("meta/epoch", c10::IValue(state.epoch));
  archive.write("meta/next_batch", c10::IValue(state.next_batch));
  archive.write("meta/best_auroc", c10::IValue(state.best_auroc));
  archive.write("meta/world_size", c10::IValue(state.world_size));
  archive.write("meta/config_yaml", c10::IValue(state.config_yaml));
  archive.write("rng/cpu", at::detail::getDefaultCPUGenerator().get_state());

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  archive.save_to(tmp);
  std::filesystem::rename(tmp, path);
}

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw UserError("cannot read checkpoint '" + path + "': " + e.what_without_backtrace(),
                    "the file is damaged; delete it to start over, or point --resume at another checkpoint");
  }
  torch::serialize::InputArchive model_archive, optim_archive;
  archive.read("model", model_archive);
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    torch::Tensor t;
    model_archive.read(p.key(), t);
    if (!t.sizes().equals(p.value().sizes()))
      throw UserError("checkpoint '" + path + "': parameter '" + p.key() + "' has shape " + c10::str(t.sizes()) +
                      ", the model expects " + c10::str(p.value().sizes()), "the config's model differs from the run's");
    p.value().copy_(t);
  }
  for (auto& b : model.named_buffers()) {
    torch::Tensor t;
    model_archive.read(b.key(), t, /*is_buffer=*/true);
    b.value().copy_(t);
  }
  archive.read("optim", optim_archive);
  optim.load(optim_archive);
  TrainState s;
  c10::IValue v;
  archive.read("meta/step", v);
  s.step = v.toInt();
  archive.read("meta/epoch", v);
  s.epoch = v.toInt();
  archive.read("meta/next_batch", v);
  s.next_batch = v.toInt();
  archive.read("meta/best_auroc", v);
  s.best_auroc = v.toDouble();
  archive.read("meta/world_size", v);
  s.world_size = v.toInt();
  archive.read("meta/config_yaml", v);
  s.config_yaml = v.toStringRef();
  torch::Tensor rng;
  archive.read("rng/cpu", rng);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  return s;
}

}  // namespace cxr::trainer
