// `cxrtrain gradcam`: Grad-CAM as a measurement, run on rank 0 after `evaluate` (whose gathered predictions
// choose the images). Per class: where the maps' mass lies (regions from the phantom's anatomy, or a template
// on real films) with bootstrap intervals, a shortcut flag, pointing game / IoU / IoBB against lesion masks or
// NIH boxes, the cascading-randomisation sanity check, deletion curves against random deletion, and on the
// phantom the causal test Grad-CAM cannot make: the same films re-rendered with and without the planted marker.
// Writes RUN/gradcam/{cam_stats.json, cams.npy, cams_index.csv, overlays/<Class>.png} (staged, then renamed).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "core/config.h"

namespace cxr::comm {
class Communicator;
}

namespace cxr::eval {

struct GradcamOptions {
  std::string run_dir;
  std::string checkpoint;        // "" = the checkpoint the evaluation used (metrics.json), else best | last | path
  std::string layer = "layer4";  // stem, layer1 .. layer4
  int per_class = 500;           // images per class: TPs (half), FPs and FNs (a quarter each), topped up
  int overlay_columns = 4;       // overlay grid: this many TPs, FPs and FNs per class
  int sanity_images = 16;        // images of the cascading-randomisation check
  int deletion_images = 8;       // top true positives per class for the deletion curves
  int deletion_steps = 10;       // deleted fractions 0, 1/steps, ..., 1
  int64_t counterfactual_images = 0;  // films of the causal tests of markers (phantom); 0 = the whole split
  int64_t lesion_images = 32;    // films per class of the lesion-removal test (phantom)
  int bootstrap = 1000;          // resamples of the images for the region-share intervals
  bool progress = true;
};

// Collective over `world` (ranks other than 0 wait without spinning). Rank 0 returns cam_stats.json's
// content and sets *out_dir; the other ranks return null.
nlohmann::ordered_json run_gradcam(const Config& config, comm::Communicator& world, int local_rank,
                                   const GradcamOptions& options, std::string* out_dir = nullptr);

}  // namespace cxr::eval
