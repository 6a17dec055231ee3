// Controlled shifts (data/image_shift.h): names and the documented table, input checks, identity at
// severity 0, purity in (image, kind, severity, seed), and each kind against a closed form: contrast and
// gamma and exposure pixel by pixel, noise moments against the requested SD / the photon-count model, blur
// against a sampled Gaussian, resampling and geometry against coordinate formulas, overlays confined to
// their documented corner box. Expected values come from formulas, never from the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image_shift.h"

using namespace cxr::data;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;

using Image = std::vector<uint8_t>;

Image flat(int s, uint8_t v) { return Image(static_cast<size_t>(s) * s, v); }

Image pseudo_random(int s, uint32_t seed, int lo = 0, int hi = 255) {
  Image img(static_cast<size_t>(s) * s);
  for (auto& v : img) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(lo + (seed >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
  return img;
}

// 16 x 16 image holding every grey level once (pixel i = i).
Image ramp256() {
  Image img(256);
  for (int i = 0; i < 256; ++i) img[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  return img;
}

ShiftSpec spec(ShiftKind kind, int severity, uint64_t seed = 1, double parameter = kNaN) {
  ShiftSpec s;
  s.kind = kind;
  s.severity = severity;
  s.seed = seed;
  s.parameter = parameter;
  return s;
}

Image shifted(ShiftKind kind, int severity, const Image& img, int s, uint64_t seed = 1) {
  return apply_shift(spec(kind, severity, seed), img, s);
}
Image shifted_by(ShiftKind kind, double parameter, const Image& img, int s, uint64_t seed = 1) {
  return apply_shift(spec(kind, 1, seed, parameter), img, s);
}

std::vector<ShiftKind> all_kinds() {
  std::vector<ShiftKind> k;
  for (const auto& row : shift_table()) k.push_back(row.kind);
  return k;
}

struct Moments {
  double mean, var;
};
Moments moments(const Image& img) {
  double sum = 0, sum2 = 0;
  for (uint8_t v : img) sum += v;
  const double n = static_cast<double>(img.size()), mean = sum / n;
  for (uint8_t v : img) sum2 += (v - mean) * (v - mean);
  return {mean, sum2 / (n - 1)};
}

long rounded(double v) { return std::clamp(std::lround(v), 0L, 255L); }

}  // namespace

// ---- names, table, validation -------------------------------------------------------------------

TEST(ShiftNames, RoundTripAndNearestNameInErrors) {
  ASSERT_EQ(shift_table().size(), static_cast<size_t>(kNumShiftKinds));
  std::set<std::string> names;
  for (size_t i = 0; i < shift_table().size(); ++i) {
    const auto kind = static_cast<ShiftKind>(i);
    EXPECT_EQ(shift_table()[i].kind, kind) << "table out of enum order at " << i;
    EXPECT_EQ(parse_shift_name(shift_name(kind)), kind);
    names.insert(shift_name(kind));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumShiftKinds));
  EXPECT_EQ(parse_shift_name("BLUR"), ShiftKind::kBlur);
  const std::map<std::string, std::string> typos = {
      {"blurr", "blur"}, {"gaussian_noise", "gaussian-noise"}, {"rotate", "rotation"}, {"leadmarker", "lead-marker"}};
  for (const auto& [typo, expected] : typos) {
    try {
      parse_shift_name(typo);
      ADD_FAILURE() << typo << " parsed";
    } catch (const cxr::UserError& e) {
      EXPECT_NE(std::string(e.what()).find("did you mean '" + expected + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("HINT:"), std::string::npos) << e.what();
    }
  }
  EXPECT_NE(shift_table_text().find("poisson-noise"), std::string::npos);
}

TEST(ShiftAssignment, ParsesKindEqualsParameterAndNamesItsOriginInErrors) {
  const ShiftSpec s = parse_shift_assignment(" contrast = 1.05 ", "study.robustness_extra");
  EXPECT_EQ(s.kind, ShiftKind::kContrast);
  EXPECT_EQ(s.severity, 1);
  EXPECT_DOUBLE_EQ(s.parameter, 1.05);
  EXPECT_EQ(effective_shift_parameter(s), 1.05);  // the explicit parameter, not severity 1's 0.95
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"contrast", "must be KIND=PARAMETER"},
      {"contrst=1.05", "unknown shift 'contrst'; did you mean 'contrast'"},
      {"contrast=", "'' is not a number"},
      {"contrast=1.05x", "'1.05x' is not a number"},
      {"contrast=abc", "'abc' is not a number"},
      {"contrast=99", "is outside ["}};
  for (const auto& [text, message] : bad) {
    try {
      parse_shift_assignment(text, "--extra");
      ADD_FAILURE() << text << " parsed";
    } catch (const cxr::UserError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("--extra: ", 0), 0u) << what;
      EXPECT_NE(what.find(message), std::string::npos) << text << ": " << what;
    }
  }
}

