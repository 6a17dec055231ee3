// Preprocessing (see preprocess.h). Every value-wise step (brightness, contrast, clamp, normalise) is
// folded into one 256-entry table per image, so the per-pixel cost is one resize and one lookup.
#include "data/preprocess.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "data/sampler.h"

namespace cxr::data {
namespace {

constexpr double kMinScale = 0.9;      // augmentation crop: 90-100 % of the side
constexpr double kJitter = 0.05;       // brightness / contrast factors in [0.95, 1.05]

void apply_lut(const cv::Mat& img, const float* lut, float* dst) {
  const int t = img.cols;
  for (int y = 0; y < img.rows; ++y) {
    const uint8_t* row = img.ptr<uint8_t>(y);
    float* out = dst + static_cast<size_t>(y) * static_cast<size_t>(t);
    for (int x = 0; x < t; ++x) out[x] = lut[row[x]];
  }
}

}  // namespace

Preprocessor::Preprocessor(int input_size, const PreprocessOptions& options)
    : input_size_(input_size), output_size_(options.output_size ? options.output_size : input_size),
      crop_side_(0), options_(options), lut_{} {
  if (input_size < 1) throw std::invalid_argument("preprocess: input size " + std::to_string(input_size));
  if (options.output_size < 0) {
    throw UserError("image size " + std::to_string(options.output_size) + " is negative",
                    "set the image size to a positive side in pixels, or 0 to keep the pack's size");
  }
  if (!(options.crop_fraction > 0.f && options.crop_fraction <= 1.f)) {
    throw UserError("crop fraction " + std::to_string(options.crop_fraction) + " is outside (0, 1]",
                    "use 1 for no crop, or e.g. 0.875 to keep the central 87.5 % of the side");
  }
  if (!(options.std > 0.f) || !std::isfinite(options.mean)) {
    throw UserError("normalisation mean " + std::to_string(options.mean) + " / std " +
                        std::to_string(options.std) + " is invalid",
                    "std must be positive and both finite (pixel values are scaled to [0, 1] first)");
  }
  crop_side_ = std::max(1, static_cast<int>(std::lround(options.crop_fraction * static_cast<double>(input_size))));
  for (int v = 0; v < 256; ++v) lut_[v] = (static_cast<float>(v) / 255.f - options.mean) / options.std;
}

void Preprocessor::run(const uint8_t* src, float* dst, uint64_t seed) const {
  const cv::Mat image(input_size_, input_size_, CV_8UC1, const_cast<uint8_t*>(src));
  const int origin = (input_size_ - crop_side_) / 2;
  cv::Rect roi(origin, origin, crop_side_, crop_side_);
  double brightness = 1.0, contrast = 1.0;
  if (options_.augment) {
    // Draw order is part of the contract: changing it changes every augmented run.
    SplitMix64 rng(seed);
    const double scale = kMinScale + (1.0 - kMinScale) * rng.uniform();
    const int side = std::max(1, static_cast<int>(std::lround(scale * crop_side_)));
    const auto slack = static_cast<uint64_t>(crop_side_ - side) + 1;
    roi = cv::Rect(origin + static_cast<int>(rng.below(slack)), origin + static_cast<int>(rng.below(slack)), side,
                   side);
    brightness = 1.0 + kJitter * (2.0 * rng.uniform() - 1.0);
    contrast = 1.0 + kJitter * (2.0 * rng.uniform() - 1.0);
  }

  cv::Mat view = image(roi), resized;
  if (roi.width != output_size_) {
    // Area averaging is the alias-free filter for shrinking; it degenerates to nearest when enlarging.
    const int interp = roi.width > output_size_ ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(view, resized, cv::Size(output_size_, output_size_), 0, 0, interp);
    view = resized;
  }
  if (!options_.augment) {
    apply_lut(view, lut_, dst);
    return;
  }

  // Brightness scales intensity; contrast stretches it about the image mean (as torchvision's
  // ColorJitter does); both clamp to [0, 1]. The mean comes from the histogram, so all of it is a table.
  int64_t hist[256] = {};
  for (int y = 0; y < view.rows; ++y) {
    const uint8_t* row = view.ptr<uint8_t>(y);
    for (int x = 0; x < view.cols; ++x) ++hist[row[x]];
  }
  double bright[256], sum = 0.0;
  for (int v = 0; v < 256; ++v) {
    bright[v] = std::min(1.0, brightness * v / 255.0);
    sum += bright[v] * static_cast<double>(hist[v]);
  }
  const double mean_level = sum / (static_cast<double>(view.rows) * view.cols);
  float lut[256];
  for (int v = 0; v < 256; ++v) {
    const double y = std::clamp(contrast * (bright[v] - mean_level) + mean_level, 0.0, 1.0);
    lut[v] = (static_cast<float>(y) - options_.mean) / options_.std;
  }
  apply_lut(view, lut, dst);
}

uint64_t augment_seed(uint64_t loader_seed, int64_t epoch, int64_t row) {
  return mix64(mix64(mix64(loader_seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(row));
}

PreprocessOptions preprocess_options(const DataConfig& data) {
  PreprocessOptions p;
  p.output_size = data.image_size;
  p.crop_fraction = static_cast<float>(data.crop_fraction);
  p.mean = static_cast<float>(data.mean);
  p.std = static_cast<float>(data.std);
  p.augment = data.augment == "light";
  return p;
}

}  // namespace cxr::data
