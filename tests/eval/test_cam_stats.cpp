// Grad-CAM statistics against independent references: torch's bilinear interpolate and scipy's spearmanr
// (frozen into fixtures/cam_reference.json by make_cam_fixture.py), the Wilson interval solved as a quadratic,
// regions, boxes, the pointing game and the shortcut rule on hand-built cases whose answers are worked out here,
// and the bootstrap interval's coverage of a known mean.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>

#include "data/classes.h"
#include "data/phantom.h"
#include "eval/cam_stats.h"

using namespace cxr::eval;
namespace data = cxr::data;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint8_t kMarker = data::kAnatMarker;

nlohmann::json fixture() {
  std::ifstream in(std::string(CXR_SOURCE_DIR) + "/tests/eval/fixtures/cam_reference.json");
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

size_t at(int x, int y, int size) { return static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x); }
int region_at(const RegionMap& r, int x, int y, int size) { return r[at(x, y, size)]; }
constexpr int R(CamRegion r) { return static_cast<int>(r); }
int cls(const char* name) { return *data::class_index(name); }

// A 40x40 anatomy map: the frame (pixels 0-3 and 36-39: centres within 0.10 s = 4 px of an edge) is whatever,
// the interior is built by hand. Known pixels, one per region (x, y, anatomy bits -> region):
constexpr int kS = 40;
struct Known {
  int x, y;
  uint8_t anatomy;
  CamRegion region;
};
const Known kKnown[] = {
    {0, 0, data::kAnatBody | kMarker, CamRegion::kCorners},     // a marker in a corner counts as corners
    {20, 1, data::kAnatBody, CamRegion::kBorder},
    {20, 20, data::kAnatBody | data::kAnatRightLung | kMarker, CamRegion::kTextMarkers},  // marker over a lung
    {5, 20, 0, CamRegion::kOutsideBody},
    {20, 32, data::kAnatBody | data::kAnatAbdomen | data::kAnatLeftLung, CamRegion::kBelowDiaphragm},
    {21, 15, data::kAnatBody | data::kAnatHeart | data::kAnatRightLung, CamRegion::kHeartMediastinum},
    {12, 15, data::kAnatBody | data::kAnatRightLung, CamRegion::kLungs},
    {30, 10, data::kAnatBody, CamRegion::kOtherBody},
};
std::vector<uint8_t> hand_anatomy() {
  std::vector<uint8_t> a(kS * kS, 0);
  for (int y = 6; y < 34; ++y)
    for (int x = 6; x < 34; ++x) a[at(x, y, kS)] = data::kAnatBody;
  for (int y = 10; y < 28; ++y)
    for (int x = 9; x < 18; ++x) a[at(x, y, kS)] |= data::kAnatRightLung;
  for (int y = 10; y < 28; ++y)
    for (int x = 23; x < 31; ++x) a[at(x, y, kS)] |= data::kAnatLeftLung;
  for (int y = 8; y < 26; ++y) a[at(19, y, kS)] |= data::kAnatMediastinum;
  for (int y = 28; y < 34; ++y)
    for (int x = 6; x < 34; ++x) a[at(x, y, kS)] |= data::kAnatAbdomen;
  a[at(25, 25, kS)] |= kMarker;
  a[at(10, 30, kS)] = kMarker;  // a marker outside the body still counts as a marker
  for (const Known& k : kKnown) a[at(k.x, k.y, kS)] = k.anatomy;
  return a;
}

std::vector<float> random_map(std::mt19937_64& rng, int size) {
  std::uniform_real_distribution<float> u(0.f, 2.f);
  std::vector<float> m(static_cast<size_t>(size) * static_cast<size_t>(size));
  for (float& v : m) v = rng() % 4 == 0 ? 0.f : u(rng);
  return m;
}

}  // namespace

// ---- 1. Region shares ------------------------------------------------------------------------------------------