TEST(ShiftTable, ParametersAreTheDocumentedOnes) {
  // docs/shifts.md, column by column: {identity, severity 1, 2, 3}.
  const std::map<ShiftKind, std::array<double, 4>> documented = {
      {ShiftKind::kContrast, {1.0, 0.95, 0.85, 0.70}},  {ShiftKind::kGamma, {1.0, 0.9, 0.75, 0.6}},
      {ShiftKind::kExposure, {0, 10, 25, 50}},           {ShiftKind::kGaussianNoise, {0, 3, 8, 15}},
      {ShiftKind::kPoissonNoise, {kInf, 800, 110, 32}},  {ShiftKind::kBlur, {0, 0.75, 1.5, 3.0}},
      {ShiftKind::kResample, {1, 0.5, 0.25, 0.125}},     {ShiftKind::kRotation, {0, 2, 5, 10}},
      {ShiftKind::kTranslation, {0, 0.02, 0.05, 0.10}},  {ShiftKind::kBorderCrop, {0, 0.04, 0.08, 0.12}},
      {ShiftKind::kTextTag, {0, 0.02, 0.035, 0.05}},     {ShiftKind::kLeadMarker, {0, 0.04, 0.06, 0.08}}};
  ASSERT_EQ(documented.size(), static_cast<size_t>(kNumShiftKinds));
  for (const auto& [kind, p] : documented) {
    for (int s = 0; s <= 3; ++s)
      EXPECT_EQ(shift_parameter(kind, s), p[static_cast<size_t>(s)]) << shift_name(kind) << s;
    EXPECT_EQ(shift_info(kind).random, kind == ShiftKind::kGaussianNoise || kind == ShiftKind::kPoissonNoise);
  }
  // Poisson's photon-count model: severities give about 3, 8 and 15 grey levels SD at mid-grey.
  for (int s = 1; s <= 3; ++s) {
    const double sd = (255.0 / kPoissonMu) / std::sqrt(shift_parameter(ShiftKind::kPoissonNoise, s));
    EXPECT_NEAR(sd, shift_parameter(ShiftKind::kGaussianNoise, s), 0.2) << s;
  }
  EXPECT_THROW(shift_parameter(ShiftKind::kBlur, 4), cxr::UserError);
  EXPECT_THROW(shift_parameter(ShiftKind::kBlur, -1), cxr::UserError);
}

