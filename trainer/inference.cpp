// Distributed scoring (see inference.h).
#include "trainer/inference.h"

#include <torch/torch.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "comm/communicator.h"
#include "data/classes.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "trainer/model_setup.h"

namespace cxr::trainer {

torch::Tensor score_split(ResNet& model, const std::shared_ptr<const data::PackSplit>& split,
                          comm::Communicator& world, const torch::Device& device, const ScoringOptions& o) {
  data::SamplerOptions so;
  const int64_t n = o.rows.empty() ? split->size() : static_cast<int64_t>(o.rows.size());
  // Output position of each split row (-1: not scored).
  std::vector<int64_t> position(static_cast<size_t>(split->size()), o.rows.empty() ? 0 : -1);
  for (size_t i = 0; i < o.rows.size(); ++i) {
    if (o.rows[i] < 0 || o.rows[i] >= split->size() || position[static_cast<size_t>(o.rows[i])] >= 0)
      throw std::invalid_argument("score_split: row " + std::to_string(o.rows[i]) + " is out of range or repeated");
    position[static_cast<size_t>(o.rows[i])] = static_cast<int64_t>(i);
  }
  if (o.rows.empty())
    for (int64_t r = 0; r < n; ++r) position[static_cast<size_t>(r)] = r;
  so.dataset_size = n;
  so.world_size = world.size();
  so.rank = world.rank();
  so.batch_per_rank = o.batch_per_rank;
  so.shuffle = false;
  so.tail = data::TailPolicy::Pad;
  data::LoaderOptions lo;
  lo.preprocess = o.preprocess;
  lo.preprocess.augment = false;
  lo.workers = o.workers;
  lo.prefetch = o.prefetch;
  lo.raw_transform = o.raw_transform;
  lo.rows = o.rows;
  data::Loader loader(split, data::DistributedSampler(so), lo);

  const bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> rows;
  {
    loader.start_epoch(0);
    while (auto batch = loader.next()) {
      torch::Tensor images = batch->images.to(device);
      if (o.perturb) images = o.perturb(images, batch->labels.to(device)).detach();
      torch::NoGradGuard no_grad;
      torch::Tensor logits;
      {
        Autocast autocast(o.bf16);
        logits = model->forward(images.contiguous(o.format));
      }
      auto z = logits.to(torch::kCPU, torch::kDouble);
      if (o.poison) z.fill_(std::numeric_limits<double>::quiet_NaN());
      auto idx = batch->index.to(torch::kDouble).unsqueeze(1);
      auto keep = batch->valid.nonzero().squeeze(1);
      rows.push_back(torch::cat({idx, z}, 1).index_select(0, keep));
    }
  }
  if (was_training) model->train();
  auto local = rows.empty() ? torch::zeros({0, 1 + data::kNumClasses}, torch::kDouble) : torch::cat(rows, 0).contiguous();
  const torch::Tensor all = world.all_gatherv(local);
  if (all.size(0) != n)
    throw std::logic_error("scoring gathered " + std::to_string(all.size(0)) + " rows of " + std::to_string(n));
  torch::Tensor logits = torch::empty({n, data::kNumClasses}, torch::kDouble);
  auto acc = all.accessor<double, 2>();
  auto out = logits.accessor<double, 2>();
  std::vector<uint8_t> seen(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < all.size(0); ++i) {
    const auto row = static_cast<int64_t>(acc[i][0]);
    const int64_t at = row >= 0 && row < split->size() ? position[static_cast<size_t>(row)] : -1;
    if (at < 0 || seen[static_cast<size_t>(at)]++)
      throw std::logic_error("scoring gathered row " + std::to_string(row) + " twice or out of range");
    for (int c = 0; c < data::kNumClasses; ++c) out[at][c] = acc[i][1 + c];
  }
  return logits;
}

}  // namespace cxr::trainer