TEST(CamStats, RegionSharesSumToOne) {
  std::mt19937_64 rng(7);
  const auto anatomy = hand_anatomy();
  const RegionMap maps[] = {phantom_regions(anatomy.data(), kS), template_regions(64), template_regions(224)};
  for (const RegionMap& regions : maps) {
    const int size = static_cast<int>(std::lround(std::sqrt(static_cast<double>(regions.size()))));
    for (int rep = 0; rep < 5; ++rep) {
      const auto shares = region_shares(random_map(rng, size), regions);
      ASSERT_TRUE(shares);
      double sum = 0;
      for (double s : *shares) {
        EXPECT_GE(s, 0.0);
        sum += s;
      }
      EXPECT_NEAR(sum, 1.0, 1e-12);
    }
  }
}

TEST(CamStats, PhantomSharesOfKnownPixels) {
  const auto anatomy = hand_anatomy();
  const RegionMap regions = phantom_regions(anatomy.data(), kS);
  // Weight r+1 on region r's known pixel: share (r+1) / (1+2+...+8) = (r+1)/36.
  std::vector<float> map(kS * kS, 0.f);
  for (const Known& k : kKnown) map[at(k.x, k.y, kS)] = static_cast<float>(R(k.region) + 1);
  const auto shares = region_shares(map, regions);
  ASSERT_TRUE(shares);
  for (int r = 0; r < kNumCamRegions; ++r) EXPECT_NEAR((*shares)[r], (r + 1) / 36.0, 1e-15) << cam_region_name(r);
  for (const Known& k : kKnown) EXPECT_EQ(region_at(regions, k.x, k.y, kS), R(k.region)) << k.x << "," << k.y;
}

TEST(CamStats, TemplateSharesOfKnownPixels) {
  constexpr int s = 100;
  const RegionMap regions = template_regions(s);
  // Worked out from the header's geometry (pixel centre (x+0.5)/100):
  struct P {
    int x, y;
    CamRegion region;
  };
  const P known[] = {
      {0, 0, CamRegion::kCorners},          {50, 2, CamRegion::kBorder},
      {50, 80, CamRegion::kBelowDiaphragm},  // y 0.805 > 0.72, |x-0.5| = 0.005
      {50, 40, CamRegion::kHeartMediastinum},  // the mediastinal band
      {67, 62, CamRegion::kHeartMediastinum},  // (0.675, 0.625): heart ellipse (0.125/0.14 < 1), over the lung
      {30, 45, CamRegion::kLungs},           // the right lung's centre
      {12, 15, CamRegion::kOtherBody},       // (0.125, 0.155): outside both lungs, above the heart
  };
  std::vector<float> map(s * s, 0.f);
  double total = 0;
  std::array<double, kNumCamRegions> expected{};
  for (size_t i = 0; i < std::size(known); ++i) {
    const float w = static_cast<float>(i + 1);
    map[at(known[i].x, known[i].y, s)] = w;
    expected[R(known[i].region)] += w;
    total += w;
  }
  const auto shares = region_shares(map, regions);
  ASSERT_TRUE(shares);
  for (int r = 0; r < kNumCamRegions; ++r) EXPECT_NEAR((*shares)[r], expected[r] / total, 1e-15) << cam_region_name(r);
  // Real films: text_markers is empty, and the body (|x-0.5| < 0.45) reaches into the border band.
  const auto uniform = region_shares(std::vector<float>(s * s, 1.f), regions);
  ASSERT_TRUE(uniform);
  EXPECT_EQ((*uniform)[R(CamRegion::kTextMarkers)], 0.0);
  EXPECT_EQ((*uniform)[R(CamRegion::kOutsideBody)], 0.0);
  // Corners: 4 squares of 15x15 pixels; border: the band of width 10 minus the corners' 15x15 - 5x5 pixels in it
  // (each corner square reaches 5 pixels into the interior on both axes).
  EXPECT_NEAR((*uniform)[R(CamRegion::kCorners)], 4 * 15 * 15 / 1e4, 1e-15);
  EXPECT_NEAR((*uniform)[R(CamRegion::kBorder)], (1e4 - 80 * 80 - 4 * (15 * 15 - 5 * 5)) / 1e4, 1e-15);
}