TEST(ShiftValidation, CallerBugsAreInvalidArgumentUserInputIsUserError) {
  const int s = 16;
  Image img = pseudo_random(s, 1), out(img.size());
  const ShiftSpec ok = spec(ShiftKind::kBlur, 1);
  EXPECT_THROW(apply_shift(ok, nullptr, out.data(), s), std::invalid_argument);
  EXPECT_THROW(apply_shift(ok, img.data(), nullptr, s), std::invalid_argument);
  EXPECT_THROW(apply_shift(ok, img.data(), out.data(), 7), std::invalid_argument);
  EXPECT_THROW(apply_shift(ok, img, 15), std::invalid_argument);  // 256 bytes are not 15 x 15
  Image twice(2 * img.size());
  EXPECT_THROW(apply_shift(ok, twice.data(), twice.data() + 1, s), std::invalid_argument);
  EXPECT_NO_THROW(apply_shift(ok, twice.data(), twice.data() + img.size(), s));  // adjacent, not overlapping
  EXPECT_NO_THROW(apply_shift(ok, img.data(), img.data(), s));                  // in place
  EXPECT_THROW(apply_shift(spec(ShiftKind::kBlur, 4), img, s), cxr::UserError);
  EXPECT_THROW(apply_shift(spec(ShiftKind::kBlur, -1), img, s), cxr::UserError);
  // Parameters outside the documented ranges.
  const std::vector<std::pair<ShiftKind, double>> bad = {
      {ShiftKind::kContrast, -0.1},    {ShiftKind::kGamma, 0.0},          {ShiftKind::kExposure, 256},
      {ShiftKind::kGaussianNoise, -1}, {ShiftKind::kPoissonNoise, 0.5},   {ShiftKind::kPoissonNoise, -kInf},
      {ShiftKind::kBlur, -0.5},        {ShiftKind::kResample, 0.0},       {ShiftKind::kResample, 1.5},
      {ShiftKind::kRotation, 181},     {ShiftKind::kTranslation, -0.6},   {ShiftKind::kBorderCrop, 0.5},
      {ShiftKind::kTextTag, 0.3},      {ShiftKind::kLeadMarker, -0.01},   {ShiftKind::kContrast, kInf}};
  for (const auto& [kind, p] : bad)
    EXPECT_THROW(apply_shift(spec(kind, 1, 1, p), img, s), cxr::UserError) << shift_name(kind) << " " << p;
  EXPECT_EQ(apply_shift(spec(ShiftKind::kPoissonNoise, 2, 1, kInf), img, s), img);  // infinite dose: no noise
}

// ---- identity, purity ---------------------------------------------------------------------------

TEST(Shift, SeverityZeroAndIdentityParametersCopyTheImage) {
  for (int s : {8, 63, 64}) {
    const Image img = pseudo_random(s, 7);
    for (ShiftKind kind : all_kinds()) {
      EXPECT_EQ(shifted(kind, 0, img, s, 1), img) << shift_name(kind) << " S=" << s;
      EXPECT_EQ(shifted(kind, 0, img, s, 99), img) << shift_name(kind) << " S=" << s;
      EXPECT_EQ(shifted_by(kind, shift_info(kind).parameter[0], img, s), img) << shift_name(kind);
    }
    // Parameters that are no shift in the geometry's own terms.
    EXPECT_EQ(shifted_by(ShiftKind::kRotation, 0.0, img, s), img);
    EXPECT_EQ(shifted_by(ShiftKind::kTranslation, 0.4 / s, img, s), img);  // rounds to 0 pixels
    EXPECT_EQ(shifted_by(ShiftKind::kResample, 1.0, img, s), img);
    EXPECT_EQ(shifted_by(ShiftKind::kBorderCrop, 0.4 / s, img, s), img);
  }
}

TEST(Shift, EveryKindChangesAnImageAtEverySeverity) {
  // 256 px: on small images severity 1 blur (0.75 px at 256) is sub-pixel and may change nothing.
  const int s = 256;
  const Image img = pseudo_random(s, 11, 0, 200);  // below both overlays' ink greys
  for (ShiftKind kind : all_kinds())
    for (int sev = 1; sev <= 3; ++sev) EXPECT_NE(shifted(kind, sev, img, s), img) << shift_name(kind) << sev;
}

TEST(Shift, PureInSeedRandomOnlyForNoise) {
  const int s = 48;
  const Image img = pseudo_random(s, 3);
  for (ShiftKind kind : all_kinds()) {
    for (int sev = 1; sev <= 3; ++sev) {
      const Image a = shifted(kind, sev, img, s, 1), b = shifted(kind, sev, img, s, 1);
      const Image c = shifted(kind, sev, img, s, 2);
      EXPECT_EQ(a, b) << shift_name(kind) << " is not deterministic";
      if (shift_info(kind).random)
        EXPECT_NE(a, c) << shift_name(kind) << " ignores the seed";
      else
        EXPECT_EQ(a, c) << shift_name(kind) << " depends on the seed";
    }
  }
}

