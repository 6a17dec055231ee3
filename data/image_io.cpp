// Image decoding (see image_io.h).
#include "data/image_io.h"

#include <opencv2/imgproc.hpp>
#if CXR_HAVE_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif

#include <fstream>
#include <vector>

#include "core/error.h"

namespace cxr::data {
namespace {

cv::Mat to_grey8(cv::Mat img, const std::string& name) {
  if (img.empty()) {
    throw UserError("cannot decode image '" + name + "'", "the file is truncated or not an image; re-download it");
  }
  if (img.depth() == CV_16U) img.convertTo(img, CV_8U, 255.0 / 65535.0);  // full scale to full scale
  else if (img.depth() != CV_8U)
    throw UserError("image '" + name + "' has an unsupported pixel depth", "NIH images are 8- or 16-bit PNGs");
  if (img.channels() == 1) return img;
  // Colour: drop alpha, then keep a channel exactly when all channels agree (NIH's RGB/RGBA files).
  std::vector<cv::Mat> ch;
  cv::split(img, ch);
  if (ch.size() == 4) ch.pop_back();
  bool equal = true;
  for (size_t c = 1; c < ch.size() && equal; ++c) equal = cv::countNonZero(ch[c] != ch[0]) == 0;
  if (equal) return ch[0];
  cv::Mat bgr, grey;
  cv::merge(ch, bgr);
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  return grey;
}

}  // namespace

cv::Mat decode_grey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot open image '" + path + "'", "check that the file exists and is readable");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_grey(bytes, path);
}

cv::Mat decode_grey(const std::vector<uint8_t>& encoded, const std::string& name) {
  if (encoded.empty()) throw UserError("image '" + name + "' is empty (0 bytes)", "re-download it");
#if CXR_HAVE_IMGCODECS
  return to_grey8(cv::imdecode(encoded, cv::IMREAD_UNCHANGED), name);
#else
  throw UserError("cannot decode '" + name + "': this cxrtrain was built without OpenCV's imgcodecs",
                  "pack on a machine whose OpenCV has imgcodecs (Debian: libopencv-dev) and copy the pack here");
#endif
}

cv::Mat resize_square(const cv::Mat& grey, int side) {
  if (grey.rows == side && grey.cols == side) return grey.clone();
  cv::Mat out;
  cv::resize(grey, out, cv::Size(side, side), 0, 0, cv::INTER_AREA);
  return out;
}

}  // namespace cxr::data
