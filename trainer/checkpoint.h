// Training checkpoints: model parameters and buffers, Adam state, the position in the data (epoch,
// next batch), step, best validation score, the open logging interval, the torch CPU RNG state, the
// resolved config and the identity of the pack trained on (sha256 of its manifest.json).
// Written durably: a temporary file, fsync, the previous checkpoint kept beside it as *.prev.pt, rename,
// fsync of the folder; so a process crash, a node crash or a power loss leaves a loadable checkpoint.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <cstdint>
#include <optional>
#include <string>

namespace cxr::trainer {

struct TrainState {
  int64_t step = 0;          // optimiser steps taken
  int64_t epoch = 0;         // current epoch
  int64_t next_batch = 0;    // first batch of `epoch` not yet trained on
  std::optional<double> best_auroc;  // best validation macro AUROC so far; none before a validation defined one
  int64_t world_size = 1;    // recorded: resuming on another world size changes the batches
  std::string config_yaml;   // the resolved config of the run that wrote it
  std::string pack_sha256;   // sha256 of the pack's manifest.json
  // The logging interval open at this step (so a resumed run logs exactly what a straight one does):
  // the sum of its steps' mean losses over the ranks, and its number of steps.
  double interval_loss = 0;
  int64_t interval_steps = 0;
};

// "checkpoints/last.pt" -> "checkpoints/last.prev.pt": where save_checkpoint keeps the one it replaces.
std::string previous_checkpoint_path(const std::string& path);

// keep_previous: move the file being replaced to previous_checkpoint_path(path) first (last.pt does,
// so a resume can fall back to it; best.pt need not).
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim,
                     const TrainState& state, bool keep_previous = true);
// Restores model, optimiser and RNG state; returns the saved TrainState. UserError if the file cannot be
// read or does not fit the model (a truncated or damaged file, another architecture).
TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim);
// The model's parameters and buffers alone (evaluation, Grad-CAM): no optimiser, no RNG. UserError if the
// file cannot be read or does not fit the model. Returns the saved TrainState (step, config, pack identity).
TrainState load_model_state(const std::string& path, torch::nn::Module& model);
// The TrainState alone (config, pack identity, counters), without touching a model: what --resume
// compares before it loads anything. UserError if the file cannot be read.
TrainState read_checkpoint_state(const std::string& path);

}  // namespace cxr::trainer