TEST(Shift, InPlaceEqualsOutOfPlace) {
  const int s = 40;
  const Image img = pseudo_random(s, 5);
  for (ShiftKind kind : all_kinds()) {
    Image buf = img;
    apply_shift(spec(kind, 2, 9), buf.data(), buf.data(), s);
    EXPECT_EQ(buf, shifted(kind, 2, img, s, 9)) << shift_name(kind);
  }
}

// ---- value-wise shifts --------------------------------------------------------------------------

TEST(Contrast, ScalesDeviationsFromTheMeanWithStatedRounding) {
  // Rows 0-3 at 80, 4-11 at 120, 12-15 at 160: mean 120 (maps to itself); 80 -> 120 - 40 f, 160 -> 120 + 40 f.
  // And an asymmetric image, 3/4 at 80 and 1/4 at 240: mean 0.75*80 + 0.25*240 = 120.
  // Rounding: to nearest, halves away from zero (no ties occur here); clipped to 0..255.
  const int s = 16;
  Image three(256), two(256);
  for (int i = 0; i < 256; ++i) {
    const int row = i / s;
    three[static_cast<size_t>(i)] = static_cast<uint8_t>(row < 4 ? 80 : (row < 12 ? 120 : 160));
    two[static_cast<size_t>(i)] = static_cast<uint8_t>(row < 12 ? 80 : 240);
  }
  for (double f : {0.95, 0.85, 0.70, 1.05, 3.0}) {
    const Image a = shifted_by(ShiftKind::kContrast, f, three, s), b = shifted_by(ShiftKind::kContrast, f, two, s);
    for (int i = 0; i < 256; ++i) {
      const auto k = static_cast<size_t>(i);
      ASSERT_EQ(a[k], rounded(120 + f * (three[k] - 120.0))) << "f=" << f << " at " << i;
      ASSERT_EQ(b[k], rounded(120 + f * (two[k] - 120.0))) << "f=" << f << " at " << i;
    }
  }
  // By hand, for severity 1 (5 %): 80 -> 82, 120 -> 120, 160 -> 158; factor 3 clips 80 -> 0, 240 -> 255.
  const Image sev1 = shifted(ShiftKind::kContrast, 1, three, s);
  EXPECT_EQ(sev1[0], 82);
  EXPECT_EQ(sev1[5 * s], 120);
  EXPECT_EQ(sev1[15 * s], 158);
  const Image clipped = shifted_by(ShiftKind::kContrast, 3.0, two, s);
  EXPECT_EQ(clipped[0], 0);
  EXPECT_EQ(clipped[255], 255);
}

TEST(Gamma, RampIsTheFormulaRounded) {
  const Image ramp = ramp256();
  for (double g : {0.9, 0.75, 0.6, 1.0 / 0.75}) {
    const Image out = shifted_by(ShiftKind::kGamma, g, ramp, 16);
    for (int v = 0; v < 256; ++v)
      ASSERT_EQ(out[static_cast<size_t>(v)], std::lround(255.0 * std::pow(v / 255.0, g))) << "g=" << g << " v=" << v;
  }
  const Image sev3 = shifted(ShiftKind::kGamma, 3, ramp, 16);
  EXPECT_EQ(sev3[64], std::lround(255.0 * std::pow(64 / 255.0, 0.6)));  // 112: mid-tones brighten
}

TEST(Exposure, RampShiftsByTheLevelAndClips) {
  const Image ramp = ramp256();
  for (int sev = 1; sev <= 3; ++sev) {
    const int delta = sev == 1 ? 10 : (sev == 2 ? 25 : 50);
    const Image out = shifted(ShiftKind::kExposure, sev, ramp, 16);
    for (int v = 0; v < 256; ++v) ASSERT_EQ(out[static_cast<size_t>(v)], std::min(255, v + delta)) << sev << " " << v;
  }
  const Image darker = shifted_by(ShiftKind::kExposure, -25, ramp, 16);
  for (int v = 0; v < 256; ++v) ASSERT_EQ(darker[static_cast<size_t>(v)], std::max(0, v - 25)) << v;
}

