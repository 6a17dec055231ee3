// What `cxrtrain gradcam` writes besides the statistics: the per-class overlay grid (OpenCV) and the raw maps as a
// numpy .npy file. Display only: maps are scaled per tile here, never in the statistics.
#pragma once

#include <opencv2/core.hpp>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/cam_stats.h"

namespace cxr::eval {

// One tile: the film, its map at the film's side, the class's lesion mask (may be empty) or NIH box, the score.
struct OverlayTile {
  std::vector<uint8_t> film;
  std::vector<float> map;
  std::vector<uint8_t> truth;
  std::optional<Box> box;
  double p = 0;
};

// A grid per class: rows TP, FP, FN (up to `columns` tiles each); each tile the film enlarged to >= 160 px, its
// map in colour (scaled per tile), the lesion outlined in amber or the NIH box in green, and the score.
cv::Mat overlay_grid(const std::string& title, const std::array<std::vector<OverlayTile>, 3>& rows, int size, int columns);

// numpy's .npy format, version 1.0: little-endian float32, C order.
std::string npy_float32(const torch::Tensor& t);

}  // namespace cxr::eval