TEST(CamStats, ZeroMapHasNoShares) {
  EXPECT_FALSE(region_shares(std::vector<float>(64 * 64, 0.f), template_regions(64)));
  EXPECT_THROW(region_shares(std::vector<float>(10, 0.f), template_regions(64)), std::invalid_argument);
  std::vector<float> negative(16, 1.f);
  negative[3] = -0.5f;
  EXPECT_THROW(region_shares(negative, template_regions(4)), std::invalid_argument);
}

// ---- 2. Region geometry ----------------------------------------------------------------------------------------

TEST(CamStats, RegionGeometry) {
  constexpr int s = 224;  // corners: centres < 0.15*224 = 33.6 px from two edges; border: < 22.4 px from one
  const RegionMap t = template_regions(s);
  EXPECT_EQ(region_at(t, 0, 0, s), R(CamRegion::kCorners));
  EXPECT_EQ(region_at(t, 223, 223, s), R(CamRegion::kCorners));
  EXPECT_EQ(region_at(t, 33, 190, s), R(CamRegion::kCorners));   // centres 33.5 and 33.5 from the edges
  EXPECT_EQ(region_at(t, 34, 0, s), R(CamRegion::kBorder));      // centre 34.5 > 33.6 from the left edge
  EXPECT_EQ(region_at(t, 34, 21, s), R(CamRegion::kBorder));     // 21.5 < 22.4 from the top, not a corner
  EXPECT_EQ(region_at(t, 190, 34, s), R(CamRegion::kOtherBody));  // 33.5 from the right only: the interior
  EXPECT_EQ(region_at(t, 112, 21, s), R(CamRegion::kBorder));    // 21.5 < 22.4
  EXPECT_EQ(region_at(t, 112, 202, s), R(CamRegion::kBorder));   // 224 - 202.5 = 21.5
  EXPECT_EQ(region_at(t, 21, 112, s), R(CamRegion::kBorder));
  EXPECT_EQ(region_at(t, 202, 112, s), R(CamRegion::kBorder));
  EXPECT_EQ(region_at(t, 112, 22, s), R(CamRegion::kOtherBody));  // 22.5 > 22.4; y = 0.100 is above the band
  EXPECT_EQ(region_at(t, 112, 201, s), R(CamRegion::kBelowDiaphragm));  // y = 0.8996
  EXPECT_EQ(region_at(t, 67, 100, s), R(CamRegion::kLungs));      // (0.301, 0.449): the right lung's centre
  EXPECT_EQ(region_at(t, 156, 100, s), R(CamRegion::kLungs));     // (0.699, 0.449): the left lung's centre
  EXPECT_EQ(region_at(t, 112, 100, s), R(CamRegion::kHeartMediastinum));

  // Phantom: everything body and lung, markers in the middle, in a corner and on the border.
  std::vector<uint8_t> a(s * s, data::kAnatBody | data::kAnatLungs);
  a[at(112, 112, s)] |= kMarker;
  a[at(0, 0, s)] |= kMarker;
  a[at(112, 0, s)] |= kMarker;
  const RegionMap p = phantom_regions(a.data(), s);
  EXPECT_EQ(region_at(p, 112, 112, s), R(CamRegion::kTextMarkers));
  EXPECT_EQ(region_at(p, 0, 0, s), R(CamRegion::kCorners));
  EXPECT_EQ(region_at(p, 112, 0, s), R(CamRegion::kBorder));
  EXPECT_EQ(region_at(p, 113, 112, s), R(CamRegion::kLungs));
  EXPECT_STREQ(cam_region_name(CamRegion::kTextMarkers), "text_markers");
  EXPECT_STREQ(cam_region_name(7), "other_body");
}

