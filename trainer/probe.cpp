// Learnability probe (see probe.h).
#include "trainer/probe.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>

#include "core/error.h"
#include "data/classes.h"
#include "data/loader.h"
#include "eval/auroc.h"
#include "trainer/tiny_cnn.h"

namespace cxr::trainer {

namespace {

data::LoaderOptions loader_options(const ProbeOptions& o) {
  data::LoaderOptions lo;
  lo.preprocess.output_size = o.image_size;
  lo.workers = o.workers;
  lo.prefetch = 4;
  lo.seed = o.seed;
  return lo;
}

}  // namespace

ProbeResult run_probe(const ProbeOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  auto train = std::make_shared<const data::PackSplit>(o.pack, o.train_split);
  auto test = std::make_shared<const data::PackSplit>(o.pack, o.eval_split);

  data::SamplerOptions so;
  so.dataset_size = train->size();
  so.batch_per_rank = o.batch;
  so.seed = o.seed;
  data::Loader train_loader(train, data::DistributedSampler(so), loader_options(o));

  TinyCnn model(1, data::kNumClasses, o.width);
  torch::optim::Adam optim(model->parameters(), torch::optim::AdamOptions(o.lr));
  ProbeResult r;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  model->train();
  auto done = [&] { return elapsed() >= o.seconds || (o.max_steps > 0 && r.steps >= o.max_steps); };
  for (int64_t epoch = 0; !done(); ++epoch) {
    train_loader.start_epoch(epoch);
    while (auto batch = train_loader.next()) {
      optim.zero_grad();
      auto loss = torch::binary_cross_entropy_with_logits(model->forward(batch->images), batch->labels);
      loss.backward();
      optim.step();
      ++r.steps;
      r.images += batch->images.size(0);
      if (r.steps % 50 == 0 && o.progress)
        spdlog::info("probe step {} epoch {} loss {:.4f} {:.0f} img/s", r.steps, epoch, loss.item<float>(),
                     double(r.images) / elapsed());
      if (done()) break;
    }
  }
  r.train_seconds = elapsed();
  r.images_per_second = double(r.images) / r.train_seconds;

  // Score every eval image exactly once: identity order, padded tail flagged invalid.
  data::SamplerOptions eo;
  eo.dataset_size = test->size();
  eo.batch_per_rank = o.batch;
  eo.shuffle = false;
  eo.tail = data::TailPolicy::Pad;
  data::Loader eval_loader(test, data::DistributedSampler(eo), loader_options(o));
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<double> scores;  // logits: AUROC needs only their order, and sigmoids saturate
  std::vector<uint8_t> labels;
  eval_loader.start_epoch(0);
  while (auto batch = eval_loader.next()) {
    auto p = model->forward(batch->images).to(torch::kDouble).contiguous();
    auto y = batch->labels.to(torch::kUInt8).contiguous();
    auto valid = batch->valid.to(torch::kBool);
    for (int64_t i = 0; i < p.size(0); ++i) {
      if (!valid[i].item<bool>()) continue;
      scores.insert(scores.end(), p[i].data_ptr<double>(), p[i].data_ptr<double>() + data::kNumClasses);
      labels.insert(labels.end(), y[i].data_ptr<uint8_t>(), y[i].data_ptr<uint8_t>() + data::kNumClasses);
    }
  }
  auto a = eval::auroc_per_class(scores, labels, data::kNumClasses, data::class_names());
  r.auroc = a.per_class;
  r.macro = a.macro;
  r.macro_classes = a.defined;
  nlohmann::ordered_json j;
  j["pack"] = o.pack;
  j["eval_split"] = o.eval_split;
  j["eval_images"] = scores.size() / data::kNumClasses;
  j["steps"] = r.steps;
  j["train_images"] = r.images;
  j["train_seconds"] = r.train_seconds;
  j["images_per_second"] = r.images_per_second;
  nlohmann::ordered_json per;
  for (int c = 0; c < data::kNumClasses; ++c)
    per[data::kClassNames[c]] = r.auroc[c] ? nlohmann::json(*r.auroc[c]) : nlohmann::json(nullptr);
  j["auroc"] = per;
  j["macro_auroc"] = r.macro ? nlohmann::json(*r.macro) : nlohmann::json(nullptr);
  j["macro_classes"] = r.macro_classes;
  r.json = j.dump(2);
  return r;
}

}  // namespace cxr::trainer
