// Scoring a split with the model on every rank: each rank runs its Pad-sampled share (eval mode, no
// gradients, a fixed per-rank batch so an image's logits do not depend on the number of ranks), and
// (row, logits) of the valid rows are gathered to every rank in one collective. Validation during training
// and `cxrtrain evaluate` both score through here. Collective over `world`.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <vector>

#include "data/pack_reader.h"
#include "data/preprocess.h"
#include "trainer/resnet.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::trainer {

struct ScoringOptions {
  data::PreprocessOptions preprocess;  // augmentation is switched off here
  int batch_per_rank = 32;
  int workers = 2, prefetch = 4;
  bool bf16 = false;
  c10::MemoryFormat format = c10::MemoryFormat::Contiguous;
  bool poison = false;  // fault injection: this rank's logits become NaN (tests of the fail-fast path)
  // Robustness probes: a change of each raw pack image before preprocessing (data::LoaderOptions), and a
  // change of each batch on the device before the forward pass (images [B,1,T,T] normalised, labels [B,14]
  // float; returns the images to score; runs with gradients enabled, e.g. an adversarial attack). Empty = none.
  std::function<void(int64_t row, uint8_t* image, int size)> raw_transform;
  std::function<torch::Tensor(const torch::Tensor& images, const torch::Tensor& labels)> perturb;
  std::vector<int64_t> rows;  // score only these split rows (distinct, in range); empty = every row
};

// Logits [split->size(), 14] in split row order (with options.rows: [rows.size(), 14] in that order), float64,
// the same on every rank.
torch::Tensor score_split(ResNet& model, const std::shared_ptr<const data::PackSplit>& split,
                          comm::Communicator& world, const torch::Device& device, const ScoringOptions& options);

}  // namespace cxr::trainer