// ---- noise --------------------------------------------------------------------------------------

TEST(GaussianNoise, FlatImageGetsTheRequestedSdAndKeepsItsMean) {
  // Output = round(128 + sd Z): variance sd^2 + 1/12 (Sheppard's correction for rounding to integers); no
  // clipping within 8 sd. The sample SD of n values has sampling SD ~ sd / sqrt(2 (n - 1)); allow 5 of those.
  const int s = 512;
  const double n = static_cast<double>(s) * s;
  const Image img = flat(s, 128);
  for (int sev = 1; sev <= 3; ++sev) {
    const double sd = sev == 1 ? 3.0 : (sev == 2 ? 8.0 : 15.0);
    const double expected_sd = std::sqrt(sd * sd + 1.0 / 12.0);
    for (uint64_t seed : {1u, 2u}) {
      const Moments m = moments(shifted(ShiftKind::kGaussianNoise, sev, img, s, seed));
      EXPECT_NEAR(std::sqrt(m.var), expected_sd, 5 * expected_sd / std::sqrt(2 * (n - 1))) << sev << " seed " << seed;
      EXPECT_NEAR(m.mean, 128.0, 5 * expected_sd / std::sqrt(n)) << sev << " seed " << seed;
    }
  }
}

TEST(PoissonNoise, VarianceFollowsThePhotonCountModel) {
  // Count k ~ Poisson(lambda), lambda = N128 exp(-3 (v - 128) / 255), shown as 128 + (255/3) ln(N128 / k).
  // Delta method: Var = (255/3)^2 / lambda (relative error below 2/lambda for lambda >= 100) + 1/12 for
  // rounding; mean = v + (255/3) / (2 lambda). Sampling: relative SD of a variance is sqrt(2/n); allow 5.
  const int s = 512;
  const double n = static_cast<double>(s) * s, k = 255.0 / 3.0;
  struct Case {
    int severity, grey;
  };
  for (const Case c : {Case{1, 128}, Case{2, 128}, Case{1, 200}, Case{1, 60}, Case{2, 60}}) {
    const double n128 = c.severity == 1 ? 800.0 : 110.0;
    const double lambda = n128 * std::exp(-3.0 * (c.grey - 128) / 255.0);
    ASSERT_GE(lambda, 100.0);
    const double var = k * k / lambda + 1.0 / 12.0;
    const Moments m = moments(shifted(ShiftKind::kPoissonNoise, c.severity, flat(s, static_cast<uint8_t>(c.grey)), s));
    EXPECT_NEAR(m.var, var, var * (2.0 / lambda + 5 * std::sqrt(2.0 / n))) << c.severity << " grey " << c.grey;
    EXPECT_NEAR(m.mean, c.grey + k / (2 * lambda), 0.05 + 5 * std::sqrt(var / n)) << c.severity << " grey " << c.grey;
  }
}

// ---- blur ---------------------------------------------------------------------------------------

TEST(Blur, ConstantStaysConstant) {
  for (int s : {16, 64, 256})
    for (int sev = 1; sev <= 3; ++sev)
      EXPECT_EQ(shifted(ShiftKind::kBlur, sev, flat(s, 77), s), flat(s, 77)) << s << sev;
}

TEST(Blur, ImpulseKeepsItsMass) {
  // One 255 pixel on black: the blurred values sum to 255 up to rounding, at most 1/2 per pixel of the
  // (2 ceil(3 sigma) + 1)^2 support.
  const int s = 256;
  for (int sev = 1; sev <= 3; ++sev) {
    const double sigma = shift_parameter(ShiftKind::kBlur, sev);
    Image img = flat(s, 0);
    img[128 * s + 128] = 255;
    const Image out = shifted(ShiftKind::kBlur, sev, img, s);
    double sum = 0;
    for (uint8_t v : out) sum += v;
    const double support = 2 * std::ceil(3 * sigma) + 1;
    EXPECT_NEAR(sum, 255.0, 0.5 * support * support) << sev;
    EXPECT_LT(out[128 * s + 128], 255) << sev;
  }
}

