// Preprocessing: normalisation by formula, crop geometry and area averaging on images whose expected
// output is known in closed form, constant images staying constant, and a seeded augmentation that
// is reproducible, varies with the seed and never mirrors the image.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "core/error.h"
#include "data/preprocess.h"

using cxr::data::PreprocessOptions;
using cxr::data::Preprocessor;

namespace {

constexpr float kMean = 0.45f, kStd = 0.22f;

float norm(int v) { return (static_cast<float>(v) / 255.f - kMean) / kStd; }

PreprocessOptions opts(int out, float crop = 1.f, bool augment = false) {
  PreprocessOptions o;
  o.output_size = out;
  o.crop_fraction = crop;
  o.mean = kMean;
  o.std = kStd;
  o.augment = augment;
  return o;
}

std::vector<uint8_t> pseudo_random_image(int side, uint32_t seed) {
  std::vector<uint8_t> img(static_cast<size_t>(side) * side);
  for (auto& v : img) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  return img;
}

}  // namespace

TEST(Preprocess, IdentitySizeIsNormalisationByFormula) {
  const int s = 37;
  auto img = pseudo_random_image(s, 3);
  Preprocessor p(s, opts(0));
  ASSERT_EQ(p.output_size(), s);
  std::vector<float> out(img.size());
  p.run(img.data(), out.data());
  for (size_t i = 0; i < img.size(); ++i) ASSERT_FLOAT_EQ(out[i], norm(img[i])) << i;
}

TEST(Preprocess, CentreCropTakesTheMiddle) {
  // S = 10, crop 0.6 -> the 6x6 block starting at (2, 2), and T = 6 needs no resize.
  const int s = 10;
  auto img = pseudo_random_image(s, 5);
  Preprocessor p(s, opts(6, 0.6f));
  std::vector<float> out(36);
  p.run(img.data(), out.data());
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) ASSERT_FLOAT_EQ(out[y * 6 + x], norm(img[(y + 2) * s + x + 2])) << y << "," << x;
}

TEST(Preprocess, HalvingAveragesTwoByTwoBlocks) {
  // Blocks hold a, a+2, a+4, a+6 (mean a+3, an integer), so area averaging has an exact answer.
  const int s = 16, t = 8;
  std::vector<uint8_t> img(s * s);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x)
      img[y * s + x] = static_cast<uint8_t>(10 + 12 * (y / 2) + 3 * (x / 2) + 2 * (y % 2) + 4 * (x % 2));
  Preprocessor p(s, opts(t));
  std::vector<float> out(t * t);
  p.run(img.data(), out.data());
  for (int y = 0; y < t; ++y)
    for (int x = 0; x < t; ++x) EXPECT_NEAR(out[y * t + x], norm(10 + 12 * y + 3 * x + 3), 1e-5) << y << "," << x;
}

TEST(Preprocess, ConstantImageStaysConstant) {
  const int s = 64;
  std::vector<uint8_t> img(s * s, 137);
  for (int t : {24, 51, 64, 100}) {  // shrink, shrink after crop, crop only, enlarge
    for (float crop : {1.f, 0.8f}) {
      Preprocessor p(s, opts(t, crop));
      std::vector<float> out(static_cast<size_t>(t) * t);
      p.run(img.data(), out.data());
      for (float v : out) ASSERT_NEAR(v, norm(137), 1e-6) << "t=" << t << " crop=" << crop;
    }
  }
  // Augmentation may shift brightness but cannot create structure in a flat image.
  Preprocessor aug(s, opts(48, 0.9f, true));
  std::vector<float> out(48 * 48);
  aug.run(img.data(), out.data(), 77);
  for (float v : out) ASSERT_FLOAT_EQ(v, out[0]);
  EXPECT_NEAR(out[0], norm(137), 0.06f * 137.f / 255.f / kStd);  // brightness within +-5 %
}

TEST(Preprocess, AugmentationIsSeededAndVaries) {
  const int s = 64, t = 56;
  auto img = pseudo_random_image(s, 11);
  Preprocessor p(s, opts(t, 1.f, true));
  std::vector<float> a(t * t), b(t * t), c(t * t);
  p.run(img.data(), a.data(), 1234);
  p.run(img.data(), b.data(), 1234);
  p.run(img.data(), c.data(), 1235);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<std::vector<float>> distinct;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> out(t * t);
    p.run(img.data(), out.data(), seed);
    for (float v : out) ASSERT_TRUE(v >= norm(0) - 1e-5f && v <= norm(255) + 1e-5f);  // clamped to [0, 1]
    distinct.insert(out);
  }
  EXPECT_EQ(distinct.size(), 20u);
  // The seed is ignored without augmentation.
  Preprocessor plain(s, opts(t));
  plain.run(img.data(), a.data(), 1);
  plain.run(img.data(), b.data(), 2);
  EXPECT_EQ(a, b);
}

TEST(Preprocess, AugmentationNeverMirrors) {
  // Left-to-right ramp: any crop, resize or intensity change keeps it non-decreasing; a flip would not.
  const int s = 64, t = 32;
  std::vector<uint8_t> img(s * s);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) img[y * s + x] = static_cast<uint8_t>(x * 4);
  Preprocessor p(s, opts(t, 0.9f, true));
  std::vector<float> out(t * t);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    p.run(img.data(), out.data(), seed);
    for (int y = 0; y < t; ++y) {
      ASSERT_LT(out[y * t], out[y * t + t - 1]) << "seed " << seed;
      for (int x = 1; x < t; ++x) ASSERT_GE(out[y * t + x], out[y * t + x - 1]) << "seed " << seed;
    }
  }
}

TEST(Preprocess, AugmentSeedSeparatesSeedEpochAndRow) {
  using cxr::data::augment_seed;
  EXPECT_EQ(augment_seed(1, 2, 3), augment_seed(1, 2, 3));
  std::set<uint64_t> seeds;
  for (uint64_t s = 0; s < 4; ++s)
    for (int64_t e = 0; e < 4; ++e)
      for (int64_t r = 0; r < 4; ++r) seeds.insert(augment_seed(s, e, r));
  EXPECT_EQ(seeds.size(), 64u);
}

TEST(Preprocess, RejectsBadOptions) {
  EXPECT_THROW(Preprocessor(32, opts(16, 0.f)), cxr::UserError);
  EXPECT_THROW(Preprocessor(32, opts(16, 1.5f)), cxr::UserError);
  EXPECT_THROW(Preprocessor(32, opts(-1)), cxr::UserError);
  PreprocessOptions zero_std = opts(16);
  zero_std.std = 0.f;
  EXPECT_THROW(Preprocessor(32, zero_std), cxr::UserError);
  EXPECT_THROW(Preprocessor(0, opts(16)), std::invalid_argument);
}
