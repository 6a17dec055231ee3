// Image decoding for packing and for the PNG baseline: any NIH PNG (8/16-bit grey, RGB, RGBA) to
// 8-bit grey, and area-interpolated resizing. Grey, RGB and RGBA encodings of the same picture give
// identical pixels (tested).
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cxr::data {

// Decodes `path` to CV_8UC1. RGB(A) with equal channels keeps the channel values exactly; other
// colour images use ITU-R BT.601 luma; alpha is ignored (NIH RGBA files have alpha = 255);
// 16-bit images are scaled by 255/65535. Throws UserError naming the file if it cannot be decoded.
cv::Mat decode_grey(const std::string& path);
// Same, from an in-memory encoded buffer (`name` is for error messages).
cv::Mat decode_grey(const std::vector<uint8_t>& encoded, const std::string& name);

// Resizes to side x side with area interpolation (the right filter for downscaling 1024 -> 256).
cv::Mat resize_square(const cv::Mat& grey, int side);

}  // namespace cxr::data