TEST(Blur, StepEdgeFollowsTheSampledGaussian) {
  // Columns < S/2 at 20, >= S/2 at 220. The documented kernel: Gaussian samples at integer offsets within
  // ceil(3 sigma), normalised; sigma = parameter * S / 256. Away from the image borders,
  // out(x) = 20 + 200 * sum_{j : x + j >= S/2} w_j, rounded once: within 0.5 (+ float error) of it.
  for (int s : {256, 512}) {
    for (int sev = 1; sev <= 3; ++sev) {
      const double sigma = shift_parameter(ShiftKind::kBlur, sev) * s / 256.0;
      const int r = static_cast<int>(std::ceil(3 * sigma));
      std::vector<double> w;
      double total = 0;
      for (int j = -r; j <= r; ++j) total += std::exp(-j * j / (2 * sigma * sigma));
      for (int j = -r; j <= r; ++j) w.push_back(std::exp(-j * j / (2 * sigma * sigma)) / total);
      Image img(static_cast<size_t>(s) * s);
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x) img[static_cast<size_t>(y) * s + x] = x < s / 2 ? 20 : 220;
      const Image out = shifted(ShiftKind::kBlur, sev, img, s);
      for (int x = s / 2 - r - 2; x <= s / 2 + r + 2; ++x) {
        double expected = 20;
        for (int j = -r; j <= r; ++j)
          if (x + j >= s / 2) expected += 200 * w[static_cast<size_t>(j + r)];
        for (int y : {s / 4, s / 2, 3 * s / 4})
          ASSERT_NEAR(out[static_cast<size_t>(y) * s + x], expected, 0.51) << "S=" << s << " sev " << sev << " x=" << x;
      }
    }
  }
}

// ---- resample -----------------------------------------------------------------------------------

TEST(Resample, ConstantStaysConstantAndNyquistPatternAveragesOut) {
  for (int s : {64, 100, 256})
    for (int sev = 1; sev <= 3; ++sev)
      EXPECT_EQ(shifted(ShiftKind::kResample, sev, flat(s, 201), s), flat(s, 201)) << s << sev;
  // A one-pixel checkerboard of 0 and 255 halved: every 2x2 block averages to 127.5, shown as 127 or 128.
  const int s = 64;
  Image board(static_cast<size_t>(s) * s);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) board[static_cast<size_t>(y) * s + x] = (x + y) % 2 ? 255 : 0;
  for (uint8_t v : shifted(ShiftKind::kResample, 1, board, s)) ASSERT_TRUE(v == 127 || v == 128) << int(v);
}

TEST(Resample, SmoothRampSurvivesWithoutAShift) {
  // in(x) = 2x is linear: area-halving gives 2(2i + 0.5) at the half-size pixel centre 2i + 0.5, and
  // bilinear enlarging reproduces a linear function between the first and last centres: out(x) = 2x +- 1.
  const int s = 128;
  Image img(static_cast<size_t>(s) * s);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) img[static_cast<size_t>(y) * s + x] = static_cast<uint8_t>(2 * x);
  const Image out = shifted(ShiftKind::kResample, 1, img, s);
  for (int y : {0, 60, 127})
    for (int x = 2; x < s - 2; ++x) ASSERT_NEAR(out[static_cast<size_t>(y) * s + x], 2 * x, 1.0) << y << "," << x;
}

// ---- rotation, translation, border crop ---------------------------------------------------------

