// Checkpoint archive (see checkpoint.h). Layout inside the torch archive: "model/<name>" tensors,
// "optim/..." (Adam's own serialisation), "meta/*" scalars and strings, "rng/cpu".
#include "trainer/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"

namespace cxr::trainer {

namespace fs = std::filesystem;

std::string previous_checkpoint_path(const std::string& path) {
  fs::path p(path);
  return (p.parent_path() / (p.stem().string() + ".prev" + p.extension().string())).string();
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim,
                     const TrainState& state, bool keep_previous) {
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
  archive.write("meta/has_best", c10::IValue(state.best_auroc.has_value()));
  archive.write("meta/best_auroc", c10::IValue(state.best_auroc.value_or(0.0)));
  archive.write("meta/world_size", c10::IValue(state.world_size));
  archive.write("meta/config_yaml", c10::IValue(state.config_yaml));
  archive.write("meta/pack_sha256", c10::IValue(state.pack_sha256));
  archive.write("meta/interval_loss", c10::IValue(state.interval_loss));
  archive.write("meta/interval_steps", c10::IValue(state.interval_steps));
  archive.write("rng/cpu", at::detail::getDefaultCPUGenerator().get_state());

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  archive.save_to(tmp);
  fsync_file(tmp);
  // The checkpoint being replaced stays loadable beside the new one until the next save. It is kept by
  // a hard link renamed over last.prev.pt, so `path` exists at every moment: a job killed between the
  // two renames (a requeue, a time limit) still resumes from `path`, old or new, never from the older copy.
  if (keep_previous && fs::exists(path)) {
    const std::string prev = previous_checkpoint_path(path);
    const std::string prev_tmp = prev + ".tmp." + std::to_string(::getpid());
    std::error_code ec;
    fs::remove(prev_tmp, ec);
    fs::create_hard_link(path, prev_tmp, ec);
    if (ec) {  // a file system without hard links: a copy
      fs::copy_file(path, prev_tmp, fs::copy_options::overwrite_existing);
      fsync_file(prev_tmp);
    }
    durable_rename(prev_tmp, prev);
  }
  durable_rename(tmp, path);
}

namespace {

// The meta/* entries of an open archive; UserError naming the file on impossible values.
TrainState read_state(torch::serialize::InputArchive& archive, const std::string& path) {
  TrainState s;
  c10::IValue v;
  archive.read("meta/step", v);
  s.step = v.toInt();
  archive.read("meta/epoch", v);
  s.epoch = v.toInt();
  archive.read("meta/next_batch", v);
  s.next_batch = v.toInt();
  archive.read("meta/best_auroc", v);
  const double best = v.toDouble();
  // Checkpoints before has_best stored -1 for "none".
  c10::IValue has_best;
  if (archive.try_read("meta/has_best", has_best) ? has_best.toBool() : best >= 0) s.best_auroc = best;
  archive.read("meta/world_size", v);
  s.world_size = v.toInt();
  archive.read("meta/config_yaml", v);
  s.config_yaml = v.toStringRef();
  if (archive.try_read("meta/pack_sha256", v)) s.pack_sha256 = v.toStringRef();
  if (archive.try_read("meta/interval_loss", v)) s.interval_loss = v.toDouble();
  if (archive.try_read("meta/interval_steps", v)) s.interval_steps = v.toInt();
  if (s.step < 0 || s.epoch < 0 || s.next_batch < 0 || s.world_size < 1 || s.interval_steps < 0 ||
      !std::isfinite(s.interval_loss))
    throw UserError("checkpoint '" + path + "' holds impossible counters (step " + std::to_string(s.step) + ")");
  return s;
}

// Runs f(); anything but a UserError becomes one naming the checkpoint (a truncated zip, a bad record).
template <class F>
auto as_checkpoint_error(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (auto* c10e = dynamic_cast<const c10::Error*>(&e)) what = c10e->what_without_backtrace();
    throw UserError("cannot read checkpoint '" + path + "': " + what.substr(0, what.find('\n')),
                    "the file is truncated or damaged; --resume auto falls back to the previous checkpoint "
                    "(*.prev.pt) when there is one, or point --resume at another checkpoint");
  }
}

}  // namespace

TrainState read_checkpoint_state(const std::string& path) {
  return as_checkpoint_error(path, [&] {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    return read_state(archive, path);
  });
}

namespace {

// Copies the archive's "model/<name>" tensors into `model`, checking every shape.
void read_model(torch::serialize::InputArchive& archive, torch::nn::Module& model, const std::string& path) {
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  for (auto& p : model.named_parameters()) {
    torch::Tensor t;
    model_archive.read(p.key(), t);
    if (!t.sizes().equals(p.value().sizes()))
      throw UserError("checkpoint '" + path + "': parameter '" + p.key() + "' has shape " + c10::str(t.sizes()) +
                          ", the model expects " + c10::str(p.value().sizes()),
                      "the config's model differs from the run's");
    p.value().copy_(t);
  }
  for (auto& b : model.named_buffers()) {
    torch::Tensor t;
    model_archive.read(b.key(), t, /*is_buffer=*/true);
    if (!t.sizes().equals(b.value().sizes()))
      throw UserError("checkpoint '" + path + "': buffer '" + b.key() + "' has shape " + c10::str(t.sizes()));
    b.value().copy_(t);
  }
}

}  // namespace

TrainState load_model_state(const std::string& path, torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  return as_checkpoint_error(path, [&] {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    const TrainState s = read_state(archive, path);
    read_model(archive, model, path);
    return s;
  });
}

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim) {
  torch::NoGradGuard no_grad;
  return as_checkpoint_error(path, [&] {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    const TrainState s = read_state(archive, path);
    read_model(archive, model, path);
    torch::serialize::InputArchive optim_archive;
    archive.read("optim", optim_archive);
    optim.load(optim_archive);
    torch::Tensor rng;
    archive.read("rng/cpu", rng);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    return s;
  });
}

}  // namespace cxr::trainer