// ---- 3. Bilinear upsampling ------------------------------------------------------------------------------------

TEST(CamStats, UpsampleMatchesTorch) {
  const auto j = fixture();
  int cases = 0;
  for (const auto& c : j.at("upsample")) {
    const int h = c.at("h"), w = c.at("w"), size = c.at("size");
    const auto m = c.at("map").get<std::vector<double>>();
    std::vector<float> map(m.begin(), m.end());
    const auto out = upsample_bilinear(map.data(), h, w, size);
    ASSERT_EQ(out.size(), static_cast<size_t>(size * size));
    const auto index = c.at("index").get<std::vector<int>>();
    const auto expected = c.at("out").get<std::vector<double>>();
    ASSERT_EQ(expected.size(), index.size() * index.size());
    double worst = 0;
    for (size_t r = 0; r < index.size(); ++r)
      for (size_t q = 0; q < index.size(); ++q)
        worst = std::max(worst, std::abs(out[at(index[q], index[r], size)] - expected[r * index.size() + q]));
    EXPECT_LT(worst, 1e-5) << h << "x" << w << " -> " << size;
    ++cases;
  }
  EXPECT_GE(cases, 30);
  EXPECT_THROW(upsample_bilinear(nullptr, 0, 3, 8), std::invalid_argument);
}

// ---- 4. Spearman -----------------------------------------------------------------------------------------------

TEST(CamStats, SpearmanMatchesScipy) {
  const auto j = fixture();
  int cases = 0;
  for (const auto& c : j.at("spearman")) {
    const auto a64 = c.at("a").get<std::vector<double>>(), b64 = c.at("b").get<std::vector<double>>();
    const std::vector<float> a(a64.begin(), a64.end()), b(b64.begin(), b64.end());
    const auto rho = spearman(a.data(), b.data(), a.size());
    ASSERT_TRUE(rho) << c.at("n");
    EXPECT_NEAR(*rho, c.at("rho").get<double>(), 1e-12) << c.at("n");
    ++cases;
  }
  EXPECT_EQ(cases, 8);
  const std::vector<float> constant(20, 0.3f), ramp = [] {
    std::vector<float> v(20);
    for (int i = 0; i < 20; ++i) v[i] = static_cast<float>(i);
    return v;
  }();
  EXPECT_FALSE(spearman(constant.data(), ramp.data(), 20));
  EXPECT_FALSE(spearman(ramp.data(), constant.data(), 20));
  EXPECT_FALSE(spearman(ramp.data(), ramp.data(), 1));
  EXPECT_DOUBLE_EQ(*spearman(ramp.data(), ramp.data(), 20), 1.0);
}

// ---- 5. Boxes and the pointing game ----------------------------------------------------------------------------

TEST(CamStats, IouAndIobbByHand) {
  const Box truth{10, 10, 10, 10}, wide{10, 10, 20, 10};
  EXPECT_DOUBLE_EQ(box_area(wide), 200.0);
  EXPECT_DOUBLE_EQ(intersection_area(truth, wide), 100.0);
  EXPECT_DOUBLE_EQ(iou(truth, wide), 0.5);         // 100 / (100 + 200 - 100)
  EXPECT_DOUBLE_EQ(iobb(wide, truth), 0.5);        // 100 / 200, the detected box's area
  EXPECT_DOUBLE_EQ(iobb(truth, wide), 1.0);        // a detected box inside the truth box
  EXPECT_DOUBLE_EQ(iou(truth, Box{30, 30, 5, 5}), 0.0);
  EXPECT_DOUBLE_EQ(iobb(Box{30, 30, 5, 5}, truth), 0.0);
  EXPECT_DOUBLE_EQ(iou(truth, Box{20, 10, 5, 5}), 0.0);  // touching edges share no area
  const Box a{0, 0, 10, 10}, b{5, 5, 10, 10};           // overlap 5x5
  EXPECT_DOUBLE_EQ(iou(a, b), 25.0 / 175.0);
  EXPECT_DOUBLE_EQ(iobb(a, b), 25.0 / 100.0);
  EXPECT_DOUBLE_EQ(iobb(Box{0, 0, 20, 20}, a), 100.0 / 400.0);
}

