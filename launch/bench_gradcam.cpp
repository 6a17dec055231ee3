// `cxrtrain bench --gradcam` (see bench_gradcam.h).
#include "launch/bench_gradcam.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "data/phantom.h"
#include "data/preprocess.h"
#include "eval/cam_stats.h"
#include "eval/gradcam.h"
#include "core/config.h"
#include "trainer/model_setup.h"
#include "trainer/resnet.h"

namespace cxr::launch {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

GradcamBenchResult run_gradcam_bench(const GradcamBenchOptions& o) {
  if (o.images < 1 || o.batch < 1 || o.size < 32) throw UserError("--gradcam-images, batch and size must be positive");
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  GradcamBenchResult r;
  const int S = o.size;
  const size_t px = static_cast<size_t>(S) * S;

  // Inputs: phantom films with their anatomy (untimed).
  auto t0 = Clock::now();
  const data::PhantomParams params = data::default_phantom_params();
  std::vector<uint8_t> films(px * static_cast<size_t>(o.images)), anatomy(films.size());
  uint64_t state = o.seed;
  for (int i = 0; i < o.images; ++i) {
    data::PhantomCase c;
    c.sex = i % 2 ? data::kSexMale : data::kSexFemale;
    c.age = static_cast<int16_t>(20 + splitmix64(state) % 60);
    c.view = i % 3 ? data::kViewPA : data::kViewAP;
    c.labels[static_cast<size_t>(splitmix64(state) % data::kNumClasses)] = 1;
    c.anatomy = data::sample_anatomy(c.sex, c.age, splitmix64(state));
    data::render_phantom(c, params, splitmix64(state), S, films.data() + px * i, nullptr, anatomy.data() + px * i);
  }
  const data::Preprocessor pre(S, data::PreprocessOptions{});
  torch::Tensor x = torch::empty({o.images, 1, S, S}, torch::kFloat32);
  for (int i = 0; i < o.images; ++i) pre.run(films.data() + px * i, x[i].data_ptr<float>());
  r.render_seconds = since(t0);

  torch::manual_seed(o.seed);
  Config cfg;  // the defaults: a 1-channel ResNet with 14 outputs, channels_last, as training builds it
  cfg.model.depth = o.depth;
  trainer::ResNet model = trainer::build_model(cfg, torch::kCPU);
  model->eval();
  const auto format = trainer::input_memory_format(cfg);

  // One-pass maps and region statistics of every class: the maps and the statistics timed apart, their sum
  // against the goal.
  double mass_sum = 0, maps_seconds = 0, stats_seconds = 0;
  for (int b = 0; b < o.images; b += o.batch) {
    const int e = std::min(o.images, b + o.batch);
    auto t = Clock::now();
    const eval::Cams cams = eval::grad_cam(model, x.slice(0, b, e).contiguous(format), 4);
    maps_seconds += since(t);
    t = Clock::now();
    const int h = static_cast<int>(cams.maps.size(2)), w = static_cast<int>(cams.maps.size(3));
    for (int i = b; i < e; ++i) {
      const eval::RegionMap regions = eval::phantom_regions(anatomy.data() + px * i, S);
      for (int c = 0; c < data::kNumClasses; ++c) {
        const torch::Tensor m = cams.maps[i - b][c].contiguous();
        const auto up = eval::upsample_bilinear(m.data_ptr<float>(), h, w, S);
        if (const auto shares = eval::region_shares(up, regions)) mass_sum += eval::off_target_share(*shares, c);
      }
    }
    stats_seconds += since(t);
  }
  r.seconds = maps_seconds + stats_seconds;
  r.images_per_second = o.images / r.seconds;

  // Side by side on the same first images, maps only: one pass at layer4, autograd at layer4 (14 backward
  // passes through the head alone) and at layer3 (through layer4 as well: what any earlier stage costs).
  const int na = std::min(o.autograd_images, o.images);
  auto rate = [&](int stage, bool autograd) {
    const auto t = Clock::now();
    for (int b = 0; b < na; b += o.batch)
      eval::grad_cam(model, x.slice(0, b, std::min(na, b + o.batch)).contiguous(format), stage, autograd);
    return na / since(t);
  };
  const double one_pass_rate = r.one_pass_maps_per_second = rate(4, false);
  r.autograd_images_per_second = rate(4, true);
  const double layer3_rate = r.layer3_images_per_second = rate(3, true);

  nlohmann::ordered_json j = {{"benchmark", "gradcam"},
                              {"images", o.images},
                              {"size", S},
                              {"model", "ResNet-" + std::to_string(o.depth)},
                              {"threads", threads},
                              {"batch", o.batch},
                              {"seconds_maps_and_regions", r.seconds},
                              {"seconds_maps", maps_seconds},
                              {"seconds_region_statistics", stats_seconds},
                              {"images_per_second", r.images_per_second},
                              {"goal_seconds_for_500", 120},
                              {"autograd_images", na},
                              {"one_pass_maps_images_per_second", one_pass_rate},
                              {"autograd_layer4_images_per_second", r.autograd_images_per_second},
                              {"autograd_layer3_images_per_second", layer3_rate},
                              {"one_pass_vs_autograd_layer4", one_pass_rate / r.autograd_images_per_second},
                              {"render_seconds_untimed", r.render_seconds},
                              {"mean_off_target_share", mass_sum / (static_cast<double>(o.images) * data::kNumClasses)}};
  r.json = j.dump();
  return r;
}

}  // namespace cxr::launch
