// `cxrtrain bench --gradcam`: the Grad-CAM pass at the reference study's size, timed. Phantom films at 224 px
// (rendered untimed, with their anatomy), ResNet-50 (1 channel, 14 classes, torchvision's initialisation), all
// 14 classes' layer4 maps from one forward pass per batch plus every map's region shares: images per second and
// the goal (500 images in < 120 s on 2 cores). Side by side, the autograd form (one backward per class) on a few
// images, and the ratio.
#pragma once

#include <cstdint>
#include <string>

namespace cxr::launch {

struct GradcamBenchOptions {
  int images = 500;
  int size = 224;
  int depth = 50;
  int batch = 16;
  int autograd_images = 16;  // the autograd form is ~14 backward passes per batch: a few images are enough
  int threads = 0;           // torch threads; 0 = one per core
  uint64_t seed = 1;
};

struct GradcamBenchResult {
  double seconds = 0;                      // maps + region statistics of `images`
  double images_per_second = 0;
  double autograd_images_per_second = 0;   // maps only, autograd at layer4
  double one_pass_maps_per_second = 0;     // maps only, one pass, same images
  double layer3_images_per_second = 0;     // maps only, autograd at layer3
  double render_seconds = 0;               // phantom films and anatomy (not in `seconds`)
  std::string json;
};

GradcamBenchResult run_gradcam_bench(const GradcamBenchOptions& options);

}  // namespace cxr::launch
