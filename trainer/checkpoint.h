// Training checkpoints: model parameters and buffers, Adam state, the position in the data (epoch,
// next batch), step, best validation score, the torch CPU RNG state and the resolved config.
// Written to a temporary name and renamed, so a crash never leaves a torn last.pt.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <cstdint>
#include <string>

namespace cxr::trainer {

struct TrainState {
  int64_t step = 0;          // optimiser steps taken
  int64_t epoch = 0;         // current epoch
  int64_t next_batch = 0;    // first batch of `epoch` not yet trained on
  double best_auroc = -1;    // best validation macro AUROC so far (-1: none)
  int64_t world_size = 1;    // recorded: resuming on another world size changes the batches
  std::string config_yaml;
};

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim,
                     const TrainState& state);
// Restores model, optimiser and RNG state; returns the saved TrainState. UserError if unreadable.
TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& optim);

}  // namespace cxr::trainer
