// Controlled shifts (see image_shift.h, docs/shifts.md). Value-wise shifts are a 256-entry table per
// image; noise draws one uniform per pixel and looks it up in the exact distribution of the output grey
// level given the input level (so rounding and clipping are part of the model, and no platform-dependent
// std::normal_distribution/poisson_distribution is involved); geometry goes through OpenCV.
#include "data/image_shift.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "core/strings.h"

namespace cxr::data {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
// Font for both overlays; Hershey fonts are compiled into OpenCV's imgproc, so no font files are needed.
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kMinOverlayHeightPx = 4;  // smaller text is not legible on any film

// The table. Severity parameters are chosen so that level 1 is mild (contrast 5 %, the acceptance
// test's "small shift"), level 3 is clearly visible but leaves the anatomy readable.
const std::array<ShiftInfo, kNumShiftKinds> kTable = {{
    {ShiftKind::kContrast, "contrast", "factor on deviations from the image mean", {1.0, 0.95, 0.85, 0.70}, 0.0, 10.0,
     false, false, "detector/processing contrast (look-up-table slope) of another scanner or site"},
    {ShiftKind::kGamma, "gamma", "exponent g in 255*(v/255)^g", {1.0, 0.9, 0.75, 0.6}, 0.05, 10.0, false, false,
     "another tone curve (film processing, display LUT); g < 1 brightens mid-tones"},
    {ShiftKind::kExposure, "exposure", "grey levels added (window level), clipped", {0.0, 10.0, 25.0, 50.0}, -255.0,
     255.0, false, false, "under-exposure or a lower window level (negative: over-exposure, darker)"},
    {ShiftKind::kGaussianNoise, "gaussian-noise", "noise SD in grey levels", {0.0, 3.0, 8.0, 15.0}, 0.0, 255.0, true,
     false, "electronic (signal-independent) detector noise"},
    {ShiftKind::kPoissonNoise, "poisson-noise", "expected photons per pixel at grey 128", {kInf, 800.0, 110.0, 32.0},
     1.0, 1e6, true, false, "lower dose: quantum mottle, stronger in dense (bright) regions"},
    {ShiftKind::kBlur, "blur", "Gaussian sigma in pixels of a 256-px side", {0.0, 0.75, 1.5, 3.0}, 0.0, 16.0, false,
     true, "focal-spot/detector unsharpness, motion, smoothing in post-processing"},
    {ShiftKind::kResample, "resample", "fraction of the side kept (area down, bilinear up)", {1.0, 0.5, 0.25, 0.125},
     0.01, 1.0, false, true, "lower-resolution acquisition or digitisation, upscaled for the model"},
    {ShiftKind::kRotation, "rotation", "degrees counter-clockwise as displayed", {0.0, 2.0, 5.0, 10.0}, -180.0, 180.0,
     false, true, "patient rotated on the detector"},
    {ShiftKind::kTranslation, "translation", "fraction of the side moved right and down", {0.0, 0.02, 0.05, 0.10},
     -0.5, 0.5, false, true, "patient off-centre, different framing"},
    {ShiftKind::kBorderCrop, "border-crop", "fraction of the side cut from each edge", {0.0, 0.04, 0.08, 0.12}, 0.0,
     0.45, false, true, "tighter collimation or cropping: the anatomy appears larger"},
    {ShiftKind::kTextTag, "text-tag", "text height as a fraction of the side", {0.0, 0.02, 0.035, 0.05}, 0.0, 0.25,
     false, true, "a burned-in annotation in the top-left corner, as another site writes it"},
    {ShiftKind::kLeadMarker, "lead-marker", "letter height as a fraction of the side", {0.0, 0.04, 0.06, 0.08}, 0.0,
     0.25, false, true, "an extra lead laterality marker 'L' in the top-right corner"},
}};

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void check_severity(int severity) {
  if (severity < 0 || severity > kMaxShiftSeverity) {
    throw UserError("shift severity " + std::to_string(severity) + " is outside 0.." +
                        std::to_string(kMaxShiftSeverity),
                    "use 0 (no shift), 1 (mild), 2 or 3 (strong), or give the parameter itself");
  }
}

cv::Mat wrap(const uint8_t* p, int size) {
  return cv::Mat(size, size, CV_8UC1, const_cast<uint8_t*>(p));  // read-only by convention
}

// out[i] = lut[in[i]].
void apply_lut(const uint8_t* in, uint8_t* out, size_t n, const uint8_t* lut) {
  for (size_t i = 0; i < n; ++i) out[i] = lut[in[i]];
}

uint8_t round_grey(double v) {
  // Nearest grey level, halves away from zero (std::lround), clipped to 0..255.
  return static_cast<uint8_t>(std::clamp<long>(std::lround(v), 0L, 255L));
}

// ---- value-wise shifts ------------------------------------------------------------------------

void shift_contrast(double factor, const uint8_t* in, uint8_t* out, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += in[i];
  const double mean = sum / static_cast<double>(n);
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = round_grey(mean + factor * (v - mean));
  apply_lut(in, out, n, lut);
}

void shift_gamma(double g, const uint8_t* in, uint8_t* out, size_t n) {
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = round_grey(255.0 * std::pow(v / 255.0, g));
  apply_lut(in, out, n, lut);
}

void shift_exposure(double offset, const uint8_t* in, uint8_t* out, size_t n) {
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = round_grey(v + offset);
  apply_lut(in, out, n, lut);
}

// ---- noise ------------------------------------------------------------------------------------

// cdf[j] = P(output level <= j | input level), cdf[255] = 1.
using LevelCdf = std::array<double, 256>;

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// round(v + sd * Z) clipped: P(out <= j) = Phi((j + 0.5 - v) / sd) for j < 255.
LevelCdf gaussian_cdf(int v, double sd) {
  LevelCdf cdf;
  for (int j = 0; j < 255; ++j) cdf[j] = normal_cdf((j + 0.5 - v) / sd);
  cdf[255] = 1.0;
  return cdf;
}

// Count k ~ Poisson(lambda(v)), lambda(v) = N128 exp(-mu (v - 128) / 255), displayed as
// round(128 + (255 / mu) ln(N128 / k)) clipped (k = 0: 255, nothing reached the detector).
LevelCdf poisson_cdf(int v, double n128) {
  const double lambda = n128 * std::exp(-kPoissonMu * (v - kPoissonRefGrey) / 255.0);
  const double spread = 12.0 * std::sqrt(lambda) + 12.0;  // tails beyond this hold < 1e-30
  const auto k_lo = static_cast<int64_t>(std::max(0.0, std::floor(lambda - spread)));
  const auto k_hi = static_cast<int64_t>(std::ceil(lambda + spread));
  std::array<double, 256> prob{};
  const double log_lambda = std::log(lambda);
  for (int64_t k = k_lo; k <= k_hi; ++k) {
    const double kd = static_cast<double>(k);
    const double pmf = std::exp(kd * log_lambda - lambda - std::lgamma(kd + 1.0));
    const int level = k == 0 ? 255 : round_grey(kPoissonRefGrey + 255.0 / kPoissonMu * std::log(n128 / kd));
    prob[level] += pmf;
  }
  LevelCdf cdf;
  double acc = 0.0;
  for (int j = 0; j < 256; ++j) cdf[j] = (acc += prob[j]);
  cdf[255] = 1.0;
  return cdf;
}

// One uniform per pixel in row-major order; the seed is mixed with the kind so that Gaussian and Poisson
// noise of one seed are independent, but not with the severity: severities of one seed share their
// uniforms (common random numbers), so a severity curve compares like with like.
template <class MakeCdf>
void noise(ShiftKind kind, uint64_t seed, const uint8_t* in, uint8_t* out, size_t n, MakeCdf make_cdf) {
  bool present[256] = {};
  for (size_t i = 0; i < n; ++i) present[in[i]] = true;
  std::vector<LevelCdf> cdf(256);
  for (int v = 0; v < 256; ++v)
    if (present[v]) cdf[static_cast<size_t>(v)] = make_cdf(v);
  SplitMix64 rng(mix_seed(seed, 0x5417f7ULL + static_cast<uint64_t>(kind)));
  for (size_t i = 0; i < n; ++i) {
    const LevelCdf& c = cdf[in[i]];
    const double u = rng.uniform();  // in [0, 1) < cdf[255]
    out[i] = static_cast<uint8_t>(std::upper_bound(c.begin(), c.end(), u) - c.begin());
  }
}

// ---- geometry ---------------------------------------------------------------------------------
// Borders: rotation and translation reflect the image (BORDER_REFLECT_101) instead of filling a constant,
// so the shift adds no straight black edge or wedge that a model could react to on its own; the price is
// mirrored content in a band as wide as the displacement (docs/shifts.md, limitations).

void blur(double sigma_ref, const cv::Mat& src, cv::Mat& dst, int size) {
  // The kernel is the documented one exactly: Gaussian samples at integer offsets up to ceil(3 sigma),
  // normalised, applied in float and rounded once. (cv::GaussianBlur's 8-bit path quantises the weights
  // to 1/256, which drops the tails of wide kernels and costs up to a few grey levels at edges.)
  const double sigma = sigma_ref * size / kShiftReferenceSide;
  const int radius = static_cast<int>(std::ceil(3.0 * sigma));
  cv::Mat kernel(2 * radius + 1, 1, CV_64F);
  double total = 0.0;
  for (int j = -radius; j <= radius; ++j) {
    kernel.at<double>(j + radius) = std::exp(-j * j / (2 * sigma * sigma));
    total += kernel.at<double>(j + radius);
  }
  kernel /= total;
  cv::Mat f, blurred;
  src.convertTo(f, CV_32F);
  cv::sepFilter2D(f, blurred, CV_32F, kernel, kernel, cv::Point(-1, -1), 0.0, cv::BORDER_REFLECT_101);
  blurred.convertTo(dst, CV_8U);  // nearest (ties to even), saturated
}

void resample(double fraction, const cv::Mat& src, cv::Mat& dst, int size) {
  const int small = std::max(1, static_cast<int>(std::lround(fraction * size)));
  if (small == size) {
    src.copyTo(dst);
    return;
  }
  // Area averaging is the alias-free way down (as the packer resizes); bilinear back up is what a viewer
  // or a resizing pipeline would do.
  cv::Mat low;
  cv::resize(src, low, cv::Size(small, small), 0, 0, cv::INTER_AREA);
  cv::resize(low, dst, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
}

double snap(double v) {
  // cos(90 deg) is 6e-17, not 0: snapping keeps quarter turns exact pixel permutations.
  for (double t : {-1.0, 0.0, 1.0})
    if (std::fabs(v - t) < 1e-12) return t;
  return v;
}

void rotate(double degrees, const cv::Mat& src, cv::Mat& dst, int size) {
  // Forward map about the centre c = (S-1)/2: x' = a dx + b dy + c, y' = -b dx + a dy + c with
  // a = cos, b = sin (OpenCV's getRotationMatrix2D convention: positive = counter-clockwise on screen).
  const double rad = degrees * kPi / 180.0;
  const double a = snap(std::cos(rad)), b = snap(std::sin(rad)), c = (size - 1) / 2.0;
  const cv::Matx23d m(a, b, (1 - a) * c - b * c, -b, a, b * c + (1 - a) * c);
  cv::warpAffine(src, dst, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_REFLECT_101);
}

void translate(double fraction, const cv::Mat& src, cv::Mat& dst, int size) {
  // Whole pixels, so the content is moved, not resampled: out(y, x) = in(r(y - d), r(x - d)).
  const int d = static_cast<int>(std::lround(fraction * size));
  std::vector<int> from(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i)
    from[static_cast<size_t>(i)] = cv::borderInterpolate(i - d, size, cv::BORDER_REFLECT_101);
  for (int y = 0; y < size; ++y) {
    const uint8_t* row = src.ptr<uint8_t>(from[static_cast<size_t>(y)]);
    uint8_t* o = dst.ptr<uint8_t>(y);
    for (int x = 0; x < size; ++x) o[x] = row[from[static_cast<size_t>(x)]];
  }
}

void border_crop(double fraction, const cv::Mat& src, cv::Mat& dst, int size) {
  const int m = static_cast<int>(std::lround(fraction * size));
  if (m == 0) {
    src.copyTo(dst);
    return;
  }
  const cv::Mat inner = src(cv::Rect(m, m, size - 2 * m, size - 2 * m));
  cv::resize(inner, dst, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
}

// ---- overlays ---------------------------------------------------------------------------------

struct OverlayStyle {
  const char* text;
  uint8_t grey;
  int thickness_divisor;  // stroke = height / divisor (at least 1 px)
  bool right;             // top-right corner, else top-left
};

OverlayStyle overlay_style(ShiftKind kind) {
  if (kind == ShiftKind::kTextTag) return {kTextTagText, kTextTagGrey, 8, false};
  return {kLeadMarkerText, kLeadMarkerGrey, 5, true};
}

struct OverlayLayout {
  PixelBox box;
  double font_scale = 0;
  int thickness = 1;
  int pad = 0;
  int text_height = 0;
};

OverlayLayout overlay_layout(ShiftKind kind, double fraction, int size) {
  OverlayLayout l;
  if (fraction <= 0.0) return l;
  const OverlayStyle style = overlay_style(kind);
  const double height = std::max<double>(kMinOverlayHeightPx, fraction * size);
  l.thickness = std::max(1, static_cast<int>(std::lround(height / style.thickness_divisor)));
  int base = 0;
  const double unit_height = cv::getTextSize("H", kFont, 1.0, 1, &base).height;
  l.font_scale = height / unit_height;
  const cv::Size text = cv::getTextSize(style.text, kFont, l.font_scale, l.thickness, &base);
  l.pad = l.thickness + 1;  // strokes reach past the nominal glyph box by about half their width
  l.text_height = text.height;
  const int margin = std::max(1, static_cast<int>(std::lround(kOverlayMarginFraction * size)));
  l.box.w = std::min(text.width + 2 * l.pad, size - 2 * margin);
  l.box.h = std::min(text.height + base + 2 * l.pad, size - 2 * margin);
  l.box.x = style.right ? size - margin - l.box.w : margin;
  l.box.y = margin;
  return l;
}

void overlay(ShiftKind kind, double fraction, const cv::Mat& src, cv::Mat& dst, int size) {
  src.copyTo(dst);
  const OverlayLayout l = overlay_layout(kind, fraction, size);
  if (l.box.w <= 0 || l.box.h <= 0) return;
  const OverlayStyle style = overlay_style(kind);
  // Drawing into the box's sub-matrix clips every stroke to the box. LINE_8 (no anti-aliasing): every
  // changed pixel holds exactly the ink grey, like a burned-in annotation.
  cv::Mat roi = dst(cv::Rect(l.box.x, l.box.y, l.box.w, l.box.h));
  cv::putText(roi, style.text, cv::Point(l.pad, l.pad + l.text_height), kFont, l.font_scale, cv::Scalar(style.grey),
              l.thickness, cv::LINE_8);
}

bool is_identity(ShiftKind kind, double parameter) {
  return parameter == kTable[static_cast<size_t>(kind)].parameter[0];
}

}  // namespace

const std::array<ShiftInfo, kNumShiftKinds>& shift_table() { return kTable; }

const ShiftInfo& shift_info(ShiftKind kind) {
  const auto i = static_cast<size_t>(kind);
  if (i >= kTable.size()) throw std::invalid_argument("shift kind " + std::to_string(i) + " is not a ShiftKind");
  return kTable[i];
}

const char* shift_name(ShiftKind kind) { return shift_info(kind).name; }

std::vector<std::string> shift_names() {
  std::vector<std::string> names;
  for (const auto& row : kTable) names.emplace_back(row.name);
  return names;
}

ShiftKind parse_shift_name(const std::string& name) {
  const std::string lower = to_lower(trim(name));
  for (const auto& row : kTable)
    if (lower == row.name) return row.kind;
  throw UserError("unknown shift '" + name + "'; did you mean '" + nearest(lower, shift_names()) + "'?",
                  "shifts are: " + join(shift_names(), ", "));
}

double shift_parameter(ShiftKind kind, int severity) {
  check_severity(severity);
  return shift_info(kind).parameter[static_cast<size_t>(severity)];
}

double effective_shift_parameter(const ShiftSpec& spec) {
  const ShiftInfo& info = shift_info(spec.kind);
  check_severity(spec.severity);
  if (std::isnan(spec.parameter)) return info.parameter[static_cast<size_t>(spec.severity)];
  const double p = spec.parameter;
  const bool ok = (p >= info.min_parameter && p <= info.max_parameter) ||
                  (spec.kind == ShiftKind::kPoissonNoise && p == kInf);
  if (!ok) {
    throw UserError(std::string("parameter ") + format_number(p) + " of shift '" + info.name + "' (" + info.unit +
                        ") is outside [" + format_number(info.min_parameter) + ", " +
                        format_number(info.max_parameter) + "]",
                    std::string("its severities 1..3 use ") + format_number(info.parameter[1]) + ", " +
                        format_number(info.parameter[2]) + ", " + format_number(info.parameter[3]) + "; " +
                        format_number(info.parameter[0]) + " is no shift");
  }
  return p;
}

ShiftSpec parse_shift_assignment(const std::string& text, const std::string& origin) {
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw UserError(origin + ": '" + text + "' must be KIND=PARAMETER", "e.g. contrast=1.05; shifts are: " + join(shift_names(), ", "));
  ShiftSpec spec;
  try {
    spec.kind = parse_shift_name(text.substr(0, eq));
  } catch (const UserError& e) {
    throw UserError(origin + ": " + e.what());
  }
  spec.severity = 1;
  const std::string value(trim(text.substr(eq + 1)));
  try {
    spec.parameter = parse_double(value);
  } catch (const std::invalid_argument&) {
    throw UserError(origin + ": '" + text + "': '" + value + "' is not a number", "e.g. contrast=1.05");
  }
  try {
    effective_shift_parameter(spec);
  } catch (const UserError& e) {
    throw UserError(origin + ": '" + text + "': " + e.what());
  }
  return spec;
}

void apply_shift(const ShiftSpec& spec, const uint8_t* in, uint8_t* out, int size) {
  if (!in || !out) throw std::invalid_argument("apply_shift: null image pointer");
  if (size < kMinShiftImageSize || size > kMaxShiftImageSize) {
    throw std::invalid_argument("apply_shift: image side " + std::to_string(size) + " is outside [" +
                                std::to_string(kMinShiftImageSize) + ", " + std::to_string(kMaxShiftImageSize) + "]");
  }
  const size_t n = static_cast<size_t>(size) * static_cast<size_t>(size);
  const auto a = reinterpret_cast<std::uintptr_t>(in), b = reinterpret_cast<std::uintptr_t>(out);
  if (a != b && a < b + n && b < a + n) throw std::invalid_argument("apply_shift: input and output overlap");
  const double p = effective_shift_parameter(spec);

  if (is_identity(spec.kind, p)) {
    if (in != out) std::memcpy(out, in, n);
    return;
  }
  switch (spec.kind) {
    case ShiftKind::kContrast: return shift_contrast(p, in, out, n);
    case ShiftKind::kGamma: return shift_gamma(p, in, out, n);
    case ShiftKind::kExposure: return shift_exposure(p, in, out, n);
    case ShiftKind::kGaussianNoise:
      return noise(spec.kind, spec.seed, in, out, n, [p](int v) { return gaussian_cdf(v, p); });
    case ShiftKind::kPoissonNoise:
      return noise(spec.kind, spec.seed, in, out, n, [p](int v) { return poisson_cdf(v, p); });
    default: break;
  }

  // Geometric kinds read neighbours, so in-place work needs a copy of the input.
  const cv::Mat src = in == out ? wrap(in, size).clone() : wrap(in, size);
  cv::Mat dst = wrap(out, size);
  switch (spec.kind) {
    case ShiftKind::kBlur: blur(p, src, dst, size); break;
    case ShiftKind::kResample: resample(p, src, dst, size); break;
    case ShiftKind::kRotation: rotate(p, src, dst, size); break;
    case ShiftKind::kTranslation: translate(p, src, dst, size); break;
    case ShiftKind::kBorderCrop: border_crop(p, src, dst, size); break;
    case ShiftKind::kTextTag:
    case ShiftKind::kLeadMarker: overlay(spec.kind, p, src, dst, size); break;
    default: throw std::logic_error("apply_shift: unhandled kind");
  }
  // OpenCV writes into `out` because dst already has the right size and type; make sure of it.
  if (dst.data != out) throw std::logic_error("apply_shift: OpenCV reallocated the output image");
}

std::vector<uint8_t> apply_shift(const ShiftSpec& spec, const std::vector<uint8_t>& image, int size) {
  if (size < kMinShiftImageSize || size > kMaxShiftImageSize ||
      image.size() != static_cast<size_t>(size) * static_cast<size_t>(size)) {
    throw std::invalid_argument("apply_shift: " + std::to_string(image.size()) + " bytes is not a " +
                                std::to_string(size) + "x" + std::to_string(size) + " image");
  }
  std::vector<uint8_t> out(image.size());
  apply_shift(spec, image.data(), out.data(), size);
  return out;
}

PixelBox shift_overlay_box(ShiftKind kind, double parameter, int size) {
  if (kind != ShiftKind::kTextTag && kind != ShiftKind::kLeadMarker) return {};
  if (size < kMinShiftImageSize || size > kMaxShiftImageSize)
    throw std::invalid_argument("shift_overlay_box: image side " + std::to_string(size));
  if (!std::isfinite(parameter) || parameter < 0)
    throw std::invalid_argument("shift_overlay_box: parameter " + format_number(parameter));
  return overlay_layout(kind, parameter, size).box;
}

std::string shift_table_text() {
  size_t name_w = 4, unit_w = 9;
  for (const auto& row : kTable) {
    name_w = std::max(name_w, std::strlen(row.name));
    unit_w = std::max(unit_w, std::strlen(row.unit));
  }
  auto pad = [](std::string s, size_t w) { return s.size() < w ? s + std::string(w - s.size(), ' ') : s; };
  std::string t = pad("shift", name_w) + "  " + pad("parameter", unit_w) + "  " + pad("1", 7) + pad("2", 7) +
                  pad("3", 7) + "models\n";
  for (const auto& row : kTable) {
    t += pad(row.name, name_w) + "  " + pad(row.unit, unit_w) + "  ";
    for (int s = 1; s <= kMaxShiftSeverity; ++s) t += pad(format_number(row.parameter[static_cast<size_t>(s)]), 7);
    t += std::string(row.models) + (row.random ? " [random: depends on the seed]" : "") + "\n";
  }
  return t;
}

}  // namespace cxr::data