TEST(Rotation, QuarterAndHalfTurnsArePixelPermutations) {
  // Counter-clockwise as displayed about c = (S-1)/2: (x, y) -> (c + (y - c), c - (x - c)) = (y, S-1-x).
  for (int s : {63, 64}) {
    const Image img = pseudo_random(s, 21);
    const Image ccw = shifted_by(ShiftKind::kRotation, 90, img, s);
    const Image cw = shifted_by(ShiftKind::kRotation, -90, img, s);
    const Image half = shifted_by(ShiftKind::kRotation, 180, img, s);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        const uint8_t v = img[static_cast<size_t>(y) * s + x];
        ASSERT_EQ(ccw[static_cast<size_t>(s - 1 - x) * s + y], v) << s << ": " << x << "," << y;
        ASSERT_EQ(cw[static_cast<size_t>(x) * s + (s - 1 - y)], v) << s << ": " << x << "," << y;
        ASSERT_EQ(half[static_cast<size_t>(s - 1 - y) * s + (s - 1 - x)], v) << s << ": " << x << "," << y;
      }
  }
}

TEST(Rotation, BrightSpotMovesToTheRotatedCoordinates) {
  // A 3x3 block of 255 centred at (90, 40) on black, S = 128, c = 63.5. Rotating by t counter-clockwise
  // as displayed: x' = c + cos t dx + sin t dy, y' = c - sin t dx + cos t dy. Bilinear interpolation
  // keeps the intensity centroid to within a fraction of a pixel and the mass to within a few per cent.
  const int s = 128;
  Image img = flat(s, 0);
  for (int y = 39; y <= 41; ++y)
    for (int x = 89; x <= 91; ++x) img[static_cast<size_t>(y) * s + x] = 255;
  const double c = 63.5, dx = 90 - c, dy = 40 - c;
  for (int sev = 1; sev <= 3; ++sev) {
    const double t = shift_parameter(ShiftKind::kRotation, sev) * kPi / 180;
    const double ex = c + std::cos(t) * dx + std::sin(t) * dy, ey = c - std::sin(t) * dx + std::cos(t) * dy;
    const Image out = shifted(ShiftKind::kRotation, sev, img, s);
    double mass = 0, mx = 0, my = 0;
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) {
        const double v = out[static_cast<size_t>(y) * s + x];
        mass += v;
        mx += v * x;
        my += v * y;
      }
    EXPECT_NEAR(mass, 9 * 255.0, 0.05 * 9 * 255) << sev;
    EXPECT_NEAR(mx / mass, ex, 0.25) << sev;
    EXPECT_NEAR(my / mass, ey, 0.25) << sev;
  }
}

TEST(Rotation, ConstantStaysConstantBecauseBordersReflect) {
  for (int sev = 1; sev <= 3; ++sev)
    EXPECT_EQ(shifted(ShiftKind::kRotation, sev, flat(64, 140), 64), flat(64, 140)) << sev;
}

TEST(Translation, MovesWholePixelsAndReflectsAtTheBorder) {
  // d = round(t S) pixels right and down; out(y, x) = in(r(y - d), r(x - d)) with the reflect-101 border
  // r(i) = -i for i < 0 and 2(S-1) - i for i >= S.
  const int s = 100;
  const Image img = pseudo_random(s, 31);
  auto r = [s](int i) { return i < 0 ? -i : (i >= s ? 2 * (s - 1) - i : i); };
  for (const double t : {0.05, -0.03, 0.10}) {
    const int d = static_cast<int>(std::lround(t * s));
    const Image out = shifted_by(ShiftKind::kTranslation, t, img, s);
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x)
        ASSERT_EQ(out[static_cast<size_t>(y) * s + x], img[static_cast<size_t>(r(y - d)) * s + r(x - d)])
            << "t=" << t << " at " << x << "," << y;
  }
  // Severity 2 is 5 % of the side: 5 pixels on S = 100.
  EXPECT_EQ(shifted(ShiftKind::kTranslation, 2, img, s), shifted_by(ShiftKind::kTranslation, 0.05, img, s));
  EXPECT_EQ(shifted(ShiftKind::kTranslation, 2, img, s)[static_cast<size_t>(50) * s + 50], img[45 * s + 45]);
}