TEST(CamStats, BoxMaskRoundTrip) {
  constexpr int s = 32;
  const auto mask = box_mask(Box{10, 10, 10, 10}, s);
  int inside = 0;
  for (uint8_t v : mask) inside += v;
  EXPECT_EQ(inside, 100);
  EXPECT_TRUE(mask[at(10, 10, s)]);
  EXPECT_TRUE(mask[at(19, 19, s)]);
  EXPECT_FALSE(mask[at(20, 19, s)]);
  EXPECT_FALSE(mask[at(9, 10, s)]);
  const auto box = mask_box(mask, s);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 10);
  EXPECT_EQ(box->y, 10);
  EXPECT_EQ(box->w, 10);
  EXPECT_EQ(box->h, 10);
  // Centres 9.5 < 9.6 are out, 19.5 < 19.6 in: the same 10x10 pixels.
  EXPECT_EQ(box_mask(Box{9.6, 9.6, 10, 10}, s), mask);
  EXPECT_FALSE(mask_box(std::vector<uint8_t>(s * s, 0), s));
}

TEST(CamStats, CamBoxPicksTheLargestComponent) {
  constexpr int s = 32;
  std::vector<float> map(s * s, 0.f);
  for (int y = 2; y < 5; ++y)
    for (int x = 2; x < 5; ++x) map[at(x, y, s)] = 1.0f;  // 9 pixels at the peak
  for (int y = 20; y < 24; ++y)
    for (int x = 18; x < 23; ++x) map[at(x, y, s)] = 0.6f;  // 20 pixels above half the peak
  map[at(10, 10, s)] = 0.4f;                                 // below the threshold
  auto box = cam_box(map, s);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 18);
  EXPECT_EQ(box->y, 20);
  EXPECT_EQ(box->w, 5);
  EXPECT_EQ(box->h, 4);
  // At fraction 0.7 only the 3x3 block remains.
  box = cam_box(map, s, 0.7);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 2);
  EXPECT_EQ(box->w, 3);

  // 8-connectivity: a diagonal chain of 4 pixels beats a straight run of 3.
  std::vector<float> diagonal(s * s, 0.f);
  for (int k = 0; k < 4; ++k) diagonal[at(5 + k, 5 + k, s)] = 1.f;
  for (int x = 20; x < 23; ++x) diagonal[at(x, 2, s)] = 1.f;
  box = cam_box(diagonal, s);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 5);
  EXPECT_EQ(box->y, 5);
  EXPECT_EQ(box->w, 4);
  EXPECT_EQ(box->h, 4);

  // Equal counts: the larger mass wins; equal mass: the first in row-major order.
  std::vector<float> tie(s * s, 0.f);
  tie[at(1, 1, s)] = tie[at(2, 1, s)] = 0.6f;  // first in row-major order, mass 1.2
  tie[at(10, 9, s)] = tie[at(11, 9, s)] = 1.f; // mass 2
  box = cam_box(tie, s);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 10);
  tie[at(10, 9, s)] = tie[at(11, 9, s)] = 0.6f;
  tie[at(5, 20, s)] = 1.0f;                    // keeps the peak at 1 while both pairs stay at 0.6
  box = cam_box(tie, s);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->x, 1);
  EXPECT_EQ(box->y, 1);
  EXPECT_FALSE(cam_box(std::vector<float>(s * s, 0.f), s));
}

