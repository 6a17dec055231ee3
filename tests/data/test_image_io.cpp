// Image decoding: grey, RGB, RGBA and 16-bit encodings of one picture give identical pixels, and
// area resizing matches its formula (block means).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "data/image_io.h"

using namespace cxr::data;

namespace {

cv::Mat random_grey(int side, int seed) {
  cv::Mat m(side, side, CV_8UC1);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

std::vector<uint8_t> encode(const cv::Mat& m) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(".png", m, out));
  return out;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::countNonZero(a != b) == 0;
}

}  // namespace

TEST(ImageIo, GreyRgbRgbaAnd16BitGiveIdenticalPixels) {
  cv::Mat grey = random_grey(64, 1);
  cv::Mat bgr, bgra, grey16;
  cv::merge(std::vector<cv::Mat>{grey, grey, grey}, bgr);
  cv::merge(std::vector<cv::Mat>{grey, grey, grey, cv::Mat(grey.size(), CV_8UC1, cv::Scalar(255))}, bgra);
  grey.convertTo(grey16, CV_16U, 257.0);  // v -> v*257 = v * 65535/255
  cv::Mat d1 = decode_grey(encode(grey), "grey");
  EXPECT_TRUE(same(d1, grey));
  EXPECT_TRUE(same(decode_grey(encode(bgr), "rgb"), d1));
  EXPECT_TRUE(same(decode_grey(encode(bgra), "rgba"), d1));
  EXPECT_TRUE(same(decode_grey(encode(grey16), "grey16"), d1));
}

TEST(ImageIo, TrueColourUsesLuma) {
  cv::Mat bgr(4, 4, CV_8UC3, cv::Scalar(0, 0, 255));  // pure red
  cv::Mat g = decode_grey(encode(bgr), "red");
  EXPECT_NEAR(g.at<uint8_t>(0, 0), 0.299 * 255, 1.0);
}

TEST(ImageIo, RealNihRgbaFileEqualsItsFirstChannel) {
  std::string path = std::string(CXR_SHARED_DATA_DIR) + "/images/nih_1024_reproduce-chexnet/00000100_000.png";
  cv::Mat raw = cv::imread(path, cv::IMREAD_UNCHANGED);
  ASSERT_EQ(raw.channels(), 4);
  cv::Mat g = decode_grey(path);
  ASSERT_EQ(g.type(), CV_8UC1);
  ASSERT_EQ(g.rows, 1024);
  std::vector<cv::Mat> ch;
  cv::split(raw, ch);
  EXPECT_TRUE(same(g, ch[0]));
}

TEST(ImageIo, AreaResizeIsBlockMean) {
  cv::Mat m(8, 8, CV_8UC1);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) m.at<uint8_t>(y, x) = static_cast<uint8_t>(10 * (y / 4) + 100 * (x / 4) + (x % 2) * 4);
  cv::Mat r = resize_square(m, 2);
  // Each 4x4 block: base + mean of the (x%2)*4 pattern = base + 2.
  EXPECT_EQ(r.at<uint8_t>(0, 0), 2);
  EXPECT_EQ(r.at<uint8_t>(0, 1), 102);
  EXPECT_EQ(r.at<uint8_t>(1, 0), 12);
  EXPECT_EQ(r.at<uint8_t>(1, 1), 112);
}

TEST(ImageIo, UndecodableFileIsAUserErrorNamingIt) {
  std::vector<uint8_t> junk = {1, 2, 3, 4, 5};
  try {
    decode_grey(junk, "broken.png");
    FAIL();
  } catch (const cxr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos);
  }
  EXPECT_THROW(decode_grey("/nonexistent/x.png"), cxr::UserError);
}
