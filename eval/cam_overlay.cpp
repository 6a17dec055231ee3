// Overlay grids and .npy output of `cxrtrain gradcam` (see cam_overlay.h).
#include "eval/cam_overlay.h"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

namespace cxr::eval {

cv::Mat overlay_grid(const std::string& title, const std::array<std::vector<OverlayTile>, 3>& rows, int size, int columns) {
  const int scale = std::max(1, (160 + size - 1) / size), tile = size * scale, label_w = 44, title_h = 22;
  cv::Mat grid(title_h + 3 * tile, label_w + columns * tile, CV_8UC3, cv::Scalar(24, 24, 24));
  cv::putText(grid, title, {4, 16}, cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  const char* names[3] = {"TP", "FP", "FN"};
  for (int r = 0; r < 3; ++r) {
    cv::putText(grid, names[r], {6, title_h + r * tile + tile / 2}, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    for (size_t c = 0; c < rows[r].size() && static_cast<int>(c) < columns; ++c) {
      const OverlayTile& t = rows[r][c];
      cv::Mat film(size, size, CV_8UC1, const_cast<uint8_t*>(t.film.data()));
      cv::Mat map(size, size, CV_32FC1, const_cast<float*>(t.map.data()));
      double lo = 0, hi = 0;
      cv::minMaxLoc(map, &lo, &hi);
      cv::Mat map8;
      map.convertTo(map8, CV_8UC1, hi > 0 ? 255.0 / hi : 0.0);
      cv::Mat heat, grey3, mixed;
      cv::applyColorMap(map8, heat, cv::COLORMAP_JET);
      cv::cvtColor(film, grey3, cv::COLOR_GRAY2BGR);
      cv::addWeighted(grey3, 0.6, heat, 0.4, 0, mixed);
      cv::Mat big;
      cv::resize(mixed, big, {tile, tile}, 0, 0, cv::INTER_NEAREST);
      if (!t.truth.empty()) {
        cv::Mat m(size, size, CV_8UC1, const_cast<uint8_t*>(t.truth.data())), mbig;
        cv::resize(m, mbig, {tile, tile}, 0, 0, cv::INTER_NEAREST);
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(mbig, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
        cv::drawContours(big, contours, -1, cv::Scalar(0, 191, 255), 1);
      }
      if (t.box)
        cv::rectangle(big, cv::Rect(static_cast<int>(t.box->x * scale), static_cast<int>(t.box->y * scale),
                                    static_cast<int>(t.box->w * scale), static_cast<int>(t.box->h * scale)),
                      cv::Scalar(0, 255, 0), 1);
      char text[32];
      std::snprintf(text, sizeof text, "p=%.2f", t.p);
      cv::putText(big, text, {3, tile - 5}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
      big.copyTo(grid(cv::Rect(label_w + static_cast<int>(c) * tile, title_h + r * tile, tile, tile)));
    }
  }
  return grid;
}

std::string npy_float32(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  std::string shape = "(";
  for (int64_t d = 0; d < c.dim(); ++d) shape += std::to_string(c.size(d)) + (c.dim() == 1 || d + 1 < c.dim() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<size_t>(c.numel()) * sizeof(float));
  return out;
}

}  // namespace cxr::eval