TEST(CamStats, PointingGame) {
  constexpr int s = 32;
  std::vector<float> map(s * s, 0.1f);
  map[at(10, 10, s)] = 2.f;
  std::vector<uint8_t> target(s * s, 0);
  target[at(13, 14, s)] = 1;  // 3-4-5: exactly 5 px from the peak
  EXPECT_EQ(pointing_hit(map, s, target, 5.0), std::optional<bool>(true));
  EXPECT_EQ(pointing_hit(map, s, target, 4.999), std::optional<bool>(false));
  EXPECT_EQ(pointing_hit(map, s, target, 0.0), std::optional<bool>(false));
  target[at(10, 10, s)] = 1;
  EXPECT_EQ(pointing_hit(map, s, target, 0.0), std::optional<bool>(true));
  // Ties: the first maximum in row-major order, (5, 2), not (1, 8).
  std::vector<float> tied(s * s, 0.f);
  tied[at(5, 2, s)] = tied[at(1, 8, s)] = 1.f;
  std::vector<uint8_t> first(s * s, 0), second(s * s, 0);
  first[at(5, 2, s)] = 1;
  second[at(1, 8, s)] = 1;
  EXPECT_EQ(pointing_hit(tied, s, first, 0.0), std::optional<bool>(true));
  EXPECT_EQ(pointing_hit(tied, s, second, 0.0), std::optional<bool>(false));
  EXPECT_FALSE(pointing_hit(tied, s, std::vector<uint8_t>(s * s, 0), 3.0));
  EXPECT_FALSE(pointing_hit(std::vector<float>(s * s, 0.f), s, first, 3.0));
  EXPECT_THROW(pointing_hit(tied, s, std::vector<uint8_t>(10, 0), 3.0), std::invalid_argument);
}

// ---- 6. Wilson interval and curve areas ------------------------------------------------------------------------

TEST(CamStats, WilsonInterval) {
  // The Wilson bounds are the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved here as a quadratic in p.
  const double z = 1.959963984540054;
  for (const auto& [hits, n] : std::vector<std::pair<int64_t, int64_t>>{{8, 10}, {37, 120}, {1, 1000}, {3, 7}}) {
    const double ph = static_cast<double>(hits) / n, k = z * z / n;
    const double qa = 1 + k, qb = -(2 * ph + k), qc = ph * ph;
    const double root = std::sqrt(qb * qb - 4 * qa * qc);
    const auto ci = wilson_ci95(hits, n);
    EXPECT_NEAR(ci[0], (-qb - root) / (2 * qa), 1e-12) << hits << "/" << n;
    EXPECT_NEAR(ci[1], (-qb + root) / (2 * qa), 1e-12) << hits << "/" << n;
  }
  const auto eight = wilson_ci95(8, 10);
  EXPECT_NEAR(eight[0], 0.4902, 5e-5);
  EXPECT_NEAR(eight[1], 0.9433, 5e-5);
  const auto j = fixture();
  for (const auto& c : j.at("wilson")) {
    const auto ci = wilson_ci95(c.at("hits").get<int64_t>(), c.at("n").get<int64_t>());
    EXPECT_NEAR(ci[0], c.at("low").get<double>(), 1e-12);
    EXPECT_NEAR(ci[1], c.at("high").get<double>(), 1e-12);
  }
  EXPECT_EQ(wilson_ci95(0, 5)[0], 0.0);
  EXPECT_EQ(wilson_ci95(5, 5)[1], 1.0);
  EXPECT_EQ(wilson_ci95(0, 0), (std::array<double, 2>{0.0, 1.0}));
  EXPECT_THROW(wilson_ci95(6, 5), std::invalid_argument);
}

TEST(CamStats, CurveArea) {
  EXPECT_TRUE(std::isnan(curve_area({})));
  EXPECT_DOUBLE_EQ(curve_area({0.7}), 0.7);
  EXPECT_DOUBLE_EQ(curve_area({0.4, 0.4, 0.4, 0.4, 0.4}), 0.4);
  EXPECT_DOUBLE_EQ(curve_area({1.0, 0.0}), 0.5);
  EXPECT_DOUBLE_EQ(curve_area({1.0, 0.0, 0.0}), 0.25);       // 0.5 * (1 + 0) / 2 + 0.5 * 0
  EXPECT_DOUBLE_EQ(curve_area({0.0, 0.5, 1.0, 0.5, 0.0}), 0.5);  // a triangle of base 1 and height 1
}

