// Scoring a split with the model on every rank: each rank runs its Pad-sampled share (eval mode, no
// gradients, a fixed per-rank batch so an image's logits do not depend on the number of ranks), and
// (row, logits) of the valid rows are gathered to every rank in one collective. Validation during training
// and `cxrtrain evaluate` both score through here. Collective over `world`.
#pragma once

#include <torch/nn/module.h>

#include <memory>

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
};

// Logits [split->size(), 14] in split row order, float64, the same on every rank.
torch::Tensor score_split(ResNet& model, const std::shared_ptr<const data::PackSplit>& split,
                          comm::Communicator& world, const torch::Device& device, const ScoringOptions& options);

}  // namespace cxr::trainer