TEST(BorderCrop, ConstantStaysConstantAndACentredSquareGrowsBy1Over1Minus2c) {
  for (int sev = 1; sev <= 3; ++sev)
    EXPECT_EQ(shifted(ShiftKind::kBorderCrop, sev, flat(64, 33), 64), flat(64, 33)) << sev;
  // S = 200, c = 0.10: m = 20 pixels cut from each edge, the inner 160 enlarged to 200 (x 1.25). A centred
  // 80-pixel square [60, 140) becomes 80 / (1 - 2c) = 100 pixels, still centred: [50, 150).
  const int s = 200;
  Image img = flat(s, 10);
  for (int y = 60; y < 140; ++y)
    for (int x = 60; x < 140; ++x) img[static_cast<size_t>(y) * s + x] = 240;
  const Image out = shifted_by(ShiftKind::kBorderCrop, 0.10, img, s);
  int first = -1, last = -1, count_row = 0, count_col = 0;
  for (int x = 0; x < s; ++x) {
    if (out[static_cast<size_t>(100) * s + x] >= 125) {
      ++count_row;
      if (first < 0) first = x;
      last = x;
    }
    if (out[static_cast<size_t>(x) * s + 100] >= 125) ++count_col;
  }
  EXPECT_NEAR(count_row, 80 / (1 - 2 * 0.10), 2);
  EXPECT_NEAR(count_col, 80 / (1 - 2 * 0.10), 2);
  EXPECT_NEAR(first, 50, 1);
  EXPECT_NEAR(last, 149, 1);
}

// ---- overlays -----------------------------------------------------------------------------------

TEST(Overlay, ChangesOnlyItsCornerBoxAndWritesInk) {
  // Box: top-left (text tag) or top-right (lead marker), margin m = max(1, round(0.03 S)) from the edges,
  // at least as tall as the requested height max(4, p S), within the top quarter and its half of the width.
  for (int s : {64, 256, 1024}) {
    const Image img = pseudo_random(s, 41, 0, 200);
    const int m = std::max(1, static_cast<int>(std::lround(0.03 * s)));
    for (ShiftKind kind : {ShiftKind::kTextTag, ShiftKind::kLeadMarker}) {
      const int ink = kind == ShiftKind::kTextTag ? 255 : 250;
      int previous_height = 0;
      for (int sev = 1; sev <= 3; ++sev) {
        const double p = shift_parameter(kind, sev);
        const PixelBox b = shift_overlay_box(kind, p, s);
        const std::string where =
            std::string(shift_name(kind)) + " S=" + std::to_string(s) + " sev " + std::to_string(sev);
        EXPECT_EQ(b.y, m) << where;
        if (kind == ShiftKind::kTextTag) {
          EXPECT_EQ(b.x, m) << where;
          EXPECT_LE(b.x + b.w, s / 2) << where;
        } else {
          EXPECT_EQ(b.x + b.w, s - m) << where;
          EXPECT_GE(b.x, s / 2) << where;
        }
        EXPECT_GE(b.h, std::max(4.0, p * s)) << where;
        EXPECT_LE(b.y + b.h, s / 4) << where;
        EXPECT_GE(b.h, previous_height) << where;
        previous_height = b.h;
        const Image out = shifted(kind, sev, img, s);
        int changed_inside = 0;
        for (int y = 0; y < s; ++y)
          for (int x = 0; x < s; ++x) {
            const size_t i = static_cast<size_t>(y) * s + x;
            const bool inside = x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h;
            if (out[i] == img[i]) continue;
            ASSERT_TRUE(inside) << where << ": pixel " << x << "," << y << " outside the box changed";
            ASSERT_EQ(out[i], ink) << where;
            ++changed_inside;
          }
        // At least the letters' vertical strokes: about the requested height in pixels.
        EXPECT_GE(changed_inside, std::floor(0.9 * std::max(4.0, p * s))) << where;
        EXPECT_LT(changed_inside, b.w * b.h) << where << ": the whole box was painted";
      }
    }
  }
  EXPECT_EQ(shift_overlay_box(ShiftKind::kBlur, 1.0, 64).w, 0);
  EXPECT_EQ(shift_overlay_box(ShiftKind::kTextTag, 0.0, 64).w, 0);
}