// ---- 7. Bootstrap interval -------------------------------------------------------------------------------------

TEST(CamStats, BootstrapIsReproducibleAndSane) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> v(60);
  double mean = 0;
  for (double& x : v) mean += (x = u(rng)) / v.size();
  const auto a = bootstrap_mean_ci95(v, 1000, 11), b = bootstrap_mean_ci95(v, 1000, 11), c = bootstrap_mean_ci95(v, 1000, 12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_LT(a[0], mean);
  EXPECT_GT(a[1], mean);
  // The standard error of a mean of 60 U(0,1) values is sqrt(1/12/60) = 0.0373: the interval is ~4 of them wide.
  EXPECT_NEAR(a[1] - a[0], 3.92 * std::sqrt(1.0 / 12 / 60), 0.03);
  EXPECT_EQ(bootstrap_mean_ci95(std::vector<double>(17, 0.1), 500, 1), (std::array<double, 2>{0.1, 0.1}));
  EXPECT_EQ(bootstrap_mean_ci95({0.3}, 500, 1), (std::array<double, 2>{0.3, 0.3}));
  const auto empty = bootstrap_mean_ci95({}, 500, 1);
  EXPECT_TRUE(std::isnan(empty[0]) && std::isnan(empty[1]));
}

TEST(CamStats, BootstrapCoversTheTrueMean) {
  // 200 exponential(1) values per set (true mean 1, by inversion so the stream is the same everywhere).
  std::mt19937_64 rng(20261201);
  int covered = 0;
  constexpr int kSets = 400;
  for (int rep = 0; rep < kSets; ++rep) {
    std::vector<double> v(200);
    for (double& x : v) x = -std::log1p(-static_cast<double>(rng() >> 11) * 0x1.0p-53);
    const auto ci = bootstrap_mean_ci95(v, 500, 1000 + static_cast<uint64_t>(rep));
    covered += ci[0] <= 1.0 && 1.0 <= ci[1];
  }
  EXPECT_GE(covered, 91 * kSets / 100);
  EXPECT_LE(covered, 98 * kSets / 100);
}

// ---- 8. The shortcut rule --------------------------------------------------------------------------------------

TEST(CamStats, ShortcutFlagsTheOutlierOnly) {
  // Class 0 at 0.9 (interval from 0.7); classes 1..13 at 0.20, 0.21, ..., 0.32, lower bounds 0.05 below.
  std::array<double, data::kNumClasses> score{}, low{};
  score[0] = 0.9, low[0] = 0.7;
  for (int c = 1; c < data::kNumClasses; ++c) score[c] = 0.19 + 0.01 * c, low[c] = score[c] - 0.05;
  const auto d = decide_shortcuts(score, low);
  // For class 0 the others' median is 0.26, their |deviations| 0, .01, .01, ..., .06, .06 have median 0.03,
  // 1.4826 * 0.03 = 0.044 < 0.15: reference + margin = 0.41.
  EXPECT_NEAR(d.reference[0], 0.26, 1e-12);
  EXPECT_NEAR(d.margin[0], 0.15, 1e-12);
  EXPECT_TRUE(d.flag[0]);
  for (int c = 1; c < data::kNumClasses; ++c) EXPECT_FALSE(d.flag[c]) << c;
  // Class 7 (0.26) sits at the median: its reference is the median of 0.9 and the 12 others, 0.27.
  EXPECT_NEAR(d.reference[7], 0.27, 1e-12);
  EXPECT_NE(d.rule.find("0.15"), std::string::npos) << d.rule;
  EXPECT_NE(d.rule.find("1.4826"), std::string::npos) << d.rule;
}

