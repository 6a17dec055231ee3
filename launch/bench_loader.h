// `cxrtrain bench --loader`: images per second of the pack loader against the "PNG path" (decode the
// original PNG, area-resize to the pack size, the same preprocessing), on the same images, once on a
// single worker (per-core cost) and once with the configured workers. What packing buys, measured.
// Without a PNG folder only the pack path runs, over the whole split. Both paths cycle the distinct
// images they have; fewer than one batch of them is refused (a batch would re-read its own rows) and
// fewer than kMinDistinctBatches batches gets a warning, since a tiny set stays in every cache.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "data/preprocess.h"

namespace cxr::launch {

struct LoaderBenchOptions {
  std::string pack_dir;
  std::string split = "train";
  std::string png_root;          // searched recursively for files named <image_index>; "" = pack path only
  data::PreprocessOptions preprocess;  // as the trainer would configure it
  int batch_size = 32;           // loader batch (the PNG path has no batches)
  int workers = 4;               // the configured worker count; a 1-worker run always comes first
  int prefetch = 8;
  int64_t max_images = 2000;     // per path and worker count; split images are cycled as needed
  double max_seconds = 10.0;     // per path and worker count, whichever limit comes first
  uint64_t seed = 0;
};

struct LoaderBenchRun {
  int workers = 0;
  int64_t pack_images = 0;
  double pack_seconds = 0.0;
  double pack_images_per_s = 0.0;
  int64_t png_images = 0;
  double png_seconds = 0.0;
  double png_images_per_s = 0.0;
  double speedup = 0.0;          // pack img/s divided by PNG img/s
};

constexpr int kMinDistinctBatches = 4;

struct LoaderBenchResult {
  int64_t images = 0;            // distinct images read: split images with a PNG under png_root (all without one)
  int64_t images_without_png = 0;
  int pack_image_size = 0;
  int output_size = 0;
  std::vector<LoaderBenchRun> runs;  // workers = 1, then options.workers when that differs
  std::string warning;           // non-empty when the distinct set is below kMinDistinctBatches batches
  std::string json;              // everything above, one JSON object
};

// Throws UserError when the pack, split or PNG folder is missing, no PNG matches the split, or the
// distinct images are fewer than one batch.
LoaderBenchResult run_loader_bench(const LoaderBenchOptions& options);

// image_index -> path for every name in `names` found under `root` (recursively): the first file of
// that name in sorted path order. Throws UserError when root is not a readable folder.
std::map<std::string, std::string> find_images_by_name(const std::string& root,
                                                       const std::unordered_set<std::string>& names);

// The PNG path for one file: decode to grey, area-resize to pack_size, preprocess into dst
// (preprocessor.output_size()^2 floats). Gives exactly the pack path's values for an image that was
// packed from this file at pack_size.
void preprocess_png(const std::string& path, int pack_size, const data::Preprocessor& preprocessor, float* dst,
                    uint64_t augment_seed = 0);

}  // namespace cxr::launch
