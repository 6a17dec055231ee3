// Per-image preprocessing for training and evaluation: one pack image uint8 [S,S] -> float [T,T]
// (optional centre crop, resize, normalisation) with an optional light augmentation that is a pure
// function of a 64-bit seed, so a sample looks the same whichever thread or rank prepares it.
// Torch-free; the loader writes straight into batch tensors.
#pragma once

#include "core/config.h"

#include <cstdint>

namespace cxr::data {

struct PreprocessOptions {
  int output_size = 0;          // T; 0 = the input size S
  float crop_fraction = 1.0f;   // centre crop of this fraction of the side, in (0, 1]; 1 = none
  // (x/255 - mean) / std. Defaults: ImageNet's RGB statistics averaged to one channel, the usual
  // choice for grey radiographs fed to ResNets.
  float mean = 0.449f;
  float std = 0.226f;
  // Light augmentation: a square crop of a random 90-100 % of the (centre-cropped) side at a random
  // offset, then brightness and contrast each scaled by a random factor in [0.95, 1.05]. No flips or
  // rotations: laterality (heart on the left, the L/R marker) carries diagnostic meaning.
  bool augment = false;
};

// The preprocessing a run configuration asks for (data.image_size, crop_fraction, mean, std, augment).
PreprocessOptions preprocess_options(const DataConfig& data);

class Preprocessor {
 public:
  // input_size: S of the pack. Throws std::invalid_argument for a bad size, crop or std.
  Preprocessor(int input_size, const PreprocessOptions& options);

  int input_size() const { return input_size_; }
  int output_size() const { return output_size_; }
  const PreprocessOptions& options() const { return options_; }

  // src: S*S bytes, row-major; dst: T*T floats. `augment_seed` is ignored without augmentation.
  // Const and allocation-light: safe to call from many threads at once.
  void run(const uint8_t* src, float* dst, uint64_t augment_seed = 0) const;

 private:
  int input_size_;
  int output_size_;
  int crop_side_;               // centre crop side in input pixels
  PreprocessOptions options_;
  float lut_[256];              // normalisation table for the non-augmented path
};

// The augmentation seed of one sample: a hash of (loader seed, epoch, split row), so an image is
// augmented identically on resume and differently in every epoch.
uint64_t augment_seed(uint64_t loader_seed, int64_t epoch, int64_t row);

}  // namespace cxr::data