TEST(CamStats, ShortcutMarginFromMadAndNaNs) {
  std::array<double, data::kNumClasses> score, low;
  score.fill(kNaN);
  low.fill(kNaN);
  // Four classes with maps: for class 3 the others 0.10, 0.30, 0.50 give median 0.30, MAD 0.20, margin
  // 1.4826 * 0.20 = 0.29652 > 0.15: flagged only above 0.59652.
  score[0] = 0.10, score[1] = 0.30, score[2] = 0.50, score[3] = 0.9;
  low[0] = 0.05, low[1] = 0.25, low[2] = 0.45, low[3] = 0.58;
  auto d = decide_shortcuts(score, low);
  EXPECT_NEAR(d.reference[3], 0.30, 1e-12);
  EXPECT_NEAR(d.margin[3], 1.4826 * 0.20, 1e-12);
  EXPECT_FALSE(d.flag[3]);
  low[3] = 0.60;
  d = decide_shortcuts(score, low);
  EXPECT_TRUE(d.flag[3]);
  for (int c = 0; c < data::kNumClasses; ++c) EXPECT_EQ(d.flag[c], c == 3) << c;
  for (int c = 4; c < data::kNumClasses; ++c) EXPECT_TRUE(std::isnan(d.reference[c]) && std::isnan(d.margin[c])) << c;

  // Three classes with maps: none has 3 others, nothing is decided, and the rule says why.
  score[2] = kNaN;
  low[3] = 5.0;
  d = decide_shortcuts(score, low);
  for (int c = 0; c < data::kNumClasses; ++c) {
    EXPECT_FALSE(d.flag[c]) << c;
    EXPECT_TRUE(std::isnan(d.reference[c])) << c;
  }
  EXPECT_NE(d.rule.find("Not decided"), std::string::npos) << d.rule;
}

// ---- 9. Allowed regions ----------------------------------------------------------------------------------------

TEST(CamStats, AllowedRegionsAndOffTargetShare) {
  const auto bit = [](CamRegion r) { return uint32_t{1} << R(r); };
  EXPECT_EQ(allowed_regions(cls("Nodule")), bit(CamRegion::kLungs));
  EXPECT_EQ(allowed_regions(cls("Pneumothorax")), bit(CamRegion::kLungs));
  EXPECT_EQ(allowed_regions(cls("Cardiomegaly")), bit(CamRegion::kLungs) | bit(CamRegion::kHeartMediastinum));
  EXPECT_EQ(allowed_regions(cls("Hernia")),
            bit(CamRegion::kLungs) | bit(CamRegion::kHeartMediastinum) | bit(CamRegion::kBelowDiaphragm));
  EXPECT_EQ(allowed_regions(cls("Effusion")), bit(CamRegion::kLungs) | bit(CamRegion::kBelowDiaphragm));
  EXPECT_EQ(allowed_regions(cls("Pleural_Thickening")), bit(CamRegion::kLungs) | bit(CamRegion::kOtherBody));
  // corners, border, text, outside, below, heart, lungs, other
  const std::array<double, kNumCamRegions> shares = {0.05, 0.05, 0.1, 0.1, 0.1, 0.2, 0.3, 0.1};
  EXPECT_NEAR(off_target_share(shares, cls("Nodule")), 0.7, 1e-12);
  EXPECT_NEAR(off_target_share(shares, cls("Cardiomegaly")), 0.5, 1e-12);
  EXPECT_NEAR(off_target_share(shares, cls("Hernia")), 0.4, 1e-12);
  EXPECT_NEAR(off_target_share(shares, cls("Atelectasis")), 0.6, 1e-12);
  EXPECT_NEAR(off_target_share(shares, cls("Pleural_Thickening")), 0.6, 1e-12);
  EXPECT_THROW(allowed_regions(data::kNumClasses), std::invalid_argument);
}
